//! The HTTP contract: keys and roles, validation naming the field and the rule, body
//! limits, 404s, idempotency, masking, outcomes, reports and quarantine, operators'
//! changes to numbers, pool figures, health, metrics and the OpenAPI document.

use reqwest::Method;
use serde_json::{Value, json};
use vigie_http::HttpOptions;

use crate::helpers::{
    A1, A2, A3, B1, B2, CallReq, E1, NANTES, OPS_KEY_NAME, PATIENT_LYON, R1, Setup, TestDb, hours, mins, report,
    spawn_app, spawn_app_with, ts,
};

pub(crate) async fn keys_and_roles_are_checked(db: TestDb) {
    let app = spawn_app(&db).await;
    let call = CallReq::new("auth-1", app.clock.now() + hours(1)).json();

    let none = app.send(Method::GET, "/v1/numbers", None, None).await;
    none.expect_error(401, "unauthorized", None, "no key");
    let wrong = app.send(Method::GET, "/v1/numbers", Some("vk_not-a-key"), None).await;
    wrong.expect_error(401, "unauthorized", None, "a wrong key");
    let no_key_post = app.send(Method::POST, "/v1/calls", None, Some(&call)).await;
    no_key_post.expect_error(401, "unauthorized", None, "POST /v1/calls without a key");
    let wrong_post = app.send(Method::POST, "/v1/calls", Some("vk_forged"), Some(&call)).await;
    wrong_post.expect_error(401, "unauthorized", None, "POST /v1/calls with a wrong key");

    let k = &app.keys;
    for (key, role) in [(&k.auditor, "auditor"), (&k.ops, "ops")] {
        let r = app.post("/v1/calls", key, &call).await;
        r.expect_error(403, "forbidden", None, &format!("{role} POST /v1/calls"));
    }
    let r = app.post("/v1/reports", &k.auditor, &report(A1, "patient", app.clock.now())).await;
    r.expect_error(403, "forbidden", None, "auditor POST /v1/reports");
    let r = app.patch(&format!("/v1/numbers/{A1}"), &k.dialer, &json!({"action": "quarantine", "reason": "x"})).await;
    r.expect_error(403, "forbidden", None, "dialer PATCH /v1/numbers");
    let new_number = json!({"number": "+33478100099", "pool": "A", "facility": null, "display_name": "X", "callback": "+33478000000"});
    let r = app.post("/v1/numbers", &k.auditor, &new_number).await;
    r.expect_error(403, "forbidden", None, "auditor POST /v1/numbers");
    let r = app.post("/v1/numbers", &k.dialer, &new_number).await;
    r.expect_error(403, "forbidden", None, "dialer POST /v1/numbers");

    // Nothing was written by the refused requests.
    assert_eq!(
        app.get("/v1/numbers", &k.auditor).await.expect(200, "auditor reads numbers").as_array().map(Vec::len),
        Some(7)
    );
    let pools = app.get("/v1/pools", &k.auditor).await;
    let used: u64 = pools
        .expect(200, "pools")
        .as_array()
        .expect("list")
        .iter()
        .map(|p| p["used_today"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(used, 0, "refused requests allocated nothing");

    // The right roles get through; admin may do everything.
    app.post("/v1/calls", &k.dialer, &call).await.expect(201, "dialer POST /v1/calls");
    let admin_call = CallReq::new("auth-2", app.clock.now() + hours(1)).json();
    app.post("/v1/calls", &k.admin, &admin_call).await.expect(201, "admin POST /v1/calls");
    app.post("/v1/reports", &k.ops, &report(B1, "carrier", app.clock.now())).await.expect(202, "ops POST /v1/reports");
}

pub(crate) async fn bad_input_names_the_field_and_the_rule(db: TestDb) {
    let app = spawn_app(&db).await;
    let now = app.clock.now();
    let key = &app.keys.dialer;
    let good = CallReq::new("valid-1", now + hours(2));

    // (what, body, field, words of the rule)
    let mut cases: Vec<(&str, Value, &str, &str)> = Vec::new();
    let with = |k: &str, v: Value| {
        let mut body = good.json();
        body[k] = v;
        body
    };
    cases.push((
        "unparsable patient phone",
        with("patient_phone", json!("not-a-phone")),
        "patient_phone",
        "telephone number",
    ));
    cases.push(("short patient phone", with("patient_phone", json!("+3312")), "patient_phone", "numbering plan"));
    cases.push((
        "unknown purpose",
        with("purpose", json!("teleportation")),
        "purpose",
        "not a purpose any pool serves",
    ));
    cases.push(("malformed purpose", with("purpose", json!("Appointment Reminder")), "purpose", "a-z"));
    cases.push(("unknown facility", with("facility", json!("clinique-inconnue")), "facility", "not a known facility"));
    cases.push((
        "dial_at 6 minutes ago",
        with("dial_at", json!((now - mins(6)).to_string())),
        "dial_at",
        "5 minutes in the past",
    ));
    cases.push((
        "dial_at 15 days ahead",
        with("dial_at", json!((now + hours(15 * 24)).to_string())),
        "dial_at",
        "14 days ahead",
    ));
    cases.push(("dial_at without offset", with("dial_at", json!("2026-06-10T10:00:00")), "dial_at", "RFC 3339"));
    cases.push(("dial_at in words", with("dial_at", json!("tomorrow")), "dial_at", "RFC 3339"));
    cases.push(("dial_at as a number", with("dial_at", json!(1_781_000_000)), "dial_at", "invalid type"));
    cases.push(("empty call_ref", with("call_ref", json!("")), "call_ref", "1 to 128"));
    cases.push((
        "patient_ref that is a phone",
        with("patient_ref", json!("0612345678")),
        "patient_ref",
        "pseudonymous",
    ));
    let mut missing = good.json();
    missing.as_object_mut().expect("object").remove("dial_at");
    cases.push(("missing dial_at", missing, "dial_at", "missing field"));
    let mut missing = good.json();
    missing.as_object_mut().expect("object").remove("patient_phone");
    cases.push(("missing patient_phone", missing, "patient_phone", "missing field"));
    cases.push(("unknown field", with("priority", json!("high")), "priority", "unknown field"));

    for (what, body, field, rule) in &cases {
        let r = app.post("/v1/calls", key, body).await;
        r.expect_error(422, "invalid_request", Some(field), what);
        assert!(r.str("message").contains(rule), "{what}: the message names the rule ({rule:?}): {}", r.text);
    }
    let r = app.send_raw(Method::POST, "/v1/calls", key, b"{\"call_ref\": ".to_vec()).await;
    r.expect_error(400, "malformed_json", None, "a body that is not JSON");

    // Just inside the window is accepted.
    let inside_past = CallReq::new("valid-past", now - mins(4));
    app.post("/v1/calls", key, &inside_past.json()).await.expect(201, "dial_at 4 minutes ago");
    let inside_ahead = CallReq::new("valid-ahead", now + hours(13 * 24));
    app.post("/v1/calls", key, &inside_ahead.json()).await.expect(201, "dial_at 13 days ahead");
    // None of the refused calls was stored.
    let used: u64 = app
        .get("/v1/pools", key)
        .await
        .body
        .as_array()
        .expect("pools")
        .iter()
        .map(|p| p["used_today"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(used, 1, "only the call dialled today counts today");

    // Reports and outcomes name their fields too.
    let ops = &app.keys.ops;
    let r = app
        .post("/v1/reports", ops, &json!({"number": A1, "source": "neighbour", "reported_at": now.to_string()}))
        .await;
    r.expect_error(422, "invalid_request", Some("source"), "unknown report source");
    let r = app.post("/v1/reports", ops, &report(A1, "patient", now + hours(1))).await;
    r.expect_error(422, "invalid_request", Some("reported_at"), "report from the future");
    let r = app.post("/v1/reports", ops, &report("0612", "patient", now)).await;
    r.expect_error(422, "invalid_request", Some("number"), "report on a bad number");
    let id =
        app.post("/v1/calls", key, &good.json()).await.expect(201, "a good call")["call_id"].as_i64().expect("call_id");
    let outcome = |o: &str| json!({"outcome": o, "duration_s": 10, "ended_at": now.to_string()});
    let r = app.post(&format!("/v1/calls/{id}/outcome"), key, &outcome("exploded")).await;
    r.expect_error(422, "invalid_request", Some("outcome"), "unknown outcome");
    let mut bad_type = outcome("answered");
    bad_type["duration_s"] = json!("ten");
    let r = app.post(&format!("/v1/calls/{id}/outcome"), key, &bad_type).await;
    r.expect_error(422, "invalid_request", Some("duration_s"), "duration_s not a number");
    let mut bad_sip = outcome("refused");
    bad_sip["sip_code"] = json!(999);
    let r = app.post(&format!("/v1/calls/{id}/outcome"), key, &bad_sip).await;
    r.expect_error(422, "invalid_request", Some("sip_code"), "sip_code out of range");
    let mut future_end = outcome("answered");
    future_end["ended_at"] = json!((now + hours(2)).to_string());
    let r = app.post(&format!("/v1/calls/{id}/outcome"), key, &future_end).await;
    r.expect_error(422, "invalid_request", Some("ended_at"), "ended_at in the future");
}

pub(crate) async fn bodies_over_the_limit_get_413(db: TestDb) {
    let limit = 1024;
    let http = HttpOptions { body_bytes_max: limit, ..HttpOptions::default() };
    let app = spawn_app_with(&db, Setup { http, ..Setup::default() }).await;
    let key = &app.keys.dialer;
    let mut big = CallReq::new("big-1", app.clock.now() + hours(1));
    big.patient_ref = "p".repeat(2 * limit);
    let r = app.post("/v1/calls", key, &big.json()).await;
    r.expect_error(413, "payload_too_large", None, "a call body over the limit");
    let long_detail = json!({"number": A1, "source": "patient", "reported_at": app.clock.now().to_string(), "detail": "x".repeat(limit)});
    let r = app.post("/v1/reports", key, &long_detail).await;
    r.expect_error(413, "payload_too_large", None, "a report body over the limit");
    // Nothing of either was kept, and a body within the limit is served.
    let n = app.number(A1, key).await;
    assert_eq!(n["reports_today"], 0, "the refused report was not recorded");
    let small = CallReq::new("big-1", app.clock.now() + hours(1));
    app.post("/v1/calls", key, &small.json()).await.expect(201, "the same call_ref with a small body is new");

    // A chunked body declares no length: the limit holds all the same.
    let mut chunked = CallReq::new("big-2", app.clock.now() + hours(1));
    chunked.patient_ref = "q".repeat(2 * limit);
    let body = chunked.json().to_string();
    let head = format!(
        "POST /v1/calls HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    let request = format!("{head}{:x}\r\n{body}\r\n0\r\n\r\n", body.len());
    let addr = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    tokio::io::AsyncWriteExt::write_all(&mut stream, request.as_bytes()).await.expect("send");
    let mut response = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut response),
    )
    .await;
    assert!(matches!(read, Ok(Ok(_))), "the server answers and closes");
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 413"), "a chunked body over the limit: {response}");
    assert!(response.contains("\"payload_too_large\""), "the API's JSON error: {response}");
    let pool = app.db.pool().await;
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM calls WHERE call_ref = 'big-2'")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(stored, 0, "the chunked call was not stored");
}

pub(crate) async fn unknown_things_are_404(db: TestDb) {
    let app = spawn_app(&db).await;
    let (dialer, ops) = (&app.keys.dialer, &app.keys.ops);
    app.get("/v1/calls/999999", dialer).await.expect_error(404, "not_found", Some("call_id"), "unknown call");
    app.get("/v1/calls/abc", dialer).await.expect_error(
        422,
        "invalid_request",
        Some("call_id"),
        "call id not a number",
    );
    app.get("/v1/numbers/+33478999999", dialer).await.expect_error(404, "not_found", Some("number"), "unknown number");
    app.get("/v1/numbers/hello", dialer).await.expect_error(422, "invalid_request", Some("number"), "not a number");
    let outcome = json!({"outcome": "answered", "duration_s": 5, "ended_at": app.clock.now().to_string()});
    app.post("/v1/calls/999999/outcome", dialer, &outcome).await.expect_error(
        404,
        "not_found",
        Some("call_id"),
        "outcome of an unknown call",
    );
    let patch = json!({"action": "quarantine", "reason": "test"});
    app.patch("/v1/numbers/+33478999999", ops, &patch).await.expect_error(
        404,
        "not_found",
        Some("number"),
        "PATCH of an unknown number",
    );
    app.post("/v1/reports", ops, &report("+33478999999", "patient", app.clock.now())).await.expect_error(
        404,
        "not_found",
        Some("number"),
        "report on an unknown number",
    );
    app.get("/v1/nowhere", dialer).await.expect_error(404, "not_found", None, "unknown route");
}

pub(crate) async fn the_same_call_ref_gets_the_same_answer(db: TestDb) {
    let app = spawn_app(&db).await;
    let key = &app.keys.dialer;
    let call_dial_at = app.clock.now() + hours(3);
    let call = CallReq::new("idem-1", call_dial_at);
    let first = app.post("/v1/calls", key, &call.json()).await;
    first.expect(201, "first POST");
    assert_eq!(first.body["status"], "allocated");
    assert_eq!(first.body["pool"], "A");
    assert!(first.body["call_id"].as_i64().is_some_and(|id| id > 0), "a call id: {}", first.text);
    assert!(first.body["display_name"].as_str().is_some_and(|d| !d.is_empty()), "a displayed name: {}", first.text);
    for attempt in 0..3 {
        let again = app.post("/v1/calls", key, &call.json()).await;
        again.expect(200, &format!("repeat {attempt}"));
        assert_eq!(again.body, first.body, "the repeat answers exactly as the first time");
    }
    // The same call_ref for a different call is a conflict, and changes nothing.
    let mut other_time = call.clone();
    other_time.dial_at = call.dial_at + mins(30);
    let mut other_phone = call.clone();
    other_phone.patient_phone = "+33240000002".into();
    for (what, body) in [
        ("different dial_at", other_time.json()),
        ("different patient phone", other_phone.json()),
        ("different purpose", call.clone().purpose("results_followup").json()),
        ("different patient", call.clone().patient("someone-else").json()),
    ] {
        app.post("/v1/calls", key, &body).await.expect_error(409, "conflict", Some("call_ref"), what);
    }
    let stored = app.call(first.body["call_id"].as_i64().expect("id"), key).await;
    assert_eq!(stored["dial_at"].as_str().map(ts), Some(call.dial_at));
    assert_eq!(stored["caller_number"], first.body["caller_number"]);

    // Concurrent repeats of a new call_ref: one creation, every answer the same.
    let call = CallReq::new("idem-2", app.clock.now() + hours(4));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..24 {
        let (api, key, body) = (app.api.clone(), key.clone(), call.json());
        tasks.spawn(async move { api.post("/v1/calls", &key, &body).await });
    }
    let replies = tasks.join_all().await;
    let created = replies.iter().filter(|r| r.status == 201).count();
    assert_eq!(created, 1, "exactly one 201 among concurrent repeats: {replies:?}");
    assert!(replies.iter().all(|r| r.status == 200 || r.status == 201), "{replies:?}");
    assert!(replies.iter().all(|r| r.body["call_id"] == replies[0].body["call_id"]), "one call id: {replies:?}");
    assert!(replies.iter().all(|r| r.body["caller_number"] == replies[0].body["caller_number"]), "{replies:?}");

    let pool = app.db.pool().await;
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM calls WHERE call_ref IN ('idem-1', 'idem-2')")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(rows, 2, "each call_ref is stored once");

    // A dialer retrying after the call's time (now outside the dial window) still gets
    // the answer it was given.
    app.clock.advance(hours(5));
    let late = app.post("/v1/calls", key, &CallReq::new("idem-1", call_dial_at).json()).await;
    late.expect(200, "a retry after dial_at");
    assert_eq!(late.body, first.body, "the retry answers as the first time");
}

pub(crate) async fn the_patient_phone_is_shown_to_the_dialer_only(db: TestDb) {
    let app = spawn_app(&db).await;
    let call = CallReq::new("mask-1", app.clock.now() + hours(1));
    let answer = app.post("/v1/calls", &app.keys.dialer, &call.json()).await;
    let id = answer.expect(201, "POST /v1/calls")["call_id"].as_i64().expect("call_id");

    let seen = app.call(id, &app.keys.dialer).await;
    assert_eq!(seen["patient_phone"], PATIENT_LYON, "the dialer sees the phone");
    assert_eq!(seen["call_ref"], "mask-1");
    assert_eq!(seen["facility"], call.facility);
    assert_eq!(seen["purpose"], "appointment_reminder");
    assert_eq!(seen["pool"], "A");
    assert_eq!(seen["patient_ref"], app.store.pseudonym(&call.patient_ref), "reads return the pseudonym");
    assert_eq!(seen["legal_basis"], "art9_2_h_care");
    assert_eq!(seen["status"], "allocated");
    assert_eq!(seen["caller_number"], answer.body["caller_number"]);
    assert_eq!(seen["display_name"], answer.body["display_name"]);
    assert_eq!(seen["dial_at"].as_str().map(ts), Some(call.dial_at));
    assert!(seen["outcome"].is_null());

    let k = &app.keys;
    for (key, role) in [(&k.ops, "ops"), (&k.auditor, "auditor"), (&k.admin, "admin")] {
        let masked = app.call(id, key).await;
        let phone = masked["patient_phone"].as_str().expect("patient_phone is a string");
        assert_ne!(phone, PATIENT_LYON, "{role} must not see the phone");
        assert!(!phone.contains("72000001"), "{role} sees part of the phone: {phone}");
        assert_eq!(masked["caller_number"], seen["caller_number"], "{role} sees the rest of the call");
    }
    // Patient phones are sealed at rest: the plain number is nowhere in the row.
    let pool = app.db.pool().await;
    let sealed: Vec<u8> = sqlx::query_scalar("SELECT patient_phone FROM calls WHERE call_ref = 'mask-1'")
        .fetch_one(&pool)
        .await
        .expect("the stored call");
    assert!(!sealed.windows(PATIENT_LYON.len()).any(|w| w == PATIENT_LYON.as_bytes()), "the phone is stored in clear");
}

pub(crate) async fn outcomes_are_recorded_and_spam_notes_count_as_reports(db: TestDb) {
    let app = spawn_app(&db).await;
    let key = &app.keys.dialer;
    let start = app.clock.now();
    let first = app.post("/v1/calls", key, &CallReq::new("out-1", start + mins(10)).json()).await;
    let first_id = first.expect(201, "first call")["call_id"].as_i64().expect("id");
    // The same patient again: the same caller number (affinity).
    let second_req = CallReq::new("out-2", start + mins(20)).patient("pat-out-1");
    let second = app.post("/v1/calls", key, &second_req.json()).await;
    let second_id = second.expect(201, "second call")["call_id"].as_i64().expect("id");
    let number = first.str("caller_number").to_owned();
    assert_eq!(second.body["caller_number"], number.as_str(), "the patient gets the number that called them before");
    app.clock.advance(hours(1));

    let answered = json!({"outcome": "answered", "duration_s": 95, "ended_at": (start + mins(12)).to_string(), "ring_s": 7, "sip_code": 200});
    let ack = app.post(&format!("/v1/calls/{first_id}/outcome"), key, &answered).await;
    ack.expect(200, "outcome answered");
    assert_eq!(ack.body["recorded"], true);
    assert!(ack.body["report"].is_null(), "an answered call files no report: {}", ack.text);
    let c = app.call(first_id, key).await;
    assert_eq!(c["status"], "completed");
    assert_eq!(c["outcome"]["outcome"], "answered");
    assert_eq!(c["outcome"]["duration_s"], 95);
    assert_eq!(c["outcome"]["ring_s"], 7);
    assert_eq!(c["outcome"]["sip_code"], 200);
    assert_eq!(c["outcome"]["ended_at"].as_str().map(ts), Some(start + mins(12)));

    let spam = json!({"outcome": "refused", "duration_s": 0, "ended_at": (start + mins(21)).to_string(), "ring_s": 1, "sip_code": 607, "agent_note": "shown_as_spam"});
    let ack = app.post(&format!("/v1/calls/{second_id}/outcome"), key, &spam).await;
    ack.expect(200, "outcome with shown_as_spam");
    assert_eq!(ack.body["report"]["reports_that_day"], 1, "the note files a report: {}", ack.text);
    assert_eq!(ack.body["report"]["quarantined"], false);
    let n = app.number(&number, key).await;
    assert_eq!(n["reports_today"], 1, "the note counts as a report of the number");
    assert_eq!(n["state"], "active");
    // Posting the same outcome again does not count the note twice.
    app.post(&format!("/v1/calls/{second_id}/outcome"), key, &spam).await.expect(200, "the same outcome again");
    assert_eq!(app.number(&number, key).await["reports_today"], 1, "a repeated note is not a second report");

    // With the note, one more report that day quarantines the number.
    let r = app.post("/v1/reports", key, &report(&number, "app_label", app.clock.now())).await;
    r.expect(202, "report after the note");
    assert_eq!(r.body["reports_that_day"], 2);
    assert_eq!(r.body["quarantined"], true);
    assert_eq!(app.number(&number, key).await["state"], "quarantined");

    // The pool's answer rate reads the outcomes: one answered of two.
    let pools = app.get("/v1/pools", &app.keys.auditor).await;
    let a = pools
        .expect(200, "pools")
        .as_array()
        .expect("list")
        .iter()
        .find(|p| p["code"] == "A")
        .cloned()
        .expect("pool A");
    assert_eq!(a["outcomes_7d"], 2, "{a}");
    assert_eq!(a["answer_rate_7d"].as_f64(), Some(0.5), "{a}");
}

pub(crate) async fn the_second_report_of_a_day_quarantines_and_moves_pending_calls(db: TestDb) {
    let app = spawn_app(&db).await;
    let (key, now) = (&app.keys.dialer, app.clock.now());
    // One patient, three calls: one already dialled, two ahead. Affinity keeps them on
    // one number.
    let past = app.post("/v1/calls", key, &CallReq::new("q-past", now - mins(2)).patient("pat-q").json()).await;
    past.expect(201, "a call dialled two minutes ago");
    let number = past.str("caller_number").to_owned();
    let mut ahead = Vec::new();
    for (i, at) in [now + hours(1), now + hours(26)].into_iter().enumerate() {
        let r = app.post("/v1/calls", key, &CallReq::new(&format!("q-ahead-{i}"), at).patient("pat-q").json()).await;
        r.expect(201, "a call ahead");
        assert_eq!(r.str("caller_number"), number, "affinity keeps the patient's number");
        ahead.push(r.body["call_id"].as_i64().expect("id"));
    }

    let first = app.post("/v1/reports", key, &report(&number, "patient", now - hours(1))).await;
    first.expect(202, "first report");
    assert_eq!(first.body["reports_that_day"], 1);
    assert_eq!(first.body["quarantined"], false);
    assert_eq!(app.number(&number, key).await["state"], "active", "one report does not quarantine");

    let second = app.post("/v1/reports", key, &report(&number, "carrier", now)).await;
    second.expect(202, "second report");
    assert_eq!(second.body["reports_that_day"], 2);
    assert_eq!(second.body["quarantined"], true);
    assert_eq!(second.body["reassigned_calls"], 2, "{}", second.text);
    assert_eq!(second.body["calls_needing_number"], 0, "{}", second.text);

    // Durable before the answer: the very next read shows it, with its history.
    let n = app.number(&number, &app.keys.auditor).await;
    assert_eq!(n["state"], "quarantined");
    assert_eq!(n["reports_today"], 2);
    assert_eq!(n["state_since"].as_str().map(ts), Some(now));
    let last = &n["history"][0];
    assert_eq!(last["state"], "quarantined", "{n}");
    assert_eq!(last["at"].as_str().map(ts), Some(now), "{n}");
    assert_eq!(last["actor"], "engine", "{n}");
    assert_eq!(last["pool"], "A", "{n}");
    let reason = last["reason"].as_str().expect("reason");
    assert!(reason.contains("2 spam reports") && reason.contains("2026-06-10"), "the reason says why: {reason}");

    // The calls ahead moved to another active number of the pool; the dialled one stayed.
    for id in &ahead {
        let c = app.call(*id, key).await;
        assert_eq!(c["status"], "allocated", "{c}");
        let moved_to = c["caller_number"].as_str().expect("a new number");
        assert_ne!(moved_to, number, "call {id} still has the quarantined number");
        assert!([A1, A2, A3].contains(&moved_to), "call {id} moved out of pool A: {moved_to}");
        assert!(c["reassigned_at"].as_str().is_some(), "the move is dated: {c}");
        assert_eq!(app.number(moved_to, key).await["state"], "active");
    }
    let c = app.call(past.body["call_id"].as_i64().expect("id"), key).await;
    assert_eq!(c["caller_number"], number.as_str(), "a call already dialled keeps its number");
    // A new call never gets the quarantined number.
    let r = app.post("/v1/calls", key, &CallReq::new("q-after", now + hours(2)).patient("pat-q").json()).await;
    assert_ne!(r.expect(201, "a new call for the patient")["caller_number"], number.as_str());

    // Pool B: when no number is left, the calls need one, and get one when asked again.
    let ops = &app.keys.ops;
    let patch = json!({"action": "quarantine", "reason": "held back for the test"});
    app.patch(&format!("/v1/numbers/{B2}"), ops, &patch).await.expect(200, "quarantine B2");
    let b_call = CallReq::new("q-b", now + hours(5)).purpose("results_followup");
    let r = app.post("/v1/calls", key, &b_call.json()).await;
    assert_eq!(r.expect(201, "a B call")["caller_number"], B1);
    let b_id = r.body["call_id"].as_i64().expect("id");
    app.post("/v1/reports", ops, &report(B1, "community_db", now)).await.expect(202, "B1 report 1");
    let r = app.post("/v1/reports", ops, &report(B1, "verification_tool", now)).await;
    r.expect(202, "B1 report 2");
    assert_eq!(r.body["quarantined"], true);
    assert_eq!(r.body["calls_needing_number"], 1, "{}", r.text);
    let c = app.call(b_id, key).await;
    assert_eq!(c["status"], "needs_number", "{c}");
    assert!(c["caller_number"].is_null(), "{c}");
    let release = json!({"action": "release", "reason": "checked with the carrier"});
    app.patch(&format!("/v1/numbers/{B2}"), ops, &release).await.expect(200, "release B2");
    let r = app.post("/v1/calls", key, &b_call.json()).await;
    r.expect(200, "the same call asked again");
    assert_eq!(r.body["caller_number"], B2, "{}", r.text);
    assert_eq!(r.body["status"], "allocated");
    assert_eq!(r.body["call_id"], b_id);
    assert_eq!(app.call(b_id, key).await["caller_number"], B2);
}

pub(crate) async fn reports_count_on_the_paris_day(db: TestDb) {
    let app = spawn_app(&db).await;
    let key = &app.keys.ops;
    // 21:30Z and 22:30Z on 9 June are one UTC day but two Paris days (23:30 and 00:30).
    let r = app.post("/v1/reports", key, &report(A2, "patient", ts("2026-06-09T21:30:00Z"))).await;
    assert_eq!(r.expect(202, "late report")["reports_that_day"], 1);
    let r = app.post("/v1/reports", key, &report(A2, "patient", ts("2026-06-09T22:30:00Z"))).await;
    r.expect(202, "early report");
    assert_eq!(r.body["reports_that_day"], 1, "a report after Paris midnight starts a new day: {}", r.text);
    assert_eq!(r.body["quarantined"], false);
    assert_eq!(app.number(A2, key).await["state"], "active");
    // Another report late on 9 June, Paris time, is that day's second: quarantine.
    let r = app.post("/v1/reports", key, &report(A2, "patient", ts("2026-06-09T23:59:00+02:00"))).await;
    r.expect(202, "another report on 9 June, Paris");
    assert_eq!(r.body["reports_that_day"], 2, "{}", r.text);
    assert_eq!(r.body["quarantined"], true, "two reports on 9 June (Paris) quarantine");
    assert_eq!(app.number(A2, key).await["state"], "quarantined");
}

pub(crate) async fn operators_change_numbers_with_a_reason(db: TestDb) {
    let app = spawn_app(&db).await;
    let ops = &app.keys.ops;
    let path = format!("/v1/numbers/{A3}");
    for (body, field, what) in [
        (json!({"action": "quarantine"}), "reason", "no reason"),
        (json!({"action": "quarantine", "reason": "   "}), "reason", "a blank reason"),
        (json!({"action": "paint", "reason": "x"}), "action", "unknown action"),
        (json!({"action": "move", "reason": "x"}), "pool", "move without a pool"),
        (json!({"action": "move", "reason": "x", "pool": "b"}), "pool", "a malformed pool"),
        (json!({"reason": "x"}), "action", "no action"),
    ] {
        app.patch(&path, ops, &body).await.expect_error(422, "invalid_request", Some(field), what);
    }
    assert_eq!(app.number(A3, ops).await["history"].as_array().map(Vec::len), Some(1), "refused changes left no trace");

    let step = |action: &str, reason: &str| json!({"action": action, "reason": reason});
    let r = app.patch(&path, ops, &step("quarantine", "carrier complaint #12")).await;
    r.expect(200, "quarantine");
    assert_eq!(r.body["state"], "quarantined");
    assert_eq!(r.body["state_reason"], "carrier complaint #12");
    assert_eq!(r.body["history"][0]["reason"], "carrier complaint #12");
    assert_eq!(r.body["history"][0]["actor"], OPS_KEY_NAME);
    assert_eq!(r.body["history"][0]["at"].as_str().map(ts), Some(app.clock.now()));
    app.patch(&path, ops, &step("quarantine", "again")).await.expect_error(
        409,
        "conflict",
        Some("action"),
        "quarantine twice",
    );

    app.clock.advance(mins(30));
    let r = app.patch(&path, ops, &step("release", "carrier lifted the flag")).await;
    assert_eq!(r.expect(200, "release")["state"], "active");
    app.patch(&path, ops, &step("release", "again")).await.expect_error(
        409,
        "conflict",
        Some("action"),
        "release an active number",
    );

    // The issue allows 404 or 422 for an unknown pool; either way the field is named.
    let r = app.patch(&path, ops, &json!({"action": "move", "reason": "x", "pool": "Z"})).await;
    match r.status {
        404 => r.expect_error(404, "not_found", Some("pool"), "move to an unknown pool"),
        _ => r.expect_error(422, "invalid_request", Some("pool"), "move to an unknown pool"),
    }
    app.patch(&path, ops, &json!({"action": "move", "reason": "x", "pool": "A"})).await.expect_error(
        409,
        "conflict",
        Some("pool"),
        "move to its own pool",
    );
    let r =
        app.patch(&path, ops, &json!({"action": "move", "reason": "Nantes results need a number", "pool": "B"})).await;
    r.expect(200, "move to B");
    assert_eq!(r.body["pool"], "B");
    assert_eq!(r.body["state"], "active");
    // A moved number serves its new pool.
    let b = CallReq::new("moved-1", app.clock.now() + hours(1)).purpose("results_followup");
    let answer = app.post("/v1/calls", &app.keys.dialer, &b.json()).await;
    assert_eq!(answer.expect(201, "a B call")["pool"], "B");
    let r = app.patch(&path, ops, &json!({"action": "move", "reason": "back to reserve", "pool": "R"})).await;
    assert_eq!(r.expect(200, "move to R")["state"], "reserve");
    let r = app.patch(&path, ops, &step("retire", "contract ended")).await;
    assert_eq!(r.expect(200, "retire")["state"], "retired");
    app.patch(&path, ops, &step("retire", "again")).await.expect_error(409, "conflict", Some("action"), "retire twice");
    app.patch(&path, ops, &step("release", "undo")).await.expect_error(
        409,
        "conflict",
        Some("action"),
        "release a retired number",
    );
    app.patch(&path, ops, &step("quarantine", "x")).await.expect_error(
        409,
        "conflict",
        Some("action"),
        "quarantine a retired number",
    );

    let n = app.number(A3, &app.keys.auditor).await;
    let history: Vec<(String, String, String, String)> = n["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
            (s("state"), s("pool"), s("reason"), s("actor"))
        })
        .collect();
    let expected: Vec<(String, String, String, String)> = [
        ("retired", "R", "contract ended", OPS_KEY_NAME),
        ("reserve", "R", "back to reserve", OPS_KEY_NAME),
        ("active", "B", "Nantes results need a number", OPS_KEY_NAME),
        ("active", "A", "carrier lifted the flag", OPS_KEY_NAME),
        ("quarantined", "A", "carrier complaint #12", OPS_KEY_NAME),
        ("active", "A", "added to the inventory", "test-setup"),
    ]
    .iter()
    .map(|(a, b, c, d)| ((*a).to_owned(), (*b).to_owned(), (*c).to_owned(), (*d).to_owned()))
    .collect();
    assert_eq!(history, expected, "the history, newest first");
    assert!(
        n["history"].as_array().expect("history").iter().all(|e| e["at"].as_str().is_some()),
        "every event is dated"
    );
}

pub(crate) async fn numbers_are_added_one_by_one_with_checks(db: TestDb) {
    let app = spawn_app(&db).await;
    let ops = &app.keys.ops;
    let body = |number: &str, pool: &str, facility: Option<&str>| json!({"number": number, "pool": pool, "facility": facility, "display_name": "CHU Nantes", "callback": "+33240000000"});
    for (b, field, what) in [
        (body("+33240100050", "a", None), "pool", "a malformed pool"),
        (body("+33240100050", "Z", None), "pool", "a pool that is not configured"),
        (body("+33612345678", "A", None), "number", "a mobile number"),
        (body("+33899123456", "A", None), "number", "a premium-rate number"),
        (body("0240", "A", None), "number", "not a number"),
        (body("+33240100050", "A", Some("nowhere")), "facility", "an unknown facility"),
        (body("+33240100050", "A", Some("Not A Slug")), "facility", "a malformed facility"),
    ] {
        app.post("/v1/numbers", ops, &b).await.expect_error(422, "invalid_request", Some(field), what);
    }
    let mut extra = body("+33240100050", "A", Some(NANTES));
    extra["colour"] = json!("blue");
    app.post("/v1/numbers", ops, &extra).await.expect_error(422, "invalid_request", Some("colour"), "an unknown field");

    let r = app.post("/v1/numbers", ops, &body("02 40 10 00 50", "A", Some(NANTES))).await;
    r.expect(201, "a new number in national form");
    assert_eq!(r.body["number"], "+33240100050");
    assert_eq!(r.body["national"], "0240100050");
    assert_eq!(r.body["zone"], 2);
    assert_eq!(r.body["category"], "geographic");
    assert_eq!(r.body["state"], "active");
    assert_eq!(r.body["facility"], NANTES);
    app.post("/v1/numbers", ops, &body("+33240100050", "B", None)).await.expect_error(
        409,
        "conflict",
        Some("number"),
        "a number already there",
    );
    let r = app.post("/v1/numbers", ops, &body("+33987100060", "R", None)).await;
    assert_eq!(r.expect(201, "a reserve number")["state"], "reserve");
    assert_eq!(app.get("/v1/numbers", ops).await.body.as_array().map(Vec::len), Some(9));
}

pub(crate) async fn pools_health_metrics_and_openapi(db: TestDb) {
    let app = spawn_app(&db).await;
    let (dialer, auditor) = (&app.keys.dialer, &app.keys.auditor);
    let now = app.clock.now();
    for i in 0..3 {
        app.post("/v1/calls", dialer, &CallReq::new(&format!("pm-{i}"), now + hours(1)).json())
            .await
            .expect(201, "a call today");
    }
    app.post("/v1/calls", dialer, &CallReq::new("pm-tomorrow", now + hours(24)).json())
        .await
        .expect(201, "a call tomorrow");
    let b = CallReq::new("pm-b", now + hours(2)).purpose("results_followup");
    app.post("/v1/calls", dialer, &b.json()).await.expect(201, "a B call");
    let patch = json!({"action": "quarantine", "reason": "test"});
    app.patch(&format!("/v1/numbers/{B2}"), &app.keys.ops, &patch).await.expect(200, "quarantine B2");

    let pools = app.get("/v1/pools", auditor).await;
    let pools = pools.expect(200, "GET /v1/pools").as_array().expect("a list").clone();
    let codes: Vec<&str> = pools.iter().filter_map(|p| p["code"].as_str()).collect();
    assert_eq!(codes, ["A", "B", "C", "D", "E", "R"]);
    let pool = |code: &str| pools.iter().find(|p| p["code"] == code).cloned().expect("pool");
    let a = pool("A");
    assert_eq!(a["role"], "outbound");
    assert_eq!(a["purposes"], json!(["appointment_reminder"]));
    assert_eq!(a["numbers"], json!({"active": 3, "resting": 0, "quarantined": 0, "reserve": 0, "retired": 0}));
    assert_eq!(a["capacity_today"], 240, "three active numbers at 80");
    assert_eq!(a["used_today"], 3, "tomorrow's call is not today's");
    assert_eq!(a["day"], "2026-06-10");
    assert!(a["answer_rate_7d"].is_null(), "no outcome yet: {a}");
    let b = pool("B");
    assert_eq!(b["numbers"]["active"], 1);
    assert_eq!(b["numbers"]["quarantined"], 1);
    assert_eq!(b["used_today"], 1);
    assert_eq!(b["capacity_today"], 80);
    assert_eq!(pool("R")["role"], "reserve");
    assert_eq!(pool("R")["numbers"]["reserve"], 1);
    assert_eq!(pool("E")["role"], "inbound");
    assert_eq!(pool("C")["numbers"], json!({"active": 0, "resting": 0, "quarantined": 0, "reserve": 0, "retired": 0}));
    // The figures agree with the numbers.
    let today = app.calls_today(auditor).await;
    assert_eq!([A1, A2, A3].iter().map(|n| today[*n]).sum::<u64>(), 3);
    assert_eq!(today[E1] + today[R1], 0, "inbound and reserve numbers take no call");

    // Facilities.
    let facilities = app.get("/v1/facilities", auditor).await;
    assert_eq!(facilities.expect(200, "facilities").as_array().map(Vec::len), Some(2));
    let f = json!({"id": "telemed-sud", "name": "Télémédecine Sud", "display_name": "Telemed Sud", "city": "Marseille", "callback": "+33491100000"});
    app.post("/v1/facilities", &app.keys.ops, &f).await.expect(201, "a new facility");
    app.post("/v1/facilities", &app.keys.ops, &f).await.expect(200, "the same facility again");
    app.post("/v1/facilities", dialer, &f).await.expect_error(403, "forbidden", None, "a dialer adds a facility");
    let mut bad = f.clone();
    bad["callback"] = json!("nope");
    app.post("/v1/facilities", &app.keys.ops, &bad).await.expect_error(
        422,
        "invalid_request",
        Some("callback"),
        "bad callback",
    );

    // Health, without a key.
    let h = app.send(Method::GET, "/healthz", None, None).await;
    h.expect(200, "healthz");
    let backend = match db.backend {
        crate::helpers::Backend::Sqlite => "sqlite",
        crate::helpers::Backend::Postgres => "postgres",
    };
    assert_eq!(h.body, json!({"status": "ok", "backend": backend}));

    // Metrics: Prometheus text, every sample a name, optional labels and a number.
    let m = app.send(Method::GET, "/metrics", None, None).await;
    m.expect(200, "metrics");
    assert!(m.content_type.starts_with("text/plain"), "content type {}", m.content_type);
    let mut samples = std::collections::BTreeMap::new();
    for line in m.text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# ") {
            assert!(rest.starts_with("HELP vigie_") || rest.starts_with("TYPE vigie_"), "comment line: {line}");
            continue;
        }
        let (name, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("sample line: {line}"));
        let metric = name.split('{').next().unwrap_or_default();
        assert!(
            metric.starts_with("vigie_") && metric.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "metric name: {line}"
        );
        assert!(name == metric || (name.ends_with('}') && name.contains("=\"")), "labels: {line}");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("sample value: {line}"));
        assert!(m.text.contains(&format!("# TYPE {metric} ")), "no TYPE for {metric}");
        samples.insert(name.to_owned(), value);
    }
    assert_eq!(samples.get("vigie_allocations_total"), Some(&5.0), "{}", m.text);
    // The WAL's size and the writer's checkpoints: SQLite only.
    let sqlite = db.backend == crate::helpers::Backend::Sqlite;
    assert_eq!(samples.get("vigie_sqlite_wal_bytes").is_some_and(|b| *b > 0.0), sqlite, "{}", m.text);
    assert_eq!(samples.contains_key("vigie_writer_checkpoint_tails_total"), sqlite, "{}", m.text);
    // Batches retried request by request: none here. Batches overlapped with the
    // previous one's commit, and decided without the lock: PostgreSQL only; one writer
    // never finds another at work.
    assert_eq!(samples.get("vigie_writer_failed_batches_total"), Some(&0.0), "{}", m.text);
    assert_eq!(samples.contains_key("vigie_writer_overlapped_batches_total"), !sqlite, "{}", m.text);
    assert_eq!(samples.contains_key("vigie_writer_guarded_batches_total"), !sqlite, "{}", m.text);
    assert_eq!(samples.get("vigie_writer_head_conflicts_total"), (!sqlite).then_some(&0.0), "{}", m.text);
    assert_eq!(samples.contains_key("vigie_writer_guard_retries_total"), !sqlite, "{}", m.text);
    assert_eq!(samples.get("vigie_pool_numbers{pool=\"B\",state=\"quarantined\"}"), Some(&1.0), "{}", m.text);
    assert_eq!(samples.get("vigie_pool_used_today{pool=\"A\"}"), Some(&3.0), "{}", m.text);

    // The OpenAPI document.
    let doc = app.send(Method::GET, "/openapi.json", None, None).await;
    doc.expect(200, "openapi");
    assert!(doc.content_type.starts_with("application/json"), "content type {}", doc.content_type);
    assert!(doc.body["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "an OpenAPI 3 document: {}", doc.text);
    let paths = doc.body["paths"].as_object().unwrap_or_else(|| panic!("paths: {}", doc.text));
    for route in [
        "/healthz",
        "/metrics",
        "/v1/facilities",
        "/v1/calls",
        "/v1/calls/{call_id}",
        "/v1/calls/{call_id}/outcome",
        "/v1/reports",
        "/v1/numbers",
        "/v1/numbers/{number}",
        "/v1/pools",
    ] {
        assert!(paths.contains_key(route), "{route} is documented");
    }
}

pub(crate) async fn reports_quarantine_numbers_out_of_outbound_service_too(db: TestDb) {
    let app = spawn_app(&db).await;
    let (ops, now) = (&app.keys.ops, app.clock.now());
    // A reserve number flagged twice in a day must not stay promotable, and an inbound
    // number flagged twice is out of service like any other.
    for number in [R1, E1] {
        app.post("/v1/reports", ops, &report(number, "community_db", now)).await.expect(202, "first report");
        let r = app.post("/v1/reports", ops, &report(number, "app_label", now)).await;
        r.expect(202, "second report");
        assert_eq!(r.body["quarantined"], true, "{number}: {}", r.text);
        let n = app.number(number, ops).await;
        assert_eq!(n["state"], "quarantined", "{n}");
        assert_eq!(n["history"][0]["actor"], "engine", "{n}");
    }
}
