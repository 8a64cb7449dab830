//! Data protection: data key rotation while a server allocates, pseudonymous patient
//! references, the legal basis of each call, a patient's export and erasure, and the
//! retention purge that keeps the audit chain verifiable and the counters as they are.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use sqlx::{AnyPool, Row};
use tokio::net::TcpListener;
use tokio::process::Command;
use vigie_core::{Calendar, Catalog, Timestamp, add_days};
use vigie_http::{HttpOptions, RetentionWorker};
use vigie_store::{DataKey, KeyRing, PseudonymKey, Retention, Store, StoreOptions};

use crate::helpers::{
    A1, A3, Api, CallReq, Fixture, INVENTORY, NANTES, PATIENT_LYON, Setup, TestApp, TestDb, hours, mins, report,
    spawn_app, spawn_app_with,
};

const VIGIE: &str = env!("CARGO_BIN_EXE_vigie");

/// Runs `vigie <args> <database flags>` with exactly the environment given.
async fn vigie(db: &TestDb, args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(VIGIE);
    cmd.args(args).args(db.cli_flags()).stdin(Stdio::null()).kill_on_drop(true).env("RUST_LOG", "warn");
    for var in [
        "VIGIE_DATABASE_URL",
        "VIGIE_CONFIG",
        "VIGIE_DATA_KEY",
        "VIGIE_DATA_KEYS",
        "VIGIE_DATA_KEY_ID",
        "VIGIE_PSEUDONYM_KEY",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in envs {
        cmd.env(k, v);
    }
    tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("vigie {args:?} did not finish within 120 s"))
        .unwrap_or_else(|e| panic!("vigie {args:?} could not run: {e}"))
}

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// A Lyon patient's phone, one per `i`.
fn phone(i: usize) -> String {
    format!("+33472{:06}", 100_000 + i)
}

/// Posts a call and returns its id.
async fn allocate(api: &Api, key: &str, call: &CallReq) -> i64 {
    let reply = api.post("/v1/calls", key, &call.json()).await;
    reply.expect(201, &format!("POST /v1/calls {}", call.call_ref))["call_id"].as_i64().expect("call_id")
}

/// Every call's `call_ref` and sealed phone, straight from the database.
async fn sealed_phones(pool: &AnyPool) -> BTreeMap<String, Vec<u8>> {
    sqlx::query("SELECT call_ref, patient_phone FROM calls")
        .fetch_all(pool)
        .await
        .expect("calls")
        .iter()
        .map(|r| (r.get::<String, _>(0), r.get::<Vec<u8>, _>(1)))
        .collect()
}

/// The per-day counters the engine decides on, which nothing here may change.
async fn counters(pool: &AnyPool) -> (Vec<(i64, String, i64)>, Vec<(String, String, i64)>) {
    let numbers = sqlx::query("SELECT number_id, day, calls FROM number_days ORDER BY number_id, day")
        .fetch_all(pool)
        .await
        .expect("number_days")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let pools = sqlx::query("SELECT pool, day, calls FROM pool_days ORDER BY pool, day")
        .fetch_all(pool)
        .await
        .expect("pool_days")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    (numbers, pools)
}

