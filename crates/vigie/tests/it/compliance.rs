//! The calling rules through the real API and store, at their edges: solicitation
//! hours and holidays (D223-9) in the patient's time zone, the 4th and 5th attempt, day
//! 59 and 60 after a refusal, Bloctel before and consent after 2026-08-11, care hours
//! per purpose and facility, ARCEP numbering per dialling mode, and numbers' identity.
//! Each table renders its outcomes as text and compares them whole.

use std::path::Path;

use serde_json::{Value, json};
use sqlx::Row;
use vigie_core::{Date, E164, FacilityId, PoolCode, Purpose, PurposeClass, Timestamp, WeeklyHours};
use vigie_store::{ComplianceOptions, NewNumber, StoreError};

use crate::helpers::{
    A1, A2, A3, CallReq, E1, Fixture, NANTES, PATIENT_LYON, R1, Reply, SAINT_JEAN, Setup, TestApp, TestDb, hours, mins,
    spawn_app_with, ts,
};

/// Options where care calls may start at any hour of any day, holidays included: the
/// engine's scenarios of the other test modules dial at night and on Sundays.
pub(crate) fn around_the_clock() -> ComplianceOptions {
    let mut options = ComplianceOptions::default();
    options.rules.care_hours = WeeklyHours::parse("mon-sun 00:00-24:00").expect("hours");
    options.rules.care_closed_on_holidays = false;
    options
}

/// The law's defaults, with the satisfaction survey carrying promotion: solicitation.
fn law() -> ComplianceOptions {
    let mut options = ComplianceOptions::default();
    options.classes.insert(purpose("satisfaction_survey"), PurposeClass::SurveyWithPromotion);
    options
}

fn purpose(text: &str) -> Purpose {
    Purpose::parse(text).expect("purpose")
}

/// Pool D (the survey), Saint-Jean.
const D1: &str = "+33987100041";
/// Pool C (coordination), no facility.
const C1: &str = "+33987100051";
/// A verified polyvalent number (NPV, 0162).
const NPV1: &str = "+33162000001";
/// Another NPV.
const NPV2: &str = "+33162000002";
/// A Réunion patient (UTC+4).
const PATIENT_REUNION: &str = "+262262501234";
/// The survey.
const SURVEY: &str = "satisfaction_survey";

fn inventory() -> Vec<Fixture> {
    let mut numbers = crate::helpers::INVENTORY.to_vec();
    numbers.push((C1, "C", None));
    numbers.push((D1, "D", Some(SAINT_JEAN)));
    numbers
}

async fn app_with(db: &TestDb, compliance: ComplianceOptions, numbers: Vec<Fixture>, now: &str) -> TestApp {
    spawn_app_with(db, Setup { compliance, numbers, now: ts(now), ..Setup::default() }).await
}

fn paris() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get("Europe/Paris").expect("Europe/Paris")
}

/// A Paris local date-time (`2026-06-10T12:59`) as an instant.
fn local(text: &str) -> Timestamp {
    let dt: jiff::civil::DateTime = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
    paris().to_ambiguous_timestamp(dt).compatible().expect("a Paris instant")
}

/// An instant in Paris local time, for the tables.
fn show(at: &str) -> String {
    let t: Timestamp = at.parse().unwrap_or_else(|e| panic!("{at}: {e}"));
    t.to_zoned_datetime(paris()).strftime("%a %Y-%m-%dT%H:%M%:z").to_string()
}

/// `ok`, or `<rule> next=<Paris local instant or none>`, or the error of another kind.
fn verdict(reply: &Reply) -> String {
    match (reply.status, reply.body["error"].as_str()) {
        (201 | 200, _) => "ok".into(),
        (409, Some("rule")) => {
            assert!(reply.body["message"].as_str().is_some_and(|m| !m.is_empty()), "a message: {}", reply.text);
            let next = reply.body["next_allowed_at"].as_str().map_or_else(|| "none".to_owned(), show);
            format!("{} next={next}", reply.str("rule"))
        }
        (status, code) => format!("{status} {}", code.unwrap_or("-")),
    }
}

/// A call as the tables describe it.
fn call(call_ref: &str, purpose: &str, patient: &str, phone: &str, dial_at: Timestamp) -> CallReq {
    let mut c = CallReq::new(call_ref, dial_at).purpose(purpose).patient(patient);
    c.patient_phone = phone.into();
    c
}

/// Posts a call with the clock an hour before its dial_at.
async fn post_at(app: &TestApp, c: &CallReq) -> Reply {
    app.clock.set(c.dial_at - hours(1));
    app.post("/v1/calls", &app.keys.dialer, &c.json()).await
}

async fn bloctel(app: &TestApp, listed: &[&str], file_date: &str) {
    let numbers: Vec<E164> = listed.iter().map(|n| E164::parse(n).expect("number")).collect();
    let date: Date = file_date.parse().expect("date");
    app.store.import_bloctel(&numbers, date, "test").await.expect("Bloctel import");
}

async fn consent(app: &TestApp, patient: &str, facility: &str, given_at: &str) -> Value {
    let body = json!({
        "patient_ref": patient,
        "facility": facility,
        "given_at": given_at,
        "wording": "J'accepte d'être appelé(e) par la Clinique Saint-Jean pour des offres de services.",
        "method": "web_form",
        "proof": "form 2026-0042, box ticked by the patient",
    });
    app.post("/v1/consents", &app.keys.ops, &body).await.expect(201, "POST /v1/consents").clone()
}

/// The audit entries of an action whose detail contains `needle`.
async fn audited(app: &TestApp, action: &str, needle: &str) -> usize {
    let entries = app.store.audit_entries(10_000).await.expect("audit entries");
    entries.iter().filter(|e| e.action == action && e.detail.contains(needle)).count()
}

