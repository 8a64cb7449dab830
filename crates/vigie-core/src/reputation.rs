//! Caller-number reputation, its pure part: what one call outcome says about the number
//! ([`CallSignal`]), the answer rate each call is held to (the pool's rates by purpose
//! and local hour, smoothed, and the number's own level: [`Baseline`]), and the 0–100
//! score with the reasons behind it ([`reputation_score`]).
//!
//! The sequential detection that runs on these signals lives in `detect.rs`.

use std::collections::BTreeMap;
use std::fmt;

use jiff::{SignedDuration, Timestamp};

use crate::calendar::Calendar;
use crate::call::{Outcome, ReportSource};
use crate::catalog::{InvalidField, Purpose};
use crate::names::named_enum;

// ---------------------------------------------------------------------------------
// One call's signals
// ---------------------------------------------------------------------------------

/// A final SIP response code (100 to 699).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SipCode(u16);

impl SipCode {
    /// 607 Unwanted (RFC 8197): the called party marked the call as unwanted.
    pub const UNWANTED: SipCode = SipCode(607);
    /// 608 Rejected (RFC 8688): an intermediary (a network's analytics) refused the call.
    pub const REJECTED: SipCode = SipCode(608);

    /// A SIP response code, refused outside 100 to 699.
    pub fn new(code: u16) -> Result<SipCode, InvalidField> {
        if (100..=699).contains(&code) {
            Ok(SipCode(code))
        } else {
            Err(InvalidField::new("sip_code", "must be a SIP response code between 100 and 699"))
        }
    }

    /// The code.
    pub fn get(self) -> u16 {
        self.0
    }

    /// 607 or 608: the call was refused as unwanted, direct evidence of a label.
    pub fn is_unwanted(self) -> bool {
        self == SipCode::UNWANTED || self == SipCode::REJECTED
    }
}

impl fmt::Display for SipCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What one call's outcome says about the number that presented it. Only `at` and
/// `outcome` are always known; the rest is `None` when the dialer does not report it,
/// and a missing field is never read as evidence either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallSignal {
    /// When the call ended.
    pub at: Timestamp,
    /// How it ended (`Answered` is the only answer; a voicemail is not one).
    pub outcome: Outcome,
    /// How long it rang before it ended or was answered, in milliseconds.
    pub ring_ms: Option<u32>,
    /// The final SIP response.
    pub sip_code: Option<SipCode>,
    /// Talk time of an answered call, in seconds.
    pub duration_secs: Option<u32>,
    /// The agent's note that the patient saw the call shown as spam (answered calls).
    pub shown_as_spam: Option<bool>,
}

impl CallSignal {
    /// A call of which only the outcome is known.
    pub fn new(at: Timestamp, outcome: Outcome) -> CallSignal {
        CallSignal { at, outcome, ring_ms: None, sip_code: None, duration_secs: None, shown_as_spam: None }
    }

    /// Whether the patient picked up. A 607 or 608 means not, whatever the outcome says.
    pub fn answered(&self) -> bool {
        self.outcome == Outcome::Answered && !self.sip_code.is_some_and(SipCode::is_unwanted)
    }

    /// Whether the call says anything about the number: a call the network failed to
    /// connect (without a 607 or 608) never reached the patient's phone.
    pub fn counts(&self) -> bool {
        self.outcome != Outcome::Failed || self.sip_code.is_some_and(SipCode::is_unwanted)
    }

    /// The same call with only the outcome kept, as a dialer that reports nothing more
    /// would send it.
    pub fn outcome_only(&self) -> CallSignal {
        CallSignal::new(self.at, self.outcome)
    }
}

// ---------------------------------------------------------------------------------
// Baselines
// ---------------------------------------------------------------------------------

/// An hour of the local day, 0 to 23.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocalHour(u8);

impl LocalHour {
    /// An hour, refused above 23.
    pub fn new(hour: u8) -> Result<LocalHour, InvalidField> {
        if hour < 24 { Ok(LocalHour(hour)) } else { Err(InvalidField::new("hour", "must be between 0 and 23")) }
    }

    /// The local hour `at` falls in.
    pub fn of(calendar: &Calendar, at: Timestamp) -> LocalHour {
        // `hour()` of a civil time is always 0..=23.
        LocalHour(calendar.tz().to_datetime(at).hour().clamp(0, 23) as u8)
    }

