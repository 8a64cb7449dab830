//! Calls changed after their allocation: cancelled or rescheduled by the dialer (the
//! cap's counters, the number and the SMS follow), the survey calls a patient's STOP
//! cancels, SMS left without a delivery receipt, and what the patient's export shows of
//! their SMS.

use serde_json::{Value, json};
use vigie_core::{SmsStatus, Timestamp};
use vigie_store::SubmitResult;

use crate::helpers::{
    A1, CallReq, Fixture, SAINT_JEAN, Setup, TestApp, TestDb, assert_cap_held_in_db, catalog_with_a, hours, mins,
    paris_day, small_cap, spawn_app_with,
};

/// Pool D (the survey), Saint-Jean.
const D1: &str = "+33987100041";
/// The patient of these tests: a mobile (only mobiles receive an SMS).
const PATIENT_MOBILE: &str = "+33612345678";

/// One number in pool A (capped at two calls a day) and one in pool D.
async fn spawn(db: &TestDb) -> TestApp {
    let numbers: Vec<Fixture> = vec![(A1, "A", Some(SAINT_JEAN)), (D1, "D", Some(SAINT_JEAN))];
    spawn_app_with(
        db,
        Setup { catalog: catalog_with_a(small_cap(2)), sms: crate::sms_api::policy(), numbers, ..Setup::default() },
    )
    .await
}

fn call(call_ref: &str, dial_at: Timestamp) -> CallReq {
    CallReq { patient_phone: PATIENT_MOBILE.into(), ..CallReq::new(call_ref, dial_at) }
}

async fn allocate(app: &TestApp, call: &CallReq, status: u16) -> Value {
    app.post("/v1/calls", &app.keys.dialer, &call.json()).await.expect(status, &call.call_ref).clone()
}

fn id(v: &Value) -> i64 {
    v["call_id"].as_i64().unwrap_or_else(|| panic!("no call_id in {v}"))
}

fn instant(v: &Value) -> Timestamp {
    v.as_str().unwrap_or_else(|| panic!("{v} is not an instant")).parse().expect("an instant")
}

/// The statuses of a call's SMS, oldest first, read from the database.
async fn sms_statuses(app: &TestApp, call_id: i64) -> Vec<String> {
    let pool = app.db.pool().await;
    let rows = sqlx::query("SELECT status FROM sms WHERE call_id = $1 ORDER BY id")
        .bind(call_id)
        .fetch_all(&pool)
        .await
        .expect("the call's SMS");
    rows.iter().map(|r| sqlx::Row::get::<String, _>(r, 0)).collect()
}

async fn audited(app: &TestApp, action: &str) -> usize {
    app.store.audit_entries(10_000).await.expect("audit entries").iter().filter(|e| e.action == action).count()
}

