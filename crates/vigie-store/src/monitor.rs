//! What reputation monitoring reads and writes: the feed of call outcomes (each with
//! every signal the dialer reported) that the detectors consume, resumable by a cursor;
//! the answer history baselines are built from; external sources' readings; numbers'
//! scores over time; and alerts, deduplicated and rate-limited inside a transaction so
//! that several server processes agree.

use sqlx::{AssertSqlSafe, Connection, Row};
use vigie_core::{
    Alert, AlertGate, AlertPolicy, CallSignal, Decision, E164, Language, NumberId, NumberStatus, Outcome, PoolCode,
    Purpose, SentAlert, Severity, SignedDuration, SipCode, Timestamp,
};

use crate::audit::{self, Entry};
use crate::db::{instant, micros};
use crate::error::StoreError;
use crate::model::SHOWN_AS_SPAM;
use crate::{Backend, Store};

/// Where the monitor is in the feed of outcomes: the last one it read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct OutcomeCursor {
    /// When that outcome was recorded.
    pub at: Timestamp,
    /// Its call.
    pub call_id: i64,
}

/// One call outcome, as monitoring reads it.
#[derive(Debug, Clone)]
pub struct OutcomeSignal {
    /// Its place in the feed.
    pub cursor: OutcomeCursor,
    /// The number that presented the call.
    pub number: NumberId,
    /// Its E.164 form.
    pub e164: E164,
    /// The number's state now.
    pub status: NumberStatus,
    /// The call's pool.
    pub pool: PoolCode,
    /// Its purpose.
    pub purpose: Purpose,
    /// Every signal the outcome carries.
    pub signal: CallSignal,
}

/// A cell of answer history: one number's calls of one purpose in one UTC hour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryCell {
    /// The pool.
    pub pool: PoolCode,
    /// The number.
    pub number: NumberId,
    /// The purpose.
    pub purpose: Purpose,
    /// The start of the UTC hour the calls were dialled in.
    pub hour: Timestamp,
    /// Calls with an outcome.
    pub calls: u64,
    /// Of which answered.
    pub answered: u64,
}

/// What an external source said about a number.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceReading {
    /// The source's configured name.
    pub source: String,
    /// `community_db`, `verification_tool` or `app_label`.
    pub kind: String,
    /// The number.
    pub number: E164,
    /// When it was read.
    pub at: Timestamp,
    /// Its score, 0 (spam) to 100 (trusted), when it gives one.
    pub score: Option<f64>,
    /// Whether it lists or flags the number.
    pub flagged: bool,
    /// Its label ("Spam", "Démarchage"), if any.
    pub label: Option<String>,
    /// A short excerpt of its answer, as evidence.
    pub excerpt: String,
}

/// A number's score at a moment, with its reasons as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScorePoint {
    /// When.
    pub at: Timestamp,
    /// 0 to 100.
    pub score: u32,
    /// Its reasons, one per line (`code weight detail`).
    pub reasons: String,
}

/// What raising an alert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Raised {
    /// A new alert, to notify.
    New(i64),
    /// A repeat of an open alert, counted on it.
    Repeat(i64),
    /// A new alert kept but not notified: the hour's notifications are used up.
    RateLimited(i64),
}

/// An alert as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRecord {
    /// Identity.
    pub id: i64,
    /// Its dedup key.
    pub dedup_key: String,
    /// The signal.
    pub signal: String,
    /// Its severity.
    pub severity: String,
    /// The number.
    pub number: Option<E164>,
    /// The pool.
    pub pool: Option<String>,
    /// What was seen (English).
    pub evidence: String,
    /// What was seen, in French (the English words for alerts raised before French
    /// was kept).
    pub evidence_fr: String,
    /// What was done.
    pub action: String,
    /// When it was first raised.
    pub raised_at: Timestamp,
    /// Repeats counted on it since.
    pub repeats: u64,
    /// When it was last seen.
    pub last_seen_at: Timestamp,
    /// Why it was not notified (`rate_limited`), if so.
    pub suppressed: Option<String>,
    /// When a channel took it.
    pub notified_at: Option<Timestamp>,
    /// The last notification error, if any.
    pub notify_error: Option<String>,
    /// When and by whom it was acknowledged.
    pub acknowledged: Option<(Timestamp, String)>,
}