async fn audit_actions(pool: &AnyPool) -> Vec<(String, String, String, String)> {
    sqlx::query("SELECT action, actor, subject, detail FROM audit_log ORDER BY seq")
        .fetch_all(pool)
        .await
        .expect("audit entries")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

/// `vigie audit verify` and the store agree that the chain is intact.
async fn assert_chain_intact(app: &TestApp) {
    let report = app.store.verify_audit().await.expect("verify");
    assert_eq!(report.problem, None, "the audit chain verifies");
    let out = vigie(&app.db, &["audit", "verify"], &[]).await;
    assert!(out.status.success() && text(&out).contains("audit chain intact"), "{}", text(&out));
}

/// A second server on the same database, as after a rolling restart with new keys.
async fn second_server(db: &TestDb, app: &TestApp, keys: KeyRing) -> (Store, Api, tokio::task::JoinHandle<()>) {
    let clock = app.clock.clone();
    let store = Store::open(
        &StoreOptions::new(db.url.clone()),
        Catalog::seed_defaults(),
        keys,
        Calendar::paris(),
        Arc::new(move || clock.now()),
    )
    .await
    .expect("a second store on the same database");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let addr = listener.local_addr().expect("address");
    let router = vigie_http::router(vigie_http::AppState::new(store.clone()), HttpOptions::default());
    let server = tokio::spawn(async move {
        vigie_http::serve(listener, router, std::future::pending()).await.expect("the second server runs");
    });
    (store, Api::new(format!("http://{addr}")), server)
}

pub(crate) async fn rotating_the_data_key_rewrites_every_phone_while_allocating(db: TestDb) {
    let (k1, h1) = DataKey::generate();
    let (k2, h2) = DataKey::generate();
    let app = spawn_app_with(&db, Setup { data_keys: KeyRing::from(k1.clone()), ..Setup::default() }).await;
    let mut expected = BTreeMap::new();
    for i in 0..30 {
        let mut call = CallReq::new(&format!("rot-before-{i}"), app.clock.now() + hours(1));
        call.patient_phone = phone(i);
        allocate(&app, &app.keys.dialer, &call).await;
        expected.insert(call.call_ref.clone(), call.patient_phone.clone());
    }
    let pool = db.pool().await;
    assert!(sealed_phones(&pool).await.values().all(|s| s[0] == 1), "before rotation, key 1 sealed every phone");

    // Without key 1 the rotation cannot open those phones: it says so, fails, and
    // changes nothing.
    let only_2 = format!("2:{h2}");
    let out =
        vigie(&db, &["keys", "rotate-data-key"], &[("VIGIE_DATA_KEYS", &only_2), ("VIGIE_DATA_KEY_ID", "2")]).await;
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("30 rows sealed with key 1 could not be opened"), "{}", text(&out));
    assert!(!text(&out).contains(&h2), "no secret is printed");
    assert!(sealed_phones(&pool).await.values().all(|s| s[0] == 1), "nothing was lost or rewritten");

    // Servers restart with both keys, sealing with key 2; one of them keeps allocating
    // while the rotation runs. A first pass of 5 rows is interrupted, the command resumes.
    let ring = KeyRing::new(2, [(1, k1.clone()), (2, k2.clone())]).expect("a ring");
    let (store2, api2, server2) = second_server(&db, &app, ring).await;
    let first = store2.rotate_data_key_step(0, 5).await.expect("a first step");
    assert_eq!(first.rewritten, BTreeMap::from([(1, 5)]));
    let dialer = app.keys.dialer.clone();
    let now = app.clock.now();
    let allocating = tokio::spawn(async move {
        let mut made = BTreeMap::new();
        for i in 0..40 {
            let mut call = CallReq::new(&format!("rot-during-{i}"), now + hours(2));
            call.patient_phone = phone(100 + i);
            allocate(&api2, &dialer, &call).await;
            made.insert(call.call_ref.clone(), call.patient_phone.clone());
        }
        made
    });
    let envs = [("VIGIE_DATA_KEY", h1.as_str()), ("VIGIE_DATA_KEYS", only_2.as_str()), ("VIGIE_DATA_KEY_ID", "2")];
    let out = vigie(&db, &["keys", "rotate-data-key", "--batch", "7"], &envs).await;
    expected.extend(allocating.await.expect("the allocations during the rotation"));
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("rewrote 25 rows sealed with key 1"), "{}", text(&out));
    assert!(!text(&out).contains(&h1) && !text(&out).contains(&h2), "no secret is printed");

    // Every call is there, and each phone opens with key 2 alone.
    let key_2_only = KeyRing::new(2, [(2, k2)]).expect("a ring of key 2");
    let phones = sealed_phones(&pool).await;
    assert_eq!(phones.keys().collect::<BTreeSet<_>>(), expected.keys().collect::<BTreeSet<_>>(), "no call lost");
    for (call_ref, sealed) in &phones {
        assert_eq!(sealed[0], 2, "{call_ref} is sealed with key 2");
        let plain = key_2_only.open(sealed).unwrap_or_else(|e| panic!("{call_ref} does not open with key 2: {e}"));
        assert_eq!(String::from_utf8(plain).expect("text"), expected[call_ref], "{call_ref}");
    }
    assert_eq!(counters(&pool).await.0.iter().map(|c| c.2).sum::<i64>(), 70, "every call is counted once");

    // Idempotent: a second run finds nothing to do.
    let out = vigie(&db, &["keys", "rotate-data-key"], &envs).await;
    assert!(out.status.success() && text(&out).contains("nothing to rewrite"), "{}", text(&out));
    assert!(!text(&out).contains("rewrote"), "{}", text(&out));
    let reply = api2_call(&store2, &app).await;
    assert_eq!(reply, phone(0), "the server with both keys reads a rotated phone");
    let actions = audit_actions(&pool).await;
    assert!(actions.iter().any(|a| a.0 == "data_key.rotate" && a.1 == "cli"), "the rotation is audited");
    assert_chain_intact(&app).await;
    server2.abort();
}

