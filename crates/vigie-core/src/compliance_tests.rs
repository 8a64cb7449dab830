//! Tests of the calling rules, as tables: each line is a call (its local dial time in
//! the patient's zone, its class and what differs from a compliant default) and the
//! decision rendered as text, `ok` or `rule -> next allowed instant`.
//!
//! Line syntax: `<local dial time> <class> [option…] => <decision>`, options being
//! - `zone=<territory>` (default `metropolitan`);
//! - `attempts=<when>,<when>…`: previous solicitation attempts;
//! - `refused=<when>`: the last refusal during a call;
//! - `listed`, `scrub=<day>|none`: Bloctel (default: not listed, scrubbed the day before);
//! - `consent=<when>|none`, `withdrawn=<when>`: one consent record (default: given 10 days before);
//! - `care-open-on-holidays`: care calls allowed on public holidays.
//!
//! A `<when>` is a local date-time (`2026-04-13T11:00`) or an offset from the dial time
//! in calendar days, hours and minutes (`-29d`, `-29d23h59m`, `+1h`); a `<day>` is a
//! date or an offset in days, read as a Europe/Paris date.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp, ZonedDateTime};

use super::*;
use crate::holidays::HolidayCalendar;
use crate::hours::WeeklyHours;
use crate::territory::Territory;

// ---------------------------------------------------------------------------------
// Fixture
// ---------------------------------------------------------------------------------

fn local(tz: &TimeZone, text: &str) -> ZonedDateTime {
    let dt: DateTime = text.parse().unwrap_or_else(|e| panic!("`{text}` is not a local date-time: {e}"));
    tz.to_ambiguous_zoned_datetime(dt).compatible().expect("in range")
}

/// An offset such as `-29d23h59m` or `+1h`, as a span of calendar days, hours, minutes.
fn offset(text: &str) -> Span {
    let (sign, rest) = match text.as_bytes().first() {
        Some(b'-') => (-1, &text[1..]),
        Some(b'+') => (1, &text[1..]),
        _ => panic!("`{text}`: an offset starts with + or -"),
    };
    let mut span = Span::new();
    let mut digits = String::new();
    for c in rest.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: i64 = sign * digits.parse::<i64>().unwrap_or_else(|_| panic!("`{text}`: digits expected"));
        digits.clear();
        span = match c {
            'd' => span.days(n),
            'h' => span.hours(n),
            'm' => span.minutes(n),
            _ => panic!("`{text}`: units are d, h and m"),
        };
    }
    assert!(digits.is_empty(), "`{text}`: a number needs a unit");
    span
}

fn when(dial: &ZonedDateTime, text: &str) -> Timestamp {
    if text.contains('T') {
        local(dial.time_zone(), text).timestamp()
    } else {
        dial.checked_add(offset(text)).expect("in range").timestamp()
    }
}

fn day(dial: &ZonedDateTime, text: &str) -> Date {
    if text.starts_with(['-', '+']) {
        let paris_day = dial.timestamp().to_zoned_datetime(Territory::Metropolitan.time_zone()).date();
        paris_day.checked_add(offset(text)).expect("in range")
    } else {
        text.parse().unwrap_or_else(|e| panic!("`{text}` is not a date: {e}"))
    }
}

fn render(tz: &TimeZone, decision: Result<(), RuleRefusal>) -> String {
    match decision {
        Ok(()) => "ok".to_owned(),
        Err(RuleRefusal { rule, next_allowed_at: None }) => format!("{rule} -> -"),
        Err(RuleRefusal { rule, next_allowed_at: Some(at) }) => {
            format!("{rule} -> {}", at.to_zoned_datetime(tz.clone()).strftime("%a %Y-%m-%d %H:%M%:z"))
        }
    }
}

