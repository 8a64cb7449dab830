//! Vigie's durable store: SQLite (embedded default) or PostgreSQL (several server
//! processes), behind one [`Store`]. Allocations, reports, outcomes and number changes
//! go through a single batching writer (see `writer`); reads go straight to the
//! connection pool.

mod audit;
mod audit_facts;
mod compliance;
mod crypto;
mod dashboard;
mod db;
mod error;
mod incidents;
mod model;
mod monitor;
mod patients;
mod privacy;
mod read;
mod sms;
mod sql;
mod users;
mod weekly;
mod writer;

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use sqlx::{AnyPool, Connection, Row};
use tokio::sync::{mpsc, oneshot};
use vigie_core::{Calendar, Catalog, DialWindow, E164, Finding, Language, Playbook, PoolRole, Timestamp};

pub use audit::{AuditEntry, AuditProblem, AuditReport};
pub use audit_facts::AUDIT_DAYS;
pub use compliance::{
    BLOCTEL_NUMBERS_MAX, BloctelImport, CONSENT_METHOD_MAX, CONSENT_PROOF_MAX, CONSENT_WORDING_MAX, ComplianceOptions,
    Consent, IdentityUpdate, NewConsent, NumberCompliance, NumberIdentity, Opposition, OppositionKind,
};
pub use crypto::{CryptoError, DataKey, FIRST_KEY_ID, KeyRing, PSEUDONYM_PREFIX, PseudonymKey};
pub use dashboard::{LiveChange, LiveCursor, NumberDay, NumbersFigures};
pub use db::Backend;
pub use error::StoreError;
pub use incidents::{IncidentMaterial, IncidentRecord, Resolution, StepRecord, Trigger};
pub use model::{
    CallAnswer, CallChange, CallChangeAnswer, CallRecord, Facility, NewCall, NewNumber, NewReport, NumberChange,
    NumberEvent, NumberRecord, OptOutAnswer, OutcomeReport, PoolSummary, Principal, ReportAnswer, Role, RowProblem,
    SHOWN_AS_SPAM,
};
pub use monitor::{
    AlertRecord, HistoryCell, OutcomeCursor, OutcomeSignal, Raised, ScoreMaterial, ScorePoint, SourceReading,
};
pub use privacy::{
    ERASED, Erasure, LegalBases, LegalBasis, PatientAffinity, PatientExport, PatientSms, PurgeReport, Retention,
    RotationStep,
};
pub use sms::{
    AnnouncedRate, CLAIM_TIMEOUT, DueSms, PurposeSms, RECEIPT_TIMEOUT, ReplyOutcome, SmsCount, SmsPolicy, SmsView,
    SubmitResult,
};
pub use users::{
    ApiKeyRecord, FAILED_SIGN_INS_MAX, LOCKOUT, NewUser, PASSWORD_CHARS_MIN, SESSION_TTL, Session, SignIn, User,
    UserRole, generate_password,
};
pub use weekly::{DayCounts, PeriodCounts, PoolWeekData, WEEKLY_REPORT_SENT, WeeklyFiguresData};
pub use writer::READER_NAME as WRITER_READER_NAME;

use db::micros;
use writer::{Envelope, Reply, Request, Writer};

/// Where the time comes from: the system clock in production, a settable one in tests.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// How to open the store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `sqlite://path?mode=rwc` or `postgres://…`.
    pub database_url: String,
    /// Connections for readers (the writer holds one more).
    pub max_connections: u32,
    /// Most requests one writer transaction serves.
    pub batch_max: usize,
    /// Most requests waiting for the writer; callers wait beyond that.
    pub queue_max: usize,
    /// How far from now a `dial_at` may be.
    pub dial_window: DialWindow,
    /// The key that pseudonymises patient references. `None`: a random key for this
    /// process only (tests, the demo, and commands that handle no patient reference).
    pub pseudonym_key: Option<PseudonymKey>,
    /// The GDPR Art. 9(2) basis recorded for each purpose's calls.
    pub legal_bases: LegalBases,
    /// The calling rules: purpose classes, hours, dialling modes, ARCEP ranges.
    pub compliance: ComplianceOptions,
    /// Which purposes announce their calls by SMS, and how. Default: none.
    pub sms: SmsPolicy,
    /// The crisis playbook an incident opens with.
    pub playbook: Playbook,
}

