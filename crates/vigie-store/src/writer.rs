//! The single writer: every change that the allocation engine decides on goes through
//! here, in batches. One transaction (one fsync) serves a whole batch, and the pools'
//! engine state stays cached between batches, so choosing a number reads nothing from
//! the database.
//!
//! Each batch locks every pool row (`FOR UPDATE` on PostgreSQL, `BEGIN IMMEDIATE` on
//! SQLite) and compares the pools' versions with the cached ones: another server
//! process that wrote in between bumped them, and the stale pools are reloaded inside
//! the locked transaction before anything is decided. That is what makes the cap hold
//! across processes.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use tokio::sync::{mpsc, oneshot};
use vigie_core::{
    Allocation, Calendar, CallSpec, Date, E164, FacilityId, Finding, InvalidField, Language, NumberId, NumberSlot,
    NumberStatus, PoolCode, PoolRole, PoolState, Purpose, PurposeClass, ReportSource, Rest, Timestamp,
    reports_quarantine,
};

use crate::Shared;
use crate::audit::{self, Entry};
use crate::compliance::{self, RuleData};
use crate::db::{Backend, Script, TextList, day, day_text, instant, list, micros, values};
use crate::error::StoreError;
use crate::incidents::{self, Trigger};
use crate::model::{
    CallAnswer, CallChange, CallChangeAnswer, NewCall, NewReport, NumberChange, OptOutAnswer, OutcomeReport,
    ReportAnswer, SHOWN_AS_SPAM,
};
use crate::patients::CallsOf;
use crate::sms::{Announce, SmsData};
use crate::sql::{self, Conn};

mod calls;
mod closing;

/// A change for the writer.
pub(crate) enum Request {
    /// The call, who asks, and the patient's phone already sealed (by the caller's
    /// task, so that encryption runs beside the writer rather than in it).
    Allocate(NewCall, String, Vec<u8>),
    Report(NewReport, Option<i64>, String),
    /// The call, its outcome, whether the patient refused solicitation during it, who.
    Outcome(i64, OutcomeReport, bool, String),
    Change {
        number: E164,
        change: NumberChange,
        reason: String,
        actor: String,
        /// What led to a quarantine (monitoring's alarm, an external flag); a manual
        /// one when absent.
        trigger: Option<Trigger>,
    },
    /// A call cancelled or rescheduled: the call, what changes, why, who.
    CallChange(i64, CallChange, String, String),
    /// A patient's SMS opt-out: the phone, how it came, who recorded it.
    OptOut(E164, String, String),
    /// An incident closed: the incident, how, the note, who.
    CloseIncident(i64, crate::incidents::Resolution, String, String),
}

/// The writer's answer to a [`Request`], same variant.
pub(crate) enum Reply {
    Allocate(Result<CallAnswer, StoreError>),
    Report(Result<ReportAnswer, StoreError>),
    Outcome(Result<Option<ReportAnswer>, StoreError>),
    Change(Result<(), StoreError>),
    CallChange(Result<CallChangeAnswer, StoreError>),
    OptOut(Result<OptOutAnswer, StoreError>),
    CloseIncident(Result<(), StoreError>),
}

pub(crate) struct Envelope {
    pub(crate) request: Request,
    pub(crate) reply: oneshot::Sender<Reply>,
}

struct Cached {
    version: i64,
    state: PoolState,
}

/// An allocation decided in this batch, not yet written.
struct NewRow {
    call_ref: String,
    call: NewCall,
    pool: PoolCode,
    sealed: Vec<u8>,
    zone: Option<u8>,
    number: Option<NumberId>,
    class: PurposeClass,
}

/// What a batch has decided and not yet written.
#[derive(Default)]
struct Pending {
    rows: Vec<NewRow>,
    renumber: Vec<(i64, Option<NumberId>)>,
    days: HashMap<(NumberId, Date), (i64, Option<Timestamp>)>,
    pool_days: HashMap<(PoolCode, Date), i64>,
    rests: Vec<(NumberId, PoolCode, Rest)>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.rows.is_empty()
            && self.renumber.is_empty()
            && self.days.is_empty()
            && self.pool_days.is_empty()
            && self.rests.is_empty()
    }

    fn count(&mut self, number: NumberId, pool: &PoolCode, day: Date, delta: i64, dial_at: Option<Timestamp>) {
        let e = self.days.entry((number, day)).or_insert((0, None));
        e.0 += delta;
        if let Some(t) = dial_at {
            e.1 = Some(e.1.map_or(t, |old: Timestamp| old.max(t)));
        }
        *self.pool_days.entry((pool.clone(), day)).or_insert(0) += delta;
    }
}

/// How one allocation request of the batch was answered.
enum Slot {
    Done(Result<CallAnswer, StoreError>),
    /// Inserted by this batch: the id comes back from the insert.
    Inserted {
        call_ref: String,
        answer: CallAnswer,
    },
}

struct Batch {
    now: Timestamp,
    pending: Pending,
    /// Statements staged from `pending`, sent together before anything else reads or
    /// writes, and with the audit entries just before the commit.
    script: Script,
    /// The audit chain's head, read and locked with the pools.
    head: audit::Head,
    /// The SMS to plan for the calls this batch inserts: call, caller number, send
    /// instant, who asked.
    announce: Vec<(NewCall, E164, Timestamp, String)>,
    inserted: HashMap<String, i64>,
    /// The calls this batch inserts and their patients (SQLite: added to the
    /// patients' map once the batch is committed).
    patients: Vec<(String, String)>,
    touched: BTreeSet<(PoolCode, Date)>,
    dirty: bool,
    /// Audit entries, appended to the chain just before the commit.
    audit: Vec<Entry>,
    /// Decided without the lock (see [`Locked::held`]): nothing is sent before its one
    /// statement.
    guarded: bool,
    /// A guarded batch that needs more than one statement (a promotion): it is dropped
    /// unsent and done again under the lock.
    needs_lock: bool,
}

impl Batch {
    /// The ids of the calls its script inserted, from the rows it gave back
    /// (`RETURNING id, call_ref`).
    fn record_inserted(&mut self, rows: Vec<crate::sql::Row>) {
        for row in rows {
            self.inserted.insert(row.get::<String, _>(1), row.get::<i64, _>(0));
        }
    }
}

/// The number that last called each patient, by pool and patient.
type Affinities = HashMap<(PoolCode, String), NumberId>;

/// What [`Writer::lock_and_read`] gives.
struct Locked {
    /// The pools' versions and the audit chain's head read under the lock; none for a
    /// batch decided without it, on what this writer last wrote, whose one write
    /// statement takes the lock and commits only if the head is still that one
    /// (PostgreSQL, see [`Writer::may_guard`]).
    held: Option<(Vec<(String, i64)>, audit::Head)>,
    /// The calls the batch's call_refs already name.
    known: HashMap<String, KnownCall>,
    /// The number that last called each of the batch's patients in each pool.
    affinity: Affinities,
    /// Whether `known` and `affinity` were read under the lock (or may miss what
    /// another writer committed just before it was granted).
    under_lock: bool,
}

/// A guarded batch's statement on its way (PostgreSQL), with the connection it holds
/// until it lands: the connection's slot, the connection, and what the statement gave.
type Landing = std::pin::Pin<
    Box<
        dyn std::future::Future<Output = (usize, sqlx::AnyConnection, Result<Vec<crate::sql::Row>, StoreError>)> + Send,
    >,
>;

/// A guarded batch whose statement was sent: what answering it needs.
struct Sent {
    requests: Vec<Request>,
    replies: Vec<oneshot::Sender<Reply>>,
    written: Written,
    /// Sent while the batch it was decided on was in flight: its statement, to send
    /// again if it took the lock first (its head is then that batch's predecessor's).
    again: Option<Script>,
}

/// The PostgreSQL writer's connections and the guarded batches in flight on them.
struct Flights {
    /// The two writing connections; a slot is empty while a statement holds it.
    slots: [Option<sqlx::AnyConnection>; 2],
    /// The statements sent, in order.
    flying: FuturesOrdered<Landing>,
    /// Their batches, in the same order.
    sent: VecDeque<Sent>,
    /// Statements that landed while the writer decided another batch, in order.
    landed: VecDeque<(usize, sqlx::AnyConnection, Result<Vec<crate::sql::Row>, StoreError>)>,
}

impl Flights {
    /// A slot whose connection is free.
    fn free(&self) -> Option<usize> {
        self.slots.iter().position(Option::is_some)
    }

    /// Whether one of `requests` names a call_ref or a patient of a batch in flight.
    fn names_any(&self, requests: &[Request]) -> bool {
        let calls = allocations(requests);
        self.sent
            .iter()
            .flat_map(|s| allocations(&s.requests))
            .any(|earlier| calls.iter().any(|c| c.call_ref == earlier.call_ref || c.patient_ref == earlier.patient_ref))
    }
}

/// Takes what is queued, without waiting, up to `max` in all.
fn take_queued(rx: &mut mpsc::Receiver<Envelope>, into: &mut Vec<Envelope>, max: usize) {
    while into.len() < max {
        match rx.try_recv() {
            Ok(e) => into.push(e),
            Err(_) => break,
        }
    }
}

/// What [`Writer::lock_and_read`] gave a batch taken ahead of its turn.
type Read = Result<Locked, StoreError>;

/// A batch written in its transaction, before (PostgreSQL) or after (SQLite, whose
/// script ends with its `COMMIT`) its commit; [`Writer::finish`] makes its replies.
struct Written {
    batch: Batch,
    slots: Vec<Option<Slot>>,
    others: Vec<Option<Reply>>,
    /// The calls whose SMS could not be planned.
    unplanned: std::collections::HashSet<String>,
    /// The number that last called each of the batch's patients, its own choices
    /// included (moved out of the batch, not copied).
    affinity: Affinities,
}

pub(crate) struct Writer {
    shared: Arc<Shared>,
    cache: HashMap<PoolCode, Cached>,
    /// SQLite: the thread that makes each commit durable before its replies go out.
    flusher: Option<std::sync::mpsc::Sender<Flush>>,
    /// The facilities known to exist (none is ever deleted, so once seen, always).
    facilities: std::collections::HashSet<FacilityId>,
    /// PostgreSQL: two connections of the writer's own for the batch's reads that need
    /// no lock, run while its locking read travels (see [`Writer::lock_and_read`]).
    /// One that fails is dropped and opened again for the next batch. (Behind a mutex
    /// only so that the writer stays `Sync`: it is reached through `&mut self`.)
    readers: std::sync::Mutex<[Option<sqlx::AnyConnection>; 2]>,
    /// When a reader could not be opened: not before this instant again.
    readers_retry_at: Option<std::time::Instant>,
    /// The audit chain's head after the last batch this writer wrote: committed, or
    /// sent in a guarded statement (PostgreSQL) not yet answered; none after a failure.
    /// Every call is inserted with an audit entry, so while the head read under a
    /// batch's lock is still this one, no other writer has inserted a call since; and a
    /// guarded batch is decided on it.
    last_head: Option<audit::Head>,
    /// After a guarded batch found that another writer had committed first: no batch
    /// is guarded again before this instant.
    guard_after: Option<std::time::Instant>,
}

/// How long the writer decides every batch under the lock after a guarded batch found
/// that another writer had committed first.
const GUARD_PAUSE: std::time::Duration = std::time::Duration::from_secs(1);

/// A committed batch's replies, sent once the WAL that holds it is on disk.
type Flush = Vec<(oneshot::Sender<Reply>, Reply)>;

impl Writer {
    fn new(shared: Arc<Shared>, flusher: Option<std::sync::mpsc::Sender<Flush>>) -> Writer {
        Writer {
            shared,
            cache: HashMap::new(),
            flusher,
            facilities: std::collections::HashSet::new(),
            readers: std::sync::Mutex::new([None, None]),
            readers_retry_at: None,
            last_head: None,
            guard_after: None,
        }
    }

    /// Answers a batch: at once on PostgreSQL (its `COMMIT` returned once durable); on
    /// SQLite through the flusher, whose `fdatasync` of the WAL makes the commit durable.
    fn answer(&self, answers: Flush) {
        match &self.flusher {
            Some(f) => {
                if let Err(std::sync::mpsc::SendError(answers)) = f.send(answers) {
                    // The flusher is gone: nothing may be acknowledged any more.
                    for (reply, answer) in answers {
                        let _ = reply.send(unflushed(answer));
                    }
                }
            }
            None => {
                for (reply, answer) in answers {
                    let _ = reply.send(answer);
                }
            }
        }
    }

