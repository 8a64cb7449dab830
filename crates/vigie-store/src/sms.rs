//! Pre-call SMS in the store: the policy (which purposes announce their calls, when,
//! with which text, from whom), the planning the writer does for each allocation in its
//! batch, the outbox a dispatcher drains (claim, then record what the provider said),
//! delivery receipts, and the patients who replied STOP.
//!
//! An SMS is submitted at most once. A dispatcher claims due SMS in a transaction of its
//! own (`claimed_at`, `claimed_by`), submits them, then records the provider's message
//! ids. A claim that never got its answer recorded (the process died in between) is not
//! resent blindly: once older than [`CLAIM_TIMEOUT`], it ends as `failed` with the reason,
//! visible on its call and counted, unless a receipt for one of its message ids arrives.

use std::collections::HashMap;

use sqlx::{AssertSqlSafe, Connection, Row};
use vigie_core::{
    E164, FacilityId, Purpose, SenderChoice, SignedDuration, SmsFields, SmsPlan, SmsSender, SmsStatus, SmsTiming,
    Template, Territory, Timestamp, plan_sms,
};

use crate::audit::{self, Entry};
use crate::db::{Script, TextList, instant, list, micros, values};
use crate::error::StoreError;
use crate::sql::{self, Conn};
use crate::{Shared, Store};

/// How long a dispatcher's claim may wait for its provider's answer before the SMS is
/// taken as failed (never resent).
pub const CLAIM_TIMEOUT: SignedDuration = SignedDuration::from_mins(2);

/// One announced purpose's SMS.
#[derive(Debug, Clone)]
pub struct PurposeSms {
    /// When the SMS goes, and what to do in quiet hours.
    pub timing: SmsTiming,
    /// The text, unless the facility has its own.
    pub template: Template,
    /// Per-facility texts.
    pub facility_templates: HashMap<FacilityId, Template>,
    /// A call that cannot be announced is refused (409 `sms_announcement`, with the
    /// earliest `dial_at` that can be) rather than dialled unannounced.
    pub require_announcement: bool,
    /// A patient's STOP also stops this purpose's calls (409 `sms_stop`).
    pub stop_ends_calls: bool,
}

/// Which purposes announce their calls by SMS, and how.
#[derive(Debug, Clone)]
pub struct SmsPolicy {
    /// The announced purposes. Empty: no SMS at all.
    pub purposes: HashMap<Purpose, PurposeSms>,
    /// The sender per facility.
    pub senders: HashMap<FacilityId, SenderChoice>,
    /// The sender of facilities without their own: the caller number by default.
    pub default_sender: Option<SenderChoice>,
    /// A submitted SMS without a delivery receipt after this long ends as `expired`
    /// (counted, visible on its call); a delivery receipt arriving later still settles
    /// it as delivered.
    pub receipt_timeout: SignedDuration,
}

/// How long a submitted SMS waits for its receipt by default: a day.
pub const RECEIPT_TIMEOUT: SignedDuration = SignedDuration::from_hours(24);

impl Default for SmsPolicy {
    fn default() -> SmsPolicy {
        SmsPolicy {
            purposes: HashMap::new(),
            senders: HashMap::new(),
            default_sender: None,
            receipt_timeout: RECEIPT_TIMEOUT,
        }
    }
}

impl SmsPolicy {
    /// The sender for a facility's SMS.
    pub fn sender(&self, facility: &FacilityId) -> SenderChoice {
        self.senders.get(facility).or(self.default_sender.as_ref()).cloned().unwrap_or(SenderChoice::CallerNumber)
    }
}

/// A call's SMS as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsView {
    /// Where it is.
    pub status: SmsStatus,
    /// When it goes (or went).
    pub send_at: Timestamp,
    /// GSM-7 or UCS-2.
    pub encoding: String,
    /// Segments billed.
    pub segments: u32,
    /// When a provider accepted it.
    pub submitted_at: Option<Timestamp>,
    /// Why it failed, expired or was cancelled.
    pub error: Option<String>,
}

/// What the writer decided about a call's SMS before choosing its number.
#[derive(Debug, Clone)]
pub(crate) enum Announce {
    /// The purpose does not announce, or the patient opted out: no SMS.
    None,
    /// An SMS at this instant.
    At(Timestamp),
}

/// The data one batch needs for its SMS: the facilities' names and callback numbers,
/// and which of the batch's patients opted out.
#[derive(Debug, Default)]
pub(crate) struct SmsData {
    facilities: HashMap<String, (String, String)>,
    opted_out: std::collections::HashSet<String>,
}

