//! Data protection: the GDPR Art. 9(2) basis recorded with each call, data key
//! rotation, retention purges, and a patient's rights of access (Article 15) and
//! erasure (Article 17).
//!
//! Each of these works in small batches, every batch its own short write transaction
//! outside the allocation writer, so that a running server is never held up for long:
//! none of them changes what the allocation engine decides on (the per-day counters
//! `number_days` and `pool_days`, the rests and the numbers are left as they are).

use std::collections::BTreeMap;

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Connection, Row};
use vigie_core::{E164, FacilityId, InvalidField, Outcome, PoolCode, Purpose, PurposeClass, SignedDuration, Timestamp};

use crate::Store;
use crate::audit::{self, Entry};
use crate::compliance::{self, Consent, Opposition, OppositionKind};
use crate::crypto::{CryptoError, KeyRing, PSEUDONYM_PREFIX, PseudonymKey};
use crate::db::{Backend, instant, micros};
use crate::error::StoreError;
use crate::model::{CallRecord, OutcomeReport};
use crate::patients::CallsOf;
use crate::sql::Conn;

/// What replaces the pseudonym of an erased patient in `calls.patient_ref`.
pub const ERASED: &str = "erased";

/// Rows one purge or rotation transaction handles at most.
const BATCH_ROWS: i64 = 1_000;
/// Audit entries one purge transaction removes at most.
const AUDIT_BATCH: i64 = 5_000;
/// Calls one export returns at most.
const EXPORT_CALLS_MAX: i64 = 10_000;

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

// ----- legal bases -----

/// The GDPR Article 9(2) exception under which a call processes health data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LegalBasis {
    /// 9(2)(a): the patient's explicit consent.
    ExplicitConsent,
    /// 9(2)(c): the vital interests of the patient.
    VitalInterests,
    /// 9(2)(h): provision of care under the responsibility of a professional bound by
    /// secrecy.
    Care,
    /// 9(2)(i): public health (for example quality of care).
    PublicHealth,
}

impl LegalBasis {
    /// Every basis.
    pub const ALL: &'static [LegalBasis] =
        &[LegalBasis::ExplicitConsent, LegalBasis::VitalInterests, LegalBasis::Care, LegalBasis::PublicHealth];

    /// Its stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            LegalBasis::ExplicitConsent => "art9_2_a_consent",
            LegalBasis::VitalInterests => "art9_2_c_vital_interests",
            LegalBasis::Care => "art9_2_h_care",
            LegalBasis::PublicHealth => "art9_2_i_public_health",
        }
    }

    /// Reads a name.
    pub fn parse(text: &str) -> Result<LegalBasis, InvalidField> {
        LegalBasis::ALL.iter().copied().find(|b| b.as_str() == text).ok_or_else(|| {
            let names: Vec<&str> = LegalBasis::ALL.iter().map(|b| b.as_str()).collect();
            InvalidField::new("legal_basis", format!("must be one of: {}", names.join(", ")))
        })
    }
}

/// Which basis each purpose's calls are recorded under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegalBases {
    default: LegalBasis,
    by_purpose: BTreeMap<Purpose, LegalBasis>,
}

impl Default for LegalBases {
    /// Care (9(2)(h)) for every purpose, except satisfaction surveys, which are not care
    /// and rest on the patient's consent (9(2)(a)). Both are assumptions for the centre's
    /// DPO to confirm (README, "Data protection").
    fn default() -> LegalBases {
        let survey = Purpose::parse("satisfaction_survey").map(|p| (p, LegalBasis::ExplicitConsent));
        LegalBases { default: LegalBasis::Care, by_purpose: survey.into_iter().collect() }
    }
}

impl LegalBases {
    /// `default` for every purpose not in `by_purpose`.
    pub fn new(default: LegalBasis, by_purpose: BTreeMap<Purpose, LegalBasis>) -> LegalBases {
        LegalBases { default, by_purpose }
    }

    /// The basis of a purpose's calls.
    pub fn for_purpose(&self, purpose: &Purpose) -> LegalBasis {
        self.by_purpose.get(purpose).copied().unwrap_or(self.default)
    }
}

/// A stored basis (`NULL` for calls stored before bases were recorded).
pub(crate) fn stored_basis(text: Option<String>) -> Result<Option<LegalBasis>, StoreError> {
    text.map(|t| LegalBasis::parse(&t).map_err(corrupt)).transpose()
}

/// A stored purpose class (`NULL` for calls stored before classes were recorded).
pub(crate) fn stored_class(text: Option<String>) -> Result<Option<PurposeClass>, StoreError> {
    text.map(|t| PurposeClass::parse(&t).map_err(corrupt)).transpose()
}

/// A stored patient phone, opened; `None` once erased.
pub(crate) fn open_phone(keys: &KeyRing, sealed: &[u8]) -> Result<Option<E164>, StoreError> {
    match keys.open(sealed) {
        Err(CryptoError::Erased) => Ok(None),
        Err(e) => Err(e.into()),
        Ok(plain) => {
            let text = String::from_utf8(plain).map_err(corrupt)?;
            Ok(Some(E164::parse(&text).map_err(corrupt)?))
        }
    }
}

