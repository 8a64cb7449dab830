//! Connections, migrations and the few places where SQLite and PostgreSQL differ.
//!
//! Every query is a runtime query over sqlx's `Any` driver, written in the SQL both
//! backends accept (`$N` placeholders, `ON CONFLICT`, `RETURNING`). The differences
//! live here: how a write transaction starts and how the pool rows are locked.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Connection, Executor, Row};
use vigie_core::{Date, Timestamp};

use crate::error::StoreError;
use crate::sql::{Conn, Kind, Param, Row as SqlRow, Value};

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite (one process).
    Sqlite,
    /// PostgreSQL (several server processes).
    Postgres,
}

impl Backend {
    /// The statement that opens a write transaction. SQLite takes the write lock at
    /// once, so that two writers never deadlock on a lock upgrade.
    pub(crate) fn begin_write(self) -> &'static str {
        match self {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        }
    }

    /// Locks every pool row and reads its version. Every write that changes what the
    /// engine decides on takes these locks, so that the per-day cap holds across
    /// server processes sharing one PostgreSQL.
    pub(crate) fn lock_pools(self) -> &'static str {
        match self {
            Backend::Sqlite => "SELECT code, version FROM pools ORDER BY code",
            Backend::Postgres => "SELECT code, version FROM pools ORDER BY code FOR UPDATE",
        }
    }

    /// Locks every pool row (as [`Backend::lock_pools`]) and the audit chain's head, and
    /// reads the pools' versions and the head in one statement: `code, version, seq, hash`.
    pub(crate) fn lock_pools_and_audit(self) -> &'static str {
        match self {
            Backend::Sqlite => {
                "SELECT p.code, p.version, h.seq, h.hash FROM pools p, audit_head h WHERE h.id = 1 ORDER BY p.code"
            }
            Backend::Postgres => {
                "SELECT p.code, p.version, h.seq, h.hash FROM pools p, audit_head h WHERE h.id = 1 ORDER BY p.code FOR UPDATE"
            }
        }
    }

    /// The `n`th bind parameter (from 1) of a statement whose parameters all come in
    /// order: `?` for SQLite, `$n` for PostgreSQL.
    pub(crate) fn placeholder(self, n: usize) -> String {
        match self {
            Backend::Sqlite => "?".to_owned(),
            Backend::Postgres => format!("${n}"),
        }
    }

    /// The backend's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

/// A migration from its two files, `migrations/{sqlite,postgres}/FILE.sql`.
macro_rules! migration {
    ($version:literal, $name:literal, $file:literal) => {
        Migration {
            version: $version,
            name: $name,
            sqlite: include_str!(concat!("../migrations/sqlite/", $file, ".sql")),
            postgres: include_str!(concat!("../migrations/postgres/", $file, ".sql")),
        }
    };
}

/// Migrations, one file per backend each; never edit one once released.
const MIGRATIONS: &[Migration] = &[
    migration!(1, "init", "0001_init"),
    migration!(2, "audit", "0002_audit"),
    migration!(3, "privacy", "0003_privacy"),
    migration!(4, "indexes", "0004_indexes"),
    migration!(5, "compliance", "0005_compliance"),
    migration!(6, "oppositions", "0006_oppositions"),
    migration!(7, "cheaper_writes", "0007_cheaper_writes"),
    migration!(8, "sms", "0008_sms"),
    migration!(9, "call_changes", "0009_call_changes"),
    migration!(10, "monitoring", "0010_monitoring"),
    migration!(11, "dashboard", "0011_dashboard"),
    migration!(12, "findings", "0012_findings"),
    migration!(13, "user_access", "0013_user_access"),
    migration!(14, "state_reasons_fr", "0014_state_reasons_fr"),
    migration!(15, "patient_calls_in_memory", "0015_patient_calls_in_memory"),
    migration!(16, "calls_without_foreign_keys", "0016_calls_without_foreign_keys"),
    migration!(17, "guarded_batches", "0017_guarded_batches"),
];

