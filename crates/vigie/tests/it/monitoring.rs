//! Reputation monitoring end to end: a quarantine opens an incident with its alert and
//! its playbook; the incident closes back to service only after the cool-down and a
//! clean check, or with the number retired and its cost; the binary's monitor reads
//! call outcomes and quarantines a number whose calls are being rejected (or alerts,
//! per pool); alerts are deduplicated, rate-limited and acknowledged.

use vigie_core::{
    AlarmAction, Alert, AlertAction, AlertPolicy, AlertSignal, E164, FacilityId, Outcome, PoolCode, Purpose, Severity,
    Timestamp,
};
use vigie_store::{NewCall, OutcomeReport, Raised, Resolution, StoreError};

use crate::helpers::{A1, A2, Fixture, PATIENT_LYON, SAINT_JEAN, Setup, TestApp, TestDb, hours, mins, report};

/// Reputation monitoring, as the binary compiles it.
#[path = "../../src/monitor.rs"]
#[allow(dead_code)]
mod monitor;

use monitor::{Monitor, MonitorSettings};

async fn spawn(db: &TestDb, numbers: Vec<Fixture>) -> TestApp {
    crate::helpers::spawn_app_with(db, Setup { numbers, ..Setup::default() }).await
}

fn call(call_ref: &str, dial_at: Timestamp) -> NewCall {
    NewCall {
        call_ref: call_ref.into(),
        facility: FacilityId::parse(SAINT_JEAN).expect("facility"),
        purpose: Purpose::parse("appointment_reminder").expect("purpose"),
        patient_ref: format!("pat-{call_ref}"),
        patient_phone: E164::parse(PATIENT_LYON).expect("phone"),
        dial_at,
    }
}

/// Places a call now and records how it ended.
async fn place(app: &TestApp, call_ref: &str, outcome: OutcomeReport) -> String {
    let now = app.clock.now();
    let answer = app.store.allocate(call(call_ref, now + mins(1)), "dialer").await.expect("a number");
    app.store.record_outcome(answer.call_id, outcome, "dialer").await.expect("the outcome");
    answer.caller_number.expect("a caller number").to_string()
}

fn answered(at: Timestamp) -> OutcomeReport {
    OutcomeReport {
        outcome: Outcome::Answered,
        duration_s: 95,
        ended_at: at,
        ring_s: Some(9),
        sip_code: Some(200),
        agent_note: None,
    }
}

fn unanswered(at: Timestamp) -> OutcomeReport {
    OutcomeReport {
        outcome: Outcome::NoAnswer,
        duration_s: 0,
        ended_at: at,
        ring_s: Some(30),
        sip_code: Some(480),
        agent_note: None,
    }
}

/// What a number labelled by the network's analytics gets: refused at once, 607.
fn rejected(at: Timestamp) -> OutcomeReport {
    OutcomeReport {
        outcome: Outcome::NoAnswer,
        duration_s: 0,
        ended_at: at,
        ring_s: Some(1),
        sip_code: Some(607),
        agent_note: None,
    }
}

