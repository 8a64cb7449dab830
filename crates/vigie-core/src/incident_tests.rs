//! Incidents: the playbook's deadlines and records, the refusals (twice, closed,
//! before the opening, cooling down, not clean), the delisting texts, and each cause
//! on a crafted input, on a normal one and at its edges.

use jiff::civil::date;

use super::*;
use crate::calendar::add_days;

fn at(text: &str) -> Timestamp {
    text.parse().expect("timestamp")
}

fn number() -> E164 {
    E164::parse("+33478200001").expect("number")
}

fn opened() -> Timestamp {
    at("2026-11-27T09:00:00Z")
}

fn incident() -> Incident {
    Incident::open(
        number(),
        PoolCode::parse("A").expect("pool"),
        IncidentTrigger::Reports,
        at("2026-11-27T07:30:00Z"),
        opened(),
        &Playbook::default(),
    )
    .expect("open")
}

fn clean() -> CleanCheck {
    CleanCheck { reports_since_quarantine: 0, still_listed: Vec::new(), test_calls: None }
}

#[test]
fn playbook_defaults_and_validation_name_the_field() {
    let p = Playbook::default();
    assert_eq!(p.deadline(PlaybookStep::ReserveSwapped), SignedDuration::from_mins(15));
    assert_eq!(p.deadline(PlaybookStep::IdentityChecked), SignedDuration::from_hours(2));
    assert_eq!(p.deadline(PlaybookStep::DelistingRequested), SignedDuration::from_hours(4));
    assert_eq!(p.deadline(PlaybookStep::FacilityInformed), SignedDuration::from_hours(4));
    assert_eq!(p.deadline(PlaybookStep::CauseAnalysed), SignedDuration::from_hours(24));
    assert_eq!(p.cool_down, SignedDuration::from_hours(72));
    assert!(p.validate().is_ok());

    let late = Playbook { cause_analysed_within: SignedDuration::from_hours(25), ..p };
    assert_eq!(late.validate().expect_err("past 24 h").field, "cause_analysed_within");
    let zero = Playbook { reserve_swapped_within: SignedDuration::ZERO, ..p };
    assert_eq!(zero.validate().expect_err("zero").field, "reserve_swapped_within");
    let cool = Playbook { cool_down: SignedDuration::from_hours(-1), ..p };
    assert_eq!(cool.validate().expect_err("negative").field, "cool_down");
    let rate = Playbook { test_answer_rate_min: 1.5, ..p };
    assert_eq!(rate.validate().expect_err("rate").field, "test_answer_rate_min");

    assert_eq!(PlaybookStep::parse("identity_checked"), Ok(PlaybookStep::IdentityChecked));
    assert_eq!(PlaybookStep::parse("coffee").expect_err("unknown").field, "step");
    assert_eq!(IncidentTrigger::parse("answer_rate_drop"), Ok(IncidentTrigger::AnswerRateDrop));
}

#[test]
fn open_counts_deadlines_from_the_quarantine() {
    let i = incident();
    assert_eq!(i.step(PlaybookStep::ReserveSwapped).deadline, at("2026-11-27T09:15:00Z"));
    assert_eq!(i.step(PlaybookStep::CauseAnalysed).deadline, at("2026-11-28T09:00:00Z"));
    assert_eq!(i.steps.iter().map(|s| s.step).collect::<Vec<_>>(), PlaybookStep::ALL);
    assert_eq!(i.time_to_detect(), SignedDuration::from_mins(90));
    assert_eq!(i.time_to_resolve(), None);

    let e = Incident::open(
        number(),
        PoolCode::parse("A").expect("pool"),
        IncidentTrigger::Manual,
        at("2026-11-27T09:00:01Z"),
        opened(),
        &Playbook::default(),
    )
    .expect_err("evidence after the opening");
    assert_eq!(e.field, "first_evidence_at");
}

#[test]
fn a_step_is_recorded_once_with_who_and_when() {
    let mut i = incident();
    let t = at("2026-11-27T09:10:00Z");
    i.complete_step(PlaybookStep::ReserveSwapped, t, "marie", "+33478200002 promoted").expect("done");
    let done = i.step(PlaybookStep::ReserveSwapped).done.clone().expect("recorded");
    assert_eq!((done.at, done.by.as_str()), (t, "marie"));
    assert!(!i.step(PlaybookStep::ReserveSwapped).done_late());

    let again = i.complete_step(PlaybookStep::ReserveSwapped, t, "paul", "").expect_err("twice");
    assert_eq!(again, IncidentError::AlreadyDone { step: PlaybookStep::ReserveSwapped, at: t, by: "marie".into() });
    assert!(again.to_string().contains("reserve_swapped"));

    let before = i.complete_step(PlaybookStep::IdentityChecked, at("2026-11-27T08:59:59Z"), "marie", "");
    assert!(matches!(before, Err(IncidentError::BeforeOpening { .. })));

    let nobody = i.complete_step(PlaybookStep::IdentityChecked, t, "  ", "").expect_err("who");
    assert!(matches!(nobody, IncidentError::Invalid(ref f) if f.field == "by"));
    let long = "x".repeat(NOTE_CHARS_MAX + 1);
    let novel = i.complete_step(PlaybookStep::IdentityChecked, t, "marie", &long).expect_err("note");
    assert!(matches!(novel, IncidentError::Invalid(ref f) if f.field == "note"));

    // Late is recorded, and says so.
    i.complete_step(PlaybookStep::IdentityChecked, at("2026-11-27T11:30:00Z"), "paul", "name ok").expect("late");
    assert!(i.step(PlaybookStep::IdentityChecked).done_late());
}

