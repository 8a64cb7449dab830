//! The allocation rules through the real router and store: refusals with the pool and
//! when capacity returns, the cap under concurrent requests, rests across the DST
//! changes of Europe/Paris, and reserve promotion; on SQLite, the WAL kept short under
//! a steady stream of allocations.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::json;
use tokio::sync::Semaphore;
use vigie_core::Policy;

use crate::helpers::{
    A1, A2, A3, CallReq, NANTES, PATIENT_LYON, SAINT_JEAN, Setup, TestDb, assert_cap_held_in_db, catalog_with_a, hours,
    mins, small_cap, spawn_app_with, ts,
};

/// A fourth number for pool A (Nantes).
const A4: &str = "+33240100004";

/// Pool A with two numbers for each facility.
const FOUR_IN_A: &[crate::helpers::Fixture] =
    &[(A1, "A", Some(SAINT_JEAN)), (A2, "A", Some(SAINT_JEAN)), (A3, "A", Some(NANTES)), (A4, "A", Some(NANTES))];

pub(crate) async fn no_capacity_names_the_pool_and_when_it_returns(db: TestDb) {
    let setup = Setup {
        catalog: catalog_with_a(small_cap(2)),
        numbers: vec![(A1, "A", Some(SAINT_JEAN)), (A2, "A", Some(SAINT_JEAN))],
        ..Setup::default()
    };
    let app = spawn_app_with(&db, setup).await;
    let (key, ops) = (&app.keys.dialer, &app.keys.ops);
    let ten = ts("2026-06-10T10:00:00+02:00");
    let quarantine = json!({"action": "quarantine", "reason": "kept out for the test"});
    app.patch(&format!("/v1/numbers/{A2}"), ops, &quarantine).await.expect(200, "quarantine A2");

    for i in 0..2 {
        let r = app.post("/v1/calls", key, &CallReq::new(&format!("nc-{i}"), ten + mins(i)).json()).await;
        assert_eq!(r.expect(201, "within the cap")["caller_number"], A1, "a quarantined number is never given");
    }
    let refused = CallReq::new("nc-2", ten + mins(2));
    let r = app.post("/v1/calls", key, &refused.json()).await;
    r.expect_error(409, "no_capacity", None, "the only active number is at its cap");
    assert_eq!(r.body["pool"], "A", "{}", r.text);
    assert_eq!(
        r.body["retry_at"].as_str().map(ts),
        Some(ts("2026-06-10T22:00:00Z")),
        "capacity returns at Paris midnight: {}",
        r.text
    );
    assert!(r.body.get("call_id").is_none(), "{}", r.text);
    // The next local day has room.
    let r = app.post("/v1/calls", key, &CallReq::new("nc-tomorrow", ts("2026-06-11T00:05:00+02:00")).json()).await;
    assert_eq!(r.expect(201, "just after Paris midnight")["caller_number"], A1);
    let tomorrow_id = r.body["call_id"].as_i64().expect("call_id");
    let r = app.post("/v1/calls", key, &CallReq::new("nc-late", ts("2026-06-10T23:55:00+02:00")).json()).await;
    r.expect_error(409, "no_capacity", None, "late on the full day");

    // A refused call left nothing behind: released capacity takes it as new.
    let release = json!({"action": "release", "reason": "back"});
    app.patch(&format!("/v1/numbers/{A2}"), ops, &release).await.expect(200, "release A2");
    let r = app.post("/v1/calls", key, &refused.json()).await;
    assert_eq!(r.expect(201, "the refused call, now that A2 is back")["caller_number"], A2);
    app.post("/v1/calls", key, &CallReq::new("nc-3", ten + mins(3)).json()).await.expect(201, "A2's second call");
    let r = app.post("/v1/calls", key, &CallReq::new("nc-4", ten + mins(4)).json()).await;
    r.expect_error(409, "no_capacity", None, "both numbers at the cap");
    let today = app.calls_today(key).await;
    assert_eq!((today[A1], today[A2]), (2, 2), "{today:?}");

    // No active number at all: refused, with no promise of a time. Once today's calls
    // are dialled, retiring the numbers leaves only tomorrow's call without one.
    app.clock.set(ts("2026-06-10T10:30:00+02:00"));
    for n in [A1, A2] {
        let retire = json!({"action": "retire", "reason": "end of contract"});
        app.patch(&format!("/v1/numbers/{n}"), ops, &retire).await.expect(200, "retire");
    }
    let r = app.post("/v1/calls", key, &CallReq::new("nc-5", ts("2026-06-12T10:00:00+02:00")).json()).await;
    r.expect_error(409, "no_capacity", None, "every number retired");
    assert_eq!(r.body["pool"], "A");
    assert!(r.body["retry_at"].is_null(), "no time is promised: {}", r.text);
    let b = CallReq::new("nc-b", app.clock.now() + hours(1)).purpose("results_followup");
    let r = app.post("/v1/calls", key, &b.json()).await;
    r.expect_error(409, "no_capacity", None, "a pool with no numbers");
    assert_eq!(r.body["pool"], "B");
    let tomorrow = app.call(tomorrow_id, key).await;
    assert_eq!(tomorrow["status"], "needs_number", "{tomorrow}");
    assert!(tomorrow["caller_number"].is_null(), "{tomorrow}");
    let again = app.post("/v1/calls", key, &CallReq::new("nc-tomorrow", ts("2026-06-11T00:05:00+02:00")).json()).await;
    again.expect_error(409, "no_capacity", None, "asking again for tomorrow's call with no number left");

    let pool = app.db.pool().await;
    assert_eq!(assert_cap_held_in_db(&pool, 2).await, 4, "the four calls of 10 June keep their numbers");
}