pub(crate) async fn monitoring_a_quarantine_opens_an_incident_that_closes_after_a_clean_check(db: TestDb) {
    let app = spawn(&db, vec![(A1, "A", Some(SAINT_JEAN)), (A2, "A", Some(SAINT_JEAN))]).await;
    let now = app.clock.now();
    let (dialer, ops) = (&app.keys.dialer, &app.keys.ops);
    app.post("/v1/reports", dialer, &report(A1, "patient", now - mins(50))).await.expect(202, "first report");
    let second = app.post("/v1/reports", ops, &report(A1, "app_label", now)).await;
    assert_eq!(second.expect(202, "second report")["quarantined"], true);

    // The incident is open with its playbook and its alert, from the quarantine's own
    // transaction: the first report is its first evidence.
    let incidents = app.store.incidents(true, 10).await.expect("incidents");
    assert_eq!(incidents.len(), 1);
    let incident = &incidents[0];
    assert_eq!((incident.number.as_str(), incident.trigger_signal.as_str()), (A1, "reports"));
    assert_eq!(incident.time_to_detect(), mins(50));
    let steps: Vec<&str> = incident.steps.iter().map(|s| s.step.as_str()).collect();
    assert_eq!(
        steps,
        ["reserve_swapped", "identity_checked", "delisting_requested", "facility_informed", "cause_analysed"]
    );
    assert!(incident.step_done("reserve_swapped"), "no call was left without a number");
    assert_eq!(incident.steps[1].deadline_at, incident.opened_at + hours(2));
    assert!(incident.overdue(now + hours(3)).iter().any(|s| s.step == "identity_checked"));
    let alerts = app.store.alerts(true, 10).await.expect("alerts");
    assert_eq!(alerts.len(), 1);
    assert_eq!((alerts[0].severity.as_str(), alerts[0].action.as_str()), ("critical", "quarantined"));
    assert_eq!(alerts[0].number.as_ref().map(E164::as_str), Some(A1));
    assert!(alerts[0].evidence.contains("2 spam reports"), "{}", alerts[0].evidence);
    assert!(alerts[0].evidence_fr.starts_with("2 signalements de spam le "), "{}", alerts[0].evidence_fr);
    assert!(incident.reason_fr.starts_with("2 signalements de spam le "), "{}", incident.reason_fr);

    // A step past its deadline raises an alert, once.
    let id = incident.id;
    let mut monitor = Monitor::start(app.store.clone(), MonitorSettings::default(), now).await.expect("start");
    app.clock.advance(hours(3));
    let r = monitor.tick(app.clock.now()).await.expect("tick");
    let overdue: Vec<&String> = r.alerts.iter().filter(|k| k.starts_with("incident_overdue")).collect();
    assert!(overdue.contains(&&format!("incident_overdue:{A1}:incident:{id}:identity_checked")), "{r:?}");
    assert!(!overdue.iter().any(|k| k.ends_with("reserve_swapped")), "done by the engine: {r:?}");
    app.clock.advance(mins(2));
    let again = monitor.tick(app.clock.now()).await.expect("tick");
    assert!(again.alerts.is_empty(), "repeats are counted, not raised again: {again:?}");

    // Steps are recorded once, with who did them.
    let done = app.store.complete_incident_step(id, "identity_checked", "ops-desk", "CNAM and callback checked").await;
    let done = done.expect("the step");
    assert!(done.step_done("identity_checked"));
    let again = app.store.complete_incident_step(id, "identity_checked", "ops-desk", "again").await;
    assert!(matches!(again, Err(StoreError::Conflict { field: "step", .. })), "{again:?}");
    let unknown = app.store.complete_incident_step(id, "pray", "ops-desk", "").await;
    assert!(matches!(unknown, Err(StoreError::Invalid(ref f)) if f.field == "step"), "{unknown:?}");

    // Back to service: refused during the cool-down, then after a report, then allowed.
    let early = app.store.close_incident(id, Resolution::Returned, "looks clean", "ops-desk").await;
    assert!(
        matches!(early, Err(StoreError::Conflict { ref message, .. }) if message.contains("cool-down")),
        "{early:?}"
    );
    app.clock.advance(hours(73));
    let closed = app.store.close_incident(id, Resolution::Returned, "delisted", "ops-desk").await.expect("closed");
    assert_eq!(closed.closed.as_ref().map(|c| c.2.clone()), Some(Resolution::Returned));
    assert_eq!(closed.time_to_resolve(), Some(hours(76) + mins(2)));
    assert_eq!(app.number(A1, &app.keys.auditor).await["state"], "active");
    let twice = app.store.close_incident(id, Resolution::Returned, "", "ops-desk").await;
    assert!(matches!(twice, Err(StoreError::Conflict { field: "incident_id", .. })), "{twice:?}");

    // A second incident ends with the number retired and its cost recorded.
    let now = app.clock.now();
    app.post("/v1/reports", dialer, &report(A1, "patient", now)).await.expect(202, "report");
    app.post("/v1/reports", dialer, &report(A1, "carrier", now)).await.expect(202, "report");
    let open = app.store.incidents(true, 10).await.expect("incidents");
    assert_eq!(open.len(), 1);
    app.clock.advance(hours(1));
    let dirty = app.store.close_incident(open[0].id, Resolution::Returned, "", "ops-desk").await;
    assert!(matches!(dirty, Err(StoreError::Conflict { .. })), "{dirty:?}");
    let retired =
        app.store.close_incident(open[0].id, Resolution::Retired { cost_cents: 4_500 }, "burnt", "ops-desk").await;
    assert_eq!(retired.expect("retired").closed.map(|c| c.2), Some(Resolution::Retired { cost_cents: 4_500 }));
    assert_eq!(app.number(A1, &app.keys.auditor).await["state"], "retired");
    let entries = app.store.audit_entries(10_000).await.expect("audit");
    for action in ["incident.open", "incident.step", "incident.close"] {
        assert!(entries.iter().any(|e| e.action == action), "{action} in the audit trail");
    }
}

pub(crate) async fn monitoring_rejected_calls_quarantine_the_number_within_five_calls(db: TestDb) {
    let app = spawn(&db, vec![(A1, "A", Some(SAINT_JEAN))]).await;
    let mut monitor =
        Monitor::start(app.store.clone(), MonitorSettings::default(), app.clock.now()).await.expect("start");
    // Healthy traffic: three in five answered. Nothing happens.
    for i in 0..40 {
        let at = app.clock.now();
        let o = if i % 5 < 3 { answered(at) } else { unanswered(at) };
        place(&app, &format!("healthy-{i}"), o).await;
        app.clock.advance(mins(1));
    }
    let r = monitor.tick(app.clock.now()).await.expect("tick");
    assert_eq!((r.outcomes, r.quarantined.len(), r.alerts.len()), (40, 0, 0), "{r:?}");
    // Then the network starts refusing its calls with 607 within a ring.
    let mut calls = 0;
    let mut quarantined_after = None;
    for i in 0..10 {
        let at = app.clock.now();
        place(&app, &format!("labelled-{i}"), rejected(at)).await;
        calls += 1;
        let r = monitor.tick(app.clock.now()).await.expect("tick");
        if !r.quarantined.is_empty() {
            assert_eq!(r.quarantined, [A1]);
            quarantined_after = Some(calls);
            break;
        }
        app.clock.advance(mins(1));
    }
    let after = quarantined_after.expect("the number is quarantined");
    assert!(after <= 5, "quarantined after {after} rejected calls");
    assert_eq!(app.number(A1, &app.keys.auditor).await["state"], "quarantined");
    let incident = app.store.incidents(true, 1).await.expect("incidents").pop().expect("an incident");
    assert_eq!(incident.trigger_signal, "answer_rate_drop");
    assert!(incident.reason.contains("607/608"), "{}", incident.reason);
    assert!(incident.time_to_detect() <= mins(i64::from(after)), "{:?}", incident.time_to_detect());

    // A restarted monitor resumes after the last outcome it read.
    let mut again =
        Monitor::start(app.store.clone(), MonitorSettings::default(), app.clock.now()).await.expect("restart");
    assert_eq!(again.tick(app.clock.now()).await.expect("tick").outcomes, 0);
}

