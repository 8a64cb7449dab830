//! The writer's close of an incident: the number goes back to service (after the
//! cool-down and a clean check) or is retired, and the incident records how, in one
//! transaction.

use sqlx::{AnyConnection, Row};
use vigie_core::{CleanCheck, E164, NumberStatus};

use super::{Batch, Writer};
use crate::audit::Entry;
use crate::db::{instant, micros};
use crate::error::StoreError;
use crate::incidents::Resolution;
use crate::model::NumberChange;

impl Writer {
    /// Closes an open incident with `resolution`.
    pub(super) async fn close_incident(
        &mut self,
        tx: &mut AnyConnection,
        batch: &mut Batch,
        id: i64,
        resolution: &Resolution,
        note: &str,
        actor: &str,
    ) -> Result<Result<(), StoreError>, StoreError> {
        let row = sqlx::query(
            "SELECT i.number_id, n.e164, n.status, i.opened_at, i.closed_at FROM incidents i \
             JOIN numbers n ON n.id = i.number_id WHERE i.id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(Err(StoreError::NotFound { what: "incident", field: "incident_id" })) };
        let conflict = |message: String| Ok(Err(StoreError::Conflict { field: "resolution", message }));
        if row.get::<Option<i64>, _>(4).is_some() {
            return Ok(Err(StoreError::Conflict { field: "incident_id", message: "the incident is closed".into() }));
        }
        let number_id: i64 = row.get(0);
        let e164 = E164::parse(&row.get::<String, _>(1)).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let status = NumberStatus::parse(&row.get::<String, _>(2))
            .ok_or_else(|| StoreError::Corrupt("unknown number status".into()))?;
        let opened_at = instant(row.get(3))?;
        let change = match resolution {
            Resolution::Returned => {
                // The clean check: the cool-down is over, the identity was checked, no
                // report came since the quarantine and no source flags the number now.
                let until = opened_at + self.shared.playbook.cool_down;
                if batch.now < until {
                    return conflict(format!("the cool-down runs until {until}"));
                }
                if status != NumberStatus::Quarantined {
                    return conflict(format!("the number is {}, not quarantined", status.as_str()));
                }
                let identity = sqlx::query(
                    "SELECT 1 FROM incident_steps WHERE incident_id = $1 AND step = 'identity_checked' AND done_at IS NOT NULL",
                )
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                if identity.is_none() {
                    return conflict("the identity_checked step is not done".into());
                }
                let reports: i64 =
                    sqlx::query("SELECT COUNT(*) FROM reports WHERE number_id = $1 AND received_at > $2")
                        .bind(number_id)
                        .bind(micros(opened_at))
                        .fetch_one(&mut *tx)
                        .await?
                        .get(0);
                let still_listed: Vec<String> = sqlx::query(
                    "SELECT source FROM source_readings r WHERE number_id = $1 AND flagged = 1 AND id IN \
                     (SELECT MAX(id) FROM source_readings WHERE number_id = $2 GROUP BY source) ORDER BY source",
                )
                .bind(number_id)
                .bind(number_id)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect();
                // vigie-core's clean check (no test calls are recorded by the store yet).
                let check = CleanCheck {
                    reports_since_quarantine: u32::try_from(reports).unwrap_or(u32::MAX),
                    still_listed,
                    test_calls: None,
                };
                let verdict = check.verdict(&self.shared.playbook);
                if !verdict.faults.is_empty() {
                    let faults: Vec<String> = verdict.faults.iter().map(ToString::to_string).collect();
                    return conflict(format!("the clean check fails: {}", faults.join("; ")));
                }
                NumberChange::Release
            }
            Resolution::Retired { .. } => NumberChange::Retire,
        };
        let reason = match resolution {
            Resolution::Returned => format!("incident {id} closed: clean check passed; {note}"),
            Resolution::Retired { cost_cents } => {
                format!("incident {id} closed: retired, replacement cost {:.2} EUR; {note}", *cost_cents as f64 / 100.0)
            }
        };
        if status != NumberStatus::Retired
            && let Err(e) = self.number_change(tx, batch, &e164, &change, &reason, actor, None).await?
        {
            return Ok(Err(e));
        }
        let cost = match resolution {
            Resolution::Retired { cost_cents } => Some(i64::try_from(*cost_cents).unwrap_or(i64::MAX)),
            Resolution::Returned => None,
        };
        sqlx::query(
            "UPDATE incidents SET closed_at = $1, closed_by = $2, resolution = $3, replacement_cost_cents = $4 WHERE id = $5",
        )
        .bind(micros(batch.now))
        .bind(actor)
        .bind(resolution.as_str())
        .bind(cost)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        batch.audit.push(Entry::new(
            batch.now,
            actor,
            "incident.close",
            format!("incident:{id}"),
            format!("resolution={} number={e164} {reason}", resolution.as_str()),
        ));
        Ok(Ok(()))
    }
}
