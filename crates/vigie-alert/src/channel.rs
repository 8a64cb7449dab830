//! What every channel delivers (a [`Notification`]), the [`Channel`] trait, and the
//! errors: a delivery that failed says whether trying again can help.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

/// A boxed future, so that channels can be used as `dyn Channel` (a webhook and an
/// e-mail relay side by side, chosen by configuration).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One alert or report, ready to send: each channel takes the parts it can carry.
#[derive(Clone, PartialEq)]
pub struct Notification {
    /// A stable id: the same notification retried keeps it, so that receivers can
    /// drop duplicates (the webhook's `X-Vigie-Delivery` header, the e-mail's
    /// `Message-ID`).
    pub id: String,
    /// A one-line summary: the e-mail's subject.
    pub subject: String,
    /// The plain-text body of the e-mail.
    pub text: String,
    /// An HTML body of the e-mail, sent beside the text one (`multipart/alternative`).
    pub html: Option<String>,
    /// The webhook's body.
    pub json: serde_json::Value,
    /// Files joined to the e-mail (a weekly report as CSV or PDF). Webhooks do not
    /// carry them.
    pub attachments: Vec<Attachment>,
}

impl fmt::Debug for Notification {
    /// Shows sizes rather than bodies, which may be long.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notification")
            .field("id", &self.id)
            .field("subject", &self.subject)
            .field("text_bytes", &self.text.len())
            .field("html_bytes", &self.html.as_ref().map(String::len))
            .field("attachments", &self.attachments)
            .finish_non_exhaustive()
    }
}

/// A file joined to an e-mail.
#[derive(Clone, PartialEq, Eq)]
pub struct Attachment {
    /// Its name, as the reader sees it (`rapport-2026-w14.csv`).
    pub filename: String,
    /// Its MIME type (`text/csv`, `application/pdf`).
    pub content_type: String,
    /// Its content.
    pub bytes: Vec<u8>,
}

impl fmt::Debug for Attachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attachment")
            .field("filename", &self.filename)
            .field("content_type", &self.content_type)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// Somewhere notifications go: a webhook, an e-mail relay.
pub trait Channel: Send + Sync {
    /// The channel's name, as configured (in logs and errors).
    fn name(&self) -> &str;

    /// Delivers one notification; answers once the peer took it or refused it.
    fn deliver<'a>(&'a self, notification: &'a Notification) -> BoxFuture<'a, Result<(), DeliveryError>>;
}

/// Why a delivery failed. The message never holds a secret (password, signing key,
/// header value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The peer could not take it now (unreachable, timed out, busy, an SMTP 4xx, an
    /// HTTP 5xx, 408 or 429): the same notification may be tried again later.
    #[error("{channel}: not delivered, may be retried: {reason}")]
    Transient {
        /// The channel.
        channel: String,
        /// Why, in words.
        reason: String,
    },
    /// The peer refused it for good (an SMTP 5xx, an HTTP 4xx, bad credentials, an
    /// untrusted certificate): retrying will not help until the configuration or the
    /// peer changes.
    #[error("{channel}: not delivered, refused: {reason}")]
    Permanent {
        /// The channel.
        channel: String,
        /// Why, in words.
        reason: String,
    },
}

impl DeliveryError {
    /// Whether trying again may deliver it.
    pub fn is_transient(&self) -> bool {
        matches!(self, DeliveryError::Transient { .. })
    }

    pub(crate) fn transient(channel: &str, reason: impl Into<String>) -> DeliveryError {
        DeliveryError::Transient { channel: channel.to_owned(), reason: reason.into() }
    }

    pub(crate) fn permanent(channel: &str, reason: impl Into<String>) -> DeliveryError {
        DeliveryError::Permanent { channel: channel.to_owned(), reason: reason.into() }
    }
}

/// Why a channel's configuration was refused: the field and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{channel}: {field}: {rule}")]
pub struct ConfigError {
    /// The channel's name.
    pub channel: String,
    /// The field at fault.
    pub field: &'static str,
    /// The rule it broke.
    pub rule: String,
}

impl ConfigError {
    pub(crate) fn new(channel: &str, field: &'static str, rule: impl Into<String>) -> ConfigError {
        ConfigError { channel: channel.to_owned(), field, rule: rule.into() }
    }
}