pub(crate) async fn the_cap_holds_under_concurrent_requests(db: TestDb) {
    const CAP: u32 = 5;
    const REQUESTS: usize = 400;
    let numbers = FOUR_IN_A.to_vec();
    let setup = Setup { catalog: catalog_with_a(small_cap(CAP)), numbers, ..Setup::default() };
    let app = spawn_app_with(&db, setup).await;
    let now = app.clock.now();
    let gate = Arc::new(Semaphore::new(200));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..REQUESTS {
        let mut call =
            CallReq::new(&format!("cc-{i}"), now + hours(1) + mins((i % 2) as i64 * 24 * 60 + (i % 600) as i64))
                .patient(&format!("cc-patient-{}", i % 50));
        if i % 3 == 0 {
            call.facility = NANTES.into();
            call.patient_phone = "+33240000002".into();
        } else {
            call.patient_phone = PATIENT_LYON.into();
        }
        let (api, key, gate) = (app.api.clone(), app.keys.dialer.clone(), Arc::clone(&gate));
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await.expect("semaphore");
            api.post("/v1/calls", &key, &call.json()).await
        });
    }
    let replies = tasks.join_all().await;
    let created = replies.iter().filter(|r| r.status == 201).count();
    let refused = replies.iter().filter(|r| r.status == 409 && r.body["error"] == "no_capacity").count();
    let odd: Vec<_> = replies.iter().filter(|r| r.status != 201 && r.status != 409).collect();
    assert!(odd.is_empty(), "only 201 or no_capacity expected: {odd:?}");
    assert_eq!(created + refused, REQUESTS, "every request is either allocated or refused");
    assert_eq!(created, 4 * CAP as usize * 2, "four numbers filled to the cap on two days, and no more");
    let metrics = app.store.metrics();
    assert_eq!(metrics.allocations.load(Ordering::SeqCst), created as u64, "the store counted the allocations");
    assert_eq!(metrics.no_capacity.load(Ordering::SeqCst), refused as u64, "the store counted the refusals");

    // Today's and tomorrow's counts as the API shows them.
    for day in 0..2 {
        let counts = app.calls_today(&app.keys.auditor).await;
        assert!(counts.values().all(|&c| c <= u64::from(CAP)), "day {day}: a number over the cap: {counts:?}");
        assert_eq!(counts.values().sum::<u64>(), 4 * u64::from(CAP), "day {day}: {counts:?}");
        app.clock.advance(hours(24));
    }
    // And in the database, by the calls themselves.
    let pool = app.db.pool().await;
    assert_eq!(assert_cap_held_in_db(&pool, i64::from(CAP)).await, created as i64);
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM calls").fetch_one(&pool).await.expect("count");
    assert_eq!(rows, created as i64, "a refused call is not stored");
}

/// Concurrent allocations in small batches (on PostgreSQL the writer overlaps one
/// batch's commit with the next one's lock and reads): each patient keeps the number
/// that called them, whichever batch saw their previous call, and a call_ref sent
/// twice gets one call and the same answer twice, recognised rather than caught by the
/// unique index (no batch fails).
pub(crate) async fn consecutive_batches_see_each_others_calls(db: TestDb) {
    const PATIENTS: usize = 24;
    let numbers = FOUR_IN_A.to_vec();
    let setup = Setup { numbers, batch_max: Some(4), ..Setup::default() };
    let app = spawn_app_with(&db, setup).await;
    let dial_at = app.clock.now() + hours(2);
    // Each patient's first call is for Nantes (a Nantes phone), the second for
    // Saint-Jean (a Lyon phone): without the number that last called them, each would
    // go to its own facility's numbers. Every request is sent twice.
    let call = |patient: usize, second: bool| {
        let mut call = CallReq::new(&format!("cb-{patient}-{}", u8::from(second)), dial_at + mins(patient as i64))
            .patient(&format!("cb-patient-{patient}"));
        if !second {
            call.facility = NANTES.into();
            call.patient_phone = "+33240000002".into();
        }
        call
    };
    // In blocks of four (a batch each, as they arrive): the first calls of two
    // patients with the second calls of the two before them, so that a patient's two
    // calls mostly come in consecutive batches; then every request again.
    let blocks: Vec<(usize, bool)> = (0..=PATIENTS / 2)
        .flat_map(|k| [(2 * k, false), (2 * k + 1, false), (2 * k + PATIENTS - 2, true), (2 * k + PATIENTS - 1, true)])
        .filter_map(|(p, second)| {
            let p = if second { p.checked_sub(PATIENTS)? } else { p };
            (p < PATIENTS).then_some((p, second))
        })
        .collect();
    assert_eq!(blocks.len(), 2 * PATIENTS, "every call once");
    let order: Vec<(usize, bool)> = blocks.iter().chain(&blocks).copied().collect();
    let mut tasks = tokio::task::JoinSet::new();
    for (patient, second) in order {
        let (api, key, call) = (app.api.clone(), app.keys.dialer.clone(), call(patient, second));
        tasks.spawn(async move {
            (call.call_ref.clone(), call.patient_ref.clone(), api.post("/v1/calls", &key, &call.json()).await)
        });
    }
    let mut by_ref: std::collections::BTreeMap<String, Vec<(u16, i64, String)>> = Default::default();
    let mut by_patient: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> = Default::default();
    for (call_ref, patient, r) in tasks.join_all().await {
        assert!(r.status == 201 || r.status == 200, "{call_ref}: {} {}", r.status, r.text);
        let number = r.body["caller_number"].as_str().unwrap_or_else(|| panic!("a number: {}", r.text)).to_owned();
        let id = r.body["call_id"].as_i64().unwrap_or_else(|| panic!("call_id: {}", r.text));
        by_ref.entry(call_ref).or_default().push((r.status, id, number.clone()));
        by_patient.entry(patient).or_default().insert(number);
    }
    assert_eq!(by_ref.len(), 2 * PATIENTS);
    for (call_ref, answers) in &by_ref {
        let mut statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 201], "{call_ref}: created once, then recognised: {answers:?}");
        assert_eq!((&answers[0].1, &answers[0].2), (&answers[1].1, &answers[1].2), "{call_ref}: one answer");
    }
    for (patient, numbers) in &by_patient {
        assert_eq!(numbers.len(), 1, "{patient} keeps the number that called them: {numbers:?}");
    }
    let pool = app.db.pool().await;
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM calls").fetch_one(&pool).await.expect("count");
    assert_eq!(rows, 2 * PATIENTS as i64, "one call per call_ref");
    let metrics = app.store.metrics();
    assert_eq!(metrics.failed_batches.load(Ordering::SeqCst), 0, "no batch failed");
    assert!(metrics.batches.load(Ordering::SeqCst) >= (4 * PATIENTS / 4) as u64, "batches of at most four");
    if db.backend == crate::helpers::Backend::Postgres {
        assert!(
            metrics.overlapped_batches.load(Ordering::SeqCst) > 0,
            "some batches overlapped their predecessor's commit"
        );
        assert!(metrics.guarded_batches.load(Ordering::SeqCst) > 0, "some batches were decided without the lock");
        assert_eq!(metrics.head_conflicts.load(Ordering::SeqCst), 0, "one writer never finds another");
    }
}

