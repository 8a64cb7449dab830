//! SMS providers for the pre-call SMS, as adapters around `vigie-core`'s rules: SMPP
//! 3.4 (rusmpp/rusmppc), a generic HTTP gateway with its receipt webhook, a log
//! provider for `vigie demo`, and a failover pair.
//!
//! Patients' numbers are never logged in clear by this crate (see [`mask_phone`]).
//! The rusmpp codec, however, logs whole PDUs at `debug`: a binary must keep it at
//! `info` or above, for instance by adding [`LOG_FILTER_DIRECTIVES`] to its filter.

mod failover;
mod http;
mod log;
mod mask;
mod provider;
mod rate;
mod receipt;
mod smpp;

pub use failover::FailoverProvider;
pub use http::{HTTP_BODY_BYTES_MAX, HttpConfig, HttpProvider, WebhookConfig, WebhookError};
pub use log::LogProvider;
pub use mask::mask_phone;
pub use provider::{
    BoxFuture, ConfigError, DeliveryReceipt, EventSender, Health, PatientReply, SmsEvent, SmsMessage, SmsProvider,
    Submission, SubmitError, event_channel,
};
pub use receipt::{ReceiptText, parse_receipt_text, receipt_status};
pub use smpp::{SmppConfig, SmppProvider};

/// Tracing filter directives that keep the SMPP libraries from logging PDUs, whose
/// addresses are patients' numbers: add them to the binary's `EnvFilter` after the
/// user's own directives.
pub const LOG_FILTER_DIRECTIVES: &str = "rusmpp=info,rusmppc=info";
