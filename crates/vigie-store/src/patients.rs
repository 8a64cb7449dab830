//! Which calls each patient has, on SQLite: kept in memory rather than in an index on
//! `calls(patient_ref)`.
//!
//! The patient reference is a keyed-hash pseudonym, random by design, so an index on it
//! puts every new call on a leaf page of its own: more than half of the pages a SQLite
//! commit wrote, and so of its WAL writes and its sync, went to that one index (see
//! BENCHMARKS.md). SQLite has no such index any more (migration 0015). This map gives,
//! for a patient, the ids of their calls; queries then read those calls by rowid and
//! check `patient_ref` themselves, so an id the map still holds for a call since erased
//! or purged matches nothing. PostgreSQL, where several processes write, keeps its index.
//!
//! The map is filled from the `calls` table and caught up from whatever connection asks
//! (the writer at each batch, a reader before it looks a patient up): call ids only
//! grow, a transaction's new calls have ids above every committed one, so the rows
//! above the highest id seen, read on any snapshot, are exactly what the map lacks
//! from it. The writer adds the calls it inserted once their batch is committed, so
//! that its next catch-up finds only what other processes wrote. It also notices when
//! the highest ids were deleted (SQLite reuses a rowid above the highest one left) and
//! rebuilds the map then.

use std::collections::HashMap;
use std::fmt::Write;
use std::hash::{BuildHasherDefault, DefaultHasher, Hash, Hasher};
use std::sync::Mutex;

use crate::db::{Backend, TextList, json_strings};
use crate::error::StoreError;
use crate::sql::{self, Conn};

/// An sqlx query on either backend.
type SqlxQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// No previous link.
const NONE: u32 = u32::MAX;

/// Calls read per query when catching up (the first catch-up reads them all).
const CHUNK: i64 = 20_000;

/// Hashes a patient's key, already a hash, as it is.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[derive(Default)]
struct Map {
    /// A patient's key → their latest link.
    heads: HashMap<u64, u32, BuildHasherDefault<KeyHasher>>,
    /// Each link's call id…
    ids: Vec<i64>,
    /// …and the same patient key's previous link (two vectors: 12 bytes a call).
    previous: Vec<u32>,
    /// The highest call id read.
    last: i64,
    /// The call at `last` when it was read: its creation instant and its patient's key.
    last_call: (i64, u64),
}

impl Map {
    /// Adds a call above `last`.
    fn add(&mut self, id: i64, patient_ref: &str, created_at: i64) {
        let Ok(at) = u32::try_from(self.ids.len()) else {
            // Four billion calls in one map (a thousand years of the seed's centre): the
            // map stops growing and the writer, finding no call at `last` with this
            // mark, reads every call again at each batch: slow, never wrong.
            self.last_call = (i64::MIN, 0);
            return;
        };
        let k = key(patient_ref);
        let head = self.heads.entry(k).or_insert(NONE);
        self.ids.push(id);
        self.previous.push(*head);
        *head = at;
        self.last = id;
        self.last_call = (created_at, k);
    }
}

/// The key of a patient reference in the map. Two references may share a key: the
/// queries compare `patient_ref` itself.
fn key(patient_ref: &str) -> u64 {
    let mut h = DefaultHasher::new();
    patient_ref.hash(&mut h);
    h.finish()
}

/// The call ids of every patient, for SQLite (see the module's documentation).
#[derive(Default)]
pub(crate) struct PatientCalls {
    map: Mutex<Map>,
}

