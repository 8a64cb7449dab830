//! Sequential detection of a number (or a pool) going bad, from the stream of its
//! call outcomes. Pure: the time comes with each signal; nothing is read or written.
//!
//! **The statistic.** Each call adds the log-likelihood ratio of what it showed under
//! "labelled" against "healthy" (Page's CUSUM, `S = max(0, S + W)`, alarm at `S ≥ h`):
//!
//! - answered or not, risk-adjusted (Steiner et al. 2000): the healthy rate `p0` of the
//!   call comes from the baseline (the pool's rate for its purpose and local hour, times
//!   the number's own level), the labelled rate from a fixed odds ratio
//!   `R = odds(p1) / odds(p0)` of the design fall (0.6 → 0.15 by default), so that
//!   `W = X·ln R − ln(1 − p0 + R·p0)`;
//! - for an unanswered call, how it ended: a 607/608, a ring under ~2 s, or neither;
//! - for an answered call, whether it lasted under 10 s and whether the agent noted
//!   that it showed as spam.
//!
//! The strong signals are rare on a healthy number and common on a labelled one
//! ([`SignalModel`]), so their increments are large: a few of them cross `h` within a
//! handful of calls, while the answer rate alone needs tens of calls.
//!
//! **The threshold.** `h` is not configured; it is computed from the false-alarm
//! target (one false quarantine per pool per month by default: with N numbers making
//! c calls a day, the in-control average run length ARL0 of each number's chart is
//! N·c·30 calls). The ARL of a given `h` is computed exactly for the discretised chart
//! with the Markov chain of Brook & Evans (1972) over the distribution of `W` under the
//! healthy model (the mix of the pool's rates), and `h` is found by a bracketed secant
//! (Illinois) search on `ln ARL(h)`. A number's chart takes the larger of the
//! thresholds its configured reporting and bare outcomes need, so that a dialer
//! leaving fields out cannot push false quarantines over the target.
//!
//! **The floor.** No sequential test can detect a fall from p0 to p1 at false-alarm
//! rate 1/ARL0 faster, in the worst case, than about `ln(ARL0) / KL(p1‖p0)` calls
//! (Lorden 1971: the first-order asymptotic bound), and the CUSUM attains the exact
//! optimum (Moustakides 1986). [`detection_floor`] gives both: the asymptotic figure
//! and the CUSUM's own zero-state delay at that ARL0.

use jiff::Timestamp;

use crate::catalog::{InvalidField, PoolCode};
use crate::engine::NumberId;
use crate::names::named_enum;
use crate::reputation::{BaselineRate, CallSignal, RATE_MAX, RATE_MIN, RateWeight, SHORT_CALL_SECS, SipCode};

// ---------------------------------------------------------------------------------
// Falls, divergence and the floor
// ---------------------------------------------------------------------------------

/// The Kullback–Leibler divergence KL(Bern(p1) ‖ Bern(p0)): the expected
/// log-likelihood ratio a call gives once the rate has fallen to `p1`, in nats.
pub fn kl_bernoulli(p1: f64, p0: f64) -> f64 {
    let term = |p: f64, q: f64| if p > 0.0 { p * (p / q).ln() } else { 0.0 };
    term(p1, p0) + term(1.0 - p1, 1.0 - p0)
}

/// The rate a call expected to answer at `p0` has once its odds are multiplied by `odds_ratio`.
pub fn fallen_rate(p0: f64, odds_ratio: f64) -> f64 {
    odds_ratio * p0 / (1.0 - p0 + odds_ratio * p0)
}

/// A fall of the answer rate from `p0` to `p1`: what a detector is designed to catch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnswerFall {
    p0: f64,
    p1: f64,
}

impl AnswerFall {
    /// A fall, refused unless 0 < p1 < p0 < 1.
    pub fn new(p0: f64, p1: f64) -> Result<AnswerFall, InvalidField> {
        if !(p0 > 0.0 && p0 < 1.0) {
            return Err(InvalidField::new("p0", "must be strictly between 0 and 1"));
        }
        if !(p1 > 0.0 && p1 < p0) {
            return Err(InvalidField::new("p1", "must be strictly between 0 and p0"));
        }
        Ok(AnswerFall { p0, p1 })
    }

    /// The healthy rate.
    pub fn p0(&self) -> f64 {
        self.p0
    }

    /// The fallen rate.
    pub fn p1(&self) -> f64 {
        self.p1
    }

    /// odds(p1) / odds(p0), applied to every call's own p0 by the risk-adjusted chart.
    pub fn odds_ratio(&self) -> f64 {
        (self.p1 / (1.0 - self.p1)) / (self.p0 / (1.0 - self.p0))
    }

    /// KL(p1 ‖ p0), nats per call.
    pub fn kl(&self) -> f64 {
        kl_bernoulli(self.p1, self.p0)
    }
}

/// The fewest calls a sequential test needs to detect a fall at a false-alarm rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectionFloor {
    /// The fall.
    pub fall: AnswerFall,
    /// The in-control average run length, in calls, between false alarms.
    pub arl0_calls: f64,
    /// KL(p1 ‖ p0), nats per call.
    pub kl: f64,
    /// Lorden's first-order bound `ln(ARL0) / KL`: what any test needs, asymptotically,
    /// in the worst case.
    pub lorden_calls: f64,
    /// The threshold of the answered-or-not CUSUM at that ARL0.
    pub cusum_threshold: f64,
    /// That CUSUM's delay from a zero statistic (its worst case), the exact optimum of
    /// Lorden's criterion at this ARL0 (Moustakides 1986), up to discretisation.
    pub cusum_calls: f64,
}