/// The PostgreSQL writer's reader connections cut under it (a restart, an
/// administrator's `pg_terminate_backend`): the batch reads on its own connection and
/// no allocation fails; the readers are opened again. On SQLite there are none, and the
/// allocations simply go on.
pub(crate) async fn the_writer_goes_on_when_its_readers_are_cut(db: TestDb) {
    let app = spawn_app_with(&db, Setup::default()).await;
    let pool = app.db.pool().await;
    let postgres = db.backend == crate::helpers::Backend::Postgres;
    let readers = || async {
        if !postgres {
            return 0;
        }
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1",
        )
        .bind(vigie_store::WRITER_READER_NAME)
        .fetch_one(&pool)
        .await
        .expect("count the readers")
    };
    let start = app.clock.now() + hours(1);
    let first = app.post("/v1/calls", &app.keys.dialer, &CallReq::new("rc-1", start).json()).await;
    first.expect(201, "a first call opens the readers");
    assert_eq!(readers().await, if postgres { 2 } else { 0 }, "two readers on PostgreSQL");
    if postgres {
        let cut: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1",
        )
        .bind(vigie_store::WRITER_READER_NAME)
        .fetch_all(&pool)
        .await
        .expect("terminate the readers");
        assert_eq!(cut, [true, true]);
    }
    // The same patient again: the number that called them is read even so.
    for i in 2..=4 {
        let call = CallReq::new(&format!("rc-{i}"), start + mins(i)).patient("pat-rc-1");
        let r = app.post("/v1/calls", &app.keys.dialer, &call.json()).await;
        assert_eq!(r.expect(201, "allocated with the readers cut")["caller_number"], first.body["caller_number"]);
    }
    assert_eq!(app.store.metrics().failed_batches.load(Ordering::SeqCst), 0, "no batch failed");
    assert_eq!(readers().await, if postgres { 2 } else { 0 }, "the readers are open again");
}