    /// The hour.
    pub fn get(self) -> u8 {
        self.0
    }
}

/// Calls and how many of them were answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnswerCounts {
    calls: u64,
    answered: u64,
}

impl AnswerCounts {
    /// Counts, refused when more calls were answered than made.
    pub fn new(calls: u64, answered: u64) -> Result<AnswerCounts, InvalidField> {
        if answered <= calls {
            Ok(AnswerCounts { calls, answered })
        } else {
            Err(InvalidField::new("answered", "must not exceed the calls"))
        }
    }

    /// Adds one call.
    pub fn record(&mut self, answered: bool) {
        self.calls += 1;
        self.answered += u64::from(answered);
    }

    /// Adds other counts.
    pub fn merge(&mut self, other: AnswerCounts) {
        self.calls += other.calls;
        self.answered += other.answered;
    }

    /// Calls made.
    pub fn calls(&self) -> u64 {
        self.calls
    }

    /// Calls answered.
    pub fn answered(&self) -> u64 {
        self.answered
    }

    /// The answer rate, when there was a call.
    pub fn rate(&self) -> Option<f64> {
        (self.calls > 0).then(|| self.answered as f64 / self.calls as f64)
    }

    /// The Beta-binomial posterior mean under a Beta(m·prior, m·(1 − prior)) prior:
    /// thin data stays near `prior`, plenty of data speaks for itself.
    fn smoothed(&self, prior: f64, prior_calls: f64) -> f64 {
        (self.answered as f64 + prior_calls * prior) / (self.calls as f64 + prior_calls)
    }
}

/// One subject's answer history (a pool's, or a number's) by purpose and local hour.
/// The store fills it from the calls of a trailing window (30 days, say).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BaselineTable {
    cells: BTreeMap<(Purpose, LocalHour), AnswerCounts>,
}

impl BaselineTable {
    /// An empty table.
    pub fn new() -> BaselineTable {
        BaselineTable::default()
    }

    /// Adds one call.
    pub fn record(&mut self, purpose: &Purpose, hour: LocalHour, answered: bool) {
        self.cells.entry((purpose.clone(), hour)).or_default().record(answered);
    }

    /// Adds counts to a cell.
    pub fn add(&mut self, purpose: &Purpose, hour: LocalHour, counts: AnswerCounts) {
        self.cells.entry((purpose.clone(), hour)).or_default().merge(counts);
    }

    /// The counts of one cell.
    pub fn cell(&self, purpose: &Purpose, hour: LocalHour) -> AnswerCounts {
        self.cells.get(&(purpose.clone(), hour)).copied().unwrap_or_default()
    }

    /// All calls of one purpose.
    pub fn purpose_total(&self, purpose: &Purpose) -> AnswerCounts {
        let mut total = AnswerCounts::default();
        for ((p, _), counts) in &self.cells {
            if p == purpose {
                total.merge(*counts);
            }
        }
        total
    }

    /// All calls.
    pub fn total(&self) -> AnswerCounts {
        let mut total = AnswerCounts::default();
        for counts in self.cells.values() {
            total.merge(*counts);
        }
        total
    }
}

/// Why a baseline cannot be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BaselineError {
    /// Too little history to know what the pool's answer rate is.
    #[error("baseline: the pool has {calls} calls of history, at least {needed} are needed")]
    TooFewCalls {
        /// Calls in the history.
        calls: u64,
        /// Calls needed.
        needed: u64,
    },
    /// A pool that never had a call answered (or never one missed) has no rate to fall from.
    #[error("baseline: the pool's answer rate is {rate:.3}, a fall cannot be measured against it")]
    Degenerate {
        /// The pool's answer rate.
        rate: f64,
    },
    /// A setting out of range.
    #[error(transparent)]
    Invalid(#[from] InvalidField),
}

/// Where a call's expected answer rate came from, by the data that carried most weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaselineSource {
    /// The pool's calls of the same purpose in the same local hour.
    Cell,
    /// The pool's calls of the same purpose (the hour had too few).
    Purpose,
    /// The pool as a whole (the purpose had too few).
    Pool,
}

impl BaselineSource {
    /// The source's stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            BaselineSource::Cell => "purpose_hour",
            BaselineSource::Purpose => "purpose",
            BaselineSource::Pool => "pool",
        }
    }
}

