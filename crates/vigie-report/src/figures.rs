//! The report's input, plain data computed by the store, and the derived figures.
//!
//! A [`Period`] is one ISO week ([`WEEK_DAYS`] days). The seed states some figures per
//! month and per year; they are scaled linearly from the week:
//!
//! - answer rate = `answered / calls`;
//! - spam report rate = `spam_reports / calls`, a fraction of calls, as the seed's
//!   "spam report rate" (0.8 % before, 0.08 % after) is a percentage of calls;
//! - numbers blacklisted per month = `numbers_quarantined × 30 / 7` (a 30-day month);
//!   a number Vigie quarantines on reports is what the seed calls blacklisted;
//! - incident detection time = the store's median, in minutes;
//! - number replacement cost per year = `replacement_cost_cents / 100 × 365 / 7`, in
//!   euros;
//! - SMS delivery rate = `sms_delivered / sms_sent`.
//!
//! A ratio over zero calls (or zero SMS) is `None`, shown as "—".

use jiff::Timestamp;
use jiff::civil::Date;

use crate::week::Week;

/// The days in a report's period: one ISO week.
pub const WEEK_DAYS: f64 = 7.0;
/// The days in the month that "per month" figures are scaled to.
pub const MONTH_DAYS: f64 = 30.0;
/// The days in the year that "per year" figures are scaled to.
pub const YEAR_DAYS: f64 = 365.0;

/// Everything one weekly report shows.
#[derive(Debug, Clone, PartialEq)]
pub struct WeeklyFigures {
    /// The week reported on; the previous period is the week before.
    pub week: Week,
    /// When the figures were computed (shown in Europe/Paris time).
    pub generated_at: Timestamp,
    /// The call centre's name, shown under the title.
    pub centre_name: String,
    /// The whole centre, all pools together.
    pub centre: Totals,
    /// Each pool, in the order to show them.
    pub pools: Vec<PoolWeek>,
}

/// The centre's totals for the week and the week before.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Totals {
    /// The week reported on.
    pub current: Period,
    /// The week before.
    pub previous: Period,
}

/// One pool's week.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolWeek {
    /// The pool's code or name, as the operations managers know it.
    pub pool: String,
    /// The week reported on.
    pub current: Period,
    /// The week before.
    pub previous: Period,
    /// The days of the week reported on; a day missing here is drawn as a gap.
    pub daily: Vec<Day>,
}

impl PoolWeek {
    /// The figures of `date`, if the store gave them.
    pub fn day(&self, date: Date) -> Option<&Day> {
        self.daily.iter().find(|day| day.date == date)
    }
}

/// One pool's day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Day {
    /// The local day (Europe/Paris).
    pub date: Date,
    /// Calls made.
    pub calls: u64,
    /// Calls answered.
    pub answered: u64,
    /// Spam reports received.
    pub spam_reports: u64,
    /// Numbers put in quarantine.
    pub quarantines: u32,
}

impl Day {
    /// `answered / calls`; `None` without calls.
    pub fn answer_rate(&self) -> Option<f64> {
        ratio(self.answered, self.calls)
    }
}

/// The counts of one week, for a pool or the centre.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Period {
    /// Calls made.
    pub calls: u64,
    /// Calls answered.
    pub answered: u64,
    /// Spam reports received (from patients, agents or external checks).
    pub spam_reports: u64,
    /// Numbers active at the end of the period.
    pub numbers_active: u32,
    /// Numbers put in quarantine during the period.
    pub numbers_quarantined: u32,
    /// Numbers retired during the period.
    pub numbers_retired: u32,
    /// Incidents detected during the period.
    pub incidents: u32,
    /// The median time from an incident's first signal to its detection; `None`
    /// without incidents.
    pub median_detection_minutes: Option<f64>,
    /// What replacing numbers cost during the period, in euro cents.
    pub replacement_cost_cents: u64,
    /// Pre-call SMS sent.
    pub sms_sent: u64,
    /// Pre-call SMS delivered (receipt received).
    pub sms_delivered: u64,
}

impl Period {
    /// `answered / calls`, a fraction; `None` without calls.
    pub fn answer_rate(&self) -> Option<f64> {
        ratio(self.answered, self.calls)
    }

    /// `spam_reports / calls`, a fraction of calls (the seed's percentage); `None`
    /// without calls.
    pub fn spam_report_rate(&self) -> Option<f64> {
        ratio(self.spam_reports, self.calls)
    }

    /// The week's quarantines scaled to a 30-day month: `quarantined × 30 / 7`.
    pub fn blacklisted_per_month(&self) -> f64 {
        f64::from(self.numbers_quarantined) * MONTH_DAYS / WEEK_DAYS
    }

    /// The week's replacement cost scaled to a year, in euros:
    /// `cents / 100 × 365 / 7`.
    pub fn replacement_cost_per_year_euros(&self) -> f64 {
        self.replacement_cost_cents as f64 / 100.0 * YEAR_DAYS / WEEK_DAYS
    }

