//! The SMPP provider against node-smpp's server: bind, submit (GSM, UCS-2, long
//! concatenated messages), delivery receipts, a patient's STOP, enquire_link, the
//! SMSC dropping the connection or dying, throttling and rejections, the window and
//! the rate limit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use vigie_core::{E164, SmsSender, SmsStatus, encode_sms};
use vigie_sms::{
    DeliveryReceipt, Health, PatientReply, SmppConfig, SmppProvider, SmsEvent, SmsProvider, SubmitError, event_channel,
};

use crate::smsc::Smsc;
use crate::{CapturedLogs, PATIENT, message, next_event};

fn config(smsc: &Smsc) -> SmppConfig {
    SmppConfig {
        enquire_link_interval: Duration::from_millis(300),
        response_timeout: Duration::from_secs(5),
        reconnect_delay_min: Duration::from_millis(50),
        reconnect_delay_max: Duration::from_millis(400),
        throttle_delay: Duration::from_millis(20),
        messages_per_second: 1_000,
        ..SmppConfig::new("smsc", &smsc.address(), "vigie", "secret")
    }
}

async fn bound(config: SmppConfig) -> (SmppProvider, tokio::sync::mpsc::Receiver<SmsEvent>) {
    let (events_tx, events) = event_channel(64);
    let provider = SmppProvider::start(config, events_tx).expect("valid configuration");
    assert!(provider.wait_bound(true, Duration::from_secs(10)).await, "not bound: {:?}", provider.health());
    (provider, events)
}

async fn receipt(events: &mut tokio::sync::mpsc::Receiver<SmsEvent>) -> DeliveryReceipt {
    match next_event(events).await {
        SmsEvent::Receipt(r) => r,
        other => panic!("expected a receipt, got {other:?}"),
    }
}

async fn reply(events: &mut tokio::sync::mpsc::Receiver<SmsEvent>) -> PatientReply {
    match next_event(events).await {
        SmsEvent::Reply(r) => r,
        other => panic!("expected a reply, got {other:?}"),
    }
}