/// The floor for `fall` at `arl0_calls` calls between false alarms, with a constant p0.
pub fn detection_floor(fall: AnswerFall, arl0_calls: f64) -> Result<DetectionFloor, DesignError> {
    let healthy = answer_steps(&[RateWeight { p0: fall.p0, weight: 1.0 }], fall.odds_ratio(), Hypothesis::Healthy);
    let labelled = answer_steps(&[RateWeight { p0: fall.p0, weight: 1.0 }], fall.odds_ratio(), Hypothesis::Labelled);
    let h = cusum_threshold(&healthy, arl0_calls)?;
    let delay = cusum_arl(&labelled, h)?;
    let kl = fall.kl();
    Ok(DetectionFloor {
        fall,
        arl0_calls,
        kl,
        lorden_calls: arl0_calls.ln() / kl,
        cusum_threshold: h,
        cusum_calls: delay,
    })
}

// ---------------------------------------------------------------------------------
// The average run length of a CUSUM (Brook & Evans)
// ---------------------------------------------------------------------------------

/// One value a chart's increment takes, with its probability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// Its probability.
    pub prob: f64,
    /// The increment (a log-likelihood ratio, nats).
    pub llr: f64,
}

/// Why a detector cannot be designed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DesignError {
    /// A setting out of range.
    #[error(transparent)]
    Invalid(#[from] InvalidField),
    /// The statistic can never reach the threshold: no increment is positive.
    #[error("detector: the statistic can never rise, so no threshold gives {arl0_calls:.0} calls between false alarms")]
    Unreachable {
        /// The target.
        arl0_calls: f64,
    },
    /// The chart would never raise an alarm: its statistic cannot reach the threshold
    /// (or takes longer than any horizon worth computing).
    #[error("detector: the chart never reaches its threshold")]
    NeverAlarms,
    /// The threshold search did not settle.
    #[error("detector: no threshold found for {arl0_calls:.0} calls between false alarms")]
    NoConvergence {
        /// The target.
        arl0_calls: f64,
    },
}

/// States of the discretised chart: enough to reproduce simulated ARLs within a few
/// per cent (the research Monte Carlo table and the tests' own simulation), few enough
/// for a dense solve (240³/3 multiply-adds) a handful of times per design.
const CHAIN_STATES: usize = 240;

/// Most ARL0 a design accepts, in calls (a century of a busy pool).
const ARL0_MAX: f64 = 1e9;

/// The sub-stochastic transition matrix of the discretised chart (Brook & Evans):
/// `[0, h)` cut into 240 cells of width `h/240`, each represented by its left edge (so
/// that 0 is a state of its own, as the chart's atom at zero needs). A step landing
/// between two states is split between them in proportion, so that its mean is kept:
/// rounding a fixed step to the grid would bias every step alike.
fn transitions(steps: &[Step], threshold: f64) -> Vec<f64> {
    let m = CHAIN_STATES;
    let delta = threshold / m as f64;
    let mut q = vec![0.0; m * m];
    for i in 0..m {
        let x = i as f64 * delta;
        for s in steps {
            let v = x + s.llr;
            if v >= threshold {
                continue;
            }
            if v <= 0.0 {
                q[i * m] += s.prob;
                continue;
            }
            let cell = v / delta;
            let below = cell.floor();
            let up = cell - below;
            let j = (below as usize).min(m - 1);
            q[i * m + j] += s.prob * (1.0 - up);
            if up > 0.0 {
                q[i * m + (j + 1).min(m - 1)] += s.prob * up;
            }
        }
    }
    q
}

/// The average run length, in calls, of the CUSUM `S = max(0, S + W)` from `S = 0` to
/// `S ≥ threshold`, with `W` independent draws from `steps`: the expected number of
/// steps to absorption of the chain of [`transitions`], which solves `(I − Q)·L = 1`.
pub fn cusum_arl(steps: &[Step], threshold: f64) -> Result<f64, DesignError> {
    if threshold <= 0.0 || !threshold.is_finite() {
        return Ok(1.0);
    }
    let m = CHAIN_STATES;
    let mut a = transitions(steps, threshold);
    for (k, v) in a.iter_mut().enumerate() {
        *v = if k / m == k % m { 1.0 - *v } else { -*v };
    }
    let mut b = vec![1.0; m];
    solve_dense(&mut a, &mut b, m).map(|l| l[0]).ok_or(DesignError::NeverAlarms)
}

/// Most calls [`cusum_run_length_quantile`] follows the chain for.
const QUANTILE_CALLS_MAX: u32 = 10_000;

/// The `q`-quantile (0.5 for the median) of the CUSUM's run length from `S = 0`: the
/// fewest calls n with P(alarm within n calls) ≥ q, from the same chain
/// (`P(RL > n) = (Qⁿ·1)₀`). Each call costs 240² multiply-adds, so it is meant for
/// detection delays; past 10 000 calls it gives up with [`DesignError::NeverAlarms`].
pub fn cusum_run_length_quantile(steps: &[Step], threshold: f64, q: f64) -> Result<u32, DesignError> {
    if !(q > 0.0 && q < 1.0) {
        return Err(InvalidField::new("quantile", "must be strictly between 0 and 1").into());
    }
    if threshold <= 0.0 || !threshold.is_finite() {
        return Ok(1);
    }
    let m = CHAIN_STATES;
    let t = transitions(steps, threshold);
    let mut survive = vec![1.0; m];
    let mut next = vec![0.0; m];
    for n in 1..=QUANTILE_CALLS_MAX {
        for (i, out) in next.iter_mut().enumerate() {
            *out = t[i * m..(i + 1) * m].iter().zip(&survive).map(|(p, s)| p * s).sum();
        }
        std::mem::swap(&mut survive, &mut next);
        if 1.0 - survive[0] >= q {
            return Ok(n);
        }
    }
    Err(DesignError::NeverAlarms)
}