/// The phone of the first call, as the second store decrypts it for a dialer.
async fn api2_call(store: &Store, app: &TestApp) -> String {
    let id: i64 = sqlx::query("SELECT id FROM calls WHERE call_ref = 'rot-before-0'")
        .fetch_one(&app.db.pool().await)
        .await
        .expect("the call")
        .get(0);
    let dialer = vigie_store::Principal { name: "dialer-1".into(), role: vigie_store::Role::Dialer };
    let call = store.call(id, &dialer).await.expect("a read").expect("the call");
    call.patient_phone.expect("the phone").to_string()
}

/// A satisfaction survey number (pool D) besides the default inventory.
const D1: &str = "+33987100041";

pub(crate) async fn patient_refs_are_pseudonymised_and_bases_recorded(db: TestDb) {
    let mut numbers: Vec<Fixture> = INVENTORY.to_vec();
    numbers.push((D1, "D", None));
    let app = spawn_app_with(&db, Setup { numbers, ..Setup::default() }).await;
    let k = &app.keys;
    // Alice is first called for Nantes, which prefers Nantes's number.
    let mut first = CallReq::new("ps-1", app.clock.now() + hours(1)).patient("pat-alice");
    first.facility = NANTES.into();
    let answer = app.post("/v1/calls", &k.dialer, &first.json()).await;
    let id = answer.expect(201, "first call")["call_id"].as_i64().expect("id");
    assert_eq!(answer.body["caller_number"], A3);
    // Affinity works on the pseudonym: her call for Saint-Jean gets the number that
    // called her before, where another patient gets a Saint-Jean number.
    let second = CallReq::new("ps-2", app.clock.now() + hours(2)).patient("pat-alice");
    let again = app.post("/v1/calls", &k.dialer, &second.json()).await;
    assert_eq!(again.expect(201, "second call")["caller_number"], A3);
    let other = CallReq::new("ps-3", app.clock.now() + hours(2)).patient("pat-bob");
    assert_ne!(app.post("/v1/calls", &k.dialer, &other.json()).await.body["caller_number"], A3);
    // Idempotency works on it too.
    let repeat = app.post("/v1/calls", &k.dialer, &first.json()).await;
    assert_eq!((repeat.status, &repeat.body), (200, &answer.body));
    let changed = first.clone().patient("pat-alicia");
    app.post("/v1/calls", &k.dialer, &changed.json()).await.expect_error(409, "conflict", Some("call_ref"), "patient");

    let seen = app.call(id, &k.dialer).await;
    let pseudonym = app.store.pseudonym("pat-alice");
    assert_eq!(seen["patient_ref"], pseudonym.as_str());
    assert!(pseudonym.starts_with("ps1:") && !pseudonym.contains("alice"), "{pseudonym}");
    assert_eq!(seen["legal_basis"], "art9_2_h_care");
    let survey = CallReq::new("ps-4", app.clock.now() + hours(1)).purpose("satisfaction_survey");
    let survey_id = allocate(&app, &k.dialer, &survey).await;
    assert_eq!(app.call(survey_id, &k.auditor).await["legal_basis"], "art9_2_a_consent");

    // The dialer's reference is nowhere in the database.
    let pool = db.pool().await;
    for (table, columns) in
        [("calls", "patient_ref || call_ref"), ("audit_log", "actor || action || subject || detail")]
    {
        let sql = format!("SELECT COUNT(*) FROM {table} WHERE {columns} LIKE '%alice%' OR {columns} LIKE '%pat-bob%'");
        let n: i64 = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_one(&pool).await.expect("count").get(0);
        assert_eq!(n, 0, "a patient reference was stored in {table}");
    }
    let stored: i64 = sqlx::query("SELECT COUNT(DISTINCT pool) FROM calls WHERE patient_ref = $1")
        .bind(pseudonym.as_str())
        .fetch_one(&pool)
        .await
        .expect("count")
        .get(0);
    assert!(stored >= 1, "the affinity is read from the calls, under the pseudonym");

    // A database remembers its pseudonym key: the first key given pseudonymises what was
    // stored before (a reference stored in clear by an older version), another is refused.
    sqlx::query("UPDATE calls SET patient_ref = 'legacy-ref' WHERE call_ref = 'ps-3'")
        .execute(&pool)
        .await
        .expect("an old row");
    let (key, _) = PseudonymKey::generate();
    let open = |key: PseudonymKey| {
        let mut options = StoreOptions::new(db.url.clone());
        options.pseudonym_key = Some(key);
        let clock = app_clock(&app);
        async move { Store::open(&options, Catalog::seed_defaults(), DataKey::generate().0, Calendar::paris(), clock).await }
    };
    let keyed = open(key.clone()).await.expect("the first key is taken");
    let migrated: String = sqlx::query("SELECT patient_ref FROM calls WHERE call_ref = 'ps-3'")
        .fetch_one(&pool)
        .await
        .expect("the row")
        .get(0);
    assert_eq!(migrated, keyed.pseudonym("legacy-ref"));
    drop(keyed);
    assert!(open(key).await.is_ok(), "the same key is taken again");
    let refused = open(PseudonymKey::generate().0).await.expect_err("another key is refused");
    assert!(refused.to_string().contains("pseudonym_key"), "{refused}");

    // `vigie serve` does not start without a pseudonym key.
    let out = vigie(&db, &["serve", "--listen", "127.0.0.1:0"], &[("VIGIE_DATA_KEY", &"ab".repeat(32))]).await;
    assert!(!out.status.success() && text(&out).contains("no pseudonym key"), "{}", text(&out));
    assert_chain_intact(&app).await;
}