#[test]
fn overdue_and_next_deadline_follow_the_steps_left() {
    let mut i = incident();
    assert_eq!(i.next_deadline(), Some((PlaybookStep::ReserveSwapped, at("2026-11-27T09:15:00Z"))));
    // At the deadline itself a step is not yet overdue.
    assert!(i.overdue(at("2026-11-27T09:15:00Z")).is_empty());
    assert_eq!(i.overdue(at("2026-11-27T09:15:01Z")), [PlaybookStep::ReserveSwapped]);

    i.complete_step(PlaybookStep::ReserveSwapped, at("2026-11-27T09:05:00Z"), "marie", "").expect("done");
    assert_eq!(i.next_deadline(), Some((PlaybookStep::IdentityChecked, at("2026-11-27T11:00:00Z"))));
    assert_eq!(
        i.overdue(at("2026-11-27T14:00:00Z")),
        [PlaybookStep::IdentityChecked, PlaybookStep::DelistingRequested, PlaybookStep::FacilityInformed]
    );

    i.close_retiring(at("2026-11-27T15:00:00Z"), "marie", 4_500).expect("retired");
    assert!(i.overdue(at("2026-11-29T00:00:00Z")).is_empty());
    assert_eq!(i.next_deadline(), None);
}

#[test]
fn return_to_service_waits_for_the_cool_down_and_a_clean_check() {
    let p = Playbook::default();
    let mut i = incident();
    let after = at("2026-11-30T09:00:00Z");

    let early = i.close_returning(at("2026-11-30T08:59:59Z"), "marie", &clean(), &p).expect_err("cooling");
    assert_eq!(early, IncidentError::CoolingDown { until: after });

    let dirty = CleanCheck {
        reports_since_quarantine: 1,
        still_listed: vec!["orange_telephone".into()],
        test_calls: Some(AnswerCounts::new(10, 7).expect("counts")),
    };
    let e = i.close_returning(after, "marie", &dirty, &p).expect_err("dirty");
    let IncidentError::NotClean { faults } = &e else { panic!("not clean expected, got {e}") };
    assert_eq!(faults.len(), 4, "{faults:?}");
    let text = e.to_string();
    for words in ["1 report(s)", "still listed by orange_telephone", "7 of 10 test calls", "identity check"] {
        assert!(text.contains(words), "{words} missing from: {text}");
    }

    // Clean sources, but the identity was never checked.
    let e = i.close_returning(after, "marie", &clean(), &p).expect_err("identity");
    assert_eq!(e, IncidentError::NotClean { faults: vec![CleanFault::IdentityNotChecked] });

    i.complete_step(PlaybookStep::IdentityChecked, at("2026-11-27T10:00:00Z"), "paul", "").expect("checked");
    let enough = CleanCheck { test_calls: Some(AnswerCounts::new(10, 8).expect("counts")), ..clean() };
    assert!(enough.verdict(&p).passed());
    i.close_returning(after, "marie", &enough, &p).expect("back in service");
    let closure = i.closed.clone().expect("closed");
    assert_eq!(closure.resolution, Resolution::ReturnedToService);
    assert_eq!(closure.resolution.as_str(), "returned_to_service");
    assert_eq!(i.time_to_resolve(), Some(SignedDuration::from_hours(72)));

    let closed = i.complete_step(PlaybookStep::CauseAnalysed, after, "paul", "").expect_err("closed");
    assert_eq!(closed, IncidentError::Closed { at: after });
    assert!(matches!(i.close_retiring(after, "paul", 1), Err(IncidentError::Closed { .. })));
}

#[test]
fn retirement_records_its_cost_at_any_time_after_the_opening() {
    let mut i = incident();
    assert!(matches!(
        i.close_retiring(at("2026-11-27T08:00:00Z"), "marie", 0),
        Err(IncidentError::BeforeOpening { .. })
    ));
    i.close_retiring(at("2026-11-27T12:00:00Z"), "marie", 4_500).expect("retired");
    let closure = i.closed.clone().expect("closed");
    assert_eq!(closure.resolution, Resolution::Retired { replacement_cost_cents: 4_500 });
    assert_eq!(closure.by, "marie");
    assert_eq!(i.time_to_resolve(), Some(SignedDuration::from_hours(3)));
}