/// Solves `A·x = b` in place by Gaussian elimination with partial pivoting; `None` when
/// `A` is singular or the answer is not finite and positive.
fn solve_dense(a: &mut [f64], b: &mut [f64], m: usize) -> Option<Vec<f64>> {
    for col in 0..m {
        let pivot = (col..m).max_by(|&r, &s| a[r * m + col].abs().total_cmp(&a[s * m + col].abs()))?;
        if a[pivot * m + col].abs() < 1e-300 {
            return None;
        }
        if pivot != col {
            for k in 0..m {
                a.swap(col * m + k, pivot * m + k);
            }
            b.swap(col, pivot);
        }
        let diag = a[col * m + col];
        for row in col + 1..m {
            let f = a[row * m + col] / diag;
            if f != 0.0 {
                for k in col..m {
                    a[row * m + k] -= f * a[col * m + k];
                }
                b[row] -= f * b[col];
            }
        }
    }
    let mut x = vec![0.0; m];
    for row in (0..m).rev() {
        let mut sum = b[row];
        for k in row + 1..m {
            sum -= a[row * m + k] * x[k];
        }
        x[row] = sum / a[row * m + row];
    }
    (x[0].is_finite() && x[0] >= 1.0 - 1e-9 && x[0] < 1e15).then_some(x)
}

/// The threshold at which the CUSUM over `steps` (the healthy distribution of its
/// increment) has an average run length of `arl0_calls`. Lorden's inequality
/// `ARL0 ≥ e^h` for likelihood-ratio increments puts the answer below `ln(ARL0)`, which
/// brackets the search with 0; the Illinois variant of regula falsi on
/// `ln ARL(h) − ln ARL0` then settles within a few solves.
pub fn cusum_threshold(steps: &[Step], arl0_calls: f64) -> Result<f64, DesignError> {
    if !(2.0..=ARL0_MAX).contains(&arl0_calls) {
        return Err(InvalidField::new("arl0_calls", format!("must be between 2 and {ARL0_MAX:e} calls")).into());
    }
    if !steps.iter().any(|s| s.prob > 0.0 && s.llr > 0.0) {
        return Err(DesignError::Unreachable { arl0_calls });
    }
    let target = arl0_calls.ln();
    let g = |h: f64| -> Result<f64, DesignError> {
        let arl = cusum_arl(steps, h).map_err(|_| DesignError::Unreachable { arl0_calls })?;
        Ok(arl.ln() - target)
    };
    let (mut lo, mut g_lo) = (0.0, -target);
    let mut hi = target.max(1.0);
    let mut g_hi = g(hi)?;
    let mut widen = 0;
    while g_hi < 0.0 {
        // Not a likelihood ratio, or the discretisation fell short: widen the bracket.
        widen += 1;
        if widen > 20 {
            return Err(DesignError::NoConvergence { arl0_calls });
        }
        lo = hi;
        g_lo = g_hi;
        hi *= 1.5;
        g_hi = g(hi)?;
    }
    let mut side = 0i8;
    for _ in 0..80 {
        let mid = (lo * g_hi - hi * g_lo) / (g_hi - g_lo);
        let mid = if mid.is_finite() && mid > lo && mid < hi { mid } else { 0.5 * (lo + hi) };
        let g_mid = g(mid)?;
        if g_mid.abs() < 1e-4 || hi - lo < 1e-6 {
            return Ok(mid);
        }
        if g_mid < 0.0 {
            lo = mid;
            g_lo = g_mid;
            if side == -1 {
                g_hi *= 0.5;
            }
            side = -1;
        } else {
            hi = mid;
            g_hi = g_mid;
            if side == 1 {
                g_lo *= 0.5;
            }
            side = 1;
        }
    }
    // The discretised ARL is a step function at the finest scale; the bracket is narrow.
    if hi - lo < 1e-2 { Ok(hi) } else { Err(DesignError::NoConvergence { arl0_calls }) }
}

// ---------------------------------------------------------------------------------
// What each signal says
// ---------------------------------------------------------------------------------

/// How often a signal shows on a healthy number and on a labelled one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SignalRates {
    /// Its rate on a healthy number.
    pub healthy: f64,
    /// Its rate once the number is labelled as spam.
    pub labelled: f64,
}

impl SignalRates {
    fn check(&self, field: &'static str) -> Result<(), InvalidField> {
        let ok = |r: f64| r > 0.0 && r < 1.0;
        if ok(self.healthy) && ok(self.labelled) {
            Ok(())
        } else {
            Err(InvalidField::new(field, "rates must be strictly between 0 and 1"))
        }
    }

    fn of(&self, hypothesis: Hypothesis) -> f64 {
        match hypothesis {
            Hypothesis::Healthy => self.healthy,
            Hypothesis::Labelled => self.labelled,
        }
    }
}

/// What a spam label does to the signals other than the answer rate. The defaults are
/// assumptions, stated as such (research/dynamics.md has no measured rates), and they
/// carry issue 5's premise that "an app or network that rejects a call ends it within
/// a ring or two": once labelled, 70 % of a number's unanswered calls are refused
/// outright (607/608 or within 2 s), against 6.2 % on a healthy number. How fast a
/// labelled number is caught depends on that share above all; the detection bench
/// prints the delay for shares from 20 % to 80 % (BENCHMARKS.md).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SignalModel {
    /// Share of unanswered calls ending in 607 or 608. Healthy 0.2 % (a patient who
    /// marks a wanted call unwanted is rare); labelled 20 % [assumption].
    pub unwanted_sip: SignalRates,
    /// Share of unanswered calls (not 607/608) that end within `quick_ring_ms`: phones
    /// off straight to voicemail, busy lines, quick declines. Healthy 6 %
    /// [assumption]; labelled 50 %, blocking apps and networks end a labelled call
    /// "within a ring or two" (issue 5) [assumption].
    pub quick_end: SignalRates,
    /// Share of answered calls shorter than [`SHORT_CALL_SECS`]: 10 % healthy, 30 %
    /// labelled (dynamics.md §6.1, itself an assumption).
    pub short_answer: SignalRates,
    /// Share of answered calls an agent notes as shown as spam: 0.2 % healthy (a
    /// mistaken note), 15 % labelled [assumption].
    pub shown_as_spam: SignalRates,
    /// A ring shorter than this, ending unanswered, is a quick end (2000 ms).
    pub quick_ring_ms: u32,
}

