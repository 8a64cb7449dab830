//! A generic HTTP SMS gateway: a JSON POST to a configured URL with configured headers
//! and a body built from a JSON template, the message id read at a JSON pointer of the
//! answer; and the gateway's receipt webhook, signed with a shared secret
//! (HMAC-SHA256 of the body, compared in constant time).

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use sha2::Sha256;
use tokio::sync::Semaphore;
use vigie_core::{SmsSender, SmsStatus, sms_length};

use crate::mask::mask_phone;
use crate::provider::{
    BoxFuture, ConfigError, DeliveryReceipt, Health, SmsMessage, SmsProvider, Submission, SubmitError,
};
use crate::rate::RateLimiter;
use crate::receipt::receipt_status;

/// Largest answer or webhook body read: 64 KiB.
pub const HTTP_BODY_BYTES_MAX: usize = 64 * 1024;

/// The values a body template may hold, written `{name}` inside JSON strings.
///
/// `{to}` is the patient's number in E.164 (`+33612345678`), `{to_digits}` the same
/// without `+`, `{from}` the sender (an alphanumeric ID or a number in E.164),
/// `{text}` the SMS, `{reference}` Vigie's reference for it, `{encoding}` `gsm7` or
/// `ucs2`, `{expires_at}` when it stops being worth delivering (RFC 3339 in UTC);
/// `{data_coding}` (0 or 8) and `{segments}` become JSON numbers, and `{expires_at}`
/// `null` when there is none, when they are a whole string.
const BODY_PLACEHOLDERS: [&str; 9] =
    ["to", "to_digits", "from", "text", "reference", "encoding", "data_coding", "segments", "expires_at"];

/// How to reach one HTTP gateway.
#[derive(Clone)]
pub struct HttpConfig {
    /// The provider's name, in logs and submissions.
    pub name: String,
    /// Where messages are POSTed (`https://…`).
    pub url: String,
    /// Headers sent with every request (an `Authorization`, an API key); their values
    /// are never printed.
    pub headers: Vec<(String, String)>,
    /// The JSON body, with placeholders in its strings (see the module's doc).
    pub body: Value,
    /// Where the gateway's answer holds the message id (RFC 6901 JSON pointer such as
    /// `/messages/0/id`); a string or a number.
    pub message_id_pointer: String,
    /// Longest wait for an answer. Default: 10 s.
    pub timeout: Duration,
    /// Most requests a second. Default: 20.
    pub messages_per_second: u32,
    /// Most requests waiting for their answer at once. Default: 10.
    pub window: usize,
    /// Consecutive failed requests (not sent, or no clear answer) after which the
    /// gateway counts as down. Default: 3.
    pub failures_to_down: u32,
    /// How long it then counts as down before it is tried again. Default: 30 s.
    pub down_for: Duration,
}

impl fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("HttpConfig")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("headers", &headers)
            .field("body", &self.body)
            .field("message_id_pointer", &self.message_id_pointer)
            .finish_non_exhaustive()
    }
}

impl HttpConfig {
    /// A configuration with the defaults.
    pub fn new(name: &str, url: &str, body: Value, message_id_pointer: &str) -> HttpConfig {
        HttpConfig {
            name: name.to_owned(),
            url: url.to_owned(),
            headers: Vec::new(),
            body,
            message_id_pointer: message_id_pointer.to_owned(),
            timeout: Duration::from_secs(10),
            messages_per_second: 20,
            window: 10,
            failures_to_down: 3,
            down_for: Duration::from_secs(30),
        }
    }
}

/// Checks a body template: placeholders known and written `{name}`, `{to}` or
/// `{to_digits}` and `{text}` present somewhere; the error names the JSON pointer.
fn check_body(name: &str, body: &Value) -> Result<(), ConfigError> {
    fn walk(value: &Value, path: &str, seen: &mut Vec<String>) -> Result<(), String> {
        match value {
            Value::String(s) => {
                for placeholder in placeholders(s).map_err(|e| format!("{e} at {}", pointer_or_root(path)))? {
                    if !BODY_PLACEHOLDERS.contains(&placeholder.as_str()) {
                        return Err(format!(
                            "unknown placeholder {{{placeholder}}} at {}: use {}",
                            pointer_or_root(path),
                            BODY_PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(", ")
                        ));
                    }
                    seen.push(placeholder);
                }
                Ok(())
            }
            Value::Array(items) => {
                items.iter().enumerate().try_for_each(|(i, v)| walk(v, &format!("{path}/{i}"), seen))
            }
            Value::Object(map) => map.iter().try_for_each(|(k, v)| {
                let key = k.replace('~', "~0").replace('/', "~1");
                walk(v, &format!("{path}/{key}"), seen)
            }),
            _ => Ok(()),
        }
    }
    let mut seen = Vec::new();
    walk(body, "", &mut seen).map_err(|rule| ConfigError::new(name, "body", rule))?;
    if !seen.iter().any(|p| p == "to" || p == "to_digits") || !seen.iter().any(|p| p == "text") {
        return Err(ConfigError::new(name, "body", "must hold {to} (or {to_digits}) and {text}"));
    }
    Ok(())
}

