//! Queries that run on either kind of connection the store holds: sqlx's `Any`
//! connections (PostgreSQL, and SQLite's readers) or the writer's own synchronous SQLite
//! connection.
//!
//! The writer decides a batch of allocations and writes it in one transaction. On SQLite
//! that transaction runs on a `rusqlite` connection on the writer's own thread, with
//! every statement prepared once and cached: no hand-off to another thread per
//! statement, no parsing per batch. The code that builds the statements is the same for
//! both backends; [`Conn`] runs it on the one at hand.

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{Arguments, AssertSqlSafe, Executor};

use crate::error::StoreError;

/// The type of a value, kept for a NULL so that PostgreSQL learns the parameter's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Int,
    Real,
    Text,
    Blob,
}

/// A bound parameter or a column's value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null(Kind),
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// What may be bound as a parameter.
pub(crate) trait Param {
    /// The value's type, also when it is absent.
    const KIND: Kind;
    /// The value.
    fn value(self) -> Value;
}

macro_rules! param {
    ($kind:ident, $variant:ident, $($t:ty => $conv:expr),+) => {$(
        impl Param for $t {
            const KIND: Kind = Kind::$kind;
            fn value(self) -> Value {
                #[allow(clippy::redundant_closure_call)]
                Value::$variant(($conv)(self))
            }
        }
    )+};
}

param!(Int, Int, i64 => |v| v, i32 => i64::from, u32 => i64::from, bool => i64::from);
param!(Real, Real, f64 => |v| v);
param!(Text, Text, String => |v| v, &str => str::to_owned, &String => String::clone);
impl Param for Value {
    const KIND: Kind = Kind::Int;
    fn value(self) -> Value {
        self
    }
}

param!(Blob, Blob, Vec<u8> => |v| v, &[u8] => <[u8]>::to_vec, &Vec<u8> => Vec::clone);

impl<T: Param> Param for Option<T> {
    const KIND: Kind = T::KIND;
    fn value(self) -> Value {
        self.map_or(Value::Null(T::KIND), Param::value)
    }
}

/// Adds a value to sqlx's arguments, with its type.
fn add_any(args: &mut AnyArguments, value: Value) {
    let added = match value {
        Value::Null(Kind::Int) => args.add(None::<i64>),
        Value::Null(Kind::Real) => args.add(None::<f64>),
        Value::Null(Kind::Text) => args.add(None::<String>),
        Value::Null(Kind::Blob) => args.add(None::<Vec<u8>>),
        Value::Int(v) => args.add(v),
        Value::Real(v) => args.add(v),
        Value::Text(v) => args.add(v),
        Value::Blob(v) => args.add(v),
    };
    // Encoding into the Any driver's own value type does not fail for these types.
    if let Err(e) = added {
        tracing::error!(error = %e, "a parameter could not be encoded");
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null(_) => ValueRef::Null,
            Value::Int(v) => ValueRef::Integer(*v),
            Value::Real(v) => ValueRef::Real(*v),
            Value::Text(v) => ValueRef::Text(v.as_bytes()),
            Value::Blob(v) => ValueRef::Blob(v),
        }))
    }
}

/// A row read through either connection.
pub(crate) enum Row {
    Any(AnyRow),
    Values(Vec<Value>),
}

/// A column's index; `usize` only, so that an integer literal finds it.
pub(crate) trait Index {
    fn index(self) -> usize;
}

impl Index for usize {
    fn index(self) -> usize {
        self
    }
}

/// What a column may be read as.
pub(crate) trait Column: Sized {
    fn from_any(row: &AnyRow, i: usize) -> Self;
    fn from_value(v: &Value) -> Option<Self>;
    const NAME: &'static str;
}

