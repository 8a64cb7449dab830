//! A throw-away prototype, not part of Vigie: the smallest durable allocation server
//! that `bench/calls.lua` can drive, to measure on this machine what the brief's
//! "throw-away axum + SQLite prototype" reaches, and what each part of Vigie's write
//! set costs on top of it.
//!
//! `vigie-proto DB ADDR TOKEN MODE`: DB is a SQLite database, or a `postgres://` URL, that
//! `vigie numbers import` created (Vigie's schema and numbers); MODE is
//! - `bare`: per allocation one row of five columns in a table of the prototype's own
//!   (`proto_allocations`, no index beyond its key), the cap held by the single writer;
//! - `minimal`: per allocation one row in `calls` and the number's day counter
//!   (`number_days`), the cap held by the single writer inside its transaction;
//! - `full`: Vigie's write set: the same `calls` row (patient phone sealed with
//!   AES-256-GCM, keyed-hash pseudonym), the number's and the pool's day counters,
//!   one hash-chained audit entry and the chain's head, and per batch the lookup of the
//!   batch's known `call_ref`s; the API key checked by its SHA-256 hash;
//! - `audit-per-batch`: as `full`, with one audit entry per batch, naming the batch's
//!   calls, instead of one per allocation (what that design would save).
//!
//! Every 1,000 batches the writer prints `batches=N requests=M` (the requests a
//! commit's fixed cost is shared by).
//!
//! One writer thread takes every queued request, runs one transaction (SQLite: `BEGIN
//! IMMEDIATE` … `COMMIT` with `synchronous=FULL`, the commit syncs the WAL; PostgreSQL:
//! one connection, each statement one `UNNEST` of the batch's columns) and only then
//! answers: an answer means durable. The number is chosen by a cursor per pool that
//! moves past numbers at the cap: no scan of the pool per call. No validation beyond
//! parsing, no affinity, no rests, no quarantine, no SMS: everything Vigie decides is
//! left out on purpose. It is a measurement, not a store: a batch that fails is answered
//! with its error, and the writer's counts and audit head are not rolled back with it.

use std::collections::HashMap;
use std::sync::mpsc;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hmac::{Hmac, Mac};
use jiff::tz::TimeZone;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CAP: i64 = 80;

/// What the prototype writes per allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// One row of five columns in a table of its own, `proto_allocations`, with no index
    /// beyond its key.
    Bare,
    /// Vigie's `calls` row and the number's day counter.
    Minimal,
    /// Vigie's write set.
    Full,
    /// Vigie's write set with one audit entry per batch (naming the batch's calls)
    /// instead of one per allocation.
    AuditPerBatch,
}

impl Mode {
    /// Whether the mode writes Vigie's write set (sealed phone, pseudonym, counters,
    /// audit chain).
    fn full(self) -> bool {
        matches!(self, Mode::Full | Mode::AuditPerBatch)
    }

    /// The audit entries of a batch's allocations `(call_ref, number, pool)`, chained
    /// after `head`: one per allocation, or one for the batch.
    fn audit<N: AsRef<str>>(self, head: &mut (i64, String), at: i64, allocated: &[(&str, N, &str)]) -> Vec<AuditEntry> {
        if self == Mode::AuditPerBatch && !allocated.is_empty() {
            let refs = allocated.iter().map(|a| a.0).collect::<Vec<_>>().join(",");
            let numbers = allocated.iter().map(|a| a.1.as_ref()).collect::<Vec<_>>().join(",");
            let pools = allocated.iter().map(|a| a.2).collect::<Vec<_>>().join(",");
            return vec![AuditEntry::chain(head, at, &refs, &numbers, &pools)];
        }
        allocated.iter().map(|(r, n, p)| AuditEntry::chain(head, at, r, n.as_ref(), p)).collect()
    }
}

/// The bare mode's table (SQLite, PostgreSQL).
const BARE_TABLE: [&str; 2] = [
    "CREATE TABLE IF NOT EXISTS proto_allocations (id INTEGER PRIMARY KEY, call_ref TEXT NOT NULL, number_id BIGINT NOT NULL, day TEXT NOT NULL, dial_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS proto_allocations (id BIGSERIAL PRIMARY KEY, call_ref TEXT NOT NULL, number_id BIGINT NOT NULL, day TEXT NOT NULL, dial_at BIGINT NOT NULL)",
];
/// The bare mode's calls per number and day, for the cap after a restart.
const BARE_DAYS: &str = "SELECT number_id, day, count(*) FROM proto_allocations GROUP BY number_id, day";

