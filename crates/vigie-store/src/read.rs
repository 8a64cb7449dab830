//! Reads: facilities, calls, numbers and pool figures, straight from the connection
//! pool. Reading a patient's phone is written to the access log.

use std::collections::BTreeMap;

use sqlx::Row;
use sqlx::any::AnyRow;
use vigie_core::{E164, FacilityId, NumberStatus, Outcome, PoolCode, Purpose, add_days};

use crate::Store;
use crate::compliance::ComplianceOptions;
use crate::db::{day_text, instant, micros};
use crate::error::StoreError;
use crate::model::{CallRecord, Facility, NumberEvent, NumberRecord, OutcomeReport, PoolSummary, Principal, Role};

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn facility_row(r: &AnyRow) -> Result<Facility, StoreError> {
    Ok(Facility {
        id: FacilityId::parse(&r.get::<String, _>(0)).map_err(corrupt)?,
        name: r.get(1),
        display_name: r.get(2),
        city: r.get(3),
        callback: E164::parse(&r.get::<String, _>(4)).map_err(corrupt)?,
    })
}

const NUMBER_COLUMNS: &str = "SELECT n.id, n.e164, n.pool, n.facility, n.display_name, n.callback, n.category, n.zone, n.status, \
     n.status_since, n.status_reason, \
     (SELECT nd.calls FROM number_days nd WHERE nd.number_id = n.id AND nd.day = $1), \
     (SELECT COUNT(*) FROM reports r WHERE r.number_id = n.id AND r.day = $1), \
     (SELECT MAX(r.until_at) FROM rests r WHERE r.number_id = n.id AND r.from_at <= $2 AND r.until_at > $2), \
     n.cnam_registered_at, n.directory_listed_at, n.directory_name, n.man_authenticated, \
     COALESCE(n.status_reason_fr, n.status_reason) \
     FROM numbers n";

fn number_row(r: &AnyRow, compliance: &ComplianceOptions) -> Result<NumberRecord, StoreError> {
    let facility: Option<String> = r.get(3);
    let zone: Option<i64> = r.get(7);
    let calls: Option<i64> = r.get(11);
    let reports: i64 = r.get(12);
    let until: Option<i64> = r.get(13);
    let number = E164::parse(&r.get::<String, _>(1)).map_err(corrupt)?;
    let pool = PoolCode::parse(&r.get::<String, _>(2)).map_err(corrupt)?;
    let compliance = compliance.number_compliance(&pool, &number, crate::compliance::identity_of(r, 14)?);
    Ok(NumberRecord {
        id: r.get(0),
        number,
        pool,
        facility: facility.map(|f| FacilityId::parse(&f)).transpose().map_err(corrupt)?,
        display_name: r.get(4),
        callback: r.get(5),
        category: r.get(6),
        zone: zone.and_then(|z| u8::try_from(z).ok()),
        status: NumberStatus::parse(&r.get::<String, _>(8)).ok_or_else(|| corrupt("unknown status"))?,
        status_since: instant(r.get(9))?,
        status_reason: r.get(10),
        status_reason_fr: r.get(18),
        resting_until: until.map(instant).transpose()?,
        calls_today: u32::try_from(calls.unwrap_or(0)).unwrap_or(0),
        reports_today: u32::try_from(reports).unwrap_or(0),
        compliance,
    })
}

impl Store {
    /// Every facility.
    pub async fn facilities(&self) -> Result<Vec<Facility>, StoreError> {
        sqlx::query("SELECT id, name, display_name, city, callback FROM facilities ORDER BY id")
            .fetch_all(&self.shared.pool)
            .await?
            .iter()
            .map(facility_row)
            .collect()
    }