/// The answer rate one call is expected to have.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BaselineRate {
    /// The expected probability that the call is answered, within `[RATE_MIN, RATE_MAX]`.
    pub p0: f64,
    /// Where it came from.
    pub source: BaselineSource,
    /// The number's level applied to the pool's rate (1 for a pool).
    pub level: f64,
}

/// A share of a pool's calls and their expected answer rate: what a detector's
/// threshold is calibrated over.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateWeight {
    /// The expected answer rate.
    pub p0: f64,
    /// The share of calls at that rate (any positive scale).
    pub weight: f64,
}

/// A number's answer level against its pool: its answered calls over those its pool's
/// rates predict for the same calls, shrunk towards 1 when its history is thin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NumberLevel(f64);

impl NumberLevel {
    /// The pool's own level, for a number without history.
    pub const POOL: NumberLevel = NumberLevel(1.0);

    /// The factor.
    pub fn get(self) -> f64 {
        self.0
    }
}

/// The lowest expected answer rate a baseline gives.
pub const RATE_MIN: f64 = 0.01;
/// The highest expected answer rate a baseline gives.
pub const RATE_MAX: f64 = 0.99;
/// Calls of pool history below which no baseline is given.
pub const BASELINE_CALLS_MIN: u64 = 200;

/// The answer rates a pool's calls are held to: each (purpose, local hour) cell of the
/// pool's history, smoothed towards the rest of its purpose, itself smoothed towards
/// the rest of the pool; a number's own level multiplies them. Smoothing is
/// Beta-binomial: a Beta prior centred on the parent rate, worth `prior_calls` calls.
/// An hour without history gets its purpose's rate, a purpose without history the
/// pool's.
#[derive(Debug, Clone)]
pub struct Baseline {
    calendar: Calendar,
    prior_calls: f64,
    pool_rate: f64,
    purposes: BTreeMap<Purpose, (f64, u64)>,
    cells: BTreeMap<(Purpose, LocalHour), (f64, u64)>,
}

impl Baseline {
    /// The baseline of a pool's history; `prior_calls` (1 to 10 000, 50 is a good
    /// start) is how many calls of its own a cell needs to outweigh its parent.
    pub fn new(calendar: Calendar, pool: &BaselineTable, prior_calls: u32) -> Result<Baseline, BaselineError> {
        if prior_calls == 0 || prior_calls > 10_000 {
            return Err(InvalidField::new("prior_calls", "must be between 1 and 10000").into());
        }
        let total = pool.total();
        if total.calls() < BASELINE_CALLS_MIN {
            return Err(BaselineError::TooFewCalls { calls: total.calls(), needed: BASELINE_CALLS_MIN });
        }
        let pool_rate = total.rate().unwrap_or(0.0);
        if !(RATE_MIN..=RATE_MAX).contains(&pool_rate) {
            return Err(BaselineError::Degenerate { rate: pool_rate });
        }
        let m = f64::from(prior_calls);
        let mut totals: BTreeMap<Purpose, AnswerCounts> = BTreeMap::new();
        for ((purpose, _), counts) in &pool.cells {
            totals.entry(purpose.clone()).or_default().merge(*counts);
        }
        // Each level is smoothed towards the rest of its parent, so that no call
        // counts twice: a purpose towards the pool's other purposes, a cell towards
        // its purpose's other hours (each of those smoothed in turn).
        let rest = |whole: AnswerCounts, part: AnswerCounts| AnswerCounts {
            calls: whole.calls - part.calls,
            answered: whole.answered - part.answered,
        };
        let mut parents: BTreeMap<Purpose, f64> = BTreeMap::new();
        let mut purposes: BTreeMap<Purpose, (f64, u64)> = BTreeMap::new();
        for (purpose, counts) in &totals {
            let parent = rest(total, *counts).smoothed(pool_rate, m);
            parents.insert(purpose.clone(), parent);
            purposes.insert(purpose.clone(), (counts.smoothed(parent, m), counts.calls()));
        }
        let cells = pool
            .cells
            .iter()
            .map(|((purpose, hour), counts)| {
                let whole = totals.get(purpose).copied().unwrap_or_default();
                let parent = parents.get(purpose).copied().unwrap_or(pool_rate);
                let cell_parent = rest(whole, *counts).smoothed(parent, m);
                ((purpose.clone(), *hour), (counts.smoothed(cell_parent, m), counts.calls()))
            })
            .collect();
        Ok(Baseline { calendar, prior_calls: m, pool_rate, purposes, cells })
    }