/// Sets up a new connection: for SQLite, WAL with synchronous=FULL (a commit is on disk
/// when it returns) and the connection's settings.
async fn configure(conn: &mut sqlx::AnyConnection, backend: Backend) -> Result<(), sqlx::Error> {
    if backend == Backend::Sqlite {
        conn.execute("PRAGMA journal_mode=WAL").await?;
        conn.execute("PRAGMA synchronous=FULL").await?;
        conn.execute("PRAGMA busy_timeout=10000").await?;
        // No checkpoint inside a commit: `checkpoints` runs them beside the writer, on
        // another connection.
        conn.execute("PRAGMA wal_autocheckpoint=0").await?;
        // Statement journals and sorts in memory; a larger page cache.
        conn.execute("PRAGMA temp_store=MEMORY").await?;
        conn.execute("PRAGMA cache_size=-65536").await?;
        conn.execute("PRAGMA foreign_keys=ON").await?;
    }
    Ok(())
}

/// A connection of its own, outside the pool, set up as the pool's are (the writer's).
pub(crate) async fn connect_one(pool: &AnyPool, backend: Backend) -> Result<sqlx::AnyConnection, StoreError> {
    let mut conn = sqlx::AnyConnection::connect_with(&pool.connect_options()).await?;
    configure(&mut conn, backend).await?;
    Ok(conn)
}

/// Opens the database named by `url` (`sqlite://path`, `postgres://…`).
pub(crate) async fn connect(url: &str, max_connections: u32) -> Result<(AnyPool, Backend), StoreError> {
    sqlx::any::install_default_drivers();
    let backend = if url.starts_with("sqlite:") {
        Backend::Sqlite
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Backend::Postgres
    } else {
        return Err(StoreError::Invalid(vigie_core::InvalidField::new(
            "database_url",
            "must start with sqlite: or postgres:",
        )));
    };
    let options = AnyConnectOptions::from_str(url)?;
    let pool = AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .after_connect(move |conn, _| Box::pin(async move { configure(conn, backend).await }))
        .connect_with(options)
        .await?;
    Ok((pool, backend))
}

/// The SQLite database file that `pool` opens.
pub(crate) fn sqlite_path(pool: &AnyPool) -> Result<std::path::PathBuf, StoreError> {
    let url = pool.connect_options().database_url.clone();
    let options: sqlx::sqlite::SqliteConnectOptions = url.as_str().parse()?;
    Ok(options.get_filename().to_path_buf())
}

/// How often the SQLite checkpointer copies the WAL into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
/// At most this many checkpoint runs in a row, each copying what was committed during
/// the one before.
const CHECKPOINT_RUNS: usize = 3;
/// A run that found fewer new frames than this leaves a tail short enough for the writer.
const CHECKPOINT_TAIL_FRAMES: i64 = 1_000;