impl SignalModel {
    /// The defaults above.
    pub fn seed_default() -> SignalModel {
        SignalModel {
            unwanted_sip: SignalRates { healthy: 0.002, labelled: 0.20 },
            quick_end: SignalRates { healthy: 0.06, labelled: 0.50 },
            short_answer: SignalRates { healthy: 0.10, labelled: 0.30 },
            shown_as_spam: SignalRates { healthy: 0.002, labelled: 0.15 },
            quick_ring_ms: 2_000,
        }
    }

    /// Refuses rates outside (0, 1) and 607/608 and quick ends that together leave no
    /// room for a call that simply rang out.
    pub fn validate(&self) -> Result<(), InvalidField> {
        self.unwanted_sip.check("unwanted_sip")?;
        self.quick_end.check("quick_end")?;
        self.short_answer.check("short_answer")?;
        self.shown_as_spam.check("shown_as_spam")?;
        for h in [Hypothesis::Healthy, Hypothesis::Labelled] {
            if self.unwanted_sip.of(h) + self.quick_end.of(h) >= 1.0 {
                return Err(InvalidField::new("quick_end", "with unwanted_sip it must leave room for other endings"));
            }
        }
        if self.quick_ring_ms == 0 || self.quick_ring_ms > 30_000 {
            return Err(InvalidField::new("quick_ring_ms", "must be between 1 and 30000"));
        }
        Ok(())
    }

    /// The same model with every signal's labelled rate moved `fraction` of the way
    /// back to its healthy rate (0 keeps it, 1 makes the signal useless): a label whose
    /// effects are weaker than the detector assumes.
    pub fn weakened(&self, fraction: f64) -> SignalModel {
        let f = fraction.clamp(0.0, 1.0);
        let w =
            |r: SignalRates| SignalRates { healthy: r.healthy, labelled: r.labelled + f * (r.healthy - r.labelled) };
        SignalModel {
            unwanted_sip: w(self.unwanted_sip),
            quick_end: w(self.quick_end),
            short_answer: w(self.short_answer),
            shown_as_spam: w(self.shown_as_spam),
            quick_ring_ms: self.quick_ring_ms,
        }
    }
}

/// Which fields the dialer reports with its outcomes; a threshold is calibrated for
/// one such profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reporting {
    /// Ring time.
    pub ring_time: bool,
    /// The final SIP code.
    pub sip_code: bool,
    /// The talk time of answered calls.
    pub duration: bool,
    /// Agents' shown-as-spam notes.
    pub agent_notes: bool,
}

impl Reporting {
    /// Answered or not, nothing more.
    pub const OUTCOME_ONLY: Reporting =
        Reporting { ring_time: false, sip_code: false, duration: false, agent_notes: false };
    /// Every field.
    pub const ALL: Reporting = Reporting { ring_time: true, sip_code: true, duration: true, agent_notes: true };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hypothesis {
    Healthy,
    Labelled,
}

/// A call's log-likelihood ratio, split by the signal it came from.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Contributions {
    /// From answered or not.
    pub answer: f64,
    /// From how an unanswered call ended (607/608, ring time).
    pub rejection: f64,
    /// From the talk time of an answered call.
    pub duration: f64,
    /// From an agent's note.
    pub agent: f64,
}

impl Contributions {
    /// Their sum: the call's increment.
    pub fn total(&self) -> f64 {
        self.answer + self.rejection + self.duration + self.agent
    }

    fn add(&mut self, other: &Contributions) {
        self.answer += other.answer;
        self.rejection += other.rejection;
        self.duration += other.duration;
        self.agent += other.agent;
    }
}

/// The answered-or-not part of a call's log-likelihood ratio (Steiner et al. 2000):
/// `X·ln R − ln(1 − p0 + R·p0)`.
fn answer_llr(p0: f64, odds_ratio: f64, answered: bool) -> f64 {
    let p1 = fallen_rate(p0, odds_ratio);
    if answered { (p1 / p0).ln() } else { ((1.0 - p1) / (1.0 - p0)).ln() }
}