/// Decides one fixture line (the part before `=>`) and renders the decision.
fn decide(input: &str) -> String {
    let mut words = input.split_whitespace();
    let dial_text = words.next().expect("a dial time");
    let class = PurposeClass::parse(words.next().expect("a class")).expect("class");
    let options: Vec<(&str, &str)> = words.map(|w| w.split_once('=').unwrap_or((w, ""))).collect();
    let territory = options
        .iter()
        .find(|(k, _)| *k == "zone")
        .map_or(Territory::Metropolitan, |(_, v)| Territory::parse(v).expect("territory"));
    let tz = territory.time_zone();
    let dial = local(&tz, dial_text);

    let mut rules = ComplianceRules::default();
    let mut attempts = Vec::new();
    let mut last_refusal = None;
    let mut bloctel = BloctelState { listed: false, last_scrub: Some(day(&dial, "-1d")) };
    let mut consent = Some(ConsentRecord { given_at: when(&dial, "-10d"), withdrawn_at: None });
    for (key, value) in &options {
        match *key {
            "zone" => {}
            "attempts" => attempts.extend(value.split(',').map(|w| when(&dial, w))),
            "refused" => last_refusal = Some(when(&dial, value)),
            "listed" => bloctel.listed = true,
            "scrub" if *value == "none" => bloctel.last_scrub = None,
            "scrub" => bloctel.last_scrub = Some(day(&dial, value)),
            "consent" if *value == "none" => consent = None,
            "consent" => consent = Some(ConsentRecord { given_at: when(&dial, value), withdrawn_at: None }),
            "withdrawn" => {
                let record = consent.as_mut().expect("withdrawn needs a consent");
                record.withdrawn_at = Some(when(&dial, value));
            }
            "care-open-on-holidays" => rules.care_closed_on_holidays = false,
            other => panic!("unknown option `{other}` in `{input}`"),
        }
    }
    let consents: Vec<ConsentRecord> = consent.into_iter().collect();
    let ctx = CallContext {
        class,
        dial_at: dial.timestamp(),
        territory,
        attempts: &attempts,
        last_refusal,
        bloctel,
        consents: &consents,
        care_hours: None,
    };
    render(&tz, check_call(&ctx, &rules))
}

/// Decides every line of a table and compares the whole rendered table with it, so a
/// failure shows each line's actual decision next to the expected one.
fn check(table: &str) {
    let mut expected = Vec::new();
    let mut actual = Vec::new();
    for line in table.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (input, _) = line.split_once("=>").unwrap_or_else(|| panic!("`{line}` has no =>"));
        let input = input.split_whitespace().collect::<Vec<_>>().join(" ");
        expected.push(line.split_whitespace().collect::<Vec<_>>().join(" "));
        actual.push(format!("{input} => {}", decide(&input)));
    }
    assert_eq!(format!("\n{}\n", actual.join("\n")), format!("\n{}\n", expected.join("\n")));
}

// ---------------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------------

#[test]
fn solicitation_hours_at_the_edges() {
    // Tuesday 2 June 2026, Bloctel regime, in Paris.
    check(
        "
        2026-06-02T09:59 commercial            => solicitation_hours -> Tue 2026-06-02 10:00+02:00
        2026-06-02T10:00 commercial            => ok
        2026-06-02T12:59 commercial            => ok
        2026-06-02T13:00 commercial            => solicitation_hours -> Tue 2026-06-02 14:00+02:00
        2026-06-02T13:59 commercial            => solicitation_hours -> Tue 2026-06-02 14:00+02:00
        2026-06-02T14:00 commercial            => ok
        2026-06-02T19:59 commercial            => ok
        2026-06-02T20:00 commercial            => solicitation_hours -> Wed 2026-06-03 10:00+02:00
        2026-06-02T13:00 survey_with_promotion => solicitation_hours -> Tue 2026-06-02 14:00+02:00
        2026-06-02T13:00 survey_pure           => ok
        2026-06-02T13:00 care                  => ok
        # Friday evening, Saturday, Sunday.
        2026-06-05T20:00 commercial            => solicitation_hours -> Mon 2026-06-08 10:00+02:00
        2026-06-06T11:00 commercial            => solicitation_hours -> Mon 2026-06-08 10:00+02:00
        2026-06-07T11:00 commercial            => solicitation_hours -> Mon 2026-06-08 10:00+02:00
        2026-06-06T11:00 survey_pure           => ok
        ",
    );
}

