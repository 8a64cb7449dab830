//! The French calling rules a call must pass before it is dialled: solicitation
//! hours and holidays (D223-9), attempts per 30 days, the 60 days after a refusal,
//! Bloctel until the opt-in switch and consent after it, and care-call hours.
//!
//! [`check_call`] is one pure decision over plain data: the caller loads the
//! patient's attempts, refusal, Bloctel state and consent records, and passes the
//! instant the call would be dialled. A refusal names the rule with a stable code and,
//! where one exists, the first instant from which the call would pass every rule.

use std::fmt;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};

use crate::catalog::InvalidField;
use crate::holidays::HolidayCalendar;
use crate::hours::WeeklyHours;
use crate::names::named_enum;
use crate::territory::Territory;

named_enum!(
    /// What a call purpose is, for the canvassing rules. The centre sets the class of
    /// each purpose.
    PurposeClass, "class", {
        /// Care: reminders, results, coordination of care under way. Outside the
        /// canvassing rules (UNCONFIRMED: an inference, no text names a medical
        /// exemption); only the care hours apply.
        Care = "care",
        /// A satisfaction survey with no offer: outside the canvassing rules, under
        /// the care hours.
        SurveyPure = "survey_pure",
        /// A survey with any promotional content: solicitation.
        SurveyWithPromotion = "survey_with_promotion",
        /// Commercial prospecting: solicitation.
        Commercial = "commercial",
    }
);

impl PurposeClass {
    /// Whether calls of this class are telephone solicitation, under D223-9, Bloctel
    /// and the opt-in regime. A satisfaction survey with any promotional content is.
    pub fn is_solicitation(self) -> bool {
        matches!(self, PurposeClass::SurveyWithPromotion | PurposeClass::Commercial)
    }
}

named_enum!(
    /// A calling rule, by its stable code (the `rule` of the API's 409 answer).
    CallRule, "rule", {
        /// Solicitation only Monday to Friday, 10:00-13:00 and 14:00-20:00, in the
        /// patient's time zone (D223-9).
        SolicitationHours = "solicitation_hours",
        /// No call on a public holiday (D223-9 for solicitation; configurable for care).
        PublicHoliday = "public_holiday",
        /// Care calls only within the care hours of the purpose or facility.
        CareHours = "care_hours",
        /// At most 4 solicitation attempts per person and professional in 30 rolling
        /// days, answered or not (D223-9).
        AttemptsLimit = "attempts_limit",
        /// No solicitation for 60 days after the person refused during a call (D223-9).
        RefusalCooldown = "refusal_cooldown",
        /// The number is on the Bloctel opposition list (before the opt-in switch).
        BloctelListed = "bloctel_listed",
        /// The last Bloctel scrub is too old (before the opt-in switch; R223-6).
        BloctelScrubStale = "bloctel_scrub_stale",
        /// No consent for solicitation from this person for this professional (from
        /// the opt-in switch, new L223-1).
        ConsentMissing = "consent_missing",
        /// The person withdrew their consent.
        ConsentWithdrawn = "consent_withdrawn",
        /// The call's purpose is announced by SMS and no SMS can go in time (quiet hours,
        /// too close): the call would be unannounced. `next_allowed_at` is the earliest
        /// `dial_at` that can be announced.
        SmsAnnouncement = "sms_announcement",
        /// The patient replied STOP to the centre's SMS, and the purpose's calls stop
        /// with its SMS (satisfaction surveys).
        SmsStop = "sms_stop",
    }
);

/// A call the rules refuse: the rule, and the first instant from which the same call
/// would pass every rule, if one exists within the search horizon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleRefusal {
    /// The first rule the call breaks, in the order [`check_call`] documents.
    pub rule: CallRule,
    /// When the call would be allowed: `None` for a refusal that time alone does not
    /// lift (Bloctel listing, stale scrub, missing or withdrawn consent), or when no
    /// allowed instant lies within [`ComplianceRules::search_days`].
    pub next_allowed_at: Option<Timestamp>,
}

impl fmt::Display for RuleRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.next_allowed_at {
            Some(at) => write!(f, "rule {} refuses the call; next allowed at {at}", self.rule),
            None => write!(f, "rule {} refuses the call", self.rule),
        }
    }
}

impl std::error::Error for RuleRefusal {}

