//! The HTTP provider against a gateway served by axum in the test, and the receipt
//! webhook behind an axum route, as the API will mount it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use vigie_core::SmsStatus;
use vigie_sms::{
    DeliveryReceipt, EventSender, Health, HttpConfig, HttpProvider, SmsEvent, SmsProvider, SubmitError, WebhookConfig,
    event_channel,
};

use crate::{CapturedLogs, message, next_event};

/// What the fake gateway answers next, and what it was sent.
#[derive(Default)]
pub(crate) struct Gateway {
    /// The status of the next answers (200 if unset) and whether they hold an id.
    pub(crate) status: Option<u16>,
    pub(crate) without_id: bool,
    pub(crate) requests: Vec<(Option<String>, Value)>,
}

pub(crate) type SharedGateway = Arc<Mutex<Gateway>>;

async fn send(
    State(gateway): State<SharedGateway>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let mut g = gateway.lock().expect("gateway");
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
    g.requests.push((auth, body));
    let n = g.requests.len();
    let status = StatusCode::from_u16(g.status.unwrap_or(200)).expect("status");
    let answer =
        if g.without_id { json!({"accepted": true}) } else { json!({"messages": [{"id": format!("gw-{n}")}]}) };
    (status, Json(answer))
}

/// Starts the fake gateway on a free port; its URL.
pub(crate) async fn start_gateway() -> (String, SharedGateway) {
    let gateway = SharedGateway::default();
    let app = Router::new().route("/v1/sms", post(send)).with_state(Arc::clone(&gateway));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/v1/sms", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (url, gateway)
}

pub(crate) fn gateway_config(name: &str, url: &str) -> HttpConfig {
    HttpConfig {
        headers: vec![("Authorization".into(), "Bearer gw-key".into())],
        failures_to_down: 2,
        down_for: Duration::from_secs(60),
        messages_per_second: 1_000,
        ..HttpConfig::new(
            name,
            url,
            json!({"recipient": "{to}", "sender": "{from}", "body": "{text}", "client_ref": "{reference}", "dcs": "{data_coding}", "valid_until": "{expires_at}"}),
            "/messages/0/id",
        )
    }
}

#[tokio::test]
async fn submits_and_maps_the_answers() {
    let (logs, _guard) = CapturedLogs::start();
    let (url, gateway) = start_gateway().await;
    let provider = HttpProvider::new(gateway_config("gw", &url)).expect("valid");

    let mut first = message("sms-1", "Arrêt possible");
    first.expires_at = Some("2026-03-12T14:30:00+01:00".parse().expect("instant"));
    let submission = provider.submit(&first).await.expect("submitted");
    assert_eq!((submission.provider.as_str(), submission.message_id()), ("gw", "gw-1"));
    {
        let g = gateway.lock().expect("gateway");
        let (auth, body) = &g.requests[0];
        assert_eq!(auth.as_deref(), Some("Bearer gw-key"));
        assert_eq!(
            body,
            &json!({"recipient": "+33612345678", "sender": "CliniqueSJ", "body": "Arrêt possible", "client_ref": "sms-1",
                "dcs": 8, "valid_until": "2026-03-12T13:30:00Z"})
        );
    }

    // Each kind of answer, and what may be done next.
    let cases: [(u16, bool, &str); 6] = [
        (503, false, "not sent"),
        (429, false, "not sent"),
        (400, false, "rejected"),
        (500, false, "uncertain"),
        (504, false, "uncertain"),
        (200, true, "uncertain"),
    ];
    for (status, without_id, expected) in cases {
        {
            let mut g = gateway.lock().expect("gateway");
            g.status = Some(status);
            g.without_id = without_id;
        }
        let kind = match provider.submit(&message("sms-x", "x")).await {
            Err(SubmitError::NotSent { .. }) => "not sent",
            Err(SubmitError::Rejected { .. }) => "rejected",
            Err(SubmitError::Uncertain { .. }) => "uncertain",
            Ok(_) => "submitted",
        };
        assert_eq!(kind, expected, "{status} without id: {without_id}");
    }
    // Two failures in a row (500, 504, then an answer without id) put it down.
    assert!(matches!(provider.health(), Health::Down { .. }));
    {
        let mut g = gateway.lock().expect("gateway");
        g.status = None;
        g.without_id = false;
    }
    // It is still tried when asked directly, and a success brings it back up.
    provider.submit(&message("sms-2", "back")).await.expect("submitted");
    assert_eq!(provider.health(), Health::Up);
    logs.assert_no_phone_in_clear();
    assert!(!logs.text().contains("gw-key"), "the gateway's key is logged");
}

