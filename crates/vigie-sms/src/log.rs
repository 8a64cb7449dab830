//! The log provider, for `vigie demo` and tests: "sends" an SMS by logging it (the
//! number masked) and reports it delivered after a short delay.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use vigie_core::{SmsStatus, sms_length};

use crate::mask::mask_phone;
use crate::provider::{
    BoxFuture, DeliveryReceipt, EventSender, Health, SmsEvent, SmsMessage, SmsProvider, Submission, SubmitError,
};

/// A provider that logs instead of sending.
#[derive(Debug)]
pub struct LogProvider {
    name: String,
    next_id: AtomicU64,
    delay: Duration,
    due: mpsc::Sender<(Instant, String)>,
}

impl LogProvider {
    /// Starts the provider: each SMS is reported delivered `delay` after it was
    /// submitted; at most `pending_max` receipts wait at once (more are refused as
    /// not sent). Needs a tokio runtime.
    pub fn start(name: &str, delay: Duration, pending_max: usize, events: EventSender) -> LogProvider {
        let (due, mut queue) = mpsc::channel::<(Instant, String)>(pending_max.max(1));
        let provider = name.to_owned();
        // One task delivers every receipt: the delay is the same for all, so they fall
        // due in the order they were queued.
        tokio::spawn(async move {
            while let Some((at, message_id)) = queue.recv().await {
                tokio::time::sleep_until(at).await;
                let receipt = DeliveryReceipt {
                    provider: provider.clone(),
                    message_id,
                    status: SmsStatus::Delivered,
                    state: "DELIVRD".to_owned(),
                    error: None,
                };
                if events.send(SmsEvent::Receipt(receipt)).await.is_err() {
                    break;
                }
            }
        });
        LogProvider { name: name.to_owned(), next_id: AtomicU64::new(1), delay, due }
    }
}

impl SmsProvider for LogProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn submit<'a>(&'a self, message: &'a SmsMessage) -> BoxFuture<'a, Result<Submission, SubmitError>> {
        Box::pin(async move {
            let id = format!("log-{}", self.next_id.fetch_add(1, Ordering::Relaxed));
            if self.due.try_send((Instant::now() + self.delay, id.clone())).is_err() {
                return Err(SubmitError::NotSent {
                    provider: self.name.clone(),
                    reason: "too many receipts pending".to_owned(),
                });
            }
            let length = sms_length(&message.text);
            tracing::info!(
                provider = %self.name,
                to = %mask_phone(&message.to),
                reference = %message.reference,
                encoding = %length.encoding,
                segments = length.segments,
                message_id = %id,
                "SMS sent (log provider)"
            );
            tracing::debug!(provider = %self.name, message_id = %id, text = %message.text, "SMS text");
            Ok(Submission { provider: self.name.clone(), message_ids: vec![id] })
        })
    }

    fn health(&self) -> Health {
        if self.due.is_closed() { Health::Down { reason: "stopped".to_owned() } } else { Health::Up }
    }
}