pub(crate) async fn monitoring_alert_only_pools_and_alert_limits(db: TestDb) {
    let app = spawn(&db, vec![(A1, "A", Some(SAINT_JEAN))]).await;
    let pool_a = PoolCode::parse("A").expect("pool");
    let mut settings = MonitorSettings::default();
    settings.on_number_alarm.insert(pool_a.clone(), AlarmAction::AlertOnly);
    let mut monitor = Monitor::start(app.store.clone(), settings, app.clock.now()).await.expect("start");
    let mut alerted = false;
    for i in 0..10 {
        place(&app, &format!("rejected-{i}"), rejected(app.clock.now())).await;
        let r = monitor.tick(app.clock.now()).await.expect("tick");
        assert!(r.quarantined.is_empty());
        if !r.alerts.is_empty() {
            alerted = true;
            break;
        }
        app.clock.advance(mins(1));
    }
    assert!(alerted, "an alert for the number");
    assert_eq!(app.number(A1, &app.keys.auditor).await["state"], "active", "alert only: the number stays in service");
    let alert = app.store.alerts(true, 10).await.expect("alerts").pop().expect("an alert");
    assert_eq!((alert.signal.as_str(), alert.action.as_str()), ("answer_rate_drop", "alert_only"));

    // Deduplicated, rate-limited (critical ones pass), acknowledged once.
    let now = app.clock.now();
    let limits = AlertPolicy { max_per_hour: 2, ..AlertPolicy::default() };
    let new = |pool: &str, severity: Severity| Alert {
        signal: AlertSignal::ExternalFlag,
        severity,
        number: None,
        pool: Some(PoolCode::parse(pool).expect("pool")),
        about: None,
        evidence: vigie_core::Finding::text("listed"),
        action: AlertAction::Nothing,
        at: now,
    };
    // The answer-rate alert above is the hour's first; B's is its second.
    assert!(matches!(app.store.raise_alert(&new("B", Severity::Warning), &limits).await, Ok(Raised::New(_))));
    let repeat = app.store.raise_alert(&new("B", Severity::Warning), &limits).await.expect("raised");
    let Raised::Repeat(id) = repeat else { panic!("a repeat: {repeat:?}") };
    assert_eq!(app.store.alert(id).await.expect("read").expect("the alert").repeats, 1);
    assert!(matches!(app.store.raise_alert(&new("C", Severity::Warning), &limits).await, Ok(Raised::RateLimited(_))));
    assert!(matches!(app.store.raise_alert(&new("D", Severity::Critical), &limits).await, Ok(Raised::New(_))));
    let acked = app.store.acknowledge_alert(id, "ops-desk", "seen").await.expect("acknowledged");
    assert_eq!(acked.acknowledged.map(|a| a.1), Some("ops-desk".to_owned()));
    let twice = app.store.acknowledge_alert(id, "ops-desk", "").await;
    assert!(matches!(twice, Err(StoreError::Conflict { .. })), "{twice:?}");
    // After acknowledgement the same key raises a new alert.
    assert!(!matches!(app.store.raise_alert(&new("B", Severity::Warning), &limits).await, Ok(Raised::Repeat(_))));
    let to_notify = app.store.alerts_to_notify(5, 100).await.expect("to notify");
    assert!(to_notify.iter().all(|a| a.suppressed.is_none()));
}