impl SmsData {
    /// Reads what the batch's announced calls need, in two lookups.
    pub(crate) async fn prefetch(
        shared: &Shared,
        tx: &mut Conn<'_>,
        calls: &[&crate::model::NewCall],
    ) -> Result<SmsData, StoreError> {
        let mut data = SmsData::default();
        let announced: Vec<&&crate::model::NewCall> =
            calls.iter().filter(|c| shared.sms.purposes.contains_key(&c.purpose)).collect();
        if announced.is_empty() {
            return Ok(data);
        }
        let mut facilities: Vec<&str> = announced.iter().map(|c| c.facility.as_str()).collect();
        facilities.sort_unstable();
        facilities.dedup();
        let ids = TextList::new(shared.backend, facilities.iter().copied());
        let sql = format!("SELECT id, display_name, callback FROM facilities WHERE id {}", ids.sql(1));
        let q = ids.bind_to(sql::query(sql));
        for row in q.fetch_all(&mut *tx).await? {
            data.facilities.insert(row.get(0), (row.get(1), row.get(2)));
        }
        let mut hashes: Vec<String> =
            announced.iter().map(|c| shared.pseudonyms.optout_hash(c.patient_phone.as_str())).collect();
        hashes.sort_unstable();
        hashes.dedup();
        for part in hashes.chunks(500) {
            let hashes = TextList::new(shared.backend, part.iter().map(String::as_str));
            let sql = format!("SELECT hash FROM sms_optouts WHERE hash {}", hashes.sql(1));
            let q = hashes.bind_to(sql::query(sql));
            for row in q.fetch_all(&mut *tx).await? {
                data.opted_out.insert(row.get(0));
            }
        }
        Ok(data)
    }

    /// Decides a call's SMS before its number is chosen: refuses the call when the
    /// patient opted out of a purpose whose calls stop with its SMS, or when it cannot be
    /// announced and the purpose requires it.
    pub(crate) fn decide(
        &self,
        shared: &Shared,
        call: &crate::model::NewCall,
        now: Timestamp,
    ) -> Result<Announce, vigie_core::RuleRefusal> {
        let Some(p) = shared.sms.purposes.get(&call.purpose) else { return Ok(Announce::None) };
        // Only a mobile receives an SMS: a call to a landline goes unannounced (its
        // answer has no `sms_at`).
        if call.patient_phone.category() != vigie_core::NumberCategory::Mobile {
            return Ok(Announce::None);
        }
        if self.opted_out.contains(&shared.pseudonyms.optout_hash(call.patient_phone.as_str())) {
            if p.stop_ends_calls {
                return Err(vigie_core::RuleRefusal { rule: vigie_core::CallRule::SmsStop, next_allowed_at: None });
            }
            return Ok(Announce::None);
        }
        let refuse = |at: Option<Timestamp>| vigie_core::RuleRefusal {
            rule: vigie_core::CallRule::SmsAnnouncement,
            next_allowed_at: at,
        };
        match plan_sms(call.dial_at, now, Territory::of(&call.patient_phone), &p.timing) {
            SmsPlan::SendAt(t) => Ok(Announce::At(t)),
            SmsPlan::DialNotBefore(t) if p.require_announcement => Err(refuse(Some(t))),
            SmsPlan::CannotAnnounce(u) if p.require_announcement => Err(refuse(u.earliest_dial_at)),
            SmsPlan::DialNotBefore(_) | SmsPlan::CannotAnnounce(_) => Ok(Announce::None),
        }
    }