#[derive(Deserialize)]
struct CallIn {
    call_ref: String,
    facility: String,
    purpose: String,
    patient_ref: String,
    patient_phone: String,
    dial_at: String,
}

/// One allocation on its way to the writer.
struct Job {
    call_ref: String,
    facility: String,
    purpose: String,
    pool: &'static str,
    patient_ref: String,
    sealed: Vec<u8>,
    dial_at: i64,
    day: String,
    reply: oneshot::Sender<Result<(i64, String), String>>,
}

#[derive(Clone)]
struct App {
    full: bool,
    token_hash: [u8; 32],
    token: String,
    cipher: Aes256Gcm,
    pseudonym_key: Vec<u8>,
    jobs: mpsc::Sender<Job>,
    paris: TimeZone,
}

fn pool_of(purpose: &str) -> Option<&'static str> {
    Some(match purpose {
        "appointment_reminder" => "A",
        "results_followup" => "B",
        "coordination" => "C",
        "satisfaction_survey" => "D",
        _ => return None,
    })
}

async fn post_call(State(app): State<App>, headers: HeaderMap, Json(c): Json<CallIn>) -> Response {
    let presented = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let authorized = match presented {
        Some(t) if app.full => Sha256::digest(t.as_bytes()).as_slice() == app.token_hash,
        Some(t) => t == app.token,
        None => false,
    };
    if !authorized {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let Some(pool) = pool_of(&c.purpose) else {
        return StatusCode::UNPROCESSABLE_ENTITY.into_response();
    };
    let (sealed, patient_ref) = if app.full {
        let nonce: [u8; 12] = Sha256::digest(c.call_ref.as_bytes())[..12].try_into().expect("12 bytes");
        let mut sealed = nonce.to_vec();
        sealed.extend(app.cipher.encrypt(Nonce::from_slice(&nonce), c.patient_phone.as_bytes()).expect("seal"));
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&app.pseudonym_key).expect("key");
        mac.update(c.patient_ref.as_bytes());
        (sealed, format!("p1-{}", hex::encode(mac.finalize().into_bytes())))
    } else {
        (c.patient_phone.into_bytes(), c.patient_ref)
    };
    let Ok(dial_at) = c.dial_at.parse::<jiff::Timestamp>() else {
        return StatusCode::UNPROCESSABLE_ENTITY.into_response();
    };
    let day = app.paris.to_datetime(dial_at).date().to_string();
    let (tx, rx) = oneshot::channel();
    let job = Job {
        call_ref: c.call_ref,
        facility: c.facility,
        purpose: c.purpose,
        pool,
        patient_ref,
        sealed,
        dial_at: dial_at.as_microsecond(),
        day,
        reply: tx,
    };
    if app.jobs.send(job).is_err() {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    match rx.await {
        Ok(Ok((id, number))) => (
            StatusCode::CREATED,
            Json(serde_json::json!({"call_id": id, "caller_number": number, "display_name": "Clinique", "pool": pool})),
        )
            .into_response(),
        Ok(Err(e)) => (StatusCode::CONFLICT, e).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// The numbers of one pool and a cursor over them.
struct Pool {
    numbers: Vec<(i64, String)>,
    cursor: usize,
}

/// The writer's numbers and their calls per day: the choice scans nothing.
#[derive(Default)]
struct Chooser {
    pools: HashMap<&'static str, Pool>,
    /// Calls per (number, day), loaded from `number_days` and kept by the writer.
    days: HashMap<(i64, String), i64>,
}

impl Chooser {
    fn add_number(&mut self, id: i64, e164: String, pool: &str) {
        if let Some(code) = ["A", "B", "C", "D"].into_iter().find(|c| *c == pool) {
            self.pools.entry(code).or_insert(Pool { numbers: Vec::new(), cursor: 0 }).numbers.push((id, e164));
        }
    }

    /// The next number of `pool` below the cap on `day`: the cursor's, or the next;
    /// counted at once.
    fn choose(&mut self, pool: &str, day: &str) -> Option<(i64, String)> {
        let p = self.pools.get_mut(pool)?;
        for _ in 0..p.numbers.len() {
            let (id, e164) = &p.numbers[p.cursor];
            let n = self.days.entry((*id, day.to_owned())).or_insert(0);
            if *n < CAP {
                // Stay on a number until it is full, as Vigie does not scatter.
                *n += 1;
                return Some((*id, e164.clone()));
            }
            p.cursor = (p.cursor + 1) % p.numbers.len();
        }
        None
    }
}

/// One audit entry of an allocation, chained after `head`, which becomes it.
struct AuditEntry {
    seq: i64,
    subject: String,
    detail: String,
    prev: String,
    hash: String,
}

impl AuditEntry {
    fn chain(head: &mut (i64, String), at: i64, call_ref: &str, e164: &str, pool: &str) -> AuditEntry {
        let (seq, prev) = (head.0 + 1, head.1.clone());
        let subject = format!("call:{call_ref}");
        let detail = format!("number={e164} pool={pool}");
        let mut h = Sha256::new();
        for part in
            [seq.to_string().as_str(), at.to_string().as_str(), "key:bench", "call.allocated", &subject, &detail, &prev]
        {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        let hash = hex::encode(h.finalize());
        *head = (seq, hash.clone());
        AuditEntry { seq, subject, detail, prev, hash }
    }
}

struct Writer {
    conn: rusqlite::Connection,
    mode: Mode,
    chooser: Chooser,
    head: (i64, String),
}

impl Writer {
    fn open(path: &str, mode: Mode) -> rusqlite::Result<Writer> {
        let conn = rusqlite::Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "cache_size", -65536)?;
        let mut chooser = Chooser::default();
        {
            let mut st = conn.prepare("SELECT id, e164, pool FROM numbers WHERE status = 'active' ORDER BY id")?;
            let mut rows = st.query([])?;
            while let Some(r) = rows.next()? {
                chooser.add_number(r.get(0)?, r.get(1)?, &r.get::<_, String>(2)?);
            }
        }
        conn.execute_batch(BARE_TABLE[0])?;
        let days = if mode == Mode::Bare { BARE_DAYS } else { "SELECT number_id, day, calls FROM number_days" };
        {
            let mut st = conn.prepare(days)?;
            let mut rows = st.query([])?;
            while let Some(r) = rows.next()? {
                chooser.days.insert((r.get(0)?, r.get(1)?), r.get(2)?);
            }
        }
        let head =
            conn.query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(Writer { conn, mode, chooser, head })
    }

    fn batch(&mut self, jobs: Vec<Job>) {
        let result = self.write(&jobs);
        match result {
            Ok(answers) => {
                for (job, answer) in jobs.into_iter().zip(answers) {
                    let _ = job.reply.send(answer);
                }
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                for job in jobs {
                    let _ = job.reply.send(Err(e.to_string()));
                }
            }
        }
    }

    #[allow(clippy::type_complexity)]
    fn write(&mut self, jobs: &[Job]) -> rusqlite::Result<Vec<Result<(i64, String), String>>> {
        let now = jiff::Timestamp::now().as_microsecond();
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        let full = self.mode.full();
        if self.mode == Mode::Bare {
            let mut answers = Vec::with_capacity(jobs.len());
            for j in jobs {
                let Some((number, e164)) = self.chooser.choose(j.pool, &j.day) else {
                    answers.push(Err(format!("no_capacity in pool {}", j.pool)));
                    continue;
                };
                let mut st = self.conn.prepare_cached(
                    "INSERT INTO proto_allocations (call_ref, number_id, day, dial_at) VALUES (?, ?, ?, ?)",
                )?;
                st.execute(rusqlite::params![j.call_ref, number, j.day, j.dial_at])?;
                answers.push(Ok((self.conn.last_insert_rowid(), e164)));
            }
            self.conn.execute_batch("COMMIT")?;
            return Ok(answers);
        }
        if full {
            // The batch's known call_refs (Vigie answers a known one with its call).
            let list = vec!["?"; jobs.len()].join(",");
            let mut st = self.conn.prepare(&format!("SELECT id FROM calls WHERE call_ref IN ({list})"))?;
            let known = st
                .query_map(rusqlite::params_from_iter(jobs.iter().map(|j| j.call_ref.as_str())), |r| {
                    r.get::<_, i64>(0)
                })?
                .count();
            debug_assert_eq!(known, 0);
        }
        let mut answers = Vec::with_capacity(jobs.len());
        let mut changed: Vec<(i64, String)> = Vec::new();
        let mut pool_days: HashMap<(&'static str, String), i64> = HashMap::new();
        let mut allocated: Vec<(&str, String, &str)> = Vec::new();
        for j in jobs {
            let Some((number, e164)) = self.chooser.choose(j.pool, &j.day) else {
                answers.push(Err(format!("no_capacity in pool {}", j.pool)));
                continue;
            };
            changed.push((number, j.day.clone()));
            let mut st = self.conn.prepare_cached(
                "INSERT INTO calls (call_ref, facility, purpose, pool, patient_ref, patient_phone, patient_zone, dial_at, number_id, created_at, legal_basis, class) \
                 VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, 'public_interest_health', 'care')",
            )?;
            st.execute(rusqlite::params![
                j.call_ref,
                j.facility,
                j.purpose,
                j.pool,
                j.patient_ref,
                j.sealed,
                j.dial_at,
                number,
                now
            ])?;
            let id = self.conn.last_insert_rowid();
            if full {
                *pool_days.entry((j.pool, j.day.clone())).or_insert(0) += 1;
                allocated.push((j.call_ref.as_str(), e164.clone(), j.pool));
            }
            answers.push(Ok((id, e164)));
        }
        changed.sort();
        changed.dedup();
        for (number, day) in &changed {
            let mut st = self.conn.prepare_cached(
                "INSERT INTO number_days (number_id, day, calls, last_dial_at) VALUES (?, ?, 1, 0) \
                 ON CONFLICT (number_id, day) DO UPDATE SET calls = ?",
            )?;
            st.execute(rusqlite::params![number, day, self.chooser.days[&(*number, day.clone())]])?;
        }
        if full {
            for ((pool, day), n) in &pool_days {
                let mut st = self.conn.prepare_cached(
                    "INSERT INTO pool_days (pool, day, calls) VALUES (?, ?, ?) \
                     ON CONFLICT (pool, day) DO UPDATE SET calls = pool_days.calls + excluded.calls",
                )?;
                st.execute(rusqlite::params![pool, day, n])?;
            }
            for e in &self.mode.audit(&mut self.head, now, &allocated) {
                let mut st = self.conn.prepare_cached(
                    "INSERT INTO audit_log (seq, at, actor, action, subject, detail, prev_hash, hash) VALUES (?, ?, 'key:bench', 'call.allocated', ?, ?, ?, ?)",
                )?;
                st.execute(rusqlite::params![e.seq, now, e.subject, e.detail, e.prev, e.hash])?;
            }
            self.conn.execute(
                "UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1",
                rusqlite::params![self.head.0, self.head.1],
            )?;
        }
        self.conn.execute_batch("COMMIT")?;
        Ok(answers)
    }
}

/// The PostgreSQL writer: one connection, one transaction per batch, each statement
/// one `UNNEST` of the batch's columns.
struct PgWriter {
    conn: sqlx::PgConnection,
    mode: Mode,
    chooser: Chooser,
    head: (i64, String),
}

impl PgWriter {
    async fn open(url: &str, mode: Mode) -> Result<PgWriter, sqlx::Error> {
        use sqlx::{Connection, Row};
        let mut conn = sqlx::PgConnection::connect(url).await?;
        let mut chooser = Chooser::default();
        for r in sqlx::query("SELECT id, e164, pool FROM numbers WHERE status = 'active' ORDER BY id")
            .fetch_all(&mut conn)
            .await?
        {
            chooser.add_number(r.get(0), r.get(1), r.get::<&str, _>(2));
        }
        sqlx::query(BARE_TABLE[1]).execute(&mut conn).await?;
        let days = if mode == Mode::Bare { BARE_DAYS } else { "SELECT number_id, day, calls FROM number_days" };
        for r in sqlx::query(days).fetch_all(&mut conn).await? {
            chooser.days.insert((r.get(0), r.get(1)), r.get(2));
        }
        let r = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_one(&mut conn).await?;
        let head = (r.get(0), r.get(1));
        Ok(PgWriter { conn, mode, chooser, head })
    }

    async fn batch(&mut self, jobs: Vec<Job>) {
        match self.write(&jobs).await {
            Ok(answers) => {
                for (job, answer) in jobs.into_iter().zip(answers) {
                    let _ = job.reply.send(answer);
                }
            }
            Err(e) => {
                for job in jobs {
                    let _ = job.reply.send(Err(e.to_string()));
                }
            }
        }
    }

    #[allow(clippy::type_complexity)]
    async fn write(&mut self, jobs: &[Job]) -> Result<Vec<Result<(i64, String), String>>, sqlx::Error> {
        use sqlx::{Connection, Row};
        let now = jiff::Timestamp::now().as_microsecond();
        let mut tx = self.conn.begin().await?;
        let full = self.mode.full();
        if self.mode == Mode::Bare {
            let mut chosen = Vec::with_capacity(jobs.len());
            let (mut refs, mut numbers, mut days, mut dials) = (vec![], vec![], vec![], vec![]);
            for j in jobs {
                let c = self.chooser.choose(j.pool, &j.day);
                if let Some((number, _)) = &c {
                    refs.push(j.call_ref.as_str());
                    numbers.push(*number);
                    days.push(j.day.as_str());
                    dials.push(j.dial_at);
                }
                chosen.push(c);
            }
            let rows = sqlx::query(
                "INSERT INTO proto_allocations (call_ref, number_id, day, dial_at) \
                 SELECT * FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::int8[]) RETURNING id, call_ref",
            )
            .bind(&refs)
            .bind(&numbers)
            .bind(&days)
            .bind(&dials)
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            let ids: HashMap<String, i64> = rows.iter().map(|r| (r.get::<String, _>(1), r.get::<i64, _>(0))).collect();
            return Ok(answer(jobs, chosen, &ids));
        }
        if full {
            let refs: Vec<&str> = jobs.iter().map(|j| j.call_ref.as_str()).collect();
            let known =
                sqlx::query("SELECT id FROM calls WHERE call_ref = ANY($1)").bind(&refs).fetch_all(&mut *tx).await?;
            debug_assert!(known.is_empty());
        }
        let mut chosen: Vec<Option<(i64, String)>> = Vec::with_capacity(jobs.len());
        let (mut refs, mut facilities, mut purposes, mut pools, mut patients, mut phones, mut dials, mut numbers) =
            (vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
        let mut changed: Vec<(i64, String)> = Vec::new();
        let mut pool_days: HashMap<(&'static str, String), i64> = HashMap::new();
        for j in jobs {
            let c = self.chooser.choose(j.pool, &j.day);
            if let Some((number, _)) = &c {
                refs.push(j.call_ref.as_str());
                facilities.push(j.facility.as_str());
                purposes.push(j.purpose.as_str());
                pools.push(j.pool);
                patients.push(j.patient_ref.as_str());
                phones.push(j.sealed.as_slice());
                dials.push(j.dial_at);
                numbers.push(*number);
                changed.push((*number, j.day.clone()));
                *pool_days.entry((j.pool, j.day.clone())).or_insert(0) += 1;
            }
            chosen.push(c);
        }
        let rows = sqlx::query(
            "INSERT INTO calls (call_ref, facility, purpose, pool, patient_ref, patient_phone, dial_at, number_id, created_at, legal_basis, class) \
             SELECT r, f, p, po, pr, ph, d, n, $9, 'public_interest_health', 'care' \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bytea[], $7::int8[], $8::int8[]) AS t(r, f, p, po, pr, ph, d, n) \
             RETURNING id, call_ref",
        )
        .bind(&refs)
        .bind(&facilities)
        .bind(&purposes)
        .bind(&pools)
        .bind(&patients)
        .bind(&phones)
        .bind(&dials)
        .bind(&numbers)
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        let ids: HashMap<String, i64> = rows.iter().map(|r| (r.get::<String, _>(1), r.get::<i64, _>(0))).collect();
        changed.sort();
        changed.dedup();
        let (nd_numbers, nd_days): (Vec<i64>, Vec<&str>) = changed.iter().map(|(n, d)| (*n, d.as_str())).unzip();
        let nd_calls: Vec<i64> = changed.iter().map(|k| self.chooser.days[k]).collect();
        sqlx::query(
            "INSERT INTO number_days (number_id, day, calls, last_dial_at) SELECT n, d, c, 0 FROM UNNEST($1::int8[], $2::text[], $3::int8[]) AS t(n, d, c) \
             ON CONFLICT (number_id, day) DO UPDATE SET calls = excluded.calls",
        )
        .bind(&nd_numbers)
        .bind(&nd_days)
        .bind(&nd_calls)
        .execute(&mut *tx)
        .await?;
        if full {
            let (pd_pools, pd_rest): (Vec<&str>, Vec<(&str, i64)>) =
                pool_days.iter().map(|((p, d), n)| (*p, (d.as_str(), *n))).unzip();
            let (pd_days, pd_calls): (Vec<&str>, Vec<i64>) = pd_rest.into_iter().unzip();
            sqlx::query(
                "INSERT INTO pool_days (pool, day, calls) SELECT p, d, c FROM UNNEST($1::text[], $2::text[], $3::int8[]) AS t(p, d, c) \
                 ON CONFLICT (pool, day) DO UPDATE SET calls = pool_days.calls + excluded.calls",
            )
            .bind(&pd_pools)
            .bind(&pd_days)
            .bind(&pd_calls)
            .execute(&mut *tx)
            .await?;
            let (mut seqs, mut subjects, mut details, mut prevs, mut hashes) = (vec![], vec![], vec![], vec![], vec![]);
            let allocated: Vec<(&str, &str, &str)> = jobs
                .iter()
                .zip(&chosen)
                .filter_map(|(j, c)| c.as_ref().map(|(_, e164)| (j.call_ref.as_str(), e164.as_str(), j.pool)))
                .collect();
            for e in self.mode.audit(&mut self.head, now, &allocated) {
                seqs.push(e.seq);
                subjects.push(e.subject);
                details.push(e.detail);
                prevs.push(e.prev);
                hashes.push(e.hash);
            }
            sqlx::query(
                "INSERT INTO audit_log (seq, at, actor, action, subject, detail, prev_hash, hash) \
                 SELECT s, $6, 'key:bench', 'call.allocated', su, de, pr, h FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[]) AS t(s, su, de, pr, h)",
            )
            .bind(&seqs)
            .bind(&subjects)
            .bind(&details)
            .bind(&prevs)
            .bind(&hashes)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
                .bind(self.head.0)
                .bind(&self.head.1)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(answer(jobs, chosen, &ids))
    }
}

/// Each job's answer: its call's id and number, or its pool's refusal.
#[allow(clippy::type_complexity)]
fn answer(
    jobs: &[Job],
    chosen: Vec<Option<(i64, String)>>,
    ids: &HashMap<String, i64>,
) -> Vec<Result<(i64, String), String>> {
    jobs.iter()
        .zip(chosen)
        .map(|(j, c)| match c {
            Some((_, e164)) => Ok((ids[&j.call_ref], e164)),
            None => Err(format!("no_capacity in pool {}", j.pool)),
        })
        .collect()
}

/// A database the writer cannot open ends the whole process.
fn cannot_open(e: &dyn std::fmt::Display) -> ! {
    eprintln!("vigie-proto: cannot open the database: {e}");
    std::process::exit(1)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, db, addr, token, mode] = args.as_slice() else {
        eprintln!("usage: vigie-proto DB ADDR TOKEN bare|minimal|full|audit-per-batch");
        std::process::exit(2);
    };
    let mode = match mode.as_str() {
        "full" => Mode::Full,
        "audit-per-batch" => Mode::AuditPerBatch,
        "minimal" => Mode::Minimal,
        "bare" => Mode::Bare,
        _ => {
            eprintln!("MODE must be bare, minimal, full or audit-per-batch");
            std::process::exit(2);
        }
    };
    let (jobs, queue) = mpsc::channel::<Job>();
    // Every 1,000 batches, a line with the batches and requests so far (the size of a
    // batch is what a commit's fixed cost is shared by).
    let (mut batches, mut requests) = (0u64, 0u64);
    let mut next = move || {
        let first = queue.recv().ok()?;
        let mut batch = vec![first];
        while batch.len() < 1000 {
            match queue.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        batches += 1;
        requests += batch.len() as u64;
        if batches % 1000 == 0 {
            println!("batches={batches} requests={requests}");
        }
        Some(batch)
    };
    let db = db.clone();
    std::thread::Builder::new()
        .name("proto-writer".into())
        .spawn(move || {
            if db.starts_with("postgres://") {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                rt.block_on(async move {
                    let mut writer = PgWriter::open(&db, mode).await.unwrap_or_else(|e| cannot_open(&e));
                    while let Some(batch) = next() {
                        writer.batch(batch).await;
                    }
                });
            } else {
                let mut writer = Writer::open(&db, mode).unwrap_or_else(|e| cannot_open(&e));
                while let Some(batch) = next() {
                    writer.batch(batch);
                }
            }
        })
        .expect("writer thread");
    let app = App {
        full: mode.full(),
        token_hash: Sha256::digest(token.as_bytes()).into(),
        token: token.clone(),
        cipher: Aes256Gcm::new_from_slice(&[7u8; 32]).expect("key"),
        pseudonym_key: vec![9u8; 32],
        jobs,
        paris: jiff::tz::db().get("Europe/Paris").expect("Europe/Paris"),
    };
    let router =
        Router::new().route("/v1/calls", post(post_call)).route("/livez", get(|| async { "ok" })).with_state(app);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr.as_str()).await.expect("bind");
        println!("vigie-proto listening on http://{}", listener.local_addr().expect("address"));
        axum::serve(listener, router).await.expect("serve");
    });
}