fn app_clock(app: &TestApp) -> vigie_store::Clock {
    let clock = app.clock.clone();
    Arc::new(move || clock.now())
}

pub(crate) async fn patients_are_exported_and_erased_by_admins_only(db: TestDb) {
    let app = spawn_app(&db).await;
    let k = &app.keys;
    let bob_1 = allocate(&app, &k.dialer, &CallReq::new("bob-1", app.clock.now() + hours(1)).patient("pat-bob")).await;
    let bob_2 = allocate(&app, &k.dialer, &CallReq::new("bob-2", app.clock.now() + hours(2)).patient("pat-bob")).await;
    let mut carol = CallReq::new("carol-1", app.clock.now() + hours(1)).patient("pat-carol");
    carol.patient_phone = phone(7);
    allocate(&app, &k.dialer, &carol).await;
    app.clock.advance(hours(1) + mins(3));
    let outcome =
        json!({"outcome": "answered", "duration_s": 95, "ended_at": app.clock.now().to_string(), "ring_s": 4});
    app.post(&format!("/v1/calls/{bob_1}/outcome"), &k.dialer, &outcome).await.expect(200, "outcome");

    let export = "/v1/patients/pat-bob/export";
    for key in [&k.dialer, &k.ops, &k.auditor] {
        app.get(export, key).await.expect_error(403, "forbidden", None, "export by a non-admin");
        let erase = app.send(Method::DELETE, "/v1/patients/pat-bob", Some(key), None).await;
        erase.expect_error(403, "forbidden", None, "erasure by a non-admin");
    }
    app.send(Method::GET, export, None, None).await.expect_error(401, "unauthorized", None, "no key");
    app.get("/v1/patients/+33612345678/export", &k.admin).await.expect_error(
        422,
        "invalid_request",
        Some("patient_ref"),
        "a phone is not a reference",
    );

    let reply = app.get(export, &k.admin).await;
    let body = reply.expect(200, "export by the admin");
    let pseudonym = app.store.pseudonym("pat-bob");
    assert_eq!((&body["patient_ref"], &body["pseudonym"]), (&json!("pat-bob"), &json!(pseudonym)));
    let calls = body["calls"].as_array().expect("calls");
    assert_eq!(calls.len(), 2, "{body:#}");
    assert_eq!(calls[0]["call_id"], bob_1);
    assert_eq!(calls[0]["patient_phone"], PATIENT_LYON, "the phone is opened for the patient");
    assert_eq!(calls[0]["facility"], "clinique-saint-jean");
    assert_eq!(calls[0]["purpose"], "appointment_reminder");
    assert_eq!(calls[0]["legal_basis"], "art9_2_h_care");
    assert!(calls[0]["dial_at"].is_string() && calls[0]["caller_number"].is_string(), "{body:#}");
    assert_eq!(calls[0]["outcome"]["outcome"], "answered");
    assert!(calls[1]["outcome"].is_null());
    assert_eq!(body["affinities"].as_array().map(Vec::len), Some(1), "{body:#}");
    assert_eq!(body["truncated"], false);

    let pool = db.pool().await;
    let before = counters(&pool).await;
    let reply = app.send(Method::DELETE, "/v1/patients/pat-bob", Some(&k.admin), None).await;
    let erased = reply.expect(200, "erasure");
    let counts = json!({"pseudonym": pseudonym, "calls_erased": 2, "affinities_removed": 1, "consents_erased": 0, "oppositions_kept": 0});
    assert_eq!(erased, &counts, "care calls leave nothing for the calling rules");

    // The calls stay, as aggregates: no phone, no reference, no call_ref; outcome kept.
    let seen = app.call(bob_1, &k.dialer).await;
    assert_eq!(seen["patient_phone"], "+33•••••••••");
    assert_eq!(seen["patient_ref"], "erased");
    assert_eq!(seen["call_ref"], format!("erased:{bob_1}"));
    assert_eq!(seen["outcome"]["outcome"], "answered");
    assert_eq!(app.call(bob_2, &k.dialer).await["patient_ref"], "erased");
    let left: i64 = sqlx::query("SELECT COUNT(*) FROM calls WHERE patient_ref = $1 OR call_ref LIKE 'bob-%'")
        .bind(pseudonym.as_str())
        .fetch_one(&pool)
        .await
        .expect("count")
        .get(0);
    assert_eq!(left, 0);
    let empty: Vec<Vec<u8>> = sqlx::query("SELECT patient_phone FROM calls WHERE patient_ref = 'erased'")
        .fetch_all(&pool)
        .await
        .expect("erased rows")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(empty.len() == 2 && empty.iter().all(Vec::is_empty), "the sealed phones are gone");
    assert_eq!(counters(&pool).await, before, "the per-day counters are kept");
    let after = app.get(export, &k.admin).await;
    assert_eq!(after.expect(200, "export after erasure")["calls"], json!([]));
    let carol = app.get("/v1/patients/pat-carol/export", &k.admin).await;
    assert_eq!(carol.expect(200, "another patient")["calls"][0]["patient_phone"], phone(7));
    let again = app.send(Method::DELETE, "/v1/patients/pat-bob", Some(&k.admin), None).await;
    assert_eq!(again.expect(200, "erasing twice")["calls_erased"], 0);

    let actions = audit_actions(&pool).await;
    let subject = format!("patient:{pseudonym}");
    let has = |action: &str| actions.iter().any(|a| a.0 == action && a.1 == "admin-1" && a.2 == subject);
    assert!(has("patient.export") && has("patient.erase"), "{actions:?}");
    assert!(
        !actions.iter().any(|a| a.3.contains(PATIENT_LYON) || a.3.contains(&phone(7)) || a.2.contains("pat-bob")),
        "no phone or reference in the audit trail"
    );
    assert_chain_intact(&app).await;
}