/// The log-likelihood ratio, labelled against healthy, of one call expected to answer
/// at `p0`, split by signal; `None` for a call that says nothing (the network failed).
/// A field the signal lacks adds nothing: its alternatives are summed out.
pub fn call_llr(model: &SignalModel, odds_ratio: f64, signal: &CallSignal, p0: f64) -> Option<Contributions> {
    if !signal.counts() {
        return None;
    }
    // A certain answer (or miss) has no fall to measure: keep the logarithms finite.
    let p0 = if p0.is_nan() { 0.5 } else { p0.clamp(RATE_MIN, RATE_MAX) };
    let ln = |a: f64, b: f64| (a / b).ln();
    let mut c = Contributions { answer: answer_llr(p0, odds_ratio, signal.answered()), ..Contributions::default() };
    if signal.answered() {
        if let Some(secs) = signal.duration_secs {
            let s = model.short_answer;
            c.duration =
                if secs < SHORT_CALL_SECS { ln(s.labelled, s.healthy) } else { ln(1.0 - s.labelled, 1.0 - s.healthy) };
        }
        if let Some(shown) = signal.shown_as_spam {
            let a = model.shown_as_spam;
            c.agent = if shown { ln(a.labelled, a.healthy) } else { ln(1.0 - a.labelled, 1.0 - a.healthy) };
        }
        return Some(c);
    }
    let (u, q) = (model.unwanted_sip, model.quick_end);
    let other = |h: Hypothesis| 1.0 - u.of(h) - q.of(h);
    let quick = signal.ring_ms.map(|ms| ms < model.quick_ring_ms);
    c.rejection = match (signal.sip_code, quick) {
        (Some(code), _) if code.is_unwanted() => ln(u.labelled, u.healthy),
        (Some(_), Some(true)) => ln(q.labelled, q.healthy),
        (Some(_), Some(false)) | (None, Some(false)) => ln(other(Hypothesis::Labelled), other(Hypothesis::Healthy)),
        (Some(_), None) => ln(1.0 - u.labelled, 1.0 - u.healthy),
        // A 607/608 is assumed to end the call within the quick ring.
        (None, Some(true)) => ln(u.labelled + q.labelled, u.healthy + q.healthy),
        (None, None) => 0.0,
    };
    Some(c)
}

/// Every way a call can show under `reporting`, as a representative signal with its
/// probability given `p0` under each hypothesis.
fn classes(model: &SignalModel, reporting: Reporting, p0: f64, p1: f64) -> Vec<(f64, f64, CallSignal)> {
    use crate::call::Outcome;
    let at = Timestamp::UNIX_EPOCH;
    let mut out = Vec::new();
    // Answered.
    let durations: Vec<(f64, f64, Option<u32>)> = if reporting.duration {
        let s = model.short_answer;
        vec![(s.healthy, s.labelled, Some(0)), (1.0 - s.healthy, 1.0 - s.labelled, Some(SHORT_CALL_SECS))]
    } else {
        vec![(1.0, 1.0, None)]
    };
    let notes: Vec<(f64, f64, Option<bool>)> = if reporting.agent_notes {
        let a = model.shown_as_spam;
        vec![(a.healthy, a.labelled, Some(true)), (1.0 - a.healthy, 1.0 - a.labelled, Some(false))]
    } else {
        vec![(1.0, 1.0, None)]
    };
    for &(d0, d1, duration_secs) in &durations {
        for &(n0, n1, shown_as_spam) in &notes {
            let signal = CallSignal { duration_secs, shown_as_spam, ..CallSignal::new(at, Outcome::Answered) };
            out.push((p0 * d0 * n0, p1 * d1 * n1, signal));
        }
    }
    // Unanswered.
    let (u, q) = (model.unwanted_sip, model.quick_end);
    let rest = |h: Hypothesis| 1.0 - u.of(h) - q.of(h);
    let sip = |code: u16| SipCode::new(code).ok();
    let quick = Some(0);
    let slow = Some(model.quick_ring_ms);
    let endings: Vec<(f64, f64, Option<SipCode>, Option<u32>)> = match (reporting.sip_code, reporting.ring_time) {
        (true, true) => vec![
            (u.healthy, u.labelled, Some(SipCode::REJECTED), quick),
            (q.healthy, q.labelled, sip(486), quick),
            (rest(Hypothesis::Healthy), rest(Hypothesis::Labelled), sip(480), slow),
        ],
        (true, false) => vec![
            (u.healthy, u.labelled, Some(SipCode::REJECTED), None),
            (1.0 - u.healthy, 1.0 - u.labelled, sip(480), None),
        ],
        (false, true) => vec![
            (u.healthy + q.healthy, u.labelled + q.labelled, None, quick),
            (rest(Hypothesis::Healthy), rest(Hypothesis::Labelled), None, slow),
        ],
        (false, false) => vec![(1.0, 1.0, None, None)],
    };
    for (e0, e1, sip_code, ring_ms) in endings {
        let signal = CallSignal { sip_code, ring_ms, ..CallSignal::new(at, Outcome::NoAnswer) };
        out.push(((1.0 - p0) * e0, (1.0 - p1) * e1, signal));
    }
    out
}

/// The distribution of a call's increment over a mix of rates, under one hypothesis.
fn steps(
    model: &SignalModel,
    reporting: Reporting,
    mix: &[RateWeight],
    odds_ratio: f64,
    hypothesis: Hypothesis,
) -> Vec<Step> {
    let total: f64 = mix.iter().map(|w| w.weight.max(0.0)).sum();
    let mut out = Vec::new();
    for w in mix.iter().filter(|w| w.weight > 0.0 && total > 0.0) {
        let p1 = fallen_rate(w.p0, odds_ratio);
        for (prob0, prob1, signal) in classes(model, reporting, w.p0, p1) {
            let prob = match hypothesis {
                Hypothesis::Healthy => prob0,
                Hypothesis::Labelled => prob1,
            };
            if let Some(c) = call_llr(model, odds_ratio, &signal, w.p0) {
                out.push(Step { prob: prob * w.weight / total, llr: c.total() });
            }
        }
    }
    out
}

fn answer_steps(mix: &[RateWeight], odds_ratio: f64, hypothesis: Hypothesis) -> Vec<Step> {
    steps(&SignalModel::seed_default(), Reporting::OUTCOME_ONLY, mix, odds_ratio, hypothesis)
}

/// The increment's distribution on a healthy number, over `mix`, for `reporting`.
pub fn healthy_steps(model: &SignalModel, reporting: Reporting, mix: &[RateWeight], fall: AnswerFall) -> Vec<Step> {
    steps(model, reporting, mix, fall.odds_ratio(), Hypothesis::Healthy)
}