fn context(language: Language) -> DelistingContext {
    DelistingContext {
        number: number(),
        facility_name: "Clinique du Parc".into(),
        callback: E164::parse("0478200000").expect("callback"),
        city: "Lyon".into(),
        language,
    }
}

#[test]
fn delisting_requests_say_who_calls_and_ask_for_removal() {
    let fr = delisting_request(ListingTarget::OrangeTelephone, &context(Language::Fr)).expect("fr");
    assert_eq!(fr.subject, "Demande de retrait d'étiquette spam : +33 4 78 20 00 01 (Clinique du Parc)");
    for words in [
        "+33 4 78 20 00 01",
        "Orange Téléphone",
        "Clinique du Parc, établissement de santé situé à Lyon",
        "appeler les patients de l'établissement",
        "rappels de rendez-vous",
        "résultats",
        "+33 4 78 20 00 00",
        "retirer l'étiquette",
    ] {
        assert!(fr.body.contains(words), "{words} missing from:\n{}", fr.body);
    }
    assert_eq!(fr.channel, ListingTarget::OrangeTelephone.channel());

    let en = delisting_request(ListingTarget::Truecaller, &context(Language::En)).expect("en");
    assert!(en.subject.starts_with("Request to remove a spam label: +33 4 78 20 00 01"));
    for words in ["Truecaller", "healthcare facility in Lyon", "own patients", "calling +33 4 78 20 00 00", "remove"] {
        assert!(en.body.contains(words), "{words} missing from:\n{}", en.body);
    }
    assert!(en.channel.contains("truecaller"));

    // Every target has a channel and a text.
    for &target in ListingTarget::ALL {
        let r = delisting_request(target, &context(Language::Fr)).expect("request");
        assert!(!r.channel.is_empty() && r.body.contains("Clinique du Parc"));
        assert_eq!(ListingTarget::parse(target.as_str()), Ok(target));
    }
}

#[test]
fn delisting_context_refuses_what_cannot_go_in_a_subject() {
    let split = DelistingContext { facility_name: "Clinique\nBcc: x@example.org".into(), ..context(Language::Fr) };
    assert_eq!(delisting_request(ListingTarget::Hiya, &split).expect_err("newline").field, "facility_name");
    let empty = DelistingContext { city: " ".into(), ..context(Language::Fr) };
    assert_eq!(delisting_request(ListingTarget::Hiya, &empty).expect_err("empty").field, "city");
}

fn share(part: u32, whole: u32) -> Share {
    Share::new(part, whole).expect("share")
}

/// A number that behaves like its pool: 14 days around the pool's median, announced
/// like the pool, calling in the day, reported only for calls it made.
fn normal() -> CauseInput {
    let first = date(2026, 11, 14);
    CauseInput {
        calls_per_day: (0..14).map(|i| (add_days(first, i), 50 + (i as u32 % 5))).collect(),
        pool_median_calls_per_day: 52.0,
        announced: share(450, 500),
        pool_announced: share(9_000, 10_000),
        odd_hours: share(10, 700),
        reports_without_call: share(0, 2),
    }
}

#[test]
fn a_normal_number_has_no_cause() {
    assert_eq!(analyse_cause(&normal(), &CauseConfig::default()), []);
}

#[test]
fn a_volume_spike_names_the_day() {
    let mut input = normal();
    input.calls_per_day[10].1 = 78; // 1.5 × 52
    let findings = analyse_cause(&input, &CauseConfig::default());
    assert_eq!(findings.len(), 1);
    let f = &findings[0];
    assert_eq!((f.cause, f.observed, f.reference), (Cause::VolumeSpike, 78.0, 52.0));
    assert!(f.evidence.contains("78 calls on 2026-11-24"), "{}", f.evidence);

    input.calls_per_day[10].1 = 77;
    assert_eq!(analyse_cause(&input, &CauseConfig::default()), []);

    // A quiet pool: twice its median, but under 30 calls.
    let quiet =
        CauseInput { calls_per_day: vec![(date(2026, 11, 27), 29)], pool_median_calls_per_day: 10.0, ..normal() };
    assert_eq!(analyse_cause(&quiet, &CauseConfig::default()), []);

    // A pool whose median number is idle.
    let idle = CauseInput { pool_median_calls_per_day: 0.0, ..quiet.clone() };
    let idle = CauseInput { calls_per_day: vec![(date(2026, 11, 27), 30)], ..idle };
    let findings = analyse_cause(&idle, &CauseConfig::default());
    assert!(findings[0].evidence.contains("makes no call"), "{findings:?}");

    // Days beyond the 14 latest are not looked at.
    let mut old = normal();
    old.calls_per_day.insert(0, (date(2026, 11, 13), 500));
    assert_eq!(analyse_cause(&old, &CauseConfig::default()), []);
}