/// A configuration whose retention is 60 days for everything.
fn short_retention_config(dir: &Path) -> String {
    let path = dir.join("retention.toml");
    std::fs::write(&path, "[retention]\ncalls_days = 60\nreports_days = 60\naudit_days = 60\n").expect("config");
    path.display().to_string()
}

pub(crate) async fn retention_purges_old_records_and_keeps_the_chain(db: TestDb) {
    // `vigie purge` reads the system clock: the test's timeline ends today, at 08:00.
    let calendar = Calendar::paris();
    let today = calendar.day_of(Timestamp::now());
    let start = calendar.start_of(add_days(today, -100)) + hours(8);
    let app = spawn_app_with(&db, Setup { now: start, ..Setup::default() }).await;
    let k = &app.keys;
    for i in 0..3 {
        allocate(&app, &k.dialer, &CallReq::new(&format!("old-{i}"), app.clock.now() + hours(1))).await;
    }
    app.post("/v1/reports", &k.ops, &report(A1, "patient", app.clock.now())).await.expect(202, "a report");
    app.clock.set(calendar.start_of(today) + hours(8));
    let recent_1 = allocate(&app, &k.dialer, &CallReq::new("new-1", app.clock.now() + hours(1))).await;
    let pool = db.pool().await;
    let counters_before = counters(&pool).await;
    let cutoff = (app.clock.now() - hours(24 * 60)).as_microsecond();
    let old_audit: i64 = sqlx::query("SELECT COUNT(*) FROM audit_log WHERE at < $1")
        .bind(cutoff)
        .fetch_one(&pool)
        .await
        .expect("count")
        .get(0);
    assert!(old_audit > 10, "{old_audit}");

    // A dry run counts and removes nothing.
    let config = short_retention_config(db.dir.path());
    let out = vigie(&db, &["purge", "--dry-run", "--config", &config], &[]).await;
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    for line in [
        "calls: would remove 3 ".to_owned(),
        "reports: would remove 1 ".to_owned(),
        "consents: would remove 0 ".to_owned(),
        "oppositions: would remove 0 ".to_owned(),
        format!("audit: would remove {old_audit} "),
    ] {
        assert!(printed.contains(&line), "{line:?} in\n{printed}");
    }
    let calls: i64 = sqlx::query("SELECT COUNT(*) FROM calls").fetch_one(&pool).await.expect("count").get(0);
    assert_eq!(calls, 4, "a dry run removes nothing");

    // The daily step purges once a local day, from its hour on.
    let retention = Retention { calls_days: 60, reports_days: 60, audit_days: 60, ..Retention::default() };
    let mut worker = RetentionWorker::new(app.store.clone(), retention, 3);
    let now = app.clock.now();
    let done = worker.try_step(now).await.expect("a purge").expect("due at 08:00");
    assert_eq!((done.calls, done.reports, done.audit), (3, 1, old_audit as u64));
    assert!(!done.dry_run);
    assert_eq!(worker.try_step(now + hours(1)).await.expect("a step"), None, "once a day");
    let tomorrow = calendar.start_of(add_days(today, 1));
    assert_eq!(worker.try_step(tomorrow + hours(2)).await.expect("a step"), None, "not before 03:00");
    let next = worker.try_step(tomorrow + hours(4)).await.expect("a step").expect("the next day's purge");
    assert_eq!((next.calls, next.reports), (0, 0));

    let refs: Vec<String> = sqlx::query("SELECT call_ref FROM calls ORDER BY id")
        .fetch_all(&pool)
        .await
        .expect("calls")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(refs, ["new-1"]);
    assert_eq!(app.call(recent_1, &k.auditor).await["call_ref"], "new-1");
    assert_eq!(counters(&pool).await, counters_before, "per-day counters are aggregates and stay");
    let anchor: i64 = sqlx::query("SELECT seq FROM audit_anchor").fetch_one(&pool).await.expect("anchor").get(0);
    assert_eq!(anchor, old_audit + 1, "the chain now starts after the purged prefix");
    let actions = audit_actions(&pool).await;
    assert!(actions.iter().any(|a| a.0 == "audit.purge") && actions.iter().any(|a| a.0 == "retention.purge"));
    assert_chain_intact(&app).await;

    // Removing more of the start by hand, even with the anchor moved along, is detected.
    let first =
        sqlx::query("SELECT seq, at, actor, action, subject, detail, prev_hash, hash FROM audit_log WHERE seq = $1")
            .bind(anchor)
            .fetch_one(&pool)
            .await
            .expect("the first entry");
    sqlx::query("DELETE FROM audit_log WHERE seq = $1").bind(anchor).execute(&pool).await.expect("delete");
    let broken = app.store.verify_audit().await.expect("verify").problem.expect("a deleted first entry is detected");
    assert_eq!(broken.seq, anchor + 1, "{}", broken.message);
    let next_prev: String = sqlx::query("SELECT prev_hash FROM audit_log WHERE seq = $1")
        .bind(anchor + 1)
        .fetch_one(&pool)
        .await
        .expect("the next entry")
        .get(0);
    sqlx::query("UPDATE audit_anchor SET seq = $1, prev_hash = $2")
        .bind(anchor + 1)
        .bind(next_prev.as_str())
        .execute(&pool)
        .await
        .expect("move the anchor");
    let broken = app.store.verify_audit().await.expect("verify").problem.expect("a moved anchor is detected");
    assert!(broken.message.contains("no audit.purge entry states that anchor"), "{}", broken.message);
    let out = vigie(&db, &["audit", "verify"], &[]).await;
    assert!(!out.status.success(), "{}", text(&out));
    sqlx::query("UPDATE audit_anchor SET seq = $1, prev_hash = $2")
        .bind(anchor)
        .bind(first.get::<String, _>(6))
        .execute(&pool)
        .await
        .expect("restore the anchor");
    sqlx::query(
        "INSERT INTO audit_log (seq, at, actor, action, subject, detail, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(first.get::<i64, _>(0))
    .bind(first.get::<i64, _>(1))
    .bind(first.get::<String, _>(2))
    .bind(first.get::<String, _>(3))
    .bind(first.get::<String, _>(4))
    .bind(first.get::<String, _>(5))
    .bind(first.get::<String, _>(6))
    .bind(first.get::<String, _>(7))
    .execute(&pool)
    .await
    .expect("restore the entry");
    assert_chain_intact(&app).await;

    // Work goes on, chained after the purge.
    allocate(&app, &k.dialer, &CallReq::new("new-2", app.clock.now() + hours(1))).await;
    assert_chain_intact(&app).await;
}
