//! Incidents: opened by the writer in the transaction that quarantines a number, with
//! the alert that says so and the crisis playbook's steps and their deadlines; then the
//! steps as people do them, and the close (back to service after the cool-down and a
//! clean check, or retired with its replacement cost).

use sqlx::Row;
use vigie_core::{
    Calendar, E164, Finding, IncidentTrigger, InvalidField, Language, NumberId, Playbook, PlaybookStep, PoolCode,
    SignedDuration, Timestamp,
};

use crate::db::micros;
use crate::error::StoreError;
use crate::sql::{self, Conn};

/// What quarantined a number: the signal, when the trouble was first seen (for the time
/// to detect), and the evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    /// `reports`, `answer_rate_drop`, `external_flag`, `manual`.
    pub signal: String,
    /// The first sign of trouble: the day's first report, the start of the run that
    /// raised the alarm, the external reading.
    pub first_evidence_at: Timestamp,
    /// What was seen, in words.
    pub evidence: Finding,
}

/// Opens the incident of a number just quarantined, with its playbook steps and its
/// alert, in the writer's transaction. `moved` and `left` are the calls the quarantine
/// moved to other numbers and those left without one: when nothing was left, the
/// reserve step is done at once by the engine (its calls went elsewhere).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn open(
    tx: &mut Conn<'_>,
    (playbook, calendar): (&Playbook, &Calendar),
    number: NumberId,
    e164: Option<&E164>,
    pool: &PoolCode,
    trigger: &Trigger,
    now: Timestamp,
    (moved, left): (u32, u32),
) -> Result<i64, StoreError> {
    let e164 = match e164 {
        Some(n) => n.clone(),
        None => {
            let text: String =
                sql::query("SELECT e164 FROM numbers WHERE id = $1").bind(number.0).fetch_one(&mut *tx).await?.get(0);
            E164::parse(&text).map_err(|e| StoreError::Corrupt(e.to_string()))?
        }
    };
    // The playbook's deadlines, and the engine's own step, come from vigie-core's
    // incident; the rows below only record it.
    let mut incident = vigie_core::Incident::open(
        e164.clone(),
        pool.clone(),
        IncidentTrigger::parse(&trigger.signal)?,
        trigger.first_evidence_at.min(now),
        now,
        playbook,
    )?;
    if left == 0 {
        let note = format!("{moved} pending calls moved to other numbers of pool {pool}; none left without a number");
        incident.complete_step(PlaybookStep::ReserveSwapped, now, "engine", &note)?;
    }
    let id: i64 = sql::query(
        "INSERT INTO incidents (number_id, pool, trigger_signal, reason, reason_fr, opened_at, first_evidence_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(number.0)
    .bind(pool.as_str())
    .bind(trigger.signal.as_str())
    .bind(trigger.evidence.render(Language::En, calendar))
    .bind(trigger.evidence.render(Language::Fr, calendar))
    .bind(micros(incident.opened_at))
    .bind(micros(incident.first_evidence_at))
    .fetch_one(&mut *tx)
    .await?
    .get(0);
    for record in &incident.steps {
        let done = record.done.as_ref();
        sql::query(
            "INSERT INTO incident_steps (incident_id, step, deadline_at, done_at, done_by, note) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(record.step.as_str())
        .bind(micros(record.deadline))
        .bind(done.map(|d| micros(d.at)))
        .bind(done.map(|d| d.by.clone()))
        .bind(done.map(|d| d.note.clone()))
        .execute(&mut *tx)
        .await?;
    }
    let evidence = Finding::Quarantined { cause: Box::new(trigger.evidence.clone()), moved, left, incident: id };
    sql::query(
        "INSERT INTO alerts (dedup_key, signal, severity, number_id, pool, evidence, evidence_fr, action, raised_at, last_seen_at) \
         VALUES ($1, $2, 'critical', $3, $4, $5, $6, 'quarantined', $7, $8)",
    )
    .bind(format!("quarantine:{e164}:{id}"))
    .bind(trigger.signal.as_str())
    .bind(number.0)
    .bind(pool.as_str())
    .bind(evidence.render(Language::En, calendar))
    .bind(evidence.render(Language::Fr, calendar))
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
    /// The resolution an operator asks for: `returned`, or `retired` with its
    /// replacement cost in euros (0 to 100,000), as the API and the dashboard take it.
    pub fn parse(resolution: &str, replacement_cost_eur: Option<f64>) -> Result<Resolution, InvalidField> {
        const COST: &str = "replacement_cost_eur";
        match (resolution, replacement_cost_eur) {
            ("returned", None) => Ok(Resolution::Returned),
            ("returned", Some(_)) => Err(InvalidField::new(COST, "is only given when the number is retired")),
            ("retired", Some(eur)) if eur.is_finite() && (0.0..=100_000.0).contains(&eur) => {
                Ok(Resolution::Retired { cost_cents: (eur * 100.0).round() as u64 })
            }
            ("retired", Some(_)) => Err(InvalidField::new(COST, "must be between 0 and 100000")),
            ("retired", None) => Err(InvalidField::new(COST, "is required when the number is retired")),
            _ => Err(InvalidField::new("resolution", "must be returned or retired")),
        }
    }

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
    /// Why, in words (English).
    pub reason: String,
    /// Why, in French (the English words for incidents opened before French was kept).
    pub reason_fr: String,
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

    /// The incident as vigie-core's rules see it, rebuilt from its rows, so that a
    /// step or a close is decided by [`vigie_core::Incident`]'s methods and nowhere
    /// else.
    pub(crate) fn to_core(&self) -> Result<vigie_core::Incident, StoreError> {
        let corrupt = |e: InvalidField| StoreError::Corrupt(format!("incident {}: {e}", self.id));
        let mut steps = Vec::with_capacity(self.steps.len());
        for s in &self.steps {
            steps.push(vigie_core::StepRecord {
                step: PlaybookStep::parse(&s.step).map_err(corrupt)?,
                deadline: s.deadline_at,
                done: s.done.as_ref().map(|(at, by, note)| vigie_core::StepDone {
                    at: *at,
                    by: by.clone(),
                    note: note.clone(),
                }),
            });
        }
        steps.sort_by_key(|s| s.step.index());
        let steps: [vigie_core::StepRecord; vigie_core::PLAYBOOK_STEPS] = steps
            .try_into()
            .map_err(|_| StoreError::Corrupt(format!("incident {}: not one row per playbook step", self.id)))?;
        let closed = self.closed.as_ref().map(|(at, by, resolution)| vigie_core::Closure {
            at: *at,
            by: by.clone(),
            resolution: match resolution {
                Resolution::Returned => vigie_core::Resolution::ReturnedToService,
                Resolution::Retired { cost_cents } => {
                    vigie_core::Resolution::Retired { replacement_cost_cents: *cost_cents }
                }
            },
        });
        Ok(vigie_core::Incident {
            number: self.number.clone(),
            pool: PoolCode::parse(&self.pool).map_err(corrupt)?,
            trigger: IncidentTrigger::parse(&self.trigger_signal).map_err(corrupt)?,
            first_evidence_at: self.first_evidence_at,
            opened_at: self.opened_at,
            steps,
            closed,
        })
    }
}

pub(crate) const INCIDENT_COLUMNS: &str = "SELECT i.id, n.e164, i.pool, i.trigger_signal, i.reason, i.opened_at, i.first_evidence_at, \
     i.closed_at, i.closed_by, i.resolution, i.replacement_cost_cents, COALESCE(i.reason_fr, i.reason) \
     FROM incidents i JOIN numbers n ON n.id = i.number_id";

/// Reads incidents (with their steps) for the rows `sql` selects with `binds`.
pub(crate) async fn read_incidents(
    conn: &mut Conn<'_>,
    sql: String,
    bind: Option<i64>,
) -> Result<Vec<IncidentRecord>, StoreError> {
    use crate::db::instant;
    let mut q = sql::query(sql);
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
        let steps = sql::query(
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
            reason_fr: r.get(11),
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
        read_incidents(&mut Conn::Any(&mut conn), sql, Some(i64::from(limit))).await
    }

    /// One incident.
    pub async fn incident(&self, id: i64) -> Result<Option<IncidentRecord>, StoreError> {
        let sql = format!("{INCIDENT_COLUMNS} WHERE i.id = $1");
        let mut conn = self.shared.pool.acquire().await?;
        Ok(read_incidents(&mut Conn::Any(&mut conn), sql, Some(id)).await?.pop())
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
        let step = PlaybookStep::parse(step)?;
        let incident =
            self.incident(id).await?.ok_or(StoreError::NotFound { what: "incident", field: "incident_id" })?;
        // vigie-core decides (closed, done already, before the opening, the texts);
        // the update below is guarded too, for a step done meanwhile by another process.
        incident.to_core()?.complete_step(step, now, by, note)?;
        let step = step.as_str();
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

/// What the playbook's later steps need about an incident's number: the inputs of
/// vigie-core's cause analysis over the 14 days before the quarantine, and the
/// identity its delisting requests state.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentMaterial {
    /// For `analyse_cause`.
    pub cause_input: vigie_core::CauseInput,
    /// The facility's display name (or the number's), its callback and its city.
    pub facility_name: String,
    /// The callback number its requests give.
    pub callback: E164,
    /// The facility's city ("France" when the number has no facility).
    pub city: String,
}

impl crate::Store {
    /// The material of an incident's cause analysis and delisting requests.
    pub async fn incident_material(&self, id: i64) -> Result<Option<IncidentMaterial>, StoreError> {
        use std::collections::BTreeMap;
        use vigie_core::{CAUSE_WINDOW_DAYS, CauseInput, Share, odd_hour, unmatched_reports};
        let shared = &self.shared;
        let corrupt = |e: String| StoreError::Corrupt(e);
        let Some(row) = sqlx::query(
            "SELECT i.number_id, i.pool, i.opened_at, n.display_name, n.callback, f.display_name, f.callback, f.city \
             FROM incidents i JOIN numbers n ON n.id = i.number_id LEFT JOIN facilities f ON f.id = n.facility WHERE i.id = $1",
        )
        .bind(id)
        .fetch_optional(&shared.pool)
        .await?
        else {
            return Ok(None);
        };
        let number_id: i64 = row.get(0);
        let pool: String = row.get(1);
        let opened_at = crate::db::instant(row.get(2))?;
        let since = opened_at - SignedDuration::from_hours(24 * i64::try_from(CAUSE_WINDOW_DAYS).unwrap_or(14));
        let announced: Vec<String> = shared.sms.purposes.keys().map(|p| p.as_str().to_owned()).collect();
        // The number's calls in the window, with whether their SMS was delivered.
        let calls = sqlx::query(
            "SELECT c.dial_at, c.purpose, MAX(CASE WHEN s.status = 'delivered' THEN 1 ELSE 0 END) FROM calls c \
             LEFT JOIN sms s ON s.call_id = c.id WHERE c.number_id = $1 AND c.dial_at >= $2 AND c.dial_at < $3 \
             AND c.cancelled_at IS NULL GROUP BY c.id, c.dial_at, c.purpose ORDER BY c.dial_at",
        )
        .bind(number_id)
        .bind(micros(since))
        .bind(micros(opened_at))
        .fetch_all(&shared.pool)
        .await?;
        let mut per_day: BTreeMap<vigie_core::Date, u32> = BTreeMap::new();
        let (mut odd, mut ann, mut delivered) = (0u32, 0u32, 0u32);
        let mut times = Vec::with_capacity(calls.len());
        for c in &calls {
            let at = crate::db::instant(c.get(0))?;
            times.push(at);
            *per_day.entry(shared.calendar.day_of(at)).or_default() += 1;
            odd += u32::from(odd_hour(&shared.calendar, at));
            if announced.contains(&c.get::<String, _>(1)) {
                ann += 1;
                delivered += u32::from(c.get::<Option<i64>, _>(2).unwrap_or_default() > 0);
            }
        }
        let total = u32::try_from(calls.len()).unwrap_or(u32::MAX);
        // The pool's numbers: their mean calls per calling day, and its median.
        let days = sqlx::query(
            "SELECT nd.number_id, SUM(nd.calls), COUNT(*) FROM number_days nd JOIN numbers n ON n.id = nd.number_id \
             WHERE n.pool = $1 AND nd.day >= $2 AND nd.day < $3 AND nd.calls > 0 GROUP BY nd.number_id",
        )
        .bind(pool.as_str())
        .bind(crate::db::day_text(shared.calendar.day_of(since)))
        .bind(crate::db::day_text(shared.calendar.day_of(opened_at)))
        .fetch_all(&shared.pool)
        .await?;
        let mut means: Vec<f64> = days
            .iter()
            .map(|r| r.get::<Option<i64>, _>(1).unwrap_or_default() as f64 / r.get::<i64, _>(2).max(1) as f64)
            .collect();
        means.sort_by(f64::total_cmp);
        let median = match means.len() {
            0 => 0.0,
            n if n % 2 == 1 => means[n / 2],
            n => (means[n / 2 - 1] + means[n / 2]) / 2.0,
        };
        // The pool's announced calls and their delivered SMS.
        let pool_share = if announced.is_empty() {
            (0, 0)
        } else {
            let sql = format!(
                "SELECT COUNT(*), SUM(d) FROM (SELECT MAX(CASE WHEN s.status = 'delivered' THEN 1 ELSE 0 END) AS d \
                 FROM calls c LEFT JOIN sms s ON s.call_id = c.id WHERE c.pool = $1 AND c.dial_at >= $2 AND c.dial_at < $3 \
                 AND c.cancelled_at IS NULL AND c.purpose IN ({}) GROUP BY c.id) t",
                crate::db::list(shared.backend, announced.len(), 4)
            );
            let mut q =
                sqlx::query(sqlx::AssertSqlSafe(sql)).bind(pool.as_str()).bind(micros(since)).bind(micros(opened_at));
            for p in &announced {
                q = q.bind(p.as_str());
            }
            let r = q.fetch_one(&shared.pool).await?;
            (r.get::<i64, _>(0), r.get::<Option<i64>, _>(1).unwrap_or_default())
        };
        // Reports with a time of their own (patients', agents', apps').
        let reports: Vec<Timestamp> = sqlx::query(
            "SELECT reported_at FROM reports WHERE number_id = $1 AND reported_at >= $2 AND reported_at <= $3 \
             AND source IN ('patient', 'agent', 'app_label') ORDER BY reported_at",
        )
        .bind(number_id)
        .bind(micros(since))
        .bind(micros(opened_at))
        .fetch_all(&shared.pool)
        .await?
        .iter()
        .map(|r| crate::db::instant(r.get(0)))
        .collect::<Result<_, _>>()?;
        let unmatched = unmatched_reports(&reports, &times);
        let share = |part: u32, whole: u32| Share::new(part.min(whole), whole).map_err(|e| corrupt(e.to_string()));
        let to_u32 = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
        let cause_input = CauseInput {
            calls_per_day: per_day.into_iter().collect(),
            pool_median_calls_per_day: median,
            announced: share(delivered, ann)?,
            pool_announced: share(to_u32(pool_share.1), to_u32(pool_share.0))?,
            odd_hours: share(odd, total)?,
            reports_without_call: share(unmatched, u32::try_from(reports.len()).unwrap_or(u32::MAX))?,
        };
        let own_name: String = row.get(3);
        let own_callback: String = row.get(4);
        let name: String = row.get::<Option<String>, _>(5).unwrap_or(own_name);
        let callback: String = row.get::<Option<String>, _>(6).unwrap_or(own_callback);
        Ok(Some(IncidentMaterial {
            cause_input,
            facility_name: name,
            callback: E164::parse(&callback).map_err(|e| corrupt(e.to_string()))?,
            city: row.get::<Option<String>, _>(7).unwrap_or_else(|| "France".to_owned()),
        }))
    }
}