#[test]
fn care_hours_at_the_edges() {
    check(
        "
        2026-06-02T07:59 care => care_hours -> Tue 2026-06-02 08:00+02:00
        2026-06-02T08:00 care => ok
        2026-06-02T19:59 care => ok
        2026-06-02T20:00 care => care_hours -> Wed 2026-06-03 08:00+02:00
        2026-06-06T19:59 care => ok
        2026-06-06T20:00 care => care_hours -> Mon 2026-06-08 08:00+02:00
        2026-06-07T11:00 care => care_hours -> Mon 2026-06-08 08:00+02:00
        2026-06-07T11:00 survey_pure => care_hours -> Mon 2026-06-08 08:00+02:00
        # Care calls ignore the solicitation rules entirely.
        2026-06-02T11:00 care listed scrub=none consent=none attempts=-1d,-2d,-3d,-4d,-5d refused=-1d => ok
        ",
    );
}

#[test]
fn public_holidays() {
    // Easter 2026 is 5 April: Easter Monday 6 April, Ascension 14 May, Whit Monday 25 May.
    check(
        "
        2026-04-06T11:00 commercial => public_holiday -> Tue 2026-04-07 10:00+02:00
        2026-05-14T11:00 commercial => public_holiday -> Fri 2026-05-15 10:00+02:00
        2026-05-13T20:00 commercial => solicitation_hours -> Fri 2026-05-15 10:00+02:00
        2026-05-25T11:00 commercial => public_holiday -> Tue 2026-05-26 10:00+02:00
        2026-05-22T20:00 commercial => solicitation_hours -> Tue 2026-05-26 10:00+02:00
        2026-07-14T11:00 commercial => public_holiday -> Wed 2026-07-15 10:00+02:00
        2026-05-01T11:00 commercial => public_holiday -> Mon 2026-05-04 10:00+02:00
        # Good Friday and 26 December are Alsace-Moselle days, off by default.
        2026-04-03T11:00 commercial => ok
        # Care calls stop on holidays by default; the centre may allow them.
        2026-05-14T11:00 care => public_holiday -> Fri 2026-05-15 08:00+02:00
        2026-05-14T11:00 care care-open-on-holidays => ok
        2026-05-13T20:00 care care-open-on-holidays => care_hours -> Thu 2026-05-14 08:00+02:00
        2026-05-13T20:00 care => care_hours -> Fri 2026-05-15 08:00+02:00
        ",
    );
}

#[test]
fn daylight_saving_changes() {
    // Summer time starts on Sunday 29 March 2026 and ends on Sunday 25 October 2026.
    check(
        "
        2026-03-27T19:59 commercial => ok
        2026-03-27T20:00 commercial => solicitation_hours -> Mon 2026-03-30 10:00+02:00
        2026-03-29T02:30 commercial => solicitation_hours -> Mon 2026-03-30 10:00+02:00
        2026-03-28T20:00 care       => care_hours -> Mon 2026-03-30 08:00+02:00
        2026-10-23T20:00 commercial => solicitation_hours -> Mon 2026-10-26 10:00+01:00
        2026-10-25T02:30 commercial => solicitation_hours -> Mon 2026-10-26 10:00+01:00
        2026-10-24T20:00 care       => care_hours -> Mon 2026-10-26 08:00+01:00
        # The attempt window counts calendar days: 2 March 10:30 CET leaves it on 1 April 10:30 CEST.
        2026-04-01T10:29 commercial attempts=2026-03-02T10:30,-1d,-2d,-3d => attempts_limit -> Wed 2026-04-01 10:30+02:00
        2026-04-01T10:30 commercial attempts=2026-03-02T10:30,-1d,-2d,-3d => ok
        ",
    );
}