// ----- retention -----

/// How long each kind of record is kept, in days. Per-day counters (`number_days`,
/// `pool_days`), rests and number histories hold no patient data and are kept. What an
/// erasure keeps for the calling rules (attempts, refusals) goes once the rules no
/// longer look at it (the attempts window and the refusal cooldown, plus two days); the
/// end of an erased patient's consents, an opposition, is kept as long as consents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Calls, with their outcomes and sealed phones, after their `dial_at` (the patient
    /// affinities, read from the calls, go with them).
    pub calls_days: u32,
    /// Spam reports, after `reported_at`.
    pub reports_days: u32,
    /// Audit entries (every decision and every access to patient data), after `at`.
    pub audit_days: u32,
    /// Consent records (with their wording and proof), after they stopped covering
    /// calls: their withdrawal, or else their last use by a solicitation call (or when
    /// they were given, if never used); also the end of an erased patient's consents.
    pub consents_days: u32,
}

impl Default for Retention {
    fn default() -> Retention {
        Retention { calls_days: 365, reports_days: 365, audit_days: 6 * 365, consents_days: 3 * 365 }
    }
}

/// The shortest call retention: the solicitation rules look back 60 days (no call for
/// 60 days after a refusal) and 30 days (attempts per person).
pub(crate) const CALLS_DAYS_MIN: u32 = 60;
/// The longest retention accepted, so that a typo does not mean "forever".
pub(crate) const RETENTION_DAYS_MAX: u32 = 36_500;

impl Retention {
    /// Checks the bounds: calls at least 60 days, audit at least as long as calls (the
    /// trail must outlive what it documents), everything at least a day and at most a
    /// century.
    pub fn validate(&self) -> Result<(), InvalidField> {
        for (field, days) in [
            ("calls_days", self.calls_days),
            ("reports_days", self.reports_days),
            ("audit_days", self.audit_days),
            ("consents_days", self.consents_days),
        ] {
            if !(1..=RETENTION_DAYS_MAX).contains(&days) {
                return Err(InvalidField::new(field, format!("must be 1 to {RETENTION_DAYS_MAX} days")));
            }
        }
        if self.calls_days < CALLS_DAYS_MIN {
            return Err(InvalidField::new(
                "calls_days",
                format!("must be at least {CALLS_DAYS_MIN} days: the solicitation rules look back 60 days"),
            ));
        }
        if self.audit_days < self.calls_days {
            return Err(InvalidField::new("audit_days", "must be at least calls_days: the trail outlives the calls"));
        }
        Ok(())
    }
}

/// What a purge removed (or, in a dry run, would remove), per kind of record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeReport {
    /// Nothing was removed: the figures are what a purge would remove now.
    pub dry_run: bool,
    /// Calls dialled before `calls_before`.
    pub calls: u64,
    /// Reports made before `reports_before`.
    pub reports: u64,
    /// Audit entries of the chain's prefix written before `audit_before`.
    pub audit: u64,
    /// Consent records that stopped covering calls before `consents_before`.
    pub consents: u64,
    /// Opposition records kept by erasures that the rules no longer need: attempts and
    /// refusals past the window and the cooldown, consents' ends before
    /// `consents_before`.
    pub oppositions: u64,
    /// The cutoff for calls.
    pub calls_before: Timestamp,
    /// The cutoff for reports.
    pub reports_before: Timestamp,
    /// The cutoff for audit entries.
    pub audit_before: Timestamp,
    /// The cutoff for consent records and consents' ends.
    pub consents_before: Timestamp,
}

// ----- key rotation -----

/// What a pass of data key rotation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotationStep {
    /// The last call id looked at; `None` when no call follows the id the step started
    /// after (the pass is over).
    pub last_id: Option<i64>,
    /// Calls looked at.
    pub scanned: u64,
    /// Phones re-sealed with the active key, by the id of the key they were sealed with.
    pub rewritten: BTreeMap<u8, u64>,
    /// Phones sealed with a key the ring does not hold (or damaged), by key id: they are
    /// left as they are.
    pub unreadable: BTreeMap<u8, u64>,
}

impl RotationStep {
    fn absorb(&mut self, other: RotationStep) {
        self.last_id = other.last_id.or(self.last_id);
        self.scanned += other.scanned;
        for (k, n) in other.rewritten {
            *self.rewritten.entry(k).or_default() += n;
        }
        for (k, n) in other.unreadable {
            *self.unreadable.entry(k).or_default() += n;
        }
    }
}

// ----- patient rights -----

/// A pool's remembered number for a patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientAffinity {
    /// The pool.
    pub pool: PoolCode,
    /// The number that last called the patient for it, if still in the inventory.
    pub number: Option<E164>,
    /// When that call was dialled.
    pub at: Timestamp,
}

