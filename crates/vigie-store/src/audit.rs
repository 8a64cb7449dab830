//! The audit trail: an append-only, hash-chained log of every call decision, number
//! state change, access to patient data and administrative action.
//!
//! Entry `n` stores `hash = SHA-256(n, at, actor, action, subject, detail, hash of n-1)`;
//! the single `audit_head` row holds the last sequence number and hash. Appends lock that
//! row, so entries from several processes form one chain. `verify` recomputes the chain
//! and finds an altered, deleted, inserted or reordered entry. Entries never hold a
//! patient's phone number: subjects are call references and pseudonymous keys.
//!
//! A retention purge drops a prefix of the chain only. The `audit_anchor` row then
//! names the first entry kept and the hash it follows, and the purge appends an
//! `audit.purge` entry that states the same anchor, so that moving the anchor by hand is
//! itself detected.

use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, AnyPool, Row};
use vigie_core::Timestamp;

use crate::db::{Backend, Script, instant, micros};
use crate::error::StoreError;
use crate::sql::{self, Conn};

/// One entry to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) at: Timestamp,
    pub(crate) actor: String,
    pub(crate) action: &'static str,
    pub(crate) subject: String,
    pub(crate) detail: String,
}

impl Entry {
    pub(crate) fn new(
        at: Timestamp,
        actor: &str,
        action: &'static str,
        subject: impl Into<String>,
        detail: impl Into<String>,
    ) -> Entry {
        Entry { at, actor: actor.to_owned(), action, subject: subject.into(), detail: detail.into() }
    }
}

fn link_hash(seq: i64, at: i64, actor: &str, action: &str, subject: &str, detail: &str, prev: &str) -> String {
    let mut h = Sha256::new();
    for part in [seq.to_string().as_str(), at.to_string().as_str(), actor, action, subject, detail, prev] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// The chain's last entry: its sequence number and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head {
    pub(crate) seq: i64,
    pub(crate) hash: String,
}

/// The statement that reads the chain's head and locks it until the transaction ends.
pub(crate) fn lock_head(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "SELECT seq, hash FROM audit_head WHERE id = 1",
        Backend::Postgres => "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE",
    }
}

/// Appends entries in the caller's transaction, after locking the chain's head.
pub(crate) async fn append(tx: &mut AnyConnection, backend: Backend, entries: &[Entry]) -> Result<(), StoreError> {
    if entries.is_empty() {
        return Ok(());
    }
    let tx = &mut Conn::Any(tx);
    let row = sql::query(lock_head(backend)).fetch_one(&mut *tx).await?;
    let mut head = Head { seq: row.get(0), hash: row.get(1) };
    let mut script = Script::new(backend);
    stage(&mut script, &mut head, entries);
    script.run(tx).await?;
    Ok(())
}

/// Adds to `script` the statements that append `entries` after `head` (read and locked
/// in the same transaction) and move the head; `head` becomes the new last entry.
pub(crate) fn stage(script: &mut Script, head: &mut Head, entries: &[Entry]) {
    if entries.is_empty() {
        return;
    }
    let backend = script.backend();
    use crate::sql::Kind::{Int, Text};
    let mut rows = Vec::with_capacity(entries.len());
    for e in entries {
        head.seq += 1;
        let at = micros(e.at);
        let hash = link_hash(head.seq, at, &e.actor, e.action, &e.subject, &e.detail, &head.hash);
        rows.push((head.seq, at, e, std::mem::replace(&mut head.hash, hash.clone()), hash));
    }
    script.insert_rows(
        "INSERT INTO audit_log (seq, at, actor, action, subject, detail, prev_hash, hash)",
        &[Int, Int, Text, Text, Text, Text, Text, Text],
        "",
        false,
        &rows,
        |v, (seq, at, e, prev, hash)| {
            v.bind(*seq)
                .bind(*at)
                .bind(e.actor.as_str())
                .bind(e.action)
                .bind(e.subject.as_str())
                .bind(e.detail.as_str())
                .bind(prev.as_str())
                .bind(hash.as_str());
        },
    );
    let (seq, hash) = (script.next_param(), script.next_param() + 1);
    let sql = format!(
        "UPDATE audit_head SET seq = {}, hash = {} WHERE id = 1",
        backend.placeholder(seq),
        backend.placeholder(hash)
    );
    script.bind(head.seq).bind(head.hash.clone());
    script.push(sql);
}

/// The result of checking the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReport {
    /// Entries checked.
    pub entries: u64,
    /// The hash of the last entry (keep it elsewhere to detect a rewritten chain).
    pub head_hash: String,
    /// The first break found, if any.
    pub problem: Option<AuditProblem>,
}

/// Where and how the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditProblem {
    /// Sequence number of the entry at fault.
    pub seq: i64,
    /// What is wrong, in words.
    pub message: String,
}

