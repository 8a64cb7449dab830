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
use vigie_core::{Language, Timestamp};
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
            let notification = render(&alert, self.language);
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

/// The words of an alert's signal and action, in a language.
fn words(alert: &AlertRecord, language: Language) -> (&'static str, &'static str) {
    let fr = language == Language::Fr;
    let signal = match (alert.signal.as_str(), fr) {
        ("reports", true) => "signalements de spam",
        ("reports", false) => "spam reports",
        ("answer_rate_drop", true) => "chute du taux de décroché",
        ("answer_rate_drop", false) => "answer rate drop",
        ("pool_answer_rate_drop", true) => "chute du taux de décroché du pool",
        ("pool_answer_rate_drop", false) => "pool answer rate drop",
        ("external_flag", true) => "signalé par une source externe",
        ("external_flag", false) => "flagged by an external source",
        ("manual", true) => "mise en quarantaine manuelle",
        ("manual", false) => "manual quarantine",
        (_, true) => "alerte",
        (_, false) => "alert",
    };
    let action = match (alert.action.as_str(), fr) {
        ("quarantined", true) => "numéro mis en quarantaine, appels en attente réattribués",
        ("quarantined", false) => "number quarantined, pending calls moved",
        ("alert_only", true) => "alerte seulement : le numéro reste en service",
        ("alert_only", false) => "alert only: the number stays in service",
        (_, true) => "aucune",
        (_, false) => "none",
    };
    (signal, action)
}

/// The notification of an alert: subject and text in the language, the JSON for
/// webhooks (stable field names, language-independent).
pub(crate) fn render(alert: &AlertRecord, language: Language) -> Notification {
    let (signal, action) = words(alert, language);
    let fr = language == Language::Fr;
    let subject_of = alert.number.as_ref().map_or_else(
        || format!("pool {}", alert.pool.as_deref().unwrap_or("-")),
        |n| format!("{} (pool {})", n.national(), alert.pool.as_deref().unwrap_or("-")),
    );
    let subject = match (alert.action.as_str(), fr) {
        ("quarantined", true) => format!("[Vigie] Numéro {subject_of} mis en quarantaine : {signal}"),
        ("quarantined", false) => format!("[Vigie] Number {subject_of} quarantined: {signal}"),
        (_, true) => format!("[Vigie] Alerte {subject_of} : {signal}"),
        (_, false) => format!("[Vigie] Alert {subject_of}: {signal}"),
    };
    let labels = if fr {
        ["Numéro", "Pool", "Signal", "Constat", "Action", "Levée le", "Suite"]
    } else {
        ["Number", "Pool", "Signal", "Evidence", "Action", "Raised at", "Next"]
    };
    let next = match (alert.action.as_str(), fr) {
        ("quarantined", true) => {
            "Un incident est ouvert : suivez le plan de crise (GET /v1/incidents) — identité, demandes de retrait, établissement informé, cause."
        }
        ("quarantined", false) => {
            "An incident is open: follow the crisis playbook (GET /v1/incidents) — identity, delisting requests, facility informed, cause."
        }
        (_, true) => "Vérifiez le numéro et acquittez l'alerte (POST /v1/alerts/{id}/ack).",
        (_, false) => "Check the number and acknowledge the alert (POST /v1/alerts/{id}/ack).",
    };
    let number = alert.number.as_ref().map_or_else(|| "—".to_owned(), |n| format!("{} ({n})", n.national()));
    // Operations managers read Paris time.
    let paris = jiff::tz::TimeZone::get("Europe/Paris").unwrap_or(jiff::tz::TimeZone::UTC);
    let local = alert.raised_at.to_zoned_datetime(paris).strftime("%Y-%m-%d %H:%M").to_string();
    let raised = if fr { format!("{local} (heure de Paris)") } else { format!("{local} (Paris time)") };
    let text = format!(
        "{}: {number}\n{}: {}\n{}: {signal} ({})\n{}: {}\n{}: {action}\n{}: {}\n\n{}\n\nalert {}\n",
        labels[0],
        labels[1],
        alert.pool.as_deref().unwrap_or("—"),
        labels[2],
        alert.signal,
        labels[3],
        alert.evidence,
        labels[4],
        labels[5],
        raised,
        next.replace("{id}", &alert.id.to_string()),
        alert.id,
    );
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