/// Everything stored about one patient (Article 15).
#[derive(Debug, Clone)]
pub struct PatientExport {
    /// The pseudonym the patient's reference is stored as.
    pub pseudonym: String,
    /// The patient's calls, oldest first, with their phones opened.
    pub calls: Vec<CallRecord>,
    /// The numbers remembered for the patient.
    pub affinities: Vec<PatientAffinity>,
    /// More calls than one export returns (10,000) are stored.
    pub truncated: bool,
    /// The patient's consent records, oldest first, with their wording and proof.
    pub consents: Vec<Consent>,
    /// What an earlier erasure kept for the calling rules, oldest first.
    pub oppositions: Vec<Opposition>,
    /// The pre-call SMS sent or planned to the patient, with their text, oldest first.
    pub sms: Vec<PatientSms>,
    /// The patient's SMS opt-outs (STOP), for the phones of their calls: when, and how.
    pub sms_optouts: Vec<(Timestamp, String)>,
}

/// One pre-call SMS of a patient's call, as exported (Article 15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientSms {
    /// The call it announces.
    pub call_id: i64,
    /// Where it is (`queued`, `submitted`, `delivered`, `failed`, `expired`, `cancelled`).
    pub status: String,
    /// When it was to go.
    pub send_at: Timestamp,
    /// The sender shown.
    pub sender: String,
    /// The text, as sent.
    pub text: String,
    /// When a provider accepted it.
    pub submitted_at: Option<Timestamp>,
    /// When it reached its final status.
    pub final_at: Option<Timestamp>,
    /// Why it failed, expired or was cancelled.
    pub error: Option<String>,
}

/// What an erasure changed (Article 17).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erasure {
    /// The pseudonym that was erased.
    pub pseudonym: String,
    /// Calls whose phone, reference, `call_ref` and agent note were erased.
    pub calls: u64,
    /// Affinities removed.
    pub affinities: u64,
    /// Consent records removed (wording, method, proof).
    pub consents: u64,
    /// Opposition records kept so that the calling rules still honour the patient's
    /// choices (attempts, refusals, consents' ends).
    pub oppositions: u64,
}

const CALL_COLUMNS: &str = "SELECT c.id, c.call_ref, c.facility, c.purpose, c.pool, c.patient_ref, c.patient_phone, c.dial_at, \
     n.e164, n.display_name, c.created_at, c.reassigned_at, c.outcome, c.duration_s, c.ended_at, c.ring_s, c.sip_code, \
     c.agent_note, c.legal_basis, c.class, c.refused_at, c.cancelled_at, c.cancel_reason FROM calls c LEFT JOIN numbers n ON n.id = c.number_id";