/// Checkpoints SQLite's WAL every [`CHECKPOINT_EVERY`], on a connection of its own, so
/// that the writer's commits do not pay for the copy (`PASSIVE`: it never waits for the
/// writer nor holds it up). Stops when the pool is closed or the store dropped.
///
/// The WAL only starts again from its beginning when a transaction begins with every
/// frame in it copied. Under a steady stream of commits a checkpoint on another
/// connection never gets there: the writer commits while it copies. The WAL would then
/// grow without end, and every commit would extend the file (ext4 allocating and zeroing
/// new blocks was a fifth of the writer's time at 64 concurrent requests). So the
/// checkpointer runs up to [`CHECKPOINT_RUNS`] times in a row, each copying what was
/// committed during the run before, until little is left; then it asks the writer to
/// copy the rest on its own connection between two batches (`Shared::checkpoint_tail`),
/// where no commit can slip in. The writer's next transaction writes the WAL from its
/// beginning again, over blocks the file already has. `db` is the database file, which
/// the checkpointer syncs after its runs: SQLite syncs it only at the run that copies
/// the WAL's last frame, the writer's, which would otherwise wait for every page the
/// earlier runs wrote.
pub(crate) async fn checkpoints(shared: std::sync::Weak<crate::Shared>, db: std::fs::File) {
    let db = std::sync::Arc::new(db);
    loop {
        tokio::time::sleep(CHECKPOINT_EVERY).await;
        let Some(shared) = shared.upgrade() else { return };
        if shared.pool.is_closed() {
            return;
        }
        let mut copied_up_to = None;
        for _ in 0..CHECKPOINT_RUNS {
            match sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(&shared.pool).await {
                Ok(row) => {
                    // (busy, frames in the WAL, frames copied)
                    let frames: i64 = row.try_get(1).unwrap_or(0);
                    let new = copied_up_to.map_or(frames, |before| frames - before);
                    copied_up_to = Some(frames);
                    if new < CHECKPOINT_TAIL_FRAMES {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "WAL checkpoint failed; retrying");
                    break;
                }
            }
        }
        // A run that did not reach the WAL's end leaves the pages it copied unsynced: the
        // last run, the writer's, would otherwise wait for them all on its own.
        let file = std::sync::Arc::clone(&db);
        match tokio::task::spawn_blocking(move || file.sync_data()).await {
            Ok(Ok(())) => shared.checkpoint_tail.store(true, std::sync::atomic::Ordering::Release),
            Ok(Err(e)) => tracing::warn!(error = %e, "syncing the checkpointed database file failed; retrying"),
            Err(e) => tracing::warn!(error = %e, "the database file's sync did not finish; retrying"),
        }
    }
}

/// Applies the migrations not applied yet, each in its own transaction.
pub(crate) async fn migrate(pool: &AnyPool, backend: Backend) -> Result<(), StoreError> {
    let mut conn = pool.acquire().await?;
    // Server processes started together on a fresh PostgreSQL database would race to
    // create the same tables; a session advisory lock makes them migrate in turn.
    if backend == Backend::Postgres {
        sqlx::query("SELECT 1 FROM pg_advisory_lock($1)").bind(MIGRATION_LOCK).execute(&mut *conn).await?;
    }
    let applied = apply_migrations(&mut conn, backend).await;
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_unlock($1)").bind(MIGRATION_LOCK).execute(&mut *conn).await?;
    }
    applied
}

/// The advisory lock key that serialises migrations ("vigie" in ASCII).
const MIGRATION_LOCK: i64 = 0x76_69_67_69_65;

