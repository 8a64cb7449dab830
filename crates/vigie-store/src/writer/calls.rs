//! The writer's changes to calls already given a number: the dialer cancels or
//! reschedules one, and a patient's STOP cancels the calls of the purposes that stop
//! with their SMS. Each runs in the batch's transaction like any other write: the cap's
//! counters, the engine's cached state, the SMS and the audit trail change together.

use std::sync::Arc;

use crate::sql::{self, Conn};
use vigie_core::{Allocation, CallSpec, E164, FacilityId, NumberId, PoolCode, Purpose, SmsStatus, Timestamp};

use super::{Batch, Writer, record_allocation};
use crate::audit::Entry;
use crate::compliance;
use crate::db::{instant, list, micros};
use crate::error::StoreError;
use crate::model::{CallChange, CallChangeAnswer, NewCall, OptOutAnswer};
use crate::sms::{Announce, SmsData};

/// A stored call, as a change needs it.
struct CallRow {
    id: i64,
    call_ref: String,
    facility: FacilityId,
    purpose: Purpose,
    pool: PoolCode,
    patient_ref: String,
    sealed_phone: Vec<u8>,
    zone: Option<u8>,
    dial_at: Timestamp,
    number: Option<NumberId>,
    created_at: Timestamp,
    dialled: bool,
    cancelled: bool,
}

const CALL_ROW: &str = "SELECT id, call_ref, facility, purpose, pool, patient_ref, patient_phone, patient_zone, dial_at, \
     number_id, outcome, cancelled_at, created_at FROM calls";

fn call_row(r: &sql::Row) -> Result<CallRow, StoreError> {
    let corrupt = |e: vigie_core::InvalidField| StoreError::Corrupt(e.to_string());
    Ok(CallRow {
        id: r.get(0),
        call_ref: r.get(1),
        facility: FacilityId::parse(&r.get::<String, _>(2)).map_err(corrupt)?,
        purpose: Purpose::parse(&r.get::<String, _>(3)).map_err(corrupt)?,
        pool: PoolCode::parse(&r.get::<String, _>(4)).map_err(corrupt)?,
        patient_ref: r.get(5),
        sealed_phone: r.get(6),
        zone: r.get::<Option<i64>, _>(7).and_then(|z| u8::try_from(z).ok()),
        dial_at: instant(r.get(8))?,
        number: r.get::<Option<i64>, _>(9).map(NumberId),
        dialled: r.get::<Option<String>, _>(10).is_some(),
        cancelled: r.get::<Option<i64>, _>(11).is_some(),
        created_at: instant(r.get(12))?,
    })
}

/// The SMS of the calls of `ids` still queued and not taken by a dispatcher are
/// cancelled with `why`; returns how many, and whether one of them was already sent.
async fn cancel_sms_of(tx: &mut Conn<'_>, batch: &Batch, ids: &[i64], why: &str) -> Result<(u32, bool), StoreError> {
    if ids.is_empty() {
        return Ok((0, false));
    }
    let b = batch.script.backend();
    let sql = format!("SELECT id, status, claimed_at FROM sms WHERE call_id IN ({})", list(b, ids.len(), 1));
    let mut q = sql::query(sql);
    for id in ids {
        q = q.bind(*id);
    }
    let (mut cancelled, mut sent) = (Vec::new(), false);
    for r in q.fetch_all(&mut *tx).await? {
        let status = SmsStatus::parse(&r.get::<String, _>(1)).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let claimed = r.get::<Option<i64>, _>(2).is_some();
        match status {
            SmsStatus::Queued if !claimed => cancelled.push(r.get::<i64, _>(0)),
            SmsStatus::Queued | SmsStatus::Submitted | SmsStatus::Delivered => sent = true,
            _ => {}
        }
    }
    if !cancelled.is_empty() {
        // One placeholder style per statement: SQLite's plain `?` does not follow `$N`.
        let sql = format!(
            "UPDATE sms SET status = {}, final_at = {}, error = {} WHERE id IN ({})",
            b.placeholder(1),
            b.placeholder(2),
            b.placeholder(3),
            list(b, cancelled.len(), 4)
        );
        let mut q = sql::query(sql).bind(SmsStatus::Cancelled.as_str()).bind(micros(batch.now)).bind(why);
        for id in &cancelled {
            q = q.bind(*id);
        }
        q.execute(&mut *tx).await?;
    }
    Ok((u32::try_from(cancelled.len()).unwrap_or(u32::MAX), sent))
}