pub(crate) async fn solicitation_hours_and_holidays_at_the_edges(db: TestDb) {
    let app = app_with(&db, law(), inventory(), "2026-05-01T08:00:00+02:00").await;
    // (label, patient phone, Paris local dial time); each row its own patient, and a
    // Bloctel list dated the day before its call.
    let rows = [
        ("ascension 10:30", PATIENT_LYON, "2026-05-14T10:30"),
        ("wed 12:59", PATIENT_LYON, "2026-06-10T12:59"),
        ("wed 13:00", PATIENT_LYON, "2026-06-10T13:00"),
        ("wed 13:59", PATIENT_LYON, "2026-06-10T13:59"),
        ("wed 14:00", PATIENT_LYON, "2026-06-10T14:00"),
        ("wed 19:59", PATIENT_LYON, "2026-06-10T19:59"),
        ("wed 20:00", PATIENT_LYON, "2026-06-10T20:00"),
        ("reunion 12:59 local", PATIENT_REUNION, "2026-06-10T10:59"),
        ("reunion 13:00 local", PATIENT_REUNION, "2026-06-10T11:00"),
        ("thu 09:59", PATIENT_LYON, "2026-06-11T09:59"),
        ("sat 10:30", PATIENT_LYON, "2026-06-13T10:30"),
        ("mon 13 july 10:30", PATIENT_LYON, "2026-07-13T10:30"),
        ("tue 14 july 10:30", PATIENT_LYON, "2026-07-14T10:30"),
        ("fri before autumn dst 20:00", PATIENT_LYON, "2026-10-23T20:00"),
        ("fri before spring dst and easter monday 20:00", PATIENT_LYON, "2027-03-26T20:00"),
    ];
    let mut got = Vec::new();
    for (i, (label, phone, at)) in rows.iter().enumerate() {
        let dial_at = local(at);
        let day_before = (dial_at - hours(24)).to_zoned_datetime(paris()).date().to_string();
        app.clock.set(dial_at - hours(1));
        let patient = format!("hours-patient-{i}");
        bloctel(&app, &[], &day_before).await;
        // From the opt-in switch, consent instead of Bloctel.
        if dial_at >= ts("2026-08-11T00:00:00+02:00") {
            consent(&app, &patient, SAINT_JEAN, &(dial_at - hours(48)).to_string()).await;
        }
        let c = call(&format!("hours-{i}"), SURVEY, &patient, phone, dial_at);
        got.push(format!("{label}: {}", verdict(&post_at(&app, &c).await)));
    }
    let want = "\
ascension 10:30: public_holiday next=Fri 2026-05-15T10:00+02:00
wed 12:59: ok
wed 13:00: solicitation_hours next=Wed 2026-06-10T14:00+02:00
wed 13:59: solicitation_hours next=Wed 2026-06-10T14:00+02:00
wed 14:00: ok
wed 19:59: ok
wed 20:00: solicitation_hours next=Thu 2026-06-11T10:00+02:00
reunion 12:59 local: ok
reunion 13:00 local: solicitation_hours next=Wed 2026-06-10T12:00+02:00
thu 09:59: solicitation_hours next=Thu 2026-06-11T10:00+02:00
sat 10:30: solicitation_hours next=Mon 2026-06-15T10:00+02:00
mon 13 july 10:30: ok
tue 14 july 10:30: public_holiday next=Wed 2026-07-15T10:00+02:00
fri before autumn dst 20:00: solicitation_hours next=Mon 2026-10-26T10:00+01:00
fri before spring dst and easter monday 20:00: solicitation_hours next=Tue 2027-03-30T10:00+02:00";
    assert_eq!(got.join("\n"), want);
    // Each refusal is in the audit trail with its rule, and no call row was written.
    assert_eq!(audited(&app, "call.refuse", "rule=solicitation_hours").await, 8);
    assert_eq!(audited(&app, "call.refuse", "rule=public_holiday").await, 2);
    let pool = db.pool().await;
    let stored: i64 = sqlx::query("SELECT COUNT(*) FROM calls WHERE call_ref LIKE 'hours-%'")
        .fetch_one(&pool)
        .await
        .expect("count")
        .get(0);
    assert_eq!(stored, 5, "refused calls are not stored");
    let class: String =
        sqlx::query("SELECT class FROM calls WHERE call_ref = 'hours-1'").fetch_one(&pool).await.expect("class").get(0);
    assert_eq!(class, "survey_with_promotion", "the class is stored with the call");
    assert!(app.store.verify_audit().await.expect("verify").problem.is_none());
}

pub(crate) async fn attempts_and_the_refusal_cooldown(db: TestDb) {
    // After the opt-in switch, with consent recorded: attempts and refusals alone decide.
    let app = app_with(&db, law(), inventory(), "2026-09-07T08:00:00+02:00").await;
    for patient in ["attempts", "burst", "refuses"] {
        consent(&app, patient, SAINT_JEAN, "2026-09-01T10:00:00+02:00").await;
    }
    let rows = [
        ("attempt 1", "attempts", SAINT_JEAN, "2026-09-07T10:00"),
        ("attempt 2", "attempts", SAINT_JEAN, "2026-09-07T11:00"),
        ("attempt 3", "attempts", SAINT_JEAN, "2026-09-08T10:00"),
        ("attempt 4", "attempts", SAINT_JEAN, "2026-09-08T11:00"),
        ("attempt 5", "attempts", SAINT_JEAN, "2026-09-09T10:00"),
        ("attempt 5 again later", "attempts", SAINT_JEAN, "2026-09-15T10:00"),
        ("another facility, no consent there", "attempts", NANTES, "2026-09-09T10:00"),
    ];
    let mut got = Vec::new();
    for (i, (label, patient, facility, at)) in rows.iter().enumerate() {
        let mut c = call(&format!("attempt-{i}"), SURVEY, patient, PATIENT_LYON, local(at));
        c.facility = (*facility).into();
        app.clock.set(local("2026-09-07T08:00"));
        got.push(format!("{label}: {}", verdict(&app.post("/v1/calls", &app.keys.dialer, &c.json()).await)));
    }
    let want = "\
attempt 1: ok
attempt 2: ok
attempt 3: ok
attempt 4: ok
attempt 5: attempts_limit next=Wed 2026-10-07T10:00+02:00
attempt 5 again later: attempts_limit next=Wed 2026-10-07T10:00+02:00
another facility, no consent there: consent_missing next=none";
    assert_eq!(got.join("\n"), want);
    assert_eq!(audited(&app, "call.refuse", "rule=attempts_limit").await, 2);

    // Six at once for one patient: the writer counts the calls of its own batch, so
    // exactly four pass whichever batches they fall in.
    app.clock.set(local("2026-09-07T08:00"));
    let burst: Vec<CallReq> = (0..6)
        .map(|i| call(&format!("burst-{i}"), SURVEY, "burst", PATIENT_LYON, local("2026-09-10T10:00") + mins(i)))
        .collect();
    let mut set = tokio::task::JoinSet::new();
    for c in &burst {
        let (api, key, body) = (app.api.clone(), app.keys.dialer.clone(), c.json());
        set.spawn(async move { api.post("/v1/calls", &key, &body).await });
    }
    let replies = set.join_all().await;
    let verdicts: Vec<String> = replies.iter().map(|r| verdict(r).split(' ').next().unwrap_or("").to_owned()).collect();
    assert_eq!(verdicts.iter().filter(|v| *v == "ok").count(), 4, "{verdicts:?}");
    assert_eq!(verdicts.iter().filter(|v| *v == "attempts_limit").count(), 2, "{verdicts:?}");

    // A refusal during a call: nothing for 60 days from its end, counted in local days
    // across the autumn change.
    app.clock.set(local("2026-09-07T08:00"));
    let first = call("refuse-0", SURVEY, "refuses", PATIENT_LYON, local("2026-09-07T10:00"));
    let id = app.post("/v1/calls", &app.keys.dialer, &first.json()).await.expect(201, "first call")["call_id"]
        .as_i64()
        .expect("call id");
    app.clock.set(local("2026-09-07T10:06"));
    let outcome = json!({"outcome": "answered", "duration_s": 60, "ended_at": local("2026-09-07T10:05").to_string(), "solicitation_refused": true});
    app.post(&format!("/v1/calls/{id}/outcome"), &app.keys.dialer, &outcome).await.expect(200, "outcome");
    assert_eq!(audited(&app, "call.solicitation_refused", "refused_at=").await, 1);
    // A care call to the same patient is not solicitation: the refusal does not apply.
    let care = call("refuse-care", "appointment_reminder", "refuses", PATIENT_LYON, local("2026-09-08T10:30"));
    assert_eq!(verdict(&post_at(&app, &care).await), "ok");
    let rows = [
        ("day 1", "2026-09-08T10:30"),
        ("day 59", "2026-11-05T10:05"),
        ("day 60 minus a minute", "2026-11-06T10:04"),
        ("day 60", "2026-11-06T10:05"),
    ];
    let mut got = Vec::new();
    for (i, (label, at)) in rows.iter().enumerate() {
        let c = call(&format!("refuse-{}", i + 1), SURVEY, "refuses", PATIENT_LYON, local(at));
        got.push(format!("{label}: {}", verdict(&post_at(&app, &c).await)));
    }
    let want = "\
day 1: refusal_cooldown next=Fri 2026-11-06T10:05+01:00
day 59: refusal_cooldown next=Fri 2026-11-06T10:05+01:00
day 60 minus a minute: refusal_cooldown next=Fri 2026-11-06T10:05+01:00
day 60: ok";
    assert_eq!(got.join("\n"), want);
}