    /// Starts the writer on a connection of its own (outside the pool, so that reads
    /// never wait for it nor it for them). On SQLite the writer runs on a thread of its
    /// own with a synchronous connection: a batch runs there from `BEGIN` to `COMMIT`
    /// without handing a statement to another thread. On PostgreSQL it is a task.
    pub(crate) async fn start(shared: Arc<Shared>, rx: mpsc::Receiver<Envelope>) -> Result<(), StoreError> {
        match shared.backend {
            Backend::Sqlite => {
                let path = shared.sqlite_file.clone().ok_or(StoreError::Corrupt("no SQLite file".into()))?;
                let conn = sql::open_sqlite(&path)?;
                let wal = std::fs::OpenOptions::new()
                    .write(true)
                    .open(wal_path(&path))
                    .map_err(|e| StoreError::Corrupt(format!("the WAL file: {e}")))?;
                let (flush, flushes) = std::sync::mpsc::channel::<Flush>();
                std::thread::Builder::new()
                    .name("vigie-flusher".into())
                    .spawn(move || flusher(wal, flushes))
                    .map_err(|e| StoreError::Corrupt(format!("the flusher's thread: {e}")))?;
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| StoreError::Corrupt(format!("the writer's runtime: {e}")))?;
                std::thread::Builder::new()
                    .name("vigie-writer".into())
                    .spawn(move || runtime.block_on(Writer::new(shared, Some(flush)).run(conn, rx)))
                    .map_err(|e| StoreError::Corrupt(format!("the writer's thread: {e}")))?;
            }
            Backend::Postgres => {
                let first = crate::db::connect_one(&shared.pool, shared.backend).await?;
                let second = crate::db::connect_one(&shared.pool, shared.backend).await?;
                tokio::spawn(Writer::new(shared, None).run_pipelined([first, second], rx));
            }
        }
        Ok(())
    }

    /// Runs until every sender is gone: takes what is queued, up to the batch limit,
    /// and answers it after one commit.
    async fn run(mut self, mut owned: rusqlite::Connection, mut rx: mpsc::Receiver<Envelope>) {
        let mut conn = Conn::Sqlite(&mut owned);
        if let Some(patients) = &self.shared.patients {
            // Every patient's calls, read once; each batch then adds the new ones.
            if let Err(e) = patients.catch_up(&mut conn).await {
                tracing::warn!(error = %e, "the patients' calls could not be read; the first batch will read them");
            }
        }
        let max = self.shared.batch_max;
        let mut envelopes = Vec::with_capacity(max);
        loop {
            if rx.recv_many(&mut envelopes, max).await == 0 {
                return;
            }
            let (requests, replies) = self.open_batch(envelopes.drain(..));
            match self.apply(&mut conn, &requests).await {
                Ok(answers) => {
                    self.answer(replies.into_iter().zip(answers).collect());
                    if let Conn::Sqlite(c) = &mut conn {
                        self.checkpoint_tail(c);
                    }
                }
                Err(e) => self.retry_alone(&mut conn, &requests, replies, e).await,
            }
        }
    }

    /// After a batch failed (and was rolled back): one bad request must not fail the
    /// others, so each is retried alone.
    async fn retry_alone(
        &mut self,
        conn: &mut Conn<'_>,
        requests: &[Request],
        replies: Vec<oneshot::Sender<Reply>>,
        e: StoreError,
    ) {
        tracing::warn!(error = %e, size = requests.len(), "batch failed; retrying its requests one by one");
        self.shared.metrics.failed_batches.fetch_add(1, Ordering::Relaxed);
        self.forget();
        for (request, reply) in requests.iter().zip(replies) {
            let answer = match self.apply(conn, std::slice::from_ref(request)).await {
                Ok(mut a) => a.pop(),
                Err(e) => {
                    self.cache.clear();
                    Some(failed(request, e))
                }
            };
            if let Some(a) = answer {
                self.answer(vec![(reply, a)]);
            }
        }
    }

    /// PostgreSQL's writer, on two connections of its own.
    ///
    /// *Guarded batches.* A batch of allocations that [`Writer::may_guard`] allows is
    /// decided without the lock, on what this writer last wrote, and written in one
    /// statement that takes the lock, writes and commits on its own, and fails if
    /// another writer committed since (`stage_guard`). While that statement travels,
    /// the next batch is taken, read and decided on the same footing (this writer's
    /// previous batch included, as if committed), and its statement sent on the other
    /// connection: PostgreSQL runs it once the first one has committed. Statements are
    /// answered in the order they were sent. When one fails, every batch sent after it
    /// was decided on it: they land too (each fails on its guard, unless the first
    /// committed after all), the engine forgets what it decided, and their requests are
    /// decided again under the lock.
    ///
    /// *Batches under the lock* (the first one, changes, SMS, after a failure or a
    /// conflict), once nothing is in flight: as [`Writer::run`], on the two connections
    /// in turn, so that the next batch's locking read and reads travel while this one's
    /// `COMMIT` does. Its lock waits for that commit, and the rows it then reads are the
    /// committed ones; its two reads without lock may run before it, so this batch's
    /// affinities (what it read and what it chose) are laid over the next one's, and
    /// when the two batches share a call_ref the next one reads its known calls again
    /// under its lock. Only a batch of allocations alone is overlapped so: a report, an
    /// outcome or a change can alter what the next batch would read (a quarantine gives
    /// calls other numbers), so after one the next batch starts once it is committed.
    async fn run_pipelined(mut self, conns: [sqlx::AnyConnection; 2], mut rx: mpsc::Receiver<Envelope>) {
        let max = self.shared.batch_max;
        let mut f = Flights {
            slots: conns.map(Some),
            flying: FuturesOrdered::new(),
            sent: VecDeque::new(),
            landed: VecDeque::new(),
        };
        let mut at = 0;
        // The next batch, taken while the previous one committed under the lock, and
        // what its lock and reads gave on the other connection (which `at` then names).
        let mut carried: Option<(Vec<Envelope>, Option<Read>)> = None;
        loop {
            let (envelopes, locked) = match carried.take() {
                Some(c) => c,
                None => match self.next_batch(&mut f, &mut rx).await {
                    Some(envelopes) if envelopes.is_empty() => continue,
                    Some(envelopes) => (envelopes, None),
                    None => return,
                },
            };
            let (requests, replies) = self.open_batch(envelopes);
            if locked.is_none() && self.may_guard(&requests) {
                if f.names_any(&requests) {
                    // A call_ref or a patient of a batch in flight: read once it landed.
                    self.land(&mut f, true).await;
                }
                if self.may_guard(&requests) {
                    self.fly(&mut f, requests, replies).await;
                    continue;
                }
            }
            // Under the lock: once nothing is in flight.
            self.land(&mut f, true).await;
            let (this, other) = match &mut f.slots {
                [Some(a), Some(b)] if at == 0 => (a, b),
                [Some(a), Some(b)] => (b, a),
                _ => {
                    tracing::error!("the writer lost a connection; its batch is dropped");
                    continue;
                }
            };
            let written = match locked {
                Some(Err(e)) => Err(e),
                Some(Ok(locked)) => self.write(&mut Conn::Any(this), &requests, Some(locked)).await,
                None => self.write(&mut Conn::Any(this), &requests, None).await,
            };
            let mut written = match written {
                Ok(w) => w,
                Err(e) => {
                    rollback(&mut Conn::Any(this)).await;
                    self.retry_alone(&mut Conn::Any(this), &requests, replies, e).await;
                    continue;
                }
            };
            let mut next = Vec::new();
            // Only a batch of allocations alone is overlapped (see above).
            if requests.iter().all(|r| matches!(r, Request::Allocate(..))) {
                take_queued(&mut rx, &mut next, max);
            }
            // A next batch that may be guarded once this one is committed waits for it.
            if next.is_empty() || self.guardable(next.iter().map(|e| &e.request)) {
                match Conn::Any(this).batch("COMMIT").await {
                    Ok(()) => {
                        let answers = self.finish(written);
                        self.answer(replies.into_iter().zip(answers).collect());
                    }
                    Err(e) => {
                        rollback(&mut Conn::Any(this)).await;
                        self.retry_alone(&mut Conn::Any(this), &requests, replies, e).await;
                    }
                }
                carried = (!next.is_empty()).then_some((next, None));
                continue;
            }
            let next_calls = allocations(next.iter().map(|e| &e.request));
            let (committed, locked) = {
                let (mut this_conn, mut other_conn) = (Conn::Any(&mut *this), Conn::Any(&mut *other));
                tokio::join!(this_conn.batch("COMMIT"), self.lock_and_read(&mut other_conn, &next_calls, true))
            };
            match committed {
                Ok(()) => {
                    let locked = match locked {
                        Ok(l) => self.overlay(&mut Conn::Any(other), &requests, &mut written, l, &next_calls).await,
                        Err(e) => Err(e),
                    };
                    let answers = self.finish(written);
                    self.answer(replies.into_iter().zip(answers).collect());
                    if locked.is_ok() {
                        self.shared.metrics.overlapped_batches.fetch_add(1, Ordering::Relaxed);
                    }
                    carried = Some((next, Some(locked)));
                    at = 1 - at;
                }
                Err(e) => {
                    // Nothing of this batch stays: the next one starts again afresh,
                    // once this one's requests are retried.
                    rollback(&mut Conn::Any(other)).await;
                    rollback(&mut Conn::Any(this)).await;
                    self.retry_alone(&mut Conn::Any(this), &requests, replies, e).await;
                    // Then the next batch's requests, as a batch of their own.
                    let (requests, replies) = self.open_batch(next);
                    self.apply_or_retry(&mut Conn::Any(this), &requests, replies).await;
                }
            }
        }
    }

    /// The requests of a batch taken from the queue, and where their replies go; counted.
    fn open_batch(&self, envelopes: impl IntoIterator<Item = Envelope>) -> (Vec<Request>, Vec<oneshot::Sender<Reply>>) {
        let (requests, replies): (Vec<Request>, Vec<oneshot::Sender<Reply>>) =
            envelopes.into_iter().map(|e| (e.request, e.reply)).unzip();
        self.shared.metrics.batches.fetch_add(1, Ordering::Relaxed);
        self.shared.metrics.batched.fetch_add(requests.len() as u64, Ordering::Relaxed);
        (requests, replies)
    }

    /// PostgreSQL: the next batch to decide, none once every sender is gone, or an empty
    /// one when the writer only answered a batch in flight meanwhile. With nothing in
    /// flight it waits for requests; while a statement travels, the next batch waits to
    /// be as large as it, or for it to land, and what lands is answered at once.
    async fn next_batch(&mut self, f: &mut Flights, rx: &mut mpsc::Receiver<Envelope>) -> Option<Vec<Envelope>> {
        let max = self.shared.batch_max;
        let mut envelopes = Vec::with_capacity(max);
        if f.free().is_none() {
            self.land(f, false).await;
            return Some(envelopes);
        }
        if f.sent.is_empty() {
            return (rx.recv_many(&mut envelopes, max).await > 0).then_some(envelopes);
        }
        take_queued(rx, &mut envelopes, max);
        let want = f.sent.back().map_or(1, |s| s.requests.len()).min(max);
        loop {
            if !f.landed.is_empty() {
                self.land(f, false).await;
                take_queued(rx, &mut envelopes, max);
            }
            if envelopes.len() >= want || f.flying.is_empty() {
                break;
            }
            tokio::select! {
                e = rx.recv() => match e {
                    Some(e) => envelopes.push(e),
                    None => break,
                },
                l = f.flying.next() => f.landed.extend(l),
            }
        }
        if envelopes.is_empty() {
            self.land(f, false).await;
        }
        Some(envelopes)
    }

    /// Decides a guarded batch while the statements already sent travel, and sends its
    /// own on a free connection (see [`Writer::run_pipelined`]).
    async fn fly(&mut self, f: &mut Flights, requests: Vec<Request>, replies: Vec<oneshot::Sender<Reply>>) {
        // `next_batch` took this batch only with a connection free.
        let Some(slot) = f.free() else {
            tracing::error!("the writer has no free connection; the batch is dropped");
            return;
        };
        let Some(mut conn) = f.slots[slot].take() else { return };
        let Flights { flying, sent, landed, .. } = &mut *f;
        let decided = {
            let calls = allocations(&requests);
            let decide = async {
                let mut locked = self.lock_and_read(&mut Conn::Any(&mut conn), &calls, false).await?;
                // What the batches in flight chose, as if committed (the reads may have
                // run before they were).
                for earlier in sent.iter_mut() {
                    locked.affinity.extend(std::mem::take(&mut earlier.written.affinity));
                }
                self.write(&mut Conn::Any(&mut conn), &requests, Some(locked)).await
            };
            tokio::pin!(decide);
            loop {
                tokio::select! {
                    decided = &mut decide => break decided,
                    Some(l) = flying.next(), if !flying.is_empty() => landed.push_back(l),
                }
            }
        };
        let overlapped = !f.sent.is_empty();
        match decided {
            Ok(mut written) if !written.batch.needs_lock => {
                self.shared.metrics.guarded_batches.fetch_add(1, Ordering::Relaxed);
                if overlapped {
                    self.shared.metrics.overlapped_batches.fetch_add(1, Ordering::Relaxed);
                }
                let script = std::mem::replace(&mut written.batch.script, Script::new(self.shared.backend));
                let again = overlapped.then(|| script.clone());
                f.flying.push_back(Box::pin(async move {
                    let result = script.run(&mut Conn::Any(&mut conn)).await;
                    (slot, conn, result)
                }));
                f.sent.push_back(Sent { requests, replies, written, again });
            }
            decided => {
                // Decided in memory only: the engine forgets it, and the batch is done
                // again under the lock, once the batches in flight landed.
                f.slots[slot] = Some(conn);
                self.land(f, true).await;
                self.forget();
                let Some(conn) = f.slots[slot].as_mut() else { return };
                match decided {
                    Err(e) => self.retry_alone(&mut Conn::Any(conn), &requests, replies, e).await,
                    Ok(_) => self.apply_or_retry(&mut Conn::Any(conn), &requests, replies).await,
                }
            }
        }
    }

    /// Answers the oldest guarded batch in flight once its statement lands, or every
    /// one (`all`). When one failed, every later one lands too, the engine forgets what
    /// it decided, and the failed batches' requests are decided again under the lock:
    /// as a batch when the head had moved (another writer committed first, or the
    /// batch was decided on one that failed), one by one otherwise.
    async fn land(&mut self, f: &mut Flights, all: bool) {
        let mut failed: Vec<(Sent, StoreError)> = Vec::new();
        while let Some(mut sent) = f.sent.pop_front() {
            let landed = match f.landed.pop_front() {
                Some(l) => Some(l),
                None => f.flying.next().await,
            };
            let Some((slot, mut conn, mut result)) = landed else {
                tracing::error!("a guarded batch's statement was lost");
                break;
            };
            if let (Err(e), Some(script)) = (&result, sent.again.take())
                && head_moved(e)
                && failed.is_empty()
            {
                // Sent while the batch it was decided on travelled, it took the lock
                // first; that batch has committed since (it landed before, or failed
                // and this one is in `failed` too): once again, it passes unless
                // another writer committed meanwhile.
                self.shared.metrics.guard_retries.fetch_add(1, Ordering::Relaxed);
                result = script.run(&mut Conn::Any(&mut conn)).await;
            }
            f.slots[slot] = Some(conn);
            match result {
                Ok(rows) => {
                    sent.written.batch.record_inserted(rows);
                    let answers = self.finish(sent.written);
                    self.answer(sent.replies.into_iter().zip(answers).collect());
                }
                Err(e) => failed.push((sent, e)),
            }
            if !all && failed.is_empty() {
                break;
            }
        }
        if failed.is_empty() {
            return;
        }
        self.forget();
        if head_moved(&failed[0].1) {
            // Another writer committed first: every batch is decided under the lock for
            // a while, so that two busy writers do not keep undoing each other.
            tracing::debug!("another writer committed first; deciding again under the lock");
            self.shared.metrics.head_conflicts.fetch_add(1, Ordering::Relaxed);
            self.guard_after = Some(std::time::Instant::now() + GUARD_PAUSE);
        }
        let Some(conn) = f.slots.iter_mut().flatten().next() else { return };
        for (sent, e) in failed {
            if head_moved(&e) {
                self.apply_or_retry(&mut Conn::Any(conn), &sent.requests, sent.replies).await;
            } else {
                self.retry_alone(&mut Conn::Any(conn), &sent.requests, sent.replies, e).await;
            }
        }
    }

    /// What the next batch read while this one was written, completed with this one:
    /// its affinities (what it read and what it chose) are the latest for its patients,
    /// and when the two batches share a call_ref the next one's known calls are read
    /// again, now that this one is committed.
    async fn overlay(
        &mut self,
        conn: &mut Conn<'_>,
        requests: &[Request],
        written: &mut Written,
        mut next: Locked,
        next_calls: &[&NewCall],
    ) -> Result<Locked, StoreError> {
        next.affinity.extend(std::mem::take(&mut written.affinity));
        let named: std::collections::HashSet<&str> =
            allocations(requests).iter().map(|c| c.call_ref.as_str()).collect();
        if next_calls.iter().any(|c| named.contains(c.call_ref.as_str())) {
            next.known = known_calls(&self.shared, conn, next_calls).await?;
        }
        Ok(next)
    }

    /// Decides and writes a batch under the lock, and answers it; when it fails, its
    /// requests one by one.
    async fn apply_or_retry(
        &mut self,
        conn: &mut Conn<'_>,
        requests: &[Request],
        replies: Vec<oneshot::Sender<Reply>>,
    ) {
        match self.apply(conn, requests).await {
            Ok(answers) => self.answer(replies.into_iter().zip(answers).collect()),
            Err(e) => self.retry_alone(conn, requests, replies, e).await,
        }
    }

    /// The engine forgets what it decided and did not commit: the pools are read again,
    /// under the lock, by the next batch.
    fn forget(&mut self) {
        self.cache.clear();
        self.last_head = None;
    }

    /// Whether a batch may be decided without the lock, on what this writer last wrote,
    /// and written in one statement that takes the lock and commits only if no other
    /// writer committed since (PostgreSQL): two trips fewer than under the lock (its
    /// locking read and its `COMMIT`), and decided while the previous batch's
    /// statement travels. So for allocations alone, by a writer that has written since
    /// it last failed, and not within [`GUARD_PAUSE`] of finding another writer at work.
    fn may_guard(&self, requests: &[Request]) -> bool {
        self.last_head.is_some() && !self.cache.is_empty() && self.guardable(requests)
    }

    /// Whether the requests make a batch that [`Writer::may_guard`] allows once this
    /// writer has committed.
    fn guardable<'a>(&self, requests: impl IntoIterator<Item = &'a Request>) -> bool {
        self.shared.backend == Backend::Postgres
            && self.guard_after.is_none_or(|at| std::time::Instant::now() >= at)
            && requests.into_iter().all(|r| matches!(r, Request::Allocate(..)))
    }

    /// SQLite: when the checkpointer asks for it, copies the WAL's frames it could not
    /// reach (those committed while it ran), between two batches, so that the next
    /// transaction starts the WAL again from its beginning (see `db::checkpoints`). The
    /// batch just committed was already handed to the flusher.
    fn checkpoint_tail(&self, c: &mut rusqlite::Connection) {
        if !self.shared.checkpoint_tail.swap(false, Ordering::AcqRel) {
            return;
        }
        // (busy, frames in the WAL, frames copied): the WAL can start again when all were.
        let copied = c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok(r.get::<_, i64>(0)? == 0 && r.get::<_, i64>(1)? == r.get::<_, i64>(2)?)
        });
        match copied {
            Ok(true) => {
                self.shared.metrics.checkpoint_tails.fetch_add(1, Ordering::Relaxed);
            }
            // A reader's snapshot kept some frames from being copied: the next turn will.
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, "the writer's WAL checkpoint failed; the checkpointer will ask again")
            }
        }
    }

    /// Decides and writes a batch in one transaction. The writer opens and ends the
    /// transaction itself rather than through sqlx's `Transaction`, so that on
    /// PostgreSQL opening it travels with the locking read (every trip is a network
    /// round trip), and the same code runs on the SQLite writer's own connection.
    async fn apply(&mut self, conn: &mut Conn<'_>, requests: &[Request]) -> Result<Vec<Reply>, StoreError> {
        let result = async {
            let written = self.write(conn, requests, None).await?;
            if self.shared.backend == Backend::Postgres {
                conn.batch("COMMIT").await?;
            }
            Ok(self.finish(written))
        }
        .await;
        if result.is_err() {
            rollback(conn).await;
        }
        result
    }

    /// Decides and writes a batch in its transaction, up to its commit: SQLite's
    /// script ends with it; on PostgreSQL the caller sends it. `locked` is what
    /// [`Writer::lock_and_read`] already gave on `conn`, if it ran before.
    async fn write(
        &mut self,
        conn: &mut Conn<'_>,
        requests: &[Request],
        locked: Option<Locked>,
    ) -> Result<Written, StoreError> {
        let shared = Arc::clone(&self.shared);
        let tx = conn;
        let allocations = allocations(requests);
        let Locked { held, mut known, mut affinity, under_lock } = match locked {
            Some(l) => l,
            None => self.lock_and_read(tx, &allocations, true).await?,
        };
        let guarded = held.is_none();
        let (versions, head) = match held {
            Some(held) => held,
            None => {
                let head = self.last_head.clone().ok_or_else(|| StoreError::Corrupt("no head to decide on".into()))?;
                (self.cache.iter().map(|(code, c)| (code.as_str().to_owned(), c.version)).collect(), head)
            }
        };
        let decided_on = head.clone();
        if !under_lock && !guarded && self.last_head.as_ref() != Some(&head) {
            // Another writer committed since this one's last batch, maybe a call with one
            // of these call_refs or for one of these patients, which the reads made
            // without the lock may have missed: read them again under it.
            known = known_calls(&shared, tx, &allocations).await?;
            affinity = affinities(&shared, tx, &allocations).await?;
        }
        let mut batch = Batch {
            now: (shared.clock)(),
            pending: Pending::default(),
            script: Script::new(shared.backend),
            head,
            announce: Vec::new(),
            inserted: HashMap::new(),
            patients: Vec::new(),
            touched: BTreeSet::new(),
            dirty: false,
            audit: Vec::new(),
            guarded,
            needs_lock: false,
        };
        for (code, version) in &versions {
            let code = PoolCode::parse(code).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            if self.cache.get(&code).is_none_or(|c| c.version != *version) {
                let state = load_pool(&shared, tx, &code, batch.now).await?;
                self.cache.insert(code, Cached { version: *version, state });
            }
        }
        let mut slots: Vec<Option<Slot>> = Vec::with_capacity(requests.len());
        let mut others: Vec<Option<Reply>> = Vec::with_capacity(requests.len());
        let unplanned = std::collections::HashSet::new();
        if guarded && allocations.len() != requests.len() {
            // A change reads and writes in several statements (`may_guard` keeps them out).
            batch.needs_lock = true;
            return Ok(Written { batch, slots, others, unplanned, affinity });
        }
        self.learn_facilities(tx, &allocations).await?;
        let mut rules = compliance::prefetch(&shared, tx, &allocations).await?;
        let sms = SmsData::prefetch(&shared, tx, &allocations).await?;
        for request in requests {
            match request {
                Request::Allocate(call, actor, sealed) => {
                    let slot = self
                        .allocate(&mut batch, &mut known, &mut affinity, &mut rules, &sms, call, actor, sealed)
                        .await?;
                    slots.push(Some(slot));
                    others.push(None);
                }
                other => {
                    self.stage(&mut batch);
                    self.send(tx, &mut batch).await?;
                    let reply = self.change(tx, &mut batch, other).await?;
                    slots.push(None);
                    others.push(Some(reply));
                }
            }
        }
        self.stage(&mut batch);
        let touched: BTreeSet<PoolCode> = batch.touched.iter().map(|(p, _)| p.clone()).collect();
        self.promote(tx, &mut batch).await?;
        let mut unplanned = unplanned;
        if batch.needs_lock {
            return Ok(Written { batch, slots, others, unplanned, affinity });
        }
        if !batch.announce.is_empty() {
            // An SMS row finds its call by call_ref. PostgreSQL runs a script's parts on
            // one snapshot: a guarded batch's SMS read their calls from the insert's
            // `RETURNING`, another batch's calls go first.
            let calls = match batch.script.returning_part() {
                Some(part) if guarded => part,
                _ => {
                    if shared.backend == Backend::Postgres {
                        self.send(tx, &mut batch).await?;
                    }
                    "calls".to_owned()
                }
            };
            for (call, caller, send_at, actor) in std::mem::take(&mut batch.announce) {
                if let Err(why) = sms.stage(&shared, &mut batch.script, &calls, &call, &caller, send_at, batch.now) {
                    unplanned.insert(call.call_ref.clone());
                    tracing::warn!(call_ref = %call.call_ref, reason = %why, "the call's SMS could not be planned");
                    batch.audit.push(Entry::new(
                        batch.now,
                        &actor,
                        "sms.unplanned",
                        format!("call:{}", call.call_ref),
                        format!("reason={why}"),
                    ));
                }
            }
        }
        audit::stage(&mut batch.script, &mut batch.head, &batch.audit);
        if guarded && !batch.script.is_empty() {
            stage_guard(&mut batch.script, &decided_on);
        }
        if batch.dirty {
            batch.script.push("UPDATE pools SET version = version + 1".to_owned());
        }
        // The days this batch decided on must still hold the engine's invariants (the
        // cap, the rests); a break aborts the transaction rather than commit a broken
        // state. Debug builds (the tests) check every day of the touched pools.
        for (code, d) in &batch.touched {
            if let Some(cached) = self.cache.get(code) {
                cached.state.check_day(&shared.calendar, *d).map_err(StoreError::Corrupt)?;
            }
        }
        if cfg!(debug_assertions) {
            for code in &touched {
                if let Some(cached) = self.cache.get(code) {
                    cached.state.check_invariants(&shared.calendar).map_err(StoreError::Corrupt)?;
                }
            }
        }
        if shared.backend == Backend::Sqlite {
            batch.script.push("COMMIT".to_owned());
        }
        // A guarded batch's one statement is sent by the caller, and commits on its own;
        // the next batch may be decided on it before it is answered.
        if guarded {
            self.last_head = Some(batch.head.clone());
        } else {
            self.send(tx, &mut batch).await?;
        }
        Ok(Written { batch, slots, others, unplanned, affinity })
    }

    /// Once a written batch is committed: the cached pools' versions follow the
    /// commit's, SQLite's patients' map gets the batch's calls, and the replies are made.
    fn finish(&mut self, written: Written) -> Vec<Reply> {
        let Written { batch, slots, others, unplanned, .. } = written;
        let shared = Arc::clone(&self.shared);
        if !batch.guarded {
            // A guarded batch's head was taken when it was sent (see `write`).
            self.last_head = Some(batch.head.clone());
        }
        if batch.dirty {
            for cached in self.cache.values_mut() {
                cached.version += 1;
            }
        }
        if let Some(patients) = &shared.patients {
            // What the batch inserted, so that the next batch's catch-up reads nothing.
            let mut added: Vec<(i64, &str)> = batch
                .patients
                .iter()
                .filter_map(|(call_ref, patient)| Some((*batch.inserted.get(call_ref)?, patient.as_str())))
                .collect();
            added.sort_unstable();
            patients.add_committed(&added, micros(batch.now));
        }
        let mut replies = Vec::with_capacity(slots.len());
        for (slot, other) in slots.into_iter().zip(others) {
            replies.push(match (slot, other) {
                (Some(Slot::Done(r)), _) => Reply::Allocate(r),
                (Some(Slot::Inserted { call_ref, mut answer }), _) => {
                    answer.call_id = batch.inserted.get(&call_ref).copied().unwrap_or_default();
                    if unplanned.contains(&call_ref) {
                        answer.sms_at = None;
                    }
                    Reply::Allocate(Ok(answer))
                }
                (None, Some(reply)) => reply,
                (None, None) => unreachable!("every request has a slot or a reply"),
            });
        }
        shared.metrics.commits.fetch_add(1, Ordering::Relaxed);
        replies
    }

    #[allow(clippy::too_many_arguments)]
    async fn allocate(
        &mut self,
        batch: &mut Batch,
        known: &mut HashMap<String, KnownCall>,
        affinity: &mut Affinities,
        rules: &mut RuleData,
        sms: &SmsData,
        call: &NewCall,
        actor: &str,
        sealed: &[u8],
    ) -> Result<Slot, StoreError> {
        let shared = Arc::clone(&self.shared);
        let Some(def) = shared.catalog.pool_for(&call.purpose) else {
            return Ok(Slot::Done(Err(StoreError::NotFound { what: "purpose", field: "purpose" })));
        };
        let pool = def.code.clone();
        // The facility must exist; the writer is where that is checked, for every caller
        // of the store (PostgreSQL's calls have no foreign key to it, see migration 16).
        // A known call's facility existed, so checking first changes no retry's answer.
        if !self.facilities.contains(&call.facility) {
            let e = InvalidField::new("facility", format!("{} is not a known facility", call.facility));
            return Ok(Slot::Done(Err(e.into())));
        }
        if let Some(k) = known.get(&call.call_ref) {
            if k.cancelled {
                return Ok(Slot::Done(Err(StoreError::Conflict {
                    field: "call_ref",
                    message: "the call of this call_ref was cancelled; a new call needs a new call_ref".into(),
                })));
            }
            if !k.same_as(call) {
                return Ok(Slot::Done(Err(StoreError::Conflict {
                    field: "call_ref",
                    message:
                        "call_ref was already used for a different call (facility, purpose, patient or dial_at differ)"
                            .into(),
                })));
            }
            if k.number.is_some() || k.id.is_none() {
                return Ok(match k.id {
                    Some(id) => Slot::Done(Ok(k.answer(id, &pool))),
                    None => Slot::Inserted { call_ref: call.call_ref.clone(), answer: k.answer(0, &pool) },
                });
            }
        }
        // Checked here rather than at the edge, with the batch's clock, and after the
        // call_ref lookup, so that a dialer's retry of a known call gets its answer.
        let subject = format!("call:{}", call.call_ref);
        if let Err(e) = shared.dial_window.check(call.dial_at, batch.now) {
            batch.audit.push(Entry::new(batch.now, actor, "call.refuse", subject, format!("rule=dial_window {e}")));
            return Ok(Slot::Done(Err(e.into())));
        }
        // The calling rules (hours, holidays, attempts, refusal, Bloctel, consent) on
        // the data read for the batch, before any number is chosen.
        let (class, verdict) = rules.check(&shared.compliance, &shared.pseudonyms, call);
        if let Err(refusal) = verdict {
            let detail = compliance::refusal_detail(&refusal, class, call);
            batch.audit.push(Entry::new(batch.now, actor, "call.refuse", subject, detail));
            return Ok(Slot::Done(Err(StoreError::Rule(refusal))));
        }
        // The pre-call SMS: a call that cannot be announced, or whose patient stopped a
        // purpose that stops with its SMS, is refused before any number is chosen.
        let announce = match sms.decide(&shared, call, batch.now) {
            Ok(a) => a,
            Err(refusal) => {
                let detail = compliance::refusal_detail(&refusal, class, call);
                batch.audit.push(Entry::new(batch.now, actor, "call.refuse", subject, detail));
                return Ok(Slot::Done(Err(StoreError::Rule(refusal))));
            }
        };
        let cached = self.cache.get_mut(&pool).ok_or(StoreError::NotFound { what: "pool", field: "purpose" })?;
        let zone = call.patient_phone.category().zone();
        let spec = CallSpec {
            facility: &call.facility,
            patient_zone: zone,
            affinity: affinity.get(&(pool.clone(), call.patient_ref.clone())).copied(),
            dial_at: call.dial_at,
        };
        let alloc = match cached.state.allocate(&spec, &shared.calendar, batch.now) {
            Ok(a) => a,
            Err(no) => {
                shared.metrics.no_capacity.fetch_add(1, Ordering::Relaxed);
                let retry = no.retry_at.map_or_else(|| "none".to_owned(), |t| t.to_string());
                batch.audit.push(Entry::new(
                    batch.now,
                    actor,
                    "call.refuse",
                    subject,
                    format!("rule=no_capacity pool={pool} dial_at={} retry_at={retry}", call.dial_at),
                ));
                return Ok(Slot::Done(Err(StoreError::NoCapacity { pool, retry_at: no.retry_at })));
            }
        };
        shared.metrics.allocations.fetch_add(1, Ordering::Relaxed);
        rules.record(class, call);
        let slot = cached.state.number(alloc.number).cloned();
        let (e164, display) = slot.map(|s| (s.e164, s.display_name)).unzip();
        let day = shared.calendar.day_of(call.dial_at);
        batch.audit.push(Entry::new(
            batch.now,
            actor,
            "call.allocate",
            subject,
            format!(
                "pool={pool} number={} facility={} purpose={} dial_at={}",
                e164.as_ref().map_or("", |n| n.as_str()),
                call.facility,
                call.purpose,
                call.dial_at
            ),
        ));
        record_allocation(&mut batch.pending, &pool, &alloc, call.dial_at, day);
        affinity.insert((pool.clone(), call.patient_ref.clone()), alloc.number);
        batch.touched.insert((pool.clone(), day));
        batch.dirty = true;
        let answer = CallAnswer {
            call_id: 0,
            caller_number: e164.clone(),
            display_name: display.clone(),
            pool: pool.clone(),
            created: true,
            sms_at: None,
        };
        if let Some(k) = known.get_mut(&call.call_ref) {
            // A known call without a number gets one now.
            let id = k.id.unwrap_or_default();
            batch.pending.renumber.push((id, Some(alloc.number)));
            k.number = e164;
            k.display_name = display;
            return Ok(Slot::Done(Ok(CallAnswer { call_id: id, created: false, ..answer })));
        }
        let sms_at = match (announce, &e164) {
            (Announce::At(t), Some(caller)) => {
                batch.announce.push((call.clone(), caller.clone(), t, actor.to_owned()));
                Some(t)
            }
            _ => None,
        };
        let answer = CallAnswer { sms_at, ..answer };
        known.insert(
            call.call_ref.clone(),
            KnownCall {
                id: None,
                facility: call.facility.clone(),
                purpose: call.purpose.clone(),
                patient_ref: call.patient_ref.clone(),
                patient_phone: call.patient_phone.clone(),
                dial_at: call.dial_at,
                number: e164,
                display_name: display,
                cancelled: false,
            },
        );
        batch.pending.rows.push(NewRow {
            call_ref: call.call_ref.clone(),
            call: call.clone(),
            pool,
            sealed: sealed.to_vec(),
            zone,
            number: Some(alloc.number),
            class,
        });
        Ok(Slot::Inserted { call_ref: call.call_ref.clone(), answer })
    }

    /// Opens the batch's transaction with its locking read of the pools and the audit
    /// head, and reads the calls the batch's call_refs already name and the number that
    /// last called each of its patients.
    ///
    /// On PostgreSQL the two reads run on the writer's reader connections while the
    /// locking read travels: three trips at once rather than one after the other. They
    /// may miss a call committed just before the lock was granted: by this writer's
    /// previous batch, which `run_pipelined` lays over them, or by another writer, which
    /// the audit head read under the lock reveals (every call is inserted with an audit
    /// entry), and then [`Writer::write`] reads them again under the lock
    /// ([`Locked::under_lock`] says which). Without both readers, and on SQLite,
    /// everything runs on the writer's connection, in the transaction (on SQLite after
    /// the patients' map has caught up).
    async fn lock_and_read(&mut self, tx: &mut Conn<'_>, calls: &[&NewCall], lock: bool) -> Result<Locked, StoreError> {
        let shared = Arc::clone(&self.shared);
        let begin = (shared.backend.begin_write(), shared.backend.lock_pools_and_audit());
        let locking = async |tx: &mut Conn<'_>| -> Result<Option<Vec<crate::sql::Row>>, StoreError> {
            if lock { tx.batch_then(begin.0, begin.1).await.map(Some) } else { Ok(None) }
        };
        if shared.backend == Backend::Postgres && !calls.is_empty() {
            let readers = self.readers.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner);
            if self.readers_retry_at.is_none_or(|at| std::time::Instant::now() >= at) {
                for reader in readers.iter_mut().filter(|r| r.is_none()) {
                    match open_reader(&shared).await {
                        Ok(c) => *reader = Some(c),
                        Err(e) => {
                            // The batch's reads then run on its own connection, under the
                            // lock, until the reader can be opened.
                            tracing::warn!(error = %e, "the writer's reader connection could not be opened; trying again in 10 s");
                            self.readers_retry_at = Some(std::time::Instant::now() + READER_RETRY);
                            break;
                        }
                    }
                }
            }
            if let [Some(first), Some(second)] = readers {
                let (mut first, mut second) = (Conn::Any(first), Conn::Any(second));
                let (rows, known, affinity) = tokio::join!(
                    locking(tx),
                    known_calls(&shared, &mut first, calls),
                    affinities(&shared, &mut second, calls),
                );
                let rows = rows?;
                // A reader that failed (its connection cut, the server restarted) is
                // dropped and opened again for the next batch; this batch then reads on
                // its own connection, under the lock.
                let (known, affinity, under_lock) = match (known, affinity) {
                    (Ok(known), Ok(affinity)) => (known, affinity, false),
                    (known, affinity) => {
                        for (reader, e) in readers.iter_mut().zip([known.err(), affinity.err()]) {
                            if let Some(e) = e {
                                tracing::warn!(error = %e, "the writer's reader failed; reading on the writing connection");
                                *reader = None;
                            }
                        }
                        (known_calls(&shared, tx, calls).await?, affinities(&shared, tx, calls).await?, rows.is_some())
                    }
                };
                let held = rows.as_deref().map(held_by).transpose()?;
                return Ok(Locked { held, known, affinity, under_lock });
            }
        }
        let rows = locking(tx).await?;
        if let Some(patients) = &shared.patients {
            patients.catch_up_writer(tx).await?;
        }
        let known = known_calls(&shared, tx, calls).await?;
        let affinity = affinities(&shared, tx, calls).await?;
        let held = rows.as_deref().map(held_by).transpose()?;
        Ok(Locked { under_lock: held.is_some(), held, known, affinity })
    }

    /// Reads which of the batch's facilities not seen yet exist (a trip only when one
    /// is new to this writer).
    async fn learn_facilities(&mut self, tx: &mut Conn<'_>, calls: &[&NewCall]) -> Result<(), StoreError> {
        let mut unseen: Vec<&str> =
            calls.iter().map(|c| &c.facility).filter(|f| !self.facilities.contains(*f)).map(|f| f.as_str()).collect();
        if unseen.is_empty() {
            return Ok(());
        }
        unseen.sort_unstable();
        unseen.dedup();
        let ids = TextList::new(self.shared.backend, unseen.iter().copied());
        let q = ids.bind_to(sql::query(format!("SELECT id FROM facilities WHERE id {}", ids.sql(1))));
        for row in q.fetch_all(tx).await? {
            let id = FacilityId::parse(&row.get::<String, _>(0)).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            self.facilities.insert(id);
        }
        Ok(())
    }

    /// Sends the statements staged so far (one trip on PostgreSQL).
    async fn send(&mut self, tx: &mut Conn<'_>, batch: &mut Batch) -> Result<(), StoreError> {
        debug_assert!(!batch.guarded, "a guarded batch is written in one statement, by its caller");
        let script = std::mem::replace(&mut batch.script, Script::new(self.shared.backend));
        batch.record_inserted(script.run(tx).await?);
        Ok(())
    }

    /// Stages the writes of what the batch has decided so far.
    fn stage(&self, batch: &mut Batch) {
        use crate::sql::Kind::{Blob, Int, Text};
        let p = std::mem::take(&mut batch.pending);
        if p.is_empty() {
            return;
        }
        let b = self.shared.backend;
        let now = micros(batch.now);
        if self.shared.patients.is_some() {
            batch.patients.extend(p.rows.iter().map(|r| (r.call_ref.clone(), r.call.patient_ref.clone())));
        }
        let sc = &mut batch.script;
        sc.insert_rows(
            "INSERT INTO calls (call_ref, facility, purpose, pool, patient_ref, patient_phone, patient_zone, dial_at, number_id, created_at, legal_basis, class)",
            &[Text, Text, Text, Text, Text, Blob, Int, Int, Int, Int, Text, Text],
            "RETURNING id, call_ref",
            true,
            &p.rows,
            |v, r| {
                v.bind(r.call_ref.as_str())
                    .bind(r.call.facility.as_str())
                    .bind(r.call.purpose.as_str())
                    .bind(r.pool.as_str())
                    .bind(r.call.patient_ref.as_str())
                    .bind(r.sealed.as_slice())
                    .bind(r.zone.map(i64::from))
                    .bind(micros(r.call.dial_at))
                    .bind(r.number.map(|n| n.0))
                    .bind(now)
                    .bind(self.shared.legal_bases.for_purpose(&r.call.purpose).as_str())
                    .bind(r.class.as_str());
            },
        );
        // One update per call: the last number decided for it in this batch.
        let mut renumber: HashMap<i64, Option<NumberId>> = HashMap::new();
        for (id, number) in &p.renumber {
            renumber.insert(*id, *number);
        }
        for (id, number) in renumber {
            let sql = format!(
                "UPDATE calls SET number_id = {}, reassigned_at = {} WHERE id = {}",
                b.placeholder(sc.next_param()),
                b.placeholder(sc.next_param() + 1),
                b.placeholder(sc.next_param() + 2)
            );
            sc.bind(number.map(|n| n.0)).bind(now).bind(id);
            sc.push(sql);
        }
        let days: Vec<_> = p.days.into_iter().collect();
        sc.insert_rows(
            "INSERT INTO number_days (number_id, day, calls, last_dial_at)",
            &[Int, Text, Int, Int],
            "ON CONFLICT (number_id, day) DO UPDATE SET calls = number_days.calls + excluded.calls, \
             last_dial_at = CASE WHEN excluded.last_dial_at > number_days.last_dial_at THEN excluded.last_dial_at ELSE number_days.last_dial_at END",
            false,
            &days,
            |v, ((number, d), (delta, last))| {
                v.bind(number.0).bind(day_text(*d)).bind(*delta).bind(last.map_or(0, micros));
            },
        );
        let pool_days: Vec<_> = p.pool_days.into_iter().filter(|(_, d)| *d != 0).collect();
        sc.insert_rows(
            "INSERT INTO pool_days (pool, day, calls)",
            &[Text, Text, Int],
            "ON CONFLICT (pool, day) DO UPDATE SET calls = pool_days.calls + excluded.calls",
            false,
            &pool_days,
            |v, ((pool, d), delta)| {
                v.bind(pool.as_str()).bind(day_text(*d)).bind(*delta);
            },
        );
        for (number, pool, rest) in &p.rests {
            let sql = format!(
                "INSERT INTO rests (number_id, from_at, until_at) VALUES {} ON CONFLICT DO NOTHING",
                values(b, 1, 3, sc.next_param())
            );
            sc.bind(number.0).bind(micros(rest.from)).bind(micros(rest.until));
            sc.push(sql);
            let intensive = self.shared.catalog.pool(pool).map(|d| d.policy.intensive_days_before_rest);
            let reason = Finding::Rest {
                intensive_days: intensive.unwrap_or_default(),
                last_day: self.shared.calendar.day_of(rest.from - vigie_core::SignedDuration::from_secs(1)),
            };
            stage_event(
                sc,
                &self.shared.calendar,
                number.0,
                batch.now,
                "resting",
                pool.as_str(),
                Some(rest.until),
                &reason,
                "engine",
                &mut batch.audit,
            );
        }
    }

    async fn change(&mut self, tx: &mut Conn<'_>, batch: &mut Batch, request: &Request) -> Result<Reply, StoreError> {
        Ok(match request {
            Request::Allocate(..) => unreachable!("allocations are handled by allocate"),
            Request::Report(report, call_id, actor) => {
                Reply::Report(self.report(tx, batch, report, *call_id, actor).await?)
            }
            Request::Outcome(call_id, outcome, refused, actor) => {
                Reply::Outcome(self.outcome(tx, batch, *call_id, outcome, *refused, actor).await?)
            }
            Request::Change { number, change, reason, actor, trigger } => {
                Reply::Change(self.number_change(tx, batch, number, change, reason, actor, trigger.as_ref()).await?)
            }
            Request::CallChange(call_id, change, reason, actor) => {
                Reply::CallChange(self.call_change(tx, batch, *call_id, *change, reason, actor).await?)
            }
            Request::OptOut(phone, source, actor) => {
                Reply::OptOut(self.opt_out(tx, batch, phone, source, actor).await?)
            }
            Request::CloseIncident(id, resolution, note, actor) => {
                Reply::CloseIncident(self.close_incident(tx, batch, *id, resolution, note, actor).await?)
            }
        })
    }

    async fn report(
        &mut self,
        tx: &mut Conn<'_>,
        batch: &mut Batch,
        report: &NewReport,
        call_id: Option<i64>,
        actor: &str,
    ) -> Result<Result<ReportAnswer, StoreError>, StoreError> {
        let Some(number) = find_number(tx, &report.number).await? else {
            return Ok(Err(StoreError::NotFound { what: "number", field: "number" }));
        };
        let d = self.shared.calendar.day_of(report.reported_at);
        let id: i64 = sql::query(
            "INSERT INTO reports (number_id, source, reported_at, day, detail, call_id, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(number.id.0)
        .bind(report.source.as_str())
        .bind(micros(report.reported_at))
        .bind(day_text(d))
        .bind(report.detail.as_str())
        .bind(call_id)
        .bind(micros(batch.now))
        .fetch_one(&mut *tx)
        .await?
        .get(0);
        let counted = sql::query("SELECT COUNT(*), MIN(reported_at) FROM reports WHERE number_id = $1 AND day = $2")
            .bind(number.id.0)
            .bind(day_text(d))
            .fetch_one(&mut *tx)
            .await?;
        let count: i64 = counted.get(0);
        let first_report = counted.get::<Option<i64>, _>(1).map(instant).transpose()?.unwrap_or(report.reported_at);
        self.shared.metrics.reports.fetch_add(1, Ordering::Relaxed);
        let count = u32::try_from(count).unwrap_or(u32::MAX);
        batch.audit.push(Entry::new(
            batch.now,
            actor,
            "report.receive",
            format!("number:{}", report.number),
            format!(
                "report={id} source={} reported_at={} reports_that_day={count}",
                report.source.as_str(),
                report.reported_at
            ),
        ));
        let threshold = self.shared.catalog.pool(&number.pool).map_or(2, |p| p.policy.reports_per_day_to_quarantine);
        let mut answer =
            ReportAnswer { report_id: id, reports_that_day: count, quarantined: false, reassigned: 0, unassigned: 0 };
        // A reserve number is quarantined too, so that a flagged number is never promoted.
        let in_service = matches!(number.status, NumberStatus::Active | NumberStatus::Reserve);
        if reports_quarantine(count, threshold) && in_service {
            let finding = Finding::Reports { count, day: d, latest_source: report.source.as_str().to_owned() };
            let trigger = Trigger { signal: "reports".into(), first_evidence_at: first_report, evidence: finding };
            let (moved, left) = self
                .set_status(tx, batch, &number, NumberStatus::Quarantined, &trigger.evidence, "engine", Some(&trigger))
                .await?;
            self.shared.metrics.quarantines.fetch_add(1, Ordering::Relaxed);
            answer.quarantined = true;
            answer.reassigned = moved;
            answer.unassigned = left;
        }
        Ok(Ok(answer))
    }

    async fn outcome(
        &mut self,
        tx: &mut Conn<'_>,
        batch: &mut Batch,
        call_id: i64,
        outcome: &OutcomeReport,
        solicitation_refused: bool,
        actor: &str,
    ) -> Result<Result<Option<ReportAnswer>, StoreError>, StoreError> {
        let row = sql::query(
            "SELECT n.e164, c.agent_note, c.cancelled_at FROM calls c LEFT JOIN numbers n ON n.id = c.number_id WHERE c.id = $1",
        )
        .bind(call_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(Err(StoreError::NotFound { what: "call", field: "call_id" }));
        };
        if row.get::<Option<i64>, _>(2).is_some() {
            return Ok(Err(StoreError::Conflict {
                field: "call_id",
                message: "the call was cancelled; it has no outcome to record".into(),
            }));
        }
        let e164: Option<String> = row.get(0);
        let previous_note: Option<String> = row.get(1);
        sql::query(
            "UPDATE calls SET outcome = $1, duration_s = $2, ended_at = $3, ring_s = $4, sip_code = $5, agent_note = $6, outcome_at = $7 WHERE id = $8",
        )
        .bind(outcome.outcome.as_str())
        .bind(i64::from(outcome.duration_s))
        .bind(micros(outcome.ended_at))
        .bind(outcome.ring_s.map(i64::from))
        .bind(outcome.sip_code.map(i64::from))
        .bind(outcome.agent_note.as_deref())
        .bind(micros(batch.now))
        .bind(call_id)
        .execute(&mut *tx)
        .await?;
        self.shared.metrics.outcomes.fetch_add(1, Ordering::Relaxed);
        if solicitation_refused {
            // The 60-day cooldown of D223-9 runs from here; a refusal once recorded
            // stays, whatever later outcome reports say.
            sql::query("UPDATE calls SET refused_at = $1 WHERE id = $2")
                .bind(micros(outcome.ended_at))
                .bind(call_id)
                .execute(&mut *tx)
                .await?;
            batch.audit.push(Entry::new(
                batch.now,
                actor,
                "call.solicitation_refused",
                format!("call-id:{call_id}"),
                format!("refused_at={}", outcome.ended_at),
            ));
        }
        batch.audit.push(Entry::new(
            batch.now,
            actor,
            "call.outcome",
            format!("call-id:{call_id}"),
            format!(
                "outcome={} duration_s={} ring_s={} sip_code={} agent_note={}",
                outcome.outcome.as_str(),
                outcome.duration_s,
                outcome.ring_s.map_or_else(|| "-".to_owned(), |v| v.to_string()),
                outcome.sip_code.map_or_else(|| "-".to_owned(), |v| v.to_string()),
                outcome.agent_note.as_deref().unwrap_or("-")
            ),
        ));
        let newly_spam =
            outcome.agent_note.as_deref() == Some(SHOWN_AS_SPAM) && previous_note.as_deref() != Some(SHOWN_AS_SPAM);
        match (newly_spam, e164) {
            (true, Some(e164)) => {
                let number = E164::parse(&e164).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let report = NewReport {
                    number,
                    source: ReportSource::Agent,
                    reported_at: outcome.ended_at,
                    detail: format!("agent note {SHOWN_AS_SPAM} on call {call_id}"),
                };
                Ok(self.report(tx, batch, &report, Some(call_id), actor).await?.map(Some))
            }
            _ => Ok(Ok(None)),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn number_change(
        &mut self,
        tx: &mut Conn<'_>,
        batch: &mut Batch,
        e164: &E164,
        change: &NumberChange,
        reason: &str,
        actor: &str,
        trigger: Option<&Trigger>,
    ) -> Result<Result<(), StoreError>, StoreError> {
        let Some(number) = find_number(tx, e164).await? else {
            return Ok(Err(StoreError::NotFound { what: "number", field: "number" }));
        };
        let role = self.shared.catalog.pool(&number.pool).map(|p| p.role);
        match change {
            NumberChange::Quarantine | NumberChange::Retire => {
                let status = if matches!(change, NumberChange::Quarantine) {
                    NumberStatus::Quarantined
                } else {
                    NumberStatus::Retired
                };
                if number.status == status {
                    return Ok(Err(StoreError::Conflict {
                        field: "action",
                        message: format!("the number is already {}", status.as_str()),
                    }));
                }
                if number.status == NumberStatus::Retired {
                    return Ok(Err(StoreError::Conflict {
                        field: "action",
                        message: "a retired number stays retired".into(),
                    }));
                }
                let manual =
                    Trigger { signal: "manual".into(), first_evidence_at: batch.now, evidence: Finding::text(reason) };
                let trigger = trigger.unwrap_or(&manual);
                self.set_status(tx, batch, &number, status, &trigger.evidence, actor, Some(trigger)).await?;
            }
            NumberChange::Release => {
                let status = if role == Some(PoolRole::Reserve) { NumberStatus::Reserve } else { NumberStatus::Active };
                if number.status == status || number.status == NumberStatus::Retired {
                    return Ok(Err(StoreError::Conflict {
                        field: "action",
                        message: format!("the number is {} and cannot be released", number.status.as_str()),
                    }));
                }
                self.set_status(tx, batch, &number, status, &Finding::text(reason), actor, None).await?;
            }
            NumberChange::Move(target) => {
                let Some(def) = self.shared.catalog.pool(target) else {
                    return Ok(Err(StoreError::Invalid(vigie_core::InvalidField::new(
                        "pool",
                        format!("pool {target} is not configured"),
                    ))));
                };
                // The ARCEP rules of the target pool's dialling mode (422 naming the rule).
                if let Err(refusal) = self.shared.compliance.presentable(target, e164) {
                    return Ok(Err(StoreError::Invalid(vigie_core::InvalidField::new(
                        "pool",
                        format!("{refusal} (pool {target} is dialled {})", self.shared.compliance.dialling_of(target)),
                    ))));
                }
                if *target == number.pool {
                    return Ok(Err(StoreError::Conflict {
                        field: "pool",
                        message: format!("the number is already in pool {target}"),
                    }));
                }
                let status = match (number.status, def.role) {
                    (NumberStatus::Quarantined | NumberStatus::Retired, _) => number.status,
                    (_, PoolRole::Reserve) => NumberStatus::Reserve,
                    _ => NumberStatus::Active,
                };
                // Calls it holds in its old pool move to another number of that pool.
                if let Some(cached) = self.cache.get_mut(&number.pool) {
                    cached.state.set_status(number.id, NumberStatus::Retired);
                }
                self.reassign(tx, batch, &number).await?;
                let reason = Finding::text(reason);
                self.move_number(tx, batch, number.id, &number.pool, target, status, &reason, actor).await?;
            }
        }
        Ok(Ok(()))
    }

    /// Changes a number's lasting state; when it leaves service, its calls not yet
    /// dialled move to other numbers of its pool (or lose their number when none can
    /// take them). Returns (moved, left without a number).
    /// A number leaving service for quarantine opens an incident (with its alert) from
    /// `trigger`.
    #[allow(clippy::too_many_arguments)]
    async fn set_status(
        &mut self,
        tx: &mut Conn<'_>,
        batch: &mut Batch,
        number: &FoundNumber,
        status: NumberStatus,
        reason: &Finding,
        actor: &str,
        trigger: Option<&Trigger>,
    ) -> Result<(u32, u32), StoreError> {
        let cal = &self.shared.calendar;
        sql::query(
            "UPDATE numbers SET status = $1, status_since = $2, status_reason = $3, status_reason_fr = $4 WHERE id = $5",
        )
        .bind(status.as_str())
        .bind(micros(batch.now))
        .bind(reason.render(Language::En, cal))
        .bind(reason.render(Language::Fr, cal))
        .bind(number.id.0)
        .execute(&mut *tx)
        .await?;
        insert_event(
            tx,
            (self.shared.backend, cal),
            number.id.0,
            batch.now,
            status.as_str(),
            number.pool.as_str(),
            None,
            reason,
            actor,
            &mut batch.audit,
        )
        .await?;
        batch.dirty = true;
        if let Some(cached) = self.cache.get_mut(&number.pool) {
            // A number its pool may not present stays out of service in the engine.
            let e164 = cached.state.number(number.id).map(|n| n.e164.clone());
            let engine = e164.map_or(status, |n| self.shared.compliance.engine_status(&number.pool, &n, status));
            cached.state.set_status(number.id, engine);
        }
        if status == NumberStatus::Active || status == NumberStatus::Reserve {
            return Ok((0, 0));
        }
        let (moved, left) = self.reassign(tx, batch, number).await?;
        if let (NumberStatus::Quarantined, Some(trigger)) = (status, trigger) {
            let e164 = self.cache.get(&number.pool).and_then(|c| c.state.number(number.id)).map(|n| n.e164.clone());
            let id = incidents::open(
                tx,
                (&self.shared.playbook, &self.shared.calendar),
                number.id,
                e164.as_ref(),
                &number.pool,
                trigger,
                batch.now,
                (moved, left),
            )
            .await?;
            batch.audit.push(Entry::new(
                batch.now,
                actor,
                "incident.open",
                format!("number-id:{}", number.id.0),
                format!("incident={id} signal={} first_evidence_at={}", trigger.signal, trigger.first_evidence_at),
            ));
        }
        Ok((moved, left))
    }

    /// Moves the calls not yet dialled of a number that left service to other numbers
    /// of its pool, or leaves them without a number when none can take them.
    async fn reassign(
        &mut self,
        tx: &mut Conn<'_>,
        batch: &mut Batch,
        number: &FoundNumber,
    ) -> Result<(u32, u32), StoreError> {
        // A call is dialled at most the dial window's ahead_max after it was created, so
        // the calls still to dial were created since now - ahead_max: a range of the
        // append-only index on created_at (an index on the number would cost a random page
        // write per allocation).
        let created_since = batch.now - self.shared.dial_window.ahead_max;
        let rows = sql::query(
            "SELECT id, facility, patient_zone, dial_at FROM calls \
             WHERE created_at >= $1 AND number_id = $2 AND dial_at > $3 AND outcome IS NULL AND cancelled_at IS NULL ORDER BY dial_at",
        )
        .bind(micros(created_since))
        .bind(number.id.0)
        .bind(micros(batch.now))
        .fetch_all(&mut *tx)
        .await?;
        let Some(cached) = self.cache.get_mut(&number.pool) else { return Ok((0, 0)) };
        let (mut moved, mut left) = (0, 0);
        let cal = &self.shared.calendar;
        let mut outcomes: Vec<(i64, FacilityId, Timestamp, Option<E164>)> = Vec::new();
        for row in rows {
            let call_id: i64 = row.get(0);
            let facility =
                FacilityId::parse(&row.get::<String, _>(1)).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let zone: Option<i64> = row.get(2);
            let dial_at = instant(row.get(3))?;
            let d = cal.day_of(dial_at);
            cached.state.unassign(number.id, dial_at, cal);
            batch.pending.count(number.id, &number.pool, d, -1, None);
            let spec = CallSpec {
                facility: &facility,
                patient_zone: zone.and_then(|z| u8::try_from(z).ok()),
                affinity: None,
                dial_at,
            };
            match cached.state.allocate(&spec, cal, batch.now) {
                Ok(alloc) => {
                    record_allocation(&mut batch.pending, &number.pool, &alloc, dial_at, d);
                    batch.pending.renumber.push((call_id, Some(alloc.number)));
                    let caller = cached.state.number(alloc.number).map(|n| n.e164.clone());
                    let to = caller.as_ref().map_or_else(String::new, ToString::to_string);
                    outcomes.push((call_id, facility.clone(), dial_at, caller));
                    batch.audit.push(Entry::new(
                        batch.now,
                        "engine",
                        "call.reassign",
                        format!("call-id:{call_id}"),
                        format!("from_number_id={} to={to} pool={}", number.id.0, number.pool),
                    ));
                    moved += 1;
                }
                Err(_) => {
                    outcomes.push((call_id, facility.clone(), dial_at, None));
                    batch.pending.renumber.push((call_id, None));
                    batch.audit.push(Entry::new(
                        batch.now,
                        "engine",
                        "call.unassign",
                        format!("call-id:{call_id}"),
                        format!("from_number_id={} pool={} rule=no_capacity", number.id.0, number.pool),
                    ));
                    left += 1;
                }
            }
            batch.touched.insert((number.pool.clone(), d));
        }
        self.shared.metrics.reassigned.fetch_add(u64::from(moved), Ordering::Relaxed);
        self.replan_sms(tx, batch, &outcomes).await?;
        Ok((moved, left))
    }

    /// The SMS not yet taken by a dispatcher of calls that moved to another number (its
    /// sender and text may name the number) are cancelled, and a new one is planned from
    /// the new number; a call left without a number keeps no SMS.
    async fn replan_sms(
        &mut self,
        tx: &mut Conn<'_>,
        batch: &mut Batch,
        moved: &[(i64, FacilityId, Timestamp, Option<E164>)],
    ) -> Result<(), StoreError> {
        let shared = Arc::clone(&self.shared);
        if moved.is_empty() || shared.sms.purposes.is_empty() {
            return Ok(());
        }
        let b = shared.backend;
        let sql = format!(
            "SELECT s.id, s.call_id, c.call_ref, c.purpose, c.patient_phone FROM sms s JOIN calls c ON c.id = s.call_id \
             WHERE s.status = 'queued' AND s.claimed_at IS NULL AND s.call_id IN ({})",
            list(b, moved.len(), 1)
        );
        let mut q = sql::query(sql);
        for (id, ..) in moved {
            q = q.bind(*id);
        }
        let rows = q.fetch_all(&mut *tx).await?;
        let mut replans = Vec::new();
        for row in rows {
            let (sms_id, call_id): (i64, i64) = (row.get(0), row.get(1));
            let Some((_, facility, dial_at, caller)) = moved.iter().find(|m| m.0 == call_id) else { continue };
            let why = if caller.is_some() {
                "the call moved to another number; a new SMS is planned"
            } else {
                "the call lost its number"
            };
            let sql = format!(
                "UPDATE sms SET status = 'cancelled', final_at = {}, error = {} WHERE id = {}",
                b.placeholder(batch.script.next_param()),
                b.placeholder(batch.script.next_param() + 1),
                b.placeholder(batch.script.next_param() + 2)
            );
            batch.script.bind(micros(batch.now)).bind(why).bind(sms_id);
            batch.script.push(sql);
            if let Some(caller) = caller {
                let phone = String::from_utf8(shared.key.open(&row.get::<Vec<u8>, _>(4))?)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let call = NewCall {
                    call_ref: row.get(2),
                    facility: facility.clone(),
                    purpose: Purpose::parse(&row.get::<String, _>(3))
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    patient_ref: String::new(),
                    patient_phone: E164::parse(&phone).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    dial_at: *dial_at,
                };
                replans.push((call, caller.clone()));
            }
        }
        let calls: Vec<&NewCall> = replans.iter().map(|(c, _)| c).collect();
        let data = SmsData::prefetch(&shared, tx, &calls).await?;
        for (call, caller) in &replans {
            let planned = match data.decide(&shared, call, batch.now) {
                Ok(Announce::At(t)) => data.stage(&shared, &mut batch.script, "calls", call, caller, t, batch.now),
                Ok(Announce::None) => Err("no SMS for this patient or purpose".to_owned()),
                Err(refusal) => Err(format!("cannot be announced any more ({refusal})")),
            };
            if let Err(why) = planned {
                batch.audit.push(Entry::new(
                    batch.now,
                    "engine",
                    "sms.unplanned",
                    format!("call:{}", call.call_ref),
                    format!("reason={why}"),
                ));
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn move_number(
        &mut self,
        tx: &mut Conn<'_>,
        batch: &mut Batch,
        id: NumberId,
        from: &PoolCode,
        to: &PoolCode,
        status: NumberStatus,
        reason: &Finding,
        actor: &str,
    ) -> Result<(), StoreError> {
        // Both pools are reloaded from the database below: what the batch decided goes first.
        self.stage(batch);
        self.send(tx, batch).await?;
        let cal = &self.shared.calendar;
        sql::query(
            "UPDATE numbers SET pool = $1, status = $2, status_since = $3, status_reason = $4, status_reason_fr = $5 \
             WHERE id = $6",
        )
        .bind(to.as_str())
        .bind(status.as_str())
        .bind(micros(batch.now))
        .bind(reason.render(Language::En, cal))
        .bind(reason.render(Language::Fr, cal))
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
        insert_event(
            tx,
            (self.shared.backend, cal),
            id.0,
            batch.now,
            status.as_str(),
            to.as_str(),
            None,
            reason,
            actor,
            &mut batch.audit,
        )
        .await?;
        batch.dirty = true;
        for code in [from, to] {
            let state = load_pool(&self.shared, tx, code, batch.now).await?;
            if let Some(c) = self.cache.get_mut(code) {
                c.state = state;
            }
        }
        Ok(())
    }

    /// Promotes reserve numbers into the pools whose capacity left fell below their
    /// expected demand on a day this batch touched.
    async fn promote(&mut self, tx: &mut Conn<'_>, batch: &mut Batch) -> Result<(), StoreError> {
        let Some(reserve) = self.shared.catalog.reserve().cloned() else { return Ok(()) };
        let touched = std::mem::take(&mut batch.touched);
        for (code, d) in touched {
            let cal = &self.shared.calendar;
            let Some(target) = self.cache.get(&code) else { continue };
            let need = target.state.shortfall(d, cal, batch.now);
            if need == 0 {
                continue;
            }
            let Some(from) = self.cache.get(&reserve) else { continue };
            let chosen: Vec<NumberId> = from
                .state
                .promotion_order(&target.state)
                .into_iter()
                // Only numbers the target pool may present (its dialling mode).
                .filter(|id| {
                    from.state.number(*id).is_some_and(|n| self.shared.compliance.presentable(&code, &n.e164).is_ok())
                })
                .take(need as usize)
                .collect();
            if chosen.is_empty() {
                tracing::warn!(pool = %code, day = %d, need, "pool is short of capacity and the reserve is empty");
                continue;
            }
            if batch.guarded {
                // A promotion writes and reloads pools before the batch's statement.
                batch.needs_lock = true;
                return Ok(());
            }
            let expected = target.state.expected_demand(d, cal.day_of(batch.now));
            let reason = Finding::Promoted { reserve: reserve.clone(), pool: code.clone(), day: d, expected };
            for id in chosen {
                self.move_number(tx, batch, id, &reserve, &code, NumberStatus::Active, &reason, "engine").await?;
                self.shared.metrics.promotions.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }
}

fn record_allocation(pending: &mut Pending, pool: &PoolCode, alloc: &Allocation, dial_at: Timestamp, d: Date) {
    pending.count(alloc.number, pool, d, 1, Some(dial_at));
    if let Some(rest) = alloc.rest {
        pending.rests.push((alloc.number, pool.clone(), rest));
    }
}

/// The WAL file beside the SQLite database at `db`.
pub(crate) fn wal_path(db: &std::path::Path) -> std::path::PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    std::path::PathBuf::from(name)
}

/// The SQLite flusher: takes every batch committed since its last turn, makes the WAL
/// durable with one `fdatasync`, then sends their replies, while the writer goes on with
/// the next batch. The writer's connection commits with `synchronous=NORMAL` (no sync in
/// the commit); the WAL is appended in commit order, so one sync makes every earlier
/// commit durable too. A failed sync acknowledges nothing.
fn flusher(wal: std::fs::File, flushes: std::sync::mpsc::Receiver<Flush>) {
    while let Ok(mut answers) = flushes.recv() {
        while let Ok(more) = flushes.try_recv() {
            answers.extend(more);
        }
        match wal.sync_data() {
            Ok(()) => {
                for (reply, answer) in answers {
                    let _ = reply.send(answer);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "the WAL could not be made durable; the batch's requests are refused");
                for (reply, answer) in answers {
                    let _ = reply.send(unflushed(answer));
                }
            }
        }
    }
}

/// The reply of a committed request whose commit could not be made durable.
fn unflushed(answer: Reply) -> Reply {
    let e = || StoreError::Corrupt("the commit could not be made durable (WAL sync failed)".into());
    match answer {
        Reply::Allocate(_) => Reply::Allocate(Err(e())),
        Reply::Report(_) => Reply::Report(Err(e())),
        Reply::Outcome(_) => Reply::Outcome(Err(e())),
        Reply::Change(_) => Reply::Change(Err(e())),
        Reply::CallChange(_) => Reply::CallChange(Err(e())),
        Reply::OptOut(_) => Reply::OptOut(Err(e())),
        Reply::CloseIncident(_) => Reply::CloseIncident(Err(e())),
    }
}

fn failed(request: &Request, e: StoreError) -> Reply {
    match request {
        Request::Allocate(..) => Reply::Allocate(Err(e)),
        Request::Report(..) => Reply::Report(Err(e)),
        Request::Outcome(..) => Reply::Outcome(Err(e)),
        Request::Change { .. } => Reply::Change(Err(e)),
        Request::CallChange(..) => Reply::CallChange(Err(e)),
        Request::OptOut(..) => Reply::OptOut(Err(e)),
        Request::CloseIncident(..) => Reply::CloseIncident(Err(e)),
    }
}

/// A call already stored (or decided earlier in the batch), for idempotency.
struct KnownCall {
    id: Option<i64>,
    facility: FacilityId,
    purpose: Purpose,
    patient_ref: String,
    patient_phone: E164,
    dial_at: Timestamp,
    number: Option<E164>,
    display_name: Option<String>,
    cancelled: bool,
}

impl KnownCall {
    fn same_as(&self, call: &NewCall) -> bool {
        self.facility == call.facility
            && self.purpose == call.purpose
            && self.patient_ref == call.patient_ref
            && self.patient_phone == call.patient_phone
            && self.dial_at == call.dial_at
    }

    fn answer(&self, id: i64, pool: &PoolCode) -> CallAnswer {
        CallAnswer {
            call_id: id,
            caller_number: self.number.clone(),
            display_name: self.display_name.clone(),
            pool: pool.clone(),
            created: false,
            sms_at: None,
        }
    }
}

/// How long the writer reads on its own connection after a reader could not be opened.
const READER_RETRY: std::time::Duration = std::time::Duration::from_secs(10);

/// The name PostgreSQL shows (`pg_stat_activity.application_name`) for the writer's
/// reader connections.
pub const READER_NAME: &str = "vigie-writer-reader";

/// Opens one of the PostgreSQL writer's reader connections, named [`READER_NAME`].
async fn open_reader(shared: &Shared) -> Result<sqlx::AnyConnection, StoreError> {
    let mut conn = crate::db::connect_one(&shared.pool, shared.backend).await?;
    Conn::Any(&mut conn).batch(&format!("SET application_name = '{READER_NAME}'")).await?;
    Ok(conn)
}

/// Ends the connection's transaction, if any, keeping nothing of it ("no transaction"
/// if the batch failed before or at `BEGIN`).
async fn rollback(conn: &mut Conn<'_>) {
    if let Err(e) = conn.batch("ROLLBACK").await {
        tracing::debug!(error = %e, "rollback after a failed batch");
    }
}

/// What a locking read's rows (`Backend::lock_pools_and_audit`) say: the pools'
/// versions and the audit head.
fn held_by(rows: &[crate::sql::Row]) -> Result<(Vec<(String, i64)>, audit::Head), StoreError> {
    let head = rows
        .first()
        .map(|r| audit::Head { seq: r.get(2), hash: r.get(3) })
        .ok_or_else(|| StoreError::Corrupt("no pool or no audit head".into()))?;
    Ok((rows.iter().map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1))).collect(), head))
}

/// The SQLSTATE of a guarded batch's statement when the audit head was no longer the
/// one the batch was decided on: another writer committed first (`vigie_expect_head`,
/// PostgreSQL's migration 17).
const HEAD_MOVED: &str = "VGH01";

/// Stages the guard of a batch decided without the lock (PostgreSQL): the locking read
/// of [`Backend::lock_pools_and_audit`], the same rows in the same order, and whether
/// the head it locked is still `decided_on`. The lock is taken first and the head
/// compared after: a lock that waited for another transaction gives the row as that
/// one committed it, whatever the statement's snapshot saw. So a batch sent while the
/// one it was decided on is still in flight passes once that one has committed, and
/// a writer that committed meanwhile fails the statement with [`HEAD_MOVED`].
fn stage_guard(script: &mut Script, decided_on: &audit::Head) {
    let b = script.backend();
    let (seq, hash) = (script.next_param(), script.next_param() + 1);
    script.bind(decided_on.seq).bind(decided_on.hash.clone());
    script.push_guard(
        format!(
            "SELECT l.seq = {} AND l.hash = {} AS ok FROM \
             (SELECT h.seq, h.hash FROM pools p, audit_head h WHERE h.id = 1 ORDER BY p.code FOR UPDATE) l",
            b.placeholder(seq),
            b.placeholder(hash)
        ),
        "vigie_expect_head(count(*) FILTER (WHERE ok))",
    );
}

/// Whether `e` is a guarded statement's refusal because the head moved.
fn head_moved(e: &StoreError) -> bool {
    matches!(e, StoreError::Db(sqlx::Error::Database(d)) if d.code().as_deref() == Some(HEAD_MOVED))
}

/// The batch's allocation requests.
fn allocations<'a>(requests: impl IntoIterator<Item = &'a Request>) -> Vec<&'a NewCall> {
    requests
        .into_iter()
        .filter_map(|r| match r {
            Request::Allocate(c, ..) => Some(c),
            _ => None,
        })
        .collect()
}

async fn known_calls(
    shared: &Shared,
    tx: &mut Conn<'_>,
    calls: &[&NewCall],
) -> Result<HashMap<String, KnownCall>, StoreError> {
    let mut known = HashMap::new();
    for chunk in calls.chunks(500) {
        let refs = TextList::new(shared.backend, chunk.iter().map(|c| c.call_ref.as_str()));
        let sql = format!(
            "SELECT c.id, c.call_ref, c.facility, c.purpose, c.patient_ref, c.patient_phone, c.dial_at, n.e164, n.display_name, c.cancelled_at \
             FROM calls c LEFT JOIN numbers n ON n.id = c.number_id WHERE c.call_ref {}",
            refs.sql(1)
        );
        let q = refs.bind_to(sql::query(sql));
        for row in q.fetch_all(&mut *tx).await? {
            let corrupt = |e: String| StoreError::Corrupt(e);
            let phone = shared.key.open(&row.get::<Vec<u8>, _>(5))?;
            let phone = String::from_utf8(phone).map_err(|e| corrupt(e.to_string()))?;
            let number: Option<String> = row.get(7);
            known.insert(
                row.get::<String, _>(1),
                KnownCall {
                    id: Some(row.get(0)),
                    facility: FacilityId::parse(&row.get::<String, _>(2)).map_err(|e| corrupt(e.to_string()))?,
                    purpose: Purpose::parse(&row.get::<String, _>(3)).map_err(|e| corrupt(e.to_string()))?,
                    patient_ref: row.get(4),
                    patient_phone: E164::parse(&phone).map_err(|e| corrupt(e.to_string()))?,
                    dial_at: instant(row.get(6))?,
                    number: number.map(|n| E164::parse(&n)).transpose().map_err(|e| corrupt(e.to_string()))?,
                    display_name: row.get(8),
                    cancelled: row.get::<Option<i64>, _>(9).is_some(),
                },
            );
        }
    }
    Ok(known)
}

async fn affinities(
    shared: &Shared,
    tx: &mut Conn<'_>,
    calls: &[&NewCall],
) -> Result<HashMap<(PoolCode, String), NumberId>, StoreError> {
    // The number of each patient's latest numbered call in each pool, read through the
    // index on calls(patient_ref) (PostgreSQL) or the patients' call ids (SQLite).
    let mut patients: Vec<&str> = calls.iter().map(|c| c.patient_ref.as_str()).collect();
    patients.sort_unstable();
    patients.dedup();
    let mut latest: HashMap<(PoolCode, String), (i64, NumberId)> = HashMap::new();
    for part in patients.chunks(500) {
        let of = CallsOf::new(shared.backend, shared.patients.as_ref(), part);
        let sql = format!(
            "SELECT pool, patient_ref, number_id, id FROM calls WHERE {} AND number_id IS NOT NULL AND cancelled_at IS NULL",
            of.sql("", 1)
        );
        let q = of.bind_to(sql::query(sql));
        for row in q.fetch_all(&mut *tx).await? {
            let Ok(pool) = PoolCode::parse(&row.get::<String, _>(0)) else { continue };
            let (number, id) = (NumberId(row.get(2)), row.get::<i64, _>(3));
            let e = latest.entry((pool, row.get::<String, _>(1))).or_insert((id, number));
            if id > e.0 {
                *e = (id, number);
            }
        }
    }
    Ok(latest.into_iter().map(|(k, (_, n))| (k, n)).collect())
}

struct FoundNumber {
    id: NumberId,
    pool: PoolCode,
    status: NumberStatus,
}

async fn find_number(tx: &mut Conn<'_>, e164: &E164) -> Result<Option<FoundNumber>, StoreError> {
    let row = sql::query("SELECT id, pool, status FROM numbers WHERE e164 = $1")
        .bind(e164.as_str())
        .fetch_optional(&mut *tx)
        .await?;
    row.map(|r| {
        Ok(FoundNumber {
            id: NumberId(r.get(0)),
            pool: PoolCode::parse(&r.get::<String, _>(1)).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            status: NumberStatus::parse(&r.get::<String, _>(2))
                .ok_or_else(|| StoreError::Corrupt("unknown number status".into()))?,
        })
    })
    .transpose()
}

/// The audit entry of a number's state change.
fn event_entry(
    number: i64,
    at: Timestamp,
    state: &str,
    pool: &str,
    until: Option<Timestamp>,
    reason: &str,
    actor: &str,
) -> Entry {
    Entry::new(
        at,
        actor,
        "number.state",
        format!("number-id:{number}"),
        format!(
            "state={state} pool={pool} until={} reason={reason}",
            until.map_or_else(|| "-".to_owned(), |t| t.to_string())
        ),
    )
}

const INSERT_EVENT: &str =
    "INSERT INTO number_events (number_id, at, state, pool, until_at, reason, reason_fr, actor) VALUES ";

/// Records a number's state change (the event and its audit entry) in the caller's
/// transaction.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn insert_event(
    tx: &mut Conn<'_>,
    (backend, calendar): (Backend, &Calendar),
    number: i64,
    at: Timestamp,
    state: &str,
    pool: &str,
    until: Option<Timestamp>,
    reason: &Finding,
    actor: &str,
    audit: &mut Vec<Entry>,
) -> Result<(), StoreError> {
    let mut script = Script::new(backend);
    stage_event(&mut script, calendar, number, at, state, pool, until, reason, actor, audit);
    script.run(tx).await?;
    Ok(())
}

