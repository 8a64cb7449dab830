//! The webhook channel: the notification's JSON POSTed to a configured URL, signed
//! with a shared secret so that the receiver knows it comes from Vigie.
//!
//! Each request carries:
//!
//! - `X-Vigie-Delivery`: the notification's id, the same on every retry, for the
//!   receiver to drop duplicates;
//! - `X-Vigie-Timestamp`: when the request was signed, in Unix seconds;
//! - `X-Vigie-Signature`: `sha256=` and the lowercase hex HMAC-SHA256, keyed with the
//!   shared secret, of the timestamp header's exact text, a `.`, and the exact body
//!   bytes (`{timestamp}.{body}`).
//!
//! Signing the timestamp with the body lets a receiver refuse a replayed request:
//! it checks the signature with [`verify_signature`], then that the timestamp is
//! recent (say within five minutes) and that the delivery id is new.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use sha2::Sha256;

use crate::channel::{BoxFuture, Channel, ConfigError, DeliveryError, Notification};

/// The header that carries the notification's id.
pub const DELIVERY_HEADER: &str = "X-Vigie-Delivery";
/// The header that carries the signing time, in Unix seconds.
pub const TIMESTAMP_HEADER: &str = "X-Vigie-Timestamp";
/// The header that carries the signature, `sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "X-Vigie-Signature";

/// How to reach one webhook.
#[derive(Clone)]
pub struct WebhookConfig {
    /// The channel's name, in logs and errors.
    pub name: String,
    /// Where notifications are POSTed (`https://…`).
    pub url: String,
    /// The shared secret of the signature; never printed.
    pub secret: Vec<u8>,
    /// Longest wait for the whole exchange (connection, request, answer's status).
    /// Default: 10 s.
    pub timeout: Duration,
    /// Headers sent with every request (an `Authorization`); their values are never
    /// printed.
    pub headers: Vec<(String, String)>,
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("WebhookConfig")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("timeout", &self.timeout)
            .field("headers", &headers)
            .finish_non_exhaustive()
    }
}

impl WebhookConfig {
    /// A configuration with the defaults.
    pub fn new(name: &str, url: &str, secret: &[u8]) -> WebhookConfig {
        WebhookConfig {
            name: name.to_owned(),
            url: url.to_owned(),
            secret: secret.to_vec(),
            timeout: Duration::from_secs(10),
            headers: Vec::new(),
        }
    }
}

/// A webhook, ready to deliver.
pub struct WebhookChannel {
    config: WebhookConfig,
    url: reqwest::Url,
    client: reqwest::Client,
}

impl fmt::Debug for WebhookChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookChannel").field("config", &self.config).finish_non_exhaustive()
    }
}

impl WebhookChannel {
    /// Builds the channel, refusing an empty name or secret, a URL that is not
    /// http(s), a header that is not one (or is one of Vigie's own), or a timeout out
    /// of bounds.
    pub fn new(config: WebhookConfig) -> Result<WebhookChannel, ConfigError> {
        let name = config.name.clone();
        let err = |field, rule: &str| ConfigError::new(&name, field, rule);
        if name.trim().is_empty() {
            return Err(err("name", "must not be empty"));
        }
        let url = reqwest::Url::parse(&config.url).map_err(|e| err("url", &format!("not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(err("url", "must be an http:// or https:// URL with a host"));
        }
        if config.secret.is_empty() {
            return Err(err("secret", "must not be empty"));
        }
        if config.timeout.is_zero() || config.timeout > Duration::from_secs(300) {
            return Err(err("timeout", "must be between 1 ms and 5 minutes"));
        }
        let mut headers = HeaderMap::new();
        for (header, value) in &config.headers {
            let header_name = HeaderName::from_bytes(header.as_bytes())
                .map_err(|_| err("headers", &format!("`{header}` is not a header name")))?;
            if [DELIVERY_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER, "content-type"]
                .iter()
                .any(|own| own.eq_ignore_ascii_case(header))
            {
                return Err(err("headers", &format!("`{header}` is set by Vigie")));
            }
            let mut header_value = HeaderValue::from_str(value)
                .map_err(|_| err("headers", &format!("the value of `{header}` is not a header value")))?;
            header_value.set_sensitive(true);
            headers.insert(header_name, header_value);
        }
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .default_headers(headers)
            // A webhook that redirects a POST is misconfigured; following it could
            // send the headers' credentials elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| err("url", &format!("no HTTP client: {e}")))?;
        Ok(WebhookChannel { config, url, client })
    }

    async fn post(&self, notification: &Notification) -> Result<(), DeliveryError> {
        let name = &self.config.name;
        let body = serde_json::to_vec(&notification.json)
            .map_err(|e| DeliveryError::permanent(name, format!("the body is not JSON: {e}")))?;
        let timestamp = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()).to_string();
        let signature = sign(&self.config.secret, &timestamp, &body);
        let delivery = HeaderValue::from_str(&notification.id)
            .map_err(|_| DeliveryError::permanent(name, "the notification's id cannot be a header value".to_owned()))?;
        let sent = self
            .client
            .post(self.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(DELIVERY_HEADER, delivery)
            .header(TIMESTAMP_HEADER, timestamp)
            .header(SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) if e.is_timeout() => {
                return Err(DeliveryError::transient(name, format!("no answer within {:?}", self.config.timeout)));
            }
            Err(e) if e.is_connect() => {
                return Err(DeliveryError::transient(name, format!("cannot connect: {}", innermost(&e))));
            }
            Err(e) => return Err(DeliveryError::transient(name, format!("request failed: {}", innermost(&e)))),
        };
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        // The answer's body is not read: it may be large, and a receiver's error page
        // is no help in Vigie's logs.
        let reason = format!("the webhook answered {status}");
        match status.as_u16() {
            408 | 429 | 500..=599 => Err(DeliveryError::transient(name, reason)),
            // 4xx, and a redirect, which is not followed: the request or the
            // configuration is wrong.
            _ => Err(DeliveryError::permanent(name, reason)),
        }
    }
}

impl Channel for WebhookChannel {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn deliver<'a>(&'a self, notification: &'a Notification) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(self.post(notification))
    }
}