#[test]
fn a_call_planned_before_planned_attempts_counts_in_their_windows() {
    let tz = Territory::Metropolitan.time_zone();
    let at = |text: &str| local(&tz, text).timestamp();
    let rules = ComplianceRules::default();
    let verdict = |dial: &str, planned: &[&str], class: PurposeClass| {
        let attempts: Vec<Timestamp> = planned.iter().map(|p| at(p)).collect();
        let ctx = CallContext {
            class,
            dial_at: at(dial),
            territory: Territory::Metropolitan,
            attempts: &attempts,
            last_refusal: None,
            bloctel: BloctelState::default(),
            consents: &[],
            care_hours: None,
        };
        later_attempt_over_limit(&ctx, &rules).map(|t| t.to_zoned_datetime(tz.clone()).datetime().to_string())
    };
    let four = ["2026-06-17T11:00", "2026-06-18T11:00", "2026-06-19T11:00", "2026-06-22T11:00"];
    let commercial = PurposeClass::Commercial;
    // Four planned in the next days: a fifth before them makes the fourth one too many.
    assert_eq!(verdict("2026-06-16T11:00", &four, commercial).as_deref(), Some("2026-06-22T11:00:00"));
    assert_eq!(verdict("2026-06-16T11:00", &four[..3], commercial), None);
    assert_eq!(verdict("2026-06-16T11:00", &four, PurposeClass::SurveyPure), None);
    // A planned attempt 30 days later or more is in another window.
    let far = ["2026-06-17T11:00", "2026-06-18T11:00", "2026-06-19T11:00", "2026-07-16T11:00"];
    assert_eq!(verdict("2026-06-16T11:00", &far, commercial), None);
    let near = ["2026-06-17T11:00", "2026-06-18T11:00", "2026-06-19T11:00", "2026-07-16T10:59"];
    assert_eq!(verdict("2026-06-16T11:00", &near, commercial).as_deref(), Some("2026-07-16T10:59:00"));
    // Earlier attempts count in the later attempts' windows too.
    let mixed = ["2026-06-01T11:00", "2026-06-02T11:00", "2026-06-20T11:00", "2026-06-21T11:00"];
    assert_eq!(verdict("2026-06-16T11:00", &mixed, commercial).as_deref(), Some("2026-06-21T11:00:00"));
}

#[test]
fn attempts_per_thirty_days() {
    // Tuesday 16 June 2026, 11:00.
    check(
        "
        2026-06-16T11:00 commercial attempts=-1d,-2d,-3d => ok
        2026-06-16T11:00 commercial attempts=-1d,-2d,-3d,-7d => attempts_limit -> Thu 2026-07-09 11:00+02:00
        2026-06-16T11:00 survey_with_promotion attempts=-1d,-2d,-3d,-7d => attempts_limit -> Thu 2026-07-09 11:00+02:00
        2026-06-16T11:00 commercial attempts=-1d,-2d,-3d,-29d23h59m => attempts_limit -> Tue 2026-06-16 11:01+02:00
        2026-06-16T11:00 commercial attempts=-1d,-2d,-3d,-30d => ok
        # Five in the window: two must leave it, so the second oldest decides.
        2026-06-16T11:00 commercial attempts=-1d,-2d,-3d,-20d,-25d => attempts_limit -> Fri 2026-06-26 11:00+02:00
        # The oldest leaves the window on a Saturday evening: next Monday 10:00.
        2026-06-19T11:00 commercial attempts=2026-05-21T19:30,-1d,-2d,-3d => attempts_limit -> Mon 2026-06-22 10:00+02:00
        # Attempts after the dial time are not previous attempts.
        2026-06-16T11:00 commercial attempts=+1d,+2d,+3d,+4d => ok
        2026-06-16T11:00 survey_pure attempts=-1d,-2d,-3d,-4d,-5d => ok
        ",
    );
}

#[test]
fn sixty_days_after_a_refusal() {
    // Refused on Monday 13 April 2026 at 11:00: day 59 is Thursday 11 June, day 60 Friday 12 June.
    check(
        "
        2026-06-11T11:00 commercial refused=2026-04-13T11:00 => refusal_cooldown -> Fri 2026-06-12 11:00+02:00
        2026-06-12T10:59 commercial refused=2026-04-13T11:00 => refusal_cooldown -> Fri 2026-06-12 11:00+02:00
        2026-06-12T11:00 commercial refused=2026-04-13T11:00 => ok
        # Day 59 is a Friday, day 60 a Saturday: the call waits for Monday 10:00.
        2026-06-12T11:00 commercial refused=-59d => refusal_cooldown -> Mon 2026-06-15 10:00+02:00
        # A cooldown ending on a Saturday: the call waits for Monday 10:00; it ended across the DST change.
        2026-04-14T11:00 commercial refused=2026-03-03T11:00 => refusal_cooldown -> Mon 2026-05-04 10:00+02:00
        2026-06-12T11:00 survey_pure refused=-1d => ok
        ",
    );
}