impl StoreOptions {
    /// Defaults for a database URL.
    pub fn new(database_url: impl Into<String>) -> StoreOptions {
        StoreOptions {
            database_url: database_url.into(),
            max_connections: 8,
            batch_max: 512,
            queue_max: 8192,
            dial_window: DialWindow::default(),
            pseudonym_key: None,
            legal_bases: LegalBases::default(),
            compliance: ComplianceOptions::default(),
            sms: SmsPolicy::default(),
            playbook: Playbook::default(),
        }
    }
}

/// Counters exported at `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Calls given a number.
    pub allocations: AtomicU64,
    /// Calls refused for lack of capacity.
    pub no_capacity: AtomicU64,
    /// Reports received.
    pub reports: AtomicU64,
    /// Numbers quarantined by reports.
    pub quarantines: AtomicU64,
    /// Calls moved to another number.
    pub reassigned: AtomicU64,
    /// Reserve numbers promoted.
    pub promotions: AtomicU64,
    /// Outcomes recorded.
    pub outcomes: AtomicU64,
    /// Writer transactions committed.
    pub commits: AtomicU64,
    /// Writer batches started.
    pub batches: AtomicU64,
    /// Requests served by those batches.
    pub batched: AtomicU64,
    /// Writer batches that failed and were retried request by request.
    pub failed_batches: AtomicU64,
    /// PostgreSQL: writer batches whose reads (and locking read, for a batch decided
    /// under the lock) travelled while the previous batch was committed.
    pub overlapped_batches: AtomicU64,
    /// PostgreSQL: writer batches decided without the lock, on what the writer last
    /// committed, and written in one statement that takes the lock and commits.
    pub guarded_batches: AtomicU64,
    /// PostgreSQL: guarded batches that found another writer had committed first, and
    /// were decided again under the lock.
    pub head_conflicts: AtomicU64,
    /// PostgreSQL: guarded statements sent again because they took the lock before the
    /// one sent just before them, on which they were decided.
    pub guard_retries: AtomicU64,
    /// SQLite: checkpoints the writer took to the WAL's end between two batches, each
    /// letting the WAL start again from its beginning.
    pub checkpoint_tails: AtomicU64,
}

pub(crate) struct Shared {
    pub(crate) pool: AnyPool,
    pub(crate) backend: Backend,
    pub(crate) key: KeyRing,
    pub(crate) pseudonyms: PseudonymKey,
    pub(crate) legal_bases: LegalBases,
    pub(crate) compliance: ComplianceOptions,
    pub(crate) calendar: Calendar,
    pub(crate) catalog: Catalog,
    pub(crate) clock: Clock,
    pub(crate) batch_max: usize,
    pub(crate) dial_window: DialWindow,
    pub(crate) metrics: Metrics,
    pub(crate) sms: SmsPolicy,
    pub(crate) playbook: Playbook,
    pub(crate) keys: Mutex<HashMap<String, (Principal, Instant)>>,
    /// SQLite: set by the checkpointer after its runs, so that the writer copies the
    /// WAL's last frames itself between two batches (see `db::checkpoints`).
    pub(crate) checkpoint_tail: std::sync::atomic::AtomicBool,
    /// SQLite: the database file (its WAL is beside it); none on PostgreSQL.
    pub(crate) sqlite_file: Option<std::path::PathBuf>,
    /// SQLite: every patient's call ids, in place of an index on calls(patient_ref)
    /// (see `patients`); none on PostgreSQL.
    pub(crate) patients: Option<patients::PatientCalls>,
}