    /// One facility.
    pub async fn facility(&self, id: &FacilityId) -> Result<Option<Facility>, StoreError> {
        sqlx::query("SELECT id, name, display_name, city, callback FROM facilities WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.shared.pool)
            .await?
            .as_ref()
            .map(facility_row)
            .transpose()
    }

    /// A call as stored. Its patient phone is decrypted only for a reader whose role
    /// may see it (the dialer that places the call), and that access is logged.
    pub async fn call(&self, id: i64, reader: &Principal) -> Result<Option<CallRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT c.id, c.call_ref, c.facility, c.purpose, c.pool, c.patient_ref, c.patient_phone, c.dial_at, \
             n.e164, n.display_name, c.created_at, c.reassigned_at, c.outcome, c.duration_s, c.ended_at, c.ring_s, c.sip_code, c.agent_note, \
             c.legal_basis, c.class, c.refused_at, c.cancelled_at, c.cancel_reason FROM calls c LEFT JOIN numbers n ON n.id = c.number_id WHERE c.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.shared.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let reveal = reader.role == Role::Dialer;
        // An erased phone (Article 17) reads as masked.
        let patient_phone =
            if reveal { crate::privacy::open_phone(&self.shared.key, &r.get::<Vec<u8>, _>(6))? } else { None };
        // Every read of a call is an access to patient data: it goes in the audit trail,
        // committed before the data is returned.
        let (action, detail) =
            if reveal { ("patient.read", "patient_phone shown") } else { ("call.read", "patient_phone masked") };
        let mut conn = self.shared.pool.acquire().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *conn, self.shared.backend.begin_write()).await?;
        let entry = crate::audit::Entry::new(self.now(), &reader.name, action, format!("call-id:{id}"), detail);
        crate::audit::append(&mut tx, self.shared.backend, &[entry]).await?;
        tx.commit().await?;
        let number: Option<String> = r.get(8);
        let outcome: Option<String> = r.get(12);
        let outcome = match outcome {
            None => None,
            Some(o) => Some(OutcomeReport {
                outcome: Outcome::parse(&o).map_err(corrupt)?,
                duration_s: u32::try_from(r.get::<Option<i64>, _>(13).unwrap_or(0)).unwrap_or(0),
                ended_at: instant(r.get::<Option<i64>, _>(14).unwrap_or(0))?,
                ring_s: r.get::<Option<i64>, _>(15).and_then(|v| u32::try_from(v).ok()),
                sip_code: r.get::<Option<i64>, _>(16).and_then(|v| u16::try_from(v).ok()),
                agent_note: r.get(17),
            }),
        };
        Ok(Some(CallRecord {
            id: r.get(0),
            call_ref: r.get(1),
            facility: FacilityId::parse(&r.get::<String, _>(2)).map_err(corrupt)?,
            purpose: Purpose::parse(&r.get::<String, _>(3)).map_err(corrupt)?,
            pool: PoolCode::parse(&r.get::<String, _>(4)).map_err(corrupt)?,
            patient_ref: r.get(5),
            patient_phone,
            dial_at: instant(r.get(7))?,
            caller_number: number.map(|n| E164::parse(&n)).transpose().map_err(corrupt)?,
            display_name: r.get(9),
            created_at: instant(r.get(10))?,
            reassigned_at: r.get::<Option<i64>, _>(11).map(instant).transpose()?,
            outcome,
            legal_basis: crate::privacy::stored_basis(r.get(18))?,
            class: crate::privacy::stored_class(r.get(19))?,
            solicitation_refused_at: r.get::<Option<i64>, _>(20).map(instant).transpose()?,
            cancelled: match r.get::<Option<i64>, _>(21) {
                Some(at) => Some((instant(at)?, r.get::<Option<String>, _>(22).unwrap_or_default())),
                None => None,
            },
        }))
    }

    /// Every number of the inventory, with today's figures.
    pub async fn numbers(&self) -> Result<Vec<NumberRecord>, StoreError> {
        let now = self.now();
        let today = self.shared.calendar.day_of(now);
        let sql = format!("{NUMBER_COLUMNS} ORDER BY n.pool, n.e164");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(day_text(today))
            .bind(micros(now))
            .fetch_all(&self.shared.pool)
            .await?
            .iter()
            .map(|r| number_row(r, &self.shared.compliance))
            .collect()
    }

    /// One number with its state history, newest first.
    pub async fn number(&self, e164: &E164) -> Result<Option<(NumberRecord, Vec<NumberEvent>)>, StoreError> {
        let now = self.now();
        let today = self.shared.calendar.day_of(now);
        let sql = format!("{NUMBER_COLUMNS} WHERE n.e164 = $3");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(day_text(today))
            .bind(micros(now))
            .bind(e164.as_str())
            .fetch_optional(&self.shared.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let record = number_row(&row, &self.shared.compliance)?;
        let events = sqlx::query(
            "SELECT at, state, pool, until_at, reason, actor, COALESCE(reason_fr, reason) FROM number_events \
             WHERE number_id = $1 ORDER BY at DESC, id DESC LIMIT 200",
        )
        .bind(record.id)
        .fetch_all(&self.shared.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(NumberEvent {
                at: instant(r.get(0))?,
                state: r.get(1),
                pool: PoolCode::parse(&r.get::<String, _>(2)).map_err(corrupt)?,
                until: r.get::<Option<i64>, _>(3).map(instant).transpose()?,
                reason: r.get(4),
                reason_fr: r.get(6),
                actor: r.get(5),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Some((record, events)))
    }

    /// Per pool: numbers by state, capacity and use today, answer rate over 7 days.
    pub async fn pools(&self) -> Result<Vec<PoolSummary>, StoreError> {
        let now = self.now();
        let cal = &self.shared.calendar;
        let today = cal.day_of(now);
        let numbers = self.numbers().await?;
        let used: BTreeMap<String, i64> = sqlx::query("SELECT pool, calls FROM pool_days WHERE day = $1")
            .bind(day_text(today))
            .fetch_all(&self.shared.pool)
            .await?
            .iter()
            .map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1)))
            .collect();
        let rates: BTreeMap<String, (i64, i64)> = sqlx::query(
            "SELECT pool, SUM(CASE WHEN outcome = 'answered' THEN 1 ELSE 0 END), COUNT(*) FROM calls \
             WHERE outcome IS NOT NULL AND dial_at >= $1 AND dial_at < $2 GROUP BY pool",
        )
        .bind(micros(cal.start_of(add_days(today, -6))))
        .bind(micros(now))
        .fetch_all(&self.shared.pool)
        .await?
        .iter()
        .map(|r| (r.get::<String, _>(0), (r.get::<Option<i64>, _>(1).unwrap_or(0), r.get::<i64, _>(2))))
        .collect();
        let mut out = Vec::new();
        for def in self.catalog().pools() {
            let mut s = PoolSummary {
                code: def.code.clone(),
                role: def.role.as_str(),
                purposes: def.purposes.clone(),
                active: 0,
                resting: 0,
                quarantined: 0,
                reserve: 0,
                retired: 0,
                capacity_today: 0,
                used_today: u32::try_from(used.get(def.code.as_str()).copied().unwrap_or(0)).unwrap_or(0),
                answer_rate_7d: None,
                outcomes_7d: 0,
                today,
            };
            for n in numbers.iter().filter(|n| n.pool == def.code) {
                match n.state() {
                    "active" => {
                        s.active += 1;
                        if def.role == vigie_core::PoolRole::Outbound {
                            s.capacity_today += def.policy.calls_per_day_max;
                        }
                    }
                    "resting" => s.resting += 1,
                    "quarantined" => s.quarantined += 1,
                    "reserve" => s.reserve += 1,
                    _ => s.retired += 1,
                }
            }
            if let Some((answered, total)) = rates.get(def.code.as_str()) {
                s.outcomes_7d = u32::try_from(*total).unwrap_or(0);
                if *total > 0 {
                    s.answer_rate_7d = Some(*answered as f64 / *total as f64);
                }
            }
            out.push(s);
        }
        Ok(out)
    }
}