    /// The pool's answer rate over its whole history.
    pub fn pool_rate(&self) -> f64 {
        self.pool_rate
    }

    /// The calendar whose local hours the cells are kept in.
    pub fn calendar(&self) -> &Calendar {
        &self.calendar
    }

    /// The pool's expected rate for a call of `purpose` in local hour `hour`.
    fn pool_expected(&self, purpose: &Purpose, hour: LocalHour) -> (f64, BaselineSource) {
        let m = self.prior_calls as u64;
        if let Some(&(rate, calls)) = self.cells.get(&(purpose.clone(), hour)) {
            let source = if calls >= m {
                BaselineSource::Cell
            } else if self.purposes.get(purpose).is_some_and(|&(_, c)| c >= m) {
                BaselineSource::Purpose
            } else {
                BaselineSource::Pool
            };
            return (rate, source);
        }
        match self.purposes.get(purpose) {
            Some(&(rate, calls)) if calls >= m => (rate, BaselineSource::Purpose),
            Some(&(rate, _)) => (rate, BaselineSource::Pool),
            None => (self.pool_rate, BaselineSource::Pool),
        }
    }

    /// The expected answer rate of a call of `purpose` in local hour `hour` made from a
    /// number at `level` (use [`NumberLevel::POOL`] for the pool's own rate).
    pub fn expected(&self, purpose: &Purpose, hour: LocalHour, level: NumberLevel) -> BaselineRate {
        let (rate, source) = self.pool_expected(purpose, hour);
        BaselineRate { p0: (rate * level.0).clamp(RATE_MIN, RATE_MAX), source, level: level.0 }
    }

    /// The same for a call ending at `at`, its local hour read in the baseline's calendar.
    pub fn expected_at(&self, purpose: &Purpose, at: Timestamp, level: NumberLevel) -> BaselineRate {
        self.expected(purpose, LocalHour::of(&self.calendar, at), level)
    }

    /// A number's level from its own history: (answered + k) / (expected + k), where
    /// `expected` sums the pool's rates over the number's calls and k is the prior's
    /// weight in answers (`prior_calls` × the pool's rate). The Gamma–Poisson
    /// counterpart of the cells' Beta-binomial smoothing; kept within 0.25 to 4.
    pub fn number_level(&self, number: &BaselineTable) -> NumberLevel {
        let mut expected = 0.0;
        let mut answered = 0.0;
        for ((purpose, hour), counts) in &number.cells {
            let (rate, _) = self.pool_expected(purpose, *hour);
            expected += rate * counts.calls() as f64;
            answered += counts.answered() as f64;
        }
        let k = self.prior_calls * self.pool_rate;
        NumberLevel(((answered + k) / (expected + k)).clamp(0.25, 4.0))
    }

    /// The pool's cells as rates weighted by their calls, for calibrating a threshold
    /// over the mix of rates the detector will meet.
    pub fn rate_mix(&self) -> Vec<RateWeight> {
        let mix: Vec<RateWeight> =
            self.cells.values().map(|&(p0, calls)| RateWeight { p0, weight: calls as f64 }).collect();
        if mix.iter().any(|w| w.weight > 0.0) { mix } else { vec![RateWeight { p0: self.pool_rate, weight: 1.0 }] }
    }
}

// ---------------------------------------------------------------------------------
// The reputation score
// ---------------------------------------------------------------------------------

named_enum!(
    /// Why a number lost reputation points.
    ReasonCode, "reason", {
        /// Spam reports over the last 24 hours.
        Reports24h = "reports_24h",
        /// Spam reports between 24 hours and 7 days old.
        Reports7d = "reports_7d",
        /// Spam reports between 7 and 30 days old.
        Reports30d = "reports_30d",
        /// The number answers less than its pool.
        AnswerRateLow = "answer_rate_low",
        /// Many answered calls end within seconds.
        ShortCalls = "short_calls",
        /// A community reporting database lists the number.
        CommunityListed = "community_listed",
        /// A verification tool flags or scores the number badly.
        VerificationFlagged = "verification_flagged",
        /// The number made more calls a day than its pool's healthy volume.
        VolumeOverHealthy = "volume_over_healthy",
        /// The number's volume jumped against its previous days.
        VolumeSpike = "volume_spike",
    }
);