pub(crate) async fn bloctel_before_and_consent_after_the_switch(db: TestDb) {
    let app = app_with(&db, law(), inventory(), "2026-08-10T08:00:00+02:00").await;
    const LISTED: &str = "+33472009999";
    const MON: &str = "2026-08-10T10:30";
    const TUE: &str = "2026-08-11T10:30";
    // Each row its own patient (`switch-<slug>`), the clock on Monday 08:00.
    let post = |label: &'static str, slug: &'static str, phone: &'static str, at: &'static str| {
        let c = call(&format!("switch-{slug}"), SURVEY, &format!("switch-{slug}"), phone, local(at));
        let app = &app;
        async move {
            app.clock.set(local("2026-08-10T08:00"));
            format!("{label}: {}", verdict(&app.post("/v1/calls", &app.keys.dialer, &c.json()).await))
        }
    };
    let given_at = "2026-08-01T12:00:00+02:00";
    let mut got = Vec::new();
    got.push(post("mon, never scrubbed", "never", PATIENT_LYON, MON).await);
    bloctel(&app, &[LISTED], "2026-07-10").await;
    got.push(post("mon, scrub 31 days old", "old31", PATIENT_LYON, MON).await);
    bloctel(&app, &[LISTED], "2026-07-11").await;
    // The list holds a keyed hash, never the number.
    let pool = db.pool().await;
    let hashes: Vec<String> = sqlx::query("SELECT hash FROM bloctel_numbers")
        .fetch_all(&pool)
        .await
        .expect("hashes")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(hashes.len(), 1, "the import replaced the list");
    assert!(hashes[0].len() == 64 && !hashes[0].contains("472009999"), "{hashes:?}");
    got.push(post("mon, scrub 30 days old", "old30", PATIENT_LYON, MON).await);
    got.push(post("mon, listed", "listed", LISTED, MON).await);
    got.push(post("tue, no consent", "none", PATIENT_LYON, TUE).await);
    consent(&app, "switch-consent", SAINT_JEAN, given_at).await;
    got.push(post("tue, consent", "consent", PATIENT_LYON, TUE).await);
    consent(&app, "switch-listed-consent", SAINT_JEAN, given_at).await;
    got.push(post("tue, listed with consent", "listed-consent", LISTED, TUE).await);
    let given = consent(&app, "switch-withdrawn", SAINT_JEAN, given_at).await;
    let withdraw = format!("/v1/consents/{}/withdraw", given["consent_id"]);
    let body = json!({"withdrawn_at": "2026-08-10T07:30:00+02:00"});
    let withdrawn = app.post(&withdraw, &app.keys.ops, &body).await;
    assert_eq!(withdrawn.expect(200, "withdraw")["state"], "withdrawn");
    got.push(post("tue, withdrawn", "withdrawn", PATIENT_LYON, TUE).await);
    // A stale list stops mattering at the switch.
    bloctel(&app, &[], "2026-06-01").await;
    got.push(post("mon, stale again", "stale", PATIENT_LYON, MON).await);
    consent(&app, "switch-stale-consent", SAINT_JEAN, given_at).await;
    got.push(post("tue, stale list, consent", "stale-consent", PATIENT_LYON, TUE).await);
    let want = "\
mon, never scrubbed: bloctel_scrub_stale next=none
mon, scrub 31 days old: bloctel_scrub_stale next=none
mon, scrub 30 days old: ok
mon, listed: bloctel_listed next=none
tue, no consent: consent_missing next=none
tue, consent: ok
tue, listed with consent: ok
tue, withdrawn: consent_withdrawn next=none
mon, stale again: bloctel_scrub_stale next=none
tue, stale list, consent: ok";
    assert_eq!(got.join("\n"), want);

    // The register: roles, bad input, listing, a second withdrawal, the audit trail.
    app.post(&withdraw, &app.keys.ops, &body).await.expect_error(409, "conflict", Some("consent_id"), "again");
    assert_eq!(app.post("/v1/consents/999/withdraw", &app.keys.ops, &body).await.status, 404);
    let bad = json!({"patient_ref": "p", "facility": SAINT_JEAN, "given_at": given_at, "wording": "w", "method": "paper", "proof": "x"});
    assert_eq!(app.post("/v1/consents", &app.keys.dialer, &bad).await.status, 403);
    assert_eq!(app.post("/v1/consents", &app.keys.auditor, &bad).await.status, 403);
    let refused = [
        ("given_at", json!("2026-09-01T12:00:00+02:00")),
        ("facility", json!("clinique-inconnue")),
        ("patient_ref", json!("+33612345678")),
        ("wording", json!(" ")),
        ("method", json!("x".repeat(65))),
    ];
    for (field, value) in refused {
        let mut body = bad.clone();
        body[field] = value;
        app.post("/v1/consents", &app.keys.ops, &body).await.expect_error(422, "invalid_request", Some(field), field);
    }
    let list = app.get("/v1/consents?patient_ref=a%20b", &app.keys.auditor).await;
    assert_eq!(list.status, 422, "a reference with a space is refused: {}", list.text);
    let list = app.get("/v1/consents?patient_ref=switch-never", &app.keys.auditor).await;
    assert_eq!(list.expect(200, "GET /v1/consents").as_array().map(Vec::len), Some(0));
    let c = consent(&app, "p-listed", SAINT_JEAN, given_at).await;
    assert!(c["patient_ref"].as_str().is_some_and(|p| p.starts_with("ps1:")), "pseudonymised: {c}");
    let list = app.get("/v1/consents?patient_ref=p-listed", &app.keys.auditor).await;
    let list = list.expect(200, "GET /v1/consents").as_array().expect("a list").clone();
    assert_eq!(list.len(), 1);
    assert_eq!((&list[0]["wording"], &list[0]["state"]), (&c["wording"], &json!("given")));
    assert_eq!(app.get("/v1/consents?patient_ref=p-listed", &app.keys.dialer).await.status, 403);
    assert_eq!(app.get("/v1/consents", &app.keys.auditor).await.body["field"], "patient_ref");
    assert_eq!(audited(&app, "consent.record", "method=web_form").await, 5);
    assert_eq!(audited(&app, "consent.withdraw", "withdrawn_at=").await, 1);
    assert_eq!(audited(&app, "consent.read", "records=").await, 2);
    assert_eq!(audited(&app, "bloctel.import", "file_date=2026-07-11 numbers=1").await, 1);
    assert_eq!(audited(&app, "call.refuse", "rule=consent_withdrawn").await, 1);
    assert_eq!(audited(&app, "call.refuse", "rule=bloctel_listed").await, 1);
    assert!(app.store.verify_audit().await.expect("verify").problem.is_none());
}