const ALERT_COLUMNS: &str = "SELECT a.id, a.dedup_key, a.signal, a.severity, n.e164, a.pool, a.evidence, a.action, a.raised_at, \
     a.repeats, a.last_seen_at, a.suppressed, a.notified_at, a.notify_error, a.acknowledged_at, a.acknowledged_by, \
     COALESCE(a.evidence_fr, a.evidence) FROM alerts a LEFT JOIN numbers n ON n.id = a.number_id";

fn alert_row(r: &sqlx::any::AnyRow) -> Result<AlertRecord, StoreError> {
    let corrupt = |e: String| StoreError::Corrupt(e);
    Ok(AlertRecord {
        id: r.get(0),
        dedup_key: r.get(1),
        signal: r.get(2),
        severity: r.get(3),
        number: r
            .get::<Option<String>, _>(4)
            .map(|n| E164::parse(&n))
            .transpose()
            .map_err(|e| corrupt(e.to_string()))?,
        pool: r.get(5),
        evidence: r.get(6),
        evidence_fr: r.get(16),
        action: r.get(7),
        raised_at: instant(r.get(8))?,
        repeats: u64::try_from(r.get::<i64, _>(9)).unwrap_or_default(),
        last_seen_at: instant(r.get(10))?,
        suppressed: r.get(11),
        notified_at: r.get::<Option<i64>, _>(12).map(instant).transpose()?,
        notify_error: r.get(13),
        acknowledged: match r.get::<Option<i64>, _>(14) {
            Some(at) => Some((instant(at)?, r.get::<Option<String>, _>(15).unwrap_or_default())),
            None => None,
        },
    })
}

/// The signals of a stored outcome.
#[allow(clippy::too_many_arguments)]
fn signal_of(
    outcome: &str,
    ended_at: Option<i64>,
    recorded_at: Timestamp,
    ring_s: Option<i64>,
    sip_code: Option<i64>,
    duration_s: Option<i64>,
    agent_note: Option<&str>,
) -> Result<CallSignal, StoreError> {
    let outcome = Outcome::parse(outcome).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let at = ended_at.map(instant).transpose()?.unwrap_or(recorded_at);
    let answered = outcome == Outcome::Answered;
    Ok(CallSignal {
        at,
        outcome,
        ring_ms: ring_s.and_then(|s| u32::try_from(s.saturating_mul(1000)).ok()),
        sip_code: sip_code.and_then(|c| u16::try_from(c).ok()).and_then(|c| SipCode::new(c).ok()),
        duration_secs: if answered { duration_s.and_then(|d| u32::try_from(d).ok()) } else { None },
        // Only a note says anything: a missing one is not read as "not shown as spam".
        shown_as_spam: agent_note.map(|n| n == SHOWN_AS_SPAM),
    })
}