async fn apply_migrations(conn: &mut sqlx::AnyConnection, backend: Backend) -> Result<(), StoreError> {
    conn.execute(
        "CREATE TABLE IF NOT EXISTS vigie_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .await?;
    for m in MIGRATIONS {
        let mut tx = sqlx::Connection::begin_with(&mut *conn, backend.begin_write()).await?;
        let done: Option<i64> = sqlx::query("SELECT version FROM vigie_migrations WHERE version = $1")
            .bind(m.version)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.get(0));
        if done.is_none() {
            let sql = match backend {
                Backend::Sqlite => m.sqlite,
                Backend::Postgres => m.postgres,
            };
            tx.execute(sql).await?;
            sqlx::query("INSERT INTO vigie_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
                .bind(m.version)
                .bind(m.name)
                .bind(micros(Timestamp::now()))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
    }
    Ok(())
}

/// An instant as stored: UTC microseconds since the epoch.
pub(crate) fn micros(t: Timestamp) -> i64 {
    t.as_microsecond()
}

/// A stored instant.
pub(crate) fn instant(us: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_microsecond(us).map_err(|e| StoreError::Corrupt(format!("instant {us}: {e}")))
}

/// A local day as stored.
pub(crate) fn day_text(d: Date) -> String {
    d.to_string()
}

/// A stored local day.
pub(crate) fn day(text: &str) -> Result<Date, StoreError> {
    text.parse().map_err(|e| StoreError::Corrupt(format!("day {text}: {e}")))
}

/// `($k,$k+1,…),(…)` (PostgreSQL) or `(?,?,…),(…)` (SQLite) for `rows` rows of `cols`
/// columns, numbered from `first`. SQLite binds plain `?` by position without looking
/// each parameter's name up, which matters for statements of hundreds of parameters.
pub(crate) fn values(backend: Backend, rows: usize, cols: usize, first: usize) -> String {
    let mut out = String::with_capacity(rows * cols * 5);
    let mut n = first;
    for r in 0..rows {
        if r > 0 {
            out.push(',');
        }
        out.push('(');
        for c in 0..cols {
            if c > 0 {
                out.push(',');
            }
            out.push_str(&backend.placeholder(n));
            n += 1;
        }
        out.push(')');
    }
    out
}

/// Write statements sent to the database together, with their parameters.
///
/// PostgreSQL runs them as the data-modifying parts of one `WITH` statement, in one
/// trip. The writer's SQLite connection runs them one after another, each prepared once
/// and cached (which is why SQLite's statements are written one row each: the same text
/// every time). Statements of one script must not modify the same row twice
/// (PostgreSQL runs them on one snapshot); the rows a statement `RETURNING` gives come
/// back from [`Script::run`] (all such statements of a script return the same columns;
/// on SQLite only `RETURNING id, <the first column>` of a one-row insert, see
/// `sql::run_on_sqlite`).
#[derive(Clone)]
pub(crate) struct Script {
    backend: Backend,
    /// Each statement and the index in `args` of its first parameter.
    statements: Vec<(Arc<str>, usize)>,
    args: Vec<Value>,
    /// The index in `args` of the first parameter of the next statement.
    next: usize,
    returning: Vec<usize>,
    /// The statement that guards the script and the check made over its rows, which
    /// fails the whole statement (PostgreSQL only).
    guard: Option<(usize, String)>,
}

impl Script {
    /// An empty script.
    pub(crate) fn new(backend: Backend) -> Script {
        Script { backend, statements: Vec::new(), args: Vec::new(), next: 0, returning: Vec::new(), guard: None }
    }

    /// Whether no statement was staged.
    pub(crate) fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    /// The backend the script is written for.
    pub(crate) fn backend(&self) -> Backend {
        self.backend
    }

    /// The number of the next parameter (the first one of the next statement).
    pub(crate) fn next_param(&self) -> usize {
        self.args.len() + 1
    }

    /// Binds the next parameter.
    pub(crate) fn bind(&mut self, value: impl Param) -> &mut Script {
        self.args.push(value.value());
        self
    }

    /// Adds a statement whose parameters were bound since the previous one.
    pub(crate) fn push(&mut self, sql: impl Into<Arc<str>>) {
        self.statements.push((sql.into(), self.next));
        self.next = self.args.len();
    }

    /// Adds a statement whose `RETURNING` rows [`Script::run`] gives back.
    pub(crate) fn push_returning(&mut self, sql: impl Into<Arc<str>>) {
        self.returning.push(self.statements.len());
        self.push(sql);
    }

    /// PostgreSQL: the name, in the one statement [`Script::run`] sends, of the first
    /// staged statement whose rows come back (`RETURNING`), so that a later part of
    /// the same script can read them (it cannot see that statement's rows in its
    /// table: every part runs on one snapshot).
    pub(crate) fn returning_part(&self) -> Option<String> {
        let first = *self.returning.first()?;
        (self.backend == Backend::Postgres).then(|| format!("s{first}"))
    }

    /// Adds the statement that guards the script (PostgreSQL): it runs before the
    /// others, and `check`, an aggregate over its rows, is evaluated once whatever
    /// they are; a check that raises an error fails the whole statement, and nothing
    /// of the script is written.
    pub(crate) fn push_guard(&mut self, sql: String, check: &str) {
        debug_assert_eq!(self.backend, Backend::Postgres, "only PostgreSQL's scripts are guarded");
        debug_assert!(self.guard.is_none(), "one guard per script");
        self.guard = Some((self.statements.len(), check.to_owned()));
        self.push(sql);
    }

    /// Runs the statements in the caller's transaction (a guarded script: in one
    /// statement, which commits on its own outside a transaction).
    pub(crate) async fn run(self, conn: &mut Conn<'_>) -> Result<Vec<SqlRow>, StoreError> {
        if self.statements.is_empty() {
            return Ok(Vec::new());
        }
        if self.backend == Backend::Sqlite {
            let ends: Vec<usize> = self.statements.iter().skip(1).map(|(_, from)| *from).chain([self.next]).collect();
            if let Conn::Sqlite(c) = conn {
                return crate::sql::run_on_sqlite(c, &self.statements, &ends, &self.args, &self.returning);
            }
            // An sqlx connection: one statement after another, `RETURNING` as written.
            let mut out = Vec::new();
            let mut args = self.args.into_iter();
            // In the order they were pushed, as the statements.
            let mut returning = self.returning.iter().copied().peekable();
            for (i, ((sql, from), to)) in self.statements.into_iter().zip(ends).enumerate() {
                let mut q = crate::sql::query(&*sql);
                for v in args.by_ref().take(to - from) {
                    q = q.bind(v);
                }
                if returning.next_if_eq(&i).is_some() {
                    out.extend(q.fetch_all(conn).await?);
                } else {
                    q.execute(conn).await?;
                }
            }
            return Ok(out);
        }
        let sql = if self.statements.len() == 1 && self.guard.is_none() {
            self.statements.iter().map(|(s, _)| &**s).collect::<String>()
        } else {
            let parts: Vec<String> =
                self.statements.iter().enumerate().map(|(i, (s, _))| format!("s{i} AS ({s})")).collect();
            let mut tails: Vec<String> = self.returning.iter().map(|i| format!("SELECT * FROM s{i}")).collect();
            if let Some((g, check)) = &self.guard {
                // First, so that its locks are taken before any other row's; one row
                // whatever the guard gave, so that its check always runs; its NULL
                // second column keeps it out of the rows given back.
                tails.insert(0, format!("SELECT {check}, NULL::text FROM s{g}"));
            }
            let tail = if tails.is_empty() { "SELECT 1 WHERE false".to_owned() } else { tails.join(" UNION ALL ") };
            format!("WITH {} {tail}", parts.join(", "))
        };
        let guarded = self.guard.is_some();
        let mut q = crate::sql::query(sql);
        for v in self.args {
            q = q.bind(v);
        }
        let mut rows = q.fetch_all(conn).await?;
        if guarded {
            rows.retain(|r| !r.is_null(1));
        }
        Ok(rows)
    }
}

/// The values of one row of [`Script::insert_rows`].
pub(crate) struct RowValues(Vec<Value>);

impl RowValues {
    /// Binds the row's next column.
    pub(crate) fn bind(&mut self, value: impl Param) -> &mut RowValues {
        self.0.push(value.value());
        self
    }
}

impl Script {
    /// Stages `{head} <rows> {tail}` for an `INSERT`: `head` names the table and its
    /// columns, `kinds` their types, `bind` binds one row's columns in order. SQLite
    /// runs one cached statement per row (`VALUES (?, …)`); PostgreSQL one statement
    /// whose rows travel as a single JSON parameter (`SELECT … FROM
    /// jsonb_array_elements($n)`), so that its text, and so its prepared statement, is
    /// the same whatever the number of rows. `jsonb`, not `json`: the array is parsed
    /// once, where `->>` on a `json` value lexes the row's text again for each column
    /// (measured: a fifth of PostgreSQL's CPU in the batch's writes). Rows whose
    /// `RETURNING` the caller wants come back from [`Script::run`].
    pub(crate) fn insert_rows<T>(
        &mut self,
        head: &str,
        kinds: &[Kind],
        tail: &str,
        returning: bool,
        rows: &[T],
        mut bind: impl FnMut(&mut RowValues, &T),
    ) {
        if rows.is_empty() {
            return;
        }
        match self.backend {
            // One row: `VALUES`, whose text is as stable and which PostgreSQL runs
            // without parsing JSON (the common case at low load).
            Backend::Postgres if rows.len() == 1 => {
                let sql = format!("{head} VALUES {} {tail}", values(self.backend, 1, kinds.len(), self.next_param()));
                let mut values = RowValues(Vec::with_capacity(kinds.len()));
                bind(&mut values, &rows[0]);
                debug_assert_eq!(values.0.len(), kinds.len(), "{head}");
                self.args.extend(values.0);
                if returning {
                    self.push_returning(sql);
                } else {
                    self.push(sql);
                }
            }
            Backend::Sqlite => {
                // SQLite's rows come back as (rowid, first column): `sql::run_on_sqlite`.
                debug_assert!(
                    !returning
                        || head.split_once('(').and_then(|(_, c)| c.split(',').next()).map(str::trim)
                            == tail.strip_prefix("RETURNING id, ").map(str::trim),
                    "on SQLite an insert returns its id and its first column: {head} {tail}"
                );
                // One text for every row, shared.
                let sql: Arc<str> = format!("{head} VALUES {} {tail}", values(self.backend, 1, kinds.len(), 1)).into();
                for row in rows {
                    let mut values = RowValues(Vec::with_capacity(kinds.len()));
                    bind(&mut values, row);
                    debug_assert_eq!(values.0.len(), kinds.len(), "{head}");
                    self.args.extend(values.0);
                    if returning {
                        self.push_returning(Arc::clone(&sql));
                    } else {
                        self.push(Arc::clone(&sql));
                    }
                }
            }
            Backend::Postgres => {
                let mut json = String::with_capacity(rows.len() * kinds.len() * 12);
                json.push('[');
                for (i, row) in rows.iter().enumerate() {
                    let mut values = RowValues(Vec::with_capacity(kinds.len()));
                    bind(&mut values, row);
                    debug_assert_eq!(values.0.len(), kinds.len(), "{head}");
                    if i > 0 {
                        json.push(',');
                    }
                    json.push('[');
                    for (j, v) in values.0.iter().enumerate() {
                        if j > 0 {
                            json.push(',');
                        }
                        push_json(&mut json, v);
                    }
                    json.push(']');
                }
                json.push(']');
                let columns: Vec<String> = kinds
                    .iter()
                    .enumerate()
                    .map(|(i, k)| match k {
                        Kind::Int => format!("(r.v->>{i})::bigint"),
                        Kind::Real => format!("(r.v->>{i})::float8"),
                        Kind::Text => format!("(r.v->>{i})"),
                        Kind::Blob => format!("decode(r.v->>{i}, 'hex')"),
                    })
                    .collect();
                let sql = format!(
                    "{head} SELECT {} FROM jsonb_array_elements({}::jsonb) AS r(v) {tail}",
                    columns.join(", "),
                    self.backend.placeholder(self.next_param())
                );
                self.bind(json);
                if returning {
                    self.push_returning(sql);
                } else {
                    self.push(sql);
                }
            }
        }
    }
}

/// Appends a value as JSON (a blob as hex text, for `decode(…, 'hex')`).
fn push_json(out: &mut String, v: &Value) {
    use std::fmt::Write;
    match v {
        Value::Null(_) => out.push_str("null"),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Real(r) if r.is_finite() => {
            let _ = write!(out, "{r:?}");
        }
        Value::Real(_) => out.push_str("null"),
        Value::Text(t) => push_json_string(out, t),
        Value::Blob(b) => {
            out.push('"');
            out.push_str(&hex::encode(b));
            out.push('"');
        }
    }
}

/// `texts` as a JSON array of strings (for SQLite's `json_each`).
pub(crate) fn json_strings<'a>(texts: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::from("[");
    for (i, t) in texts.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_string(&mut out, t);
    }
    out.push(']');
    out
}

