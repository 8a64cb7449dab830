//! What every SMS provider offers: submit a message, report its events (delivery
//! receipts and patients' replies) on a bounded channel, and tell whether it is up.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use jiff::Timestamp;
use tokio::sync::mpsc;
use vigie_core::{E164, SmsSender, SmsStatus};

use crate::mask::mask_phone;

/// A boxed future, so that providers can be used as `dyn SmsProvider` (one per
/// facility, a failover pair of any two).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One SMS to send.
#[derive(Clone, PartialEq, Eq)]
pub struct SmsMessage {
    /// Vigie's own reference for the SMS (an opaque id, never built from patient
    /// data), passed to providers that can echo it in receipts.
    pub reference: String,
    /// The patient's number.
    pub to: E164,
    /// Who it comes from.
    pub sender: SmsSender,
    /// The text, as rendered by a [`vigie_core::Template`].
    pub text: String,
    /// When the SMS stops being worth delivering (its call's `dial_at`): the network
    /// gives up after it and reports it expired. `None`: the provider's default.
    pub expires_at: Option<Timestamp>,
}

impl fmt::Debug for SmsMessage {
    /// Shows the number masked: debug output ends up in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmsMessage")
            .field("reference", &self.reference)
            .field("to", &mask_phone(&self.to))
            .field("sender", &self.sender)
            .field("text_chars", &self.text.chars().count())
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// What a provider answered to a submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// The provider that took the message (the secondary one, after a failover).
    pub provider: String,
    /// The provider's message ids, one per segment in order; receipts name them.
    pub message_ids: Vec<String>,
}

impl Submission {
    /// The id of the first segment, which identifies the SMS.
    pub fn message_id(&self) -> &str {
        self.message_ids.first().map_or("", String::as_str)
    }
}

/// Why a submission did not go through. The kinds say what may be done next, so that
/// an SMS is never sent twice.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// Nothing reached the provider, or it refused for now (down, throttled, queue
    /// full): the same SMS may be retried, or sent through another provider.
    #[error("{provider}: not sent: {reason}")]
    NotSent {
        /// The provider.
        provider: String,
        /// Why, in words.
        reason: String,
    },
    /// The provider refused the SMS for good (a bad number, a bad sender): retrying
    /// will not help.
    #[error("{provider}: rejected: {reason}")]
    Rejected {
        /// The provider.
        provider: String,
        /// Why, in words.
        reason: String,
    },
    /// The provider may have taken the SMS (no answer in time, the connection lost
    /// while waiting, part of a long SMS accepted): do not resubmit blindly; its
    /// receipts, by the ids already known, tell.
    #[error("{provider}: outcome unknown: {reason}")]
    Uncertain {
        /// The provider.
        provider: String,
        /// Why, in words.
        reason: String,
        /// Ids of the segments the provider did accept.
        accepted_ids: Vec<String>,
    },
}

impl SubmitError {
    /// Whether the SMS certainly did not leave, so that it may be retried or failed
    /// over.
    pub fn is_transient(&self) -> bool {
        matches!(self, SubmitError::NotSent { .. })
    }
}

/// Whether a provider can take submissions now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// It can.
    Up,
    /// It cannot: not connected, or failing.
    Down {
        /// Why, in words.
        reason: String,
    },
}

impl Health {
    /// Whether the provider is up.
    pub fn is_up(&self) -> bool {
        matches!(self, Health::Up)
    }
}

/// A delivery receipt: what became of a submitted SMS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReceipt {
    /// The provider that sent it.
    pub provider: String,
    /// The provider's message id (of one segment).
    pub message_id: String,
    /// The status it reports: delivered, failed or expired, or still submitted for an
    /// intermediate notification.
    pub status: SmsStatus,
    /// The provider's own word for the state (`DELIVRD`, `UNDELIV`…).
    pub state: String,
    /// The provider's error code, if it gave one.
    pub error: Option<String>,
}

/// A patient's reply to an SMS (a mobile-originated message).
#[derive(Clone, PartialEq, Eq)]
pub struct PatientReply {
    /// The provider it came through.
    pub provider: String,
    /// The patient's number.
    pub from: E164,
    /// The number or sender it was sent to, as the provider gave it.
    pub to: String,
    /// What the patient wrote.
    pub text: String,
    /// Whether it asks for no more SMS ([`vigie_core::is_stop_reply`]).
    pub stop: bool,
}

impl fmt::Debug for PatientReply {
    /// Shows the number masked and not the text, which may hold anything the patient
    /// chose to write.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PatientReply")
            .field("provider", &self.provider)
            .field("from", &mask_phone(&self.from))
            .field("to", &self.to)
            .field("text_chars", &self.text.chars().count())
            .field("stop", &self.stop)
            .finish()
    }
}

/// Something a provider reports after a submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmsEvent {
    /// A delivery receipt.
    Receipt(DeliveryReceipt),
    /// A patient's reply.
    Reply(PatientReply),
}

/// Where providers send their events: the sending half of a bounded channel. A full
/// channel makes the provider wait (an SMSC then waits for its `deliver_sm_resp`), so
/// events are never dropped and memory stays bounded.
pub type EventSender = mpsc::Sender<SmsEvent>;

/// A bounded channel for provider events: give clones of the sender to every
/// provider, and read the receiver in one place.
pub fn event_channel(capacity: usize) -> (EventSender, mpsc::Receiver<SmsEvent>) {
    mpsc::channel(capacity.max(1))
}

/// An SMS gateway.
pub trait SmsProvider: Send + Sync {
    /// The provider's name, as configured (in logs, events and submissions).
    fn name(&self) -> &str;

    /// Submits one SMS; answers once the provider accepted or refused it.
    fn submit<'a>(&'a self, message: &'a SmsMessage) -> BoxFuture<'a, Result<Submission, SubmitError>>;

    /// Whether the provider can take submissions now.
    fn health(&self) -> Health;
}

/// Why a provider's configuration was refused: the field and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{provider}: {field}: {rule}")]
pub struct ConfigError {
    /// The provider's name.
    pub provider: String,
    /// The field at fault.
    pub field: &'static str,
    /// The rule it broke.
    pub rule: String,
}

impl ConfigError {
    pub(crate) fn new(provider: &str, field: &'static str, rule: impl Into<String>) -> ConfigError {
        ConfigError { provider: provider.to_owned(), field, rule: rule.into() }
    }
}