macro_rules! column {
    ($($t:ty => $name:literal, |$v:ident| $conv:expr);+ $(;)?) => {$(
        impl Column for $t {
            const NAME: &'static str = $name;
            fn from_any(row: &AnyRow, i: usize) -> Self {
                sqlx::Row::get(row, i)
            }
            fn from_value($v: &Value) -> Option<Self> {
                $conv
            }
        }
        impl Column for Option<$t> {
            const NAME: &'static str = concat!("optional ", $name);
            fn from_any(row: &AnyRow, i: usize) -> Self {
                sqlx::Row::get(row, i)
            }
            fn from_value(v: &Value) -> Option<Self> {
                match v {
                    Value::Null(_) => Some(None),
                    v => <$t as Column>::from_value(v).map(Some),
                }
            }
        }
    )+};
}

column! {
    i64 => "integer", |v| match v { Value::Int(i) => Some(*i), _ => None };
    i32 => "integer", |v| match v { Value::Int(i) => i32::try_from(*i).ok(), _ => None };
    bool => "boolean", |v| match v { Value::Int(i) => Some(*i != 0), _ => None };
    f64 => "real", |v| match v { Value::Real(r) => Some(*r), Value::Int(i) => Some(*i as f64), _ => None };
    String => "text", |v| match v { Value::Text(s) => Some(s.clone()), _ => None };
    Vec<u8> => "blob", |v| match v { Value::Blob(b) => Some(b.clone()), _ => None };
}

impl Row {
    /// Whether the column `i` is NULL.
    pub(crate) fn is_null(&self, i: usize) -> bool {
        match self {
            Row::Any(row) => sqlx::Row::try_get_raw(row, i).is_ok_and(|v| sqlx::ValueRef::is_null(&v)),
            Row::Values(values) => values.get(i).is_some_and(|v| matches!(v, Value::Null(_))),
        }
    }

    /// The column `i` as `T`. Panics when the column is missing or of another type, as
    /// sqlx's `Row::get` does: that is a bug in the query, not bad data.
    pub(crate) fn get<T: Column, I: Index>(&self, i: I) -> T {
        let i = i.index();
        match self {
            Row::Any(row) => T::from_any(row, i),
            Row::Values(values) => match values.get(i) {
                Some(v) => T::from_value(v).unwrap_or_else(|| panic!("column {i} is {v:?}, not {}", T::NAME)),
                None => panic!("no column {i} (the row has {})", values.len()),
            },
        }
    }
}

/// A connection the store's shared queries run on.
pub(crate) enum Conn<'c> {
    /// An sqlx connection (PostgreSQL, or SQLite outside the writer).
    Any(&'c mut sqlx::AnyConnection),
    /// The writer's synchronous SQLite connection.
    Sqlite(&'c mut rusqlite::Connection),
}

impl<'c> From<&'c mut sqlx::AnyConnection> for Conn<'c> {
    fn from(c: &'c mut sqlx::AnyConnection) -> Conn<'c> {
        Conn::Any(c)
    }
}

impl Conn<'_> {
    /// Runs statements without parameters nor rows (`BEGIN`, `COMMIT`, …).
    pub(crate) async fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        match self {
            Conn::Any(c) => {
                c.execute(sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))).await?;
            }
            Conn::Sqlite(c) => c.execute_batch(sql)?,
        }
        Ok(())
    }

    /// Runs `first` (statements without parameters nor rows), then the query `then`,
    /// in one trip where the connection allows it; gives `then`'s rows.
    pub(crate) async fn batch_then(&mut self, first: &str, then: &str) -> Result<Vec<Row>, StoreError> {
        match self {
            Conn::Any(c) => {
                let rows = sqlx::raw_sql(AssertSqlSafe(format!("{first}; {then}"))).fetch_all(&mut **c).await?;
                Ok(rows.into_iter().map(Row::Any).collect())
            }
            Conn::Sqlite(c) => {
                c.execute_batch(first)?;
                sqlite_rows(c, then, &[])
            }
        }
    }
}

/// Binds `args` to a prepared statement as sqlx does: `$N` (or `?N`) takes the `N`th
/// argument wherever and however often it appears, a plain `?` the next one.
fn bind_sqlite(stmt: &mut rusqlite::Statement<'_>, args: &[Value]) -> Result<(), StoreError> {
    for i in 1..=stmt.parameter_count() {
        let n = parameter_argument(stmt, i)?;
        bind_argument(stmt, i, n, args)?;
    }
    Ok(())
}