pub(crate) async fn care_hours_per_purpose_and_facility(db: TestDb) {
    let mut options = law();
    options.care_hours_by_facility.insert(
        FacilityId::parse(NANTES).expect("facility"),
        WeeklyHours::parse("mon-fri 09:00-17:00").expect("hours"),
    );
    options
        .care_hours_by_purpose
        .insert(purpose("results_followup"), WeeklyHours::parse("mon-fri 08:00-18:00").expect("hours"));
    let app = app_with(&db, options, inventory(), "2026-06-12T07:00:00+02:00").await;
    // No Bloctel list and no consent: care calls read neither.
    let rows = [
        ("results fri 17:59", "results_followup", SAINT_JEAN, "2026-06-12T17:59"),
        ("results sat 10:00", "results_followup", SAINT_JEAN, "2026-06-13T10:00"),
        ("coordination sat 10:00", "coordination", SAINT_JEAN, "2026-06-13T10:00"),
        ("reminder sat 19:59", "appointment_reminder", SAINT_JEAN, "2026-06-13T19:59"),
        ("reminder sat 20:00", "appointment_reminder", SAINT_JEAN, "2026-06-13T20:00"),
        ("reminder sun 10:00", "appointment_reminder", SAINT_JEAN, "2026-06-14T10:00"),
        ("reminder mon 07:59", "appointment_reminder", SAINT_JEAN, "2026-06-15T07:59"),
        ("reminder mon 08:00", "appointment_reminder", SAINT_JEAN, "2026-06-15T08:00"),
        ("reminder nantes mon 16:59", "appointment_reminder", NANTES, "2026-06-15T16:59"),
        ("reminder nantes mon 17:00", "appointment_reminder", NANTES, "2026-06-15T17:00"),
        ("reminder 14 july", "appointment_reminder", SAINT_JEAN, "2026-07-14T10:00"),
    ];
    let mut got = Vec::new();
    for (i, (label, purpose, facility, at)) in rows.iter().enumerate() {
        let mut c = call(&format!("care-{i}"), purpose, &format!("care-{i}"), PATIENT_LYON, local(at));
        c.facility = (*facility).into();
        got.push(format!("{label}: {}", verdict(&post_at(&app, &c).await)));
    }
    let want = "\
results fri 17:59: ok
results sat 10:00: care_hours next=Mon 2026-06-15T08:00+02:00
coordination sat 10:00: ok
reminder sat 19:59: ok
reminder sat 20:00: care_hours next=Mon 2026-06-15T08:00+02:00
reminder sun 10:00: care_hours next=Mon 2026-06-15T08:00+02:00
reminder mon 07:59: care_hours next=Mon 2026-06-15T08:00+02:00
reminder mon 08:00: ok
reminder nantes mon 16:59: ok
reminder nantes mon 17:00: care_hours next=Tue 2026-06-16T09:00+02:00
reminder 14 july: public_holiday next=Wed 2026-07-15T08:00+02:00";
    assert_eq!(got.join("\n"), want);
    assert_eq!(audited(&app, "call.refuse", "rule=care_hours").await, 5);
}

/// The seed's pools as a configuration file, pool B dialled predictively.
fn predictive_b_config(dir: &Path) -> std::path::PathBuf {
    let text = r#"
[[pools]]
code = "A"
role = "outbound"
purposes = ["appointment_reminder"]
geographic = true

[[pools]]
code = "B"
role = "outbound"
purposes = ["results_followup"]
dialling = "predictive"

[[pools]]
code = "C"
role = "outbound"
purposes = ["coordination"]

[[pools]]
code = "D"
role = "outbound"
purposes = ["satisfaction_survey"]

[[pools]]
code = "E"
role = "inbound"

[[pools]]
code = "R"
role = "reserve"
"#;
    let path = dir.join("predictive.toml");
    std::fs::write(&path, text).expect("write the configuration");
    path
}

