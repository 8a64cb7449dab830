//! The detection bench: a deterministic, seeded simulation of a pool's call outcomes
//! that measures what the charts of `detect.rs` do: false alarms per pool per month on
//! healthy traffic, and the delay, in calls and in minutes, before a number whose
//! answer rate falls when it is labelled (or a pool that falls as a whole) is caught.
//!
//! Everything runs through the public API the server uses (`Baseline`, `MonitorDesign`,
//! `NumberDetector`, `PoolDetector`); only the outcomes are simulated. The generator is
//! SplitMix64, so a seed replays exactly on any machine, and the core keeps no runtime
//! dependency for it.

use std::fmt;

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};

use crate::calendar::{Calendar, add_days};
use crate::call::Outcome;
use crate::catalog::{InvalidField, PoolCode, Purpose};
use crate::detect::{
    AnswerFall, DesignError, MonitorConfig, MonitorDesign, NumberDesign, NumberDetector, PoolDesign, PoolDetector,
    Reporting, SignalModel, cusum_arl, cusum_run_length_quantile, detection_floor, fallen_rate, healthy_steps,
    labelled_steps,
};
use crate::engine::NumberId;
use crate::reputation::{
    Baseline, BaselineError, BaselineRate, BaselineTable, CallSignal, LocalHour, NumberLevel, SHORT_CALL_SECS, SipCode,
};

/// SplitMix64 (Steele, Lea & Flood 2014): tiny, fast, and the same stream everywhere.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), 53 bits.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in [lo, hi).
    fn range(&mut self, lo: u32, hi: u32) -> u32 {
        lo + (self.unit() * f64::from(hi.saturating_sub(lo).max(1))) as u32
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u = 1.0 - self.unit();
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// An independent stream for one part of the bench.
    fn fork(&mut self) -> Rng {
        Rng(self.next_u64())
    }
}

/// What the bench simulates.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchConfig {
    /// The seed; the same seed gives the same figures.
    pub seed: u64,
    /// The pool's monitoring configuration (numbers, volumes, target, falls, model).
    pub monitor: MonitorConfig,
    /// Calls a number makes in an hour (seed: about 7).
    pub calls_per_hour: u32,
    /// The local hour the calling day starts.
    pub first_hour: u8,
    /// The pool's mean answer rate.
    pub healthy_rate: f64,
    /// How far the answer rate moves across the day: from `healthy_rate − swing` in the
    /// first hour to `healthy_rate + swing` in the last (mornings answer less).
    pub hour_swing: f64,
    /// Standard deviation of the numbers' log-odds around the pool's (numbers differ).
    pub number_spread: f64,
    /// The answer rates a labelled number falls to (from the healthy rate, by odds ratio).
    pub labelled_rates: Vec<f64>,
    /// How much weaker than the model the signals of the "weak" scenario are (0.5:
    /// halfway back to healthy).
    pub weak_fraction: f64,
    /// Shares of a labelled number's unanswered calls refused outright (607/608 or a
    /// quick end, split as in the model) for which the exact delay is tabulated.
    pub refused_shares: Vec<f64>,
    /// Days of history the baseline is built from.
    pub history_days: u32,
    /// Healthy pool-months simulated for the false-alarm count.
    pub pool_months: u32,
    /// Labelled numbers simulated per scenario.
    pub trials: u32,
    /// Pool-wide falls simulated.
    pub pool_trials: u32,
    /// The baseline's smoothing prior, in calls.
    pub prior_calls: u32,
}