/// The argument (from 1) that a prepared statement's parameter `i` takes.
fn parameter_argument(stmt: &rusqlite::Statement<'_>, i: usize) -> Result<usize, StoreError> {
    match stmt.parameter_name(i) {
        Some(name) => name[1..]
            .parse::<usize>()
            .map_err(|_| StoreError::Corrupt(format!("parameter {name}: only $N and ? parameters are bound"))),
        None => Ok(i),
    }
}

/// For each parameter of a prepared statement, in order, the argument it takes: read
/// once for a statement run for many rows.
fn parameter_order(stmt: &rusqlite::Statement<'_>) -> Result<Vec<usize>, StoreError> {
    (1..=stmt.parameter_count()).map(|i| parameter_argument(stmt, i)).collect()
}

/// Binds argument `n` (from 1) of `args` to parameter `i`.
fn bind_argument(stmt: &mut rusqlite::Statement<'_>, i: usize, n: usize, args: &[Value]) -> Result<(), StoreError> {
    let value = args
        .get(n - 1)
        .ok_or_else(|| StoreError::Corrupt(format!("parameter {n} is not bound ({} arguments)", args.len())))?;
    stmt.raw_bind_parameter(i, value)?;
    Ok(())
}

fn sqlite_rows(c: &rusqlite::Connection, sql: &str, args: &[Value]) -> Result<Vec<Row>, StoreError> {
    let mut stmt = c.prepare_cached(sql)?;
    let columns = stmt.column_count();
    bind_sqlite(&mut stmt, args)?;
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut values = Vec::with_capacity(columns);
        for i in 0..columns {
            use rusqlite::types::ValueRef;
            values.push(match row.get_ref(i)? {
                ValueRef::Null => Value::Null(Kind::Int),
                ValueRef::Integer(v) => Value::Int(v),
                ValueRef::Real(v) => Value::Real(v),
                ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => Value::Blob(b.to_vec()),
            });
        }
        out.push(Row::Values(values));
    }
    Ok(out)
}

