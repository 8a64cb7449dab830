//! The daily retention purge of `vigie serve`: `try_step(now)` purges at most once per
//! local day of the centre's calendar, from `run_at_hour` on, and `run` is the thin loop
//! that calls it. Tests call the step with the time they choose.

use std::future::Future;
use std::time::Duration;

use vigie_core::{Date, SignedDuration, Timestamp};
use vigie_store::{PurgeReport, Retention, Store, StoreError};

/// Applies the retention periods once a day.
#[derive(Debug)]
pub struct RetentionWorker {
    store: Store,
    retention: Retention,
    run_at_hour: u8,
    last_day: Option<Date>,
}

impl RetentionWorker {
    /// A worker that purges by `retention` each local day from `run_at_hour` (0 to 23)
    /// on.
    pub fn new(store: Store, retention: Retention, run_at_hour: u8) -> RetentionWorker {
        RetentionWorker { store, retention, run_at_hour: run_at_hour.min(23), last_day: None }
    }

    /// Purges if today's purge is due at `now` and has not run yet; returns what it
    /// removed, or `None` when nothing was due. A failed purge is tried again at the next
    /// step.
    pub async fn try_step(&mut self, now: Timestamp) -> Result<Option<PurgeReport>, StoreError> {
        let calendar = self.store.calendar();
        let today = calendar.day_of(now);
        let due = calendar.start_of(today) + SignedDuration::from_hours(i64::from(self.run_at_hour));
        if self.last_day == Some(today) || now < due {
            return Ok(None);
        }
        let report = self.store.purge(&self.retention, now, false, "retention").await?;
        self.last_day = Some(today);
        Ok(Some(report))
    }

    /// Calls `try_step` every `period` by the store's clock until `shutdown` resolves,
    /// logging what each purge removed.
    pub async fn run(mut self, period: Duration, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(period) => {}
            }
            match self.try_step(self.store.now()).await {
                Ok(Some(r)) => tracing::info!(
                    calls = r.calls,
                    reports = r.reports,
                    consents = r.consents,
                    oppositions = r.oppositions,
                    audit = r.audit,
                    "retention purge"
                ),
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "retention purge failed; it is tried again at the next step"),
            }
        }
    }
}