impl PatientCalls {
    fn lock(&self) -> std::sync::MutexGuard<'_, Map> {
        // A panic while the lock was held left at worst a link missing its head: the
        // queries still check patient_ref, and a rebuild starts from nothing.
        self.map.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds the calls `conn` sees above the highest id read so far, in chunks (the
    /// first catch-up reads every call).
    pub(crate) async fn catch_up(&self, conn: &mut Conn<'_>) -> Result<(), StoreError> {
        let mut last = self.lock().last;
        loop {
            let rows = sql::query("SELECT id, patient_ref, created_at FROM calls WHERE id > $1 ORDER BY id LIMIT $2")
                .bind(last)
                .bind(CHUNK)
                .fetch_all(&mut *conn)
                .await?;
            let Some(end) = rows.last().map(|r| r.get::<i64, _>(0)) else { return Ok(()) };
            let mut map = self.lock();
            for row in &rows {
                let id: i64 = row.get(0);
                // Another connection may have added some of them since `last` was read.
                if id > map.last {
                    map.add(id, &row.get::<String, _>(1), row.get(2));
                }
            }
            drop(map);
            if (rows.len() as i64) < CHUNK {
                return Ok(());
            }
            last = end;
        }
    }

    /// The catch-up of a write transaction (so on the latest state). SQLite gives a new
    /// row the rowid after the highest one there: while the call read at `last` is
    /// still there, no id at or below it can be given again. When it is gone or another
    /// (deleted, its rowid given to a new call), every call is read again.
    pub(crate) async fn catch_up_writer(&self, conn: &mut Conn<'_>) -> Result<(), StoreError> {
        let (last, seen) = {
            let map = self.lock();
            (map.last, map.last_call)
        };
        if last > 0 {
            // With the highest id: when it is `last`, there is nothing to read (the
            // common case), and the range read, whose bound SQLite's planner probes in
            // its statistics and so prepares again for every value, is not run.
            let row =
                sql::query("SELECT patient_ref, created_at, (SELECT max(id) FROM calls) FROM calls WHERE id = $1")
                    .bind(last)
                    .fetch_optional(&mut *conn)
                    .await?;
            let there = row.map(|r| ((r.get::<i64, _>(1), key(&r.get::<String, _>(0))), r.get::<i64, _>(2)));
            match there {
                Some((call, highest)) if call == seen => {
                    if highest == last {
                        return Ok(());
                    }
                }
                _ => {
                    tracing::info!(last, "the latest call read is gone; reading every patient's calls again");
                    *self.lock() = Map::default();
                }
            }
        }
        self.catch_up(conn).await
    }

    /// Adds the calls a write transaction inserted, once it is committed: `(id,
    /// patient)` in the order of their ids, created at `created_at` (microseconds).
    /// It read the calls above `last` first, so its own ids follow; should another
    /// connection have added some meanwhile, the ids at or below `last` are skipped.
    pub(crate) fn add_committed(&self, calls: &[(i64, &str)], created_at: i64) {
        let mut map = self.lock();
        for (id, patient) in calls {
            if *id > map.last {
                map.add(*id, patient, created_at);
            }
        }
    }

    /// The ids of the calls of `patients`, as a JSON array for `json_each`.
    fn ids_json<'a>(&self, patients: impl IntoIterator<Item = &'a str>) -> String {
        let map = self.lock();
        let mut ids = Vec::new();
        for p in patients {
            let mut at = map.heads.get(&key(p)).copied().unwrap_or(NONE);
            while at != NONE {
                ids.push(map.ids[at as usize]);
                at = map.previous[at as usize];
            }
        }
        drop(map);
        ids.sort_unstable();
        ids.dedup();
        let mut out = String::with_capacity(ids.len() * 8 + 2);
        out.push('[');
        for (i, id) in ids.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            // Writing into a String cannot fail.
            let _ = write!(out, "{id}");
        }
        out.push(']');
        out
    }

    /// The calls held and the patients, for tests.
    #[cfg(test)]
    fn len(&self) -> (usize, usize) {
        let map = self.lock();
        (map.ids.len(), map.heads.len())
    }
}

/// The condition that picks the calls of some patients, and its parameters: through
/// the ids of [`PatientCalls`] on SQLite, through the index on `calls(patient_ref)` on
/// PostgreSQL.
pub(crate) enum CallsOf {
    /// The patients' call ids and their references, each as a JSON array.
    Ids { ids: String, refs: String },
    /// The patients' references.
    Refs(TextList),
}

impl CallsOf {
    /// The calls of `patients`; `map` is the store's [`PatientCalls`] (SQLite).
    pub(crate) fn new(backend: Backend, map: Option<&PatientCalls>, patients: &[&str]) -> CallsOf {
        match map {
            Some(map) => CallsOf::Ids {
                ids: map.ids_json(patients.iter().copied()),
                refs: json_strings(patients.iter().copied()),
            },
            None => CallsOf::Refs(TextList::new(backend, patients.iter().copied())),
        }
    }

    /// How many parameters the condition takes.
    pub(crate) fn params(&self) -> usize {
        match self {
            CallsOf::Ids { .. } => 2,
            CallsOf::Refs(list) => list.params(),
        }
    }

    /// The condition, on the calls table named `alias` (`""` or `"c."`), its
    /// placeholders numbered from `first`.
    pub(crate) fn sql(&self, alias: &str, first: usize) -> String {
        match self {
            CallsOf::Ids { .. } => format!(
                "{alias}id IN (SELECT value FROM json_each(?{first})) AND {alias}patient_ref IN (SELECT value FROM json_each(?{}))",
                first + 1
            ),
            CallsOf::Refs(list) => format!("{alias}patient_ref {}", list.sql(first)),
        }
    }

    /// The condition's parameters, in order, for an sqlx query.
    pub(crate) fn values(&self) -> Vec<String> {
        match self {
            CallsOf::Ids { ids, refs } => vec![ids.clone(), refs.clone()],
            CallsOf::Refs(list) => list.values(),
        }
    }