/// One reason behind a score: the points it took away and what was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// Which rule.
    pub code: ReasonCode,
    /// Points taken from 100.
    pub weight: u32,
    /// What was seen, in words.
    pub detail: String,
}

/// A number's reputation: 100 is spotless, 0 is burnt; the reasons add up to
/// `100 - score` unless the points ran past 100.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReputationScore {
    /// 0 to 100.
    pub score: u32,
    /// What took points away, heaviest first.
    pub reasons: Vec<Reason>,
}

/// A spam report against the number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportEvent {
    /// When it was received.
    pub at: Timestamp,
    /// Where it came from.
    pub source: ReportSource,
}

named_enum!(
    /// The kind of external source a reputation check comes from.
    ExternalKind, "kind", {
        /// A community reporting database (listed or not).
        CommunityDb = "community_db",
        /// A verification tool (a HUHU-like score, Hiya or Truecaller business APIs).
        VerificationTool = "verification_tool",
    }
);

/// The latest answer of one external source about the number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalCheck {
    /// The source's configured name.
    pub source: String,
    /// Its kind.
    pub kind: ExternalKind,
    /// Whether it lists or flags the number.
    pub listed: bool,
    /// Its risk score, 0 (clean) to 100 (spam), when it gives one.
    pub risk: Option<u8>,
}

/// What a number's score is worked out from.
#[derive(Debug, Clone, Copy)]
pub struct ScoreInputs<'a> {
    /// The moment the score is for.
    pub now: Timestamp,
    /// Its reports (any order; those older than 30 days or in the future are ignored).
    pub reports: &'a [ReportEvent],
    /// Its calls over the last 7 days.
    pub answers: AnswerCounts,
    /// Its pool's answer rate over the same days.
    pub pool_rate: f64,
    /// Its answered calls over the last 7 days whose duration is known.
    pub answered_with_duration: u64,
    /// Of those, how many lasted less than [`SHORT_CALL_SECS`].
    pub short_answered: u64,
    /// The external sources' latest answers.
    pub external: &'a [ExternalCheck],
    /// Its calls on each of its last completed local days, oldest first (up to 30).
    pub calls_per_day: &'a [u32],
    /// Its pool's healthy volume (`Policy::healthy_calls_per_day`).
    pub healthy_calls_per_day: u32,
}

/// An answered call shorter than this is "very short": the patient hung up at the
/// introduction (dynamics.md §1.3: sub-10-second connects count against a number).
pub const SHORT_CALL_SECS: u32 = 10;

/// The weights of the score, in points out of 100. Reports weigh most because they
/// are what the apps and carriers act on; the behaviour signals next; volume least,
/// because the engine already caps it.
pub mod score_weights {
    /// Points per report received in the last 24 hours (a carrier's or an app's counts 1.5).
    pub const REPORT_24H: f64 = 25.0;
    /// Most points reports of the last 24 hours take.
    pub const REPORT_24H_MAX: u32 = 50;
    /// Points per report 1 to 7 days old.
    pub const REPORT_7D: f64 = 10.0;
    /// Most points reports 1 to 7 days old take.
    pub const REPORT_7D_MAX: u32 = 30;
    /// Points per report 7 to 30 days old.
    pub const REPORT_30D: f64 = 3.0;
    /// Most points reports 7 to 30 days old take.
    pub const REPORT_30D_MAX: u32 = 15;
    /// Points per unit of relative answer-rate shortfall against the pool (0.5 short = 25).
    pub const ANSWER_SHORTFALL: f64 = 50.0;
    /// A shortfall below this (relative) is noise and costs nothing.
    pub const ANSWER_SHORTFALL_FREE: f64 = 0.10;
    /// Most points the answer rate takes.
    pub const ANSWER_MAX: u32 = 35;
    /// Calls of pseudo-history at the pool's rate that a number's answer rate is
    /// smoothed with, so that five unlucky calls do not cost points.
    pub const ANSWER_PRIOR_CALLS: f64 = 20.0;
    /// The share of very short answered calls of a healthy number (dynamics.md §6.1).
    pub const SHORT_SHARE_HEALTHY: f64 = 0.10;
    /// Slack above the healthy share before points are taken.
    pub const SHORT_SHARE_SLACK: f64 = 0.02;
    /// Points per unit of short-call share above healthy + slack (0.30 share = 18).
    pub const SHORT_SHARE: f64 = 100.0;
    /// Most points short calls take.
    pub const SHORT_MAX: u32 = 20;
    /// Answered calls of pseudo-history at the healthy share the share is smoothed with.
    pub const SHORT_PRIOR_CALLS: f64 = 20.0;
    /// Points for a listing in a community reporting database.
    pub const COMMUNITY_LISTED: u32 = 40;
    /// Points for a verification tool's flag.
    pub const VERIFICATION_FLAGGED: u32 = 30;
    /// Points per point of an external risk score (100 risk = 30).
    pub const EXTERNAL_RISK: f64 = 0.30;
    /// Most points the external sources take together.
    pub const EXTERNAL_MAX: u32 = 60;
    /// Points per unit of the busiest day's excess over the healthy volume (1.5× = 15).
    pub const VOLUME_EXCESS: f64 = 30.0;
    /// Most points the volume excess takes.
    pub const VOLUME_EXCESS_MAX: u32 = 15;
    /// Points for the latest day's volume at least doubling its previous days' mean
    /// (or rising from nothing) above half the healthy volume.
    pub const VOLUME_SPIKE: u32 = 10;
}