pub(crate) async fn call_changes_cancel_and_reschedule_move_the_cap_and_the_sms(db: TestDb) {
    let app = spawn(&db).await;
    let now = app.clock.now();
    let (dialer, ops, auditor) = (&app.keys.dialer, &app.keys.ops, &app.keys.auditor);
    let today = now + hours(2);
    let tomorrow = today + hours(24);

    // The number's two calls of the day are taken; a third has no capacity.
    let c1 = allocate(&app, &call("cc-1", today), 201).await;
    let c2 = allocate(&app, &call("cc-2", today + mins(10)), 201).await;
    let c3 = call("cc-3", today + mins(20));
    app.post("/v1/calls", dialer, &c3.json()).await.expect_error(409, "no_capacity", None, "a third call");

    // Cancelling one frees its place at once; its SMS is cancelled.
    let cancel = |c: &Value| format!("/v1/calls/{}/cancel", id(c));
    let r = app.post(&cancel(&c2), auditor, &json!({"reason": "x"})).await;
    r.expect_error(403, "forbidden", None, "an auditor cancels");
    let r = app.post(&cancel(&c2), dialer, &json!({})).await;
    r.expect_error(422, "invalid_request", Some("reason"), "a cancel without a reason");
    let done = app.post(&cancel(&c2), ops, &json!({"reason": "appointment cancelled"})).await;
    let done = done.expect(200, "cancel cc-2");
    assert_eq!(
        (&done["status"], &done["sms_cancelled"], &done["sms_already_sent"]),
        (&json!("cancelled"), &json!(1), &json!(false))
    );
    assert_eq!(app.number(A1, auditor).await["calls_today"], 1);
    let c3 = allocate(&app, &c3, 201).await;
    let read = app.call(id(&c2), auditor).await;
    assert_eq!((&read["status"], &read["cancel_reason"]), (&json!("cancelled"), &json!("appointment cancelled")));
    assert_eq!(read["sms"]["status"], "cancelled");
    assert_eq!(sms_statuses(&app, id(&c2)).await, ["cancelled"]);

    // A cancelled call stays cancelled: no second cancel, no move, no outcome, and its
    // call_ref cannot come back.
    app.post(&cancel(&c2), dialer, &json!({"reason": "again"})).await.expect_error(
        409,
        "conflict",
        Some("call_id"),
        "cancel twice",
    );
    let path2 = format!("/v1/calls/{}", id(&c2));
    let move_to = |at: Timestamp| json!({"dial_at": at.to_string(), "reason": "the patient asked"});
    app.patch(&path2, dialer, &move_to(tomorrow)).await.expect_error(
        409,
        "conflict",
        Some("call_id"),
        "move a cancelled call",
    );
    let outcome = json!({"outcome": "answered", "duration_s": 10, "ended_at": now.to_string()});
    app.post(&format!("{path2}/outcome"), dialer, &outcome).await.expect_error(
        409,
        "conflict",
        Some("call_id"),
        "outcome of a cancelled call",
    );
    app.post("/v1/calls", dialer, &call("cc-2", today + mins(10)).json()).await.expect_error(
        409,
        "conflict",
        Some("call_ref"),
        "a cancelled call_ref",
    );
    app.post("/v1/calls/999/cancel", dialer, &json!({"reason": "x"})).await.expect_error(
        404,
        "not_found",
        Some("call_id"),
        "an unknown call",
    );

    // Moving cc-1 to tomorrow: same number (still eligible), counted on its new day
    // only, its SMS replanned for the new time.
    let path1 = format!("/v1/calls/{}", id(&c1));
    let sms_before = instant(&c1["sms_at"]);
    let moved = app.patch(&path1, dialer, &move_to(tomorrow)).await;
    let moved = moved.expect(200, "move cc-1").clone();
    assert_eq!((&moved["caller_number"], &moved["status"]), (&json!(A1), &json!("allocated")));
    assert_eq!(instant(&moved["dial_at"]), tomorrow);
    let sms_at = instant(&moved["sms_at"]);
    assert!(sms_at >= tomorrow - mins(30) && sms_at <= tomorrow - mins(15), "sms_at {sms_at} for {tomorrow}");
    assert_ne!(sms_at, sms_before);
    assert_eq!(moved["sms_cancelled"], 1);
    assert_eq!(sms_statuses(&app, id(&c1)).await, ["cancelled", "queued"]);
    assert_eq!(app.number(A1, auditor).await["calls_today"], 1, "cc-3 only");
    let read = app.call(id(&c1), dialer).await;
    assert_eq!((instant(&read["dial_at"]), &read["sms"]["status"]), (tomorrow, &json!("queued")));
    allocate(&app, &call("cc-4", today + mins(30)), 201).await;

    // Refusals leave the call as it was: outside the dial window, no capacity that day.
    let far = now + hours(24 * 20);
    app.patch(&path1, dialer, &move_to(far)).await.expect_error(
        422,
        "invalid_request",
        Some("dial_at"),
        "beyond 14 days",
    );
    let r = app.patch(&format!("/v1/calls/{}", id(&c3)), dialer, &move_to(today + mins(40))).await;
    r.expect(200, "a move within the same day");
    let c5 = allocate(&app, &call("cc-5", tomorrow + mins(5)), 201).await;
    let r = app.patch(&format!("/v1/calls/{}", id(&c3)), dialer, &move_to(tomorrow + mins(50))).await;
    r.expect_error(409, "no_capacity", None, "tomorrow is full");
    let read = app.call(id(&c3), auditor).await;
    assert_eq!((instant(&read["dial_at"]), &read["caller_number"]), (today + mins(40), &json!(A1)));
    let read = app.call(id(&c1), auditor).await;
    assert_eq!(instant(&read["dial_at"]), tomorrow);

    // A call moves at most the dial window (14 days) past its creation.
    let created = instant(&app.call(id(&c5), auditor).await["created_at"]);
    app.clock.advance(hours(12));
    let r = app.patch(&format!("/v1/calls/{}", id(&c5)), dialer, &move_to(created + hours(14 * 24 + 1))).await;
    r.expect_error(422, "invalid_request", Some("dial_at"), "more than 14 days after its creation");
    assert!(r.str("message").contains("cancel it and post a new call"), "{}", r.text);

    // The counters agree with the calls that are not cancelled, and hold the cap.
    let counted = assert_cap_held_in_db(&app.db.pool().await, 2).await;
    assert_eq!(counted, 4, "cc-1 (tomorrow), cc-3, cc-4 (today), cc-5 (tomorrow)");
    assert_ne!(paris_day(today), paris_day(tomorrow));
    assert_eq!(audited(&app, "call.cancel").await, 1);
    assert_eq!(audited(&app, "call.reschedule").await, 2);
    assert!(app.store.verify_audit().await.expect("verify").problem.is_none());
}