/// Runs a script's statements on the writer's SQLite connection: statement `i` is
/// `statements[i].0` with the arguments from `statements[i].1` to `ends[i]`. Those whose
/// index is in `returning` are one-row `INSERT … RETURNING id, <its first column>`s: each
/// runs without its `RETURNING` (which SQLite buffers through a temporary table: about
/// half the cost of the insert into `calls`), and its row is made of the rowid and the
/// first value bound. A run of statements of one text (the rows of one insert) runs on
/// one prepared statement, bound again per row.
pub(crate) fn run_on_sqlite(
    c: &rusqlite::Connection,
    statements: &[(std::sync::Arc<str>, usize)],
    ends: &[usize],
    args: &[Value],
    returning: &[usize],
) -> Result<Vec<Row>, StoreError> {
    let mut out = Vec::new();
    let mut returning = returning.iter().copied().peekable();
    // The statement prepared last, with its parameters' order.
    let mut current: Option<(&str, rusqlite::CachedStatement<'_>, Vec<usize>)> = None;
    for (i, ((sql, from), &to)) in statements.iter().zip(ends).enumerate() {
        let rows_back = returning.next_if_eq(&i).is_some();
        let text = match sql.find(" RETURNING ") {
            Some(at) if rows_back => &sql[..at],
            _ => &**sql,
        };
        let (_, stmt, order) = match &mut current {
            Some(same) if same.0 == text => same,
            slot => {
                let stmt = c.prepare_cached(text)?;
                let order = parameter_order(&stmt)?;
                slot.insert((text, stmt, order))
            }
        };
        let bound = &args[*from..to];
        for (i, &n) in order.iter().enumerate() {
            bind_argument(stmt, i + 1, n, bound)?;
        }
        stmt.raw_execute()?;
        if rows_back {
            let first = bound.first().cloned().ok_or_else(|| StoreError::Corrupt("no value bound".into()))?;
            out.push(Row::Values(vec![Value::Int(c.last_insert_rowid()), first]));
        }
    }
    Ok(out)
}

fn sqlite_execute(c: &rusqlite::Connection, sql: &str, args: &[Value]) -> Result<u64, StoreError> {
    let mut stmt = c.prepare_cached(sql)?;
    bind_sqlite(&mut stmt, args)?;
    Ok(stmt.raw_execute()? as u64)
}

/// What a write did.
pub(crate) struct Done(u64);

impl Done {
    /// The rows it changed.
    pub(crate) fn rows_affected(&self) -> u64 {
        self.0
    }
}

/// A statement and its parameters, as sqlx's `query`: `$N` placeholders (SQLite reads
/// them by position too).
pub(crate) struct Query {
    sql: String,
    args: Vec<Value>,
}

/// A query of `sql`.
pub(crate) fn query(sql: impl Into<String>) -> Query {
    Query { sql: sql.into(), args: Vec::new() }
}

impl Query {
    /// Binds the next parameter.
    pub(crate) fn bind(mut self, value: impl Param) -> Query {
        self.args.push(value.value());
        self
    }

    fn any_args(args: Vec<Value>) -> AnyArguments {
        let mut out = AnyArguments::default();
        for v in args {
            add_any(&mut out, v);
        }
        out
    }

    /// Every row.
    pub(crate) async fn fetch_all(self, conn: &mut Conn<'_>) -> Result<Vec<Row>, StoreError> {
        match conn {
            Conn::Any(c) => {
                let rows =
                    sqlx::query_with(AssertSqlSafe(self.sql), Query::any_args(self.args)).fetch_all(&mut **c).await?;
                Ok(rows.into_iter().map(Row::Any).collect())
            }
            Conn::Sqlite(c) => sqlite_rows(c, &self.sql, &self.args),
        }
    }

    /// The first row, if any.
    pub(crate) async fn fetch_optional(self, conn: &mut Conn<'_>) -> Result<Option<Row>, StoreError> {
        match conn {
            Conn::Any(c) => {
                let row = sqlx::query_with(AssertSqlSafe(self.sql), Query::any_args(self.args))
                    .fetch_optional(&mut **c)
                    .await?;
                Ok(row.map(Row::Any))
            }
            Conn::Sqlite(c) => Ok(sqlite_rows(c, &self.sql, &self.args)?.into_iter().next()),
        }
    }

    /// The first row; an error when there is none.
    pub(crate) async fn fetch_one(self, conn: &mut Conn<'_>) -> Result<Row, StoreError> {
        self.fetch_optional(conn).await?.ok_or(StoreError::Db(sqlx::Error::RowNotFound))
    }

    /// Runs a write.
    pub(crate) async fn execute(self, conn: &mut Conn<'_>) -> Result<Done, StoreError> {
        match conn {
            Conn::Any(c) => {
                let done =
                    sqlx::query_with(AssertSqlSafe(self.sql), Query::any_args(self.args)).execute(&mut **c).await?;
                Ok(Done(done.rows_affected()))
            }
            Conn::Sqlite(c) => Ok(Done(sqlite_execute(c, &self.sql, &self.args)?)),
        }
    }
}

/// Opens the writer's synchronous connection to the SQLite database at `path`, set up
/// as the pool's connections are, except `synchronous=NORMAL`: its commits do not sync
/// the WAL; the writer's flusher does, before any of the batch's answers goes out.
pub(crate) fn open_sqlite(path: &std::path::Path) -> Result<rusqlite::Connection, StoreError> {
    let c = rusqlite::Connection::open(path)?;
    c.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000; \
         PRAGMA wal_autocheckpoint=0; PRAGMA temp_store=MEMORY; PRAGMA cache_size=-4000; \
         PRAGMA foreign_keys=ON",
    )?;
    c.set_prepared_statement_cache_capacity(256);
    Ok(c)
}