impl BenchConfig {
    /// The seed centre (`MonitorConfig::seed_default`: 40 numbers, 55 calls a day, one
    /// false quarantine per pool per month), 7 calls an hour from 09:00, answer rate 0.6
    /// from 0.54 in the morning to 0.66 in the afternoon, numbers spread by 0.15 in
    /// log-odds; labelled rates 0.09, 0.15 and 0.2; 60 pool-months and 1000 labelled
    /// numbers per scenario.
    pub fn seed_default() -> BenchConfig {
        BenchConfig {
            seed: 0x5EED_0005,
            monitor: MonitorConfig::seed_default(),
            calls_per_hour: 7,
            first_hour: 9,
            healthy_rate: 0.6,
            hour_swing: 0.06,
            number_spread: 0.15,
            labelled_rates: vec![0.09, 0.15, 0.2],
            weak_fraction: 0.5,
            refused_shares: vec![0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
            history_days: 30,
            pool_months: 60,
            trials: 1000,
            pool_trials: 200,
            prior_calls: 50,
        }
    }

    fn validate(&self) -> Result<(), BenchError> {
        self.monitor.validate()?;
        let fail = |field: &'static str, rule: &str| Err(BenchError::Invalid(InvalidField::new(field, rule)));
        if self.calls_per_hour == 0 || self.calls_per_hour > 3_600 {
            return fail("calls_per_hour", "must be between 1 and 3600");
        }
        let calls_per_day = self.monitor.calls_per_number_per_day.round();
        if calls_per_day < 1.0 || f64::from(self.first_hour) + calls_per_day / f64::from(self.calls_per_hour) > 24.0 {
            return fail("calls_per_number_per_day", "the calling day must end before midnight");
        }
        if !(self.healthy_rate - self.hour_swing > 0.0 && self.healthy_rate + self.hour_swing < 1.0) {
            return fail("healthy_rate", "with hour_swing it must stay strictly between 0 and 1");
        }
        if self.labelled_rates.is_empty() || self.labelled_rates.iter().any(|&p| !(p > 0.0 && p < self.healthy_rate)) {
            return fail("labelled_rates", "must be one or more rates strictly between 0 and healthy_rate");
        }
        if self.refused_shares.iter().any(|&r| !(r > 0.0 && r < 0.95)) {
            return fail("refused_shares", "must be strictly between 0 and 0.95");
        }
        if !(0.0..=1.0).contains(&self.weak_fraction) || !(0.0..=2.0).contains(&self.number_spread) {
            return fail("weak_fraction", "weak_fraction must be in [0, 1] and number_spread in [0, 2]");
        }
        let sizes = [self.history_days, self.pool_months, self.trials, self.pool_trials];
        if sizes.iter().any(|&n| n == 0 || n > 100_000) {
            return fail("trials", "history_days, pool_months, trials and pool_trials must be between 1 and 100000");
        }
        Ok(())
    }
}

/// Why the bench could not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BenchError {
    /// A setting out of range.
    #[error(transparent)]
    Invalid(#[from] InvalidField),
    /// The simulated history gave no baseline.
    #[error(transparent)]
    Baseline(#[from] BaselineError),
    /// No threshold could be designed.
    #[error(transparent)]
    Design(#[from] DesignError),
}

/// The floor for one fall.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FloorRow {
    /// The fallen rate.
    pub p1: f64,
    /// KL(p1 ‖ p0).
    pub kl: f64,
    /// `ln(ARL0) / KL`.
    pub lorden_calls: f64,
    /// The answered-or-not CUSUM's exact zero-state delay at that ARL0.
    pub cusum_calls: f64,
}

/// The exact delay (zero state, Markov chain) of the number chart fed every field, for
/// one share of a labelled number's unanswered calls refused outright.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SweepRow {
    /// The share of labelled unanswered calls ending in 607/608 or within the quick ring.
    pub refused_share: f64,
    /// Of which 607/608.
    pub unwanted_sip: f64,
    /// Of which quick ends.
    pub quick_end: f64,
    /// The chart's threshold for that model.
    pub threshold: f64,
    /// Median delay in calls.
    pub median_calls: u32,
    /// Mean delay in calls.
    pub mean_calls: f64,
}

/// False alarms on healthy traffic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FalseAlarmFigures {
    /// Pool-months simulated.
    pub pool_months: u32,
    /// Calls simulated in them.
    pub calls: u64,
    /// Number alarms of the charts fed every field.
    pub number_alarms_all_fields: u64,
    /// Number alarms of the charts fed answered-or-not only.
    pub number_alarms_outcome_only: u64,
    /// Pool alarms.
    pub pool_alarms: u64,
}

impl FalseAlarmFigures {
    fn per_month(&self, alarms: u64) -> f64 {
        alarms as f64 / f64::from(self.pool_months.max(1))
    }

    /// False quarantines per pool per month, every field reported.
    pub fn quarantines_per_month_all_fields(&self) -> f64 {
        self.per_month(self.number_alarms_all_fields)
    }

    /// False quarantines per pool per month, answered-or-not only.
    pub fn quarantines_per_month_outcome_only(&self) -> f64 {
        self.per_month(self.number_alarms_outcome_only)
    }

    /// False pool alerts per pool per month.
    pub fn pool_alerts_per_month(&self) -> f64 {
        self.per_month(self.pool_alarms)
    }
}