#[test]
fn bloctel_until_the_switch_then_consent() {
    // The opt-in regime starts on 11 August 2026 at 00:00 Europe/Paris (a Tuesday).
    check(
        "
        2026-08-10T11:00 commercial consent=none => ok
        2026-08-11T11:00 commercial consent=none => consent_missing -> -
        2026-08-11T11:00 survey_with_promotion consent=none => consent_missing -> -
        2026-08-10T11:00 commercial listed => bloctel_listed -> -
        2026-08-11T11:00 commercial listed => ok
        2026-08-11T11:00 commercial scrub=none => ok
        2026-08-10T11:00 commercial scrub=none => bloctel_scrub_stale -> -
        # Refused for the hour on the 10th, the call would fall under consent the next day.
        2026-08-10T20:00 commercial consent=none => solicitation_hours -> -
        2026-08-10T20:00 commercial => solicitation_hours -> Tue 2026-08-11 10:00+02:00
        # Consent must be given before the call and not withdrawn by then.
        2026-08-12T11:00 commercial consent=-1m => ok
        2026-08-12T11:00 commercial consent=+1h => consent_missing -> -
        2026-08-12T11:00 commercial consent=-10d withdrawn=-1d => consent_withdrawn -> -
        2026-08-12T11:00 commercial consent=-10d withdrawn=+1d => ok
        2026-08-12T11:00 care consent=none => ok
        # The rules that do not depend on the regime still apply under consent.
        2026-08-12T13:00 commercial => solicitation_hours -> Wed 2026-08-12 14:00+02:00
        2026-08-12T11:00 commercial attempts=-1d,-2d,-5d,-8d => attempts_limit -> Thu 2026-09-03 11:00+02:00
        2026-08-15T11:00 commercial => public_holiday -> Mon 2026-08-17 10:00+02:00
        ",
    );
}

#[test]
fn bloctel_scrub_age() {
    // The scrub file's date against the Paris dial day: 30 days old passes, 31 does not.
    check(
        "
        2026-06-16T11:00 commercial scrub=2026-05-17 => ok
        2026-06-16T11:00 commercial scrub=-30d => ok
        2026-06-16T11:00 commercial scrub=2026-05-16 => bloctel_scrub_stale -> -
        2026-06-16T11:00 commercial scrub=-31d => bloctel_scrub_stale -> -
        2026-06-16T11:00 commercial scrub=+1d => ok
        2026-06-16T11:00 commercial scrub=none => bloctel_scrub_stale -> -
        2026-06-16T11:00 survey_pure scrub=none => ok
        # A listed number is named even when the call is also out of hours.
        2026-06-16T13:30 commercial listed => bloctel_listed -> -
        # A stale scrub does not become fresh by waiting.
        2026-06-16T20:00 commercial scrub=-30d => solicitation_hours -> -
        ",
    );
}

#[test]
fn overseas_patients_in_their_own_time() {
    check(
        "
        # Réunion is UTC+4 all year: 10:00 there is 08:00 in Paris in summer.
        2026-06-02T09:59 commercial zone=reunion => solicitation_hours -> Tue 2026-06-02 10:00+04:00
        2026-06-02T10:00 commercial zone=reunion => ok
        2026-06-02T19:59 commercial zone=reunion => ok
        2026-06-02T20:00 commercial zone=reunion => solicitation_hours -> Wed 2026-06-03 10:00+04:00
        2026-06-02T12:59 commercial zone=reunion => ok
        2026-06-02T13:00 commercial zone=reunion => solicitation_hours -> Tue 2026-06-02 14:00+04:00
        2026-06-02T07:59 care zone=reunion => care_hours -> Tue 2026-06-02 08:00+04:00
        # Abolition days are holidays in their department only.
        2027-12-20T11:00 commercial zone=reunion => public_holiday -> Tue 2027-12-21 10:00+04:00
        2027-12-20T11:00 commercial => ok
        2026-04-27T11:00 commercial zone=mayotte => public_holiday -> Tue 2026-04-28 10:00+03:00
        2026-05-27T11:00 commercial zone=guadeloupe => public_holiday -> Thu 2026-05-28 10:00-04:00
        2026-05-22T11:00 commercial zone=martinique => public_holiday -> Tue 2026-05-26 10:00-04:00
        2026-06-10T11:00 commercial zone=guyane => public_holiday -> Thu 2026-06-11 10:00-03:00
        # Whit Monday is a national holiday overseas too.
        2026-05-22T20:00 commercial zone=guadeloupe => solicitation_hours -> Tue 2026-05-26 10:00-04:00
        2026-06-02T19:59 commercial zone=guadeloupe => ok
        ",
    );
}