    /// Renders a call's SMS once its number is known and stages its row; the row finds
    /// its call by `call_ref` (after a script barrier, so that PostgreSQL sees the call).
    /// Returns the status and send instant for the call's answer, or why no SMS goes.
    #[allow(clippy::too_many_arguments)]
    /// `calls` is where the call is found by its call_ref: the table, or the part of
    /// the same script that inserts it (see `Script::returning_part`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn stage(
        &self,
        shared: &Shared,
        script: &mut Script,
        calls: &str,
        call: &crate::model::NewCall,
        caller: &E164,
        send_at: Timestamp,
        now: Timestamp,
    ) -> Result<(), String> {
        let Some(p) = shared.sms.purposes.get(&call.purpose) else { return Err("not announced".into()) };
        let Some((name, callback)) = self.facilities.get(call.facility.as_str()) else {
            return Err("unknown facility".into());
        };
        let callback = E164::parse(callback).map_err(|e| e.to_string())?;
        let template = p.facility_templates.get(&call.facility).unwrap_or(&p.template);
        let fields = SmsFields { facility: name, dial_at: call.dial_at, callback: &callback, caller };
        let rendered =
            template.render(&fields, &Territory::of(&call.patient_phone).time_zone()).map_err(|e| e.to_string())?;
        let sender = shared.sms.sender(&call.facility).resolve(caller).map_err(|e| e.to_string())?;
        let sender = match sender {
            SmsSender::Alphanumeric(id) => id.as_str().to_owned(),
            SmsSender::Number(n) => n.as_str().to_owned(),
        };
        let b = script.backend();
        let first = script.next_param();
        let sql = format!(
            "INSERT INTO sms (call_id, facility, purpose, status, planned_at, send_at, expires_at, sender, text, encoding, segments, phone_hash) \
             SELECT c.id, v.* FROM (SELECT {}) v, {calls} c WHERE c.call_ref = {}",
            (0..11).map(|k| format!("{} AS a{k}", b.placeholder(first + k))).collect::<Vec<_>>().join(", "),
            b.placeholder(first + 11)
        );
        script
            .bind(call.facility.as_str().to_owned())
            .bind(call.purpose.as_str().to_owned())
            .bind(SmsStatus::Queued.as_str())
            .bind(micros(now))
            .bind(micros(send_at))
            .bind(micros(call.dial_at))
            .bind(sender)
            .bind(rendered.text)
            .bind(rendered.length.encoding.as_str())
            .bind(i64::from(rendered.length.segments))
            .bind(shared.pseudonyms.optout_hash(call.patient_phone.as_str()))
            .bind(call.call_ref.clone());
        script.push(sql);
        Ok(())
    }
}

/// An SMS a dispatcher took to submit.
#[derive(Debug, Clone)]
pub struct DueSms {
    /// The SMS.
    pub id: i64,
    /// Its call.
    pub call_id: i64,
    /// The call's facility (its provider is chosen by facility).
    pub facility: FacilityId,
    /// The patient's phone, opened for the provider only.
    pub to: E164,
    /// The sender: an alphanumeric ID or a number.
    pub sender: String,
    /// The text.
    pub text: String,
    /// The call's dial time: an SMS not delivered by then is useless.
    pub expires_at: Timestamp,
}

/// What a provider said about a claimed SMS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitResult {
    /// Accepted: the provider's message ids (one per segment).
    Accepted {
        /// The provider's name.
        provider: String,
        /// Its message ids.
        message_ids: Vec<String>,
    },
    /// Not sent, and safe to try again (the provider was down, throttled).
    NotSent(String),
    /// Refused for good.
    Rejected(String),
    /// Perhaps sent: never resubmitted; receipts for the ids known may still come.
    Uncertain {
        /// The provider's name.
        provider: String,
        /// The ids the provider gave before the doubt.
        message_ids: Vec<String>,
        /// What went wrong.
        error: String,
    },
}

/// What a patient's reply did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyOutcome {
    /// The reply asked to stop.
    pub stop: bool,
    /// It was a new opt-out (not already recorded).
    pub recorded: bool,
    /// Calls not yet dialled that it cancelled.
    pub calls_cancelled: u32,
}

/// SMS counts per facility, purpose and status, for `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsCount {
    /// Facility.
    pub facility: String,
    /// Purpose.
    pub purpose: String,
    /// Status.
    pub status: String,
    /// SMS.
    pub count: u64,
    /// Segments.
    pub segments: u64,
}

/// Answer rate of announced and unannounced calls of a pool (the seed's lever).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnouncedRate {
    /// Pool.
    pub pool: String,
    /// Calls whose SMS was delivered.
    pub announced: bool,
    /// Calls with an outcome.
    pub calls: u64,
    /// Of which answered.
    pub answered: u64,
}

/// A duration as hours and minutes, for messages.
fn humanize(d: SignedDuration) -> String {
    let mins = d.as_secs() / 60;
    match (mins / 60, mins % 60) {
        (h, 0) => format!("{h} h"),
        (0, m) => format!("{m} min"),
        (h, m) => format!("{h} h {m} min"),
    }
}