impl Writer {
    /// Cancels or reschedules a call not yet dialled.
    pub(super) async fn call_change(
        &mut self,
        tx: &mut Conn<'_>,
        batch: &mut Batch,
        call_id: i64,
        change: CallChange,
        reason: &str,
        actor: &str,
    ) -> Result<Result<CallChangeAnswer, StoreError>, StoreError> {
        let sql = format!("{CALL_ROW} WHERE id = $1");
        let row = sql::query(sql).bind(call_id).fetch_optional(&mut *tx).await?;
        let Some(call) = row.as_ref().map(call_row).transpose()? else {
            return Ok(Err(StoreError::NotFound { what: "call", field: "call_id" }));
        };
        if call.dialled {
            return Ok(Err(StoreError::Conflict {
                field: "call_id",
                message: "the call was already dialled (it has an outcome)".into(),
            }));
        }
        if call.cancelled {
            return Ok(Err(StoreError::Conflict { field: "call_id", message: "the call is cancelled".into() }));
        }
        match change {
            CallChange::Cancel => {
                let (sms_cancelled, sms_already_sent) = self.cancel_call(tx, batch, &call, reason, actor).await?;
                Ok(Ok(CallChangeAnswer {
                    call_id,
                    dial_at: call.dial_at,
                    caller_number: None,
                    display_name: None,
                    pool: call.pool,
                    sms_at: None,
                    sms_cancelled,
                    sms_already_sent,
                }))
            }
            CallChange::Reschedule(dial_at) => self.reschedule(tx, batch, call, dial_at, reason, actor).await,
        }
    }

    /// Cancels a call: its number's count for the day goes down, its SMS not yet sent
    /// is cancelled. Returns (SMS cancelled, an SMS already went).
    async fn cancel_call(
        &mut self,
        tx: &mut Conn<'_>,
        batch: &mut Batch,
        call: &CallRow,
        reason: &str,
        actor: &str,
    ) -> Result<(u32, bool), StoreError> {
        self.release_number(batch, call);
        sql::query("UPDATE calls SET cancelled_at = $1, cancel_reason = $2 WHERE id = $3")
            .bind(micros(batch.now))
            .bind(reason)
            .bind(call.id)
            .execute(&mut *tx)
            .await?;
        let (sms, sent) = cancel_sms_of(tx, batch, &[call.id], "the call was cancelled").await?;
        batch.audit.push(Entry::new(
            batch.now,
            actor,
            "call.cancel",
            format!("call-id:{}", call.id),
            format!("dial_at={} sms_cancelled={sms} sms_already_sent={sent} reason={reason}", call.dial_at),
        ));
        Ok((sms, sent))
    }

    /// Takes the call back from its number in the engine and in the day's counters.
    fn release_number(&mut self, batch: &mut Batch, call: &CallRow) {
        let Some(number) = call.number else { return };
        let cal = &self.shared.calendar;
        let d = cal.day_of(call.dial_at);
        if let Some(cached) = self.cache.get_mut(&call.pool) {
            cached.state.unassign(number, call.dial_at, cal);
        }
        batch.pending.count(number, &call.pool, d, -1, None);
        batch.touched.insert((call.pool.clone(), d));
        batch.dirty = true;
    }