#[tokio::test]
async fn submits_and_reads_receipts_and_replies() {
    let (logs, _guard) = CapturedLogs::start();
    let mut smsc = Smsc::start(0).await;
    let (provider, mut events) = bound(config(&smsc)).await;
    let bind = smsc.expect("bind").await;
    assert_eq!((bind["system_id"].as_str(), bind["interface_version"].as_u64()), (Some("vigie"), Some(0x34)));
    assert_eq!(provider.health(), Health::Up);

    // GSM 03.38, one segment, with an extension character: node-smpp decodes it back.
    let gsm = "Clinique St-Jean vous appellera le 12/03/2026 vers 14h30 depuis le 04 78 20 00 01 [rdv] 5€.";
    let submission = provider.submit(&message("sms-1", gsm)).await.expect("submitted");
    let submit = smsc.expect("submit").await;
    assert_eq!(submit["text"], gsm);
    assert_eq!(submit["data_coding"], 0);
    assert_eq!(submit["esm_class"], 0);
    assert_eq!(submit["registered_delivery"], 1);
    assert_eq!(submit["source_addr"], "CliniqueSJ");
    assert_eq!(submit["source_addr_ton"], 5);
    assert_eq!(submit["destination_addr"], "33612345678");
    assert_eq!(submit["dest_addr_ton"], 1);
    assert_eq!(submit["udh"], serde_json::Value::Null);
    assert_eq!(submit["validity_period"], serde_json::Value::Null);
    assert_eq!(submission.provider, "smsc");
    assert_eq!(submission.message_ids, vec![submit["message_id"].as_str().expect("id").to_owned()]);
    // The receipt comes back as a deliver_sm, with its TLVs.
    let r = receipt(&mut events).await;
    assert_eq!(
        (r.message_id.as_str(), r.status, r.state.as_str()),
        (submission.message_id(), SmsStatus::Delivered, "DELIVRD")
    );
    assert_eq!(smsc.expect("deliver_sm_resp").await["command_status"], 0);

    // UCS-2, one segment, from the caller number.
    let ucs2 = "Hôpital Nord vous appellera le 12/03/2026 vers 14h30.";
    let mut from_number = message("sms-2", ucs2);
    from_number.sender = SmsSender::Number(E164::parse("+33478200001").expect("number"));
    // Worth delivering until the call: the SMSC gets it as the validity period.
    from_number.expires_at = Some("2099-03-12T14:30:00+01:00".parse().expect("instant"));
    let submission = provider.submit(&from_number).await.expect("submitted");
    let submit = smsc.expect("submit").await;
    assert_eq!(submit["validity_period"], "2099-03-12T13:30:00.000Z");
    assert_eq!((submit["text"].as_str(), submit["data_coding"].as_u64()), (Some(ucs2), Some(8)));
    assert_eq!((submit["source_addr"].as_str(), submit["source_addr_ton"].as_u64()), (Some("33478200001"), Some(1)));
    assert_eq!(receipt(&mut events).await.message_id, submission.message_id());

    // Long messages: concatenated segments with a user data header, reassembled by the
    // SMSC, one receipt per segment.
    let long_gsm = format!("{}€{}", "a".repeat(152), "b".repeat(200));
    let long_ucs2 = "ê".repeat(150);
    // The two single messages above, each whole in one part.
    for text in [gsm, ucs2] {
        let whole = smsc.expect("message").await;
        assert_eq!((whole["text"].as_str(), whole["parts"].as_u64()), (Some(text), Some(1)));
    }
    for (text, coding, parts) in [(long_gsm.as_str(), 0, 3), (long_ucs2.as_str(), 8, 3)] {
        assert_eq!(encode_sms(text).length().segments, parts);
        let submission = provider.submit(&message("sms-long", text)).await.expect("submitted");
        let whole = smsc.expect("message").await;
        assert_eq!(whole["text"], text, "reassembled by the SMSC");
        assert_eq!((whole["parts"].as_u64(), whole["data_coding"].as_u64()), (Some(u64::from(parts)), Some(coding)));
        let ids: Vec<String> =
            whole["message_ids"].as_array().expect("ids").iter().map(|v| v.as_str().expect("id").to_owned()).collect();
        assert_eq!(submission.message_ids, ids);
        let segments = smsc.take_pending("submit");
        assert_eq!(segments.len(), parts as usize);
        // node-smpp gives the header's information elements: concatenation (00), 3
        // bytes long (03), the reference, the number of parts, this part's number.
        let mut references = Vec::new();
        for (i, segment) in segments.iter().enumerate() {
            let udh = segment["udh"].as_str().expect("a header");
            assert_eq!(udh.len(), 10, "{udh}");
            assert!(udh.starts_with("0003") && udh.ends_with(&format!("{parts:02x}{:02x}", i + 1)), "{udh}");
            references.push(udh[4..6].to_owned());
            assert_eq!(segment["esm_class"], 0x40);
        }
        references.dedup();
        assert_eq!(references.len(), 1, "one reference for the message's parts");
        let mut receipted: Vec<String> = Vec::new();
        for _ in 0..parts {
            receipted.push(receipt(&mut events).await.message_id);
        }
        receipted.sort();
        let mut expected = ids.clone();
        expected.sort();
        assert_eq!(receipted, expected);
        smsc.take_pending("deliver_sm_resp");
    }

    // A receipt in text only, undelivered: read from `stat:` and `err:`.
    smsc.command(json!({"cmd": "receipts", "tlvs": false})).await;
    smsc.command(json!({"cmd": "stat", "value": "UNDELIV"})).await;
    let submission = provider.submit(&message("sms-3", "Bonjour")).await.expect("submitted");
    let r = receipt(&mut events).await;
    assert_eq!(
        (r.message_id.as_str(), r.status, r.state.as_str(), r.error.as_deref()),
        (submission.message_id(), SmsStatus::Failed, "UNDELIV", Some("001"))
    );

    // The patient replies STOP (GSM), then "Arrêt" (UCS-2), then something else.
    for (text, stop) in [("STOP", true), ("Arrêt", true), ("Oui merci", false)] {
        smsc.command(json!({"cmd": "mo", "from": "33612345678", "to": "33478200001", "text": text})).await;
        let r = reply(&mut events).await;
        assert_eq!((r.from.as_str(), r.to.as_str(), r.text.as_str(), r.stop), (PATIENT, "33478200001", text, stop));
    }

    // The session is kept alive with enquire_link.
    smsc.expect("enquire_link").await;

    provider.shutdown().await;
    smsc.expect("unbind").await;
    assert!(matches!(provider.health(), Health::Down { .. }));
    assert!(matches!(provider.submit(&message("sms-4", "x")).await, Err(SubmitError::NotSent { .. })));
    logs.assert_no_phone_in_clear();
    assert!(logs.text().contains("+33 6 ** ** ** 78"), "the masked number is logged");
}

