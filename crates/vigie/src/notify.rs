//! Alert notifications in `vigie serve` and `vigie demo`: the alerts the store holds
//! that no channel took yet (not rate-limited, tried fewer than `attempts_max` times)
//! are rendered (French first, English as a choice) and delivered to every channel of
//! `[[alerts.channels]]`: signed webhooks and e-mail (`vigie-alert`). An alert is marked
//! notified once every channel took it; a failed attempt is recorded with its error and
//! tried again on a later round. Webhook receivers deduplicate by `X-Vigie-Delivery`
//! (`alert-<id>`), e-mail keeps its `Message-ID`, so a retry is recognisable.
//!
//! This file names nothing of the binary (`crate::…`): the integration tests include it
//! to drive [`Notifier::tick`].

use std::time::Duration;

use serde_json::json;
use vigie_alert::{Channel, Notification, RetryPolicy, deliver_with_retry};
use vigie_core::{Alert, AlertAction, AlertSignal, Calendar, Finding, Language, PoolCode, Severity, Timestamp};
use vigie_store::{AlertRecord, Store};

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NotifyReport {
    /// Alerts every channel took.
    pub(crate) delivered: u32,
    /// Alerts some channel refused or did not answer for.
    pub(crate) failed: u32,
}

/// Delivers alerts to the configured channels.
pub(crate) struct Notifier {
    store: Store,
    channels: Vec<Box<dyn Channel>>,
    language: Language,
    /// Attempts (rounds) per alert before it is given up (it stays visible in the API).
    attempts_max: u32,
    /// Retries within one round, for transient errors.
    retry: RetryPolicy,
}

impl Notifier {
    /// A notifier over `channels`.
    pub(crate) fn new(store: Store, channels: Vec<Box<dyn Channel>>, language: Language) -> Notifier {
        let retry =
            RetryPolicy { attempts_max: 3, delay_first: Duration::from_millis(500), delay_max: Duration::from_secs(5) };
        Notifier { store, channels, language, attempts_max: 6, retry }
    }

    /// Delivers the alerts waiting for a channel.
    pub(crate) async fn tick(&self, now: Timestamp) -> anyhow::Result<NotifyReport> {
        let mut report = NotifyReport::default();
        if self.channels.is_empty() {
            return Ok(report);
        }
        for alert in self.store.alerts_to_notify(self.attempts_max, 50).await? {
            let notification = render(&alert, self.language, self.store.calendar());
            let mut errors = Vec::new();
            for channel in &self.channels {
                if let Err(e) = deliver_with_retry(channel.as_ref(), &notification, &self.retry).await {
                    errors.push(e.to_string());
                }
            }
            if errors.is_empty() {
                report.delivered += 1;
                self.store.record_alert_notification(alert.id, now, None).await?;
            } else {
                report.failed += 1;
                let error = errors.join("; ");
                tracing::warn!(alert = alert.id, error = %error, "alert not delivered; tried again later");
                self.store.record_alert_notification(alert.id, now, Some(&error)).await?;
            }
        }
        Ok(report)
    }

    /// Runs [`Notifier::tick`] every `interval` until aborted.
    pub(crate) fn spawn(self, interval: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut every = tokio::time::interval(interval);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                if let Err(e) = self.tick(self.store.now()).await {
                    tracing::error!(error = %e, "alert notification round failed; trying again");
                }
            }
        })
    }
}

/// The core's alert of a stored one, for its text; `None` for a signal, severity or
/// action the core does not know (never written by this version).
fn core_alert(a: &AlertRecord) -> Option<Alert> {
    Some(Alert {
        signal: AlertSignal::parse(&a.signal).ok()?,
        severity: Severity::parse(&a.severity).ok()?,
        number: a.number.clone(),
        pool: a.pool.as_deref().and_then(|p| PoolCode::parse(p).ok()),
        // Only the dedup key needs it, and the stored alert has its key already.
        about: None,
        evidence: Finding::Text { fr: a.evidence_fr.clone(), en: a.evidence.clone() },
        action: AlertAction::parse(&a.action).ok()?,
        at: a.raised_at,
    })
}

/// The notification of an alert: subject and text from vigie-core's `Alert::render`
/// (French first, local time), and the JSON for webhooks (stable field names,
/// language-independent).
pub(crate) fn render(alert: &AlertRecord, language: Language, calendar: &Calendar) -> Notification {
    let (subject, text) = match core_alert(alert) {
        Some(a) => {
            let r = a.render(language, calendar);
            (r.subject, format!("{}\n\nalert {}\n", r.text, alert.id))
        }
        None => (
            format!("[Vigie] {} {}", alert.signal, alert.severity),
            format!("{}\n\nalert {}\n", alert.evidence, alert.id),
        ),
    };
    Notification {
        id: format!("alert-{}", alert.id),
        subject,
        text,
        html: None,
        json: json!({
            "alert_id": alert.id,
            "signal": alert.signal,
            "severity": alert.severity,
            "number": alert.number.as_ref().map(ToString::to_string),
            "pool": alert.pool,
            "evidence": alert.evidence,
            "action": alert.action,
            "raised_at": alert.raised_at.to_string(),
        }),
        attachments: Vec::new(),
    }
}