/// The person's state on the Bloctel opposition list, for the professional calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BloctelState {
    /// Whether the number was found on the list by the last scrub.
    pub listed: bool,
    /// The date of the last scrub file covering this number (a Europe/Paris date);
    /// `None` if the number was never scrubbed.
    pub last_scrub: Option<Date>,
}

/// A consent to telephone solicitation, given by the person to the professional
/// calling (the store keeps the wording, the channel and the proof).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsentRecord {
    /// When the consent was given.
    pub given_at: Timestamp,
    /// When it was withdrawn, if it was.
    pub withdrawn_at: Option<Timestamp>,
}

impl ConsentRecord {
    /// Whether the consent covers a call at `at`: given before, not withdrawn by then.
    pub fn valid_at(&self, at: Timestamp) -> bool {
        self.given_at < at && self.withdrawn_at.is_none_or(|w| w > at)
    }
}

/// Everything the rules need to know about one call.
#[derive(Debug, Clone, Copy)]
pub struct CallContext<'a> {
    /// The class of the call's purpose.
    pub class: PurposeClass,
    /// When the call would be dialled.
    pub dial_at: Timestamp,
    /// Where the patient is: the time zone hours are read in and the local holidays
    /// ([`Territory::of`] the patient's number).
    pub territory: Territory,
    /// Previous attempts to this person by this professional (all its facilities and
    /// subcontractors), answered or not; only those in the window before `dial_at`
    /// count, and later ones are ignored.
    pub attempts: &'a [Timestamp],
    /// When the person last refused solicitation during a call by this professional.
    pub last_refusal: Option<Timestamp>,
    /// The person's Bloctel state (used before the opt-in switch).
    pub bloctel: BloctelState,
    /// The person's consent records for this professional (used from the switch).
    pub consents: &'a [ConsentRecord],
    /// The care hours of the purpose or facility, if they differ from
    /// [`ComplianceRules::care_hours`].
    pub care_hours: Option<&'a WeeklyHours>,
}

/// The thresholds of the calling rules, with the law's values as defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplianceRules {
    /// When solicitation may start. Default: Monday to Friday 10:00-13:00 and
    /// 14:00-20:00 (D223-9). Whether a call started at 12:58 may run past 13:00 is
    /// UNCONFIRMED; the rule checks the start.
    pub solicitation_hours: WeeklyHours,
    /// When care calls (and pure surveys) may start, unless the purpose or facility
    /// sets its own. Default: Monday to Saturday 08:00-20:00.
    pub care_hours: WeeklyHours,
    /// Whether care calls (and pure surveys) also stop on public holidays. Default:
    /// true (no law requires it; a patient is less likely to expect a call that day).
    pub care_closed_on_holidays: bool,
    /// The holidays observed. Default: L3133-1, plus each overseas department's
    /// abolition day for its patients.
    pub holidays: HolidayCalendar,
    /// Most solicitation attempts to one person by one professional in the window.
    /// Default: 4 (D223-9); the 5th is refused.
    pub attempts_max: u32,
    /// The rolling window attempts are counted over, in days. Default: 30.
    pub attempts_window_days: u32,
    /// Days without solicitation after a refusal during a call. Default: 60, counted
    /// from the refusal's instant (same local time 60 days later).
    pub refusal_cooldown_days: u32,
    /// Oldest a Bloctel scrub may be, in days before the dial day. Default: 30 (a
    /// scrub 30 days old passes, 31 does not).
    pub bloctel_scrub_max_age_days: u32,
    /// From this instant, solicitation needs consent instead of a Bloctel scrub.
    /// Default: 2026-08-11 00:00 Europe/Paris (loi 2025-594 art. 13 III; the décret
    /// setting the details is UNCONFIRMED, hence configuration).
    pub consent_required_from: Timestamp,
    /// How far ahead, in days, the next allowed instant is searched. Default: 31.
    pub search_days: u32,
}

impl Default for ComplianceRules {
    fn default() -> ComplianceRules {
        ComplianceRules {
            solicitation_hours: WeeklyHours::solicitation_default(),
            care_hours: WeeklyHours::care_default(),
            care_closed_on_holidays: true,
            holidays: HolidayCalendar::default(),
            attempts_max: 4,
            attempts_window_days: 30,
            refusal_cooldown_days: 60,
            bloctel_scrub_max_age_days: 30,
            consent_required_from: opt_in_switch_default(),
            search_days: 31,
        }
    }
}