/// Three intensive days of one number, then its rest.
struct RestScenario {
    /// 10:00 local on each of the three days.
    days: [&'static str; 3],
    /// The third day as a local date.
    third_day: &'static str,
    /// The end of the third day (the next local midnight), as an instant.
    end: &'static str,
    /// The end of the rest, 48 hours later.
    until: &'static str,
}

/// Pool A with one number, 2 calls make a day intensive, 3 the cap, 3 intensive days
/// in a row start a 48-hour rest.
fn rest_policy() -> Policy {
    Policy {
        calls_per_day_max: 3,
        intensive_calls_min: 2,
        intensive_days_before_rest: 3,
        rest_hours: 48,
        healthy_calls_per_day: 3,
        geographic: true,
        ..Policy::default()
    }
}

async fn rest_after_three_intensive_days(db: TestDb, s: RestScenario) {
    let (end, until) = (ts(s.end), ts(s.until));
    assert_eq!(until, end + hours(48), "the scenario's own arithmetic");
    let setup = Setup {
        catalog: catalog_with_a(rest_policy()),
        numbers: vec![(A1, "A", Some(SAINT_JEAN))],
        now: ts(s.days[0]) - hours(2),
        ..Setup::default()
    };
    let app = spawn_app_with(&db, setup).await;
    let key = &app.keys.dialer;
    for (d, day) in s.days.iter().enumerate() {
        for i in 0..3 {
            let call = CallReq::new(&format!("rest-{d}-{i}"), ts(day) + mins(5 * i));
            let r = app.post("/v1/calls", key, &call.json()).await;
            assert_eq!(r.expect(201, &format!("day {d} call {i}"))["caller_number"], A1);
        }
    }
    let over = app.post("/v1/calls", key, &CallReq::new("rest-over", ts(s.days[0]) + hours(1)).json()).await;
    over.expect_error(409, "no_capacity", None, "a fourth call on the first day");

    // Nothing from the last minute of the third day until the rest ends.
    for (what, at) in [
        ("last minute of the third day", end - mins(1)),
        ("just after the third day", end + mins(1)),
        ("a day into the rest", end + hours(24)),
        ("the rest's last minute", until - mins(1)),
    ] {
        let r = app.post("/v1/calls", key, &CallReq::new(&format!("rest-probe-{}", at.as_second()), at).json()).await;
        r.expect_error(409, "no_capacity", None, what);
        assert_eq!(r.body["pool"], "A");
        assert_eq!(
            r.body["retry_at"].as_str().map(ts),
            Some(until),
            "{what}: capacity returns when the rest ends: {}",
            r.text
        );
    }
    let r = app.post("/v1/calls", key, &CallReq::new("rest-back", until).json()).await;
    assert_eq!(r.expect(201, "the instant the rest ends")["caller_number"], A1);

    // The history records the rest, exactly end of the third day + 48 h.
    let n = app.number(A1, key).await;
    let events = n["history"].as_array().expect("history");
    let rests: Vec<_> = events.iter().filter(|e| e["state"] == "resting").collect();
    assert_eq!(rests.len(), 1, "one rest: {n}");
    assert_eq!(rests[0]["until"].as_str().map(ts), Some(until), "{n}");
    assert_eq!(rests[0]["actor"], "engine");
    assert_eq!(rests[0]["pool"], "A");
    let reason = rests[0]["reason"].as_str().expect("reason");
    assert!(reason.contains("3 consecutive intensive days") && reason.contains(s.third_day), "reason: {reason}");
    let (_, history) = app.store.number(&vigie_core::E164::parse(A1).expect("A1")).await.expect("read").expect("A1");
    let rest = history.iter().find(|e| e.state == "resting").expect("the rest");
    assert!(
        rest.reason_fr.starts_with("3 jours intensifs de suite jusqu'au "),
        "in French for the dashboard: {rest:?}"
    );
    let pool = app.db.pool().await;
    let stored: Vec<(i64, i64)> =
        sqlx::query_as("SELECT from_at, until_at FROM rests").fetch_all(&pool).await.expect("rests");
    assert_eq!(stored, vec![(end.as_microsecond(), until.as_microsecond())], "the stored rest window");

    // Read during the rest and after it.
    app.clock.set(end + hours(1));
    let n = app.number(A1, key).await;
    assert_eq!(n["state"], "resting", "{n}");
    assert_eq!(n["resting_until"].as_str().map(ts), Some(until));
    let pools = app.get("/v1/pools", key).await;
    let a = pools.body.as_array().expect("pools").iter().find(|p| p["code"] == "A").cloned().expect("A");
    assert_eq!(a["numbers"]["resting"], 1, "{a}");
    assert_eq!(a["capacity_today"], 0, "a resting number has no capacity: {a}");
    app.clock.set(until);
    let n = app.number(A1, key).await;
    assert_eq!(n["state"], "active", "{n}");
    assert!(n["resting_until"].is_null(), "{n}");
}

pub(crate) async fn rest_spans_the_autumn_dst_change(db: TestDb) {
    // The rest starts at midnight CEST and ends at 23:00 CET on 26 October.
    let s = RestScenario {
        days: ["2026-10-22T10:00:00+02:00", "2026-10-23T10:00:00+02:00", "2026-10-24T10:00:00+02:00"],
        third_day: "2026-10-24",
        end: "2026-10-24T22:00:00Z",
        until: "2026-10-26T22:00:00Z",
    };
    rest_after_three_intensive_days(db, s).await;
}

pub(crate) async fn rest_after_the_25_hour_day(db: TestDb) {
    // 25 October lasts 25 hours: it ends at 23:00 UTC, and the rest 48 hours later.
    let s = RestScenario {
        days: ["2026-10-23T10:00:00+02:00", "2026-10-24T10:00:00+02:00", "2026-10-25T10:00:00+01:00"],
        third_day: "2026-10-25",
        end: "2026-10-25T23:00:00Z",
        until: "2026-10-27T23:00:00Z",
    };
    rest_after_three_intensive_days(db, s).await;
}

pub(crate) async fn rest_spans_the_spring_dst_change(db: TestDb) {
    // The rest starts at midnight CET and ends at 01:00 CEST on 31 March.
    let s = RestScenario {
        days: ["2026-03-26T10:00:00+01:00", "2026-03-27T10:00:00+01:00", "2026-03-28T10:00:00+01:00"],
        third_day: "2026-03-28",
        end: "2026-03-28T23:00:00Z",
        until: "2026-03-30T23:00:00Z",
    };
    rest_after_three_intensive_days(db, s).await;
}

pub(crate) async fn rest_after_the_23_hour_day(db: TestDb) {
    // 29 March lasts 23 hours: it ends at 22:00 UTC.
    let s = RestScenario {
        days: ["2026-03-27T10:00:00+01:00", "2026-03-28T10:00:00+01:00", "2026-03-29T10:00:00+02:00"],
        third_day: "2026-03-29",
        end: "2026-03-29T22:00:00Z",
        until: "2026-03-31T22:00:00Z",
    };
    rest_after_three_intensive_days(db, s).await;
}

pub(crate) async fn a_short_pool_gets_a_reserve_number(db: TestDb) {
    // Two reserve numbers: R_PLAIN (added first) fits nothing, R_FIT is Saint-Jean's
    // and in pool A's zone.
    const R_PLAIN: &str = "+33987100031";
    const R_FIT: &str = "+33478100041";
    let setup = Setup {
        catalog: catalog_with_a(small_cap(5)),
        numbers: vec![(A1, "A", Some(SAINT_JEAN)), (R_PLAIN, "R", None), (R_FIT, "R", Some(SAINT_JEAN))],
        ..Setup::default()
    };
    let app = spawn_app_with(&db, setup).await;
    let key = &app.keys.dialer;
    let ten = ts("2026-06-10T10:00:00+02:00");
    for i in 0..4 {
        let r = app.post("/v1/calls", key, &CallReq::new(&format!("rp-{i}"), ten + mins(i)).json()).await;
        assert_eq!(r.expect(201, "a call")["caller_number"], A1);
    }
    let n = app.number(R_FIT, key).await;
    assert_eq!(
        (n["pool"].as_str(), n["state"].as_str()),
        (Some("R"), Some("reserve")),
        "one call of room left and 10% margin: no promotion yet"
    );

    // The fifth call fills A1: capacity left (0) falls below the expected demand
    // plus the 10% margin, and the fitting reserve number is promoted.
    let r = app.post("/v1/calls", key, &CallReq::new("rp-4", ten + mins(4)).json()).await;
    assert_eq!(r.expect(201, "the fifth call")["caller_number"], A1);
    let n = app.number(R_FIT, key).await;
    assert_eq!(n["pool"], "A", "{n}");
    assert_eq!(n["state"], "active", "{n}");
    let event = &n["history"][0];
    assert_eq!(event["state"], "active", "{n}");
    assert_eq!(event["pool"], "A", "{n}");
    assert_eq!(event["actor"], "engine", "{n}");
    assert_eq!(event["at"].as_str().map(ts), Some(app.clock.now()), "{n}");
    let reason = event["reason"].as_str().expect("reason");
    assert!(
        reason.contains("promoted from reserve R") && reason.contains("pool A") && reason.contains("2026-06-10"),
        "reason: {reason}"
    );
    let (record, _) =
        app.store.number(&vigie_core::E164::parse(R_FIT).expect("R_FIT")).await.expect("read").expect("R");
    assert!(
        record
            .status_reason_fr
            .starts_with("promu depuis la réserve R : capacité du pool A insuffisante le 10/06/2026"),
        "in French for the dashboard: {}",
        record.status_reason_fr
    );
    let plain = app.number(R_PLAIN, key).await;
    assert_eq!(
        (plain["pool"].as_str(), plain["state"].as_str()),
        (Some("R"), Some("reserve")),
        "only the fitting number moves"
    );

    let r = app.post("/v1/calls", key, &CallReq::new("rp-5", ten + mins(5)).json()).await;
    assert_eq!(r.expect(201, "a sixth call")["caller_number"], R_FIT, "the promoted number takes the call A1 cannot");
    let pools = app.get("/v1/pools", key).await;
    let pool =
        |code: &str| pools.body.as_array().expect("pools").iter().find(|p| p["code"] == code).cloned().expect("pool");
    assert_eq!(pool("A")["numbers"]["active"], 2);
    assert_eq!(pool("R")["numbers"]["reserve"], 1);
    let metrics = app.send(reqwest::Method::GET, "/metrics", None, None).await;
    assert!(metrics.text.lines().any(|l| l == "vigie_promotions_total 1"), "{}", metrics.text);
}

pub(crate) async fn reports_under_load_move_calls_and_keep_the_counts(db: TestDb) {
    const CAP: u32 = 5;
    const CALLS: usize = 80;
    let numbers = FOUR_IN_A.to_vec();
    let setup = Setup { catalog: catalog_with_a(small_cap(CAP)), numbers, ..Setup::default() };
    let app = spawn_app_with(&db, setup).await;
    let now = app.clock.now();
    // Calls for today and tomorrow, with two reports each on A1 and A3 among them.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..CALLS + 4 {
        let (api, key) = (app.api.clone(), app.keys.dialer.clone());
        if i % 20 == 7 {
            let number = if i < 40 { A1 } else { A3 };
            let body = crate::helpers::report(number, "patient", now);
            tasks.spawn(async move { (None, api.post("/v1/reports", &key, &body).await) });
        } else {
            let at = now + hours(1) + mins((i % 2) as i64 * 24 * 60 + i as i64);
            let mut call = CallReq::new(&format!("ru-{i}"), at).patient(&format!("ru-patient-{}", i % 30));
            if i % 3 == 0 {
                call.facility = NANTES.into();
            }
            tasks.spawn(async move {
                let r = api.post("/v1/calls", &key, &call.json()).await;
                (Some(call), r)
            });
        }
    }
    let mut acks = Vec::new();
    for (call, r) in tasks.join_all().await {
        match call {
            None => assert_eq!(r.status, 202, "a report: {}", r.text),
            Some(call) if r.status == 201 => {
                acks.push((call, r.body["call_id"].as_i64().expect("id"), r.str("caller_number").to_owned()))
            }
            Some(_) => r.expect_error(409, "no_capacity", None, "a call refused"),
        }
    }
    for n in [A1, A3] {
        assert_eq!(app.number(n, &app.keys.auditor).await["state"], "quarantined", "{n} got two reports");
    }