/// Detection delays of one scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct DelayFigures {
    /// What was simulated, in words.
    pub scenario: String,
    /// The fallen rate (at the healthy rate's odds; the hour profile is kept).
    pub p1: f64,
    /// What the chart was fed.
    pub reporting: Reporting,
    /// Whether the signals were weaker than the chart's model.
    pub weak_signals: bool,
    /// Trials.
    pub trials: u32,
    /// Trials detected within the cap.
    pub detected: u32,
    /// Alarms before the label (false ones), across the trials.
    pub false_before: u32,
    /// Median delay in calls from the first labelled call (1 = that call raised it).
    pub median_calls: f64,
    /// Mean delay in calls (undetected trials count as the cap).
    pub mean_calls: f64,
    /// 90th percentile in calls.
    pub p90_calls: f64,
    /// Median delay in minutes of calling.
    pub median_minutes: f64,
    /// 90th percentile in minutes of calling.
    pub p90_minutes: f64,
}

/// What the bench measured.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchReport {
    /// What was simulated.
    pub config: BenchConfig,
    /// The number charts' design when every field is reported.
    pub all_fields: NumberDesign,
    /// The number charts' design on answered-or-not only.
    pub outcome_only: NumberDesign,
    /// The pool chart's design.
    pub pool: PoolDesign,
    /// The floor for each labelled rate, at the number charts' ARL0.
    pub floors: Vec<FloorRow>,
    /// The delay against the share of calls a label gets refused outright.
    pub sweep: Vec<SweepRow>,
    /// False quarantines per pool per month the chain predicts for the every-field
    /// design (its threshold covers bare outcomes too), fed every field.
    pub chain_quarantines_all_fields: f64,
    /// The same design fed bare outcomes.
    pub chain_quarantines_bare: f64,
    /// False alarms on healthy traffic.
    pub false_alarms: FalseAlarmFigures,
    /// Delays for labelled numbers.
    pub delays: Vec<DelayFigures>,
    /// Delay for a pool-wide fall to the pool design's p1 (in the pool's calls).
    pub pool_delay: DelayFigures,
}

impl BenchReport {
    /// The floor for `p1`.
    pub fn floor(&self, p1: f64) -> Option<&FloorRow> {
        self.floors.iter().find(|f| (f.p1 - p1).abs() < 1e-9)
    }

    /// The delays for `p1` with `reporting` (matched signals unless `weak`).
    pub fn delay(&self, p1: f64, reporting: Reporting, weak: bool) -> Option<&DelayFigures> {
        self.delays.iter().find(|d| (d.p1 - p1).abs() < 1e-9 && d.reporting == reporting && d.weak_signals == weak)
    }
}

/// The pool's calling day and its clock.
struct Day {
    calls: u32,
    offsets: Vec<SignedDuration>,
    hours: Vec<LocalHour>,
    hour_index: Vec<usize>,
    rates: Vec<f64>,
    calendar: Calendar,
    first_day: Date,
    starts: Vec<Timestamp>,
}

/// Days whose start the bench keeps at hand (a trial runs at most about 90).
const DAYS_CACHED: u32 = 120;

impl Day {
    fn new(config: &BenchConfig) -> Day {
        let calendar = Calendar::paris();
        let first_day = jiff::civil::date(2026, 1, 5);
        let calls = config.monitor.calls_per_number_per_day.round() as u32;
        let start = calendar.start_of(first_day);
        let spacing = 3_600.0 / f64::from(config.calls_per_hour);
        let offsets: Vec<SignedDuration> = (0..calls)
            .map(|k| {
                SignedDuration::from_hours(i64::from(config.first_hour))
                    + SignedDuration::from_secs((f64::from(k) * spacing) as i64)
            })
            .collect();
        let hours: Vec<LocalHour> =
            offsets.iter().map(|&o| LocalHour::of(&calendar, start.checked_add(o).unwrap_or(start))).collect();
        let first = hours.first().map_or(0, |h| h.get());
        let last = hours.last().map_or(0, |h| h.get());
        let span = f64::from(last.saturating_sub(first).max(1));
        let hour_index: Vec<usize> = hours.iter().map(|h| usize::from(h.get() - first)).collect();
        let rates = (first..=last)
            .map(|h| config.healthy_rate + config.hour_swing * (2.0 * f64::from(h - first) / span - 1.0))
            .collect();
        let starts = (0..DAYS_CACHED).map(|d| calendar.start_of(add_days(first_day, d as i32))).collect();
        Day { calls, offsets, hours, hour_index, rates, calendar, first_day, starts }
    }