pub(crate) async fn numbering_is_checked_at_import_move_and_allocation(db: TestDb) {
    let mut options = law();
    options.dialling.insert(PoolCode::parse("B").expect("pool"), vigie_core::DiallingMode::Predictive);
    let numbers: Vec<Fixture> = vec![
        (A1, "A", Some(SAINT_JEAN)),
        (A2, "A", Some(SAINT_JEAN)),
        (A3, "A", Some(NANTES)),
        (NPV1, "B", None),
        (E1, "E", Some(SAINT_JEAN)),
        (R1, "R", None),
    ];
    let app = app_with(&db, options, numbers, "2026-06-10T08:00:00+02:00").await;
    // POST /v1/numbers: a geographic number cannot serve a predictive pool.
    let geo = json!({"number": "+33478100099", "pool": "B", "display_name": "Vigie Sante", "callback": "+33478000000"});
    let r = app.post("/v1/numbers", &app.keys.ops, &geo).await;
    r.expect_error(422, "invalid_request", Some("number"), "geographic into a predictive pool");
    assert!(r.str("message").contains("number_not_for_automated"), "{}", r.text);
    let npv = json!({"number": NPV2, "pool": "B", "display_name": "Vigie Sante", "callback": "+33478000000"});
    let added = app.post("/v1/numbers", &app.keys.ops, &npv).await;
    let added = added.expect(201, "an NPV into a predictive pool");
    assert_eq!((added["dialling"].as_str(), added["presentable"].as_bool()), (Some("predictive"), Some(true)));
    assert_eq!(added["labelled_canvassing"], true);
    // The same number is fine for an agent-dialled pool.
    let mut agent = geo.clone();
    agent["pool"] = json!("C");
    assert_eq!(app.post("/v1/numbers", &app.keys.ops, &agent).await.status, 201);
    // The import path (all or none), with the rule named per row.
    let rows = vec![
        NewNumber {
            number: E164::parse("+33987100077").expect("number"),
            pool: PoolCode::parse("B").expect("pool"),
            facility: None,
            display_name: "Vigie Sante".into(),
            callback: E164::parse("+33478000000").expect("callback"),
        },
        NewNumber {
            number: E164::parse("+33812345678").expect("number"),
            pool: PoolCode::parse("B").expect("pool"),
            facility: None,
            display_name: "Vigie Sante".into(),
            callback: E164::parse("+33478000000").expect("callback"),
        },
    ];
    match app.store.add_numbers(&rows, "import").await {
        Err(StoreError::Rows(problems)) => {
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert_eq!((problems[0].index, problems[0].field), (0, "number"));
            assert!(problems[0].message.starts_with("number_not_for_automated:"), "{problems:?}");
        }
        other => panic!("the import was not refused: {other:?}"),
    }
    // Moving a geographic number into the predictive pool.
    let moved = app
        .patch(&format!("/v1/numbers/{A1}"), &app.keys.ops, &json!({"action": "move", "pool": "B", "reason": "test"}))
        .await;
    moved.expect_error(422, "invalid_request", Some("pool"), "move into a predictive pool");
    assert!(moved.str("message").contains("number_not_for_automated"), "{}", moved.text);
    // A number already stored that its pool may not present (configuration changed
    // since): never given a call, and `vigie audit numbers` fails on it.
    let pool = db.pool().await;
    sqlx::query(
        "INSERT INTO numbers (e164, pool, facility, display_name, callback, category, zone, status, status_since, status_reason, created_at) \
         VALUES ('+33240100077', 'B', NULL, 'Vigie Sante', '+33478000000', 'geographic', 2, 'active', 0, 'before the pool was predictive', 0)",
    )
    .execute(&pool)
    .await
    .expect("insert behind the API's back");
    sqlx::query("UPDATE pools SET version = version + 1").execute(&pool).await.expect("bump");
    let mut given = std::collections::BTreeSet::new();
    for i in 0..40 {
        let mut c = call(
            &format!("num-{i}"),
            "results_followup",
            &format!("num-{i}"),
            "+33240000001",
            local("2026-06-10T09:00") + mins(i),
        );
        c.facility = NANTES.into();
        let r = post_at(&app, &c).await;
        given.insert(r.expect(201, "a results call")["caller_number"].as_str().expect("number").to_owned());
    }
    assert!(!given.is_empty() && given.iter().all(|n| n == NPV1 || n == NPV2), "only presentable numbers: {given:?}");
    let bad = app.number("+33240100077", &app.keys.auditor).await;
    assert_eq!(
        (bad["presentable"].as_bool(), bad["presentation_rule"].as_str()),
        (Some(false), Some("number_not_for_automated"))
    );

    let config = predictive_b_config(db.dir.path());
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(["audit", "numbers"])
        .args(db.cli_flags())
        .arg("--config")
        .arg(&config)
        .env_remove("VIGIE_DATABASE_URL")
        .env_remove("VIGIE_CONFIG")
        .output()
        .await
        .expect("vigie runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a presented number breaks a rule: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout.lines().find(|l| l.starts_with("+33240100077")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(line.contains("predictive") && line.contains("no: number_not_for_automated"), "{line}");
    let npv_line = stdout.lines().find(|l| l.starts_with(NPV1)).unwrap_or_else(|| panic!("{stdout}"));
    assert!(npv_line.contains("verified_polyvalent") && npv_line.contains(" yes "), "{npv_line}");
    assert!(npv_line.contains("missing cnam_registered_at"), "{npv_line}");
    assert!(stdout.contains(&format!("warning: {NPV1} (pool B, care calls) is in a range Orange")), "{stdout}");
    assert!(stdout.contains("1 presented numbers break a rule"), "{stdout}");
    // Once it is retired, nothing presented breaks a rule.
    let retire = json!({"action": "retire", "reason": "not for automated calling"});
    app.patch("/v1/numbers/+33240100077", &app.keys.ops, &retire).await.expect(200, "retire");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(["audit", "numbers"])
        .args(db.cli_flags())
        .arg("--config")
        .arg(&config)
        .env_remove("VIGIE_DATABASE_URL")
        .env_remove("VIGIE_CONFIG")
        .output()
        .await
        .expect("vigie runs");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
}

pub(crate) async fn identity_is_patched_and_audited(db: TestDb) {
    let app = app_with(&db, law(), inventory(), "2026-06-10T08:00:00+02:00").await;
    let path = format!("/v1/numbers/{A1}");
    let before = app.number(A1, &app.keys.auditor).await;
    assert_eq!(before["callback"], "+33478000000", "every number has its callback route");
    assert_eq!(
        before["identity_missing"],
        json!(["cnam_registered_at", "directory_listed_at", "directory_name", "man_authenticated"])
    );
    let patch = json!({
        "action": "identity",
        "display_name": "St-Jean Lyon",
        "callback": "+33478000001",
        "cnam_registered_at": "2026-05-04T09:00:00+02:00",
        "directory_listed_at": "2026-05-20T09:00:00+02:00",
        "directory_name": "Clinique Saint-Jean SAS",
        "man_authenticated": true,
        "reason": "carrier and directory confirmations of May",
    });
    assert_eq!(app.patch(&path, &app.keys.dialer, &patch).await.status, 403);
    let after = app.patch(&path, &app.keys.ops, &patch).await;
    let after = after.expect(200, "identity").clone();
    assert_eq!(after["display_name"], "St-Jean Lyon");
    assert_eq!(after["callback"], "+33478000001");
    assert_eq!(after["directory_name"], "Clinique Saint-Jean SAS");
    assert_eq!(after["man_authenticated"], true);
    assert_eq!(after["cnam_registered_at"].as_str().map(show), Some("Mon 2026-05-04T09:00+02:00".to_owned()));
    assert_eq!(after["identity_missing"], json!([]));
    assert_eq!(app.number(A1, &app.keys.auditor).await["directory_name"], "Clinique Saint-Jean SAS");
    // A partial update keeps the other fields.
    let partial = json!({"action": "identity", "man_authenticated": false, "reason": "carrier lost MAN signing"});
    let partial = app.patch(&path, &app.keys.ops, &partial).await.expect(200, "partial").clone();
    assert_eq!(
        (partial["man_authenticated"].as_bool(), partial["directory_name"].as_str()),
        (Some(false), Some("Clinique Saint-Jean SAS"))
    );
    // The new displayed name is what the next allocation answers.
    let c = call("identity-0", "appointment_reminder", "identity-0", PATIENT_LYON, local("2026-06-10T09:00"));
    let answered = post_at(&app, &c).await;
    let answered = answered.expect(201, "a reminder");
    if answered["caller_number"] == A1 {
        assert_eq!(answered["display_name"], "St-Jean Lyon");
    }
    // Bad identity updates.
    let cases = [
        (json!({"action": "identity", "reason": "nothing"}), "action"),
        (json!({"action": "identity", "callback": "hello", "reason": "x"}), "callback"),
        (
            json!({"action": "identity", "cnam_registered_at": "2027-01-01T00:00:00Z", "reason": "x"}),
            "cnam_registered_at",
        ),
        (json!({"action": "identity", "directory_name": "", "reason": "x"}), "directory_name"),
        (json!({"action": "identity", "man_authenticated": true}), "reason"),
        (json!({"action": "identity", "man_authenticated": "yes", "reason": "x"}), "man_authenticated"),
    ];
    for (body, field) in cases {
        app.patch(&path, &app.keys.ops, &body).await.expect_error(
            422,
            "invalid_request",
            Some(field),
            &body.to_string(),
        );
    }
    assert_eq!(app.patch("/v1/numbers/+33145999999", &app.keys.ops, &patch).await.status, 404);
    assert_eq!(audited(&app, "number.identity", "reason=carrier and directory confirmations of May").await, 1);
    assert_eq!(audited(&app, "number.identity", "man_authenticated=false").await, 1);
    assert!(app.store.verify_audit().await.expect("verify").problem.is_none());
}

pub(crate) async fn bloctel_import_from_the_command_line(db: TestDb) {
    let (key, key_hex) = vigie_store::PseudonymKey::generate();
    let file = db.dir.path().join("bloctel.txt");
    let run = |file: std::path::PathBuf, date: &'static str| {
        let db = db.clone();
        let key_hex = key_hex.clone();
        async move {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_vigie"))
                .args(["bloctel", "import"])
                .arg(&file)
                .args(["--file-date", date])
                .args(db.cli_flags())
                .env("VIGIE_PSEUDONYM_KEY", key_hex)
                .env_remove("VIGIE_DATABASE_URL")
                .env_remove("VIGIE_CONFIG")
                .output()
                .await
                .expect("vigie runs")
        }
    };
    std::fs::write(&file, "# scrub of 2026-07-20\n+33472009999\n0472009998\n\n").expect("write the list");
    let out = run(file.clone(), "2026-07-20").await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("2 numbers"), "{stdout}");
    // A bad line replaces nothing.
    let bad = db.dir.path().join("bad.txt");
    std::fs::write(&bad, "+33472009997\nnot a number\n").expect("write the list");
    let out = run(bad, "2026-07-21").await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2"), "{}", String::from_utf8_lossy(&out.stderr));
    // A server with the same pseudonym key finds the numbers by their hashes.
    let now = ts("2026-08-10T08:00:00+02:00");
    let options = vigie_store::StoreOptions {
        pseudonym_key: Some(key),
        compliance: law(),
        ..vigie_store::StoreOptions::new(db.url.clone())
    };
    let store = vigie_store::Store::open(
        &options,
        vigie_core::Catalog::seed_defaults(),
        vigie_store::generate_data_key().0,
        vigie_core::Calendar::paris(),
        std::sync::Arc::new(move || now),
    )
    .await
    .expect("the store opens with the key the list was hashed with");
    let facility = vigie_store::Facility {
        id: FacilityId::parse(SAINT_JEAN).expect("facility"),
        name: "Clinique Saint-Jean SAS".into(),
        display_name: "Clinique St-Jean".into(),
        city: "Lyon".into(),
        callback: E164::parse("+33478000000").expect("callback"),
    };
    store.upsert_facility(&facility, "test").await.expect("facility");
    let number = NewNumber {
        number: E164::parse(D1).expect("number"),
        pool: PoolCode::parse("D").expect("pool"),
        facility: None,
        display_name: "Vigie Sante".into(),
        callback: E164::parse("+33478000000").expect("callback"),
    };
    store.add_numbers(&[number], "test").await.expect("a number");
    let survey = |call_ref: &str, phone: &str| vigie_store::NewCall {
        call_ref: call_ref.into(),
        facility: facility.id.clone(),
        purpose: purpose(SURVEY),
        patient_ref: call_ref.into(),
        patient_phone: E164::parse(phone).expect("phone"),
        dial_at: local("2026-08-10T10:30"),
    };
    for (call_ref, phone) in [("listed-1", "+33472009999"), ("listed-2", "+33472009998")] {
        match store.allocate(survey(call_ref, phone), "test").await {
            Err(StoreError::Rule(r)) => assert_eq!(r.rule, vigie_core::CallRule::BloctelListed, "{call_ref}"),
            other => panic!("{call_ref}: not refused as listed: {other:?}"),
        }
    }
    store.allocate(survey("free", PATIENT_LYON), "test").await.expect("a number not on the list");
    let entries = store.audit_entries(100).await.expect("audit");
    assert!(
        entries.iter().any(|e| e.action == "bloctel.import" && e.detail.contains("file_date=2026-07-20 numbers=2"))
    );
}

