//! The audit trail: every decision and access is chained, and `vigie audit verify`
//! finds an entry altered, deleted, inserted or reordered behind Vigie's back.

use sqlx::{AnyPool, Row};
use tokio::process::Command;

use crate::helpers::{A1, CallReq, TestApp, TestDb, hours, spawn_app};

const VIGIE: &str = env!("CARGO_BIN_EXE_vigie");

async fn activity(app: &TestApp, tag: &str) {
    for i in 0..3 {
        let call = CallReq::new(&format!("audit-{tag}-{i}"), app.clock.now() + hours(1));
        let id = app.post("/v1/calls", &app.keys.dialer, &call.json()).await.expect(201, "POST /v1/calls")["call_id"]
            .as_i64()
            .expect("call_id");
        app.call(id, &app.keys.dialer).await;
        app.call(id, &app.keys.auditor).await;
    }
}

/// The first break `vigie audit verify` reports, or `None` when it says the chain is intact.
async fn cli_verify(db: &TestDb) -> Option<String> {
    let out = Command::new(VIGIE).arg("audit").arg("verify").args(db.cli_flags()).output().await.expect("vigie runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.success() {
        assert!(stdout.starts_with("audit chain intact"), "{stdout}{stderr}");
        None
    } else {
        assert!(stderr.contains("audit chain broken at entry"), "{stdout}{stderr}");
        Some(stderr)
    }
}

async fn row(pool: &AnyPool, seq: i64) -> (i64, String, String, String, String) {
    let r = sqlx::query("SELECT at, actor, action, subject, detail FROM audit_log WHERE seq = $1")
        .bind(seq)
        .fetch_one(pool)
        .await
        .expect("an audit entry");
    (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4))
}

async fn put(pool: &AnyPool, seq: i64, content: &(i64, String, String, String, String)) {
    sqlx::query("UPDATE audit_log SET at = $1, actor = $2, action = $3, subject = $4, detail = $5 WHERE seq = $6")
        .bind(content.0)
        .bind(content.1.as_str())
        .bind(content.2.as_str())
        .bind(content.3.as_str())
        .bind(content.4.as_str())
        .bind(seq)
        .execute(pool)
        .await
        .expect("tampering");
}

async fn broken_at(app: &TestApp, db: &TestDb, seq: i64, words: &str) {
    let report = app.store.verify_audit().await.expect("verify");
    let problem = report.problem.unwrap_or_else(|| panic!("tampering with entry {seq} ({words}) went unnoticed"));
    assert_eq!(problem.seq, seq, "{}", problem.message);
    assert!(problem.message.contains(words), "{}", problem.message);
    let cli = cli_verify(db).await.unwrap_or_else(|| panic!("vigie audit verify missed the {words} entry {seq}"));
    assert!(cli.contains(&format!("entry {seq}")), "{cli}");
}

async fn intact(app: &TestApp, db: &TestDb) {
    let report = app.store.verify_audit().await.expect("verify");
    assert_eq!(report.problem, None);
    assert_eq!(cli_verify(db).await, None);
}

pub(crate) async fn the_audit_chain_detects_tampering(db: TestDb) {
    let app = spawn_app(&db).await;
    activity(&app, "before").await;
    // An operator's reason with what a JSON or SQL text must escape, stored (with the
    // other entries of its batch) and chained as written.
    let reason = "carrier said \"spam\" \\ twice;\nline two\t'quoted' é€ 😀";
    let patch = serde_json::json!({"action": "quarantine", "reason": reason});
    app.patch(&format!("/v1/numbers/{A1}"), &app.keys.ops, &patch).await.expect(200, "quarantine");
    let report = app.store.verify_audit().await.expect("verify");
    assert_eq!(report.problem, None);
    let pool = app.db.pool().await;
    let actions: Vec<(String, String)> = sqlx::query("SELECT action, actor FROM audit_log ORDER BY seq")
        .fetch_all(&pool)
        .await
        .expect("entries")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(report.entries, actions.len() as u64);
    let has = |action: &str, actor: &str| actions.iter().any(|(a, b)| a == action && b == actor);
    assert!(has("key.create", "test") && has("facility.upsert", "test"), "{actions:?}");
    assert!(has("call.allocate", "dialer-1"), "allocations are audited: {actions:?}");
    assert!(has("patient.read", "dialer-1"), "reads of the patient phone are audited: {actions:?}");
    assert!(has("call.read", "auditor-1"), "masked reads are audited: {actions:?}");
    let text: Vec<String> = sqlx::query("SELECT detail FROM audit_log")
        .fetch_all(&pool)
        .await
        .expect("details")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(!text.iter().any(|d| d.contains("+3372") || d.contains("+336")), "no patient phone in the audit trail");
    let with_reason = text.iter().filter(|d| d.contains(reason)).count();
    assert!(with_reason >= 1, "the reason is stored as written: {text:?}");
    intact(&app, &db).await;

    // Altered: one word of one entry.
    let k = 4;
    let original = row(&pool, k).await;
    let mut altered = original.clone();
    altered.4.push_str(" (edited)");
    put(&pool, k, &altered).await;
    broken_at(&app, &db, k, "altered").await;
    put(&pool, k, &original).await;
    intact(&app, &db).await;

    // Reordered: two neighbours swap their content.
    let next = row(&pool, k + 1).await;
    put(&pool, k, &next).await;
    put(&pool, k + 1, &original).await;
    broken_at(&app, &db, k, "altered").await;
    put(&pool, k, &original).await;
    put(&pool, k + 1, &next).await;
    intact(&app, &db).await;

    // Deleted: an entry in the middle disappears.
    let full = sqlx::query("SELECT prev_hash, hash FROM audit_log WHERE seq = $1")
        .bind(k)
        .fetch_one(&pool)
        .await
        .expect("row");
    let (prev_hash, hash): (String, String) = (full.get(0), full.get(1));
    sqlx::query("DELETE FROM audit_log WHERE seq = $1").bind(k).execute(&pool).await.expect("delete");
    broken_at(&app, &db, k + 1, "deleted").await;
    let restore = "INSERT INTO audit_log (seq, at, actor, action, subject, detail, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    sqlx::query(restore)
        .bind(k)
        .bind(original.0)
        .bind(original.1.as_str())
        .bind(original.2.as_str())
        .bind(original.3.as_str())
        .bind(original.4.as_str())
        .bind(prev_hash.as_str())
        .bind(hash.as_str())
        .execute(&pool)
        .await
        .expect("restore");
    intact(&app, &db).await;

    // Inserted: a forged entry at the end, without the head, and one that takes the
    // place of a deleted entry with a made-up hash.
    let last: i64 = sqlx::query("SELECT MAX(seq) FROM audit_log").fetch_one(&pool).await.expect("max").get(0);
    sqlx::query(restore)
        .bind(last + 1)
        .bind(original.0)
        .bind("intruder")
        .bind("call.allocate")
        .bind("call:forged")
        .bind("forged")
        .bind(hash.as_str())
        .bind("0".repeat(64))
        .execute(&pool)
        .await
        .expect("insert");
    let report = app.store.verify_audit().await.expect("verify");
    assert!(report.problem.is_some(), "a forged entry at the end went unnoticed");
    assert!(cli_verify(&db).await.is_some(), "vigie audit verify missed a forged entry at the end");
    sqlx::query("DELETE FROM audit_log WHERE seq = $1").bind(last + 1).execute(&pool).await.expect("undo");
    intact(&app, &db).await;

    // Activity after the checks goes on chaining from the head.
    activity(&app, "after").await;
    intact(&app, &db).await;
}