impl Store {
    /// Up to `limit` call outcomes recorded after `after`, in the order they were
    /// recorded. An outcome posted again for a call comes again.
    pub async fn outcome_signals(&self, after: OutcomeCursor, limit: u32) -> Result<Vec<OutcomeSignal>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.id, c.outcome_at, c.number_id, n.e164, n.status, c.pool, c.purpose, c.outcome, c.ended_at, \
             c.ring_s, c.sip_code, c.duration_s, c.agent_note FROM calls c JOIN numbers n ON n.id = c.number_id \
             WHERE c.outcome_at IS NOT NULL AND (c.outcome_at > $1 OR (c.outcome_at = $2 AND c.id > $3)) \
             ORDER BY c.outcome_at, c.id LIMIT $4",
        )
        .bind(micros(after.at))
        .bind(micros(after.at))
        .bind(after.call_id)
        .bind(i64::from(limit))
        .fetch_all(&self.shared.pool)
        .await?;
        let corrupt = |e: String| StoreError::Corrupt(e);
        rows.iter()
            .map(|r| {
                let recorded_at = instant(r.get(1))?;
                Ok(OutcomeSignal {
                    cursor: OutcomeCursor { at: recorded_at, call_id: r.get(0) },
                    number: NumberId(r.get(2)),
                    e164: E164::parse(&r.get::<String, _>(3)).map_err(|e| corrupt(e.to_string()))?,
                    status: NumberStatus::parse(&r.get::<String, _>(4))
                        .ok_or_else(|| corrupt("unknown number status".into()))?,
                    pool: PoolCode::parse(&r.get::<String, _>(5)).map_err(|e| corrupt(e.to_string()))?,
                    purpose: Purpose::parse(&r.get::<String, _>(6)).map_err(|e| corrupt(e.to_string()))?,
                    signal: signal_of(
                        &r.get::<String, _>(7),
                        r.get(8),
                        recorded_at,
                        r.get(9),
                        r.get(10),
                        r.get(11),
                        r.get::<Option<String>, _>(12).as_deref(),
                    )?,
                })
            })
            .collect()
    }

    /// Where the monitor stopped reading outcomes, if it ever read any.
    pub async fn monitor_cursor(&self) -> Result<Option<OutcomeCursor>, StoreError> {
        let row = sqlx::query("SELECT outcome_at, call_id FROM monitor_cursor WHERE id = 1")
            .fetch_optional(&self.shared.pool)
            .await?;
        row.map(|r| Ok(OutcomeCursor { at: instant(r.get(0))?, call_id: r.get(1) })).transpose()
    }

    /// Records where the monitor stopped reading outcomes.
    pub async fn save_monitor_cursor(&self, cursor: OutcomeCursor) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO monitor_cursor (id, outcome_at, call_id) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO UPDATE SET outcome_at = excluded.outcome_at, call_id = excluded.call_id",
        )
        .bind(micros(cursor.at))
        .bind(cursor.call_id)
        .execute(&self.shared.pool)
        .await?;
        Ok(())
    }

    /// The answer history of every number since `since`, by pool, number, purpose and
    /// UTC hour of `dial_at` (the caller turns hours into local hours).
    pub async fn answer_history(&self, since: Timestamp) -> Result<Vec<HistoryCell>, StoreError> {
        const HOUR: i64 = 3_600_000_000;
        let sql = format!(
            "SELECT pool, number_id, purpose, dial_at / {HOUR} AS h, COUNT(*), \
             SUM(CASE WHEN outcome = 'answered' THEN 1 ELSE 0 END) FROM calls \
             WHERE outcome IS NOT NULL AND number_id IS NOT NULL AND dial_at >= $1 \
             GROUP BY pool, number_id, purpose, dial_at / {HOUR}"
        );
        let rows = sqlx::query(AssertSqlSafe(sql)).bind(micros(since)).fetch_all(&self.shared.pool).await?;
        let corrupt = |e: String| StoreError::Corrupt(e);
        rows.iter()
            .map(|r| {
                Ok(HistoryCell {
                    pool: PoolCode::parse(&r.get::<String, _>(0)).map_err(|e| corrupt(e.to_string()))?,
                    number: NumberId(r.get(1)),
                    purpose: Purpose::parse(&r.get::<String, _>(2)).map_err(|e| corrupt(e.to_string()))?,
                    hour: instant(r.get::<i64, _>(3) * HOUR)?,
                    calls: u64::try_from(r.get::<i64, _>(4)).unwrap_or_default(),
                    answered: u64::try_from(r.get::<Option<i64>, _>(5).unwrap_or_default()).unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Records what an external source said about a number (unknown numbers are
    /// refused as not found).
    pub async fn record_source_reading(&self, reading: &SourceReading) -> Result<(), StoreError> {
        let n = sqlx::query(
            "INSERT INTO source_readings (source, kind, number_id, at, score, flagged, label, excerpt) \
             SELECT $1, $2, id, $3, $4, $5, $6, $7 FROM numbers WHERE e164 = $8",
        )
        .bind(reading.source.as_str())
        .bind(reading.kind.as_str())
        .bind(micros(reading.at))
        .bind(reading.score)
        .bind(i64::from(reading.flagged))
        .bind(reading.label.as_deref())
        .bind(reading.excerpt.as_str())
        .bind(reading.number.as_str())
        .execute(&self.shared.pool)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound { what: "number", field: "number" });
        }
        Ok(())
    }

    /// The latest reading of each source about a number.
    pub async fn latest_readings(&self, number: &E164) -> Result<Vec<SourceReading>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.source, r.kind, r.at, r.score, r.flagged, r.label, r.excerpt FROM source_readings r \
             JOIN numbers n ON n.id = r.number_id WHERE n.e164 = $1 AND r.id IN \
             (SELECT MAX(r2.id) FROM source_readings r2 WHERE r2.number_id = n.id GROUP BY r2.source) ORDER BY r.source",
        )
        .bind(number.as_str())
        .fetch_all(&self.shared.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SourceReading {
                    source: r.get(0),
                    kind: r.get(1),
                    number: number.clone(),
                    at: instant(r.get(2))?,
                    score: r.get(3),
                    flagged: r.get::<i64, _>(4) != 0,
                    label: r.get(5),
                    excerpt: r.get(6),
                })
            })
            .collect()
    }

    /// Records a number's score.
    pub async fn record_score(&self, number: NumberId, point: &ScorePoint) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO reputation (number_id, at, score, reasons) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(number.0)
        .bind(micros(point.at))
        .bind(i64::from(point.score))
        .bind(point.reasons.as_str())
        .execute(&self.shared.pool)
        .await?;
        Ok(())
    }

    /// A number's scores since `since`, oldest first.
    pub async fn score_history(&self, number: &E164, since: Timestamp) -> Result<Vec<ScorePoint>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.at, r.score, r.reasons FROM reputation r JOIN numbers n ON n.id = r.number_id \
             WHERE n.e164 = $1 AND r.at >= $2 ORDER BY r.at",
        )
        .bind(number.as_str())
        .bind(micros(since))
        .fetch_all(&self.shared.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ScorePoint {
                    at: instant(r.get(0))?,
                    score: u32::try_from(r.get::<i64, _>(1)).unwrap_or_default(),
                    reasons: r.get(2),
                })
            })
            .collect()
    }

    /// Raises an alert as vigie-core's `AlertGate` decides, the gate rebuilt inside a
    /// write transaction from the alerts sent recently (not acknowledged), so that
    /// several processes agree: a duplicate is counted on the open alert of its key, a
    /// rate-limited alert is kept but not notified, any other is new.
    pub async fn raise_alert(&self, alert: &Alert, policy: &AlertPolicy) -> Result<Raised, StoreError> {
        let backend = self.shared.backend;
        let key = alert.dedup_key();
        let english = alert.evidence.render(Language::En, &self.shared.calendar);
        let french = alert.evidence.render(Language::Fr, &self.shared.calendar);
        let mut conn = self.shared.pool.acquire().await?;
        let mut tx = conn.begin_with(backend.begin_write()).await?;
        if backend == Backend::Postgres {
            // Serialise alert decisions between processes.
            sqlx::query("SELECT pg_advisory_xact_lock(7201)").execute(&mut *tx).await?;
        }
        let horizon = policy.dedup_window.max(SignedDuration::from_hours(1));
        let history = sqlx::query(
            "SELECT dedup_key, severity, raised_at FROM alerts WHERE raised_at >= $1 AND suppressed IS NULL \
             AND acknowledged_at IS NULL",
        )
        .bind(micros(alert.at - horizon))
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| {
            Ok(SentAlert {
                key: r.get(0),
                severity: Severity::parse(&r.get::<String, _>(1)).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                at: instant(r.get(2))?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
        let gate = AlertGate::rebuild(*policy, history, alert.at)?;
        let limited = match gate.decide(alert, alert.at) {
            Decision::Duplicate { .. } => {
                let open = sqlx::query(
                    "SELECT id FROM alerts WHERE dedup_key = $1 AND acknowledged_at IS NULL ORDER BY raised_at DESC, id DESC LIMIT 1",
                )
                .bind(key.as_str())
                .fetch_one(&mut *tx)
                .await?;
                let id: i64 = open.get(0);
                sqlx::query(
                    "UPDATE alerts SET repeats = repeats + 1, last_seen_at = $1, evidence = $2, evidence_fr = $3 WHERE id = $4",
                )
                .bind(micros(alert.at))
                .bind(english)
                .bind(french)
                .bind(id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                return Ok(Raised::Repeat(id));
            }
            Decision::RateLimited { .. } => true,
            Decision::Send => false,
        };
        let id: i64 = sqlx::query(
            "INSERT INTO alerts (dedup_key, signal, severity, number_id, pool, evidence, evidence_fr, action, raised_at, last_seen_at, suppressed) \
             VALUES ($1, $2, $3, (SELECT id FROM numbers WHERE e164 = $4), $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        )
        .bind(key.as_str())
        .bind(alert.signal.as_str())
        .bind(alert.severity.as_str())
        .bind(alert.number.as_ref().map(E164::as_str))
        .bind(alert.pool.as_ref().map(PoolCode::as_str))
        .bind(english)
        .bind(french)
        .bind(alert.action.as_str())
        .bind(micros(alert.at))
        .bind(micros(alert.at))
        .bind(limited.then_some("rate_limited"))
        .fetch_one(&mut *tx)
        .await?
        .get(0);
        let subject = alert.number.as_ref().map_or_else(
            || format!("pool:{}", alert.pool.as_ref().map_or("-", PoolCode::as_str)),
            |n| format!("number:{n}"),
        );
        let entry = Entry::new(
            alert.at,
            "monitor",
            "alert.raise",
            subject,
            format!("alert={id} signal={} action={} rate_limited={limited}", alert.signal, alert.action),
        );
        audit::append(&mut tx, backend, &[entry]).await?;
        tx.commit().await?;
        Ok(if limited { Raised::RateLimited(id) } else { Raised::New(id) })
    }

    /// Alerts, newest first: all of them, or only those not acknowledged.
    pub async fn alerts(&self, open_only: bool, limit: u32) -> Result<Vec<AlertRecord>, StoreError> {
        let filter = if open_only { " WHERE a.acknowledged_at IS NULL" } else { "" };
        let sql = format!("{ALERT_COLUMNS}{filter} ORDER BY a.raised_at DESC, a.id DESC LIMIT $1");
        let rows = sqlx::query(AssertSqlSafe(sql)).bind(i64::from(limit)).fetch_all(&self.shared.pool).await?;
        rows.iter().map(alert_row).collect()
    }

    /// One alert.
    pub async fn alert(&self, id: i64) -> Result<Option<AlertRecord>, StoreError> {
        let sql = format!("{ALERT_COLUMNS} WHERE a.id = $1");
        let row = sqlx::query(AssertSqlSafe(sql)).bind(id).fetch_optional(&self.shared.pool).await?;
        row.as_ref().map(alert_row).transpose()
    }

    /// Acknowledges an alert; acknowledging it again is a conflict.
    pub async fn acknowledge_alert(&self, id: i64, by: &str, note: &str) -> Result<AlertRecord, StoreError> {
        let backend = self.shared.backend;
        let now = self.now();
        let mut conn = self.shared.pool.acquire().await?;
        let mut tx = conn.begin_with(backend.begin_write()).await?;
        let n = sqlx::query(
            "UPDATE alerts SET acknowledged_at = $1, acknowledged_by = $2 WHERE id = $3 AND acknowledged_at IS NULL",
        )
        .bind(micros(now))
        .bind(by)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            let exists = sqlx::query("SELECT 1 FROM alerts WHERE id = $1").bind(id).fetch_optional(&mut *tx).await?;
            return Err(match exists {
                Some(_) => {
                    StoreError::Conflict { field: "alert_id", message: "the alert is already acknowledged".into() }
                }
                None => StoreError::NotFound { what: "alert", field: "alert_id" },
            });
        }
        let entry = Entry::new(now, by, "alert.acknowledge", format!("alert:{id}"), format!("note={note}"));
        audit::append(&mut tx, backend, &[entry]).await?;
        tx.commit().await?;
        self.alert(id).await?.ok_or(StoreError::NotFound { what: "alert", field: "alert_id" })
    }

    /// Alerts to notify: new, not rate-limited, not yet taken by a channel, tried fewer
    /// than `attempts_max` times; oldest first.
    pub async fn alerts_to_notify(&self, attempts_max: u32, limit: u32) -> Result<Vec<AlertRecord>, StoreError> {
        let sql = format!(
            "{ALERT_COLUMNS} WHERE a.notified_at IS NULL AND a.suppressed IS NULL AND a.notify_attempts < $1 \
             ORDER BY a.raised_at, a.id LIMIT $2"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(i64::from(attempts_max))
            .bind(i64::from(limit))
            .fetch_all(&self.shared.pool)
            .await?;
        rows.iter().map(alert_row).collect()
    }

    /// Records a notification attempt: delivered (`error` is `None`) or not.
    pub async fn record_alert_notification(
        &self,
        id: i64,
        at: Timestamp,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let q = match error {
            None => sqlx::query(
                "UPDATE alerts SET notified_at = $1, notify_attempts = notify_attempts + 1, notify_error = NULL WHERE id = $2",
            )
            .bind(micros(at)),
            Some(e) => {
                sqlx::query("UPDATE alerts SET notify_attempts = notify_attempts + 1, notify_error = $1 WHERE id = $2")
                    .bind(e)
            }
        };
        q.bind(id).execute(&self.shared.pool).await?;
        Ok(())
    }
}

/// What a number's reputation score is worked out from (vigie-core's `ScoreInputs`),
/// as the store reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreMaterial {
    /// The number.
    pub number: NumberId,
    /// Its E.164 form.
    pub e164: E164,
    /// Its pool.
    pub pool: PoolCode,
    /// Its reports of the last 30 days: when, from which source.
    pub reports: Vec<(Timestamp, vigie_core::ReportSource)>,
    /// Its calls with an outcome over the last 7 days, and how many were answered.
    pub calls_7d: (u64, u64),
    /// Its answered calls of the last 7 days with a duration, and those under 10 s.
    pub durations_7d: (u64, u64),
    /// The latest reading of each external source: name, kind, flagged, score (0–100,
    /// 100 trusted).
    pub external: Vec<(String, String, bool, Option<f64>)>,
    /// Its calls on each of its last 30 completed local days, oldest first.
    pub calls_per_day: Vec<u32>,
}

impl Store {
    /// The score material of every number not retired, as of `now`.
    pub async fn score_material(&self, now: Timestamp) -> Result<Vec<ScoreMaterial>, StoreError> {
        use std::collections::HashMap;
        let shared = &self.shared;
        let corrupt = |e: String| StoreError::Corrupt(e);
        let mut out: HashMap<i64, ScoreMaterial> = HashMap::new();
        for r in
            sqlx::query("SELECT id, e164, pool FROM numbers WHERE status <> 'retired'").fetch_all(&shared.pool).await?
        {
            let id: i64 = r.get(0);
            out.insert(
                id,
                ScoreMaterial {
                    number: NumberId(id),
                    e164: E164::parse(&r.get::<String, _>(1)).map_err(|e| corrupt(e.to_string()))?,
                    pool: PoolCode::parse(&r.get::<String, _>(2)).map_err(|e| corrupt(e.to_string()))?,
                    reports: Vec::new(),
                    calls_7d: (0, 0),
                    durations_7d: (0, 0),
                    external: Vec::new(),
                    calls_per_day: Vec::new(),
                },
            );
        }
        let day = SignedDuration::from_hours(24);
        for r in sqlx::query("SELECT number_id, reported_at, source FROM reports WHERE reported_at >= $1")
            .bind(micros(now - day * 30))
            .fetch_all(&shared.pool)
            .await?
        {
            if let Some(m) = out.get_mut(&r.get::<i64, _>(0)) {
                let source =
                    vigie_core::ReportSource::parse(&r.get::<String, _>(2)).map_err(|e| corrupt(e.to_string()))?;
                m.reports.push((instant(r.get(1))?, source));
            }
        }
        for r in sqlx::query(
            "SELECT number_id, COUNT(*), SUM(CASE WHEN outcome = 'answered' THEN 1 ELSE 0 END), \
             SUM(CASE WHEN outcome = 'answered' AND duration_s IS NOT NULL THEN 1 ELSE 0 END), \
             SUM(CASE WHEN outcome = 'answered' AND duration_s < 10 THEN 1 ELSE 0 END) FROM calls \
             WHERE outcome IS NOT NULL AND number_id IS NOT NULL AND dial_at >= $1 GROUP BY number_id",
        )
        .bind(micros(now - day * 7))
        .fetch_all(&shared.pool)
        .await?
        {
            if let Some(m) = out.get_mut(&r.get::<i64, _>(0)) {
                let v = |i: usize| u64::try_from(r.get::<Option<i64>, _>(i).unwrap_or_default()).unwrap_or_default();
                m.calls_7d = (v(1), v(2));
                m.durations_7d = (v(3), v(4));
            }
        }
        for r in sqlx::query(
            "SELECT number_id, source, kind, flagged, score FROM source_readings WHERE id IN \
             (SELECT MAX(id) FROM source_readings GROUP BY number_id, source)",
        )
        .fetch_all(&shared.pool)
        .await?
        {
            if let Some(m) = out.get_mut(&r.get::<i64, _>(0)) {
                m.external.push((r.get(1), r.get(2), r.get::<i64, _>(3) != 0, r.get(4)));
            }
        }
        let today = shared.calendar.day_of(now);
        let first = vigie_core::add_days(today, -30);
        for r in sqlx::query("SELECT number_id, day, calls FROM number_days WHERE day >= $1 AND day < $2 ORDER BY day")
            .bind(crate::db::day_text(first))
            .bind(crate::db::day_text(today))
            .fetch_all(&shared.pool)
            .await?
        {
            if let Some(m) = out.get_mut(&r.get::<i64, _>(0)) {
                let d = crate::db::day(&r.get::<String, _>(1))?;
                let index = usize::try_from((d - first).get_days()).unwrap_or(0).min(29);
                if m.calls_per_day.is_empty() {
                    m.calls_per_day = vec![0; 30];
                }
                m.calls_per_day[index] += u32::try_from(r.get::<i64, _>(2)).unwrap_or(0);
            }
        }
        let mut list: Vec<ScoreMaterial> = out.into_values().collect();
        list.sort_by_key(|m| m.number.0);
        Ok(list)
    }
}