/// Appends `text` as a JSON string.
fn push_json_string(out: &mut String, text: &str) {
    use std::fmt::Write;
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A list of texts for `x IN (…)`, with a statement text that does not change with
/// every count: SQLite reads it as one JSON array (`json_each`); PostgreSQL gets one
/// placeholder per value, their number rounded up to a power of two (the last value
/// repeated), so that a handful of texts serve every batch while the planner still
/// sees how many values there are (an array parameter looked like ten to it, and a
/// sequential scan looked cheaper on a small table).
pub(crate) struct TextList {
    backend: Backend,
    params: Vec<String>,
}

impl TextList {
    /// The list of `texts` (at least one).
    pub(crate) fn new<'a>(backend: Backend, texts: impl IntoIterator<Item = &'a str>) -> TextList {
        let params = match backend {
            Backend::Sqlite => vec![json_strings(texts)],
            Backend::Postgres => {
                let mut params: Vec<String> = texts.into_iter().map(str::to_owned).collect();
                let last = params.last().cloned().unwrap_or_default();
                params.resize(params.len().max(1).next_power_of_two(), last);
                params
            }
        };
        TextList { backend, params }
    }

    /// How many parameters the list takes.
    pub(crate) fn params(&self) -> usize {
        self.params.len()
    }

    /// `IN (…)` with the list's placeholders numbered from `first`.
    pub(crate) fn sql(&self, first: usize) -> String {
        match self.backend {
            Backend::Sqlite => "IN (SELECT value FROM json_each(?))".to_owned(),
            Backend::Postgres => format!("IN ({})", list(self.backend, self.params.len(), first)),
        }
    }

    /// The list's parameters, in order.
    pub(crate) fn values(&self) -> Vec<String> {
        self.params.clone()
    }

    /// Binds the list's parameters, in order.
    pub(crate) fn bind_to(&self, mut q: crate::sql::Query) -> crate::sql::Query {
        for p in &self.params {
            q = q.bind(p.as_str());
        }
        q
    }
}