/// `DELETE /v1/patients/{patient_ref}` by the admin; returns the erasure's counts.
async fn erase(app: &TestApp, patient: &str) -> Value {
    let reply =
        app.send(reqwest::Method::DELETE, &format!("/v1/patients/{patient}"), Some(&app.keys.admin), None).await;
    reply.expect(200, &format!("erasing {patient}")).clone()
}

/// `GET /v1/patients/{patient_ref}/export` by the admin.
async fn export(app: &TestApp, patient: &str) -> Value {
    let reply = app.get(&format!("/v1/patients/{patient}/export"), &app.keys.admin).await;
    reply.expect(200, &format!("exporting {patient}")).clone()
}

/// The kinds of a patient's opposition records in an export, counted.
fn opposition_kinds(export: &Value) -> std::collections::BTreeMap<String, usize> {
    let mut kinds = std::collections::BTreeMap::new();
    for o in export["oppositions"].as_array().expect("oppositions") {
        *kinds.entry(o["kind"].as_str().expect("kind").to_owned()).or_default() += 1;
    }
    kinds
}

/// The wording the `consent` helper records.
const WORDING: &str = "J'accepte d'être appelé(e) par la Clinique Saint-Jean pour des offres de services.";

pub(crate) async fn erasure_keeps_what_the_calling_rules_honour(db: TestDb) {
    // After the opt-in switch: consent, attempts and refusals decide.
    let app = app_with(&db, law(), inventory(), "2026-09-07T08:00:00+02:00").await;
    let given_at = "2026-09-01T10:00:00+02:00";
    for patient in ["erase-attempts", "erase-refuses", "erase-withdraws"] {
        consent(&app, patient, SAINT_JEAN, given_at).await;
    }
    // Four attempts, two of them still planned at the erasure, and a care call.
    let mut attempt_ids = Vec::new();
    for (i, at) in ["2026-09-07T10:00", "2026-09-07T11:00", "2026-09-08T10:00", "2026-09-08T11:00"].iter().enumerate() {
        let c = call(&format!("erase-attempt-{i}"), SURVEY, "erase-attempts", PATIENT_LYON, local(at));
        app.clock.set(local("2026-09-07T08:00"));
        let r = app.post("/v1/calls", &app.keys.dialer, &c.json()).await;
        attempt_ids.push(r.expect(201, "an attempt")["call_id"].as_i64().expect("call id"));
    }
    let care = call("erase-care", "appointment_reminder", "erase-attempts", PATIENT_LYON, local("2026-09-07T09:00"));
    let care_id = app.post("/v1/calls", &app.keys.dialer, &care.json()).await.expect(201, "a care call")["call_id"]
        .as_i64()
        .expect("call id");
    // A refusal during a call.
    let c = call("erase-refuse-0", SURVEY, "erase-refuses", PATIENT_LYON, local("2026-09-07T10:00"));
    let refused_id = app.post("/v1/calls", &app.keys.dialer, &c.json()).await.expect(201, "a survey")["call_id"]
        .as_i64()
        .expect("id");
    app.clock.set(local("2026-09-07T10:06"));
    let refused_at = local("2026-09-07T10:05");
    let outcome = json!({"outcome": "answered", "duration_s": 60, "ended_at": refused_at.to_string(), "solicitation_refused": true});
    app.post(&format!("/v1/calls/{refused_id}/outcome"), &app.keys.dialer, &outcome).await.expect(200, "outcome");
    // A withdrawal.
    let listed = app.get("/v1/consents?patient_ref=erase-withdraws", &app.keys.ops).await;
    let withdraw = format!("/v1/consents/{}/withdraw", listed.expect(200, "consents")[0]["consent_id"]);
    let body = json!({"withdrawn_at": "2026-09-05T10:00:00+02:00"});
    app.post(&withdraw, &app.keys.ops, &body).await.expect(200, "withdraw");

    // GET /v1/calls/{id} shows the class and the refusal.
    let seen = app.call(refused_id, &app.keys.auditor).await;
    assert_eq!(seen["purpose_class"], "survey_with_promotion");
    assert_eq!(seen["solicitation_refused_at"].as_str().map(ts), Some(refused_at));
    let seen = app.call(care_id, &app.keys.auditor).await;
    assert_eq!((&seen["purpose_class"], &seen["solicitation_refused_at"]), (&json!("care"), &Value::Null));

    // The export holds the consent records and the refusals (Article 15).
    let before = export(&app, "erase-attempts").await;
    assert_eq!(before["calls"].as_array().map(Vec::len), Some(5), "{before:#}");
    let consents = before["consents"].as_array().expect("consents");
    assert_eq!(consents.len(), 1, "{before:#}");
    let c = &consents[0];
    assert_eq!((c["wording"].as_str(), c["method"].as_str()), (Some(WORDING), Some("web_form")));
    assert_eq!(c["proof"], "form 2026-0042, box ticked by the patient");
    assert_eq!((c["facility"].as_str(), c["state"].as_str()), (Some(SAINT_JEAN), Some("given")));
    assert_eq!((c["given_at"].as_str().map(ts), &c["withdrawn_at"]), (Some(ts(given_at)), &Value::Null));
    assert_eq!(before["oppositions"], json!([]));
    let refuses = export(&app, "erase-refuses").await;
    assert_eq!(refuses["calls"][0]["purpose_class"], "survey_with_promotion");
    assert_eq!(refuses["calls"][0]["solicitation_refused_at"].as_str().map(ts), Some(refused_at));
    let withdraws = export(&app, "erase-withdraws").await;
    assert_eq!(withdraws["consents"][0]["state"], "withdrawn");
    assert_eq!(withdraws["consents"][0]["withdrawn_at"].as_str().map(ts), Some(ts("2026-09-05T10:00:00+02:00")));

    // Erasure (Article 17): the consent records go; the opposition records stay.
    let erased = erase(&app, "erase-attempts").await;
    assert_eq!(
        (&erased["calls_erased"], &erased["consents_erased"], &erased["oppositions_kept"]),
        (&json!(5), &json!(1), &json!(5)),
        "four attempts and the end of the consent: {erased}"
    );
    let erased = erase(&app, "erase-refuses").await;
    assert_eq!((&erased["consents_erased"], &erased["oppositions_kept"]), (&json!(1), &json!(3)), "{erased}");
    let erased = erase(&app, "erase-withdraws").await;
    assert_eq!((&erased["calls_erased"], &erased["oppositions_kept"]), (&json!(0), &json!(1)), "{erased}");
    assert_eq!(audited(&app, "patient.erase", "consents=1 oppositions_kept=5").await, 1);

    // No phone, no wording, no reference: the opposition records hold the pseudonym,
    // the facility, the class and an instant only.
    let pool = db.pool().await;
    let left: i64 = sqlx::query("SELECT COUNT(*) FROM consents").fetch_one(&pool).await.expect("count").get(0);
    assert_eq!(left, 0, "the consent records are gone");
    let pseudonyms: Vec<String> =
        ["erase-attempts", "erase-refuses", "erase-withdraws"].iter().map(|p| app.store.pseudonym(p)).collect();
    let rows = sqlx::query("SELECT patient_ref, facility, kind, class, at FROM oppositions").fetch_all(&pool).await;
    let rows = rows.expect("oppositions");
    assert_eq!(rows.len(), 9);
    for r in &rows {
        assert!(pseudonyms.contains(&r.get::<String, _>(0)), "keyed by the pseudonym");
        assert_eq!(r.get::<String, _>(1), SAINT_JEAN);
        assert!(["attempt", "refusal", "consent_ended"].contains(&r.get::<String, _>(2).as_str()));
        let class: Option<String> = r.get(3);
        assert!(class.as_deref().is_none_or(|c| c == "survey_with_promotion"), "{class:?}");
    }
    let phones: Vec<Vec<u8>> = sqlx::query("SELECT patient_phone FROM calls WHERE call_ref LIKE 'erased:%'")
        .fetch_all(&pool)
        .await
        .expect("calls")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(phones.len() == 6 && phones.iter().all(Vec::is_empty), "the phones are gone");
    for table in ["calls", "consents", "oppositions", "audit_log"] {
        let sql = format!("SELECT * FROM {table}");
        let dump: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&pool)
            .await
            .expect("rows")
            .iter()
            .flat_map(|r| {
                (0..r.len()).filter_map(|i| r.try_get::<Option<String>, _>(i).ok().flatten()).collect::<Vec<_>>()
            })
            .collect();
        assert!(
            !dump.iter().any(|v| v.contains("J'accepte") || v.contains("erase-attempts") || v.contains("472000001")),
            "wording, reference or phone left in {table}"
        );
    }
    let after = export(&app, "erase-attempts").await;
    assert_eq!((&after["calls"], &after["consents"]), (&json!([]), &json!([])));
    let want = std::collections::BTreeMap::from([("attempt".to_owned(), 4), ("consent_ended".to_owned(), 1)]);
    assert_eq!(opposition_kinds(&after), want, "{after:#}");
    assert!(after["oppositions"].as_array().expect("list").iter().all(|o| o.get("wording").is_none()));

    // The rules still honour the patient's choices. Without fresh consent: withdrawn
    // (the erasure ended the consent), not missing as for a stranger.
    let rows = [
        ("attempts, no fresh consent", "erase-attempts", "2026-09-09T10:00"),
        ("withdrawn", "erase-withdraws", "2026-09-08T10:30"),
        ("a stranger", "erase-stranger", "2026-09-08T10:30"),
    ];
    let mut got = Vec::new();
    for (i, (label, patient, at)) in rows.iter().enumerate() {
        let c = call(&format!("after-erasure-{i}"), SURVEY, patient, PATIENT_LYON, local(at));
        got.push(format!("{label}: {}", verdict(&post_at(&app, &c).await)));
    }
    // With fresh consent, the attempts and the refusal still count.
    app.clock.set(local("2026-09-07T10:10"));
    consent(&app, "erase-attempts", SAINT_JEAN, "2026-09-07T10:08:00+02:00").await;
    consent(&app, "erase-refuses", SAINT_JEAN, "2026-09-07T10:08:00+02:00").await;
    let rows = [
        ("5th attempt, fresh consent", "erase-attempts", "2026-09-09T10:00"),
        ("refused, day 1", "erase-refuses", "2026-09-08T10:30"),
        ("refused, day 59", "erase-refuses", "2026-11-05T10:05"),
        ("refused, day 60", "erase-refuses", "2026-11-06T10:05"),
    ];
    for (i, (label, patient, at)) in rows.iter().enumerate() {
        let c = call(&format!("after-consent-{i}"), SURVEY, patient, PATIENT_LYON, local(at));
        got.push(format!("{label}: {}", verdict(&post_at(&app, &c).await)));
    }
    let want = "\
attempts, no fresh consent: consent_withdrawn next=none
withdrawn: consent_withdrawn next=none
a stranger: consent_missing next=none
5th attempt, fresh consent: attempts_limit next=Wed 2026-10-07T10:00+02:00
refused, day 1: refusal_cooldown next=Fri 2026-11-06T10:05+01:00
refused, day 59: refusal_cooldown next=Fri 2026-11-06T10:05+01:00
refused, day 60: ok";
    assert_eq!(got.join("\n"), want);
    // Care calls are not solicitation: the erased patient can still be reminded.
    let care =
        call("erase-care-after", "appointment_reminder", "erase-refuses", PATIENT_LYON, local("2026-11-06T11:00"));
    assert_eq!(verdict(&post_at(&app, &care).await), "ok");
    assert!(app.store.verify_audit().await.expect("verify").problem.is_none(), "the audit chain verifies");
}