    /// The instant of the `k`th call of day `day`.
    fn at(&self, day: u32, k: usize) -> Timestamp {
        let start = match self.starts.get(day as usize) {
            Some(&t) => t,
            None => self.calendar.start_of(add_days(self.first_day, day as i32)),
        };
        start.checked_add(self.offsets[k]).unwrap_or(start)
    }

    /// A number's healthy answer probability for each call of the day.
    fn healthy(&self, effect: f64) -> Vec<f64> {
        self.hour_index.iter().map(|&h| logistic(logit(self.rates[h]) + effect)).collect()
    }
}

fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

fn logistic(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// One simulated call: answered with probability `p`, its other fields drawn from the
/// model's rates under the number's state.
fn draw_call(rng: &mut Rng, at: Timestamp, p: f64, model: &SignalModel, labelled: bool) -> CallSignal {
    let rate = |r: crate::detect::SignalRates| if labelled { r.labelled } else { r.healthy };
    if rng.chance(p) {
        let short = rng.chance(rate(model.short_answer));
        return CallSignal {
            ring_ms: Some(rng.range(3_000, 20_000)),
            sip_code: SipCode::new(200).ok(),
            duration_secs: Some(if short { rng.range(1, SHORT_CALL_SECS) } else { rng.range(SHORT_CALL_SECS, 400) }),
            shown_as_spam: Some(rng.chance(rate(model.shown_as_spam))),
            ..CallSignal::new(at, Outcome::Answered)
        };
    }
    let (u, q) = (rate(model.unwanted_sip), rate(model.quick_end));
    let x = rng.unit();
    let (outcome, sip, ring) = if x < u {
        let code = if rng.chance(0.5) { SipCode::UNWANTED } else { SipCode::REJECTED };
        (Outcome::Refused, Some(code), rng.range(0, 1_500))
    } else if x < u + q {
        let (outcome, code) = match rng.range(0, 3) {
            0 => (Outcome::Busy, 486),
            1 => (Outcome::Refused, 603),
            _ => (Outcome::Voicemail, 200),
        };
        (outcome, SipCode::new(code).ok(), rng.range(0, model.quick_ring_ms))
    } else if rng.chance(0.5) {
        (Outcome::NoAnswer, SipCode::new(480).ok(), rng.range(model.quick_ring_ms, 35_000))
    } else {
        (Outcome::Voicemail, SipCode::new(200).ok(), rng.range(model.quick_ring_ms, 30_000))
    };
    CallSignal {
        ring_ms: Some(ring),
        sip_code: sip,
        duration_secs: None,
        shown_as_spam: None,
        ..CallSignal::new(at, outcome)
    }
}

/// A number of the simulated pool: its log-odds offset and its expected rates.
struct SimNumber {
    healthy: Vec<f64>,
    expected: Vec<BaselineRate>,
}

/// Builds a pool's history and baseline, and each number's level and expected rates.
fn simulate_pool(
    config: &BenchConfig,
    day: &Day,
    purpose: &Purpose,
    rng: &mut Rng,
    numbers: u32,
) -> Result<(Baseline, Vec<SimNumber>, Vec<BaselineRate>), BenchError> {
    let effects: Vec<f64> = (0..numbers).map(|_| config.number_spread * rng.normal()).collect();
    let mut pool = BaselineTable::new();
    let mut own: Vec<BaselineTable> = (0..numbers).map(|_| BaselineTable::new()).collect();
    let healthy: Vec<Vec<f64>> = effects.iter().map(|&e| day.healthy(e)).collect();
    for _ in 0..config.history_days {
        for k in 0..day.calls as usize {
            for (table, p) in own.iter_mut().zip(&healthy) {
                let answered = rng.chance(p[k]);
                pool.record(purpose, day.hours[k], answered);
                table.record(purpose, day.hours[k], answered);
            }
        }
    }
    let baseline = Baseline::new(day.calendar.clone(), &pool, config.prior_calls)?;
    let pool_expected = day.hours.iter().map(|&h| baseline.expected(purpose, h, NumberLevel::POOL)).collect();
    let sims = healthy
        .into_iter()
        .zip(&own)
        .map(|(healthy, table)| {
            let level = baseline.number_level(table);
            SimNumber { healthy, expected: day.hours.iter().map(|&h| baseline.expected(purpose, h, level)).collect() }
        })
        .collect();
    Ok((baseline, sims, pool_expected))
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[allow(clippy::too_many_arguments)]
fn figures(
    scenario: String,
    p1: f64,
    reporting: Reporting,
    weak_signals: bool,
    mut delays: Vec<f64>,
    cap: f64,
    false_before: u32,
    calls_per_minute: f64,
) -> DelayFigures {
    let trials = delays.len() as u32;
    let detected = delays.iter().filter(|d| d.is_finite()).count() as u32;
    let capped: Vec<f64> = delays.iter().map(|d| if d.is_finite() { *d } else { cap }).collect();
    let mean_calls = capped.iter().sum::<f64>() / capped.len().max(1) as f64;
    delays.sort_by(f64::total_cmp);
    let median_calls = quantile(&delays, 0.5);
    let p90_calls = quantile(&delays, 0.9);
    DelayFigures {
        scenario,
        p1,
        reporting,
        weak_signals,
        trials,
        detected,
        false_before,
        median_calls,
        mean_calls,
        p90_calls,
        median_minutes: median_calls / calls_per_minute,
        p90_minutes: p90_calls / calls_per_minute,
    }
}

/// Most labelled calls a trial runs before it counts as undetected.
const DELAY_CAP_CALLS: u32 = 3_000;

/// Runs the bench. Deterministic: the figures depend on the configuration alone.
pub fn run_detection_bench(config: &BenchConfig) -> Result<BenchReport, BenchError> {
    config.validate()?;
    let mut rng = Rng::new(config.seed);
    let day = Day::new(config);
    let purpose = Purpose::parse("appointment_reminder")?;
    let pool_code = PoolCode::parse("A")?;
    let n = config.monitor.numbers;
    let calls_per_minute = f64::from(config.calls_per_hour) / 60.0;

    // The designs, from a reference pool's baseline.
    let (reference, _, reference_pool_expected) = simulate_pool(config, &day, &purpose, &mut rng.fork(), n)?;
    let mix = reference.rate_mix();
    let design_all = MonitorDesign::new(&MonitorConfig { reporting: Reporting::ALL, ..config.monitor }, &mix)?;
    let design_outcome =
        MonitorDesign::new(&MonitorConfig { reporting: Reporting::OUTCOME_ONLY, ..config.monitor }, &mix)?;

    let floors = config
        .labelled_rates
        .iter()
        .map(|&p1| {
            let floor = detection_floor(AnswerFall::new(config.healthy_rate, p1)?, design_all.number.arl0_calls)?;
            Ok(FloorRow { p1, kl: floor.kl, lorden_calls: floor.lorden_calls, cusum_calls: floor.cusum_calls })
        })
        .collect::<Result<Vec<_>, BenchError>>()?;

    // The delay against the strength of the label's signals, exactly.
    let model = config.monitor.model;
    let default_share = model.unwanted_sip.labelled + model.quick_end.labelled;
    let sweep = config
        .refused_shares
        .iter()
        .map(|&share| {
            let mut m = model;
            m.unwanted_sip.labelled = share * model.unwanted_sip.labelled / default_share;
            m.quick_end.labelled = share * model.quick_end.labelled / default_share;
            let swept = MonitorConfig { model: m, reporting: Reporting::ALL, ..config.monitor };
            let design = MonitorDesign::new(&swept, &mix)?;
            let labelled = labelled_steps(&m, Reporting::ALL, &mix, config.monitor.number_fall);
            Ok(SweepRow {
                refused_share: share,
                unwanted_sip: m.unwanted_sip.labelled,
                quick_end: m.quick_end.labelled,
                threshold: design.number.threshold,
                median_calls: cusum_run_length_quantile(&labelled, design.number.threshold, 0.5)?,
                mean_calls: cusum_arl(&labelled, design.number.threshold)?,
            })
        })
        .collect::<Result<Vec<_>, BenchError>>()?;

    let per_month = |reporting: Reporting| -> Result<f64, BenchError> {
        let steps = healthy_steps(&model, reporting, &mix, config.monitor.number_fall);
        Ok(config.monitor.pool_calls_per_month() / cusum_arl(&steps, design_all.number.threshold)?)
    };
    let chain_quarantines_all_fields = per_month(Reporting::ALL)?;
    let chain_quarantines_bare = per_month(Reporting::OUTCOME_ONLY)?;

    // Healthy pool-months.
    let mut fa = FalseAlarmFigures {
        pool_months: config.pool_months,
        calls: 0,
        number_alarms_all_fields: 0,
        number_alarms_outcome_only: 0,
        pool_alarms: 0,
    };
    let mut months_rng = rng.fork();
    for _ in 0..config.pool_months {
        let mut r = months_rng.fork();
        let (_, sims, pool_expected) = simulate_pool(config, &day, &purpose, &mut r, n)?;
        let mut all: Vec<NumberDetector> =
            (0..n).map(|i| NumberDetector::new(NumberId(i64::from(i)), pool_code.clone(), design_all.number)).collect();
        let mut outcome: Vec<NumberDetector> = (0..n)
            .map(|i| NumberDetector::new(NumberId(i64::from(i)), pool_code.clone(), design_outcome.number))
            .collect();
        let mut pool = PoolDetector::new(pool_code.clone(), design_all.pool);
        for d in 0..config.monitor.days_per_month.round() as u32 {
            for (k, &pool_rate) in pool_expected.iter().enumerate() {
                let at = day.at(d, k);
                for ((sim, all), outcome) in sims.iter().zip(&mut all).zip(&mut outcome) {
                    let signal = draw_call(&mut r, at, sim.healthy[k], &config.monitor.model, false);
                    fa.calls += 1;
                    fa.number_alarms_all_fields += u64::from(all.observe(&signal, sim.expected[k]).is_some());
                    fa.number_alarms_outcome_only +=
                        u64::from(outcome.observe(&signal.outcome_only(), sim.expected[k]).is_some());
                    fa.pool_alarms += u64::from(pool.observe(&signal, pool_rate).is_some());
                }
            }
        }
    }

    // Labelled numbers.
    let month_calls = (config.monitor.days_per_month.round() as u32) * day.calls;
    let mut delays = Vec::new();
    let weak_model = config.monitor.model.weakened(config.weak_fraction);
    let mut scenarios: Vec<(f64, bool)> = config.labelled_rates.iter().map(|&p| (p, false)).collect();
    scenarios.push((config.monitor.number_fall.p1(), true));
    for (p1, weak) in scenarios {
        let truth = if weak { weak_model } else { config.monitor.model };
        let odds_ratio = AnswerFall::new(config.healthy_rate, p1)?.odds_ratio();
        let mut r = rng.fork();
        let mut found_all = Vec::new();
        let mut found_outcome = Vec::new();
        let mut false_all = 0;
        let mut false_outcome = 0;
        for t in 0..config.trials {
            let sim = simulate_number(config, &day, &purpose, &reference, &mut r);
            let id = NumberId(i64::from(t));
            let mut all = NumberDetector::new(id, pool_code.clone(), design_all.number);
            let mut outcome = NumberDetector::new(id, pool_code.clone(), design_outcome.number);
            let label_at = r.range(0, month_calls);
            let (mut got_all, mut got_outcome) = (None, None);
            let mut i = 0u32;
            while (got_all.is_none() || got_outcome.is_none()) && i < label_at + DELAY_CAP_CALLS {
                let (d, k) = (i / day.calls, (i % day.calls) as usize);
                let at = day.at(d, k);
                let healthy = sim.healthy[k];
                let labelled = i >= label_at;
                let p = if labelled { fallen_rate(healthy, odds_ratio) } else { healthy };
                let signal = draw_call(&mut r, at, p, &truth, labelled);
                let delay = f64::from(i + 1 - label_at.min(i + 1));
                if got_all.is_none() && all.observe(&signal, sim.expected[k]).is_some() {
                    if labelled { got_all = Some(delay) } else { false_all += 1 }
                }
                if got_outcome.is_none() && outcome.observe(&signal.outcome_only(), sim.expected[k]).is_some() {
                    if labelled { got_outcome = Some(delay) } else { false_outcome += 1 }
                }
                i += 1;
            }
            found_all.push(got_all.unwrap_or(f64::INFINITY));
            found_outcome.push(got_outcome.unwrap_or(f64::INFINITY));
        }
        let words = |what: &str| {
            format!(
                "labelled at a random call of a month, 0.6 → {p1}, {what}{}",
                if weak { ", signals half as strong" } else { "" }
            )
        };
        let cap = f64::from(DELAY_CAP_CALLS);
        if !weak {
            delays.push(figures(
                words("answered or not"),
                p1,
                Reporting::OUTCOME_ONLY,
                false,
                found_outcome,
                cap,
                false_outcome,
                calls_per_minute,
            ));
        }
        delays.push(figures(
            words("every field"),
            p1,
            Reporting::ALL,
            weak,
            found_all,
            cap,
            false_all,
            calls_per_minute,
        ));
    }

    // A pool-wide fall.
    let pool_or = config.monitor.pool_fall.odds_ratio();
    let mut r = rng.fork();
    let mut pool_delays = Vec::new();
    let mut pool_false = 0;
    let pool_calls_per_day = n * day.calls;
    for _ in 0..config.pool_trials {
        let healthy: Vec<Vec<f64>> = (0..n).map(|_| day.healthy(config.number_spread * r.normal())).collect();
        let mut pool = PoolDetector::new(pool_code.clone(), design_all.pool);
        let change_at = r.range(0, pool_calls_per_day);
        let mut found = None;
        let mut i = 0u32;
        'days: for d in 0.. {
            for k in 0..day.calls as usize {
                let at = day.at(d, k);
                for p_healthy in &healthy {
                    let fallen = i >= change_at;
                    let p = if fallen { fallen_rate(p_healthy[k], pool_or) } else { p_healthy[k] };
                    let signal = draw_call(&mut r, at, p, &config.monitor.model, false);
                    if pool.observe(&signal, reference_pool_expected[k]).is_some() {
                        if fallen {
                            found = Some(f64::from(i + 1 - change_at));
                            break 'days;
                        }
                        pool_false += 1;
                    }
                    i += 1;
                    if i >= change_at + 20 * DELAY_CAP_CALLS {
                        break 'days;
                    }
                }
            }
        }
        pool_delays.push(found.unwrap_or(f64::INFINITY));
    }
    let pool_delay = figures(
        format!(
            "the whole pool falls 0.6 → {} at a random call of a day (delay in the pool's calls)",
            config.monitor.pool_fall.p1()
        ),
        config.monitor.pool_fall.p1(),
        Reporting::OUTCOME_ONLY,
        false,
        pool_delays,
        f64::from(20 * DELAY_CAP_CALLS),
        pool_false,
        calls_per_minute * f64::from(n),
    );

    Ok(BenchReport {
        config: config.clone(),
        all_fields: design_all.number,
        outcome_only: design_outcome.number,
        pool: design_all.pool,
        floors,
        sweep,
        chain_quarantines_all_fields,
        chain_quarantines_bare,
        false_alarms: fa,
        delays,
        pool_delay,
    })
}

/// One labelled-trial number: its own history and level against the reference pool.
fn simulate_number(
    config: &BenchConfig,
    day: &Day,
    purpose: &Purpose,
    reference: &Baseline,
    rng: &mut Rng,
) -> SimNumber {
    let healthy = day.healthy(config.number_spread * rng.normal());
    let mut own = BaselineTable::new();
    for _ in 0..config.history_days {
        for (k, &p) in healthy.iter().enumerate() {
            own.record(purpose, day.hours[k], rng.chance(p));
        }
    }
    let level = reference.number_level(&own);
    let expected = day.hours.iter().map(|&h| reference.expected(purpose, h, level)).collect();
    SimNumber { healthy, expected }
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        let m = &c.monitor;
        let per_minute = f64::from(c.calls_per_hour) / 60.0;
        writeln!(
            f,
            "Pool: {} numbers × {} calls a day × {} days = {:.0} calls a month; {} calls an hour per number; \
             answer rate {:.2} ({:.2} to {:.2} over the day), numbers spread {:.2} in log-odds; seed {:#x}.",
            m.numbers,
            m.calls_per_number_per_day,
            m.days_per_month,
            m.pool_calls_per_month(),
            c.calls_per_hour,
            c.healthy_rate,
            c.healthy_rate - c.hour_swing,
            c.healthy_rate + c.hour_swing,
            c.number_spread,
            c.seed
        )?;
        writeln!(
            f,
            "Target: {} false quarantine(s) per pool per month → ARL0 = {:.0} calls per number chart \
             (ln ARL0 = {:.2}); {} false pool alert(s) per month → ARL0 = {:.0} pool calls.",
            m.false_quarantines_per_month,
            self.all_fields.arl0_calls,
            self.all_fields.arl0_calls.ln(),
            m.false_pool_alerts_per_month,
            self.pool.arl0_calls
        )?;
        writeln!(
            f,
            "Thresholds (Brook–Evans Markov chain over the baseline's rate mix): number chart h = {:.3} with every \
             field (the larger of the every-field and bare-outcome calibrations), {:.3} on answered-or-not; pool \
             chart h = {:.3} (designed for {:.2} → {:.2}).",
            self.all_fields.threshold,
            self.outcome_only.threshold,
            self.pool.threshold,
            self.pool.fall.p0(),
            self.pool.fall.p1()
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "| fall | KL (nats/call) | Lorden floor ln(ARL0)/KL (calls) | optimal CUSUM, exact (calls) | 1.5 × floor |"
        )?;
        writeln!(f, "|---|---|---|---|---|")?;
        for r in &self.floors {
            writeln!(
                f,
                "| {:.2} → {:.2} | {:.3} | {:.1} | {:.1} | {:.1} |",
                c.healthy_rate,
                r.p1,
                r.kl,
                r.lorden_calls,
                r.cusum_calls,
                1.5 * r.lorden_calls
            )?;
        }
        writeln!(f)?;
        let fa = &self.false_alarms;
        writeln!(
            f,
            "| false alarms on healthy traffic ({} pool-months, {} calls) | alarms | per pool per month | target |",
            fa.pool_months, fa.calls
        )?;
        writeln!(f, "|---|---|---|---|")?;
        writeln!(
            f,
            "| number charts, every field | {} | {:.2} | {} |",
            fa.number_alarms_all_fields,
            fa.quarantines_per_month_all_fields(),
            m.false_quarantines_per_month
        )?;
        writeln!(
            f,
            "| number charts, answered or not | {} | {:.2} | {} |",
            fa.number_alarms_outcome_only,
            fa.quarantines_per_month_outcome_only(),
            m.false_quarantines_per_month
        )?;
        writeln!(
            f,
            "| pool chart | {} | {:.2} | {} |",
            fa.pool_alarms,
            fa.pool_alerts_per_month(),
            m.false_pool_alerts_per_month
        )?;
        writeln!(
            f,
            "| predicted by the chain for the every-field charts: fed every field / fed bare outcomes | – | {:.2} / {:.2} | {} |",
            self.chain_quarantines_all_fields, self.chain_quarantines_bare, m.false_quarantines_per_month
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "| labelled number | fed | trials | detected | median (calls) | mean | p90 | median (min) | p90 (min) | vs floor |"
        )?;
        writeln!(f, "|---|---|---|---|---|---|---|---|---|---|")?;
        for d in &self.delays {
            let fed = if d.reporting == Reporting::ALL { "every field" } else { "answered or not" };
            let what = format!("0.6 → {}{}", d.p1, if d.weak_signals { ", signals half as strong" } else { "" });
            let vs =
                self.floor(d.p1).map_or(String::from("–"), |r| format!("{:.2}×", d.median_calls / r.lorden_calls));
            writeln!(
                f,
                "| {what} | {fed} | {} | {} | {:.0} | {:.1} | {:.0} | {:.0} | {:.0} | {vs} |",
                d.trials, d.detected, d.median_calls, d.mean_calls, d.p90_calls, d.median_minutes, d.p90_minutes
            )?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "| labelled unanswered calls refused outright (607/608 + ended < {} ms) | h | median delay, every field (calls, exact) | mean |",
            m.model.quick_ring_ms
        )?;
        writeln!(f, "|---|---|---|---|")?;
        for r in &self.sweep {
            writeln!(
                f,
                "| {:.0} % ({:.1} % + {:.1} %) | {:.2} | {} | {:.1} |",
                100.0 * r.refused_share,
                100.0 * r.unwanted_sip,
                100.0 * r.quick_end,
                r.threshold,
                r.median_calls,
                r.mean_calls
            )?;
        }
        let p = &self.pool_delay;
        writeln!(f)?;
        writeln!(
            f,
            "Pool-wide fall {:.2} → {:.2}: {} of {} detected, median {:.0} pool calls ({:.0} min at {:.0} calls an hour \
             across the pool), p90 {:.0} calls ({:.0} min); {} false alerts before the falls.",
            self.pool.fall.p0(),
            p.p1,
            p.detected,
            p.trials,
            p.median_calls,
            p.median_minutes,
            per_minute * 60.0 * f64::from(m.numbers),
            p.p90_calls,
            p.p90_minutes,
            p.false_before
        )
    }
}