#[tokio::test]
async fn reconnects_after_the_smsc_drops_or_dies() {
    let mut smsc = Smsc::start(0).await;
    let (provider, mut events) = bound(config(&smsc)).await;
    smsc.expect("bind").await;

    // The SMSC closes the connection mid-session: the provider binds again.
    smsc.command(json!({"cmd": "drop"})).await;
    smsc.expect("closed").await;
    smsc.expect("bind").await;
    assert!(provider.wait_bound(true, Duration::from_secs(10)).await);
    let submission = provider.submit(&message("sms-1", "after the drop")).await.expect("submitted");
    assert_eq!(receipt(&mut events).await.message_id, submission.message_id());

    // The SMSC dies: the provider is down and says so, and nothing is sent.
    let port = smsc.port;
    smsc.kill().await;
    assert!(provider.wait_bound(false, Duration::from_secs(10)).await, "still bound after the SMSC died");
    assert!(!provider.health().is_up());
    match provider.submit(&message("sms-2", "while down")).await {
        Err(e @ SubmitError::NotSent { .. }) => assert!(e.is_transient()),
        other => panic!("expected not sent, got {other:?}"),
    }

    // It comes back on the same port: the provider reconnects with its back-off.
    let mut smsc = Smsc::start(port).await;
    smsc.expect("bind").await;
    assert!(provider.wait_bound(true, Duration::from_secs(10)).await);
    let submission = provider.submit(&message("sms-3", "back again")).await.expect("submitted");
    assert_eq!(smsc.expect("submit").await["text"], "back again");
    assert_eq!(receipt(&mut events).await.message_id, submission.message_id());
    provider.shutdown().await;
}

#[tokio::test]
async fn a_wrong_password_is_not_bound() {
    let mut smsc = Smsc::start(0).await;
    let (events_tx, _events) = event_channel(4);
    let provider =
        SmppProvider::start(SmppConfig { password: "wrong".into(), ..config(&smsc) }, events_tx).expect("valid");
    smsc.expect("bind").await;
    assert!(!provider.wait_bound(true, Duration::from_millis(300)).await);
    match provider.health() {
        Health::Down { reason } => assert!(reason.contains("bind"), "{reason}"),
        Health::Up => panic!("bound with a wrong password"),
    }
    provider.shutdown().await;
}

#[tokio::test]
async fn throttling_is_retried_and_rejections_are_final() {
    let mut smsc = Smsc::start(0).await;
    let (provider, _events) = bound(config(&smsc)).await;

    // Two throttling errors, then accepted: the segment is retried after a pause.
    smsc.command(json!({"cmd": "throttle", "count": 2})).await;
    let started = Instant::now();
    provider.submit(&message("sms-1", "throttled twice")).await.expect("submitted after retries");
    // 20 ms, then 40 ms of back-off.
    assert!(started.elapsed() >= Duration::from_millis(60));
    smsc.expect("throttled").await;
    smsc.expect("throttled").await;
    assert_eq!(smsc.expect("submit").await["text"], "throttled twice");

    // Throttled beyond the retries: not sent, so another provider may take it.
    smsc.command(json!({"cmd": "throttle", "count": 10})).await;
    match provider.submit(&message("sms-2", "throttled for good")).await {
        Err(e @ SubmitError::NotSent { .. }) => assert!(e.to_string().contains("EsmeRthrottled"), "{e}"),
        other => panic!("expected not sent, got {other:?}"),
    }
    smsc.command(json!({"cmd": "throttle", "count": 0})).await;

    // A bad destination is final.
    smsc.command(json!({"cmd": "reject", "count": 1})).await;
    match provider.submit(&message("sms-3", "rejected")).await {
        Err(e @ SubmitError::Rejected { .. }) => assert!(!e.is_transient()),
        other => panic!("expected rejected, got {other:?}"),
    }
    provider.shutdown().await;
}

#[tokio::test]
async fn the_window_bounds_outstanding_submits_and_the_rate_spaces_them() {
    let mut smsc = Smsc::start(0).await;
    let (provider, _events) = bound(SmppConfig { window: 4, ..config(&smsc) }).await;
    // Each submit_sm waits 100 ms for its answer: without a window all 20 would be
    // outstanding at once.
    smsc.command(json!({"cmd": "delay", "ms": 100})).await;
    let provider = Arc::new(provider);
    let mut tasks = Vec::new();
    for i in 0..20 {
        let provider = Arc::clone(&provider);
        tasks.push(tokio::spawn(async move { provider.submit(&message(&format!("sms-{i}"), "window")).await }));
    }
    for task in tasks {
        task.await.expect("task").expect("submitted");
    }
    let mut in_flight_max = 0;
    for _ in 0..20 {
        in_flight_max = in_flight_max.max(smsc.expect("submit").await["in_flight"].as_u64().expect("count"));
    }
    assert!((2..=4).contains(&in_flight_max), "at most the window, and more than one at a time: {in_flight_max}");
    Arc::into_inner(provider).expect("last handle").shutdown().await;

    // 20 messages a second: 11 submissions take at least 500 ms.
    smsc.command(json!({"cmd": "delay", "ms": 0})).await;
    let (provider, _events) = bound(SmppConfig { messages_per_second: 20, ..config(&smsc) }).await;
    let started = Instant::now();
    for i in 0..11 {
        provider.submit(&message(&format!("rate-{i}"), "rate")).await.expect("submitted");
    }
    assert!(started.elapsed() >= Duration::from_millis(500), "{:?}", started.elapsed());
    provider.shutdown().await;
}
