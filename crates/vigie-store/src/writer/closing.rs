//! The writer's close of an incident: the number goes back to service (after the
//! cool-down and a clean check) or is retired, and the incident records how, in one
//! transaction.

use crate::sql::{self, Conn};
use vigie_core::{CleanCheck, NumberStatus, Timestamp};

use super::{Batch, Writer};
use crate::audit::Entry;
use crate::db::micros;
use crate::error::StoreError;
use crate::incidents::{INCIDENT_COLUMNS, Resolution, read_incidents};
use crate::model::NumberChange;

impl Writer {
    /// Closes an open incident with `resolution`.
    pub(super) async fn close_incident(
        &mut self,
        tx: &mut Conn<'_>,
        batch: &mut Batch,
        id: i64,
        resolution: &Resolution,
        note: &str,
        actor: &str,
    ) -> Result<Result<(), StoreError>, StoreError> {
        let sql = format!("{INCIDENT_COLUMNS} WHERE i.id = $1");
        let Some(record) = read_incidents(tx, sql, Some(id)).await?.pop() else {
            return Ok(Err(StoreError::NotFound { what: "incident", field: "incident_id" }));
        };
        let mut incident = record.to_core()?;
        let row = sql::query(
            "SELECT i.number_id, n.status FROM incidents i JOIN numbers n ON n.id = i.number_id WHERE i.id = $1",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        let number_id: i64 = row.get(0);
        let status = NumberStatus::parse(&row.get::<String, _>(1))
            .ok_or_else(|| StoreError::Corrupt("unknown number status".into()))?;
        let e164 = incident.number.clone();
        // vigie-core decides: closed already, the cool-down, the clean check (with the
        // identity step); the store gathers what the check reads.
        let decided = match resolution {
            Resolution::Returned => {
                let check = self.clean_check(tx, number_id, incident.opened_at).await?;
                incident.close_returning(batch.now, actor, &check, &self.shared.playbook)
            }
            Resolution::Retired { cost_cents } => incident.close_retiring(batch.now, actor, *cost_cents),
        };
        if let Err(e) = decided {
            return Ok(Err(e.into()));
        }
        let change = match resolution {
            Resolution::Returned if status != NumberStatus::Quarantined => {
                return Ok(Err(StoreError::Conflict {
                    field: "resolution",
                    message: format!("the number is {}, not quarantined", status.as_str()),
                }));
            }
            Resolution::Returned => NumberChange::Release,
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
        sql::query(
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

    /// What vigie-core's clean check reads, gathered in the closing transaction: the
    /// reports since the quarantine and the sources whose latest reading flags the
    /// number (no test calls are recorded by the store yet).
    async fn clean_check(
        &self,
        tx: &mut Conn<'_>,
        number_id: i64,
        opened_at: Timestamp,
    ) -> Result<CleanCheck, StoreError> {
        let reports: i64 = sql::query("SELECT COUNT(*) FROM reports WHERE number_id = $1 AND received_at > $2")
            .bind(number_id)
            .bind(micros(opened_at))
            .fetch_one(&mut *tx)
            .await?
            .get(0);
        let still_listed: Vec<String> = sql::query(
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
        Ok(CleanCheck {
            reports_since_quarantine: u32::try_from(reports).unwrap_or(u32::MAX),
            still_listed,
            test_calls: None,
        })
    }
}
