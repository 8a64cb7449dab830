//! Delivery of Vigie's alerts and reports to people and systems: an adapter, like
//! `vigie-sms`, that knows nothing of the domain. What to alert about, and when, is
//! decided elsewhere; this crate takes a ready [`Notification`] and hands it to a
//! [`Channel`]:
//!
//! - [`WebhookChannel`]: the notification's JSON POSTed to a URL, signed with
//!   HMAC-SHA256 over `{timestamp}.{body}` (headers `X-Vigie-Signature`,
//!   `X-Vigie-Timestamp`, `X-Vigie-Delivery`); receivers check it with
//!   [`verify_signature`];
//! - [`EmailChannel`]: an e-mail through an SMTP relay (lettre, rustls with ring), in
//!   clear, with STARTTLS or implicit TLS, with an optional login and CA of its own.
//!
//! A failed delivery is a [`DeliveryError`] that says whether trying again can help;
//! [`deliver_with_retry`] retries the transient ones with a bounded exponential
//! back-off ([`RetryPolicy`]). Configurations are plain structs, checked when the
//! channel is built ([`ConfigError`] names the field); the binary maps its TOML into
//! them. Secrets (webhook secret and headers, SMTP password) are never printed, in
//! `Debug` output or in errors.

mod channel;
mod email;
mod retry;
mod webhook;

pub use channel::{Attachment, BoxFuture, Channel, ConfigError, DeliveryError, Notification};
pub use email::{EmailChannel, EmailConfig, RECIPIENTS_MAX, SmtpCredentials, SmtpSecurity};
pub use retry::{RetryPolicy, deliver_with_retry};
pub use webhook::{
    DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookChannel, WebhookConfig, sign, verify_signature,
};
