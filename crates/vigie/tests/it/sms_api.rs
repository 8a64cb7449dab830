//! The pre-call SMS over the API: `sms_at` in call answers and `sms` in call reads,
//! opt-outs recorded and looked up (the phone in bodies only) and the survey calls they
//! stop, the signed receipt webhook of an HTTP gateway, and the SMS lines of `/metrics`.

use std::collections::HashMap;

use serde_json::{Value, json};
use vigie_core::{Language, Purpose, SmsTiming, Template, Timestamp, default_template_text};
use vigie_sms::WebhookConfig;
use vigie_store::{PurposeSms, SmsPolicy, SubmitResult};

use crate::helpers::{CallReq, Fixture, Reply, SAINT_JEAN, Setup, TestApp, TestDb, hours, mins, spawn_app_with, ts};

/// Pool D (the survey), Saint-Jean.
const D1: &str = "+33987100041";
/// Another Lyon patient, who never opts out.
const PATIENT_OTHER: &str = "+33698765432";
/// The HTTP gateway's shared secret.
const SECRET: &[u8] = b"gateway shared secret";

/// Reminders and surveys announced with the default window and texts; a STOP ends the
/// survey calls, not the reminders. Results follow-ups are left unannounced.
pub(crate) fn policy() -> SmsPolicy {
    let announced = |purpose: &str, stop_ends_calls: bool| {
        let text = default_template_text(purpose, Language::Fr).expect("a default text");
        let sms = PurposeSms {
            timing: SmsTiming::default(),
            template: Template::parse("t", text, 3).expect("the default text fits 3 segments"),
            facility_templates: HashMap::new(),
            require_announcement: false,
            stop_ends_calls,
        };
        (Purpose::parse(purpose).expect("purpose"), sms)
    };
    SmsPolicy {
        purposes: [announced("appointment_reminder", false), announced("satisfaction_survey", true)].into(),
        ..SmsPolicy::default()
    }
}

fn gateway() -> WebhookConfig {
    WebhookConfig::new("gw", SECRET)
}

/// The patient of these tests: a mobile (only mobiles receive an SMS).
const PATIENT_MOBILE: &str = "+33612345678";

/// A call to the mobile patient.
fn sms_call(call_ref: &str, dial_at: Timestamp) -> CallReq {
    CallReq { patient_phone: PATIENT_MOBILE.into(), ..CallReq::new(call_ref, dial_at) }
}

async fn spawn(db: &TestDb) -> TestApp {
    let mut numbers: Vec<Fixture> = crate::helpers::INVENTORY.to_vec();
    numbers.push((D1, "D", Some(SAINT_JEAN)));
    spawn_app_with(db, Setup { sms: policy(), sms_webhooks: vec![gateway()], numbers, ..Setup::default() }).await
}

/// An instant of a JSON answer.
fn instant(v: &Value) -> Timestamp {
    ts(v.as_str().unwrap_or_else(|| panic!("{v} is not an instant")))
}

/// Posts a call as the dialer, expecting `status`.
async fn allocate(app: &TestApp, call: &CallReq, status: u16) -> Value {
    app.post("/v1/calls", &app.keys.dialer, &call.json()).await.expect(status, &call.call_ref).clone()
}

/// The audit entries of an action.
async fn audited(app: &TestApp, action: &str) -> usize {
    app.store.audit_entries(10_000).await.expect("audit entries").iter().filter(|e| e.action == action).count()
}

