//! The webhook channel against an axum server that records what it receives and
//! answers the statuses it is told to.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use vigie_alert::{
    Channel, DeliveryError, RetryPolicy, WebhookChannel, WebhookConfig, deliver_with_retry, verify_signature,
};

use crate::notification;

const SECRET: &[u8] = b"webhook-s3cret";

/// One request as the receiver saw it.
struct Received {
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Clone, Default)]
struct Receiver {
    received: Arc<Mutex<Vec<Received>>>,
    /// The statuses of the next answers, in order; 200 once it is empty.
    statuses: Arc<Mutex<VecDeque<u16>>>,
}

impl Receiver {
    fn received(&self) -> Vec<(HeaderMap, Bytes)> {
        self.received.lock().expect("lock").iter().map(|r| (r.headers.clone(), r.body.clone())).collect()
    }
}

async fn record(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    receiver.received.lock().expect("lock").push(Received { headers, body });
    let status = receiver.statuses.lock().expect("lock").pop_front().unwrap_or(200);
    StatusCode::from_u16(status).expect("status")
}

async fn slow() -> StatusCode {
    tokio::time::sleep(Duration::from_secs(30)).await;
    StatusCode::OK
}

/// Starts the receiver on a free port; answers it and the base URL.
async fn spawn_receiver(statuses: &[u16]) -> (Receiver, String) {
    let receiver = Receiver::default();
    receiver.statuses.lock().expect("lock").extend(statuses);
    let app = Router::new().route("/hook", post(record)).route("/slow", post(slow)).with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (receiver, format!("http://{address}"))
}

fn channel(url: &str) -> WebhookChannel {
    let mut config = WebhookConfig::new("ops-hook", url, SECRET);
    config.timeout = Duration::from_millis(500);
    config.headers = vec![("Authorization".to_owned(), "Bearer hook-t0ken".to_owned())];
    WebhookChannel::new(config).expect("config")
}

fn quick_retries(attempts_max: u32) -> RetryPolicy {
    RetryPolicy { attempts_max, delay_first: Duration::from_millis(5), delay_max: Duration::from_millis(20) }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers.get(name).unwrap_or_else(|| panic!("no {name} header")).to_str().expect("text header")
}

#[tokio::test]
async fn a_delivery_is_the_json_body_signed_with_its_timestamp() {
    let (receiver, base) = spawn_receiver(&[]).await;
    let n = notification("alert-42");
    channel(&format!("{base}/hook")).deliver(&n).await.expect("delivered");

    let received = receiver.received();
    assert_eq!(received.len(), 1);
    let (headers, body) = &received[0];
    assert_eq!(serde_json::from_slice::<serde_json::Value>(body).expect("JSON body"), n.json);
    // The UTF-8 text travels as is.
    assert!(String::from_utf8_lossy(body).contains("Numéro mis en quarantaine"));
    assert_eq!(header(headers, "content-type"), "application/json");
    assert_eq!(header(headers, "x-vigie-delivery"), "alert-42");
    assert_eq!(header(headers, "authorization"), "Bearer hook-t0ken");

    let timestamp = header(headers, "x-vigie-timestamp");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs();
    let signed_at: u64 = timestamp.parse().expect("unix seconds");
    assert!(now.abs_diff(signed_at) <= 5, "signed at {signed_at}, now {now}");

    let signature = header(headers, "x-vigie-signature");
    assert!(signature.starts_with("sha256="), "{signature}");
    assert!(verify_signature(SECRET, timestamp, body, signature));
    // The signature covers the timestamp, the body and the secret.
    assert!(!verify_signature(SECRET, &(signed_at + 1).to_string(), body, signature));
    assert!(!verify_signature(SECRET, timestamp, b"{}", signature));
    assert!(!verify_signature(b"another secret", timestamp, body, signature));
}

#[tokio::test]
async fn a_server_error_is_retried_with_the_same_delivery_id() {
    let (receiver, base) = spawn_receiver(&[500, 503]).await;
    let attempts = deliver_with_retry(&channel(&format!("{base}/hook")), &notification("alert-7"), &quick_retries(5))
        .await
        .expect("delivered on the third attempt");
    assert_eq!(attempts, 3);
    let received = receiver.received();
    assert_eq!(received.len(), 3);
    for (headers, body) in &received {
        assert_eq!(header(headers, "x-vigie-delivery"), "alert-7");
        assert!(verify_signature(
            SECRET,
            header(headers, "x-vigie-timestamp"),
            body,
            header(headers, "x-vigie-signature")
        ));
    }
}

#[tokio::test]
async fn the_attempts_are_bounded() {
    let (receiver, base) = spawn_receiver(&[429, 408, 502, 200]).await;
    let error = deliver_with_retry(&channel(&format!("{base}/hook")), &notification("alert-8"), &quick_retries(3))
        .await
        .expect_err("three failures");
    assert!(error.is_transient(), "{error}");
    assert_eq!(error.to_string(), "ops-hook: not delivered, may be retried: the webhook answered 502 Bad Gateway");
    assert_eq!(receiver.received().len(), 3);
}

#[tokio::test]
async fn a_client_error_is_not_retried() {
    let (receiver, base) = spawn_receiver(&[400]).await;
    let error = deliver_with_retry(&channel(&format!("{base}/hook")), &notification("alert-9"), &quick_retries(5))
        .await
        .expect_err("refused");
    assert_eq!(
        error,
        DeliveryError::Permanent {
            channel: "ops-hook".to_owned(),
            reason: "the webhook answered 400 Bad Request".to_owned()
        }
    );
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn a_timeout_is_transient() {
    let (_receiver, base) = spawn_receiver(&[]).await;
    let error = channel(&format!("{base}/slow")).deliver(&notification("alert-10")).await.expect_err("timed out");
    assert!(error.is_transient(), "{error}");
    assert!(error.to_string().contains("no answer within 500ms"), "{error}");
}

#[tokio::test]
async fn an_unreachable_webhook_is_transient_and_no_secret_is_shown() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port();
    let error = channel(&format!("http://127.0.0.1:{port}/hook?token=url-s3cret"))
        .deliver(&notification("alert-11"))
        .await
        .expect_err("refused");
    assert!(error.is_transient(), "{error}");
    let text = error.to_string();
    assert!(text.contains("cannot connect"), "{text}");
    for secret in ["url-s3cret", "hook-t0ken", "webhook-s3cret"] {
        assert!(!text.contains(secret), "{text}");
    }
}
