//! The `vigie` binary as separate processes: `numbers import` all or nothing, two
//! `vigie serve` processes sharing one PostgreSQL under thousands of concurrent
//! allocations, and a server killed with SIGKILL under load that loses no
//! acknowledged allocation or report.
//!
//! Servers listen on 127.0.0.1:0 and print their address; readiness is polled on
//! /healthz. Every request loop is bounded in count and in time.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use sqlx::Row;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use vigie_core::{Date, Timestamp};

use crate::helpers::{Api, CallReq, SAINT_JEAN, TestDb, assert_cap_held_in_db, mins, report};

/// The binary under test.
const VIGIE: &str = env!("CARGO_BIN_EXE_vigie");

/// Writes a configuration with pools A (appointment reminders, optionally with a
/// small cap), B and R, and the Saint-Jean facility.
fn write_config(db: &TestDb, cap_a: Option<u32>) -> PathBuf {
    let a_policy = cap_a.map_or(String::new(), |c| {
        format!("calls_per_day_max = {c}\nintensive_calls_min = {c}\nhealthy_calls_per_day = {c}\n")
    });
    let text = format!(
        r#"[[pools]]
code = "A"
role = "outbound"
purposes = ["appointment_reminder"]
geographic = true
{a_policy}
[[pools]]
code = "B"
role = "outbound"
purposes = ["results_followup"]

[[pools]]
code = "R"
role = "reserve"

# These tests dial on the wall clock's days (Sundays and nights too): care calls
# at any hour, so that they do not depend on when the suite runs.
[compliance]
care_hours = "mon-sun 00:00-24:00"
care_closed_on_holidays = false

# Nor pre-call SMS: these calls are dialled at any hour (sms.rs tests the SMS).
[sms]
announce = []

[[facilities]]
id = "{SAINT_JEAN}"
name = "Clinique Saint-Jean SAS"
display_name = "Clinique St-Jean"
city = "Lyon"
callback = "+33478000000"
"#
    );
    let path = db.dir.path().join("vigie.toml");
    std::fs::write(&path, text).expect("write the configuration");
    path
}