/// The default opt-in switch: 2026-08-11 00:00 Europe/Paris (22:00 UTC the day before).
fn opt_in_switch_default() -> Timestamp {
    match jiff::civil::date(2026, 8, 11).to_zoned_datetime(paris()) {
        Ok(z) => z.timestamp(),
        Err(e) => unreachable!("2026-08-11 has a start in Europe/Paris: {e}"),
    }
}

fn paris() -> TimeZone {
    Territory::Metropolitan.time_zone()
}

impl ComplianceRules {
    /// Checks that the figures make sense.
    pub fn validate(&self) -> Result<(), InvalidField> {
        let in_range = |field: &'static str, value: u32, min: u32, max: u32| {
            if (min..=max).contains(&value) {
                Ok(())
            } else {
                Err(InvalidField::new(field, format!("must be between {min} and {max}")))
            }
        };
        in_range("attempts_max", self.attempts_max, 1, 100)?;
        in_range("attempts_window_days", self.attempts_window_days, 1, 366)?;
        in_range("refusal_cooldown_days", self.refusal_cooldown_days, 0, 3_660)?;
        in_range("bloctel_scrub_max_age_days", self.bloctel_scrub_max_age_days, 0, 366)?;
        in_range("search_days", self.search_days, 1, 366)?;
        self.holidays.validate()
    }

    /// Whether a solicitation call at `at` falls under the opt-in (consent) regime
    /// rather than the Bloctel one.
    pub fn consent_regime_at(&self, at: Timestamp) -> bool {
        at >= self.consent_required_from
    }
}

/// Most times [`check_call`] moves a refused call forward looking for an instant
/// that passes every rule.
const RESCHEDULE_STEPS_MAX: usize = 32;

/// Decides whether a call may be dialled at `ctx.dial_at`.
///
/// Care calls and pure surveys check only the care hours and, if the rules say so,
/// public holidays. Solicitation checks, in this order, and names the first rule
/// broken: the Bloctel listing and scrub age (calls before
/// [`ComplianceRules::consent_required_from`]) or consent (calls from it), the
/// refusal cooldown, the attempts limit, public holidays, then the hours.
///
/// The refusal's `next_allowed_at` is the first instant from which the call passes
/// every rule, found by moving the call to the instant its first broken rule stops
/// applying and checking again; it may be later than that rule alone suggests (the
/// end of a cooldown falling on a Saturday gives the next Monday 10:00).
pub fn check_call(ctx: &CallContext<'_>, rules: &ComplianceRules) -> Result<(), RuleRefusal> {
    let tz = ctx.territory.time_zone();
    let Some((rule, mut next)) = first_broken(ctx, rules, &tz, ctx.dial_at) else {
        return Ok(());
    };
    let mut next_allowed_at = None;
    for _ in 0..RESCHEDULE_STEPS_MAX {
        let Some(at) = next else { break };
        match first_broken(ctx, rules, &tz, at) {
            None => {
                next_allowed_at = Some(at);
                break;
            }
            // Each rule's own end lies after the instant it was checked at, so this
            // moves forward; the guard keeps a bug from looping.
            Some((_, later)) => next = later.filter(|&l| l > at),
        }
    }
    Err(RuleRefusal { rule, next_allowed_at })
}