fn report_factor(source: ReportSource) -> f64 {
    match source {
        // The label is already displayed by the network or an app.
        ReportSource::Carrier | ReportSource::AppLabel => 1.5,
        ReportSource::Patient | ReportSource::Agent | ReportSource::CommunityDb | ReportSource::VerificationTool => 1.0,
    }
}

fn points(value: f64, max: u32) -> u32 {
    if value.is_finite() && value > 0.0 { (value.round() as u32).min(max) } else { 0 }
}

fn source_list(reports: &[&ReportEvent]) -> String {
    let mut counts: BTreeMap<&'static str, u32> = BTreeMap::new();
    for r in reports {
        *counts.entry(r.source.as_str()).or_default() += 1;
    }
    counts.iter().map(|(s, n)| format!("{n} {s}")).collect::<Vec<_>>().join(", ")
}

/// A number's reputation score and its reasons. Deterministic: the same inputs give the
/// same score, and every point taken is one of [`score_weights`]:
///
/// - reports: per report, 25 points in the last 24 h (cap 50), 10 between 1 and 7
///   days (cap 30), 3 between 7 and 30 days (cap 15), a carrier's or an app's × 1.5;
/// - answer rate: its 7-day rate smoothed with 20 calls at the pool's rate; a relative
///   shortfall d against the pool above 0.10 costs 50·d points (cap 35);
/// - very short calls: the share of answered calls under 10 s, smoothed with 20 calls
///   at 0.10; each point of share above 0.12 costs a point (cap 20);
/// - external sources: a community listing 40, a verification tool's flag 30, a risk
///   score r costs 0.3·r, the larger per source (all sources capped at 60);
/// - volume: the busiest of the last days at x times the healthy volume costs
///   30·(x − 1) (cap 15); a jump of the latest day to twice the mean before it (or
///   from nothing), above half the healthy volume, 10.
pub fn reputation_score(inputs: &ScoreInputs<'_>) -> ReputationScore {
    use score_weights as w;
    let mut reasons = Vec::new();
    let mut push = |code: ReasonCode, weight: u32, detail: String| {
        if weight > 0 {
            reasons.push(Reason { code, weight, detail });
        }
    };

    // Reports, by age.
    let day = SignedDuration::from_hours(24);
    let windows = [
        (ReasonCode::Reports24h, SignedDuration::ZERO, day, w::REPORT_24H, w::REPORT_24H_MAX, "in the last 24 hours"),
        (ReasonCode::Reports7d, day, day * 7, w::REPORT_7D, w::REPORT_7D_MAX, "between 1 and 7 days ago"),
        (ReasonCode::Reports30d, day * 7, day * 30, w::REPORT_30D, w::REPORT_30D_MAX, "between 7 and 30 days ago"),
    ];
    for (code, from, to, per, max, words) in windows {
        let inside: Vec<&ReportEvent> = inputs
            .reports
            .iter()
            .filter(|r| {
                let age = inputs.now.duration_since(r.at);
                age >= from && age < to
            })
            .collect();
        let weighted: f64 = inside.iter().map(|r| report_factor(r.source)).sum();
        push(code, points(per * weighted, max), format!("{} reports {words} ({})", inside.len(), source_list(&inside)));
    }

    // Answer rate against the pool.
    if inputs.answers.calls() > 0 && inputs.pool_rate > 0.0 && inputs.pool_rate <= 1.0 {
        let rate = inputs.answers.smoothed(inputs.pool_rate, w::ANSWER_PRIOR_CALLS);
        let shortfall = 1.0 - rate / inputs.pool_rate;
        if shortfall > w::ANSWER_SHORTFALL_FREE {
            push(
                ReasonCode::AnswerRateLow,
                points(w::ANSWER_SHORTFALL * shortfall, w::ANSWER_MAX),
                format!(
                    "answered {} of {} calls over 7 days ({:.0} % smoothed) against {:.0} % for its pool",
                    inputs.answers.answered(),
                    inputs.answers.calls(),
                    rate * 100.0,
                    inputs.pool_rate * 100.0
                ),
            );
        }
    }

    // Very short answered calls.
    if inputs.answered_with_duration > 0 {
        let short = inputs.short_answered.min(inputs.answered_with_duration) as f64;
        let share = (short + w::SHORT_PRIOR_CALLS * w::SHORT_SHARE_HEALTHY)
            / (inputs.answered_with_duration as f64 + w::SHORT_PRIOR_CALLS);
        let excess = share - w::SHORT_SHARE_HEALTHY - w::SHORT_SHARE_SLACK;
        push(
            ReasonCode::ShortCalls,
            points(w::SHORT_SHARE * excess, w::SHORT_MAX),
            format!(
                "{} of {} answered calls lasted under {SHORT_CALL_SECS} s ({:.0} % smoothed, healthy {:.0} %)",
                short,
                inputs.answered_with_duration,
                share * 100.0,
                w::SHORT_SHARE_HEALTHY * 100.0
            ),
        );
    }

    // External sources.
    let mut external_left = w::EXTERNAL_MAX;
    for check in inputs.external {
        let (code, listed_points, listed_words) = match check.kind {
            ExternalKind::CommunityDb => (ReasonCode::CommunityListed, w::COMMUNITY_LISTED, "lists the number"),
            ExternalKind::VerificationTool => {
                (ReasonCode::VerificationFlagged, w::VERIFICATION_FLAGGED, "flags the number")
            }
        };
        let risk_points = check.risk.map_or(0, |r| points(w::EXTERNAL_RISK * f64::from(r.min(100)), u32::MAX));
        let listed = if check.listed { listed_points } else { 0 };
        let taken = listed.max(risk_points).min(external_left);
        external_left -= taken;
        let mut detail = format!("{} ({})", check.source, check.kind);
        if check.listed {
            detail.push_str(&format!(" {listed_words}"));
        }
        if let Some(r) = check.risk {
            detail.push_str(&format!(" risk {}/100", r.min(100)));
        }
        push(code, taken, detail);
    }

    // Volume pattern.
    let days = &inputs.calls_per_day[inputs.calls_per_day.len().saturating_sub(30)..];
    let healthy = f64::from(inputs.healthy_calls_per_day.max(1));
    if let Some(&busiest) = days.iter().max() {
        let ratio = f64::from(busiest) / healthy;
        push(
            ReasonCode::VolumeOverHealthy,
            points(w::VOLUME_EXCESS * (ratio - 1.0), w::VOLUME_EXCESS_MAX),
            format!("{busiest} calls on its busiest day against a healthy {}", inputs.healthy_calls_per_day),
        );
    }
    if let Some((&latest, before)) = days.split_last()
        && !before.is_empty()
    {
        let mean = before.iter().map(|&c| f64::from(c)).sum::<f64>() / before.len() as f64;
        let spike = f64::from(latest) >= 2.0 * mean && f64::from(latest) > healthy / 2.0;
        if spike {
            push(
                ReasonCode::VolumeSpike,
                w::VOLUME_SPIKE,
                format!("{latest} calls on its latest day against {mean:.0} a day before"),
            );
        }
    }

    reasons.sort_by(|a, b| b.weight.cmp(&a.weight).then(a.code.cmp(&b.code)));
    let taken: u32 = reasons.iter().map(|r| r.weight).sum();
    ReputationScore { score: 100u32.saturating_sub(taken), reasons }
}

#[cfg(test)]
#[path = "reputation_tests.rs"]
mod tests;
