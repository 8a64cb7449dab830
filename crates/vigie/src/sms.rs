//! The pre-call SMS dispatcher of `vigie serve` and `vigie demo`: the providers named in
//! `[sms]` (one per facility, a failover pair where configured, a default for the
//! others), a loop that claims the SMS that are due from the store, submits each through
//! its facility's provider and records what the provider answered, and a task that
//! records the providers' delivery receipts and patients' replies.
//!
//! An SMS is submitted at most once: the store's claim marks it before the submission,
//! an answer that may mean "sent" is never turned into a retry, and a claim whose answer
//! was never recorded (the process died) ends as `failed` in the store, not resent.
//! Patients' numbers are only ever logged masked ([`mask_phone`]); texts are not logged.
//!
//! This file names nothing of the binary (`crate::…`): the integration tests include it
//! to drive [`Dispatcher::tick`] and [`Dispatcher::handle_event`] with their own clock.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use vigie_core::{E164, FacilityId, SenderId, SmsSender, SmsStatus, Timestamp};
use vigie_sms::{
    FailoverProvider, HttpConfig, HttpProvider, LogProvider, SmppConfig, SmppProvider, SmsEvent, SmsMessage,
    SmsProvider, SubmitError, event_channel, mask_phone,
};
use vigie_store::{DueSms, Store, StoreError, SubmitResult};

/// How one provider is reached.
#[derive(Debug, Clone)]
pub(crate) enum ProviderKind {
    /// Logs each SMS (the number masked) and reports it delivered after `delay`.
    Log {
        /// When the receipt comes.
        delay: Duration,
    },
    /// An SMPP 3.4 SMSC.
    Smpp(SmppConfig),
    /// A JSON HTTP gateway.
    Http(HttpConfig),
}

/// One configured provider.
#[derive(Debug, Clone)]
pub(crate) struct ProviderSpec {
    /// Its name (in receipts and the `sms_messages` of the store).
    pub(crate) name: String,
    /// How it is reached.
    pub(crate) kind: ProviderKind,
    /// The provider that takes over when this one is down or certainly did not send.
    pub(crate) failover: Option<String>,
}

/// Which provider sends which facility's SMS, and the dispatcher's pace and bounds.
#[derive(Debug, Clone)]
pub(crate) struct DispatchConfig {
    /// Every provider, by name; started once each.
    pub(crate) providers: Vec<ProviderSpec>,
    /// The provider of facilities without their own; `None`: the first listed.
    pub(crate) default_provider: Option<String>,
    /// The facilities with their own provider.
    pub(crate) facility_providers: HashMap<FacilityId, String>,
    /// How often due SMS are looked for.
    pub(crate) interval: Duration,
    /// Most SMS claimed (and submitted together) per tick.
    pub(crate) batch_max: u32,
    /// Most receipts and replies waiting to be recorded; a full channel makes the
    /// providers wait (an SMSC then waits for its `deliver_sm_resp`).
    pub(crate) events_max: usize,
}

/// Most attempts at recording a provider's answer or event in the store.
const RECORD_ATTEMPTS_MAX: u32 = 3;

/// What one tick did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TickReport {
    /// SMS claimed.
    pub(crate) claimed: usize,
    /// Accepted by their provider.
    pub(crate) submitted: usize,
    /// Not sent, given back to the queue for a later tick.
    pub(crate) retried: usize,
    /// Refused for good.
    pub(crate) rejected: usize,
    /// Perhaps sent: never resubmitted.
    pub(crate) uncertain: usize,
}

/// The dispatcher: the providers, and the store they report to.
pub(crate) struct Dispatcher {
    store: Store,
    /// This process's name in the store's claims.
    worker: String,
    batch_max: u32,
    interval: Duration,
    default: Arc<dyn SmsProvider>,
    by_facility: HashMap<FacilityId, Arc<dyn SmsProvider>>,
    /// The SMPP sessions, to wait for their bind and to unbind at the end.
    smpp: Vec<Arc<SmppProvider>>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("worker", &self.worker)
            .field("default", &self.default.name())
            .field("facilities", &self.by_facility.len())
            .finish_non_exhaustive()
    }
}