    /// `sms_delivered / sms_sent`; `None` without SMS.
    pub fn sms_delivery_rate(&self) -> Option<f64> {
        ratio(self.sms_delivered, self.sms_sent)
    }
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Which way a figure should move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Up is good (answer rate).
    Higher,
    /// Down is good (reports, blacklisted numbers, detection time, cost).
    Lower,
}

/// A figure of the report, with its unit, its labels and which way is good.
///
/// The first five ([`Figure::KEY`]) are the seed's key figures; the others give them
/// context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Figure {
    /// Spam reports as a fraction of calls.
    SpamReportRate,
    /// Answered calls as a fraction of calls.
    AnswerRate,
    /// Quarantined numbers scaled to a 30-day month.
    BlacklistedPerMonth,
    /// The median incident detection time, in minutes.
    DetectionTime,
    /// Replacement cost scaled to a year, in euros.
    ReplacementCostPerYear,
    /// Calls made.
    Calls,
    /// Spam reports received.
    SpamReports,
    /// Numbers quarantined during the week.
    NumbersQuarantined,
    /// Numbers active at the end of the week.
    NumbersActive,
    /// Numbers retired during the week.
    NumbersRetired,
    /// Incidents detected.
    Incidents,
    /// Pre-call SMS sent.
    SmsSent,
    /// Delivered SMS as a fraction of those sent.
    SmsDeliveryRate,
}

impl Figure {
    /// The seed's key figures, in the seed's order.
    pub const KEY: [Figure; 5] = [
        Figure::SpamReportRate,
        Figure::AnswerRate,
        Figure::BlacklistedPerMonth,
        Figure::DetectionTime,
        Figure::ReplacementCostPerYear,
    ];

    /// Every figure: the key ones, then the context.
    pub const ALL: [Figure; 13] = [
        Figure::SpamReportRate,
        Figure::AnswerRate,
        Figure::BlacklistedPerMonth,
        Figure::DetectionTime,
        Figure::ReplacementCostPerYear,
        Figure::Calls,
        Figure::SpamReports,
        Figure::NumbersQuarantined,
        Figure::NumbersActive,
        Figure::NumbersRetired,
        Figure::Incidents,
        Figure::SmsSent,
        Figure::SmsDeliveryRate,
    ];

    /// The figure's value for `period`, in its unit (fractions for rates, minutes,
    /// euros, counts); `None` when it cannot be computed.
    pub fn value(self, period: &Period) -> Option<f64> {
        match self {
            Figure::SpamReportRate => period.spam_report_rate(),
            Figure::AnswerRate => period.answer_rate(),
            Figure::BlacklistedPerMonth => Some(period.blacklisted_per_month()),
            Figure::DetectionTime => period.median_detection_minutes.filter(|minutes| minutes.is_finite()),
            Figure::ReplacementCostPerYear => Some(period.replacement_cost_per_year_euros()),
            Figure::Calls => Some(period.calls as f64),
            Figure::SpamReports => Some(period.spam_reports as f64),
            Figure::NumbersQuarantined => Some(f64::from(period.numbers_quarantined)),
            Figure::NumbersActive => Some(f64::from(period.numbers_active)),
            Figure::NumbersRetired => Some(f64::from(period.numbers_retired)),
            Figure::Incidents => Some(f64::from(period.incidents)),
            Figure::SmsSent => Some(period.sms_sent as f64),
            Figure::SmsDeliveryRate => period.sms_delivery_rate(),
        }
    }

    /// Which way is good; `None` for volumes, which are neither.
    pub fn better(self) -> Option<Better> {
        match self {
            Figure::AnswerRate | Figure::SmsDeliveryRate => Some(Better::Higher),
            Figure::SpamReportRate
            | Figure::BlacklistedPerMonth
            | Figure::DetectionTime
            | Figure::ReplacementCostPerYear
            | Figure::SpamReports
            | Figure::NumbersQuarantined
            | Figure::Incidents => Some(Better::Lower),
            Figure::Calls | Figure::NumbersActive | Figure::NumbersRetired | Figure::SmsSent => None,
        }
    }

    /// The figure's stable name, the CSV column.
    pub fn code(self) -> &'static str {
        match self {
            Figure::SpamReportRate => "spam_report_rate",
            Figure::AnswerRate => "answer_rate",
            Figure::BlacklistedPerMonth => "blacklisted_per_month",
            Figure::DetectionTime => "detection_minutes",
            Figure::ReplacementCostPerYear => "replacement_cost_per_year_eur",
            Figure::Calls => "calls",
            Figure::SpamReports => "spam_reports",
            Figure::NumbersQuarantined => "numbers_quarantined",
            Figure::NumbersActive => "numbers_active",
            Figure::NumbersRetired => "numbers_retired",
            Figure::Incidents => "incidents",
            Figure::SmsSent => "sms_sent",
            Figure::SmsDeliveryRate => "sms_delivery_rate",
        }
    }
}