    /// Binds the condition's parameters, in order, to an sqlx query.
    pub(crate) fn bind_sqlx<'q>(&self, mut q: SqlxQuery<'q>) -> SqlxQuery<'q> {
        for v in self.values() {
            q = q.bind(v);
        }
        q
    }

    /// Binds the condition's parameters, in order.
    pub(crate) fn bind_to(&self, q: sql::Query) -> sql::Query {
        match self {
            CallsOf::Ids { ids, refs } => q.bind(ids.as_str()).bind(refs.as_str()),
            CallsOf::Refs(list) => list.bind_to(q),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patient_has_every_call_added_for_them_and_only_those() {
        let calls = PatientCalls::default();
        {
            let mut map = calls.lock();
            map.add(1, "ps1:a", 10);
            map.add(2, "ps1:b", 20);
            map.add(5, "ps1:a", 50);
        }
        assert_eq!(calls.ids_json(["ps1:a"]), "[1,5]");
        assert_eq!(calls.ids_json(["ps1:b", "ps1:a", "ps1:b"]), "[1,2,5]");
        assert_eq!(calls.ids_json(["ps1:c"]), "[]");
        assert_eq!(calls.len(), (3, 2));
        assert_eq!(calls.lock().last, 5);
    }

    /// The ids `CallsOf` picks for `patient` on `c`.
    async fn picked(c: &mut rusqlite::Connection, calls: &PatientCalls, patient: &str) -> Vec<i64> {
        let of = CallsOf::new(Backend::Sqlite, Some(calls), &[patient]);
        let sql = format!("SELECT id FROM calls WHERE {} ORDER BY id", of.sql("", 1));
        let rows = of.bind_to(sql::query(sql)).fetch_all(&mut Conn::Sqlite(c)).await.expect("the query runs");
        rows.iter().map(|r| r.get::<i64, _>(0)).collect()
    }

    #[test]
    fn the_map_catches_up_rereads_after_the_latest_calls_go_and_never_picks_another_patients_call() {
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
        runtime.block_on(async {
            let mut c = rusqlite::Connection::open_in_memory().expect("SQLite");
            c.execute_batch(
                "CREATE TABLE calls (id INTEGER PRIMARY KEY, patient_ref TEXT NOT NULL, created_at BIGINT NOT NULL);
                 INSERT INTO calls (patient_ref, created_at) VALUES ('ps1:a', 1), ('ps1:b', 2), ('ps1:a', 3);",
            )
            .expect("the table");
            let calls = PatientCalls::default();
            calls.catch_up(&mut Conn::Sqlite(&mut c)).await.expect("read");
            assert_eq!(picked(&mut c, &calls, "ps1:a").await, [1, 3]);

            // New calls, written by anyone, are read at the next catch-up.
            c.execute_batch("INSERT INTO calls (patient_ref, created_at) VALUES ('ps1:a', 4), ('ps1:c', 5)")
                .expect("insert");
            assert_eq!(picked(&mut c, &calls, "ps1:a").await, [1, 3], "not caught up yet");
            calls.catch_up_writer(&mut Conn::Sqlite(&mut c)).await.expect("catch up");
            assert_eq!(picked(&mut c, &calls, "ps1:a").await, [1, 3, 4]);
            assert_eq!(picked(&mut c, &calls, "ps1:c").await, [5]);

            // An erased call keeps its id in the map, and matches nobody.
            c.execute_batch("UPDATE calls SET patient_ref = 'erased' WHERE id = 3").expect("erase");
            assert_eq!(picked(&mut c, &calls, "ps1:a").await, [1, 4]);

            // The latest calls deleted and their rowids given to other calls (by another
            // process, before this writer's next batch): the writer reads every call
            // again rather than miss the new ones.
            c.execute_batch(
                "DELETE FROM calls WHERE id >= 4; \
                 INSERT INTO calls (patient_ref, created_at) VALUES ('ps1:d', 6), ('ps1:a', 7);",
            )
            .expect("purge and insert");
            assert_eq!(picked(&mut c, &calls, "ps1:d").await, Vec::<i64>::new(), "not caught up yet");
            assert_eq!(calls.len().0, 5);
            calls.catch_up_writer(&mut Conn::Sqlite(&mut c)).await.expect("rebuild");
            assert_eq!(calls.len(), (5, 4), "only the calls there now");
            assert_eq!(picked(&mut c, &calls, "ps1:d").await, [4]);
            assert_eq!(picked(&mut c, &calls, "ps1:a").await, [1, 5]);
            assert_eq!(picked(&mut c, &calls, "ps1:c").await, Vec::<i64>::new());

            // More calls than one read takes: read in several.
            c.execute_batch(&format!(
                "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {}) \
                 INSERT INTO calls (patient_ref, created_at) SELECT 'ps1:e', 100 + i FROM s",
                2 * CHUNK + 1
            ))
            .expect("many calls");
            calls.catch_up_writer(&mut Conn::Sqlite(&mut c)).await.expect("catch up");
            assert_eq!(picked(&mut c, &calls, "ps1:e").await.len() as i64, 2 * CHUNK + 1);
            assert_eq!(calls.len(), (5 + 2 * CHUNK as usize + 1, 5));
        });
    }
}