/// The same once the number is labelled (its rates fallen by the fall's odds ratio).
pub fn labelled_steps(model: &SignalModel, reporting: Reporting, mix: &[RateWeight], fall: AnswerFall) -> Vec<Step> {
    steps(model, reporting, mix, fall.odds_ratio(), Hypothesis::Labelled)
}

// ---------------------------------------------------------------------------------
// Configuration and design
// ---------------------------------------------------------------------------------

named_enum!(
    /// What a number's alarm leads to, per pool configuration.
    AlarmAction, "action", {
        /// Take the number out of service.
        Quarantine = "quarantine",
        /// Alert the operators and keep the number in service.
        AlertOnly = "alert_only",
    }
);

named_enum!(
    /// The signal that carried most of the evidence behind an alarm.
    AlarmSignal, "signal", {
        /// The answer rate fell.
        AnswerRate = "answer_rate",
        /// Calls were refused: 607/608 or ended within a ring.
        Rejections = "rejections",
        /// Answered calls ended within seconds.
        ShortCalls = "short_calls",
        /// Agents noted calls shown as spam.
        SpamNotes = "spam_notes",
    }
);

/// How a pool's numbers and the pool itself are watched.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MonitorConfig {
    /// Numbers in the pool.
    pub numbers: u32,
    /// Calls each number makes on a calling day.
    pub calls_per_number_per_day: f64,
    /// Calling days in a month (30: every day; 21.7 for weekdays only).
    pub days_per_month: f64,
    /// Tolerated false quarantines (number alarms on healthy numbers) per pool per month.
    pub false_quarantines_per_month: f64,
    /// Tolerated false pool alerts per pool per month.
    pub false_pool_alerts_per_month: f64,
    /// The fall a number's chart is designed for.
    pub number_fall: AnswerFall,
    /// The fall the pool's chart is designed for (the whole pool answering less).
    pub pool_fall: AnswerFall,
    /// What a label does to the other signals.
    pub model: SignalModel,
    /// What the dialer reports.
    pub reporting: Reporting,
    /// What a number's alarm leads to.
    pub on_number_alarm: AlarmAction,
}

impl MonitorConfig {
    /// The seed centre: 40 numbers a pool, 55 calls a number a day, every day of a
    /// 30-day month, one false quarantine and one false pool alert per pool per month;
    /// numbers designed for 0.6 → 0.15, the pool for 0.6 → 0.45; every field reported;
    /// quarantine on alarm.
    pub fn seed_default() -> MonitorConfig {
        MonitorConfig {
            numbers: 40,
            calls_per_number_per_day: 55.0,
            days_per_month: 30.0,
            false_quarantines_per_month: 1.0,
            false_pool_alerts_per_month: 1.0,
            number_fall: AnswerFall { p0: 0.6, p1: 0.15 },
            pool_fall: AnswerFall { p0: 0.6, p1: 0.45 },
            model: SignalModel::seed_default(),
            reporting: Reporting::ALL,
            on_number_alarm: AlarmAction::Quarantine,
        }
    }

    /// Refuses figures that make no sense.
    pub fn validate(&self) -> Result<(), InvalidField> {
        if self.numbers == 0 || self.numbers > 100_000 {
            return Err(InvalidField::new("numbers", "must be between 1 and 100000"));
        }
        let positive = |v: f64, field: &'static str, max: f64| {
            if v > 0.0 && v <= max { Ok(()) } else { Err(InvalidField::new(field, format!("must be in (0, {max}]"))) }
        };
        positive(self.calls_per_number_per_day, "calls_per_number_per_day", 10_000.0)?;
        positive(self.days_per_month, "days_per_month", 31.0)?;
        positive(self.false_quarantines_per_month, "false_quarantines_per_month", 1_000.0)?;
        positive(self.false_pool_alerts_per_month, "false_pool_alerts_per_month", 1_000.0)?;
        self.model.validate()
    }

    /// The pool's calls in a month.
    pub fn pool_calls_per_month(&self) -> f64 {
        f64::from(self.numbers) * self.calls_per_number_per_day * self.days_per_month
    }

    /// The in-control ARL of each number's chart, in that number's calls: with N
    /// charts each running c·D calls a month, N·c·D / ARL0 false alarms a month.
    pub fn number_arl0_calls(&self) -> f64 {
        self.pool_calls_per_month() / self.false_quarantines_per_month
    }

    /// The in-control ARL of the pool's chart, in the pool's calls.
    pub fn pool_arl0_calls(&self) -> f64 {
        self.pool_calls_per_month() / self.false_pool_alerts_per_month
    }
}

/// A number chart's design: the model it weighs calls with and its computed threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NumberDesign {
    /// The fall it is designed for.
    pub fall: AnswerFall,
    /// What a label does to the other signals.
    pub model: SignalModel,
    /// The reporting profile configured.
    pub reporting: Reporting,
    /// The threshold h: the larger of those calibrated for the configured reporting and
    /// for bare outcomes, so that the target holds whatever the dialer sends.
    pub threshold: f64,
    /// The in-control ARL it was calibrated to, in calls.
    pub arl0_calls: f64,
    /// What its alarm leads to.
    pub action: AlarmAction,
}

/// The pool chart's design.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoolDesign {
    /// The fall it is designed for.
    pub fall: AnswerFall,
    /// The threshold h.
    pub threshold: f64,
    /// The in-control ARL it was calibrated to, in the pool's calls.
    pub arl0_calls: f64,
}

/// The designs of one pool's charts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MonitorDesign {
    /// Each number's chart.
    pub number: NumberDesign,
    /// The pool's chart.
    pub pool: PoolDesign,
}