/// The placeholders of an `IN (…)` list of `n` values, numbered from `first`.
pub(crate) fn list(backend: Backend, n: usize, first: usize) -> String {
    (first..first + n).map(|i| backend.placeholder(i)).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_parameters_escape_what_json_requires() {
        let texts = ["plain", "a \"quoted\" \\ back", "line\nbreak\ttab\u{1}", "é€😀"];
        let sqlite = TextList::new(Backend::Sqlite, texts);
        assert_eq!(sqlite.params, [r#"["plain","a \"quoted\" \\ back","line\u000abreak\u0009tab\u0001","é€😀"]"#]);
        assert_eq!(sqlite.sql(1), "IN (SELECT value FROM json_each(?))");
        let pg = TextList::new(Backend::Postgres, ["a", "b", "c"]);
        assert_eq!(pg.params, ["a", "b", "c", "c"], "padded to a power of two with the last value");
        assert_eq!(pg.sql(3), "IN ($3,$4,$5,$6)");
        let mut row = String::new();
        for v in [Value::Null(Kind::Text), Value::Int(-42), Value::Real(0.5), Value::Blob(vec![0, 255, 16])] {
            push_json(&mut row, &v);
            row.push(' ');
        }
        assert_eq!(row, r#"null -42 0.5 "00ff10" "#);
    }

    #[test]
    fn insert_rows_keeps_one_text_whatever_the_count() {
        let stage = |backend, n: i64| {
            let mut script = Script::new(backend);
            let rows: Vec<i64> = (0..n).collect();
            script.insert_rows("INSERT INTO t (a, b)", &[Kind::Int, Kind::Text], "", false, &rows, |v, r| {
                v.bind(*r).bind(format!("row {r}"));
            });
            script
        };
        let (two, many) = (stage(Backend::Postgres, 2), stage(Backend::Postgres, 50));
        assert_eq!(two.statements, many.statements);
        assert_eq!(many.args.len(), 1, "the rows travel as one JSON parameter");
        let one = stage(Backend::Postgres, 1);
        assert!(one.statements[0].0.contains("VALUES ($1,$2)"), "{:?}", one.statements);
        assert_eq!(one.args.len(), 2);
        let sqlite = stage(Backend::Sqlite, 3);
        assert_eq!(sqlite.statements.len(), 3, "one cached statement per row on SQLite");
        assert!(sqlite.statements.iter().all(|(s, _)| *s == sqlite.statements[0].0));
        assert_eq!(sqlite.args.len(), 6);
    }
}
