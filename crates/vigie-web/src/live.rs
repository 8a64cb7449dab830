//! The live feed: number state changes and new alerts pushed to open pages as
//! server-sent events. One poller per process reads the store after a cursor every
//! [`crate::LIVE_POLL`] and hands what it finds to every open page through a bounded
//! broadcast channel. Reading the store, rather than listening inside the process, is
//! what lets several server processes on one PostgreSQL each show every change,
//! whichever process made it.

use std::convert::Infallible;
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde_json::json;
use tokio::sync::{Semaphore, broadcast, watch};
use vigie_store::{LiveChange, LiveCursor, Store};

use crate::Dashboard;
use crate::access::Permission;
use crate::error::WebError;
use crate::layout::{Lang, state_label};
use crate::session::Viewer;

/// Changes held for a slow page before it is told to reload.
const CHANNEL_CAPACITY: usize = 256;
/// Most rows of each kind one poll reads.
const POLL_ROWS_MAX: u32 = 200;
/// Most pages following the feed at once, per process; more get a 503 (and their
/// script tries again).
const STREAMS_MAX: usize = 512;

/// The process's feed.
pub(crate) struct Live {
    changes: broadcast::Sender<LiveChange>,
    /// Whether the poller has its cursor: from then on, every change committed is
    /// read by a later poll.
    started: watch::Receiver<bool>,
    /// One permit per open page.
    streams: Arc<Semaphore>,
}

impl Live {
    /// Starts the poller; it stops once the returned feed is dropped.
    pub(crate) fn start(store: Store, every: Duration) -> Arc<Live> {
        let (changes, _) = broadcast::channel(CHANNEL_CAPACITY);
        let (started_tx, started) = watch::channel(false);
        let live = Arc::new(Live { changes, started, streams: Arc::new(Semaphore::new(STREAMS_MAX)) });
        tokio::spawn(poll(store, Arc::downgrade(&live), every, started_tx));
        live
    }
}

async fn poll(store: Store, live: Weak<Live>, every: Duration, started: watch::Sender<bool>) {
    let mut cursor: Option<LiveCursor> = None;
    loop {
        if live.strong_count() == 0 {
            return;
        }
        let Some(after) = cursor else {
            match store.live_cursor().await {
                Ok(c) => {
                    cursor = Some(c);
                    let _ = started.send(true);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "live feed: reading the cursor failed");
                    tokio::time::sleep(every).await;
                }
            }
            continue;
        };
        tokio::time::sleep(every).await;
        let Some(live) = live.upgrade() else { return };
        match store.live_changes(after, POLL_ROWS_MAX).await {
            Ok((changes, next)) => {
                cursor = Some(next);
                for change in changes {
                    // No page open: nobody to tell.
                    let _ = live.changes.send(change);
                }
            }
            Err(e) => tracing::warn!(error = %e, "live feed: reading the changes failed"),
        }
    }
}

/// One change as an event for a page in `lang`.
fn event(lang: &Lang, change: &LiveChange) -> Event {
    match change {
        LiveChange::State { number, state, pool, at, reason, reason_fr } => Event::default().event("state").data(
            json!({
                "number": number.as_str(),
                "state": state,
                "label": state_label(lang, state),
                "pool": pool,
                "at": lang.when(*at),
                "reason": lang.pick(reason_fr, reason),
            })
            .to_string(),
        ),
        LiveChange::Alert { id, signal, severity, number, evidence, evidence_fr } => {
            Event::default().event("alert").data(
                json!({
                    "id": id,
                    "signal": signal,
                    "severity": severity,
                    "number": number.as_ref().map(|n| n.as_str()),
                    "evidence": lang.pick(evidence_fr, evidence),
                    "title": lang.t("Nouvelle alerte", "New alert"),
                })
                .to_string(),
            )
        }
    }
}

/// `GET /live`: the feed for a signed-in page. It opens with a `ready` event, sent
/// once the page is subscribed: every change committed after it reaches the page.
pub(crate) async fn stream(
    State(d): State<Dashboard>,
    v: Viewer,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, WebError> {
    v.require(Permission::ViewOverview)?;
    // Subscribed once the poller has its cursor, so that `ready` promises every change
    // committed after it.
    let mut started = d.live.started.clone();
    if started.wait_for(|s| *s).await.is_err() {
        return Err(WebError::NotFound("live feed"));
    }
    let permit = Arc::clone(&d.live.streams).try_acquire_owned().map_err(|_| WebError::Busy)?;
    let rx = d.live.changes.subscribe();
    let lang = v.lang;
    let first = Event::default().event("ready").data("{}");
    // The permit lives in the stream's state: it is given back when the page goes.
    let state = (rx, lang, Some(first), permit);
    let events = futures_util::stream::unfold(state, |(mut rx, lang, first, permit)| async move {
        if let Some(first) = first {
            return Some((Ok(first), (rx, lang, None, permit)));
        }
        let next = match rx.recv().await {
            Ok(change) => event(&lang, &change),
            // Too slow: changes were dropped, the page reloads to catch up.
            Err(broadcast::error::RecvError::Lagged(_)) => Event::default().event("reload").data("{}"),
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok(next), (rx, lang, None, permit)))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