    // Every acknowledged call is stored; those on a quarantined number moved or wait
    // for one; no call ahead is left on a quarantined number.
    let pool = app.db.pool().await;
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM calls").fetch_one(&pool).await.expect("count");
    assert_eq!(stored, acks.len() as i64, "exactly the acknowledged calls are stored");
    let mut waiting = 0;
    for (call, id, number) in &acks {
        let c = app.call(*id, &app.keys.dialer).await;
        match c["caller_number"].as_str() {
            Some(n) if [A2, A4].contains(&n) => {
                if [A2, A4].contains(&number.as_str()) {
                    assert_eq!(n, number, "{}: a call on a healthy number stays put", call.call_ref);
                }
            }
            Some(n) => panic!("{}: still on {n} after its quarantine", call.call_ref),
            None => {
                assert_eq!(c["status"], "needs_number");
                assert!([A1, A3].contains(&number.as_str()), "{}: lost a healthy number", call.call_ref);
                waiting += 1;
            }
        }
    }
    assert!(acks.len() - waiting <= 2 * 2 * CAP as usize, "two healthy numbers, two days");
    // The engine's counters match the calls: per number and day, and per pool and day.
    assert_cap_held_in_db(&pool, i64::from(CAP)).await;
    let pool_days: Vec<(String, i64)> =
        sqlx::query_as("SELECT day, calls FROM pool_days WHERE pool = 'A' ORDER BY day")
            .fetch_all(&pool)
            .await
            .expect("pool_days");
    let mut by_day = std::collections::BTreeMap::new();
    let rows: Vec<(i64,)> =
        sqlx::query_as("SELECT dial_at FROM calls WHERE number_id IS NOT NULL").fetch_all(&pool).await.expect("calls");
    for (at,) in rows {
        *by_day
            .entry(crate::helpers::paris_day(vigie_core::Timestamp::from_microsecond(at).expect("instant")))
            .or_insert(0i64) += 1;
    }
    let pool_days: std::collections::BTreeMap<String, i64> = pool_days.into_iter().filter(|(_, c)| *c != 0).collect();
    assert_eq!(pool_days, by_day, "pool A's daily totals match its calls with a number");
}