/// Cancels an SMS not submitted yet, saying why.
async fn cancel(tx: &mut Conn<'_>, id: i64, now: Timestamp, why: &str) -> Result<(), StoreError> {
    sql::query("UPDATE sms SET status = $1, final_at = $2, error = $3 WHERE id = $4")
        .bind(SmsStatus::Cancelled.as_str())
        .bind(micros(now))
        .bind(why)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

impl Store {
    /// The SMS policy.
    pub fn sms_policy(&self) -> &SmsPolicy {
        &self.shared.sms
    }

    /// Claims up to `limit` SMS due at `now` for dispatcher `worker` and returns them
    /// with the patient's phone opened. An SMS whose call time has passed ends as
    /// `expired`, one whose patient opted out since it was planned as `cancelled`; both
    /// are not returned. Claims older than [`CLAIM_TIMEOUT`] without an answer end as
    /// `failed` first. Opening the phones is in the audit trail.
    pub async fn claim_due_sms(&self, worker: &str, now: Timestamp, limit: u32) -> Result<Vec<DueSms>, StoreError> {
        let backend = self.shared.backend;
        let mut conn = self.shared.pool.acquire().await?;
        let mut tx = conn.begin_with(backend.begin_write()).await?;
        sqlx::query(
            "UPDATE sms SET status = $1, final_at = $2, error = $3 WHERE status = $4 AND claimed_at IS NOT NULL AND claimed_at < $5",
        )
        .bind(SmsStatus::Failed.as_str())
        .bind(micros(now))
        .bind("submission outcome unknown (the dispatcher stopped while submitting); not sent again, to avoid a duplicate")
        .bind(SmsStatus::Queued.as_str())
        .bind(micros(now - CLAIM_TIMEOUT))
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE sms SET status = $1, final_at = $2, error = $3 WHERE status = $4 AND claimed_at IS NULL AND expires_at <= $2")
            .bind(SmsStatus::Expired.as_str())
            .bind(micros(now))
            .bind("not submitted before its call")
            .bind(SmsStatus::Queued.as_str())
            .execute(&mut *tx)
            .await?;
        let timeout = self.shared.sms.receipt_timeout;
        sqlx::query("UPDATE sms SET status = $1, final_at = $2, error = $3 WHERE status = $4 AND submitted_at < $5")
            .bind(SmsStatus::Expired.as_str())
            .bind(micros(now))
            .bind(format!("no delivery receipt within {}", humanize(timeout)))
            .bind(SmsStatus::Submitted.as_str())
            .bind(micros(now - timeout))
            .execute(&mut *tx)
            .await?;
        let lock = match backend {
            crate::Backend::Sqlite => "",
            crate::Backend::Postgres => " FOR UPDATE OF s SKIP LOCKED",
        };
        let sql = format!(
            "SELECT s.id, s.call_id, s.facility, c.patient_phone, s.sender, s.text, s.expires_at FROM sms s JOIN calls c ON c.id = s.call_id \
             WHERE s.status = $1 AND s.claimed_at IS NULL AND s.send_at <= $2 ORDER BY s.send_at LIMIT $3{lock}"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(SmsStatus::Queued.as_str())
            .bind(micros(now))
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await?;
        // The phones are opened here; the opt-outs since planning are read in one lookup.
        let mut open = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: i64 = row.get(0);
            let phone = String::from_utf8(self.shared.key.open(&row.get::<Vec<u8>, _>(3))?)
                .map_err(|e| StoreError::Corrupt(e.to_string()))
                .and_then(|p| E164::parse(&p).map_err(|e| StoreError::Corrupt(e.to_string())));
            match phone {
                Ok(to) => open.push((row, self.shared.pseudonyms.optout_hash(to.as_str()), to)),
                // An erased patient: nothing to send to.
                Err(_) => cancel(&mut Conn::Any(&mut tx), id, now, "the patient was erased").await?,
            }
        }
        let mut opted_out = std::collections::HashSet::new();
        if !open.is_empty() {
            let sql = format!("SELECT hash FROM sms_optouts WHERE hash IN ({})", list(backend, open.len(), 1));
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for (_, hash, _) in &open {
                q = q.bind(hash.as_str());
            }
            opted_out.extend(q.fetch_all(&mut *tx).await?.iter().map(|r| r.get::<String, _>(0)));
        }
        let mut due = Vec::with_capacity(open.len());
        let mut entries = Vec::new();
        for (row, hash, to) in open {
            let id: i64 = row.get(0);
            if opted_out.contains(&hash) {
                cancel(&mut Conn::Any(&mut tx), id, now, "the patient replied STOP").await?;
                continue;
            }
            let call_id: i64 = row.get(1);
            entries.push(Entry::new(now, worker, "sms.send", format!("call-id:{call_id}"), format!("sms_id={id}")));
            due.push(DueSms {
                id,
                call_id,
                facility: FacilityId::parse(&row.get::<String, _>(2))
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                to,
                sender: row.get(4),
                text: row.get(5),
                expires_at: instant(row.get(6))?,
            });
        }
        if !due.is_empty() {
            let sql = format!(
                "UPDATE sms SET claimed_at = {}, claimed_by = {} WHERE id IN ({})",
                backend.placeholder(1),
                backend.placeholder(2),
                list(backend, due.len(), 3)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql)).bind(micros(now)).bind(worker);
            for d in &due {
                q = q.bind(d.id);
            }
            q.execute(&mut *tx).await?;
        }
        audit::append(&mut tx, backend, &entries).await?;
        tx.commit().await?;
        Ok(due)
    }

    /// Records what the provider said about a claimed SMS.
    pub async fn record_sms_submission(
        &self,
        id: i64,
        result: &SubmitResult,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let backend = self.shared.backend;
        let mut conn = self.shared.pool.acquire().await?;
        let mut tx = conn.begin_with(backend.begin_write()).await?;
        let (status, provider, ids, error, unclaim) = match result {
            SubmitResult::Accepted { provider, message_ids } => {
                (SmsStatus::Submitted, Some(provider), message_ids.as_slice(), None, false)
            }
            SubmitResult::NotSent(e) => (SmsStatus::Queued, None, &[][..], Some(e.as_str()), true),
            SubmitResult::Rejected(e) => (SmsStatus::Failed, None, &[][..], Some(e.as_str()), false),
            SubmitResult::Uncertain { provider, message_ids, error } if !message_ids.is_empty() => {
                (SmsStatus::Submitted, Some(provider), message_ids.as_slice(), Some(error.as_str()), false)
            }
            SubmitResult::Uncertain { provider, error, .. } => {
                (SmsStatus::Failed, Some(provider), &[][..], Some(error.as_str()), false)
            }
        };
        if unclaim {
            sqlx::query(
                "UPDATE sms SET claimed_at = NULL, claimed_by = NULL, error = $1 WHERE id = $2 AND status = $3",
            )
            .bind(error)
            .bind(id)
            .bind(SmsStatus::Queued.as_str())
            .execute(&mut *tx)
            .await?;
        } else {
            let final_at = status.is_final().then_some(micros(now));
            sqlx::query(
                "UPDATE sms SET status = $1, provider = $2, submitted_at = $3, final_at = $4, error = $5 WHERE id = $6 AND status = $7",
            )
            .bind(status.as_str())
            .bind(provider.map(String::as_str))
            .bind((status == SmsStatus::Submitted).then_some(micros(now)))
            .bind(final_at)
            .bind(error)
            .bind(id)
            .bind(SmsStatus::Queued.as_str())
            .execute(&mut *tx)
            .await?;
            if let Some(provider) = provider {
                for chunk in ids.chunks(300) {
                    let sql = format!(
                        "INSERT INTO sms_messages (provider, message_id, sms_id) VALUES {} ON CONFLICT DO NOTHING",
                        values(backend, chunk.len(), 3, 1)
                    );
                    let mut q = sqlx::query(AssertSqlSafe(sql));
                    for m in chunk {
                        q = q.bind(provider.as_str()).bind(m.as_str()).bind(id);
                    }
                    q.execute(&mut *tx).await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Applies a delivery receipt: the SMS of `message_id` at `provider` moves to
    /// `status` (delivered, failed or expired). Returns `false` for a message this
    /// store does not know (logged by the caller, never an error).
    pub async fn sms_receipt(
        &self,
        provider: &str,
        message_id: &str,
        status: SmsStatus,
        error: Option<&str>,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT sms_id FROM sms_messages WHERE provider = $1 AND message_id = $2")
            .bind(provider)
            .bind(message_id)
            .fetch_optional(&self.shared.pool)
            .await?;
        let Some(row) = row else { return Ok(false) };
        let id: i64 = row.get(0);
        // The statuses the receipt may settle, by the core's transitions: a receipt
        // settles an SMS that was submitted (or is still being recorded as such), and a
        // delivery also one whose claim ended as unknown or whose receipt came late.
        let from: Vec<SmsStatus> = SmsStatus::ALL.iter().copied().filter(|s| s.can_become(status)).collect();
        // Numbered placeholders throughout: SQLite numbers a plain `?` from 1 whatever
        // came before it.
        let statuses: Vec<String> = (5..5 + from.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "UPDATE sms SET status = $1, final_at = $2, error = $3 WHERE id = $4 AND status IN ({})",
            statuses.join(",")
        );
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(status.as_str()).bind(micros(now)).bind(error).bind(id);
        for s in &from {
            q = q.bind(s.as_str());
        }
        q.execute(&self.shared.pool).await?;
        Ok(true)
    }

    /// A patient's reply to an SMS: STOP (and its French forms) records a durable
    /// opt-out, in the audit trail; the patient gets no further SMS, and their calls of
    /// the purposes that stop with their SMS are cancelled and refused from now on.
    pub async fn sms_reply(&self, from: &E164, text: &str) -> Result<ReplyOutcome, StoreError> {
        if !vigie_core::is_stop_reply(text) {
            return Ok(ReplyOutcome { stop: false, recorded: false, calls_cancelled: 0 });
        }
        let done = self.record_sms_optout(from, "sms_reply", "patient").await?;
        Ok(ReplyOutcome { stop: true, recorded: done.recorded, calls_cancelled: done.calls_cancelled })
    }

    /// When the patient of `phone` opted out of SMS, and how; read in the audit trail.
    pub async fn sms_optout(&self, phone: &E164, actor: &str) -> Result<Option<(Timestamp, String)>, StoreError> {
        let hash = self.shared.pseudonyms.optout_hash(phone.as_str());
        let row = sqlx::query("SELECT at, source FROM sms_optouts WHERE hash = $1")
            .bind(hash.as_str())
            .fetch_optional(&self.shared.pool)
            .await?;
        self.append_audit(Entry::new(self.now(), actor, "sms.optout_read", format!("optout:{}", &hash[..16]), ""))
            .await?;
        row.map(|r| Ok((instant(r.get(0))?, r.get(1)))).transpose()
    }

    /// The SMS of a call, if it has one.
    pub async fn call_sms(&self, call_id: i64) -> Result<Option<SmsView>, StoreError> {
        let row = sqlx::query(
            "SELECT status, send_at, encoding, segments, submitted_at, error FROM sms WHERE call_id = $1 ORDER BY id DESC LIMIT 1",
        )
        .bind(call_id)
        .fetch_optional(&self.shared.pool)
        .await?;
        row.map(|r| {
            Ok(SmsView {
                status: SmsStatus::parse(&r.get::<String, _>(0)).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                send_at: instant(r.get(1))?,
                encoding: r.get(2),
                segments: u32::try_from(r.get::<i64, _>(3)).unwrap_or_default(),
                submitted_at: r.get::<Option<i64>, _>(4).map(instant).transpose()?,
                error: r.get(5),
            })
        })
        .transpose()
    }

    /// SMS per facility, purpose and status, with their segments.
    pub async fn sms_counts(&self) -> Result<Vec<SmsCount>, StoreError> {
        let rows = sqlx::query(
            "SELECT facility, purpose, status, COUNT(*), CAST(SUM(segments) AS BIGINT) FROM sms GROUP BY facility, purpose, status ORDER BY facility, purpose, status",
        )
        .fetch_all(&self.shared.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| SmsCount {
                facility: r.get(0),
                purpose: r.get(1),
                status: r.get(2),
                count: u64::try_from(r.get::<i64, _>(3)).unwrap_or_default(),
                segments: u64::try_from(r.get::<Option<i64>, _>(4).unwrap_or_default()).unwrap_or_default(),
            })
            .collect())
    }

    /// The answer rate of calls whose SMS was delivered against the others, per pool,
    /// over the calls dialled since `since` that have an outcome.
    pub async fn announced_answer_rates(&self, since: Timestamp) -> Result<Vec<AnnouncedRate>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.pool, CASE WHEN EXISTS (SELECT 1 FROM sms s WHERE s.call_id = c.id AND s.status = 'delivered') THEN 1 ELSE 0 END AS announced, \
             COUNT(*), SUM(CASE WHEN c.outcome = 'answered' THEN 1 ELSE 0 END) FROM calls c \
             WHERE c.outcome IS NOT NULL AND c.dial_at >= $1 GROUP BY c.pool, announced ORDER BY c.pool, announced",
        )
        .bind(micros(since))
        .fetch_all(&self.shared.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| AnnouncedRate {
                pool: r.get(0),
                announced: r.get::<i64, _>(1) == 1,
                calls: u64::try_from(r.get::<i64, _>(2)).unwrap_or_default(),
                answered: u64::try_from(r.get::<Option<i64>, _>(3).unwrap_or_default()).unwrap_or_default(),
            })
            .collect())
    }
}