/// The store. Cheap to clone; the writer stops when the last clone is dropped.
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
    writer: mpsc::Sender<Envelope>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.shared.backend).finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the database, applies the migrations, registers the configured pools and
    /// starts the writer.
    pub async fn open(
        options: &StoreOptions,
        catalog: Catalog,
        key: impl Into<KeyRing>,
        calendar: Calendar,
        clock: Clock,
    ) -> Result<Store, StoreError> {
        options.compliance.validate(&catalog)?;
        let (pool, backend) = db::connect(&options.database_url, options.max_connections.max(1) + 1).await?;
        db::migrate(&pool, backend).await?;
        let pseudonyms = match &options.pseudonym_key {
            Some(k) => {
                privacy::check_pseudonym_key(&pool, backend, k, clock()).await?;
                k.clone()
            }
            None => PseudonymKey::generate().0,
        };
        let mut conn = pool.acquire().await?;
        {
            let mut tx = conn.begin_with(backend.begin_write()).await?;
            for def in catalog.pools() {
                sqlx::query("INSERT INTO pools (code, version) VALUES ($1, 0) ON CONFLICT (code) DO NOTHING")
                    .bind(def.code.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
        let sqlite_file = match backend {
            Backend::Sqlite => Some(db::sqlite_path(&pool)?),
            Backend::Postgres => None,
        };
        let shared = Arc::new(Shared {
            pool,
            backend,
            key: key.into(),
            pseudonyms,
            legal_bases: options.legal_bases.clone(),
            compliance: options.compliance.clone(),
            calendar,
            catalog,
            clock,
            batch_max: options.batch_max.max(1),
            dial_window: options.dial_window,
            metrics: Metrics::default(),
            sms: options.sms.clone(),
            playbook: options.playbook,
            keys: Mutex::new(HashMap::new()),
            checkpoint_tail: std::sync::atomic::AtomicBool::new(false),
            patients: sqlite_file.as_ref().map(|_| patients::PatientCalls::default()),
            sqlite_file,
        });
        let (tx, rx) = mpsc::channel(options.queue_max.max(1));
        drop(conn);
        Writer::start(Arc::clone(&shared), rx).await?;
        if let Some(path) = &shared.sqlite_file {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| StoreError::Corrupt(format!("the database file: {e}")))?;
            tokio::spawn(db::checkpoints(Arc::downgrade(&shared), file));
        }
        Ok(Store { shared, writer: tx })
    }

    /// Now, by the store's clock.
    pub fn now(&self) -> Timestamp {
        (self.shared.clock)()
    }

    /// The pools and purposes.
    pub fn catalog(&self) -> &Catalog {
        &self.shared.catalog
    }

    /// The centre's calendar.
    pub fn calendar(&self) -> &Calendar {
        &self.shared.calendar
    }

    /// Which database is behind the store.
    pub fn backend(&self) -> Backend {
        self.shared.backend
    }

    /// How far from now a `dial_at` may be.
    pub fn dial_window(&self) -> DialWindow {
        self.shared.dial_window
    }

    /// The counters.
    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// SQLite: the size of the WAL file in bytes (none on PostgreSQL, or before the
    /// first write). Under load it stays near what a checkpoint cycle writes; a WAL that
    /// keeps growing means checkpoints cannot finish (a reader holding an old snapshot).
    pub fn wal_bytes(&self) -> Option<u64> {
        let db = self.shared.sqlite_file.as_deref()?;
        std::fs::metadata(writer::wal_path(db)).ok().map(|m| m.len())
    }

    async fn send(&self, request: Request) -> Result<Reply, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.writer.send(Envelope { request, reply }).await.map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)
    }

    /// Gives the call a number (or returns the answer already given to its `call_ref`).
    /// Returns once the allocation is committed.
    pub async fn allocate(&self, mut call: NewCall, actor: &str) -> Result<CallAnswer, StoreError> {
        // The dialer's reference never goes further than this: the writer, the
        // database and the audit trail see its pseudonym only.
        call.patient_ref = self.shared.pseudonyms.pseudonym(&call.patient_ref);
        let sealed = self.shared.key.seal(call.patient_phone.as_str().as_bytes());
        match self.send(Request::Allocate(call, actor.to_owned(), sealed)).await? {
            Reply::Allocate(r) => r,
            _ => unreachable!("the writer answers in kind"),
        }
    }

    /// Records a spam report; the second one of a local day quarantines the number
    /// before this returns.
    pub async fn report(&self, report: NewReport, actor: &str) -> Result<ReportAnswer, StoreError> {
        match self.send(Request::Report(report, None, actor.to_owned())).await? {
            Reply::Report(r) => r,
            _ => unreachable!("the writer answers in kind"),
        }
    }

    /// Records how a call ended. An agent note `shown_as_spam` also files a report,
    /// whose effect is returned.
    pub async fn record_outcome(
        &self,
        call_id: i64,
        outcome: OutcomeReport,
        actor: &str,
    ) -> Result<Option<ReportAnswer>, StoreError> {
        self.record_outcome_with_refusal(call_id, outcome, false, actor).await
    }

    /// Records how a call ended, and, when `solicitation_refused`, that the patient
    /// refused solicitation during it: no solicitation call to them for the same
    /// facility during the cooldown from its `ended_at` (D223-9).
    pub async fn record_outcome_with_refusal(
        &self,
        call_id: i64,
        outcome: OutcomeReport,
        solicitation_refused: bool,
        actor: &str,
    ) -> Result<Option<ReportAnswer>, StoreError> {
        match self.send(Request::Outcome(call_id, outcome, solicitation_refused, actor.to_owned())).await? {
            Reply::Outcome(r) => r,
            _ => unreachable!("the writer answers in kind"),
        }
    }

    /// Quarantines, releases, retires or moves a number, with the reason and who asked.
    pub async fn change_number(
        &self,
        number: E164,
        change: NumberChange,
        reason: String,
        actor: String,
    ) -> Result<(), StoreError> {
        match self.send(Request::Change { number, change, reason, actor, trigger: None }).await? {
            Reply::Change(r) => r,
            _ => unreachable!("the writer answers in kind"),
        }
    }

    /// Closes an open incident: the number returns to service (refused with 409 until
    /// the cool-down is over and the clean check passes: identity checked, no report
    /// since the quarantine, no source flagging it) or is retired with its replacement
    /// cost. Returns the incident as closed.
    pub async fn close_incident(
        &self,
        id: i64,
        resolution: Resolution,
        note: &str,
        actor: &str,
    ) -> Result<IncidentRecord, StoreError> {
        match self.send(Request::CloseIncident(id, resolution, note.to_owned(), actor.to_owned())).await? {
            Reply::CloseIncident(r) => r?,
            _ => unreachable!("the writer answers in kind"),
        }
        self.incident(id).await?.ok_or(StoreError::NotFound { what: "incident", field: "incident_id" })
    }

    /// Quarantines a number on monitoring's evidence (an alarm, an external flag): the
    /// incident opens with `trigger`'s signal and first evidence. Returns once durable.
    pub async fn quarantine(&self, number: E164, trigger: Trigger, actor: &str) -> Result<(), StoreError> {
        // The number's history keeps the English words; the incident keeps both.
        let reason = trigger.evidence.render(Language::En, &self.shared.calendar);
        let request = Request::Change {
            number,
            change: NumberChange::Quarantine,
            reason,
            actor: actor.to_owned(),
            trigger: Some(trigger),
        };
        match self.send(request).await? {
            Reply::Change(r) => r,
            _ => unreachable!("the writer answers in kind"),
        }
    }

    /// Cancels a call not yet dialled, or moves it to another instant (its number and
    /// SMS follow), with the reason and who asked. Returns once the change is committed.
    pub async fn change_call(
        &self,
        call_id: i64,
        change: CallChange,
        reason: String,
        actor: String,
    ) -> Result<CallChangeAnswer, StoreError> {
        match self.send(Request::CallChange(call_id, change, reason, actor)).await? {
            Reply::CallChange(r) => r,
            _ => unreachable!("the writer answers in kind"),
        }
    }

    /// Records that the patient of `phone` wants no SMS (a STOP reply, or told to an
    /// agent), in the audit trail, and applies it at once: their SMS not yet sent are
    /// cancelled, and their calls not yet dialled of the purposes whose calls stop with
    /// their SMS. Returns once committed.
    pub async fn record_sms_optout(&self, phone: &E164, source: &str, actor: &str) -> Result<OptOutAnswer, StoreError> {
        match self.send(Request::OptOut(phone.clone(), source.to_owned(), actor.to_owned())).await? {
            Reply::OptOut(r) => r,
            _ => unreachable!("the writer answers in kind"),
        }
    }

    /// Creates or updates a facility. Returns whether it was created.
    pub async fn upsert_facility(&self, f: &Facility, actor: &str) -> Result<bool, StoreError> {
        let existed = self.facility(&f.id).await?.is_some();
        let now = self.now();
        let mut conn = self.shared.pool.acquire().await?;
        let mut tx = conn.begin_with(self.shared.backend.begin_write()).await?;
        sqlx::query(
            "INSERT INTO facilities (id, name, display_name, city, callback, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, display_name = excluded.display_name, city = excluded.city, callback = excluded.callback",
        )
        .bind(f.id.as_str())
        .bind(f.name.as_str())
        .bind(f.display_name.as_str())
        .bind(f.city.as_str())
        .bind(f.callback.as_str())
        .bind(micros(now))
        .execute(&mut *tx)
        .await?;
        let detail = format!("name={} display_name={} city={} callback={}", f.name, f.display_name, f.city, f.callback);
        audit::append(
            &mut tx,
            self.shared.backend,
            &[audit::Entry::new(now, actor, "facility.upsert", format!("facility:{}", f.id), detail)],
        )
        .await?;
        tx.commit().await?;
        Ok(!existed)
    }

    /// Adds numbers to the inventory, all or none: every bad row is reported with its
    /// index, and nothing is written unless every row is good.
    pub async fn add_numbers(&self, numbers: &[NewNumber], actor: &str) -> Result<Vec<i64>, StoreError> {
        let now = self.now();
        let mut conn = self.shared.pool.acquire().await?;
        let mut tx = conn.begin_with(self.shared.backend.begin_write()).await?;
        sqlx::query(self.shared.backend.lock_pools()).fetch_all(&mut *tx).await?;
        let mut problems = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, n) in numbers.iter().enumerate() {
            let mut problem =
                |field: &'static str, message: String| problems.push(RowProblem { index: i, field, message });
            // The ARCEP rules for the pool's dialling mode: never a mobile, 089 or
            // foreign number, and only the ranges for automated calling when the pool
            // is dialled automatically.
            if let Err(refusal) = self.shared.compliance.presentable(&n.pool, &n.number) {
                problem("number", refusal.to_string());
            }
            if !seen.insert(n.number.clone()) {
                problem("number", format!("{} appears twice in the request", n.number));
            }
            if self.catalog().pool(&n.pool).is_none() {
                problem("pool", format!("pool {} is not configured", n.pool));
            }
            if n.display_name.trim().is_empty() || n.display_name.chars().count() > 64 {
                problem("display_name", "must be 1 to 64 characters".into());
            }
            if let Some(f) = &n.facility {
                let exists = sqlx::query("SELECT 1 FROM facilities WHERE id = $1")
                    .bind(f.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
                if exists.is_none() {
                    problem("facility", format!("facility {f} does not exist"));
                }
            }
            let exists = sqlx::query("SELECT 1 FROM numbers WHERE e164 = $1")
                .bind(n.number.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_some() {
                problem("number", format!("{} is already in the inventory", n.number));
            }
        }
        if !problems.is_empty() {
            return Err(StoreError::Rows(problems));
        }
        let mut ids = Vec::with_capacity(numbers.len());
        let mut entries = Vec::with_capacity(numbers.len());
        for n in numbers {
            let role = self.catalog().pool(&n.pool).map(|p| p.role);
            let status = if role == Some(PoolRole::Reserve) { "reserve" } else { "active" };
            let category = n.number.category();
            let id: i64 = sqlx::query(
                "INSERT INTO numbers (e164, pool, facility, display_name, callback, category, zone, status, status_since, status_reason, status_reason_fr, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
            )
            .bind(n.number.as_str())
            .bind(n.pool.as_str())
            .bind(n.facility.as_ref().map(|f| f.as_str()))
            .bind(n.display_name.as_str())
            .bind(n.callback.as_str())
            .bind(category.as_str())
            .bind(category.zone().map(i64::from))
            .bind(status)
            .bind(micros(now))
            .bind(Finding::Added.render(Language::En, &self.shared.calendar))
            .bind(Finding::Added.render(Language::Fr, &self.shared.calendar))
            .bind(micros(now))
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| match e {
                // Another process added it between the check and the insert.
                sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict {
                    field: "number",
                    message: format!("{} is already in the inventory", n.number),
                },
                other => other.into(),
            })?
            .get(0);
            writer::insert_event(
                &mut crate::sql::Conn::Any(&mut tx),
                (self.shared.backend, &self.shared.calendar),
                id,
                now,
                status,
                n.pool.as_str(),
                None,
                &Finding::Added,
                actor,
                &mut entries,
            )
            .await?;
            ids.push(id);
        }
        audit::append(&mut tx, self.shared.backend, &entries).await?;
        sqlx::query("UPDATE pools SET version = version + 1").execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(ids)
    }

    /// Creates an API key and returns it; only its hash is stored.
    pub async fn create_key(&self, name: &str, role: Role, actor: &str) -> Result<String, StoreError> {
        let (_, secret) = DataKey::generate();
        let token = format!("vk_{secret}");
        let now = self.now();
        let mut conn = self.shared.pool.acquire().await?;
        let mut tx = conn.begin_with(self.shared.backend.begin_write()).await?;
        sqlx::query("INSERT INTO api_keys (name, role, hash, created_at) VALUES ($1, $2, $3, $4)")
            .bind(name)
            .bind(role.as_str())
            .bind(hash_token(&token))
            .bind(micros(now))
            .execute(&mut *tx)
            .await?;
        let entry =
            audit::Entry::new(now, actor, "key.create", format!("key:{name}"), format!("role={}", role.as_str()));
        audit::append(&mut tx, self.shared.backend, &[entry]).await?;
        tx.commit().await?;
        Ok(token)
    }

    /// The holder of a bearer token, if it is a live key. Answers are cached for a
    /// minute so that the hot path does not read the database.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Principal>, StoreError> {
        let hash = hash_token(token);
        if let Ok(cache) = self.shared.keys.lock()
            && let Some((p, at)) = cache.get(&hash)
            && at.elapsed() < Duration::from_secs(60)
        {
            return Ok(Some(p.clone()));
        }
        let row = sqlx::query("SELECT name, role FROM api_keys WHERE hash = $1 AND revoked_at IS NULL")
            .bind(hash.as_str())
            .fetch_optional(&self.shared.pool)
            .await?;
        let principal =
            row.and_then(|r| Role::parse(&r.get::<String, _>(1)).map(|role| Principal { name: r.get(0), role }));
        if let (Some(p), Ok(mut cache)) = (&principal, self.shared.keys.lock()) {
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(hash, (p.clone(), Instant::now()));
        }
        Ok(principal)
    }

    /// Recomputes the audit chain and reports the first break, if any.
    pub async fn verify_audit(&self) -> Result<AuditReport, StoreError> {
        audit::verify(&self.shared.pool, self.shared.backend).await
    }

    /// The latest audit entries, newest first.
    pub async fn audit_entries(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        audit::recent(&self.shared.pool, i64::from(limit.min(10_000))).await
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").fetch_one(&self.shared.pool).await?;
        Ok(())
    }
}

fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The fresh data key and its text, for `vigie demo` and tests.
pub fn generate_data_key() -> (DataKey, String) {
    DataKey::generate()
}