// ---------------------------------------------------------------------------------
// Everything else
// ---------------------------------------------------------------------------------

fn paris_at(text: &str) -> Timestamp {
    local(&Territory::Metropolitan.time_zone(), text).timestamp()
}

fn care_call(dial_at: Timestamp, care_hours: Option<&WeeklyHours>) -> CallContext<'_> {
    CallContext {
        class: PurposeClass::Care,
        dial_at,
        territory: Territory::Metropolitan,
        attempts: &[],
        last_refusal: None,
        bloctel: BloctelState::default(),
        consents: &[],
        care_hours,
    }
}

#[test]
fn care_hours_per_purpose_or_facility() {
    let rules = ComplianceRules::default();
    let lab = WeeklyHours::parse("mon-fri 09:00-12:00,13:30-18:00").expect("hours");
    let tz = Territory::Metropolitan.time_zone();
    let cases = [
        ("2026-06-02T08:30", None, "ok"),
        ("2026-06-02T08:30", Some(&lab), "care_hours -> Tue 2026-06-02 09:00+02:00"),
        ("2026-06-02T12:00", Some(&lab), "care_hours -> Tue 2026-06-02 13:30+02:00"),
        ("2026-06-06T10:00", Some(&lab), "care_hours -> Mon 2026-06-08 09:00+02:00"),
    ];
    for (at, hours, expected) in cases {
        assert_eq!(render(&tz, check_call(&care_call(paris_at(at), hours), &rules)), expected, "{at}");
    }
}

#[test]
fn alsace_moselle_and_configured_days() {
    let mut rules = ComplianceRules {
        holidays: HolidayCalendar { alsace_moselle: true, ..Default::default() },
        ..Default::default()
    };
    rules.holidays.extra_dates.insert(jiff::civil::date(2026, 6, 3));
    let tz = Territory::Metropolitan.time_zone();
    let call = |at: &str| {
        let ctx = CallContext {
            class: PurposeClass::Commercial,
            bloctel: BloctelState { listed: false, last_scrub: Some(jiff::civil::date(2026, 4, 1)) },
            ..care_call(paris_at(at), None)
        };
        render(&tz, check_call(&ctx, &rules))
    };
    assert_eq!(call("2026-04-03T11:00"), "public_holiday -> Tue 2026-04-07 10:00+02:00"); // Good Friday, then Easter Monday
    let care = ComplianceRules { holidays: rules.holidays.clone(), ..Default::default() };
    assert_eq!(
        render(&tz, check_call(&care_call(paris_at("2026-06-03T11:00"), None), &care)),
        "public_holiday -> Thu 2026-06-04 08:00+02:00"
    );
}

#[test]
fn search_horizon_bounds_next_allowed() {
    let rules = ComplianceRules { search_days: 1, ..Default::default() };
    let ctx = CallContext {
        class: PurposeClass::Commercial,
        bloctel: BloctelState { listed: false, last_scrub: Some(jiff::civil::date(2026, 6, 1)) },
        ..care_call(paris_at("2026-06-05T20:00"), None)
    };
    assert_eq!(check_call(&ctx, &rules), Err(RuleRefusal { rule: CallRule::SolicitationHours, next_allowed_at: None }));
}