pub(crate) async fn retention_purges_consents_and_oppositions(db: TestDb) {
    let app = app_with(&db, law(), inventory(), "2026-09-07T08:00:00+02:00").await;
    let given_at = "2026-09-01T10:00:00+02:00";
    let withdrawn = consent(&app, "keep-withdrawn", SAINT_JEAN, given_at).await;
    let withdraw = format!("/v1/consents/{}/withdraw", withdrawn["consent_id"]);
    let body = json!({"withdrawn_at": "2026-09-02T10:00:00+02:00"});
    app.post(&withdraw, &app.keys.ops, &body).await.expect(200, "withdraw");
    for patient in ["keep-used", "keep-unused", "keep-erased"] {
        consent(&app, patient, SAINT_JEAN, given_at).await;
    }
    // keep-used is called once; keep-erased is called, refuses, and is erased.
    for (call_ref, patient) in [("used-0", "keep-used"), ("erased-0", "keep-erased")] {
        let c = call(call_ref, SURVEY, patient, PATIENT_LYON, local("2026-09-07T10:00"));
        app.post("/v1/calls", &app.keys.dialer, &c.json()).await.expect(201, "a survey");
    }
    let pool = db.pool().await;
    let id: i64 =
        sqlx::query("SELECT id FROM calls WHERE call_ref = 'erased-0'").fetch_one(&pool).await.expect("id").get(0);
    app.clock.set(local("2026-09-07T10:06"));
    let outcome = json!({"outcome": "answered", "duration_s": 30, "ended_at": local("2026-09-07T10:05").to_string(), "solicitation_refused": true});
    app.post(&format!("/v1/calls/{id}/outcome"), &app.keys.dialer, &outcome).await.expect(200, "outcome");
    let erased = erase(&app, "keep-erased").await;
    assert_eq!(erased["oppositions_kept"], 3, "an attempt, a refusal, the end of the consent: {erased}");

    let retention = vigie_store::Retention { calls_days: 60, reports_days: 60, audit_days: 60, consents_days: 100 };
    let kinds = || async {
        let rows = sqlx::query("SELECT kind FROM oppositions ORDER BY at").fetch_all(&pool).await.expect("kinds");
        rows.iter().map(|r| r.get::<String, _>(0)).collect::<Vec<_>>()
    };
    let consents = || async {
        let rows = sqlx::query("SELECT patient_ref FROM consents ORDER BY id").fetch_all(&pool).await.expect("refs");
        let names = ["keep-withdrawn", "keep-used", "keep-unused", "keep-erased"];
        rows.iter()
            .map(|r| {
                let p: String = r.get(0);
                names.iter().find(|n| app.store.pseudonym(n) == p).copied().unwrap_or("?")
            })
            .collect::<Vec<_>>()
    };
    // (now, calls, consents, oppositions removed): the attempt after its 30 days (and
    // two), the refusal after its 60, the withdrawn and the never used consents 100
    // days after their withdrawal or their giving, the used one 100 days after its last
    // call (purged long before), the end of the erased patient's consent 100 days later.
    let steps = [
        (
            "2026-10-12T08:00",
            0,
            0,
            1,
            vec!["refusal", "consent_ended"],
            vec!["keep-withdrawn", "keep-used", "keep-unused"],
        ),
        ("2026-11-09T08:00", 2, 0, 1, vec!["consent_ended"], vec!["keep-withdrawn", "keep-used", "keep-unused"]),
        ("2026-12-12T08:00", 0, 2, 0, vec!["consent_ended"], vec!["keep-used"]),
        ("2026-12-20T08:00", 0, 1, 1, vec![], vec![]),
    ];
    for (at, calls, removed_consents, removed_oppositions, left_kinds, left_consents) in steps {
        // The purge runs at the store's now, as the daily worker does (an audit entry
        // written before the audit cutoff would be purged again and again).
        let now = local(at);
        app.clock.set(now);
        let dry = app.store.purge(&retention, now, true, "test").await.expect("a dry run");
        let done = app.store.purge(&retention, now, false, "test").await.expect("a purge");
        assert_eq!(
            (done.calls, done.consents, done.oppositions),
            (calls, removed_consents, removed_oppositions),
            "{at}"
        );
        assert_eq!(
            (dry.calls, dry.consents, dry.oppositions),
            (calls, removed_consents, removed_oppositions),
            "dry run {at}"
        );
        assert_eq!(kinds().await, left_kinds, "{at}");
        assert_eq!(consents().await, left_consents, "{at}");
        assert!(app.store.verify_audit().await.expect("verify").problem.is_none(), "the chain verifies after {at}");
    }
    let purges = app.store.audit_entries(100).await.expect("audit");
    assert!(purges.iter().any(|e| e.action == "retention.purge" && e.detail.contains("consents=1 oppositions=1")));
}