/// As [`insert_event`], staged in a script.
#[allow(clippy::too_many_arguments)]
fn stage_event(
    script: &mut Script,
    calendar: &Calendar,
    number: i64,
    at: Timestamp,
    state: &str,
    pool: &str,
    until: Option<Timestamp>,
    reason: &Finding,
    actor: &str,
    audit: &mut Vec<Entry>,
) {
    // The audit trail and the English column keep English; the French column is for
    // the dashboard.
    let english = reason.render(Language::En, calendar);
    audit.push(event_entry(number, at, state, pool, until, &english, actor));
    let sql = format!("{INSERT_EVENT}{}", values(script.backend(), 1, 8, script.next_param()));
    script
        .bind(number)
        .bind(micros(at))
        .bind(state.to_owned())
        .bind(pool.to_owned())
        .bind(until.map(micros))
        .bind(english)
        .bind(reason.render(Language::Fr, calendar))
        .bind(actor.to_owned());
    script.push(sql);
}

/// Loads one pool's engine state: its numbers, their calls per day from
/// [`PoolState::NUMBER_DAYS_KEPT`] days back (enough to see any run of intensive days),
/// their rests, and the pool's daily totals over [`PoolState::TOTAL_DAYS_KEPT`] days for
/// the expected demand: what vigie-core's `trim_history` keeps, so that the server and
/// the simulator hold the same window.
pub(crate) async fn load_pool(
    shared: &Shared,
    tx: &mut Conn<'_>,
    code: &PoolCode,
    now: Timestamp,
) -> Result<PoolState, StoreError> {
    let def = shared
        .catalog
        .pool(code)
        .cloned()
        .ok_or_else(|| StoreError::Corrupt(format!("pool {code} is not configured")))?;
    let mut state = PoolState::new(def);
    let today = shared.calendar.day_of(now);
    let corrupt = |e: String| StoreError::Corrupt(e);
    let rows =
        sql::query("SELECT id, e164, display_name, status, facility, zone FROM numbers WHERE pool = $1 ORDER BY id")
            .bind(code.as_str())
            .fetch_all(&mut *tx)
            .await?;
    for r in rows {
        let facility: Option<String> = r.get(4);
        let zone: Option<i64> = r.get(5);
        let e164 = E164::parse(&r.get::<String, _>(1)).map_err(|e| corrupt(e.to_string()))?;
        let status = NumberStatus::parse(&r.get::<String, _>(3)).ok_or_else(|| corrupt("unknown status".into()))?;
        // A number the pool's dialling mode may not present is never given a call.
        let status = shared.compliance.engine_status(code, &e164, status);
        state.add_number(NumberSlot {
            id: NumberId(r.get(0)),
            e164,
            display_name: r.get(2),
            status,
            facility: facility.map(|f| FacilityId::parse(&f)).transpose().map_err(|e| corrupt(e.to_string()))?,
            zone: zone.and_then(|z| u8::try_from(z).ok()),
            last_used: None,
            rests: Vec::new(),
        });
    }
    let rows = sql::query(
        "SELECT nd.number_id, nd.day, nd.calls, nd.last_dial_at FROM number_days nd JOIN numbers n ON n.id = nd.number_id WHERE n.pool = $1 AND nd.day >= $2",
    )
    .bind(code.as_str())
    .bind(day_text(vigie_core::add_days(today, -PoolState::NUMBER_DAYS_KEPT)))
    .fetch_all(&mut *tx)
    .await?;
    let mut last_used: HashMap<NumberId, Timestamp> = HashMap::new();
    for r in rows {
        let id = NumberId(r.get(0));
        let calls = u32::try_from(r.get::<i64, _>(2)).unwrap_or(0);
        state.load_calls(id, day(&r.get::<String, _>(1))?, calls);
        let last = instant(r.get(3))?;
        let e = last_used.entry(id).or_insert(last);
        *e = (*e).max(last);
    }
    let rows = sql::query(
        "SELECT r.number_id, r.from_at, r.until_at FROM rests r JOIN numbers n ON n.id = r.number_id WHERE n.pool = $1 AND r.until_at > $2 ORDER BY r.from_at",
    )
    .bind(code.as_str())
    .bind(micros(shared.calendar.start_of(vigie_core::add_days(today, -PoolState::NUMBER_DAYS_KEPT))))
    .fetch_all(&mut *tx)
    .await?;
    let mut rests: HashMap<NumberId, Vec<Rest>> = HashMap::new();
    for r in rows {
        rests.entry(NumberId(r.get(0))).or_default().push(Rest { from: instant(r.get(1))?, until: instant(r.get(2))? });
    }
    let slots: Vec<NumberSlot> = state.numbers().to_vec();
    for mut slot in slots {
        slot.last_used = last_used.get(&slot.id).copied();
        slot.rests = rests.remove(&slot.id).unwrap_or_default();
        state.add_number(slot);
    }
    let rows = sql::query("SELECT day, calls FROM pool_days WHERE pool = $1 AND day >= $2")
        .bind(code.as_str())
        .bind(day_text(vigie_core::add_days(today, -PoolState::TOTAL_DAYS_KEPT)))
        .fetch_all(&mut *tx)
        .await?;
    for r in rows {
        state.load_total(day(&r.get::<String, _>(0))?, u32::try_from(r.get::<i64, _>(1)).unwrap_or(0));
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flusher_answers_every_committed_batch_and_ends_with_the_writer() {
        let path = std::env::temp_dir().join(format!("vigie-flusher-test-{}-wal", std::process::id()));
        let wal = std::fs::File::create(&path).expect("a WAL file");
        let (flush, flushes) = std::sync::mpsc::channel::<Flush>();
        let mut waiting = Vec::new();
        for _ in 0..3 {
            let mut batch = Vec::new();
            for _ in 0..2 {
                let (reply, answer) = oneshot::channel();
                batch.push((reply, Reply::Change(Ok(()))));
                waiting.push(answer);
            }
            flush.send(batch).expect("the flusher listens");
        }
        drop(flush);
        // Returns once the writer's side is gone and everything queued was answered.
        flusher(wal, flushes);
        for mut answer in waiting {
            assert!(matches!(answer.try_recv(), Ok(Reply::Change(Ok(())))));
        }
        std::fs::remove_file(path).expect("removed");
    }

    #[test]
    fn a_reply_that_could_not_be_made_durable_is_an_error_of_its_kind() {
        assert!(matches!(unflushed(Reply::Change(Ok(()))), Reply::Change(Err(StoreError::Corrupt(_)))));
        assert!(matches!(unflushed(Reply::Outcome(Ok(None))), Reply::Outcome(Err(StoreError::Corrupt(_)))));
        assert!(matches!(unflushed(Reply::CloseIncident(Ok(()))), Reply::CloseIncident(Err(StoreError::Corrupt(_)))));
    }

    #[test]
    fn the_wal_is_beside_the_database() {
        assert_eq!(wal_path(std::path::Path::new("/data/vigie.db")), std::path::PathBuf::from("/data/vigie.db-wal"));
    }
}