/// The first rule a call at `at` breaks, with the instant that rule alone stops
/// refusing it.
fn first_broken(
    ctx: &CallContext<'_>,
    rules: &ComplianceRules,
    tz: &TimeZone,
    at: Timestamp,
) -> Option<(CallRule, Option<Timestamp>)> {
    if !ctx.class.is_solicitation() {
        let hours = ctx.care_hours.unwrap_or(&rules.care_hours);
        let closed_on_holidays = rules.care_closed_on_holidays;
        return hours_rule(hours, CallRule::CareHours, closed_on_holidays, ctx, rules, tz, at);
    }
    if rules.consent_regime_at(at) {
        if !ctx.consents.iter().any(|c| c.valid_at(at)) {
            let withdrawn = ctx.consents.iter().any(|c| c.given_at < at && c.withdrawn_at.is_some_and(|w| w <= at));
            let rule = if withdrawn { CallRule::ConsentWithdrawn } else { CallRule::ConsentMissing };
            return Some((rule, None));
        }
    } else {
        if ctx.bloctel.listed {
            return Some((CallRule::BloctelListed, None));
        }
        let dial_day = paris().to_datetime(at).date();
        let fresh = ctx.bloctel.last_scrub.is_some_and(|scrub| {
            scrub.until(dial_day).is_ok_and(|age| age.get_days() <= span_days(rules.bloctel_scrub_max_age_days))
        });
        if !fresh {
            return Some((CallRule::BloctelScrubStale, None));
        }
    }
    if let Some(refusal) = ctx.last_refusal {
        let until = plus_days(refusal, rules.refusal_cooldown_days, tz);
        if at < until {
            return Some((CallRule::RefusalCooldown, Some(until)));
        }
    }
    // Attempts still in the window at `at`: made at or before it, and less than the
    // window old. The call is refused if it would be attempt max + 1.
    let mut in_window: Vec<Timestamp> = ctx
        .attempts
        .iter()
        .copied()
        .filter(|&a| a <= at && plus_days(a, rules.attempts_window_days, tz) > at)
        .collect();
    let max = usize::try_from(rules.attempts_max).unwrap_or(usize::MAX);
    if in_window.len() >= max {
        in_window.sort();
        // Once the oldest (len - max + 1) attempts leave the window, this call is
        // attempt max at most.
        let freeing = in_window[in_window.len() - max];
        return Some((CallRule::AttemptsLimit, Some(plus_days(freeing, rules.attempts_window_days, tz))));
    }
    hours_rule(&rules.solicitation_hours, CallRule::SolicitationHours, true, ctx, rules, tz, at)
}

/// The first attempt planned after `ctx.dial_at` that this call would make one attempt
/// too many in its own window, if any.
///
/// [`check_call`] counts the attempts before the call's dial time only, so a call
/// planned before calls already planned must also be checked against theirs: four
/// attempts planned for the coming days leave no room for a fifth today, even though
/// none of them comes before it. Only solicitation calls are concerned; `ctx.attempts`
/// should then hold the attempts planned after the call as well.
pub fn later_attempt_over_limit(ctx: &CallContext<'_>, rules: &ComplianceRules) -> Option<Timestamp> {
    if !ctx.class.is_solicitation() {
        return None;
    }
    let tz = ctx.territory.time_zone();
    let at = ctx.dial_at;
    let max = usize::try_from(rules.attempts_max).unwrap_or(usize::MAX);
    let in_window_of =
        |later: Timestamp, a: Timestamp| a <= later && plus_days(a, rules.attempts_window_days, &tz) > later;
    let mut later: Vec<(usize, Timestamp)> =
        ctx.attempts.iter().copied().enumerate().filter(|&(_, l)| l > at && in_window_of(l, at)).collect();
    later.sort_by_key(|&(_, l)| l);
    later.into_iter().find_map(|(i, l)| {
        // The attempts before `l` in its window, other than `l` itself, and this call.
        let before = ctx.attempts.iter().enumerate().filter(|&(j, &a)| j != i && in_window_of(l, a)).count() + 1;
        // `l` would be attempt `before + 1`.
        (before >= max).then_some(l)
    })
}

/// The holiday and hours check shared by solicitation and care.
fn hours_rule(
    hours: &WeeklyHours,
    hours_rule: CallRule,
    closed_on_holidays: bool,
    ctx: &CallContext<'_>,
    rules: &ComplianceRules,
    tz: &TimeZone,
    at: Timestamp,
) -> Option<(CallRule, Option<Timestamp>)> {
    let closed = |day: Date| closed_on_holidays && rules.holidays.holiday(day, ctx.territory).is_some();
    let local = tz.to_datetime(at);
    let rule = if closed(local.date()) {
        CallRule::PublicHoliday
    } else if !hours.allows(local) {
        hours_rule
    } else {
        return None;
    };
    Some((rule, hours.next_allowed(at, tz, closed, rules.search_days)))
}

fn span_days(days: u32) -> i32 {
    i32::try_from(days).unwrap_or(i32::MAX)
}

/// `at` plus `days` calendar days in `tz`: the same local time, whatever daylight
/// saving does in between (saturating at the end of time).
fn plus_days(at: Timestamp, days: u32, tz: &TimeZone) -> Timestamp {
    at.to_zoned_datetime(tz.clone())
        .checked_add(Span::new().days(i64::from(days)))
        .map_or(Timestamp::MAX, |z| z.timestamp())
}

#[cfg(test)]
#[path = "compliance_tests.rs"]
mod tests;