pub(crate) async fn call_changes_stop_cancels_survey_calls_not_reminders(db: TestDb) {
    let app = spawn(&db).await;
    let now = app.clock.now();
    let auditor = &app.keys.auditor;
    let survey = allocate(&app, &call("stop-survey", now + hours(3)).purpose("satisfaction_survey"), 201).await;
    let reminder = allocate(&app, &call("stop-reminder", now + hours(3)), 201).await;
    assert_eq!(app.number(D1, auditor).await["calls_today"], 1);

    // The patient replies STOP: the survey call is cancelled, the reminder stays
    // (unannounced), and neither SMS goes.
    let phone = vigie_core::E164::parse(PATIENT_MOBILE).expect("a phone");
    let done = app.store.sms_reply(&phone, "Stop").await.expect("the reply is recorded");
    assert_eq!((done.stop, done.recorded, done.calls_cancelled), (true, true, 1));
    let read = app.call(id(&survey), auditor).await;
    assert_eq!(read["status"], "cancelled");
    assert!(read["cancel_reason"].as_str().is_some_and(|r| r.contains("STOP")), "{read}");
    assert_eq!(read["sms"]["status"], "cancelled");
    let read = app.call(id(&reminder), auditor).await;
    assert_eq!((&read["status"], &read["sms"]["status"]), (&json!("allocated"), &json!("cancelled")));
    assert_eq!(app.number(D1, auditor).await["calls_today"], 0);
    assert!(app.store.claim_due_sms("w", now + hours(3), 10).await.expect("claim").is_empty());

    // A repeat changes nothing more; a new survey call is refused.
    let again = app.store.sms_reply(&phone, "STOP").await.expect("the repeat");
    assert_eq!((again.recorded, again.calls_cancelled), (false, 0));
    let r = app
        .post(
            "/v1/calls",
            &app.keys.dialer,
            &call("stop-survey-2", now + hours(4)).purpose("satisfaction_survey").json(),
        )
        .await;
    r.expect_error(409, "rule", None, "a survey after STOP");
    assert_eq!(audited(&app, "sms.optout").await, 1);
    assert_eq!(audited(&app, "sms.optout_applied").await, 1);

    // The patient's export shows their SMS and their opt-out.
    let export = app.get("/v1/patients/pat-stop-survey/export", &app.keys.admin).await;
    let export = export.expect(200, "export").clone();
    assert_eq!(export["sms"].as_array().map(Vec::len), Some(1), "{export}");
    assert_eq!(export["sms"][0]["status"], "cancelled");
    assert!(export["sms"][0]["text"].as_str().is_some_and(|t| !t.is_empty()));
    assert_eq!(export["sms_optouts"][0]["source"], "sms_reply");
    assert_eq!(export["calls"][0]["cancel_reason"], read_reason(&app, id(&survey)).await);
}

async fn read_reason(app: &TestApp, call_id: i64) -> Value {
    app.call(call_id, &app.keys.auditor).await["cancel_reason"].clone()
}

pub(crate) async fn call_changes_sms_without_a_receipt_expire(db: TestDb) {
    let app = spawn(&db).await;
    let now = app.clock.now();
    let c = allocate(&app, &call("no-receipt", now + hours(2)), 201).await;
    let sms_at = instant(&c["sms_at"]);
    let due = app.store.claim_due_sms("w", sms_at, 10).await.expect("claim");
    assert_eq!(due.len(), 1);
    let accepted = SubmitResult::Accepted { provider: "smsc".into(), message_ids: vec!["m-1".into()] };
    app.store.record_sms_submission(due[0].id, &accepted, sms_at).await.expect("recorded");

    // Just before the receipt timeout it waits; after it, it expires with the reason.
    let timeout = app.store.sms_policy().receipt_timeout;
    app.store.claim_due_sms("w", sms_at + timeout - mins(1), 10).await.expect("sweep");
    assert_eq!(app.store.call_sms(id(&c)).await.expect("sms").map(|s| s.status), Some(SmsStatus::Submitted));
    app.store.claim_due_sms("w", sms_at + timeout + mins(1), 10).await.expect("sweep");
    let sms = app.store.call_sms(id(&c)).await.expect("sms").expect("an SMS");
    assert_eq!(sms.status, SmsStatus::Expired);
    assert_eq!(sms.error.as_deref(), Some("no delivery receipt within 24 h"));

    // A late delivery receipt is proof: the SMS was delivered.
    let applied = app.store.sms_receipt("smsc", "m-1", SmsStatus::Delivered, None, sms_at + hours(30)).await;
    assert!(applied.expect("the receipt"));
    let sms = app.store.call_sms(id(&c)).await.expect("sms").expect("an SMS");
    assert_eq!(sms.status, SmsStatus::Delivered);
}