impl MonitorDesign {
    /// Computes both thresholds for `config`, over the mix of rates the pool's
    /// baseline gives (`Baseline::rate_mix`; empty for the design falls' p0). A number
    /// chart weighs every signal; the pool chart, meant for a pool-wide fall, weighs
    /// answered or not only. The number's threshold is the larger of those the
    /// configured reporting and bare outcomes need: false quarantines stay at or below
    /// the target even when the dialer leaves fields out.
    pub fn new(config: &MonitorConfig, mix: &[RateWeight]) -> Result<MonitorDesign, DesignError> {
        config.validate()?;
        let valid = |w: &RateWeight| (RATE_MIN..=RATE_MAX).contains(&w.p0) && w.weight.is_finite() && w.weight >= 0.0;
        if !mix.iter().all(valid) || (!mix.is_empty() && !mix.iter().any(|w| w.weight > 0.0)) {
            return Err(InvalidField::new(
                "rate_mix",
                format!("rates must lie in [{RATE_MIN}, {RATE_MAX}] with finite weights, one of them positive"),
            )
            .into());
        }
        let number_mix =
            if mix.is_empty() { vec![RateWeight { p0: config.number_fall.p0, weight: 1.0 }] } else { mix.to_vec() };
        let pool_mix =
            if mix.is_empty() { vec![RateWeight { p0: config.pool_fall.p0, weight: 1.0 }] } else { mix.to_vec() };
        let number_arl0 = config.number_arl0_calls();
        let number_steps = healthy_steps(&config.model, config.reporting, &number_mix, config.number_fall);
        let mut number_h = cusum_threshold(&number_steps, number_arl0)?;
        if config.reporting != Reporting::OUTCOME_ONLY {
            // A dialer that reports fewer fields than configured (on some calls or on
            // all) must not raise false quarantines above the target: bare outcomes
            // need a higher threshold (9.57 against 8.88 for the seed pool; at the
            // model's label effects it costs a fifth of a call of delay).
            let bare = healthy_steps(&config.model, Reporting::OUTCOME_ONLY, &number_mix, config.number_fall);
            number_h = number_h.max(cusum_threshold(&bare, number_arl0)?);
        }
        let pool_arl0 = config.pool_arl0_calls();
        let pool_steps = answer_steps(&pool_mix, config.pool_fall.odds_ratio(), Hypothesis::Healthy);
        let pool_h = cusum_threshold(&pool_steps, pool_arl0)?;
        Ok(MonitorDesign {
            number: NumberDesign {
                fall: config.number_fall,
                model: config.model,
                reporting: config.reporting,
                threshold: number_h,
                arl0_calls: number_arl0,
                action: config.on_number_alarm,
            },
            pool: PoolDesign { fall: config.pool_fall, threshold: pool_h, arl0_calls: pool_arl0 },
        })
    }
}

// ---------------------------------------------------------------------------------
// The charts
// ---------------------------------------------------------------------------------

/// What an alarm is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmSubject {
    /// One number.
    Number(NumberId),
    /// The pool as a whole.
    Pool,
}

/// The strong signals seen since the statistic last stood at zero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SignalCounts {
    /// Calls ending in 607 or 608.
    pub unwanted_sip: u32,
    /// Unanswered calls ending within the quick ring.
    pub quick_ends: u32,
    /// Answered calls under [`SHORT_CALL_SECS`].
    pub short_answers: u32,
    /// Answered calls noted as shown as spam.
    pub shown_as_spam: u32,
}

/// The evidence behind an alarm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evidence {
    /// The statistic when it crossed.
    pub statistic: f64,
    /// The threshold.
    pub threshold: f64,
    /// Calls observed since the chart started (or was last reset).
    pub calls_since_start: u64,
    /// Calls since the statistic last stood at zero: the run that raised the alarm.
    pub run_calls: u64,
    /// The first call of that run.
    pub run_started_at: Timestamp,
    /// Calls answered in the run.
    pub run_answered: u64,
    /// Calls the baseline expected answered in the run.
    pub run_expected_answered: f64,
    /// The baseline of the call that raised the alarm.
    pub baseline: BaselineRate,
    /// The strong signals of the run.
    pub signals: SignalCounts,
    /// The statistic's run split by signal (they sum to `statistic`).
    pub contributions: Contributions,
}

/// A detection.
#[derive(Debug, Clone, PartialEq)]
pub struct Alarm {
    /// A number, or the pool.
    pub subject: AlarmSubject,
    /// The pool.
    pub pool: PoolCode,
    /// The call that raised it.
    pub at: Timestamp,
    /// What carried most of the evidence.
    pub signal: AlarmSignal,
    /// The evidence.
    pub evidence: Evidence,
    /// The recommended action: the pool's configuration for a number, an alert for a pool.
    pub action: AlarmAction,
}

/// A CUSUM and the run that its statistic is in.
#[derive(Debug, Clone, Copy)]
struct Chart {
    threshold: f64,
    statistic: f64,
    calls: u64,
    run_calls: u64,
    run_started_at: Option<Timestamp>,
    run_answered: u64,
    run_expected: f64,
    run_signals: SignalCounts,
    run_contributions: Contributions,
}

impl Chart {
    fn new(threshold: f64) -> Chart {
        Chart {
            threshold,
            statistic: 0.0,
            calls: 0,
            run_calls: 0,
            run_started_at: None,
            run_answered: 0,
            run_expected: 0.0,
            run_signals: SignalCounts::default(),
            run_contributions: Contributions::default(),
        }
    }