/// A running dispatcher: its loop and event task, stopped by [`Running::stop`].
pub(crate) struct Running {
    dispatcher: Arc<Dispatcher>,
    stop: watch::Sender<bool>,
    ticks: JoinHandle<()>,
    events: JoinHandle<()>,
}

impl Dispatcher {
    /// Starts every provider (SMPP sessions connect in the background) and returns the
    /// dispatcher with the receiving end of the providers' events. Needs a tokio runtime.
    pub(crate) fn start(
        store: Store,
        config: &DispatchConfig,
    ) -> anyhow::Result<(Dispatcher, mpsc::Receiver<SmsEvent>)> {
        let (events_tx, events) = event_channel(config.events_max);
        let mut base: HashMap<&str, Arc<dyn SmsProvider>> = HashMap::new();
        let mut smpp = Vec::new();
        for spec in &config.providers {
            let provider: Arc<dyn SmsProvider> = match &spec.kind {
                ProviderKind::Log { delay } => {
                    Arc::new(LogProvider::start(&spec.name, *delay, config.events_max, events_tx.clone()))
                }
                ProviderKind::Smpp(c) => {
                    let p = Arc::new(
                        SmppProvider::start(c.clone(), events_tx.clone())
                            .with_context(|| format!("SMS provider {}", spec.name))?,
                    );
                    smpp.push(Arc::clone(&p));
                    p
                }
                ProviderKind::Http(c) => {
                    Arc::new(HttpProvider::new(c.clone()).with_context(|| format!("SMS provider {}", spec.name))?)
                }
            };
            if base.insert(spec.name.as_str(), provider).is_some() {
                bail!("two SMS providers are named {}", spec.name);
            }
        }
        // A provider with a failover is the same pair for every facility that uses it.
        let mut routed: HashMap<&str, Arc<dyn SmsProvider>> = HashMap::new();
        for spec in &config.providers {
            let primary = Arc::clone(&base[spec.name.as_str()]);
            let provider: Arc<dyn SmsProvider> = match &spec.failover {
                None => primary,
                Some(other) => {
                    let Some(secondary) = base.get(other.as_str()) else {
                        bail!("SMS provider {}: failover names no provider: {other}", spec.name);
                    };
                    Arc::new(FailoverProvider::new(primary, Arc::clone(secondary)))
                }
            };
            routed.insert(spec.name.as_str(), provider);
        }
        let route = |name: &str| routed.get(name).cloned().with_context(|| format!("no SMS provider is named {name}"));
        let default_name = match (&config.default_provider, config.providers.first()) {
            (Some(name), _) => name.as_str(),
            (None, Some(first)) => first.name.as_str(),
            (None, None) => bail!("no SMS provider is configured"),
        };
        let default = route(default_name)?;
        let mut by_facility = HashMap::new();
        for (facility, name) in &config.facility_providers {
            by_facility.insert(facility.clone(), route(name)?);
        }
        let dispatcher = Dispatcher {
            store,
            worker: format!("sms-{}-{:08x}", std::process::id(), rand::random::<u32>()),
            batch_max: config.batch_max.max(1),
            interval: config.interval.max(Duration::from_millis(10)),
            default,
            by_facility,
            smpp,
        };
        Ok((dispatcher, events))
    }

    /// The provider of a facility's SMS.
    fn provider_for(&self, facility: &FacilityId) -> &Arc<dyn SmsProvider> {
        self.by_facility.get(facility).unwrap_or(&self.default)
    }

    /// Waits until every SMPP provider is bound, at most `timeout` each; the names of
    /// those that are not.
    pub(crate) async fn wait_bound(&self, timeout: Duration) -> Vec<String> {
        let mut unbound = Vec::new();
        for p in &self.smpp {
            if !p.wait_bound(true, timeout).await {
                unbound.push(p.name().to_owned());
            }
        }
        unbound
    }