#[test]
fn rules_validate_and_name_themselves() {
    assert_eq!(ComplianceRules::default().validate(), Ok(()));
    let bad = ComplianceRules { attempts_max: 0, ..Default::default() };
    assert_eq!(bad.validate().map_err(|e| e.to_string()), Err("attempts_max: must be between 1 and 100".into()));
    let bad = ComplianceRules { search_days: 0, ..Default::default() };
    assert!(bad.validate().is_err());
    assert_eq!(ComplianceRules::default().consent_required_from.to_string(), "2026-08-10T22:00:00Z");
    let codes: Vec<&str> = CallRule::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(
        codes.join(" "),
        "solicitation_hours public_holiday care_hours attempts_limit refusal_cooldown bloctel_listed \
         bloctel_scrub_stale consent_missing consent_withdrawn sms_announcement sms_stop"
    );
    for &class in PurposeClass::ALL {
        assert_eq!(PurposeClass::parse(class.as_str()), Ok(class));
    }
    let solicitation: Vec<&str> =
        PurposeClass::ALL.iter().filter(|c| c.is_solicitation()).map(|c| c.as_str()).collect();
    assert_eq!(solicitation, ["survey_with_promotion", "commercial"]);
    assert!(PurposeClass::parse("marketing").is_err());
    let refusal =
        RuleRefusal { rule: CallRule::SolicitationHours, next_allowed_at: Some(paris_at("2026-06-02T14:00")) };
    assert_eq!(refusal.to_string(), "rule solicitation_hours refuses the call; next allowed at 2026-06-02T12:00:00Z");
}

// ---------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------

mod properties {
    use proptest::prelude::*;

    use super::*;

    /// A call somewhere in May 2026 to December 2026 (across the autumn change and the
    /// opt-in switch), with random history.
    #[derive(Debug, Clone)]
    struct Case {
        class: usize,
        territory: usize,
        dial_minute: i64,
        attempts_minutes_before: Vec<i64>,
        refusal_minutes_before: Option<i64>,
        scrub_days_before: Option<i32>,
        listed: bool,
        consent_minutes_before: Option<i64>,
    }

    fn case() -> impl Strategy<Value = Case> {
        (
            0..4_usize,
            0..3_usize,
            0..240 * 1440_i64,
            proptest::collection::vec(0..40 * 1440_i64, 0..7),
            proptest::option::of(0..70 * 1440_i64),
            proptest::option::of(0..40_i32),
            proptest::bool::weighted(0.1),
            proptest::option::weighted(0.8, -1440..400 * 1440_i64),
        )
            .prop_map(|(class, territory, dial_minute, attempts, refusal, scrub, listed, consent)| Case {
                class,
                territory,
                dial_minute,
                attempts_minutes_before: attempts,
                refusal_minutes_before: refusal,
                scrub_days_before: scrub,
                listed,
                consent_minutes_before: consent,
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// A refusal's `next_allowed_at` is later than the dial time and the same call
        /// placed then passes every rule.
        #[test]
        fn next_allowed_at_is_allowed(case in case()) {
            let rules = ComplianceRules::default();
            let start: Timestamp = "2026-05-01T00:00:00Z".parse().expect("ts");
            let dial_at = start + jiff::SignedDuration::from_mins(case.dial_minute);
            let before = |m: i64| dial_at - jiff::SignedDuration::from_mins(m);
            let attempts: Vec<Timestamp> = case.attempts_minutes_before.iter().map(|&m| before(m)).collect();
            let consents: Vec<ConsentRecord> = case
                .consent_minutes_before
                .map(|m| ConsentRecord { given_at: before(m), withdrawn_at: None })
                .into_iter()
                .collect();
            let paris_day = Territory::Metropolitan.time_zone().to_datetime(dial_at).date();
            let ctx = CallContext {
                class: PurposeClass::ALL[case.class],
                dial_at,
                territory: [Territory::Metropolitan, Territory::Reunion, Territory::Guadeloupe][case.territory],
                attempts: &attempts,
                last_refusal: case.refusal_minutes_before.map(before),
                bloctel: BloctelState {
                    listed: case.listed,
                    last_scrub: case.scrub_days_before.map(|d| crate::calendar::add_days(paris_day, -d)),
                },
                consents: &consents,
                care_hours: None,
            };
            if let Err(RuleRefusal { next_allowed_at: Some(next), rule }) = check_call(&ctx, &rules) {
                prop_assert!(next > dial_at, "{rule}: {next} is not after {dial_at}");
                let moved = CallContext { dial_at: next, ..ctx };
                prop_assert_eq!(check_call(&moved, &rules), Ok(()), "{} then {}", rule, next);
            }
        }
    }
}