    /// Moves a call to `dial_at`: the dial window, the calling rules and the SMS rules
    /// are checked again for the new instant, and a number is chosen for its day (the
    /// same one when it is still eligible, by affinity). A refusal leaves the call as it
    /// was.
    async fn reschedule(
        &mut self,
        tx: &mut Conn<'_>,
        batch: &mut Batch,
        call: CallRow,
        dial_at: Timestamp,
        reason: &str,
        actor: &str,
    ) -> Result<Result<CallChangeAnswer, StoreError>, StoreError> {
        let shared = Arc::clone(&self.shared);
        let subject = format!("call-id:{}", call.id);
        if let Err(e) = shared.dial_window.check(dial_at, batch.now) {
            batch.audit.push(Entry::new(batch.now, actor, "call.refuse", subject, format!("rule=dial_window {e}")));
            return Ok(Err(e.into()));
        }
        // A call is dialled at most the window's ahead_max after it was created: that is
        // how a quarantined number's pending calls are found (by creation instant).
        let latest = call.created_at + shared.dial_window.ahead_max;
        if dial_at > latest {
            let e = vigie_core::InvalidField::new(
                "dial_at",
                format!(
                    "must be at most {} days after the call was created ({latest} at the latest); cancel it and post a new call",
                    shared.dial_window.ahead_max.as_hours() / 24
                ),
            );
            batch.audit.push(Entry::new(batch.now, actor, "call.refuse", subject, format!("rule=dial_window {e}")));
            return Ok(Err(e.into()));
        }
        let phone = String::from_utf8(shared.key.open(&call.sealed_phone)?)
            .map_err(|e| StoreError::Corrupt(e.to_string()))
            .and_then(|p| E164::parse(&p).map_err(|e| StoreError::Corrupt(e.to_string())));
        let Ok(patient_phone) = phone else {
            return Ok(Err(StoreError::Conflict {
                field: "call_id",
                message: "the patient was erased; the call cannot be rescheduled".into(),
            }));
        };
        let moved = NewCall {
            call_ref: call.call_ref.clone(),
            facility: call.facility.clone(),
            purpose: call.purpose.clone(),
            patient_ref: call.patient_ref.clone(),
            patient_phone,
            dial_at,
        };
        let rules = compliance::prefetch(&shared, tx, &[&moved]).await?;
        let (class, verdict) = rules.check(&shared.compliance, &shared.pseudonyms, &moved);
        let sms = SmsData::prefetch(&shared, tx, &[&moved]).await?;
        let verdict = verdict.and_then(|()| sms.decide(&shared, &moved, batch.now));
        let announce = match verdict {
            Ok(a) => a,
            Err(refusal) => {
                let detail = compliance::refusal_detail(&refusal, class, &moved);
                batch.audit.push(Entry::new(batch.now, actor, "call.refuse", subject, detail));
                return Ok(Err(StoreError::Rule(refusal)));
            }
        };
        let cal = &shared.calendar;
        let Some(cached) = self.cache.get_mut(&call.pool) else {
            return Ok(Err(StoreError::NotFound { what: "pool", field: "purpose" }));
        };
        if let Some(old) = call.number {
            cached.state.unassign(old, call.dial_at, cal);
        }
        let spec = CallSpec { facility: &call.facility, patient_zone: call.zone, affinity: call.number, dial_at };
        let alloc = match cached.state.allocate(&spec, cal, batch.now) {
            Ok(a) => a,
            Err(no) => {
                // The call keeps its number and time.
                if let Some(old) = call.number {
                    cached.state.assign(&Allocation { number: old, rest: None }, call.dial_at, cal);
                }
                let retry = no.retry_at.map_or_else(|| "none".to_owned(), |t| t.to_string());
                batch.audit.push(Entry::new(
                    batch.now,
                    actor,
                    "call.refuse",
                    subject,
                    format!("rule=no_capacity pool={} dial_at={dial_at} retry_at={retry}", call.pool),
                ));
                return Ok(Err(StoreError::NoCapacity { pool: call.pool, retry_at: no.retry_at }));
            }
        };
        let (e164, display) =
            cached.state.number(alloc.number).map(|n| (n.e164.clone(), n.display_name.clone())).unzip();
        if let Some(old) = call.number {
            batch.pending.count(old, &call.pool, cal.day_of(call.dial_at), -1, None);
            batch.touched.insert((call.pool.clone(), cal.day_of(call.dial_at)));
        }
        let d = cal.day_of(dial_at);
        record_allocation(&mut batch.pending, &call.pool, &alloc, dial_at, d);
        batch.touched.insert((call.pool.clone(), d));
        batch.dirty = true;
        let renumbered = call.number != Some(alloc.number);
        let mut q = if renumbered {
            sql::query("UPDATE calls SET dial_at = $1, number_id = $2, reassigned_at = $3 WHERE id = $4")
                .bind(micros(dial_at))
                .bind(alloc.number.0)
                .bind(micros(batch.now))
        } else {
            sql::query("UPDATE calls SET dial_at = $1, number_id = $2 WHERE id = $3")
                .bind(micros(dial_at))
                .bind(alloc.number.0)
        };
        q = q.bind(call.id);
        q.execute(&mut *tx).await?;
        let (sms_cancelled, sms_already_sent) =
            cancel_sms_of(tx, batch, &[call.id], "the call was rescheduled; a new SMS is planned").await?;
        let mut sms_at = None;
        if let (Announce::At(t), Some(caller)) = (announce, &e164) {
            match sms.stage(&shared, &mut batch.script, "calls", &moved, caller, t, batch.now) {
                Ok(()) => sms_at = Some(t),
                Err(why) => batch.audit.push(Entry::new(
                    batch.now,
                    actor,
                    "sms.unplanned",
                    format!("call:{}", call.call_ref),
                    format!("reason={why}"),
                )),
            }
        }
        batch.audit.push(Entry::new(
            batch.now,
            actor,
            "call.reschedule",
            subject,
            format!(
                "from={} to={dial_at} number={} sms_cancelled={sms_cancelled} sms_at={} reason={reason}",
                call.dial_at,
                e164.as_ref().map_or("", |n| n.as_str()),
                sms_at.map_or_else(|| "-".to_owned(), |t| t.to_string())
            ),
        ));
        Ok(Ok(CallChangeAnswer {
            call_id: call.id,
            dial_at,
            caller_number: e164,
            display_name: display,
            pool: call.pool,
            sms_at,
            sms_cancelled,
            sms_already_sent,
        }))
    }