    /// One round: claims the SMS due at `now` (at most the batch), submits them all at
    /// once (each provider keeps its own window and rate), and records every answer.
    pub(crate) async fn tick(&self, now: Timestamp) -> Result<TickReport, StoreError> {
        let due = self.store.claim_due_sms(&self.worker, now, self.batch_max).await?;
        let mut report = TickReport { claimed: due.len(), ..TickReport::default() };
        let results = futures_util::future::join_all(due.iter().map(|sms| self.submit(sms))).await;
        for result in results {
            match result {
                SubmitResult::Accepted { .. } => report.submitted += 1,
                SubmitResult::NotSent(_) => report.retried += 1,
                SubmitResult::Rejected(_) => report.rejected += 1,
                SubmitResult::Uncertain { .. } => report.uncertain += 1,
            }
        }
        Ok(report)
    }

    /// Submits one claimed SMS and records the answer; returns it.
    async fn submit(&self, sms: &DueSms) -> SubmitResult {
        let provider = self.provider_for(&sms.facility);
        let result = match sender(&sms.sender) {
            Err(reason) => SubmitResult::Rejected(reason),
            Ok(sender) => {
                let message = SmsMessage {
                    reference: format!("vigie-sms-{}", sms.id),
                    to: sms.to.clone(),
                    sender,
                    text: sms.text.clone(),
                    expires_at: Some(sms.expires_at),
                };
                submit_result(provider.submit(&message).await)
            }
        };
        let to = mask_phone(&sms.to);
        match &result {
            SubmitResult::Accepted { provider, message_ids } => {
                tracing::info!(sms_id = sms.id, call_id = sms.call_id, %provider, to = %to, message_id = %message_ids.first().map_or("", String::as_str), segments = message_ids.len(), "SMS submitted");
            }
            SubmitResult::NotSent(error) => {
                tracing::warn!(sms_id = sms.id, call_id = sms.call_id, provider = %provider.name(), to = %to, %error, "SMS not sent; tried again at the next tick");
            }
            SubmitResult::Rejected(error) => {
                tracing::warn!(sms_id = sms.id, call_id = sms.call_id, provider = %provider.name(), to = %to, %error, "SMS rejected");
            }
            SubmitResult::Uncertain { provider, error, .. } => {
                tracing::warn!(sms_id = sms.id, call_id = sms.call_id, %provider, to = %to, %error, "SMS perhaps sent; not sent again");
            }
        }
        let recorded = retry("recording an SMS submission", || {
            self.store.record_sms_submission(sms.id, &result, self.store.now())
        })
        .await;
        if let Err(e) = recorded {
            // The claim stays: after the claim timeout the SMS ends as failed (its
            // outcome unknown), never resent.
            tracing::error!(sms_id = sms.id, error = %e, "the submission could not be recorded");
        }
        result
    }

    /// Records one provider event: a delivery receipt moves its SMS; a patient's STOP
    /// records an opt-out. A receipt for a message the store does not know is logged.
    pub(crate) async fn handle_event(&self, event: SmsEvent) {
        match event {
            SmsEvent::Receipt(r) => {
                if !matches!(r.status, SmsStatus::Delivered | SmsStatus::Failed | SmsStatus::Expired) {
                    tracing::debug!(provider = %r.provider, message_id = %r.message_id, state = %r.state, "intermediate receipt");
                    return;
                }
                let done = retry("recording a delivery receipt", || {
                    self.store.sms_receipt(&r.provider, &r.message_id, r.status, r.error.as_deref(), self.store.now())
                })
                .await;
                match done {
                    Ok(true) => {
                        tracing::info!(provider = %r.provider, message_id = %r.message_id, status = %r.status, state = %r.state, "SMS receipt");
                    }
                    Ok(false) => {
                        tracing::warn!(provider = %r.provider, message_id = %r.message_id, state = %r.state, "receipt for a message this store does not know; ignored");
                    }
                    Err(e) => {
                        tracing::error!(provider = %r.provider, message_id = %r.message_id, error = %e, "the receipt could not be recorded");
                    }
                }
            }
            SmsEvent::Reply(r) => {
                let from = mask_phone(&r.from);
                let done = retry("recording a patient's reply", || self.store.sms_reply(&r.from, &r.text)).await;
                match done {
                    Ok(outcome) if outcome.stop => {
                        tracing::info!(provider = %r.provider, from = %from, new = outcome.recorded, calls_cancelled = outcome.calls_cancelled, "a patient replied STOP: no further SMS");
                    }
                    Ok(_) => {
                        tracing::info!(provider = %r.provider, from = %from, chars = r.text.chars().count(), "a patient replied (not STOP; not kept)");
                    }
                    Err(e) => {
                        tracing::error!(provider = %r.provider, from = %from, error = %e, "the patient's reply could not be recorded");
                    }
                }
            }
        }
    }