/// The sample of a metric line (`name{labels}`), if present.
async fn metric(app: &TestApp, series: &str) -> Option<f64> {
    let m = app.send(reqwest::Method::GET, "/metrics", None, None).await;
    m.expect(200, "GET /metrics");
    m.text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

pub(crate) async fn sms_api_calls_announce_their_sms_and_show_it(db: TestDb) {
    let app = spawn(&db).await;
    let now = app.clock.now();

    // Two hours ahead: the SMS goes in its window, 30 to 15 minutes before the call.
    let later = sms_call("sms-later", now + hours(2));
    let first = allocate(&app, &later, 201).await;
    let sms_at = instant(&first["sms_at"]);
    assert!(
        sms_at >= later.dial_at - mins(30) && sms_at <= later.dial_at - mins(15),
        "sms_at {sms_at} is not 30 to 15 minutes before {}",
        later.dial_at
    );
    // A repeat answers the same, SMS included.
    assert_eq!(&allocate(&app, &later, 200).await, &first);

    // Twenty minutes ahead: the window has begun, the SMS goes now.
    let soon = sms_call("sms-soon", now + mins(20));
    let answer = allocate(&app, &soon, 201).await;
    let soon_at = instant(&answer["sms_at"]);
    assert!(soon_at >= now && soon_at <= soon.dial_at - mins(15), "sms_at {soon_at} for a call at {}", soon.dial_at);
    // On PostgreSQL that call was decided without the lock and written with its SMS in
    // one statement (the writer's first batch takes the lock).
    let soon_call = app.call(answer["call_id"].as_i64().expect("call_id"), &app.keys.auditor).await;
    assert_eq!((&soon_call["sms"]["status"], instant(&soon_call["sms"]["send_at"])), (&json!("queued"), soon_at));
    let guarded = app.store.metrics().guarded_batches.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(guarded > 0, db.backend == crate::helpers::Backend::Postgres, "guarded batches: {guarded}");

    // The call shows its SMS, to every reader.
    for key in [&app.keys.auditor, &app.keys.dialer, &app.keys.ops] {
        let call = app.call(first["call_id"].as_i64().expect("call_id"), key).await;
        let sms = &call["sms"];
        assert_eq!(sms["status"], "queued", "{call}");
        assert_eq!(instant(&sms["send_at"]), sms_at);
        assert_eq!(sms["encoding"], "gsm7", "the default French text is GSM 03.38: {call}");
        assert!(sms["segments"].as_u64().is_some_and(|n| (1..=3).contains(&n)), "{call}");
        assert_eq!((&sms["submitted_at"], &sms["error"]), (&Value::Null, &Value::Null));
    }

    // A purpose that is not announced: no SMS.
    let followup = sms_call("sms-none", now + hours(2)).purpose("results_followup");
    let answer = allocate(&app, &followup, 201).await;
    assert_eq!(answer["sms_at"], Value::Null);
    assert_eq!(app.call(answer["call_id"].as_i64().expect("call_id"), &app.keys.auditor).await["sms"], Value::Null);

    // Metrics: two queued reminders, and their segments.
    let labels = format!("{{facility=\"{SAINT_JEAN}\",purpose=\"appointment_reminder\",status=\"queued\"}}");
    assert_eq!(metric(&app, &format!("vigie_sms_total{labels}")).await, Some(2.0));
    let segments = metric(&app, &format!("vigie_sms_segments_total{labels}")).await.expect("segments");
    assert!((2.0..=6.0).contains(&segments), "segments {segments}");
}

pub(crate) async fn sms_api_optouts_stop_surveys_and_are_looked_up(db: TestDb) {
    let app = spawn(&db).await;
    let now = app.clock.now();
    let (dialer, ops, auditor) = (&app.keys.dialer, &app.keys.ops, &app.keys.auditor);
    let optout = json!({"patient_phone": PATIENT_MOBILE, "source": "agent"});

    // Roles: the dialer and ops record, ops and auditors look up.
    assert_eq!(app.send(reqwest::Method::POST, "/v1/sms/optouts", None, Some(&optout)).await.status, 401);
    let r = app.post("/v1/sms/optouts", auditor, &optout).await;
    r.expect_error(403, "forbidden", None, "an auditor records an opt-out");
    let lookup = json!({"patient_phone": PATIENT_MOBILE});
    let r = app.post("/v1/sms/optouts/lookup", dialer, &lookup).await;
    r.expect_error(403, "forbidden", None, "a dialer looks up an opt-out");
    let before = app.post("/v1/sms/optouts/lookup", auditor, &lookup).await;
    assert_eq!(before.expect(200, "lookup before"), &json!({"opted_out": false, "at": null, "source": null}));

    // Bad input names the field and the rule, and records nothing.
    for (body, field) in [
        (json!({"patient_phone": "06 12", "source": "agent"}), "patient_phone"),
        (json!({"patient_phone": "tel:+33472000001", "source": "agent"}), "patient_phone"),
        (json!({"patient_phone": PATIENT_MOBILE, "source": "pigeon"}), "source"),
        (json!({"patient_phone": PATIENT_MOBILE}), "source"),
        (json!({"patient_phone": PATIENT_MOBILE, "source": "agent", "name": "x"}), "name"),
    ] {
        let r = app.post("/v1/sms/optouts", dialer, &body).await;
        r.expect_error(422, "invalid_request", Some(field), &format!("opt-out {body}"));
        assert!(r.str("message").starts_with(&format!("{field}: ")), "{}", r.text);
    }
    let r = app.post("/v1/sms/optouts/lookup", ops, &json!({"patient_phone": "+33"})).await;
    r.expect_error(422, "invalid_request", Some("patient_phone"), "lookup of a bad phone");
    assert_eq!(audited(&app, "sms.optout").await, 0);

    // Recorded once, in the audit trail; a repeat answers the first record.
    let recorded = app.post("/v1/sms/optouts", dialer, &optout).await;
    let first = recorded.expect(201, "a new opt-out").clone();
    let record = json!({"opted_out": true, "at": now.to_string(), "source": "agent"});
    let nothing_cancelled = json!({"calls_cancelled": 0, "sms_cancelled": 0});
    let mut expected = record.clone();
    expected.as_object_mut().expect("an object").extend(nothing_cancelled.as_object().expect("an object").clone());
    assert_eq!(first, expected);
    app.clock.advance(mins(5));
    let again = app.post("/v1/sms/optouts", ops, &json!({"patient_phone": "06 12 34 56 78", "source": "letter"})).await;
    assert_eq!(again.expect(200, "a known opt-out"), &first);
    assert_eq!(audited(&app, "sms.optout").await, 1);

    // Looked up by any writing of the number; another patient has none.
    let reads = audited(&app, "sms.optout_read").await;
    let found = app.post("/v1/sms/optouts/lookup", auditor, &json!({"patient_phone": "0612345678"})).await;
    assert_eq!(found.expect(200, "lookup"), &record);
    assert_eq!(audited(&app, "sms.optout_read").await, reads + 1, "a lookup is audited");
    let other = app.post("/v1/sms/optouts/lookup", ops, &json!({"patient_phone": PATIENT_OTHER})).await;
    assert_eq!(other.expect(200, "lookup of another patient")["opted_out"], false);

    // The survey stops; the reminder is still called, without SMS.
    let survey = sms_call("stop-survey", app.clock.now() + hours(2)).purpose("satisfaction_survey");
    let refused: Reply = app.post("/v1/calls", dialer, &survey.json()).await;
    refused.expect_error(409, "rule", None, "a survey after STOP");
    assert_eq!((refused.str("rule"), &refused.body["next_allowed_at"]), ("sms_stop", &Value::Null));
    let reminder = allocate(&app, &sms_call("stop-reminder", app.clock.now() + hours(2)), 201).await;
    assert_eq!(reminder["sms_at"], Value::Null);
    assert_eq!(app.call(reminder["call_id"].as_i64().expect("call_id"), auditor).await["sms"], Value::Null);
    let mut other_survey = sms_call("other-survey", app.clock.now() + hours(2)).purpose("satisfaction_survey");
    other_survey.patient_phone = PATIENT_OTHER.into();
    assert!(allocate(&app, &other_survey, 201).await["sms_at"].is_string(), "another patient's survey is announced");
}

/// Posts a receipt body to `/v1/sms/receipts/{provider}` with an `X-Signature` header
/// (none when `signature` is `None`).
async fn receipt(app: &TestApp, provider: &str, body: &[u8], signature: Option<String>) -> Reply {
    let http = reqwest::Client::builder().no_proxy().build().expect("an HTTP client");
    let mut req = http.post(format!("{}/v1/sms/receipts/{provider}", app.base)).body(body.to_vec());
    if let Some(signature) = signature {
        req = req.header("X-Signature", signature);
    }
    let res = req.send().await.expect("the server answers");
    let status = res.status().as_u16();
    let text = res.text().await.expect("a body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply { status, body, text, content_type: String::new() }
}

pub(crate) async fn sms_api_receipts_are_signed_and_settle_the_sms(db: TestDb) {
    let app = spawn(&db).await;
    let now = app.clock.now();
    let call = sms_call("receipt-1", now + mins(20));
    let answer = allocate(&app, &call, 201).await;
    let id = answer["call_id"].as_i64().expect("call_id");
    let due = app.store.claim_due_sms("test-dispatcher", now, 10).await.expect("due SMS");
    assert_eq!(due.iter().map(|d| d.call_id).collect::<Vec<_>>(), [id]);
    let accepted = SubmitResult::Accepted { provider: "gw".into(), message_ids: vec!["gw-1".into(), "gw-2".into()] };
    app.store.record_sms_submission(due[0].id, &accepted, now).await.expect("submission recorded");
    assert_eq!(app.call(id, &app.keys.auditor).await["sms"]["status"], "submitted");

    let webhook = gateway();
    let delivered = br#"{"message_id":"gw-2","status":"DELIVRD","error":null}"#;
    let signed = || Some(webhook.sign(delivered));
    // Unknown provider, no signature, a wrong one, another secret's: refused, nothing changes.
    receipt(&app, "other", delivered, signed()).await.expect_error(404, "not_found", Some("provider"), "provider");
    receipt(&app, "gw", delivered, None).await.expect_error(401, "unauthorized", None, "no signature");
    let forged = WebhookConfig::new("gw", b"guessed").sign(delivered);
    receipt(&app, "gw", delivered, Some(forged)).await.expect_error(401, "unauthorized", None, "a forged signature");
    receipt(&app, "gw", delivered, Some("sha256=zz".into())).await.expect_error(401, "unauthorized", None, "not hex");
    assert_eq!(app.call(id, &app.keys.auditor).await["sms"]["status"], "submitted");
    // Signed but unreadable: named.
    let no_status = br#"{"message_id":"gw-2"}"#;
    let r = receipt(&app, "gw", no_status, Some(webhook.sign(no_status))).await;
    r.expect_error(422, "invalid_request", Some("status"), "no status");
    let r = receipt(&app, "gw", b"[", Some(webhook.sign(b"["))).await;
    r.expect_error(400, "malformed_json", None, "not JSON");
    // A message nobody knows: acknowledged, never a 5xx.
    let stranger = br#"{"message_id":"gw-999","status":"delivered"}"#;
    let r = receipt(&app, "gw", stranger, Some(webhook.sign(stranger))).await;
    assert_eq!((r.status, &r.body["applied"]), (202, &json!(false)), "{}", r.text);
    // An intermediate state changes nothing.
    let sent = br#"{"message_id":"gw-1","status":"sent"}"#;
    let r = receipt(&app, "gw", sent, Some(webhook.sign(sent))).await;
    assert_eq!((r.status, &r.body["status"]), (202, &json!("submitted")), "{}", r.text);

    // The delivery, by one segment's id, settles the SMS.
    let r = receipt(&app, "gw", delivered, signed()).await;
    let expected = json!({"provider": "gw", "message_id": "gw-2", "status": "delivered", "applied": true});
    assert_eq!(r.expect(200, "a delivery"), &expected);
    let sms = app.call(id, &app.keys.auditor).await["sms"].clone();
    assert_eq!((&sms["status"], instant(&sms["submitted_at"])), (&json!("delivered"), now), "{sms}");

    // The answer rate of announced and unannounced calls, per pool.
    let followup = sms_call("receipt-none", now + mins(20)).purpose("results_followup");
    let other = allocate(&app, &followup, 201).await["call_id"].as_i64().expect("call_id");
    app.clock.advance(mins(30));
    let ended = app.clock.now().to_string();
    for (call_id, outcome) in [(id, "answered"), (other, "no_answer")] {
        let body = json!({"outcome": outcome, "duration_s": 30, "ended_at": ended});
        app.post(&format!("/v1/calls/{call_id}/outcome"), &app.keys.dialer, &body).await.expect(200, outcome);
    }
    let labels = format!("{{facility=\"{SAINT_JEAN}\",purpose=\"appointment_reminder\",status=\"delivered\"}}");
    assert_eq!(metric(&app, &format!("vigie_sms_total{labels}")).await, Some(1.0));
    for (series, value) in [
        ("vigie_answer_rate{pool=\"A\",announced=\"true\"}", 1.0),
        ("vigie_answer_rate_calls{pool=\"A\",announced=\"true\"}", 1.0),
        ("vigie_answer_rate_answered{pool=\"A\",announced=\"true\"}", 1.0),
        ("vigie_answer_rate{pool=\"B\",announced=\"false\"}", 0.0),
        ("vigie_answer_rate_calls{pool=\"B\",announced=\"false\"}", 1.0),
    ] {
        assert_eq!(metric(&app, series).await, Some(value), "{series}");
    }
}
