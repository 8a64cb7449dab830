//! Incidents: opened by the writer in the transaction that quarantines a number, with
//! the alert that says so and the crisis playbook's steps and their deadlines; then the
//! steps as people do them, and the close (back to service after the cool-down and a
//! clean check, or retired with its replacement cost).

use sqlx::{AnyConnection, Row};
use vigie_core::{E164, NumberId, Playbook, PlaybookStep, PoolCode, SignedDuration, Timestamp};

use crate::db::micros;
use crate::error::StoreError;

/// What quarantined a number: the signal, when the trouble was first seen (for the time
/// to detect), and the evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    /// `reports`, `answer_rate_drop`, `external_flag`, `manual`.
    pub signal: String,
    /// The first sign of trouble: the day's first report, the start of the run that
    /// raised the alarm, the external reading.
    pub first_evidence_at: Timestamp,
    /// What was seen, in words.
    pub evidence: String,
}

/// Opens the incident of a number just quarantined, with its playbook steps and its
/// alert, in the writer's transaction. `moved` and `left` are the calls the quarantine
/// moved to other numbers and those left without one: when nothing was left, the
/// reserve step is done at once by the engine (its calls went elsewhere).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn open(
    tx: &mut AnyConnection,
    playbook: &Playbook,
    number: NumberId,
    e164: Option<&E164>,
    pool: &PoolCode,
    trigger: &Trigger,
    now: Timestamp,
    (moved, left): (u32, u32),
) -> Result<i64, StoreError> {
    let id: i64 = sqlx::query(
        "INSERT INTO incidents (number_id, pool, trigger_signal, reason, opened_at, first_evidence_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(number.0)
    .bind(pool.as_str())
    .bind(trigger.signal.as_str())
    .bind(trigger.evidence.as_str())
    .bind(micros(now))
    .bind(micros(trigger.first_evidence_at.min(now)))
    .fetch_one(&mut *tx)
    .await?
    .get(0);
    for step in PlaybookStep::ALL {
        let done = *step == PlaybookStep::ReserveSwapped && left == 0;
        sqlx::query(
            "INSERT INTO incident_steps (incident_id, step, deadline_at, done_at, done_by, note) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(step.as_str())
        .bind(micros(now + playbook.deadline(*step)))
        .bind(done.then(|| micros(now)))
        .bind(done.then_some("engine"))
        .bind(done.then(|| format!("{moved} pending calls moved to other numbers of pool {pool}; none left without a number")))
        .execute(&mut *tx)
        .await?;
    }
    let target = e164.map_or_else(|| format!("number {}", number.0), ToString::to_string);
    let evidence = format!(
        "{}; {moved} pending calls moved, {left} left without a number; incident {id} opened",
        trigger.evidence
    );
    sqlx::query(
        "INSERT INTO alerts (dedup_key, signal, severity, number_id, pool, evidence, action, raised_at, last_seen_at) \
         VALUES ($1, $2, 'critical', $3, $4, $5, 'quarantined', $6, $7)",
    )
    .bind(format!("quarantine:{target}:{id}"))
    .bind(trigger.signal.as_str())
    .bind(number.0)
    .bind(pool.as_str())
    .bind(evidence)
    .bind(micros(now))
    .bind(micros(now))
    .execute(&mut *tx)
    .await?;
    Ok(id)
}

/// A playbook step as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRecord {
    /// The step's name.
    pub step: String,
    /// When it is due.
    pub deadline_at: Timestamp,
    /// When, by whom, with what note it was done.
    pub done: Option<(Timestamp, String, String)>,
}

/// How an incident ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// The number went back to service after the cool-down and a clean check.
    Returned,
    /// The number was retired; what replacing it cost.
    Retired {
        /// The replacement cost, in euro cents.
        cost_cents: u64,
    },
}

impl Resolution {
    /// `returned` or `retired`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Resolution::Returned => "returned",
            Resolution::Retired { .. } => "retired",
        }
    }
}

/// An incident as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentRecord {
    /// Identity.
    pub id: i64,
    /// The number.
    pub number: E164,
    /// Its pool when it was quarantined.
    pub pool: String,
    /// The signal that quarantined it.
    pub trigger_signal: String,
    /// Why, in words.
    pub reason: String,
    /// When it opened (the quarantine).
    pub opened_at: Timestamp,
    /// The first sign of trouble.
    pub first_evidence_at: Timestamp,
    /// When, by whom, and how it closed.
    pub closed: Option<(Timestamp, String, Resolution)>,
    /// The playbook's steps.
    pub steps: Vec<StepRecord>,
}

impl IncidentRecord {
    /// From the first sign of trouble to the quarantine.
    pub fn time_to_detect(&self) -> SignedDuration {
        self.opened_at.duration_since(self.first_evidence_at)
    }

    /// From the quarantine to the close, once closed.
    pub fn time_to_resolve(&self) -> Option<SignedDuration> {
        self.closed.as_ref().map(|(at, ..)| at.duration_since(self.opened_at))
    }