    /// Records a patient's SMS opt-out and applies it: their SMS not yet sent are
    /// cancelled, and so are their calls not yet dialled of the purposes whose calls
    /// stop with their SMS (found through the SMS that announced them: the phone itself
    /// is sealed and cannot be searched). Applying it again changes nothing more.
    pub(super) async fn opt_out(
        &mut self,
        tx: &mut Conn<'_>,
        batch: &mut Batch,
        phone: &E164,
        source: &str,
        actor: &str,
    ) -> Result<Result<OptOutAnswer, StoreError>, StoreError> {
        let shared = Arc::clone(&self.shared);
        let hash = shared.pseudonyms.optout_hash(phone.as_str());
        let subject = format!("optout:{}", &hash[..16]);
        let recorded =
            sql::query("INSERT INTO sms_optouts (hash, at, source) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                .bind(hash.as_str())
                .bind(micros(batch.now))
                .bind(source)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                > 0;
        if recorded {
            batch.audit.push(Entry::new(batch.now, actor, "sms.optout", subject.clone(), format!("source={source}")));
        }
        let stopping: Vec<&str> =
            shared.sms.purposes.iter().filter(|(_, p)| p.stop_ends_calls).map(|(k, _)| k.as_str()).collect();
        let (mut calls_cancelled, mut sms_cancelled) = (0, 0);
        if !stopping.is_empty() {
            let b = shared.backend;
            let sql = format!(
                "{CALL_ROW} WHERE id IN (SELECT call_id FROM sms WHERE phone_hash = {}) \
                 AND outcome IS NULL AND cancelled_at IS NULL AND dial_at > {} AND purpose IN ({}) ORDER BY dial_at",
                b.placeholder(1),
                b.placeholder(2),
                list(b, stopping.len(), 3)
            );
            let mut q = sql::query(sql).bind(hash.as_str()).bind(micros(batch.now));
            for p in &stopping {
                q = q.bind(*p);
            }
            let rows = q.fetch_all(&mut *tx).await?;
            for row in &rows {
                let call = call_row(row)?;
                let (sms, _) = self.cancel_call(tx, batch, &call, "the patient replied STOP to the SMS", actor).await?;
                calls_cancelled += 1;
                sms_cancelled += sms;
            }
        }
        // The patient's other SMS not yet taken by a dispatcher (a dispatcher also
        // checks opt-outs when it claims one).
        let ids: Vec<i64> =
            sql::query("SELECT call_id FROM sms WHERE phone_hash = $1 AND status = $2 AND claimed_at IS NULL")
                .bind(hash.as_str())
                .bind(SmsStatus::Queued.as_str())
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect();
        sms_cancelled += cancel_sms_of(tx, batch, &ids, "the patient replied STOP").await?.0;
        if calls_cancelled > 0 || sms_cancelled > 0 {
            batch.audit.push(Entry::new(
                batch.now,
                actor,
                "sms.optout_applied",
                subject,
                format!("calls_cancelled={calls_cancelled} sms_cancelled={sms_cancelled}"),
            ));
        }
        Ok(Ok(OptOutAnswer { recorded, calls_cancelled, sms_cancelled }))
    }
}