/// The WAL header's checkpoint sequence number: SQLite adds one each time the WAL
/// starts again from its beginning.
fn wal_restarts(wal: &std::path::Path) -> Option<u32> {
    let header = std::fs::read(wal).ok()?;
    Some(u32::from_be_bytes(header.get(12..16)?.try_into().ok()?))
}

/// SQLite: under a steady stream of commits (dialers that always have a request
/// waiting) the WAL is checkpointed to its very end and starts again from its
/// beginning, again and again, rather than growing with every commit. A debug build's
/// stream still has pauses in which a checkpoint on another connection can reach the
/// end alone; the benchmark's has none, and there, before the writer finished the
/// checkpoints, the WAL grew to 1.3–2.1 GB in 10 seconds (BENCHMARKS.md).
pub(crate) async fn sqlite_wal_starts_again_under_steady_load(db: TestDb) {
    const DIALERS: usize = 32;
    const RESTARTS: u32 = 3;
    let app = spawn_app_with(&db, Setup::default()).await;
    let wal = db.dir.path().join("vigie.db-wal");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let now = app.clock.now();
    let mut dialers = tokio::task::JoinSet::new();
    for d in 0..DIALERS {
        let (api, key, stop) = (app.api.clone(), app.keys.dialer.clone(), Arc::clone(&stop));
        dialers.spawn(async move {
            let mut sent = 0_i64;
            while !stop.load(Ordering::SeqCst) {
                // Allocated until the numbers are full, then refused: either is a commit.
                let call = CallReq::new(&format!("wal-{d}-{sent}"), now + hours(1) + mins(sent % (12 * 60)))
                    .patient(&format!("wal-patient-{d}-{sent}"));
                let r = api.post("/v1/calls", &key, &call.json()).await;
                assert!(r.status == 201 || r.status == 409, "an allocation or a refusal: {}", r.text);
                sent += 1;
            }
            sent
        });
    }
    let first = wal_restarts(&wal);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut last = first;
    while std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        last = wal_restarts(&wal);
        if let (Some(a), Some(b)) = (first, last)
            && b >= a + RESTARTS
            && app.store.metrics().checkpoint_tails.load(Ordering::SeqCst) > 0
        {
            break;
        }
    }
    stop.store(true, Ordering::SeqCst);
    let sent: i64 = dialers.join_all().await.into_iter().sum();
    let (Some(a), Some(b)) = (first, last) else { panic!("no WAL header at {}", wal.display()) };
    assert!(
        b >= a + RESTARTS,
        "the WAL started again {} times in 60 s of steady load ({sent} requests), {RESTARTS} expected",
        b - a
    );
    assert!(sent > 0, "the load ran");
    // The writer finished checkpoints, and /metrics shows it with the WAL's size.
    let tails = app.store.metrics().checkpoint_tails.load(Ordering::SeqCst);
    assert!(tails > 0, "the writer finished no checkpoint in {} restarts", b - a);
    let m = app.send(reqwest::Method::GET, "/metrics", None, None).await;
    let sample = |name: &str| m.text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<u64>().ok());
    assert!(sample("vigie_writer_checkpoint_tails_total").is_some_and(|t| t >= tails), "{}", m.text);
    assert!(sample("vigie_sqlite_wal_bytes").is_some_and(|b| b > 0), "the WAL's size: {}", m.text);
}