#[test]
fn missing_sms_compares_with_the_pool() {
    let mut input = normal();
    input.announced = share(375, 500); // 75% against 90%: 15 points
    let findings = analyse_cause(&input, &CauseConfig::default());
    assert_eq!(findings.iter().map(|f| f.cause).collect::<Vec<_>>(), [Cause::MissingSms]);
    assert!(findings[0].evidence.contains("375 of 500 calls announced"), "{}", findings[0].evidence);
    assert!(findings[0].evidence.contains("90% in the pool"));

    input.announced = share(380, 500); // 14 points
    assert_eq!(analyse_cause(&input, &CauseConfig::default()), []);
    input.announced = share(0, 19); // too few calls to judge
    assert_eq!(analyse_cause(&input, &CauseConfig::default()), []);
    input.announced = share(0, 0);
    assert_eq!(analyse_cause(&input, &CauseConfig::default()), []);
}

#[test]
fn odd_hours_from_a_tenth_of_the_calls() {
    let mut input = normal();
    input.odd_hours = share(70, 700);
    let findings = analyse_cause(&input, &CauseConfig::default());
    assert_eq!(findings.iter().map(|f| f.cause).collect::<Vec<_>>(), [Cause::OddHours]);
    assert!(findings[0].evidence.contains("70 of 700 calls (10%)"), "{}", findings[0].evidence);

    input.odd_hours = share(69, 700);
    assert_eq!(analyse_cause(&input, &CauseConfig::default()), []);
    input.odd_hours = share(19, 19);
    assert_eq!(analyse_cause(&input, &CauseConfig::default()), []);
}

#[test]
fn spoofing_from_two_reports_without_a_call() {
    let mut input = normal();
    input.reports_without_call = share(2, 3);
    let findings = analyse_cause(&input, &CauseConfig::default());
    assert_eq!(findings.iter().map(|f| f.cause).collect::<Vec<_>>(), [Cause::SpoofingSuspected]);
    assert_eq!((findings[0].observed, findings[0].reference), (2.0, 3.0));

    input.reports_without_call = share(1, 3);
    assert_eq!(analyse_cause(&input, &CauseConfig::default()), []);

    // Several causes come in their declared order.
    input.reports_without_call = share(2, 2);
    input.odd_hours = share(300, 700);
    let causes: Vec<Cause> = analyse_cause(&input, &CauseConfig::default()).iter().map(|f| f.cause).collect();
    assert_eq!(causes, [Cause::OddHours, Cause::SpoofingSuspected]);
}

#[test]
fn a_report_matches_a_call_within_ten_minutes() {
    let calls = [at("2026-11-27T09:00:00Z"), at("2026-11-27T14:00:00Z")];
    let reports = [
        at("2026-11-27T09:10:00Z"), // exactly 10 minutes after: matched
        at("2026-11-27T08:50:00Z"), // exactly 10 minutes before: matched
        at("2026-11-27T09:10:01Z"), // unmatched
        at("2026-11-27T22:00:00Z"), // unmatched
    ];
    assert_eq!(unmatched_reports(&reports, &calls), 2);
    assert_eq!(unmatched_reports(&reports, &[]), 4);
    assert_eq!(unmatched_reports(&[], &calls), 0);
    assert!(Share::new(3, 2).is_err());
}

#[test]
fn odd_hours_are_local_and_sundays() {
    let cal = Calendar::paris();
    // Friday 27 November 2026, UTC+1.
    assert!(odd_hour(&cal, at("2026-11-27T07:59:00Z"))); // 08:59
    assert!(!odd_hour(&cal, at("2026-11-27T08:00:00Z"))); // 09:00
    assert!(!odd_hour(&cal, at("2026-11-27T17:59:00Z"))); // 18:59
    assert!(odd_hour(&cal, at("2026-11-27T18:00:00Z"))); // 19:00
    // Summer time, UTC+2: 09:00 local is 07:00 UTC.
    assert!(!odd_hour(&cal, at("2026-06-12T07:00:00Z")));
    // Sunday 29 November, at noon.
    assert!(odd_hour(&cal, at("2026-11-29T11:00:00Z")));
}

#[test]
fn every_step_has_its_own_words_in_both_languages() {
    for language in [Language::Fr, Language::En] {
        let labels: std::collections::BTreeSet<&str> = PlaybookStep::ALL.iter().map(|s| s.label(language)).collect();
        assert_eq!(labels.len(), PLAYBOOK_STEPS, "{language:?}: {labels:?}");
    }
    assert_eq!(PlaybookStep::FacilityInformed.label(Language::Fr), "Établissement informé");
}