fn pointer_or_root(path: &str) -> &str {
    if path.is_empty() { "the root" } else { path }
}

/// The placeholders of a string, or why its braces do not balance.
fn placeholders(s: &str) -> Result<Vec<String>, String> {
    let mut found = Vec::new();
    let mut current: Option<String> = None;
    for c in s.chars() {
        match (c, current.as_mut()) {
            ('{', None) => current = Some(String::new()),
            ('}', Some(name)) => {
                found.push(std::mem::take(name));
                current = None;
            }
            ('{', Some(_)) | ('}', None) => return Err("unbalanced brace".to_owned()),
            (c, Some(name)) => name.push(c),
            (_, None) => {}
        }
    }
    if current.is_some() {
        return Err("unbalanced brace".to_owned());
    }
    Ok(found)
}

/// The values of one message's placeholders.
struct Values {
    to: String,
    to_digits: String,
    from: String,
    text: String,
    reference: String,
    encoding: String,
    data_coding: u8,
    segments: u32,
    expires_at: Option<String>,
}

impl Values {
    fn of(message: &SmsMessage) -> Values {
        let length = sms_length(&message.text);
        Values {
            to: message.to.as_str().to_owned(),
            to_digits: message.to.as_str().trim_start_matches('+').to_owned(),
            from: match &message.sender {
                SmsSender::Alphanumeric(id) => id.as_str().to_owned(),
                SmsSender::Number(n) => n.as_str().to_owned(),
            },
            text: message.text.clone(),
            reference: message.reference.clone(),
            encoding: length.encoding.to_string(),
            data_coding: length.encoding.data_coding(),
            segments: length.segments,
            expires_at: message.expires_at.map(|at| at.to_string()),
        }
    }

    fn text_of(&self, placeholder: &str) -> String {
        match placeholder {
            "to" => self.to.clone(),
            "to_digits" => self.to_digits.clone(),
            "from" => self.from.clone(),
            "text" => self.text.clone(),
            "reference" => self.reference.clone(),
            "encoding" => self.encoding.clone(),
            "data_coding" => self.data_coding.to_string(),
            "segments" => self.segments.to_string(),
            "expires_at" => self.expires_at.clone().unwrap_or_default(),
            // check_body refused any other name.
            _ => String::new(),
        }
    }

    /// The body template filled in.
    fn fill(&self, template: &Value) -> Value {
        match template {
            Value::String(s) => match s.as_str() {
                "{data_coding}" => Value::from(self.data_coding),
                "{segments}" => Value::from(self.segments),
                "{expires_at}" => self.expires_at.clone().map_or(Value::Null, Value::String),
                _ => {
                    let mut out = String::with_capacity(s.len());
                    let mut name: Option<String> = None;
                    for c in s.chars() {
                        match (c, name.as_mut()) {
                            ('{', None) => name = Some(String::new()),
                            ('}', Some(n)) => {
                                out.push_str(&self.text_of(n));
                                name = None;
                            }
                            (c, Some(n)) => n.push(c),
                            (c, None) => out.push(c),
                        }
                    }
                    Value::String(out)
                }
            },
            Value::Array(items) => Value::Array(items.iter().map(|v| self.fill(v)).collect()),
            Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), self.fill(v))).collect()),
            other => other.clone(),
        }
    }
}

/// A generic HTTP SMS gateway.
pub struct HttpProvider {
    config: HttpConfig,
    client: reqwest::Client,
    url: reqwest::Url,
    window: Semaphore,
    rate: RateLimiter,
    failures: AtomicU32,
    down_until: Mutex<Option<Instant>>,
}

impl fmt::Debug for HttpProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpProvider").field("config", &self.config).finish_non_exhaustive()
    }
}