/// A store on the test database as another process opens it, beside the app's or
/// another one: the same keys, a fixed clock.
struct Peer<'a> {
    db: &'a TestDb,
    catalog: vigie_core::Catalog,
    pseudonyms: vigie_store::PseudonymKey,
    data_keys: vigie_store::KeyRing,
    now: vigie_core::Timestamp,
}

impl Peer<'_> {
    async fn open(self) -> vigie_store::Store {
        let now = self.now;
        vigie_store::Store::open(
            &vigie_store::StoreOptions {
                compliance: crate::compliance::around_the_clock(),
                pseudonym_key: Some(self.pseudonyms),
                ..vigie_store::StoreOptions::new(self.db.url.clone())
            },
            self.catalog,
            self.data_keys,
            vigie_core::Calendar::paris(),
            Arc::new(move || now),
        )
        .await
        .expect("a store on the test database")
    }
}

/// Two writers on one database (two `vigie serve`, or a command beside a server): the
/// number that last called a patient is found whichever of them places the next call,
/// and from the calls the other one wrote since. On SQLite each store keeps its
/// patients' calls in memory, read at start and caught up at each write (there is no
/// index on the patient reference); on PostgreSQL the index finds them.
pub(crate) async fn a_patients_number_is_found_by_every_writer(db: TestDb) {
    let start = ts(crate::helpers::START);
    let pseudonyms = vigie_store::PseudonymKey::generate().0;
    let data_keys = vigie_store::KeyRing::from(vigie_store::generate_data_key().0);
    let open = |pseudonyms: vigie_store::PseudonymKey, data_keys: vigie_store::KeyRing| {
        Peer { db: &db, catalog: vigie_core::Catalog::seed_defaults(), pseudonyms, data_keys, now: start }.open()
    };
    let first = open(pseudonyms.clone(), data_keys.clone()).await;
    for (id, city, callback) in [(SAINT_JEAN, "Lyon", "+33478000000"), (NANTES, "Nantes", "+33240000000")] {
        let facility = vigie_store::Facility {
            id: vigie_core::FacilityId::parse(id).expect("facility id"),
            name: id.into(),
            display_name: id.into(),
            city: city.into(),
            callback: vigie_core::E164::parse(callback).expect("callback"),
        };
        first.upsert_facility(&facility, "test").await.expect("facility");
    }
    let numbers: Vec<vigie_store::NewNumber> = [(A1, SAINT_JEAN), (A2, SAINT_JEAN), (A3, NANTES)]
        .iter()
        .map(|(number, facility)| vigie_store::NewNumber {
            number: vigie_core::E164::parse(number).expect("number"),
            pool: vigie_core::PoolCode::parse("A").expect("pool"),
            facility: Some(vigie_core::FacilityId::parse(facility).expect("facility")),
            display_name: "Vigie".into(),
            callback: vigie_core::E164::parse("+33478000000").expect("callback"),
        })
        .collect();
    first.add_numbers(&numbers, "test").await.expect("numbers");
    let call = |call_ref: &str, patient: &str, facility: &str| vigie_store::NewCall {
        call_ref: call_ref.into(),
        facility: vigie_core::FacilityId::parse(facility).expect("facility"),
        purpose: vigie_core::Purpose::parse("appointment_reminder").expect("purpose"),
        patient_ref: patient.into(),
        patient_phone: vigie_core::E164::parse(PATIENT_LYON).expect("phone"),
        dial_at: start + hours(2),
    };
    let number = |answer: Result<vigie_store::CallAnswer, vigie_store::StoreError>| {
        answer.expect("allocated").caller_number.expect("a number").as_str().to_owned()
    };
    // A patient called for Nantes gets Nantes's number; called again for Saint-Jean,
    // the same number (it last called them) rather than one of Saint-Jean's.
    assert_eq!(number(first.allocate(call("w-1", "patient-p", NANTES), "test").await), A3);
    let second = open(pseudonyms, data_keys).await;
    assert_eq!(
        number(second.allocate(call("w-2", "patient-p", SAINT_JEAN), "test").await),
        A3,
        "a store opened later finds the calls written before"
    );
    assert_eq!(number(second.allocate(call("w-3", "patient-q", NANTES), "test").await), A3);
    assert_eq!(
        number(first.allocate(call("w-4", "patient-q", SAINT_JEAN), "test").await),
        A3,
        "a store finds the calls another one wrote since it opened"
    );
    assert_ne!(
        number(first.allocate(call("w-5", "patient-r", SAINT_JEAN), "test").await),
        A3,
        "a patient never called gets a number of the call's facility"
    );
}