    /// Adds one call; returns the evidence when the statistic crosses the threshold,
    /// and starts afresh.
    fn step(
        &mut self,
        signal: &CallSignal,
        c: &Contributions,
        seen: SignalCounts,
        expected: BaselineRate,
    ) -> Option<Evidence> {
        self.calls += 1;
        let next = self.statistic + c.total();
        if next <= 0.0 {
            let calls = self.calls;
            *self = Chart::new(self.threshold);
            self.calls = calls;
            return None;
        }
        if self.run_calls == 0 {
            self.run_started_at = Some(signal.at);
        }
        self.statistic = next;
        self.run_calls += 1;
        self.run_answered += u64::from(signal.answered());
        self.run_expected += expected.p0;
        self.run_signals.unwanted_sip += seen.unwanted_sip;
        self.run_signals.quick_ends += seen.quick_ends;
        self.run_signals.short_answers += seen.short_answers;
        self.run_signals.shown_as_spam += seen.shown_as_spam;
        self.run_contributions.add(c);
        if self.statistic < self.threshold {
            return None;
        }
        let evidence = Evidence {
            statistic: self.statistic,
            threshold: self.threshold,
            calls_since_start: self.calls,
            run_calls: self.run_calls,
            run_started_at: self.run_started_at.unwrap_or(signal.at),
            run_answered: self.run_answered,
            run_expected_answered: self.run_expected,
            baseline: expected,
            signals: self.run_signals,
            contributions: self.run_contributions,
        };
        *self = Chart::new(self.threshold);
        Some(evidence)
    }
}

fn seen(model: &SignalModel, signal: &CallSignal) -> SignalCounts {
    let unwanted = signal.sip_code.is_some_and(SipCode::is_unwanted);
    let answered = signal.answered();
    SignalCounts {
        unwanted_sip: u32::from(unwanted),
        quick_ends: u32::from(!answered && !unwanted && signal.ring_ms.is_some_and(|ms| ms < model.quick_ring_ms)),
        short_answers: u32::from(answered && signal.duration_secs.is_some_and(|s| s < SHORT_CALL_SECS)),
        shown_as_spam: u32::from(answered && signal.shown_as_spam == Some(true)),
    }
}

fn strongest(c: &Contributions) -> AlarmSignal {
    let mut best = (AlarmSignal::AnswerRate, c.answer);
    for (signal, value) in [
        (AlarmSignal::Rejections, c.rejection),
        (AlarmSignal::ShortCalls, c.duration),
        (AlarmSignal::SpamNotes, c.agent),
    ] {
        if value > best.1 {
            best = (signal, value);
        }
    }
    best.0
}

/// One number's chart over every signal its calls carry.
#[derive(Debug, Clone)]
pub struct NumberDetector {
    number: NumberId,
    pool: PoolCode,
    design: NumberDesign,
    chart: Chart,
}

impl NumberDetector {
    /// A chart at zero for `number` of `pool`.
    pub fn new(number: NumberId, pool: PoolCode, design: NumberDesign) -> NumberDetector {
        NumberDetector { number, pool, chart: Chart::new(design.threshold), design }
    }

    /// Adds one call, `expected` being its baseline (`Baseline::expected` with the
    /// number's level). Returns an alarm when the statistic crosses its threshold, and
    /// then starts again from zero.
    pub fn observe(&mut self, signal: &CallSignal, expected: BaselineRate) -> Option<Alarm> {
        let c = call_llr(&self.design.model, self.design.fall.odds_ratio(), signal, expected.p0)?;
        let evidence = self.chart.step(signal, &c, seen(&self.design.model, signal), expected)?;
        Some(Alarm {
            subject: AlarmSubject::Number(self.number),
            pool: self.pool.clone(),
            at: signal.at,
            signal: strongest(&evidence.contributions),
            evidence,
            action: self.design.action,
        })
    }

    /// The statistic now.
    pub fn statistic(&self) -> f64 {
        self.chart.statistic
    }

    /// Calls observed since the start or the last alarm or reset.
    pub fn calls(&self) -> u64 {
        self.chart.calls
    }

    /// Back to zero (a number returning to service after a clean check).
    pub fn reset(&mut self) {
        self.chart = Chart::new(self.design.threshold);
    }

    /// The design.
    pub fn design(&self) -> &NumberDesign {
        &self.design
    }
}

/// The pool's chart over all its calls, answered or not.
#[derive(Debug, Clone)]
pub struct PoolDetector {
    pool: PoolCode,
    design: PoolDesign,
    chart: Chart,
}

impl PoolDetector {
    /// A chart at zero for `pool`.
    pub fn new(pool: PoolCode, design: PoolDesign) -> PoolDetector {
        PoolDetector { pool, chart: Chart::new(design.threshold), design }
    }

    /// Adds one of the pool's calls, `expected` being the pool's baseline for it (level 1).
    pub fn observe(&mut self, signal: &CallSignal, expected: BaselineRate) -> Option<Alarm> {
        if !signal.counts() {
            return None;
        }
        let p0 = if expected.p0.is_nan() { 0.5 } else { expected.p0.clamp(RATE_MIN, RATE_MAX) };
        let answer = answer_llr(p0, self.design.fall.odds_ratio(), signal.answered());
        let c = Contributions { answer, ..Contributions::default() };
        let evidence = self.chart.step(signal, &c, SignalCounts::default(), expected)?;
        Some(Alarm {
            subject: AlarmSubject::Pool,
            pool: self.pool.clone(),
            at: signal.at,
            signal: AlarmSignal::AnswerRate,
            evidence,
            action: AlarmAction::AlertOnly,
        })
    }

    /// The statistic now.
    pub fn statistic(&self) -> f64 {
        self.chart.statistic
    }

    /// Back to zero.
    pub fn reset(&mut self) {
        self.chart = Chart::new(self.design.threshold);
    }
}

#[cfg(test)]
#[path = "detect_tests.rs"]
mod tests;