fn call_record(r: &AnyRow, keys: &KeyRing) -> Result<CallRecord, StoreError> {
    let number: Option<String> = r.get(8);
    let outcome = match r.get::<Option<String>, _>(12) {
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
    Ok(CallRecord {
        id: r.get(0),
        call_ref: r.get(1),
        facility: FacilityId::parse(&r.get::<String, _>(2)).map_err(corrupt)?,
        purpose: Purpose::parse(&r.get::<String, _>(3)).map_err(corrupt)?,
        pool: PoolCode::parse(&r.get::<String, _>(4)).map_err(corrupt)?,
        patient_ref: r.get(5),
        patient_phone: open_phone(keys, &r.get::<Vec<u8>, _>(6))?,
        dial_at: instant(r.get(7))?,
        caller_number: number.map(|n| E164::parse(&n)).transpose().map_err(corrupt)?,
        display_name: r.get(9),
        created_at: instant(r.get(10))?,
        reassigned_at: r.get::<Option<i64>, _>(11).map(instant).transpose()?,
        outcome,
        legal_basis: stored_basis(r.get(18))?,
        class: stored_class(r.get(19))?,
        solicitation_refused_at: r.get::<Option<i64>, _>(20).map(instant).transpose()?,
        cancelled: match r.get::<Option<i64>, _>(21) {
            Some(at) => Some((instant(at)?, r.get::<Option<String>, _>(22).unwrap_or_default())),
            None => None,
        },
    })
}

/// Refuses a pseudonym key other than the one the database was first opened with. The
/// first time a key is given, references stored before pseudonymisation existed are
/// pseudonymised, in the same transaction.
pub(crate) async fn check_pseudonym_key(
    pool: &AnyPool,
    backend: Backend,
    key: &PseudonymKey,
    now: Timestamp,
) -> Result<(), StoreError> {
    let mut conn = pool.acquire().await?;
    let mut tx = conn.begin_with(backend.begin_write()).await?;
    let fingerprint = key.fingerprint();
    let first = sqlx::query(
        "INSERT INTO privacy_keys (name, fingerprint, created_at) VALUES ('pseudonym', $1, $2) ON CONFLICT (name) DO NOTHING",
    )
    .bind(fingerprint.as_str())
    .bind(micros(now))
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !first {
        let stored: String = sqlx::query("SELECT fingerprint FROM privacy_keys WHERE name = 'pseudonym'")
            .fetch_one(&mut *tx)
            .await?
            .get(0);
        if stored != fingerprint {
            return Err(StoreError::Invalid(InvalidField::new(
                "pseudonym_key",
                "is not the key this database's patient references were pseudonymised with (VIGIE_PSEUDONYM_KEY)",
            )));
        }
        return Ok(());
    }
    let legacy = format!("{PSEUDONYM_PREFIX}%");
    let calls = sqlx::query("SELECT id, patient_ref FROM calls WHERE patient_ref NOT LIKE $1 AND patient_ref <> $2")
        .bind(legacy.as_str())
        .bind(ERASED)
        .fetch_all(&mut *tx)
        .await?;
    for r in &calls {
        sqlx::query("UPDATE calls SET patient_ref = $1 WHERE id = $2")
            .bind(key.pseudonym(&r.get::<String, _>(1)))
            .bind(r.get::<i64, _>(0))
            .execute(&mut *tx)
            .await?;
    }
    if !calls.is_empty() {
        let detail = format!("calls={}", calls.len());
        audit::append(&mut tx, backend, &[Entry::new(now, "vigie", "privacy.pseudonymise", "patients", detail)])
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Runs `sql` (a batch `DELETE` bound to its cutoffs, then the batch size) until it
/// removes fewer rows than a batch, each run its own transaction. Returns the rows
/// removed.
async fn delete_in_batches(store: &Store, sql: &str, cutoffs: &[Timestamp]) -> Result<u64, StoreError> {
    let mut removed = 0;
    loop {
        let mut conn = store.shared.pool.acquire().await?;
        let mut tx = conn.begin_with(store.shared.backend.begin_write()).await?;
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for cutoff in cutoffs {
            q = q.bind(micros(*cutoff));
        }
        let n = q.bind(BATCH_ROWS).execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        removed += n;
        if n < BATCH_ROWS as u64 {
            return Ok(removed);
        }
        tokio::task::yield_now().await;
    }
}

async fn count(store: &Store, sql: &str, cutoffs: &[Timestamp]) -> Result<u64, StoreError> {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for cutoff in cutoffs {
        q = q.bind(micros(*cutoff));
    }
    let n: i64 = q.fetch_one(&store.shared.pool).await?.get(0);
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The consent records that stopped covering calls before the cutoff (bound as `$1`,
/// `$2`, `$3`): withdrawn before it, or in force but neither given nor used by a
/// solicitation call since (the last use recorded, or a call still stored).
fn expired_consents() -> String {
    format!(
        "(withdrawn_at IS NOT NULL AND withdrawn_at < $1) OR (withdrawn_at IS NULL AND COALESCE(last_used_at, given_at) < $2 \
         AND NOT EXISTS (SELECT 1 FROM calls c WHERE c.patient_ref = consents.patient_ref AND c.facility = consents.facility \
         AND c.class IN ({}) AND c.dial_at >= $3))",
        compliance::solicitation_classes_sql()
    )
}

/// The opposition records the rules no longer need (cutoffs bound as `$1` for attempts,
/// `$2` for refusals, `$3` for consents' ends).
fn expired_oppositions() -> String {
    format!(
        "(kind = '{}' AND at < $1) OR (kind = '{}' AND at < $2) OR (kind = '{}' AND at < $3)",
        OppositionKind::Attempt.as_str(),
        OppositionKind::Refusal.as_str(),
        OppositionKind::ConsentEnded.as_str()
    )
}

/// The first audit entry to keep: the first, from the anchor on, written at or after
/// `before` (entries are written in order, give or take clock skew between servers, and
/// only a prefix is ever removed), or the next entry to be written when none is.
async fn first_kept_audit(tx: &mut AnyConnection, before: Timestamp) -> Result<(i64, i64), StoreError> {
    let anchor: i64 = sqlx::query("SELECT seq FROM audit_anchor WHERE id = 1").fetch_one(&mut *tx).await?.get(0);
    let head: i64 = sqlx::query("SELECT seq FROM audit_head WHERE id = 1").fetch_one(&mut *tx).await?.get(0);
    let rows = sqlx::query("SELECT seq, at FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT $2")
        .bind(anchor)
        .bind(AUDIT_BATCH)
        .fetch_all(&mut *tx)
        .await?;
    let cutoff = micros(before);
    let kept = rows.iter().find(|r| r.get::<i64, _>(1) >= cutoff).map(|r| r.get::<i64, _>(0));
    let kept = match (kept, rows.last()) {
        (Some(seq), _) => seq,
        // A whole batch is older: remove it and look again.
        (None, Some(last)) if rows.len() as i64 == AUDIT_BATCH => last.get::<i64, _>(0) + 1,
        _ => head + 1,
    };
    Ok((anchor, kept))
}

impl Store {
    /// The pseudonym a patient reference is stored as.
    pub fn pseudonym(&self, patient_ref: &str) -> String {
        self.shared.pseudonyms.pseudonym(patient_ref)
    }

    /// The data keys' ids and the active one.
    pub fn key_ring(&self) -> &KeyRing {
        &self.shared.key
    }

    /// Re-seals, with the active data key, the patient phones of up to `limit` calls
    /// after call id `after_id` that another key sealed, in one short transaction. A
    /// phone changed meanwhile (erased, or rotated by another process) is left alone.
    pub async fn rotate_data_key_step(&self, after_id: i64, limit: u32) -> Result<RotationStep, StoreError> {
        let rows = sqlx::query("SELECT id, patient_phone FROM calls WHERE id > $1 ORDER BY id LIMIT $2")
            .bind(after_id)
            .bind(i64::from(limit.clamp(1, 10_000)))
            .fetch_all(&self.shared.pool)
            .await?;
        let ring = &self.shared.key;
        let mut step =
            RotationStep { last_id: rows.last().map(|r| r.get(0)), scanned: rows.len() as u64, ..Default::default() };
        let mut updates = Vec::new();
        for r in &rows {
            let sealed: Vec<u8> = r.get(1);
            let Some(id) = KeyRing::key_id(&sealed).filter(|k| *k != ring.active_id()) else { continue };
            match ring.open(&sealed) {
                Ok(plain) => updates.push((r.get::<i64, _>(0), id, ring.seal(&plain), sealed)),
                Err(_) => *step.unreadable.entry(id).or_default() += 1,
            }
        }
        if updates.is_empty() {
            return Ok(step);
        }
        let mut conn = self.shared.pool.acquire().await?;
        let mut tx = conn.begin_with(self.shared.backend.begin_write()).await?;
        for (call_id, key_id, new, old) in &updates {
            let n = sqlx::query("UPDATE calls SET patient_phone = $1 WHERE id = $2 AND patient_phone = $3")
                .bind(new.as_slice())
                .bind(*call_id)
                .bind(old.as_slice())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 1 {
                *step.rewritten.entry(*key_id).or_default() += 1;
            }
        }
        tx.commit().await?;
        Ok(step)
    }

    /// Re-seals every patient phone not sealed with the active data key, `batch` calls
    /// per transaction, from the first call to the last; `progress` sees each step.
    /// Idempotent, and resumable from any point: run it again until it rewrites nothing.
    /// The run is written to the audit trail.
    pub async fn rotate_data_key(
        &self,
        batch: u32,
        actor: &str,
        mut progress: impl FnMut(&RotationStep),
    ) -> Result<RotationStep, StoreError> {
        let mut total = RotationStep::default();
        let mut after = 0;
        loop {
            let step = self.rotate_data_key_step(after, batch).await?;
            progress(&step);
            let Some(last) = step.last_id else { break };
            after = last;
            total.absorb(step);
            tokio::task::yield_now().await;
        }
        let list = |m: &BTreeMap<u8, u64>| m.iter().map(|(k, n)| format!("{k}:{n}")).collect::<Vec<_>>().join(",");
        let detail = format!(
            "active={} scanned={} rewritten_by_key={} unreadable_by_key={}",
            self.shared.key.active_id(),
            total.scanned,
            list(&total.rewritten),
            list(&total.unreadable)
        );
        let entry = Entry::new(
            self.now(),
            actor,
            "data_key.rotate",
            format!("data-key:{}", self.shared.key.active_id()),
            detail,
        );
        self.append_audit(entry).await?;
        Ok(total)
    }

    pub(crate) async fn append_audit(&self, entry: Entry) -> Result<(), StoreError> {
        let mut conn = self.shared.pool.acquire().await?;
        let mut tx = conn.begin_with(self.shared.backend.begin_write()).await?;
        audit::append(&mut tx, self.shared.backend, &[entry]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes what `retention` no longer allows at `now`: calls (with their outcomes,
    /// sealed phones and the affinities read from them), reports, consent records, the opposition records
    /// the calling rules no longer need, and the audit chain's oldest entries (a prefix
    /// only, leaving an anchor so that the rest still verifies). In batches, each its own
    /// short transaction. A dry run counts and removes nothing. The purge is written to
    /// the audit trail.
    pub async fn purge(
        &self,
        retention: &Retention,
        now: Timestamp,
        dry_run: bool,
        actor: &str,
    ) -> Result<PurgeReport, StoreError> {
        retention.validate()?;
        let before = |days: u32| now - SignedDuration::from_hours(24 * i64::from(days));
        let mut report = PurgeReport {
            dry_run,
            calls: 0,
            reports: 0,
            audit: 0,
            consents: 0,
            oppositions: 0,
            calls_before: before(retention.calls_days),
            reports_before: before(retention.reports_days),
            audit_before: before(retention.audit_days),
            consents_before: before(retention.consents_days),
        };
        let consents_cutoffs = [report.consents_before; 3];
        let rules = &self.shared.compliance;
        let opposition_cutoffs =
            [now - rules.attempts_lookback(), now - rules.refusals_lookback(), report.consents_before];
        if dry_run {
            report.calls = count(self, "SELECT COUNT(*) FROM calls WHERE dial_at < $1", &[report.calls_before]).await?;
            report.reports =
                count(self, "SELECT COUNT(*) FROM reports WHERE reported_at < $1", &[report.reports_before]).await?;
            let sql = format!("SELECT COUNT(*) FROM consents WHERE {}", expired_consents());
            report.consents = count(self, &sql, &consents_cutoffs).await?;
            let sql = format!("SELECT COUNT(*) FROM oppositions WHERE {}", expired_oppositions());
            report.oppositions = count(self, &sql, &opposition_cutoffs).await?;
            let anchor: i64 =
                sqlx::query("SELECT seq FROM audit_anchor WHERE id = 1").fetch_one(&self.shared.pool).await?.get(0);
            let head: i64 =
                sqlx::query("SELECT seq FROM audit_head WHERE id = 1").fetch_one(&self.shared.pool).await?.get(0);
            let kept: Option<i64> = sqlx::query("SELECT MIN(seq) FROM audit_log WHERE at >= $1")
                .bind(micros(report.audit_before))
                .fetch_one(&self.shared.pool)
                .await?
                .get(0);
            report.audit = u64::try_from(kept.unwrap_or(head + 1) - anchor).unwrap_or(0);
            return Ok(report);
        }
        // Consents first, their last use read from the calls before any call goes.
        self.record_consent_use().await?;
        let sql = format!(
            "DELETE FROM consents WHERE id IN (SELECT id FROM consents WHERE {} ORDER BY id LIMIT $4)",
            expired_consents()
        );
        report.consents = delete_in_batches(self, &sql, &consents_cutoffs).await?;
        let sql = format!(
            "DELETE FROM oppositions WHERE id IN (SELECT id FROM oppositions WHERE {} ORDER BY id LIMIT $4)",
            expired_oppositions()
        );
        report.oppositions = delete_in_batches(self, &sql, &opposition_cutoffs).await?;
        report.calls = delete_in_batches(
            self,
            "DELETE FROM calls WHERE id IN (SELECT id FROM calls WHERE dial_at < $1 ORDER BY id LIMIT $2)",
            &[report.calls_before],
        )
        .await?;
        report.reports = delete_in_batches(
            self,
            "DELETE FROM reports WHERE id IN (SELECT id FROM reports WHERE reported_at < $1 ORDER BY id LIMIT $2)",
            &[report.reports_before],
        )
        .await?;
        report.audit = self.purge_audit(report.audit_before).await?;
        let detail = format!(
            "calls={} reports={} consents={} oppositions={} audit={} calls_before={} reports_before={} \
             consents_before={} audit_before={}",
            report.calls,
            report.reports,
            report.consents,
            report.oppositions,
            report.audit,
            report.calls_before,
            report.reports_before,
            report.consents_before,
            report.audit_before
        );
        self.append_audit(Entry::new(self.now(), actor, "retention.purge", "retention", detail)).await?;
        Ok(report)
    }

    /// Records on each consent in force its last use: the latest solicitation call to its
    /// patient for its facility since it was given, among the calls still stored. The
    /// retention of consents runs from it, and calls are purged sooner than consents.
    /// In batches of consents, each its own short transaction.
    async fn record_consent_use(&self) -> Result<(), StoreError> {
        let calls = format!(
            "FROM calls c WHERE c.patient_ref = consents.patient_ref AND c.facility = consents.facility \
             AND c.class IN ({})",
            compliance::solicitation_classes_sql()
        );
        let update = format!(
            "UPDATE consents SET last_used_at = (SELECT MAX(c.dial_at) {calls} AND c.dial_at > consents.given_at) \
             WHERE id > $1 AND id <= $2 AND withdrawn_at IS NULL \
             AND EXISTS (SELECT 1 {calls} AND c.dial_at > COALESCE(consents.last_used_at, consents.given_at))"
        );
        let mut after = 0i64;
        loop {
            let ids =
                sqlx::query("SELECT id FROM consents WHERE id > $1 AND withdrawn_at IS NULL ORDER BY id LIMIT $2")
                    .bind(after)
                    .bind(BATCH_ROWS)
                    .fetch_all(&self.shared.pool)
                    .await?;
            let Some(last) = ids.last().map(|r| r.get::<i64, _>(0)) else { return Ok(()) };
            let mut conn = self.shared.pool.acquire().await?;
            let mut tx = conn.begin_with(self.shared.backend.begin_write()).await?;
            sqlx::query(sqlx::AssertSqlSafe(update.as_str())).bind(after).bind(last).execute(&mut *tx).await?;
            tx.commit().await?;
            if (ids.len() as i64) < BATCH_ROWS {
                return Ok(());
            }
            after = last;
            tokio::task::yield_now().await;
        }
    }

    /// Removes the audit chain's entries written before `before`, a prefix only, in
    /// batches. Each batch moves the anchor to the first entry kept and appends an
    /// `audit.purge` entry that states it, so the chain verifies after every batch.
    async fn purge_audit(&self, before: Timestamp) -> Result<u64, StoreError> {
        let backend = self.shared.backend;
        let mut removed = 0u64;
        loop {
            let mut conn = self.shared.pool.acquire().await?;
            let mut tx = conn.begin_with(backend.begin_write()).await?;
            // Appends lock the head first; so does the purge, so that the two take turns.
            let head = match backend {
                Backend::Sqlite => "SELECT seq, hash FROM audit_head WHERE id = 1",
                Backend::Postgres => "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE",
            };
            let row = sqlx::query(head).fetch_one(&mut *tx).await?;
            let (head_seq, head_hash): (i64, String) = (row.get(0), row.get(1));
            let (anchor, kept) = first_kept_audit(&mut tx, before).await?;
            if kept <= anchor {
                tx.commit().await?;
                return Ok(removed);
            }
            let prev_hash: String = if kept > head_seq {
                head_hash
            } else {
                sqlx::query("SELECT prev_hash FROM audit_log WHERE seq = $1")
                    .bind(kept)
                    .fetch_one(&mut *tx)
                    .await?
                    .get(0)
            };
            let n =
                sqlx::query("DELETE FROM audit_log WHERE seq < $1").bind(kept).execute(&mut *tx).await?.rows_affected();
            sqlx::query("UPDATE audit_anchor SET seq = $1, prev_hash = $2 WHERE id = 1")
                .bind(kept)
                .bind(prev_hash.as_str())
                .execute(&mut *tx)
                .await?;
            let detail = audit::purge_detail(kept, &prev_hash, n, before);
            let entry = Entry::new(self.now(), "retention", audit::PURGE_ACTION, "audit", detail);
            audit::append(&mut tx, backend, &[entry]).await?;
            tx.commit().await?;
            removed += n;
            tokio::task::yield_now().await;
        }
    }

    /// The condition that picks the calls of the patient `pseudonym` on `conn`: on SQLite
    /// through the patients' call ids, caught up on `conn` first (as a write
    /// transaction's when `writing`; see `patients`).
    async fn calls_of(
        &self,
        conn: &mut sqlx::AnyConnection,
        pseudonym: &str,
        writing: bool,
    ) -> Result<CallsOf, StoreError> {
        let map = self.shared.patients.as_ref();
        if let Some(map) = map {
            let mut conn = Conn::from(&mut *conn);
            if writing {
                map.catch_up_writer(&mut conn).await?;
            } else {
                map.catch_up(&mut conn).await?;
            }
        }
        Ok(CallsOf::new(self.shared.backend, map, &[pseudonym]))
    }

    /// Everything stored about the patient a dialer's reference names, phones opened
    /// (Article 15). The export is written to the audit trail (without the phones)
    /// before it is returned.
    pub async fn export_patient(&self, patient_ref: &str, actor: &str) -> Result<PatientExport, StoreError> {
        let pseudonym = self.pseudonym(patient_ref);
        let mut conn = self.shared.pool.acquire().await?;
        let of = self.calls_of(&mut conn, &pseudonym, false).await?;
        let sql =
            format!("{CALL_COLUMNS} WHERE {} ORDER BY c.dial_at, c.id LIMIT ${}", of.sql("c.", 1), of.params() + 1);
        let q = of.bind_sqlx(sqlx::query(sqlx::AssertSqlSafe(sql)));
        let rows = q.bind(EXPORT_CALLS_MAX + 1).fetch_all(&mut *conn).await?;
        let truncated = rows.len() as i64 > EXPORT_CALLS_MAX;
        let calls = rows
            .iter()
            .take(EXPORT_CALLS_MAX as usize)
            .map(|r| call_record(r, &self.shared.key))
            .collect::<Result<Vec<_>, _>>()?;
        // The affinity is the number of the patient's latest call in each pool.
        let sql = format!(
            "SELECT c.pool, n.e164, c.dial_at FROM calls c LEFT JOIN numbers n ON n.id = c.number_id \
             WHERE c.id IN (SELECT MAX(id) FROM calls WHERE {} AND number_id IS NOT NULL GROUP BY pool) \
             ORDER BY c.pool",
            of.sql("", 1)
        );
        let q = of.bind_sqlx(sqlx::query(sqlx::AssertSqlSafe(sql)));
        let affinities = q
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| {
                Ok(PatientAffinity {
                    pool: PoolCode::parse(&r.get::<String, _>(0)).map_err(corrupt)?,
                    number: r.get::<Option<String>, _>(1).map(|n| E164::parse(&n)).transpose().map_err(corrupt)?,
                    at: instant(r.get(2))?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let consents = compliance::patient_consents(&mut conn, &pseudonym).await?;
        let oppositions = compliance::patient_oppositions(&mut conn, &pseudonym).await?;
        let sql = format!(
            "SELECT s.call_id, s.status, s.send_at, s.sender, s.text, s.submitted_at, s.final_at, s.error \
             FROM sms s JOIN calls c ON c.id = s.call_id WHERE {} ORDER BY s.send_at, s.id",
            of.sql("c.", 1)
        );
        let q = of.bind_sqlx(sqlx::query(sqlx::AssertSqlSafe(sql)));
        let sms = q
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| {
                Ok(PatientSms {
                    call_id: r.get(0),
                    status: r.get(1),
                    send_at: instant(r.get(2))?,
                    sender: r.get(3),
                    text: r.get(4),
                    submitted_at: r.get::<Option<i64>, _>(5).map(instant).transpose()?,
                    final_at: r.get::<Option<i64>, _>(6).map(instant).transpose()?,
                    error: r.get(7),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let mut hashes: Vec<String> = calls
            .iter()
            .filter_map(|c| c.patient_phone.as_ref())
            .map(|p| self.shared.pseudonyms.optout_hash(p.as_str()))
            .collect();
        hashes.sort_unstable();
        hashes.dedup();
        let mut sms_optouts = Vec::new();
        for part in hashes.chunks(500) {
            let sql = format!(
                "SELECT at, source FROM sms_optouts WHERE hash IN ({}) ORDER BY at",
                crate::db::list(self.shared.backend, part.len(), 1)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for h in part {
                q = q.bind(h.as_str());
            }
            for r in q.fetch_all(&mut *conn).await? {
                sms_optouts.push((instant(r.get(0))?, r.get::<String, _>(1)));
            }
        }
        drop(conn);
        let detail = format!(
            "calls={} affinities={} consents={} oppositions={} sms={} sms_optouts={} truncated={truncated}",
            calls.len(),
            affinities.len(),
            consents.len(),
            oppositions.len(),
            sms.len(),
            sms_optouts.len()
        );
        self.append_audit(Entry::new(self.now(), actor, "patient.export", format!("patient:{pseudonym}"), detail))
            .await?;
        Ok(PatientExport { pseudonym, calls, affinities, truncated, consents, oppositions, sms, sms_optouts })
    }

    /// Erases the patient a dialer's reference names (Article 17): on each of their
    /// calls the sealed phone is emptied, the pseudonym becomes [`ERASED`], the dialer's
    /// `call_ref` becomes `erased:<call id>` and the agent note is dropped; their
    /// affinities and consent records are removed. What the calls counted (per-day
    /// counters, outcomes, dates, numbers) stays, as aggregates. What the calling rules
    /// must go on honouring is kept first, under the pseudonym, as [`Opposition`]s (no
    /// phone, no wording): solicitation attempts still in the window, the latest refusal
    /// still in the cooldown, the end of their consents. The audit trail keeps every
    /// entry and gains a `patient.erase` one, in the same transaction.
    pub async fn erase_patient(&self, patient_ref: &str, actor: &str) -> Result<Erasure, StoreError> {
        let pseudonym = self.pseudonym(patient_ref);
        let backend = self.shared.backend;
        let now = self.now();
        let mut conn = self.shared.pool.acquire().await?;
        let mut tx = conn.begin_with(backend.begin_write()).await?;
        let of = self.calls_of(&mut tx, &pseudonym, true).await?;
        let (consents, oppositions) =
            compliance::keep_oppositions(&mut tx, backend, &self.shared.compliance, &of, &pseudonym, now).await?;
        // The affinities (the latest numbered call in each pool) go with the calls.
        let sql = format!("SELECT COUNT(DISTINCT pool) FROM calls WHERE {} AND number_id IS NOT NULL", of.sql("", 1));
        let q = of.bind_sqlx(sqlx::query(sqlx::AssertSqlSafe(sql)));
        let affinities: i64 = q.fetch_one(&mut *tx).await?.get(0);
        let affinities = u64::try_from(affinities).unwrap_or_default();
        // The SMS keep their text (a facility, a date, numbers) and status, as counts of
        // what was sent; the keyed hash of the phone, which linked them, goes. An opt-out
        // stays: it is the patient's choice, and holds no phone.
        let sql =
            format!("UPDATE sms SET phone_hash = NULL WHERE call_id IN (SELECT id FROM calls WHERE {})", of.sql("", 1));
        let q = of.bind_sqlx(sqlx::query(sqlx::AssertSqlSafe(sql)));
        q.execute(&mut *tx).await?;
        let sql = format!(
            "UPDATE calls SET patient_phone = $1, patient_ref = $2, call_ref = 'erased:' || CAST(id AS TEXT), agent_note = NULL \
             WHERE {}",
            of.sql("", 3)
        );
        let q = of.bind_sqlx(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&b""[..]).bind(ERASED));
        let calls = q.execute(&mut *tx).await?.rows_affected();
        let detail =
            format!("calls={calls} affinities={affinities} consents={consents} oppositions_kept={oppositions}");
        let entry = Entry::new(now, actor, "patient.erase", format!("patient:{pseudonym}"), detail);
        audit::append(&mut tx, backend, &[entry]).await?;
        tx.commit().await?;
        Ok(Erasure { pseudonym, calls, affinities, consents, oppositions })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legal_bases_read_back_and_default_to_care() {
        for b in LegalBasis::ALL {
            assert_eq!(LegalBasis::parse(b.as_str()), Ok(*b));
        }
        let e = LegalBasis::parse("consent").expect_err("unknown");
        assert!(e.rule.contains("art9_2_h_care"), "{e}");
        let bases = LegalBases::default();
        let p = |t: &str| Purpose::parse(t).expect("purpose");
        assert_eq!(bases.for_purpose(&p("appointment_reminder")), LegalBasis::Care);
        assert_eq!(bases.for_purpose(&p("satisfaction_survey")), LegalBasis::ExplicitConsent);
    }

    #[test]
    fn retention_bounds_name_the_field() {
        assert_eq!(Retention::default().validate(), Ok(()));
        let field = |r: Retention| r.validate().expect_err("refused").field;
        let d = Retention::default();
        assert_eq!(field(Retention { calls_days: 59, ..d }), "calls_days");
        assert_eq!(field(Retention { reports_days: 0, ..d }), "reports_days");
        assert_eq!(field(Retention { audit_days: 300, ..d }), "audit_days");
        assert_eq!(field(Retention { audit_days: 40_000, ..d }), "audit_days");
        assert_eq!(field(Retention { consents_days: 0, ..d }), "consents_days");
    }
}