/// One audit entry as read, for the auditor's view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Position in the chain.
    pub seq: i64,
    /// When.
    pub at: Timestamp,
    /// Who.
    pub actor: String,
    /// What (`call.allocate`, `number.quarantined`, `patient.read`…).
    pub action: String,
    /// On what.
    pub subject: String,
    /// Details (never a phone number).
    pub detail: String,
}

/// The action of the entry a purge of the chain's prefix appends.
pub(crate) const PURGE_ACTION: &str = "audit.purge";

/// The detail of an `audit.purge` entry: the anchor it leaves, then what it removed.
pub(crate) fn purge_detail(first_kept: i64, prev_hash: &str, removed: u64, before: Timestamp) -> String {
    format!("first_kept_seq={first_kept} first_kept_prev_hash={prev_hash} removed={removed} before={before}")
}

/// The anchor an `audit.purge` entry states.
fn purge_anchor(detail: &str) -> Option<(i64, &str)> {
    let field = |name: &str| detail.split(' ').find_map(|w| w.strip_prefix(name)?.strip_prefix('='));
    Some((field("first_kept_seq")?.parse().ok()?, field("first_kept_prev_hash")?))
}

/// Recomputes the whole chain, in order, from its anchor, in one snapshot of the
/// database so that appends and purges running meanwhile do not look like breaks.
pub(crate) async fn verify(pool: &AnyPool, backend: Backend) -> Result<AuditReport, StoreError> {
    let mut conn = pool.acquire().await?;
    let begin = match backend {
        Backend::Sqlite => "BEGIN",
        Backend::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
    };
    let mut tx = sqlx::Connection::begin_with(&mut *conn, begin).await?;
    let anchor = sqlx::query("SELECT seq, prev_hash FROM audit_anchor WHERE id = 1").fetch_one(&mut *tx).await?;
    let (anchor_seq, anchor_prev): (i64, String) = (anchor.get(0), anchor.get(1));
    let rows =
        sqlx::query("SELECT seq, at, actor, action, subject, detail, prev_hash, hash FROM audit_log ORDER BY seq")
            .fetch_all(&mut *tx)
            .await?;
    let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_one(&mut *tx).await?;
    tx.commit().await?;
    let (head_seq, head_hash): (i64, String) = (head.get(0), head.get(1));
    let mut prev = anchor_prev.clone();
    let mut expected = anchor_seq;
    let mut problem = None;
    // The latest `audit.purge` entry must state the anchor the chain starts from.
    let mut stated_anchor: Option<(i64, String)> = None;
    for r in &rows {
        let seq: i64 = r.get(0);
        let stored_prev: String = r.get(6);
        let stored: String = r.get(7);
        let recomputed = link_hash(
            seq,
            r.get(1),
            &r.get::<String, _>(2),
            &r.get::<String, _>(3),
            &r.get::<String, _>(4),
            &r.get::<String, _>(5),
            &stored_prev,
        );
        let message = if seq != expected {
            Some(format!("expected entry {expected} but found {seq}: entries were deleted or inserted"))
        } else if stored_prev != prev {
            Some("it does not follow the entry before it: entries were deleted, inserted or reordered".to_owned())
        } else if recomputed != stored {
            Some("its content does not match its hash: the entry was altered".to_owned())
        } else {
            None
        };
        if let Some(message) = message {
            problem = Some(AuditProblem { seq, message });
            break;
        }
        if r.get::<String, _>(3) == PURGE_ACTION {
            let detail: String = r.get(5);
            stated_anchor = purge_anchor(&detail).map(|(s, h)| (s, h.to_owned()));
        }
        prev = stored;
        expected += 1;
    }
    let anchored = anchor_seq != 1 || anchor_prev != "genesis";
    if problem.is_none() && anchored && stated_anchor != Some((anchor_seq, anchor_prev.clone())) {
        problem = Some(AuditProblem {
            seq: anchor_seq,
            message: format!(
                "the chain starts at entry {anchor_seq} but no audit.purge entry states that anchor: entries were removed from the start"
            ),
        });
    }
    if problem.is_none() && (head_seq != expected - 1 || head_hash != prev) {
        problem = Some(AuditProblem {
            seq: head_seq,
            message: format!(
                "the chain ends at entry {} but its head records entry {head_seq}: entries were removed from or added to the end",
                expected - 1
            ),
        });
    }
    Ok(AuditReport { entries: rows.len() as u64, head_hash: prev, problem })
}

/// The latest entries, newest first.
pub(crate) async fn recent(pool: &AnyPool, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
    sqlx::query("SELECT seq, at, actor, action, subject, detail FROM audit_log ORDER BY seq DESC LIMIT $1")
        .bind(limit)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| {
            Ok(AuditEntry {
                seq: r.get(0),
                at: instant(r.get(1))?,
                actor: r.get(2),
                action: r.get(3),
                subject: r.get(4),
                detail: r.get(5),
            })
        })
        .collect()
}