/// The innermost cause of an error (connection refused, reset), without the URL that
/// reqwest's own message holds and that may carry a token in its query.
fn innermost(error: &reqwest::Error) -> String {
    let mut text = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(e) = source {
        text = e.to_string();
        source = e.source();
    }
    text
}

fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(e) => unreachable!("HMAC accepts any key length: {e}"),
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `X-Vigie-Signature` value of a request: `sha256=` and the hex HMAC-SHA256 of
/// `{timestamp}.{body}`, keyed with the shared secret.
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    format!("sha256={}", hex::encode(mac(secret, timestamp, body).finalize().into_bytes()))
}

/// Whether a request's `X-Vigie-Signature` value (`header`) is the signature of its
/// `X-Vigie-Timestamp` value and its exact body bytes under the shared secret;
/// compared in constant time. It does not check that the timestamp is recent: that
/// is the receiver's rule.
pub fn verify_signature(secret: &[u8], timestamp: &str, body: &[u8], header: &str) -> bool {
    let Some(hex_text) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_text) else {
        return false;
    };
    mac(secret, timestamp, body).verify_slice(&expected).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_covers_the_timestamp_and_the_body() {
        let signature = sign(b"k", "1700000000", b"{}");
        assert!(signature.starts_with("sha256="));
        assert!(verify_signature(b"k", "1700000000", b"{}", &signature));
        assert!(!verify_signature(b"k", "1700000001", b"{}", &signature));
        assert!(!verify_signature(b"k", "1700000000", b"{ }", &signature));
        assert!(!verify_signature(b"other", "1700000000", b"{}", &signature));
        assert!(!verify_signature(b"k", "1700000000", b"{}", signature.trim_start_matches("sha256=")));
        assert!(!verify_signature(b"k", "1700000000", b"{}", "sha256=zz"));
    }

    #[test]
    fn a_bad_configuration_is_refused_with_its_field() {
        let ok = WebhookConfig::new("ops", "https://hooks.example/vigie", b"s3cr3t");
        assert!(WebhookChannel::new(ok.clone()).is_ok());
        let cases = [
            (
                WebhookConfig { url: "ftp://x".into(), ..ok.clone() },
                "ops: url: must be an http:// or https:// URL with a host",
            ),
            (WebhookConfig { secret: Vec::new(), ..ok.clone() }, "ops: secret: must not be empty"),
            (
                WebhookConfig { timeout: Duration::ZERO, ..ok.clone() },
                "ops: timeout: must be between 1 ms and 5 minutes",
            ),
            (
                WebhookConfig { headers: vec![("X-Vigie-Signature".into(), "x".into())], ..ok.clone() },
                "ops: headers: `X-Vigie-Signature` is set by Vigie",
            ),
        ];
        for (config, expected) in cases {
            match WebhookChannel::new(config) {
                Err(e) => assert_eq!(e.to_string(), expected),
                Ok(_) => panic!("accepted, expected {expected}"),
            }
        }
        // Neither the secret nor a header's value is printed.
        let secret = WebhookConfig { headers: vec![("Authorization".into(), "Bearer t0ken".into())], ..ok };
        let debug = format!("{secret:?}");
        assert!(!debug.contains("t0ken") && !debug.contains("s3cr3t"), "{debug}");
    }
}