pub(crate) async fn monitoring_api_lists_acknowledges_and_closes(db: TestDb) {
    let app = spawn(&db, vec![(A1, "A", Some(SAINT_JEAN)), (A2, "A", Some(SAINT_JEAN))]).await;
    let now = app.clock.now();
    let (dialer, ops, auditor) = (&app.keys.dialer, &app.keys.ops, &app.keys.auditor);
    app.post("/v1/reports", dialer, &report(A2, "patient", now)).await.expect(202, "report");
    app.post("/v1/reports", dialer, &report(A2, "patient", now)).await.expect(202, "report");

    // Alerts: listed for ops and auditors, not dialers; acknowledged once.
    app.get("/v1/alerts", dialer).await.expect_error(403, "forbidden", None, "a dialer lists alerts");
    app.get("/v1/alerts?state=some", ops).await.expect_error(422, "invalid_request", Some("state"), "a bad state");
    let alerts = app.get("/v1/alerts", auditor).await.expect(200, "alerts").clone();
    assert_eq!(alerts.as_array().map(Vec::len), Some(1), "{alerts}");
    assert_eq!(
        (&alerts[0]["number"], &alerts[0]["action"]),
        (&serde_json::json!(A2), &serde_json::json!("quarantined"))
    );
    let ack = format!("/v1/alerts/{}/ack", alerts[0]["alert_id"]);
    app.post(&ack, auditor, &serde_json::json!({})).await.expect_error(403, "forbidden", None, "an auditor acks");
    let acked = app.post(&ack, ops, &serde_json::json!({"note": "seen"})).await.expect(200, "ack").clone();
    assert_eq!(acked["acknowledged_by"], crate::helpers::OPS_KEY_NAME);
    app.post(&ack, ops, &serde_json::json!({})).await.expect_error(409, "conflict", Some("alert_id"), "ack twice");
    assert_eq!(app.get("/v1/alerts", ops).await.expect(200, "open alerts").as_array().map(Vec::len), Some(0));
    assert_eq!(app.get("/v1/alerts?state=all", ops).await.expect(200, "all").as_array().map(Vec::len), Some(1));

    // Incidents: the playbook over the API.
    let incidents = app.get("/v1/incidents", auditor).await.expect(200, "incidents").clone();
    let id = incidents[0]["incident_id"].as_i64().expect("an id");
    assert_eq!(incidents[0]["steps"][0]["done_by"], "engine");
    let path = format!("/v1/incidents/{id}");
    app.get("/v1/incidents/999", ops).await.expect_error(404, "not_found", Some("incident_id"), "unknown incident");
    app.get("/v1/incidents/x", ops).await.expect_error(422, "invalid_request", Some("incident_id"), "bad id");
    let step = format!("{path}/steps/identity_checked");
    app.post(&step, ops, &serde_json::json!({})).await.expect_error(422, "invalid_request", Some("note"), "no note");
    app.post(&format!("{path}/steps/pray"), ops, &serde_json::json!({"note": "x"})).await.expect_error(
        422,
        "invalid_request",
        Some("step"),
        "unknown step",
    );
    let done = app.post(&step, ops, &serde_json::json!({"note": "CNAM checked"})).await.expect(200, "step").clone();
    assert_eq!(done["steps"][1]["done_by"], crate::helpers::OPS_KEY_NAME);
    let close = format!("{path}/close");
    let back = serde_json::json!({"resolution": "returned", "note": "clean"});
    app.post(&close, ops, &back).await.expect_error(409, "conflict", Some("resolution"), "during the cool-down");
    let retire = serde_json::json!({"resolution": "retired", "note": "burnt"});
    app.post(&close, ops, &retire).await.expect_error(422, "invalid_request", Some("replacement_cost_eur"), "no cost");
    let retire = serde_json::json!({"resolution": "retired", "replacement_cost_eur": 45.5, "note": "burnt"});
    let closed = app.post(&close, ops, &retire).await.expect(200, "closed").clone();
    assert_eq!(
        (&closed["state"], &closed["replacement_cost_eur"]),
        (&serde_json::json!("closed"), &serde_json::json!(45.5))
    );
    assert_eq!(app.get(&path, auditor).await.expect(200, "read")["resolution"], "retired");
    assert_eq!(app.number(A2, auditor).await["state"], "retired");
}