#[tokio::test]
async fn an_unreachable_gateway_is_not_sent() {
    // A port that was free a moment ago: nothing listens there.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/v1/sms", listener.local_addr().expect("address"));
    drop(listener);
    let provider = HttpProvider::new(gateway_config("gw", &url)).expect("valid");
    for _ in 0..2 {
        match provider.submit(&message("sms-1", "x")).await {
            Err(e @ SubmitError::NotSent { .. }) => assert!(e.is_transient()),
            other => panic!("expected not sent, got {other:?}"),
        }
    }
    assert!(matches!(provider.health(), Health::Down { .. }));
}

/// The webhook as the API will serve it: verify, read, hand the receipt to the events.
async fn webhook(
    State((config, events)): State<(Arc<WebhookConfig>, EventSender)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let signature = headers.get(config.signature_header.as_str()).and_then(|v| v.to_str().ok());
    match config.receipt(signature, &body) {
        Ok(receipt) => {
            let _ = events.send(SmsEvent::Receipt(receipt)).await;
            StatusCode::NO_CONTENT
        }
        Err(vigie_sms::WebhookError::MissingSignature | vigie_sms::WebhookError::BadSignature) => {
            StatusCode::UNAUTHORIZED
        }
        Err(_) => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

#[tokio::test]
async fn signed_receipts_come_in_through_the_webhook() {
    let config =
        Arc::new(WebhookConfig { signature_header: "X-Gw-Signature".into(), ..WebhookConfig::new("gw", b"s3cret") });
    let (events_tx, mut events) = event_channel(8);
    let app = Router::new().route("/sms/receipts/gw", post(webhook)).with_state((Arc::clone(&config), events_tx));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/sms/receipts/gw", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });

    let client = reqwest::Client::new();
    let body = br#"{"message_id":"gw-1","status":"delivered"}"#.to_vec();
    let post = |signature: Option<String>, body: Vec<u8>| {
        let mut request = client.post(&url).body(body);
        if let Some(s) = signature {
            request = request.header("X-Gw-Signature", s);
        }
        request.send()
    };
    let ok = post(Some(format!("sha256={}", config.sign(&body))), body.clone()).await.expect("post");
    assert_eq!(ok.status(), 204);
    assert_eq!(
        next_event(&mut events).await,
        SmsEvent::Receipt(DeliveryReceipt {
            provider: "gw".into(),
            message_id: "gw-1".into(),
            status: SmsStatus::Delivered,
            state: "delivered".into(),
            error: None
        })
    );
    // Unsigned, signed with another secret, or a body changed after signing: refused.
    let other = WebhookConfig::new("gw", b"another");
    let forged = br#"{"message_id":"gw-1","status":"failed"}"#.to_vec();
    for (signature, body) in
        [(None, body.clone()), (Some(other.sign(&body)), body.clone()), (Some(config.sign(&body)), forged)]
    {
        assert_eq!(post(signature, body).await.expect("post").status(), 401);
    }
    let unknown = br#"{"message_id":"gw-1","status":"lost"}"#.to_vec();
    assert_eq!(post(Some(config.sign(&unknown)), unknown).await.expect("post").status(), 422);
    assert!(events.try_recv().is_err(), "nothing refused reached the events");
}