impl HttpProvider {
    /// Builds the provider, refusing a URL that is not http(s), a header that is not
    /// one, a body template with unknown placeholders or without `{to}` and `{text}`,
    /// a pointer that is not a JSON pointer, or figures out of bounds.
    pub fn new(config: HttpConfig) -> Result<HttpProvider, ConfigError> {
        let name = config.name.clone();
        let err = |field, rule: &str| ConfigError::new(&name, field, rule);
        if name.trim().is_empty() {
            return Err(err("name", "must not be empty"));
        }
        let url = reqwest::Url::parse(&config.url).map_err(|e| err("url", &format!("not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(err("url", "must be an http:// or https:// URL with a host"));
        }
        let mut headers = HeaderMap::new();
        for (header, value) in &config.headers {
            let header_name = HeaderName::from_bytes(header.as_bytes())
                .map_err(|_| err("headers", &format!("`{header}` is not a header name")))?;
            let mut header_value = HeaderValue::from_str(value)
                .map_err(|_| err("headers", &format!("the value of `{header}` is not a header value")))?;
            header_value.set_sensitive(true);
            headers.insert(header_name, header_value);
        }
        check_body(&name, &config.body)?;
        if !config.message_id_pointer.starts_with('/') {
            return Err(err("message_id_pointer", "must be a JSON pointer such as /messages/0/id"));
        }
        if config.timeout.is_zero() || config.timeout > Duration::from_secs(300) {
            return Err(err("timeout", "must be between 1 ms and 5 minutes"));
        }
        if !(1..=10_000).contains(&config.messages_per_second) {
            return Err(err("messages_per_second", "must be between 1 and 10000"));
        }
        if !(1..=1_000).contains(&config.window) {
            return Err(err("window", "must be between 1 and 1000"));
        }
        if !(1..=1_000).contains(&config.failures_to_down) {
            return Err(err("failures_to_down", "must be between 1 and 1000"));
        }
        if config.down_for > Duration::from_secs(3_600) {
            return Err(err("down_for", "must be at most 1 hour"));
        }
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .default_headers(headers)
            // A gateway that redirects a POST is misconfigured; following it could
            // send the credentials elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| err("url", &format!("no HTTP client: {e}")))?;
        Ok(HttpProvider {
            window: Semaphore::new(config.window),
            rate: RateLimiter::new(config.messages_per_second),
            failures: AtomicU32::new(0),
            down_until: Mutex::new(None),
            client,
            url,
            config,
        })
    }

    fn record(&self, outcome: &Result<Submission, SubmitError>) {
        match outcome {
            Ok(_) | Err(SubmitError::Rejected { .. }) => {
                self.failures.store(0, Ordering::Relaxed);
                *self.down_until.lock().unwrap_or_else(PoisonError::into_inner) = None;
            }
            Err(_) => {
                let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
                if failures >= self.config.failures_to_down {
                    *self.down_until.lock().unwrap_or_else(PoisonError::into_inner) =
                        Some(Instant::now() + self.config.down_for);
                }
            }
        }
    }

    async fn submit_message(&self, message: &SmsMessage) -> Result<Submission, SubmitError> {
        let name = &self.config.name;
        let not_sent = |reason: String| SubmitError::NotSent { provider: name.clone(), reason };
        let uncertain =
            |reason: String| SubmitError::Uncertain { provider: name.clone(), reason, accepted_ids: Vec::new() };
        let _permit = match tokio::time::timeout(self.config.timeout, self.window.acquire()).await {
            Ok(Ok(permit)) => permit,
            _ => return Err(not_sent("no room in the window in time".to_owned())),
        };
        self.rate.acquire().await;
        let body = Values::of(message).fill(&self.config.body);
        let response = match self.client.post(self.url.clone()).json(&body).send().await {
            Ok(response) => response,
            Err(e) if e.is_connect() => return Err(not_sent(format!("cannot connect: {}", without_url(&e)))),
            Err(e) => return Err(uncertain(format!("no answer: {}", without_url(&e)))),
        };
        let status = response.status();
        let answer = read_limited(response).await;
        if status.is_success() {
            let answer = answer.map_err(|e| uncertain(format!("answer {status}: {e}")))?;
            let json: Value =
                serde_json::from_slice(&answer).map_err(|e| uncertain(format!("answer {status} is not JSON: {e}")))?;
            let id = match json.pointer(&self.config.message_id_pointer) {
                Some(Value::String(s)) if !s.is_empty() => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => {
                    return Err(uncertain(format!(
                        "answer {status} holds no message id at {}",
                        self.config.message_id_pointer
                    )));
                }
            };
            return Ok(Submission { provider: name.clone(), message_ids: vec![id] });
        }
        let reason = format!("the gateway answered {status}");
        Err(match status.as_u16() {
            // Too many requests, bad gateway, unavailable: the request was not handled.
            429 | 502 | 503 => not_sent(reason),
            400..=499 => SubmitError::Rejected { provider: name.clone(), reason },
            // An internal error or a gateway timeout may come after the SMS left.
            _ => uncertain(reason),
        })
    }
}

/// A reqwest error without its URL, which may carry credentials in its query.
fn without_url(error: &reqwest::Error) -> String {
    let mut text = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(error);
    // The innermost cause says what happened (connection refused, timed out).
    while let Some(e) = source {
        text = e.to_string();
        source = e.source();
    }
    text
}

/// Reads at most [`HTTP_BODY_BYTES_MAX`] of an answer.
async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| without_url(&e))? {
        if body.len() + chunk.len() > HTTP_BODY_BYTES_MAX {
            return Err(format!("longer than {HTTP_BODY_BYTES_MAX} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

impl SmsProvider for HttpProvider {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn submit<'a>(&'a self, message: &'a SmsMessage) -> BoxFuture<'a, Result<Submission, SubmitError>> {
        Box::pin(async move {
            let outcome = self.submit_message(message).await;
            match &outcome {
                Ok(s) => {
                    tracing::info!(provider = %self.config.name, to = %mask_phone(&message.to), reference = %message.reference, message_id = %s.message_id(), "SMS submitted")
                }
                Err(e) => {
                    tracing::warn!(provider = %self.config.name, to = %mask_phone(&message.to), reference = %message.reference, error = %e, "SMS not submitted")
                }
            }
            self.record(&outcome);
            outcome
        })
    }

    fn health(&self) -> Health {
        let down_until = *self.down_until.lock().unwrap_or_else(PoisonError::into_inner);
        match down_until {
            Some(until) if Instant::now() < until => {
                Health::Down { reason: format!("{} requests failed in a row", self.failures.load(Ordering::Relaxed)) }
            }
            _ => Health::Up,
        }
    }
}

/// How a gateway's receipt webhook is read.
#[derive(Clone)]
pub struct WebhookConfig {
    /// The provider's name, given to the receipts.
    pub provider: String,
    /// The shared secret of the signature; never printed.
    pub secret: Vec<u8>,
    /// The header that carries the signature: the HMAC-SHA256 of the raw body in hex,
    /// optionally after `sha256=`. Default: `X-Signature`.
    pub signature_header: String,
    /// Where the body holds the message id. Default: `/message_id`.
    pub message_id_pointer: String,
    /// Where it holds the status. Default: `/status`.
    pub status_pointer: String,
    /// Where it holds an error code, if anywhere. Default: `/error`.
    pub error_pointer: Option<String>,
    /// The gateway's status words and what they mean, matched case-insensitively;
    /// words not listed are read as SMPP receipt states (`DELIVRD`, `UNDELIV`…).
    /// Default: delivered, failed, undelivered, rejected, expired; sent, queued,
    /// accepted and submitted (still on their way).
    pub statuses: Vec<(String, SmsStatus)>,
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("provider", &self.provider)
            .field("secret", &"<secret>")
            .field("signature_header", &self.signature_header)
            .field("message_id_pointer", &self.message_id_pointer)
            .field("status_pointer", &self.status_pointer)
            .finish_non_exhaustive()
    }
}

/// Why a webhook call was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// The body is larger than [`HTTP_BODY_BYTES_MAX`].
    #[error("the body is larger than {HTTP_BODY_BYTES_MAX} bytes")]
    TooLarge,
    /// No signature header.
    #[error("the signature is missing")]
    MissingSignature,
    /// The signature does not match the body.
    #[error("the signature does not match")]
    BadSignature,
    /// The body is not JSON.
    #[error("the body is not JSON")]
    NotJson,
    /// A field is missing or not text.
    #[error("no {0} in the body")]
    MissingField(&'static str),
    /// A status word nobody configured.
    #[error("unknown status `{0}`")]
    UnknownStatus(String),
}

impl WebhookConfig {
    /// A webhook with the default header, pointers and statuses.
    pub fn new(provider: &str, secret: &[u8]) -> WebhookConfig {
        let statuses = [
            ("delivered", SmsStatus::Delivered),
            ("failed", SmsStatus::Failed),
            ("undelivered", SmsStatus::Failed),
            ("rejected", SmsStatus::Failed),
            ("expired", SmsStatus::Expired),
            ("sent", SmsStatus::Submitted),
            ("queued", SmsStatus::Submitted),
            ("accepted", SmsStatus::Submitted),
            ("submitted", SmsStatus::Submitted),
        ];
        WebhookConfig {
            provider: provider.to_owned(),
            secret: secret.to_vec(),
            signature_header: "X-Signature".to_owned(),
            message_id_pointer: "/message_id".to_owned(),
            status_pointer: "/status".to_owned(),
            error_pointer: Some("/error".to_owned()),
            statuses: statuses.into_iter().map(|(w, s)| (w.to_owned(), s)).collect(),
        }
    }

    /// The signature a body should carry, in hex (what the gateway computes).
    pub fn sign(&self, body: &[u8]) -> String {
        hex::encode(self.mac(body).finalize().into_bytes())
    }

    fn mac(&self, body: &[u8]) -> Hmac<Sha256> {
        // HMAC takes a key of any length.
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.secret) {
            Ok(mac) => mac,
            Err(e) => unreachable!("HMAC accepts any key length: {e}"),
        };
        mac.update(body);
        mac
    }

    /// Checks the signature of a body: the header's value (`None` if absent), hex,
    /// with or without `sha256=`; compared in constant time.
    pub fn verify(&self, signature: Option<&str>, body: &[u8]) -> Result<(), WebhookError> {
        if body.len() > HTTP_BODY_BYTES_MAX {
            return Err(WebhookError::TooLarge);
        }
        let signature = signature.map(str::trim).filter(|s| !s.is_empty()).ok_or(WebhookError::MissingSignature)?;
        let hex_text = signature.strip_prefix("sha256=").unwrap_or(signature);
        let expected = hex::decode(hex_text).map_err(|_| WebhookError::BadSignature)?;
        self.mac(body).verify_slice(&expected).map_err(|_| WebhookError::BadSignature)
    }

    /// Verifies a webhook call and reads the receipt it carries.
    pub fn receipt(&self, signature: Option<&str>, body: &[u8]) -> Result<DeliveryReceipt, WebhookError> {
        self.verify(signature, body)?;
        let json: Value = serde_json::from_slice(body).map_err(|_| WebhookError::NotJson)?;
        let text = |pointer: &str| match json.pointer(pointer) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let message_id = text(&self.message_id_pointer).ok_or(WebhookError::MissingField("message id"))?;
        let state = text(&self.status_pointer).ok_or(WebhookError::MissingField("status"))?;
        let status = self
            .statuses
            .iter()
            .find(|(word, _)| word.eq_ignore_ascii_case(&state))
            .map(|&(_, status)| status)
            .or_else(|| receipt_status(&state))
            .ok_or_else(|| WebhookError::UnknownStatus(state.clone()))?;
        let error = self.error_pointer.as_deref().and_then(text);
        Ok(DeliveryReceipt { provider: self.provider.clone(), message_id, status, state, error })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use vigie_core::{E164, SenderId};

    use super::*;

    #[test]
    fn bodies_are_checked_and_filled() {
        let body = json!({"to": "{to}", "sender": "{from}", "content": {"text": "{text}", "parts": "{segments}"},
            "tags": ["vigie:{reference}", "{encoding}"], "dcs": "{data_coding}", "flash": false});
        assert_eq!(check_body("gw", &body), Ok(()));
        let message = SmsMessage {
            reference: "sms-7".into(),
            to: E164::parse("+33612345678").expect("number"),
            sender: SmsSender::Alphanumeric(SenderId::parse("CliniqueSJ").expect("id")),
            text: "Arrêt".into(),
            expires_at: None,
        };
        assert_eq!(
            Values::of(&message).fill(&body),
            json!({"to": "+33612345678", "sender": "CliniqueSJ", "content": {"text": "Arrêt", "parts": 1},
                "tags": ["vigie:sms-7", "ucs2"], "dcs": 8, "flash": false})
        );
        let cases = [
            (
                json!({"to": "{to}", "text": "{txt}"}),
                "gw: body: unknown placeholder {txt} at /text: use {to}, {to_digits}, {from}, {text}, {reference}, {encoding}, {data_coding}, {segments}, {expires_at}",
            ),
            (json!({"to": "{to}", "m": [{"a/b": "{text"}]}), "gw: body: unbalanced brace at /m/0/a~1b"),
            (json!({"to": "{to}"}), "gw: body: must hold {to} (or {to_digits}) and {text}"),
            (json!("{text}"), "gw: body: must hold {to} (or {to_digits}) and {text}"),
        ];
        for (body, expected) in cases {
            assert_eq!(check_body("gw", &body).map_err(|e| e.to_string()), Err(expected.to_owned()));
        }
    }

    #[test]
    fn configurations_are_checked() {
        let ok =
            HttpConfig::new("gw", "https://sms.example/v1/messages", json!({"to": "{to}", "text": "{text}"}), "/id");
        assert!(HttpProvider::new(ok.clone()).is_ok());
        let cases = [
            (
                HttpConfig { url: "ftp://x/y".into(), ..ok.clone() },
                "gw: url: must be an http:// or https:// URL with a host",
            ),
            (
                HttpConfig { headers: vec![("Bad Header".into(), "x".into())], ..ok.clone() },
                "gw: headers: `Bad Header` is not a header name",
            ),
            (
                HttpConfig { message_id_pointer: "id".into(), ..ok.clone() },
                "gw: message_id_pointer: must be a JSON pointer such as /messages/0/id",
            ),
            (HttpConfig { window: 0, ..ok.clone() }, "gw: window: must be between 1 and 1000"),
        ];
        for (config, expected) in cases {
            assert_eq!(HttpProvider::new(config).map(|_| ()).map_err(|e| e.to_string()), Err(expected.to_owned()));
        }
        // The header's value is a secret.
        let secret = HttpConfig { headers: vec![("Authorization".into(), "Bearer s3cr3t".into())], ..ok };
        assert!(!format!("{secret:?}").contains("s3cr3t"));
    }

    #[test]
    fn webhooks_are_verified_then_read() {
        let webhook = WebhookConfig::new("gw", b"shared secret");
        let body = br#"{"message_id":"m-42","status":"DELIVERED","error":null}"#;
        let signature = webhook.sign(body);
        // Known HMAC-SHA256 vector (RFC 4231, test case 2).
        let rfc = WebhookConfig::new("gw", b"Jefe");
        assert_eq!(
            rfc.sign(b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let receipt = webhook.receipt(Some(&signature), body).expect("receipt");
        assert_eq!(
            receipt,
            DeliveryReceipt {
                provider: "gw".into(),
                message_id: "m-42".into(),
                status: SmsStatus::Delivered,
                state: "DELIVERED".into(),
                error: None
            }
        );
        assert!(webhook.receipt(Some(&format!("sha256={}", signature.to_uppercase())), body).is_ok());
        let mut tampered = body.to_vec();
        tampered[15] = b'3';
        let cases: [(Option<&str>, &[u8], WebhookError); 5] = [
            (None, body, WebhookError::MissingSignature),
            (Some(""), body, WebhookError::MissingSignature),
            (Some("zz"), body, WebhookError::BadSignature),
            (Some(&signature[..62]), body, WebhookError::BadSignature),
            (Some(&signature), &tampered, WebhookError::BadSignature),
        ];
        for (signature, body, expected) in cases {
            assert_eq!(webhook.receipt(signature, body), Err(expected));
        }
        let read = |body: &[u8]| webhook.receipt(Some(&webhook.sign(body)), body);
        assert_eq!(read(b"not json"), Err(WebhookError::NotJson));
        assert_eq!(read(br#"{"status":"delivered"}"#), Err(WebhookError::MissingField("message id")));
        assert_eq!(
            read(br#"{"message_id":1,"status":"teleported"}"#),
            Err(WebhookError::UnknownStatus("teleported".into()))
        );
        assert_eq!(
            read(br#"{"message_id":1,"status":"UNDELIV","error":"34"}"#).map(|r| (r.message_id, r.status, r.error)),
            Ok(("1".into(), SmsStatus::Failed, Some("34".into())))
        );
        assert_eq!(webhook.verify(Some(&signature), &vec![b' '; HTTP_BODY_BYTES_MAX + 1]), Err(WebhookError::TooLarge));
        assert!(!format!("{webhook:?}").contains("shared secret"));
    }
}