pub(crate) async fn monitoring_feeds_push_signed_reports(db: TestDb) {
    const SECRET: &[u8] = b"feed shared secret 0123";
    let feed = vigie_http::ReportWebhook {
        name: "signal-spam".into(),
        secret: SECRET.to_vec(),
        source: vigie_core::ReportSource::CommunityDb,
    };
    let numbers = vec![(A1, "A", Some(SAINT_JEAN)), (A2, "A", Some(SAINT_JEAN))];
    let app =
        crate::helpers::spawn_app_with(&db, Setup { numbers, report_webhooks: vec![feed], ..Setup::default() }).await;
    let client = reqwest::Client::new();
    let push = |source: &str, body: serde_json::Value, ts: i64, secret: &[u8]| {
        let body = body.to_string();
        let ts = ts.to_string();
        let signature = vigie_alert::sign(secret, &ts, body.as_bytes());
        client
            .post(format!("{}/v1/reports/inbound/{source}", app.base))
            .header(vigie_alert::TIMESTAMP_HEADER, ts)
            .header(vigie_alert::SIGNATURE_HEADER, signature)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let now = app.clock.now();
    let ts = now.as_second();
    let body = serde_json::json!({"number": A1, "reported_at": now.to_string(), "detail": "37 reports, Démarchage"});
    let status = |r: reqwest::Response| r.status().as_u16();

    // Refused before anything is read: unknown feed, wrong secret, stale timestamp.
    assert_eq!(status(push("other", body.clone(), ts, SECRET).await.expect("sent")), 404);
    assert_eq!(status(push("signal-spam", body.clone(), ts, b"wrong secret").await.expect("sent")), 401);
    assert_eq!(status(push("signal-spam", body.clone(), ts - 600, SECRET).await.expect("sent")), 401);
    assert_eq!(app.store.alerts(false, 10).await.expect("alerts").len(), 0);
    let bad = serde_json::json!({"number": A1, "reported_at": (now + hours(1)).to_string()});
    let r = push("signal-spam", bad, ts, SECRET).await.expect("sent");
    assert_eq!(r.status().as_u16(), 422);
    assert_eq!(r.json::<serde_json::Value>().await.expect("json")["field"], "reported_at");

    // Two signed reports the same day: the number is quarantined, its incident open.
    let first = push("signal-spam", body.clone(), ts, SECRET).await.expect("sent");
    assert_eq!(first.status().as_u16(), 202);
    let second = push("signal-spam", body, ts, SECRET).await.expect("sent");
    assert_eq!(second.json::<serde_json::Value>().await.expect("json")["quarantined"], true);
    assert_eq!(app.number(A1, &app.keys.auditor).await["state"], "quarantined");
    let entries = app.store.audit_entries(10_000).await.expect("audit");
    assert!(entries.iter().any(|e| e.action == "report.receive" && e.actor == "webhook:signal-spam"));
    assert!(entries.iter().any(|e| e.action == "report.receive" && e.detail.contains("source=community_db")));
}

/// An HTTP endpoint that records what it receives and answers `status`.
struct Receiver {
    url: String,
    received: std::sync::Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, String)>>>,
    status: std::sync::Arc<std::sync::atomic::AtomicU16>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receiver() -> Receiver {
    use std::sync::atomic::{AtomicU16, Ordering};
    use std::sync::{Arc, Mutex};
    let received: Arc<Mutex<Vec<(axum::http::HeaderMap, String)>>> = Arc::default();
    let status = Arc::new(AtomicU16::new(200));
    let (r, s) = (Arc::clone(&received), Arc::clone(&status));
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let (r, s) = (Arc::clone(&r), Arc::clone(&s));
            async move {
                r.lock().expect("lock").push((headers, body));
                axum::http::StatusCode::from_u16(s.load(Ordering::SeqCst)).expect("a status")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Receiver { url, received, status, task }
}

#[path = "../../src/notify.rs"]
#[allow(dead_code)]
mod notify;

pub(crate) async fn monitoring_alerts_reach_a_webhook_and_a_mailbox(db: TestDb) {
    use std::sync::atomic::Ordering;
    let app = spawn(&db, vec![(A1, "A", Some(SAINT_JEAN)), (A2, "A", Some(SAINT_JEAN))]).await;
    let now = app.clock.now();
    app.post("/v1/reports", &app.keys.dialer, &report(A1, "patient", now - mins(40))).await.expect(202, "report");
    app.post("/v1/reports", &app.keys.dialer, &report(A1, "app_label", now)).await.expect(202, "report");
    let hook = receiver().await;
    let mail = tempfile::tempdir().expect("a directory");
    let (_server, port) = crate::helpers::smtpd(mail.path()).await;
    const SECRET: &[u8] = b"alerts webhook secret";
    let webhook = vigie_alert::WebhookChannel::new(vigie_alert::WebhookConfig::new("ops-hook", &hook.url, SECRET))
        .expect("a webhook");
    let mut email =
        vigie_alert::EmailConfig::new("ops-mail", "127.0.0.1", "Vigie <vigie@centre.example>", &["ops@centre.example"]);
    email.port = port;
    email.security = vigie_alert::SmtpSecurity::None;
    let email = vigie_alert::EmailChannel::new(email).expect("an e-mail channel");
    let notifier =
        notify::Notifier::new(app.store.clone(), vec![Box::new(webhook), Box::new(email)], vigie_core::Language::Fr);

    // The webhook is down: the alert waits, with the error recorded.
    hook.status.store(503, Ordering::SeqCst);
    let r = notifier.tick(app.clock.now()).await.expect("a round");
    assert_eq!((r.delivered, r.failed), (0, 1));
    let alert = app.store.alerts(true, 1).await.expect("alerts").pop().expect("the quarantine's alert");
    assert!(
        alert.notified_at.is_none() && alert.notify_error.as_deref().is_some_and(|e| e.contains("503")),
        "{alert:?}"
    );

    // It is back: delivered, signed, once.
    hook.status.store(200, Ordering::SeqCst);
    let r = notifier.tick(app.clock.now()).await.expect("a round");
    assert_eq!((r.delivered, r.failed), (1, 0));
    assert_eq!(notifier.tick(app.clock.now()).await.expect("a round").delivered, 0, "nothing left");
    let received = hook.received.lock().expect("lock").clone();
    let (headers, body) = received.last().expect("a delivery");
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert!(vigie_alert::verify_signature(
        SECRET,
        &header(vigie_alert::TIMESTAMP_HEADER),
        body.as_bytes(),
        &header(vigie_alert::SIGNATURE_HEADER)
    ));
    assert_eq!(header(vigie_alert::DELIVERY_HEADER), format!("alert-{}", alert.id));
    let json: serde_json::Value = serde_json::from_str(body).expect("JSON");
    assert_eq!(
        (&json["number"], &json["action"], &json["signal"]),
        (&serde_json::json!(A1), &serde_json::json!("quarantined"), &serde_json::json!("reports"))
    );

    // The e-mail, in French, names the number, the pool, the signal, the evidence and
    // the action.
    let mut files: Vec<_> =
        std::fs::read_dir(mail.path()).expect("mail dir").map(|e| e.expect("entry").path()).collect();
    files.sort();
    let message = std::fs::read_to_string(files.last().expect("an e-mail")).expect("the e-mail");
    println!("--- alert e-mail as received ---\n{message}");
    let decoded = quoted_printable(&message);
    println!("--- decoded ---\n{decoded}");
    for expected in [
        "+33 4 78 10 00 01 mis en",
        "quarantaine (pool A)",
        "Pool : A",
        "signalements de spam",
        // The evidence too is French in a French e-mail.
        "Constat : 2 signalements de spam le",
        "sans numéro ; incident",
        "Action prise : numéro mis en quarantaine",
        "08:00",
    ] {
        assert!(decoded.contains(expected), "{expected:?} in the e-mail:\n{decoded}");
    }
}

pub(crate) async fn monitoring_the_reputation_audit_checks_every_number(db: TestDb) {
    // The command audits the 30 days before the real clock: so does the app here.
    let numbers = vec![(A1, "A", Some(SAINT_JEAN)), (A2, "A", Some(SAINT_JEAN))];
    let setup = Setup { numbers, now: jiff::Timestamp::now(), ..Setup::default() };
    let app = crate::helpers::spawn_app_with(&db, setup).await;
    let now = app.clock.now();
    // A1's identity is complete; A2 got one report.
    let identity = serde_json::json!({
        "action": "identity", "reason": "registered with the carrier",
        "cnam_registered_at": now.to_string(), "directory_listed_at": now.to_string(),
        "directory_name": "Clinique Saint-Jean SAS", "man_authenticated": true,
    });
    app.patch(&format!("/v1/numbers/{A1}"), &app.keys.ops, &identity).await.expect(200, "identity");
    app.post("/v1/reports", &app.keys.dialer, &report(A2, "patient", now)).await.expect(202, "report");
    for i in 0..4 {
        place(&app, &format!("audit-{i}"), answered(app.clock.now())).await;
    }
    let out = crate::helpers::vigie_on(&db, ["audit", "numbers", "--json"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let audit: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(audit["checks_per_number"], 17);
    let number = |e164: &str| {
        audit["numbers"].as_array().and_then(|a| a.iter().find(|n| n["number"] == e164)).cloned().expect("listed")
    };
    let verdict = |n: &serde_json::Value, code: &str| {
        n["checks"].as_array().and_then(|c| c.iter().find(|c| c["code"] == code)).map(|c| c["verdict"].clone())
    };
    let (a1, a2) = (number(A1), number(A2));
    assert_eq!(a1["checks"].as_array().map(Vec::len), Some(17));
    assert_eq!(verdict(&a1, "identity_registered"), Some(serde_json::json!("pass")));
    assert_eq!(verdict(&a2, "identity_registered"), Some(serde_json::json!("fail")));
    assert_eq!(verdict(&a2, "reports_30d"), Some(serde_json::json!("warn")));
    assert_eq!(verdict(&a1, "cap_respected_30d"), Some(serde_json::json!("pass")));
    assert_eq!(verdict(&a1, "caller_authentication_recorded"), Some(serde_json::json!("pass")));
    let total = audit["summary"]["pass"].as_u64().unwrap_or(0)
        + audit["summary"]["warn"].as_u64().unwrap_or(0)
        + audit["summary"]["fail"].as_u64().unwrap_or(0);
    assert_eq!(total, 17 * audit["summary"]["numbers"].as_u64().unwrap_or(0));
    // The text form lists the findings with their evidence.
    let out = crate::helpers::vigie_on(&db, ["audit", "numbers"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("warn {A2}: reports_30d: 1 spam report")), "{text}");
    assert!(text.contains("summary: "), "{text}");
    println!("{text}");
}

/// A quoted-printable body decoded (soft line breaks removed, `=XX` bytes read as UTF-8).
fn quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) async fn monitoring_an_incident_comes_with_its_cause_and_delisting_requests(db: TestDb) {
    let app = spawn(&db, vec![(A1, "A", Some(SAINT_JEAN)), (A2, "A", Some(SAINT_JEAN))]).await;
    let now = app.clock.now();
    // Two reports about A1 when it placed no call: spoofing suspected.
    app.post("/v1/reports", &app.keys.dialer, &report(A1, "patient", now - mins(30))).await.expect(202, "report");
    app.post("/v1/reports", &app.keys.dialer, &report(A1, "patient", now)).await.expect(202, "report");
    let incidents = app.get("/v1/incidents", &app.keys.ops).await.expect(200, "incidents").clone();
    let id = incidents[0]["incident_id"].as_i64().expect("an id");
    let path = format!("/v1/incidents/{id}/playbook");
    app.get(&path, &app.keys.dialer).await.expect_error(403, "forbidden", None, "a dialer");
    app.get(&format!("{path}?language=de"), &app.keys.ops).await.expect_error(
        422,
        "invalid_request",
        Some("language"),
        "de",
    );
    let fr = app.get(&path, &app.keys.auditor).await.expect(200, "the playbook").clone();
    let causes: Vec<&str> =
        fr["causes"].as_array().expect("causes").iter().filter_map(|c| c["cause"].as_str()).collect();
    assert_eq!(causes, ["spoofing_suspected"], "{fr}");
    let delisting = fr["delisting"].as_array().expect("requests");
    assert_eq!(delisting.len(), vigie_core::ListingTarget::ALL.len());
    for r in delisting {
        let body = r["body"].as_str().expect("a body");
        assert!(body.contains("+33 4 78 10 00 01") && body.contains("Clinique"), "{body}");
        assert!(!body.contains(crate::helpers::PATIENT_LYON), "no patient data: {body}");
    }
    let en = app.get(&format!("{path}?language=en"), &app.keys.ops).await.expect(200, "in English").clone();
    assert_ne!(en["delisting"][0]["body"], fr["delisting"][0]["body"]);
}

#[path = "../../src/sources.rs"]
#[allow(dead_code)]
mod sources;

/// A HUHU-like verification tool, a community database and a source that is down.
async fn reputation_server() -> (String, tokio::task::JoinHandle<()>) {
    use axum::extract::{Path, Query};
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::get;
    let app = axum::Router::new()
        .route(
            "/v1/score",
            get(|headers: HeaderMap, Query(q): Query<std::collections::HashMap<String, String>>| async move {
                if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer k") {
                    return (StatusCode::UNAUTHORIZED, axum::Json(serde_json::json!({"error": "unauthorized"})));
                }
                let spam = q.get("number").map(String::as_str) == Some(A2);
                let body = if spam {
                    serde_json::json!({"data": {"score": 12, "verdict": "spam"}})
                } else {
                    serde_json::json!({"data": {"score": 88, "verdict": "ok"}})
                };
                (StatusCode::OK, axum::Json(body))
            }),
        )
        .route(
            "/numbers/{national}",
            get(|Path(national): Path<String>| async move {
                if national == "0478100001" {
                    (
                        StatusCode::OK,
                        axum::Json(serde_json::json!({"listed": true, "reports": 37, "category": "Démarchage"})),
                    )
                } else {
                    (StatusCode::NOT_FOUND, axum::Json(serde_json::json!({"listed": false})))
                }
            }),
        )
        .route("/down/{national}", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, task)
}

fn source(name: &str, kind: &str, url: String) -> sources::HttpSourceConfig {
    sources::HttpSourceConfig {
        name: name.into(),
        kind: kind.into(),
        url,
        auth: None,
        score: None,
        flagged: None,
        flag_below_score: None,
        label: None,
        not_found_is_clean: kind == "community_db",
        interval: std::time::Duration::from_secs(60),
        timeout: std::time::Duration::from_secs(5),
    }
}

pub(crate) async fn monitoring_external_sources_flag_numbers_and_fail_safely(db: TestDb) {
    use sources::{HttpJsonSource, JsonPath, OnFlag, Poller, ReputationSource};
    use std::sync::Arc;
    let app = spawn(&db, vec![(A1, "A", Some(SAINT_JEAN)), (A2, "A", Some(SAINT_JEAN))]).await;
    let (base, server) = reputation_server().await;
    let path = |p: &str| JsonPath::parse(p).expect("a path");
    let huhu = sources::HttpSourceConfig {
        auth: Some(("Authorization".into(), "Bearer k".into())),
        score: Some((path("$.data.score"), 0.0, 100.0, true)),
        flag_below_score: Some(30.0),
        label: Some(path("$.data.verdict")),
        ..source("huhu", "verification_tool", format!("{base}/v1/score?number={{number}}"))
    };
    let now = app.clock.now();

    // A verification tool scores A2 as spam: quarantined at once, with its incident.
    let tool: Vec<Arc<dyn ReputationSource>> = vec![Arc::new(HttpJsonSource::new(huhu.clone()).expect("a source"))];
    let poller = Poller::new(app.store.clone(), tool, OnFlag::Quarantine, AlertPolicy::default());
    let mut failures = 0;
    let round = poller.round(0, &mut failures, now).await.expect("a round");
    assert_eq!(
        (round.checked, round.flagged.clone(), round.quarantined.clone()),
        (2, vec![A2.to_owned()], vec![A2.to_owned()])
    );
    assert_eq!(app.number(A2, &app.keys.auditor).await["state"], "quarantined");
    let incident = app.store.incidents(true, 1).await.expect("incidents").pop().expect("an incident");
    assert_eq!(incident.trigger_signal, "external_flag");
    assert!(incident.reason.contains("huhu") && incident.reason.contains("spam"), "{}", incident.reason);
    let readings = app.store.latest_readings(&E164::parse(A1).expect("a number")).await.expect("readings");
    assert_eq!((readings.len(), readings[0].flagged, readings[0].score), (1, false, Some(88.0)));

    // A community database lists A1: alert only, A1 stays in service; 404 means clean.
    let db_source = sources::HttpSourceConfig {
        flagged: Some((path("$.listed"), Vec::new())),
        label: Some(path("$.category")),
        ..source("signal-db", "community_db", format!("{base}/numbers/{{national}}"))
    };
    let community: Vec<Arc<dyn ReputationSource>> = vec![Arc::new(HttpJsonSource::new(db_source).expect("a source"))];
    let poller = Poller::new(app.store.clone(), community, OnFlag::Alert, AlertPolicy::default());
    let round = poller.round(0, &mut failures, now).await.expect("a round");
    assert_eq!((round.flagged.clone(), round.quarantined.len(), round.errors.len()), (vec![A1.to_owned()], 0, 0));
    assert_eq!(app.number(A1, &app.keys.auditor).await["state"], "active");
    let alerts = app.store.alerts(true, 10).await.expect("alerts");
    assert!(
        alerts
            .iter()
            .any(|a| a.signal == "external_flag" && a.action == "alert_only" && a.evidence.contains("Démarchage"))
    );

    // A source that is down: errors, a growing back-off, an alert from the second
    // failed round; allocation does not wait for it.
    let failing = |name: &str| -> Arc<dyn ReputationSource> {
        Arc::new(
            HttpJsonSource::new(sources::HttpSourceConfig {
                flagged: Some((path("$.listed"), Vec::new())),
                ..source(name, "community_db", format!("{base}/down/{{national}}"))
            })
            .expect("a source"),
        )
    };
    let down = vec![failing("down"), failing("down-too")];
    let poller = Poller::new(app.store.clone(), down, OnFlag::Quarantine, AlertPolicy::default());
    let mut failures = 0;
    let first = poller.round(0, &mut failures, now).await.expect("a round");
    assert!(first.errors.iter().all(|e| e.contains("HTTP 500")), "{first:?}");
    assert_eq!(first.next_in, std::time::Duration::from_secs(120));
    assert!(!app.store.alerts(true, 20).await.expect("alerts").iter().any(|a| a.signal == "source_failing"));
    let second = poller.round(0, &mut failures, now).await.expect("a round");
    assert_eq!(second.next_in, std::time::Duration::from_secs(240));
    assert!(app.store.alerts(true, 20).await.expect("alerts").iter().any(|a| a.signal == "source_failing"));
    // A second failing source is an alert of its own, not a repeat of the first.
    let mut failures_too = 0;
    for _ in 0..2 {
        poller.round(1, &mut failures_too, now).await.expect("a round");
    }
    let failing_keys: Vec<String> = app
        .store
        .alerts(true, 20)
        .await
        .expect("alerts")
        .into_iter()
        .filter(|a| a.signal == "source_failing")
        .map(|a| a.dedup_key)
        .collect();
    assert_eq!(failing_keys.len(), 2, "{failing_keys:?}");
    assert!(failing_keys.contains(&"source_failing:source:down-too".to_owned()), "{failing_keys:?}");
    place(&app, "while-down", answered(app.clock.now())).await;

    // A wrong key is an error naming the status, not a reading.
    let wrong = HttpJsonSource::new(sources::HttpSourceConfig { auth: None, ..huhu }).expect("a source");
    let e = wrong.check(&E164::parse(A1).expect("a number")).await.expect_err("refused");
    assert!(e.to_string().contains("HTTP 401"), "{e}");
    server.abort();
}

pub(crate) async fn monitoring_scores_numbers_with_reasons_and_history(db: TestDb) {
    let app = spawn(&db, vec![(A1, "A", Some(SAINT_JEAN)), (A2, "A", Some(SAINT_JEAN))]).await;
    let now = app.clock.now();
    app.post("/v1/reports", &app.keys.dialer, &report(A2, "patient", now - mins(10))).await.expect(202, "report");
    let mut monitor = Monitor::start(app.store.clone(), MonitorSettings::default(), now).await.expect("start");
    let path = |n: &str| format!("/v1/numbers/{n}/reputation");
    let a2 = app.get(&path(A2), &app.keys.auditor).await.expect(200, "A2's score").clone();
    let score = a2["score"].as_u64().expect("a score");
    assert!(score < 100, "{a2}");
    assert_eq!(a2["reasons"][0]["code"], "reports_24h", "{a2}");
    assert_eq!(a2["reasons"][0]["weight"].as_u64(), Some(100 - score), "{a2}");
    let a1 = app.get(&path(A1), &app.keys.dialer).await.expect(200, "A1's score").clone();
    assert_eq!((&a1["score"], a1["reasons"].as_array().map(Vec::len)), (&serde_json::json!(100), Some(0)));
    // An hour later the monitor scores again: the history grows.
    app.clock.advance(hours(1));
    monitor.tick(app.clock.now()).await.expect("tick");
    let a2 = app.get(&path(A2), &app.keys.ops).await.expect(200, "A2's score").clone();
    assert_eq!(a2["history"].as_array().map(Vec::len), Some(2), "{a2}");
    app.get(&path("+33478999999"), &app.keys.ops).await.expect_error(404, "not_found", Some("number"), "unknown");
    app.get(&format!("{}?days=0", path(A1)), &app.keys.ops).await.expect_error(
        422,
        "invalid_request",
        Some("days"),
        "days",
    );
}