/// Two writers on one database, one number with a cap of three. On PostgreSQL a
/// writer that was the last to commit decides its next batch without the lock and
/// writes it in one statement that takes the lock and commits only if the audit head
/// has not moved; when another writer committed since, that statement fails and the
/// batch is decided again under the lock, on what the other writer wrote. (Without
/// the guard its statement would fail on the audit log's unique sequence, and its
/// requests be retried one by one as a failed batch.)
pub(crate) async fn a_writer_that_was_not_the_last_to_commit_decides_again(db: TestDb) {
    let start = ts(crate::helpers::START);
    let data_keys = vigie_store::KeyRing::from(vigie_store::generate_data_key().0);
    let pseudonyms = vigie_store::PseudonymKey::generate().0;
    let open = || {
        let catalog = catalog_with_a(small_cap(3));
        Peer { db: &db, catalog, pseudonyms: pseudonyms.clone(), data_keys: data_keys.clone(), now: start }.open()
    };
    let first = open().await;
    let facility = vigie_store::Facility {
        id: vigie_core::FacilityId::parse(SAINT_JEAN).expect("facility id"),
        name: "Clinique Saint-Jean".into(),
        display_name: "Clinique St-Jean".into(),
        city: "Lyon".into(),
        callback: vigie_core::E164::parse("+33478000000").expect("callback"),
    };
    first.upsert_facility(&facility, "test").await.expect("facility");
    let number = vigie_store::NewNumber {
        number: vigie_core::E164::parse(A1).expect("number"),
        pool: vigie_core::PoolCode::parse("A").expect("pool"),
        facility: Some(facility.id.clone()),
        display_name: "Clinique St-Jean".into(),
        callback: vigie_core::E164::parse("+33478000000").expect("callback"),
    };
    first.add_numbers(&[number], "test").await.expect("the number");
    let call = |call_ref: &str| vigie_store::NewCall {
        call_ref: call_ref.into(),
        facility: facility.id.clone(),
        purpose: vigie_core::Purpose::parse("appointment_reminder").expect("purpose"),
        patient_ref: format!("patient-{call_ref}"),
        patient_phone: vigie_core::E164::parse(PATIENT_LYON).expect("phone"),
        dial_at: start + hours(2),
    };
    let given = |answer: Result<vigie_store::CallAnswer, vigie_store::StoreError>| {
        answer.expect("allocated").caller_number.expect("a number").as_str().to_owned()
    };
    // The first writer's first batch is decided under the lock, its second one (on
    // PostgreSQL) without it.
    assert_eq!(given(first.allocate(call("g-1"), "test").await), A1);
    assert_eq!(given(first.allocate(call("g-2"), "test").await), A1);
    let postgres = db.backend == crate::helpers::Backend::Postgres;
    let m = first.metrics();
    assert_eq!(m.guarded_batches.load(Ordering::SeqCst), u64::from(postgres), "the second batch was guarded");
    // Another writer gives the number its third call: the first one does not know.
    let second = open().await;
    assert_eq!(given(second.allocate(call("g-3"), "test").await), A1);
    match first.allocate(call("g-4"), "test").await {
        Err(vigie_store::StoreError::NoCapacity { pool, .. }) => assert_eq!(pool.as_str(), "A"),
        other => panic!("the number is full, whichever writer asks: {:?}", other.map(|a| a.caller_number)),
    }
    assert_eq!(m.head_conflicts.load(Ordering::SeqCst), u64::from(postgres), "the guard saw the other writer");
    assert_eq!(m.failed_batches.load(Ordering::SeqCst), 0, "decided again under the lock, not failed");
    // Decided again on what the other writer wrote: its call is known to the first.
    let again = first.allocate(call("g-3"), "test").await.expect("the other writer's call");
    assert_eq!((again.created, again.caller_number.map(|n| n.as_str().to_owned())), (false, Some(A1.to_owned())));
    let pool = db.pool().await;
    assert_eq!(assert_cap_held_in_db(&pool, 3).await, 3, "three calls, on the one number");
    let report = first.verify_audit().await.expect("the audit chain is read");
    assert_eq!(report.problem, None, "the audit chain holds");
}

/// A call for a facility the store does not know is refused by the store itself, with
/// the field and the rule, and nothing is written (the HTTP layer refuses it first;
/// this is for the store's other callers: PostgreSQL has no foreign key behind it).
pub(crate) async fn the_store_refuses_a_call_for_an_unknown_facility(db: TestDb) {
    let app = spawn_app_with(&db, Setup::default()).await;
    let start = app.clock.now();
    let call = |facility: &str, call_ref: &str| vigie_store::NewCall {
        call_ref: call_ref.into(),
        facility: vigie_core::FacilityId::parse(facility).expect("facility id"),
        purpose: vigie_core::Purpose::parse("appointment_reminder").expect("purpose"),
        patient_ref: "patient-f".into(),
        patient_phone: vigie_core::E164::parse(PATIENT_LYON).expect("phone"),
        dial_at: start + hours(1),
    };
    match app.store.allocate(call("clinique-inconnue", "f-1"), "test").await {
        Err(vigie_store::StoreError::Invalid(f)) => {
            assert_eq!(f.field, "facility");
            assert!(f.rule.contains("not a known facility"), "{}", f.rule);
        }
        other => panic!("expected a refusal of the facility, got {other:?}"),
    }
    let pool = db.pool().await;
    let stored: i64 =
        sqlx::Row::get(&sqlx::query("SELECT COUNT(*) FROM calls").fetch_one(&pool).await.expect("count"), 0);
    assert_eq!(stored, 0, "nothing is written for the refused call");
    // A known facility in the same store is served.
    let answer = app.store.allocate(call(NANTES, "f-2"), "test").await.expect("allocated");
    assert!(answer.caller_number.is_some());
}