    /// The steps not done whose deadline has passed at `now`.
    pub fn overdue(&self, now: Timestamp) -> Vec<&StepRecord> {
        self.steps.iter().filter(|s| s.done.is_none() && s.deadline_at < now).collect()
    }

    /// Whether the step is done.
    pub fn step_done(&self, step: &str) -> bool {
        self.steps.iter().any(|s| s.step == step && s.done.is_some())
    }
}

const INCIDENT_COLUMNS: &str = "SELECT i.id, n.e164, i.pool, i.trigger_signal, i.reason, i.opened_at, i.first_evidence_at, \
     i.closed_at, i.closed_by, i.resolution, i.replacement_cost_cents FROM incidents i JOIN numbers n ON n.id = i.number_id";

/// Reads incidents (with their steps) for the rows `sql` selects with `binds`.
async fn read_incidents(
    conn: &mut AnyConnection,
    sql: String,
    bind: Option<i64>,
) -> Result<Vec<IncidentRecord>, StoreError> {
    use crate::db::instant;
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    if let Some(v) = bind {
        q = q.bind(v);
    }
    let rows = q.fetch_all(&mut *conn).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let id: i64 = r.get(0);
        let closed = match r.get::<Option<i64>, _>(7) {
            None => None,
            Some(at) => {
                let resolution = match r.get::<Option<String>, _>(9).as_deref() {
                    Some("retired") => Resolution::Retired {
                        cost_cents: u64::try_from(r.get::<Option<i64>, _>(10).unwrap_or_default()).unwrap_or_default(),
                    },
                    _ => Resolution::Returned,
                };
                Some((instant(at)?, r.get::<Option<String>, _>(8).unwrap_or_default(), resolution))
            }
        };
        let steps = sqlx::query(
            "SELECT step, deadline_at, done_at, done_by, note FROM incident_steps WHERE incident_id = $1 ORDER BY deadline_at, step",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|s| {
            Ok(StepRecord {
                step: s.get(0),
                deadline_at: instant(s.get(1))?,
                done: match s.get::<Option<i64>, _>(2) {
                    Some(at) => Some((
                        instant(at)?,
                        s.get::<Option<String>, _>(3).unwrap_or_default(),
                        s.get::<Option<String>, _>(4).unwrap_or_default(),
                    )),
                    None => None,
                },
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
        out.push(IncidentRecord {
            id,
            number: E164::parse(&r.get::<String, _>(1)).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            pool: r.get(2),
            trigger_signal: r.get(3),
            reason: r.get(4),
            opened_at: instant(r.get(5))?,
            first_evidence_at: instant(r.get(6))?,
            closed,
            steps,
        });
    }
    Ok(out)
}

impl crate::Store {
    /// Incidents, newest first: all, or only the open ones.
    pub async fn incidents(&self, open_only: bool, limit: u32) -> Result<Vec<IncidentRecord>, StoreError> {
        let filter = if open_only { " WHERE i.closed_at IS NULL" } else { "" };
        let sql = format!("{INCIDENT_COLUMNS}{filter} ORDER BY i.opened_at DESC, i.id DESC LIMIT $1");
        let mut conn = self.shared.pool.acquire().await?;
        read_incidents(&mut conn, sql, Some(i64::from(limit))).await
    }

    /// One incident.
    pub async fn incident(&self, id: i64) -> Result<Option<IncidentRecord>, StoreError> {
        let sql = format!("{INCIDENT_COLUMNS} WHERE i.id = $1");
        let mut conn = self.shared.pool.acquire().await?;
        Ok(read_incidents(&mut conn, sql, Some(id)).await?.pop())
    }

    /// Records that `by` did a playbook step of an open incident.
    pub async fn complete_incident_step(
        &self,
        id: i64,
        step: &str,
        by: &str,
        note: &str,
    ) -> Result<IncidentRecord, StoreError> {
        let backend = self.shared.backend;
        let now = self.now();
        let incident =
            self.incident(id).await?.ok_or(StoreError::NotFound { what: "incident", field: "incident_id" })?;
        if incident.closed.is_some() {
            return Err(StoreError::Conflict { field: "incident_id", message: "the incident is closed".into() });
        }
        let step = PlaybookStep::parse(step)?.as_str();
        let mut conn = self.shared.pool.acquire().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *conn, backend.begin_write()).await?;
        let n = sqlx::query(
            "UPDATE incident_steps SET done_at = $1, done_by = $2, note = $3 WHERE incident_id = $4 AND step = $5 AND done_at IS NULL",
        )
        .bind(micros(now))
        .bind(by)
        .bind(note)
        .bind(id)
        .bind(step)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::Conflict { field: "step", message: format!("the step {step} is already done") });
        }
        let entry = crate::audit::Entry::new(
            now,
            by,
            "incident.step",
            format!("incident:{id}"),
            format!("step={step} note={note}"),
        );
        crate::audit::append(&mut tx, backend, &[entry]).await?;
        tx.commit().await?;
        self.incident(id).await?.ok_or(StoreError::NotFound { what: "incident", field: "incident_id" })
    }
}
