//! Connections, migrations and the few places where SQLite and PostgreSQL differ.
//!
//! Every query is a runtime query over sqlx's `Any` driver, written in the SQL both
//! backends accept (`$N` placeholders, `ON CONFLICT`, `RETURNING`). The differences
//! live here: how a write transaction starts and how the pool rows are locked.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor, Row};
use vigie_core::{Date, Timestamp};

use crate::error::StoreError;

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
];

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
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    // WAL with synchronous=FULL: a commit is on disk when it returns.
                    conn.execute("PRAGMA journal_mode=WAL").await?;
                    conn.execute("PRAGMA synchronous=FULL").await?;
                    conn.execute("PRAGMA busy_timeout=10000").await?;
                    // Fewer, larger checkpoints: each one runs inside a writer commit.
                    conn.execute("PRAGMA wal_autocheckpoint=8000").await?;
                    // Statement journals and sorts in memory; a larger page cache.
                    conn.execute("PRAGMA temp_store=MEMORY").await?;
                    conn.execute("PRAGMA cache_size=-65536").await?;
                    conn.execute("PRAGMA foreign_keys=ON").await?;
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await?;
    Ok((pool, backend))
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

/// A condition matching any of `n` (`a`, `b`) pairs, bound in order, in the form each
/// backend serves from an index on (`a`, `b`): PostgreSQL plans `(a, b) IN (VALUES …)` as
/// index lookups, while SQLite scans for that form but looks up each term of an `OR`.
pub(crate) fn pairs_in(backend: Backend, a: &str, b: &str, n: usize) -> String {
    match backend {
        Backend::Postgres => format!("({a}, {b}) IN (VALUES {})", values(backend, n, 2, 1)),
        Backend::Sqlite => vec![format!("({a} = ? AND {b} = ?)"); n].join(" OR "),
    }
}

/// The placeholders of an `IN (…)` list of `n` values, numbered from `first`.
pub(crate) fn list(backend: Backend, n: usize, first: usize) -> String {
    (first..first + n).map(|i| backend.placeholder(i)).collect::<Vec<_>>().join(",")
}