/// Runs `vigie <args> <database flags> --config <config>` to completion.
async fn vigie(db: &TestDb, config: &Path, args: &[&str]) -> std::process::Output {
    tokio::time::timeout(
        Duration::from_secs(60),
        Command::new(VIGIE)
            .args(args)
            .args(db.cli_flags())
            .arg("--config")
            .arg(config)
            .env_remove("VIGIE_DATABASE_URL")
            .env_remove("VIGIE_CONFIG")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("vigie {args:?} did not finish within 60 s"))
    .unwrap_or_else(|e| panic!("vigie {args:?} could not run: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `vigie keys create`: returns the key it prints.
async fn create_key(db: &TestDb, config: &Path, role: &str) -> String {
    let out = vigie(db, config, &["keys", "create", "--role", role, "--name", &format!("{role}-cli")]).await;
    assert!(out.status.success(), "keys create failed: {}", text(&out.stderr));
    let key = text(&out.stdout).trim().to_owned();
    assert!(key.starts_with("vk_") && !key.contains('\n'), "one key on stdout: {key:?}");
    key
}

/// Writes a CSV of numbers and imports it with `vigie numbers import`.
async fn import(db: &TestDb, config: &Path, name: &str, rows: &[String]) -> std::process::Output {
    let path = db.dir.path().join(name);
    let mut csv = String::from("number,pool,display_name,facility,callback\n");
    for row in rows {
        csv.push_str(row);
        csv.push('\n');
    }
    std::fs::write(&path, csv).expect("write the CSV");
    vigie(db, config, &["numbers", "import", path.to_str().expect("a UTF-8 path")]).await
}

/// CSV rows for `count` numbers of `pool` from `first` (`+33478…` for A, `+33987…` else).
fn number_rows(pool: &str, first: u32, count: u32) -> Vec<String> {
    (first..first + count)
        .map(|i| {
            let number =
                if pool == "A" { format!("+33478{:06}", 100_000 + i) } else { format!("+33987{:06}", 100_000 + i) };
            format!("{number},{pool},Clinique St-Jean,{SAINT_JEAN},+33478000000")
        })
        .collect()
}

async fn count(db: &TestDb, sql: &'static str) -> i64 {
    let pool = db.pool().await;
    sqlx::query_scalar(sql).fetch_one(&pool).await.expect("a count")
}

/// A `vigie serve` child process.
struct Server {
    child: Child,
    api: Api,
    log: PathBuf,
}

/// The pseudonym key every `vigie serve` of these tests shares, as servers of one
/// database must.
const PSEUDONYM_KEY: &str = "5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed";

impl Server {
    /// Starts `vigie serve` on 127.0.0.1:0 and waits until /healthz answers.
    async fn start(db: &TestDb, config: &Path, data_key: &str, name: &str) -> Server {
        let log = db.dir.path().join(format!("{name}.log"));
        let stderr = std::fs::File::create(&log).expect("a log file");
        let mut child = Command::new(VIGIE)
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(config)
            .args(db.cli_flags())
            .env_remove("VIGIE_DATABASE_URL")
            .env_remove("VIGIE_CONFIG")
            .env("VIGIE_DATA_KEY", data_key)
            .env("VIGIE_PSEUDONYM_KEY", PSEUDONYM_KEY)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .kill_on_drop(true)
            .spawn()
            .expect("vigie serve starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await;
        let Ok(Ok(Some(line))) = first else {
            panic!("{name}: no address on stdout; log:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        };
        let base = line
            .strip_prefix("vigie listening on ")
            .unwrap_or_else(|| panic!("{name}: unexpected first line {line:?}"))
            .trim()
            .to_owned();
        assert!(base.starts_with("http://127.0.0.1:"), "{name} listens on loopback only: {base}");
        // Keep draining stdout so that the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let api = Api::new(base);
        let mut ready = false;
        for _ in 0..400 {
            if let Ok(r) = api.try_send(Method::GET, "/healthz", None, None).await
                && r.status == 200
            {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert!(
            ready,
            "{name}: /healthz never answered 200; log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        Server { child, api, log }
    }

    /// SIGKILL, and wait for the process to be gone.
    async fn kill(mut self) {
        self.child.start_kill().expect("SIGKILL");
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await;
        assert!(matches!(status, Ok(Ok(_))), "the killed server did not exit");
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Tomorrow in Europe/Paris, read once per test so that a run across midnight keeps
/// its days.
fn paris_tomorrow() -> Date {
    let today = Timestamp::now().to_zoned_datetime(paris()).date();
    today.checked_add(jiff::Span::new().days(1)).expect("a date")
}

fn paris() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get("Europe/Paris").expect("Europe/Paris")
}

/// The `i`th call of a load: Saint-Jean reminders at 08:00 to 20:00 local on `days`
/// days from `first`, patients coming back now and then, phones in zone 04 or mobile.
fn load_call(prefix: &str, i: usize, first: Date, days: usize) -> CallReq {
    let day = first.checked_add(jiff::Span::new().days((i % days) as i64)).expect("a date");
    let morning = day.at(8, 0, 0, 0).to_zoned_datetime(paris()).expect("08:00 exists every day").timestamp();
    let dial_at = morning + mins(((i * 37) % 720) as i64);
    let mut call = CallReq::new(&format!("{prefix}-{i}"), dial_at).patient(&format!("{prefix}-patient-{}", i % 700));
    call.patient_phone =
        if i.is_multiple_of(2) { format!("+33472{:06}", i % 1_000_000) } else { format!("+33612{:06}", i % 1_000_000) };
    call
}

/// One acknowledged allocation.
#[derive(Debug, Clone)]
struct Ack {
    call: CallReq,
    call_id: i64,
    number: String,
    server: usize,
}

/// Every call in the database: call_ref → (caller number, call id).
async fn stored_calls(db: &TestDb) -> HashMap<String, (Option<String>, i64)> {
    let pool = db.pool().await;
    sqlx::query("SELECT c.call_ref, n.e164, c.id FROM calls c LEFT JOIN numbers n ON n.id = c.number_id")
        .fetch_all(&pool)
        .await
        .expect("calls")
        .iter()
        .map(|r| (r.get::<String, _>(0), (r.get::<Option<String>, _>(1), r.get::<i64, _>(2))))
        .collect()
}

fn assert_acks_stored(acks: &[Ack], stored: &HashMap<String, (Option<String>, i64)>) {
    for ack in acks {
        let Some((number, id)) = stored.get(&ack.call.call_ref) else {
            panic!("acknowledged call {} (id {}) is not in the database", ack.call.call_ref, ack.call_id);
        };
        assert_eq!(number.as_deref(), Some(ack.number.as_str()), "call {}: stored number", ack.call.call_ref);
        assert_eq!(*id, ack.call_id, "call {}: stored id", ack.call.call_ref);
    }
}

pub(crate) async fn numbers_import_is_all_or_nothing(db: TestDb) {
    let config = write_config(&db, None);
    let bad_rows = [
        format!("+33478100001,A,Clinique St-Jean,{SAINT_JEAN},+33478000000"),
        "not-a-number,A,Clinique,,+33478000000".to_owned(),
        "+33478100003,a,,,+33478000000".to_owned(),
        format!("+33478100004,A,Clinique St-Jean,{SAINT_JEAN}"),
    ];
    let out = import(&db, &config, "bad-fields.csv", &bad_rows).await;
    let err = text(&out.stderr);
    assert!(!out.status.success(), "bad rows must fail the import; stderr: {err}");
    for expected in ["line 3: number:", "line 4: pool:", "line 4: display_name:", "line 5: expected 5 fields, found 4"]
    {
        assert!(err.contains(expected), "stderr names {expected:?}: {err}");
    }
    assert!(err.contains("nothing was imported"), "{err}");
    assert!(!err.contains("line 2:"), "the good row is not reported: {err}");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM numbers").await, 0, "nothing imported");

    // Rows that parse but break the inventory's rules are refused as a whole too.
    let bad_rows = [
        format!("+33478100001,A,Clinique St-Jean,{SAINT_JEAN},+33478000000"),
        "+33612345678,A,Mobile,,+33478000000".to_owned(),
        "+33478100005,Z,Clinique,,+33478000000".to_owned(),
        "+33478100006,A,Clinique,nowhere,+33478000000".to_owned(),
        "+33478100001,B,Twice,,+33478000000".to_owned(),
    ];
    let out = import(&db, &config, "bad-rules.csv", &bad_rows).await;
    let err = text(&out.stderr);
    assert!(!out.status.success(), "stderr: {err}");
    for expected in ["line 3: number:", "line 4: pool:", "line 5: facility:", "line 6: number:"] {
        assert!(err.contains(expected), "stderr names {expected:?}: {err}");
    }
    assert!(!err.contains("line 2:"), "the good row is not reported: {err}");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM numbers").await, 0, "nothing imported");

    let mut good = number_rows("A", 1, 3);
    good.extend(number_rows("B", 11, 1));
    good.push("+33987100031,R,Vigie Sante,,+33478000000".to_owned());
    let out = import(&db, &config, "good.csv", &good).await;
    assert!(out.status.success(), "a good file imports: {}", text(&out.stderr));
    assert!(text(&out.stdout).contains("imported 5 numbers"), "{}", text(&out.stdout));
    assert_eq!(count(&db, "SELECT COUNT(*) FROM numbers").await, 5);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM numbers WHERE pool = 'R' AND status = 'reserve'").await, 1);
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM number_events WHERE actor = 'import'").await,
        5,
        "each number's history starts"
    );

    // The same file again: every row is already there, and nothing changes.
    let out = import(&db, &config, "good-again.csv", &good).await;
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{err}");
    for line in 2..=6 {
        assert!(err.contains(&format!("line {line}: number:")), "line {line} is reported: {err}");
    }
    assert!(err.contains("already in the inventory"), "{err}");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM numbers").await, 5);
}

pub(crate) async fn two_servers_on_one_postgres_share_the_cap(db: TestDb) {
    const CAP: u32 = 20;
    const NUMBERS: u32 = 20;
    const DAYS: usize = 3;
    const REQUESTS: usize = 3000;
    const CONCURRENCY: usize = 64;
    let config = write_config(&db, Some(CAP));
    // Both servers start together on the empty database (they migrate it in turn),
    // then the key and the numbers are added while they run.
    let data_key = vigie_store::generate_data_key().1;
    let (one, two) = tokio::join!(
        Server::start(&db, &config, &data_key, "serve-1"),
        Server::start(&db, &config, &data_key, "serve-2")
    );
    let servers = [one, two];
    let dialer = create_key(&db, &config, "dialer").await;
    let out = import(&db, &config, "numbers.csv", &number_rows("A", 200, NUMBERS)).await;
    assert!(out.status.success(), "import: {}", text(&out.stderr));
    let apis: Arc<Vec<Api>> = Arc::new(servers.iter().map(|s| s.api.clone()).collect());
    let first = paris_tomorrow();

    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (apis, next, dialer) = (Arc::clone(&apis), Arc::clone(&next), dialer.clone());
        workers.spawn(async move {
            let mut acks = Vec::new();
            let mut refused = 0usize;
            let mut failures = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= REQUESTS || Instant::now() > deadline {
                    break;
                }
                let call = load_call("two", i, first, DAYS);
                let body = call.json();
                let post = |server: usize| apis[server].try_send(Method::POST, "/v1/calls", Some(&dialer), Some(&body));
                // Every tenth call goes to both servers at once: one creates it, the
                // other answers the same (or both refuse it).
                let (server, reply, twin) = if i.is_multiple_of(10) {
                    let (a, b) = tokio::join!(post(0), post(1));
                    match (a, b) {
                        (Ok(a), Ok(b)) if b.status == 201 => (1, Ok(b), Some(a)),
                        (a, Ok(b)) => (0, a, Some(b)),
                        (_, Err(e)) => (1, Err(e), None),
                    }
                } else {
                    let server = i % apis.len();
                    (server, post(server).await, None)
                };
                match reply {
                    Ok(r) if r.status == 201 => {
                        let ack = Ack {
                            call_id: r.body["call_id"].as_i64().expect("call_id"),
                            number: r.str("caller_number").to_owned(),
                            call,
                            server,
                        };
                        if let Some(t) = twin
                            && !(t.status == 200 && t.body == r.body)
                        {
                            failures.push(format!(
                                "{}: twin answered {} {} vs {}",
                                ack.call.call_ref, t.status, t.text, r.text
                            ));
                        }
                        acks.push(ack);
                    }
                    Ok(r) if r.status == 409 && r.body["error"] == "no_capacity" => {
                        refused += 1;
                        if let Some(t) = twin
                            && !(t.status == 409 && t.body["error"] == "no_capacity")
                        {
                            failures.push(format!(
                                "{}: one server refused, the twin answered {} {}",
                                call.call_ref, t.status, t.text
                            ));
                        }
                    }
                    Ok(r) => failures.push(format!("{}: {} {}", call.call_ref, r.status, r.text)),
                    Err(e) => failures.push(format!("{}: transport error {e}", call.call_ref)),
                }
            }
            (acks, refused, failures)
        });
    }
    let mut acks = Vec::new();
    let mut refused = 0;
    let mut failures = Vec::new();
    for (a, r, f) in workers.join_all().await {
        acks.extend(a);
        refused += r;
        failures.extend(f);
    }
    assert!(
        failures.is_empty(),
        "{} requests failed, first: {:?}\nserve-1 log:\n{}\nserve-2 log:\n{}",
        failures.len(),
        failures.first(),
        servers[0].log(),
        servers[1].log()
    );
    assert_eq!(acks.len() + refused, REQUESTS, "every request answered within the time limit");
    for server in 0..2 {
        assert!(acks.iter().any(|a| a.server == server), "serve-{} allocated nothing", server + 1);
    }
    assert_eq!(acks.len(), (CAP * NUMBERS) as usize * DAYS, "every number filled to the cap on each day, and no more");

    let pool = db.pool().await;
    let counted = assert_cap_held_in_db(&pool, i64::from(CAP)).await;
    assert_eq!(counted, acks.len() as i64, "calls in the database");
    let stored = stored_calls(&db).await;
    assert_eq!(stored.len(), acks.len(), "exactly the acknowledged calls are stored, each once");
    assert_acks_stored(&acks, &stored);
}

/// What the load against a server to be killed saw.
#[derive(Default)]
struct KillLoad {
    acks: Vec<Ack>,
    /// (report id, number, whether it quarantined the number)
    reports: Vec<(i64, String, bool)>,
    failures: Vec<String>,
}

/// Starts `vigie serve`, sends allocations (24 workers) and reports on `reported` (4
/// workers) until `acks` allocations and `reports` reports are acknowledged, then
/// SIGKILLs the server while the load goes on, and returns what was acknowledged.
async fn load_then_kill(
    server: Server,
    dialer: &str,
    reported: &Arc<Vec<String>>,
    prefix: &'static str,
    first: Date,
    (acks, reports): (usize, usize),
) -> KillLoad {
    const ALLOCATION_WORKERS: usize = 24;
    const REPORT_WORKERS: usize = 4;
    const PER_WORKER_MAX: usize = 2000;
    let killed = Arc::new(AtomicBool::new(false));
    let (acked, reports_acked) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..ALLOCATION_WORKERS + REPORT_WORKERS {
        let (api, dialer, killed, acked, reports_acked, reported) = (
            server.api.clone(),
            dialer.to_owned(),
            Arc::clone(&killed),
            Arc::clone(&acked),
            Arc::clone(&reports_acked),
            Arc::clone(reported),
        );
        workers.spawn(async move {
            let mut load = KillLoad::default();
            for k in 0..PER_WORKER_MAX {
                if Instant::now() > deadline {
                    break;
                }
                let i = k * (ALLOCATION_WORKERS + REPORT_WORKERS) + w;
                let outcome = if w < ALLOCATION_WORKERS {
                    let call = load_call(prefix, i, first, 4);
                    let r = api.try_send(Method::POST, "/v1/calls", Some(&dialer), Some(&call.json())).await;
                    r.map(|r| {
                        if r.status == 201 {
                            load.acks.push(Ack {
                                call_id: r.body["call_id"].as_i64().expect("call_id"),
                                number: r.str("caller_number").to_owned(),
                                call,
                                server: 0,
                            });
                            acked.fetch_add(1, Ordering::SeqCst);
                        } else {
                            load.failures.push(format!("allocation {}: {} {}", call.call_ref, r.status, r.text));
                        }
                    })
                } else {
                    let number = &reported[i % reported.len()];
                    let source = ["patient", "agent", "carrier", "app_label"][i % 4];
                    let body = report(number, source, Timestamp::now() - mins(1));
                    let r = api.try_send(Method::POST, "/v1/reports", Some(&dialer), Some(&body)).await;
                    r.map(|r| {
                        if r.status == 202 {
                            let id = r.body["report_id"].as_i64().expect("report_id");
                            load.reports.push((id, number.clone(), r.body["quarantined"] == true));
                            reports_acked.fetch_add(1, Ordering::SeqCst);
                        } else {
                            load.failures.push(format!("report {number}: {} {}", r.status, r.text));
                        }
                    })
                };
                if let Err(e) = outcome {
                    // After the kill every request fails, and this worker is done.
                    if !killed.load(Ordering::SeqCst) {
                        load.failures.push(format!("transport error before the kill: {e}"));
                    }
                    break;
                }
            }
            load
        });
    }
    // Kill once enough writes are acknowledged (or at the deadline), mid-load.
    while Instant::now() < deadline
        && (acked.load(Ordering::SeqCst) < acks || reports_acked.load(Ordering::SeqCst) < reports)
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let log = server.log();
    killed.store(true, Ordering::SeqCst);
    server.kill().await;
    let loads =
        tokio::time::timeout(Duration::from_secs(60), workers.join_all()).await.expect("the load stops after the kill");
    let mut load = KillLoad::default();
    for l in loads {
        load.acks.extend(l.acks);
        load.reports.extend(l.reports);
        load.failures.extend(l.failures);
    }
    assert!(
        load.failures.is_empty(),
        "{prefix}: failures before the kill: {:?}\nlog:\n{log}",
        &load.failures[..load.failures.len().min(5)]
    );
    assert!(load.acks.len() >= acks, "{prefix}: only {} allocations acknowledged before the kill", load.acks.len());
    assert!(
        load.reports.len() >= reports,
        "{prefix}: only {} reports acknowledged before the kill",
        load.reports.len()
    );
    load
}

pub(crate) async fn sigkill_loses_no_acknowledged_write(db: TestDb) {
    let config = write_config(&db, None);
    let dialer = create_key(&db, &config, "dialer").await;
    let mut rows = number_rows("A", 300, 10);
    rows.extend(number_rows("B", 400, 4));
    let out = import(&db, &config, "numbers.csv", &rows).await;
    assert!(out.status.success(), "import: {}", text(&out.stderr));
    // Reports go to pool B's numbers: they quarantine them, and leave the allocations
    // of pool A where they were acknowledged.
    let reported: Arc<Vec<String>> = Arc::new((400..404).map(|i| format!("+33987{:06}", 100_000 + i)).collect());
    let data_key = vigie_store::generate_data_key().1;
    let first = paris_tomorrow();

    // Two rounds: a kill well into the load, then one soon after a restart.
    let mut load = KillLoad::default();
    for (prefix, thresholds) in [("kill1", (400, 40)), ("kill2", (50, 5))] {
        let server = Server::start(&db, &config, &data_key, prefix).await;
        let round = load_then_kill(server, &dialer, &reported, prefix, first, thresholds).await;
        load.acks.extend(round.acks);
        load.reports.extend(round.reports);
    }

    // Restart on the same database: everything acknowledged is there.
    let server = Server::start(&db, &config, &data_key, "serve-after-kill").await;
    let stored = stored_calls(&db).await;
    assert_acks_stored(&load.acks, &stored);
    let pool = db.pool().await;
    let reports: HashMap<i64, String> =
        sqlx::query("SELECT r.id, n.e164 FROM reports r JOIN numbers n ON n.id = r.number_id")
            .fetch_all(&pool)
            .await
            .expect("reports")
            .iter()
            .map(|r| (r.get::<i64, _>(0), r.get::<String, _>(1)))
            .collect();
    for (id, number, quarantined) in &load.reports {
        assert_eq!(reports.get(id), Some(number), "acknowledged report {id} on {number}");
        if *quarantined {
            let status: String = sqlx::query_scalar("SELECT status FROM numbers WHERE e164 = $1")
                .bind(number.as_str())
                .fetch_one(&pool)
                .await
                .expect("status");
            assert_eq!(status, "quarantined", "{number} was acknowledged as quarantined");
        }
    }
    assert!(load.reports.iter().any(|r| r.2), "the reports quarantined at least one number");

    // The restarted server answers every acknowledged call_ref as before, with 200.
    let acks = Arc::new(load.acks);
    let next = Arc::new(AtomicUsize::new(0));
    let mut checkers = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (api, dialer, acks, next) = (server.api.clone(), dialer.clone(), Arc::clone(&acks), Arc::clone(&next));
        checkers.spawn(async move {
            let mut wrong = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(ack) = acks.get(i) else { break };
                let r = api.send(Method::POST, "/v1/calls", Some(&dialer), Some(&ack.call.json())).await;
                let same = r.status == 200
                    && r.body["call_id"] == ack.call_id
                    && r.body["caller_number"] == ack.number.as_str();
                if !same {
                    wrong.push(format!(
                        "{}: expected 200 with {} / {}, got {} {}",
                        ack.call.call_ref, ack.call_id, ack.number, r.status, r.text
                    ));
                }
            }
            wrong
        });
    }
    let wrong: Vec<String> = checkers.join_all().await.into_iter().flatten().collect();
    assert!(
        wrong.is_empty(),
        "{} acknowledged calls answered differently after the restart: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
    let fresh = load_call("after-restart", 0, first, 1);
    let r = server.api.send(Method::POST, "/v1/calls", Some(&dialer), Some(&fresh.json())).await;
    r.expect(201, "a new call after the restart");
    server.kill().await;
}

pub(crate) async fn reports_import_files_every_row_or_none(db: TestDb) {
    let config = write_config(&db, None);
    let out = import(&db, &config, "numbers.csv", &number_rows("A", 1, 2)).await;
    assert!(out.status.success(), "numbers import: {}", text(&out.stderr));
    let write = |name: &str, rows: &[&str]| {
        let path = db.dir.path().join(name);
        let mut csv = String::from("number,source,reported_at,detail\n");
        for row in rows {
            csv.push_str(row);
            csv.push('\n');
        }
        std::fs::write(&path, csv).expect("write the CSV");
        path
    };
    // Two instants of the same Europe/Paris day (reports count on the day of
    // `reported_at`), whenever the test runs: half an hour apart, or less just after
    // midnight.
    let now = jiff::Timestamp::now();
    let day_start = now.in_tz("Europe/Paris").and_then(|z| z.start_of_day()).expect("today in Paris").timestamp();
    let earlier = (now - jiff::SignedDuration::from_mins(30)).max(day_start).to_string();
    let at = now.to_string();
    let first = format!("+33478100001,patient,{earlier},reported in Orange Téléphone");
    let second = format!("+33478100001,carrier,{at},\"flagged by the carrier, 3 complaints\"");

    // A bad row, and a number not in the inventory: nothing is filed.
    let bad = write("bad.csv", &[&first, "+33478100001,neighbour,2026-11-27T09:00:00Z,x", &second]);
    let out = vigie(&db, &config, &["reports", "import", bad.to_str().expect("a path")]).await;
    let err = text(&out.stderr);
    assert!(!out.status.success() && err.contains("line 3: source:") && err.contains("nothing was imported"), "{err}");
    let unknown = write("unknown.csv", &[&first, &format!("+33478999999,patient,{at},x")]);
    let out = vigie(&db, &config, &["reports", "import", unknown.to_str().expect("a path")]).await;
    let err = text(&out.stderr);
    assert!(!out.status.success() && err.contains("line 3: number:"), "{err}");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM reports").await, 0, "nothing filed");

    // A good file: two reports the same day quarantine the number, with its incident.
    let good = write("good.csv", &[&second, &first]);
    let out = vigie(&db, &config, &["reports", "import", good.to_str().expect("a path")]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("imported 2 reports") && stdout.contains("quarantined: +33478100001"), "{stdout}");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM reports").await, 2);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM incidents WHERE trigger_signal = 'reports'").await, 1);
}