    /// Runs the loop (a tick every interval, by the store's clock) and the event task
    /// until [`Running::stop`].
    pub(crate) fn spawn(self, mut events: mpsc::Receiver<SmsEvent>) -> Running {
        let dispatcher = Arc::new(self);
        let (stop, mut stopped) = watch::channel(false);
        let me = Arc::clone(&dispatcher);
        let ticks = tokio::spawn(async move {
            let mut interval = tokio::time::interval(me.interval);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tracing::info!(worker = %me.worker, every_ms = me.interval.as_millis(), "SMS dispatcher started");
            loop {
                // A tick under way is never cut: its SMS are submitted and recorded.
                tokio::select! {
                    _ = interval.tick() => {}
                    _ = stopped.changed() => break,
                }
                match me.tick(me.store.now()).await {
                    Ok(r) if r.claimed > 0 => tracing::debug!(?r, "SMS tick"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "the SMS dispatcher could not claim due SMS"),
                }
            }
        });
        let me = Arc::clone(&dispatcher);
        let events = tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                me.handle_event(event).await;
            }
        });
        Running { dispatcher, stop, ticks, events }
    }
}

impl Running {
    /// The dispatcher.
    pub(crate) fn dispatcher(&self) -> Arc<Dispatcher> {
        Arc::clone(&self.dispatcher)
    }

    /// Stops the loop after its current tick, unbinds the SMPP sessions (receipts
    /// still in flight are read until then), and stops the event task.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.ticks.await;
        for p in &self.dispatcher.smpp {
            p.shutdown().await;
        }
        self.events.abort();
        let _ = self.events.await;
    }
}

/// The sender the store recorded: a number in E.164, or an alphanumeric ID.
fn sender(text: &str) -> Result<SmsSender, String> {
    if text.starts_with('+') {
        E164::parse(text).map(SmsSender::Number).map_err(|e| format!("sender: {e}"))
    } else {
        SenderId::parse(text).map(SmsSender::Alphanumeric).map_err(|e| format!("sender: {e}"))
    }
}

/// The store's record of a provider's answer: an SMS that certainly did not leave may
/// be tried again; one that perhaps left never is.
fn submit_result(answer: Result<vigie_sms::Submission, SubmitError>) -> SubmitResult {
    match answer {
        Ok(s) => SubmitResult::Accepted { provider: s.provider, message_ids: s.message_ids },
        Err(SubmitError::NotSent { provider, reason }) => SubmitResult::NotSent(format!("{provider}: {reason}")),
        Err(SubmitError::Rejected { provider, reason }) => SubmitResult::Rejected(format!("{provider}: {reason}")),
        Err(SubmitError::Uncertain { provider, reason, accepted_ids }) => {
            SubmitResult::Uncertain { provider, message_ids: accepted_ids, error: reason }
        }
    }
}

/// Runs a store call up to [`RECORD_ATTEMPTS_MAX`] times, waiting a little longer
/// after each failure (a database restarting, a lock timeout).
async fn retry<T, F, Fut>(what: &str, mut call: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) if attempt < RECORD_ATTEMPTS_MAX && !matches!(e, StoreError::Closed) => {
                tracing::warn!(error = %e, attempt, "{what} failed; trying again");
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}
