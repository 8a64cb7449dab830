//! The harness: a fresh database per test (a SQLite file in a temporary folder, or a new
//! PostgreSQL database), the real router on a 127.0.0.1:0 listener over a store whose
//! clock the test moves, API keys of every role, two facilities and a few numbers.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::{AnyPool, AssertSqlSafe, Connection, Row};
use tempfile::TempDir;
use tokio::net::TcpListener;
use vigie_core::{Calendar, Catalog, E164, FacilityId, Policy, PoolCode, PoolDef, SignedDuration, Timestamp};
use vigie_http::HttpOptions;
use vigie_store::{Clock, ComplianceOptions, Facility, KeyRing, NewNumber, Role, SmsPolicy, Store, StoreOptions};

/// The PostgreSQL server the suite uses; each test creates its own database on it.
pub(crate) const PG_SERVER: &str = "postgres://postgres@127.0.0.1:5432";
/// The database the suite connects to in order to create the others.
const PG_ADMIN_DB: &str = "test";

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// A fresh SQLite file.
    Sqlite,
    /// A fresh database on the local PostgreSQL.
    Postgres,
}

/// A test's own database, and a scratch folder for its files (configuration, CSV,
/// server logs). Cheap to clone.
#[derive(Clone)]
pub(crate) struct TestDb {
    /// Which backend.
    pub(crate) backend: Backend,
    /// The URL the store and the `vigie` binary open.
    pub(crate) url: String,
    /// The scratch folder, removed when the last clone is dropped.
    pub(crate) dir: Arc<TempDir>,
    /// The PostgreSQL database's name, dropped after the test.
    pg_name: Option<String>,
}

impl TestDb {
    /// A fresh database, or `None` when PostgreSQL is not there and not required (the
    /// skip is printed).
    async fn create(backend: Backend, test: &str) -> Option<TestDb> {
        sqlx::any::install_default_drivers();
        let dir = Arc::new(tempfile::Builder::new().prefix("vigie-it-").tempdir().expect("temporary folder"));
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("vigie.db").display());
                Some(TestDb { backend, url, dir, pg_name: None })
            }
            Backend::Postgres => {
                let admin_url = format!("{PG_SERVER}/{PG_ADMIN_DB}");
                let connected =
                    tokio::time::timeout(Duration::from_secs(5), sqlx::AnyConnection::connect(&admin_url)).await;
                let mut admin = match connected {
                    Ok(Ok(conn)) => conn,
                    Ok(Err(e)) => return skip_postgres(test, &e.to_string()),
                    Err(_) => return skip_postgres(test, "no answer within 5 s"),
                };
                let name = format!("vigie_it_{:016x}", rand::random::<u64>());
                sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut admin)
                    .await
                    .expect("CREATE DATABASE for the test");
                let _ = admin.close().await;
                Some(TestDb { backend, url: format!("{PG_SERVER}/{name}"), dir, pg_name: Some(name) })
            }
        }
    }

    /// Drops the PostgreSQL database (a SQLite file goes with the folder).
    async fn drop_database(&self) {
        let Some(name) = &self.pg_name else { return };
        let Ok(mut admin) = sqlx::AnyConnection::connect(&format!("{PG_SERVER}/{PG_ADMIN_DB}")).await else { return };
        let dropped = sqlx::query(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
            .execute(&mut admin)
            .await;
        if let Err(e) = dropped {
            eprintln!("note: could not drop the test database {name}: {e}");
        }
        let _ = admin.close().await;
    }

    /// The `vigie` command-line options that name this database: `--db PATH` for
    /// SQLite, `--database-url URL` for PostgreSQL.
    pub(crate) fn cli_flags(&self) -> Vec<String> {
        match self.backend {
            Backend::Sqlite => vec!["--db".into(), self.dir.path().join("vigie.db").display().to_string()],
            Backend::Postgres => vec!["--database-url".into(), self.url.clone()],
        }
    }

    /// A small connection pool on the database, for checks behind the API's back.
    pub(crate) async fn pool(&self) -> AnyPool {
        sqlx::any::AnyPoolOptions::new()
            .max_connections(2)
            .connect(&self.url)
            .await
            .expect("a direct connection to the test database")
    }
}

fn skip_postgres(test: &str, why: &str) -> Option<TestDb> {
    if std::env::var("VIGIE_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
        panic!(
            "{test}: PostgreSQL is required (VIGIE_REQUIRE_POSTGRES=1) but {PG_SERVER}/{PG_ADMIN_DB} is unreachable: {why}"
        );
    }
    // Straight to the process's stderr: libtest captures `eprintln!` of passing tests,
    // and a skip must be seen.
    let _ = writeln!(std::io::stderr(), "SKIPPED (no PostgreSQL at 127.0.0.1:5432): {test}");
    None
}

/// Runs one case on a fresh database of `backend`, then drops the database, also when
/// the case panics (its panic is then resumed).
pub(crate) async fn run<F, Fut>(backend: Backend, test: &str, case: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(db) = TestDb::create(backend, test).await else { return };
    let outcome = tokio::spawn(case(db.clone())).await;
    db.drop_database().await;
    if let Err(e) = outcome {
        match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("{test}: the case did not finish: {e}"),
        }
    }
}

// ----- time -----

/// A clock the test sets: UTC microseconds in an atomic.
#[derive(Clone)]
pub(crate) struct TestClock(Arc<AtomicI64>);

impl TestClock {
    fn new(at: Timestamp) -> TestClock {
        TestClock(Arc::new(AtomicI64::new(at.as_microsecond())))
    }

    /// Now, by this clock.
    pub(crate) fn now(&self) -> Timestamp {
        Timestamp::from_microsecond(self.0.load(Ordering::SeqCst)).expect("the test clock holds a valid instant")
    }

    /// Moves the clock to `at`.
    pub(crate) fn set(&self, at: Timestamp) {
        self.0.store(at.as_microsecond(), Ordering::SeqCst);
    }

    /// Moves the clock by `by`.
    pub(crate) fn advance(&self, by: SignedDuration) {
        self.set(self.now() + by);
    }

    fn as_clock(&self) -> Clock {
        let me = self.clone();
        Arc::new(move || me.now())
    }
}

/// An instant from RFC 3339 text.
pub(crate) fn ts(text: &str) -> Timestamp {
    text.parse().unwrap_or_else(|e| panic!("{text:?} is not an instant: {e}"))
}

/// Minutes as a duration.
pub(crate) fn mins(n: i64) -> SignedDuration {
    SignedDuration::from_mins(n)
}

/// Hours as a duration.
pub(crate) fn hours(n: i64) -> SignedDuration {
    SignedDuration::from_hours(n)
}

/// The Europe/Paris day of an instant, computed with jiff directly (not the product's
/// calendar), as `YYYY-MM-DD`.
pub(crate) fn paris_day(at: Timestamp) -> String {
    let tz = jiff::tz::TimeZone::get("Europe/Paris").expect("the bundled tz database has Europe/Paris");
    at.to_zoned_datetime(tz).date().to_string()
}

// ----- fixtures -----

/// The facility most tests call for (Lyon, zone 04).
pub(crate) const SAINT_JEAN: &str = "clinique-saint-jean";
/// The second facility (Nantes, zone 02).
pub(crate) const NANTES: &str = "chu-nantes";

/// Pool A, Saint-Jean, zone 4.
pub(crate) const A1: &str = "+33478100001";
/// Pool A, Saint-Jean, zone 4.
pub(crate) const A2: &str = "+33478100002";
/// Pool A, Nantes, zone 2.
pub(crate) const A3: &str = "+33240100003";
/// Pool B, no facility.
pub(crate) const B1: &str = "+33987100011";
/// Pool B, no facility.
pub(crate) const B2: &str = "+33987100012";
/// Pool E (inbound), Saint-Jean.
pub(crate) const E1: &str = "+33478100021";
/// Pool R (reserve), no facility.
pub(crate) const R1: &str = "+33987100031";

/// A Lyon patient (zone 4).
pub(crate) const PATIENT_LYON: &str = "+33472000001";

/// When most tests start: a Wednesday morning in Paris, summer time.
pub(crate) const START: &str = "2026-06-10T08:00:00+02:00";

/// A number to put in the inventory: (number, pool, facility).
pub(crate) type Fixture = (&'static str, &'static str, Option<&'static str>);

/// The default inventory.
pub(crate) const INVENTORY: &[Fixture] = &[
    (A1, "A", Some(SAINT_JEAN)),
    (A2, "A", Some(SAINT_JEAN)),
    (A3, "A", Some(NANTES)),
    (B1, "B", None),
    (B2, "B", None),
    (E1, "E", Some(SAINT_JEAN)),
    (R1, "R", None),
];

/// The seed's six pools, with pool A's policy replaced.
pub(crate) fn catalog_with_a(policy: Policy) -> Catalog {
    let pools = Catalog::seed_defaults()
        .pools()
        .map(
            |def| {
                if def.code.as_str() == "A" { PoolDef { policy: policy.clone(), ..def.clone() } } else { def.clone() }
            },
        )
        .collect();
    Catalog::new(pools).expect("a valid test catalog")
}

/// A pool A policy with a small cap: `cap` calls a day, intensive and healthy at `cap`.
pub(crate) fn small_cap(cap: u32) -> Policy {
    Policy {
        calls_per_day_max: cap,
        intensive_calls_min: cap,
        healthy_calls_per_day: cap,
        geographic: true,
        ..Policy::default()
    }
}

/// What `spawn_app_with` sets up.
pub(crate) struct Setup {
    /// Pools and policies.
    pub(crate) catalog: Catalog,
    /// HTTP limits.
    pub(crate) http: HttpOptions,
    /// The inventory.
    pub(crate) numbers: Vec<Fixture>,
    /// The clock's first reading.
    pub(crate) now: Timestamp,
    /// The data keys that seal patient phones.
    pub(crate) data_keys: KeyRing,
    /// The calling rules. By default care calls may start at any hour of any day, so
    /// that the engine's scenarios (nights, Sundays, daylight saving changes) are not
    /// refused by the care hours; `compliance.rs` tests the real defaults.
    pub(crate) compliance: ComplianceOptions,
    /// The purposes announced by SMS. Default: none, so that calls are not refused for
    /// want of an announcement; `sms_api.rs` sets its own.
    pub(crate) sms: SmsPolicy,
    /// The receipt webhooks of HTTP SMS gateways. Default: none.
    pub(crate) sms_webhooks: Vec<vigie_sms::WebhookConfig>,
    /// The feeds that push spam reports. Default: none.
    pub(crate) report_webhooks: Vec<vigie_http::ReportWebhook>,
    /// Whether the dashboard's routes are merged beside the API, as `vigie serve`
    /// does. Default: no.
    pub(crate) dashboard: bool,
    /// The most requests one writer batch takes. Default: the store's.
    pub(crate) batch_max: Option<usize>,
}

impl Default for Setup {
    fn default() -> Setup {
        Setup {
            catalog: Catalog::seed_defaults(),
            http: HttpOptions::default(),
            numbers: INVENTORY.to_vec(),
            now: ts(START),
            data_keys: KeyRing::from(vigie_store::generate_data_key().0),
            compliance: crate::compliance::around_the_clock(),
            sms: SmsPolicy::default(),
            sms_webhooks: Vec::new(),
            report_webhooks: Vec::new(),
            dashboard: false,
            batch_max: None,
        }
    }
}

/// API keys, one per role.
pub(crate) struct Keys {
    /// Everything.
    pub(crate) admin: String,
    /// Allocations, outcomes, reports.
    pub(crate) dialer: String,
    /// Numbers, facilities, reports.
    pub(crate) ops: String,
    /// Reads.
    pub(crate) auditor: String,
}

/// The names the keys were created with (they are the actors in number histories).
pub(crate) const OPS_KEY_NAME: &str = "ops-desk";

/// A running app: the real router on 127.0.0.1 over its own store.
pub(crate) struct TestApp {
    /// The HTTP client and base URL.
    pub(crate) api: Api,
    /// One key per role.
    pub(crate) keys: Keys,
    /// The store behind the router, for setup and checks.
    pub(crate) store: Store,
    /// The store's clock.
    pub(crate) clock: TestClock,
    /// The database.
    pub(crate) db: TestDb,
    server: tokio::task::JoinHandle<()>,
}

impl Deref for TestApp {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The app with the seed's pools and the default inventory.
pub(crate) async fn spawn_app(db: &TestDb) -> TestApp {
    spawn_app_with(db, Setup::default()).await
}

/// The app as `setup` says.
pub(crate) async fn spawn_app_with(db: &TestDb, setup: Setup) -> TestApp {
    let clock = TestClock::new(setup.now);
    let defaults = StoreOptions::new(db.url.clone());
    let store = Store::open(
        &StoreOptions {
            compliance: setup.compliance,
            sms: setup.sms,
            batch_max: setup.batch_max.unwrap_or(defaults.batch_max),
            ..defaults
        },
        setup.catalog,
        setup.data_keys,
        Calendar::paris(),
        clock.as_clock(),
    )
    .await
    .expect("the store opens on a fresh database");
    let keys = Keys {
        admin: store.create_key("admin-1", Role::Admin, "test").await.expect("admin key"),
        dialer: store.create_key("dialer-1", Role::Dialer, "test").await.expect("dialer key"),
        ops: store.create_key(OPS_KEY_NAME, Role::Ops, "test").await.expect("ops key"),
        auditor: store.create_key("auditor-1", Role::Auditor, "test").await.expect("auditor key"),
    };
    for (id, name, display, city, callback) in [
        (SAINT_JEAN, "Clinique Saint-Jean SAS", "Clinique St-Jean", "Lyon", "+33478000000"),
        (NANTES, "Centre Hospitalier Universitaire de Nantes", "CHU Nantes", "Nantes", "+33240000000"),
    ] {
        let facility = Facility {
            id: FacilityId::parse(id).expect("facility id"),
            name: name.into(),
            display_name: display.into(),
            city: city.into(),
            callback: E164::parse(callback).expect("callback"),
        };
        store.upsert_facility(&facility, "test").await.expect("facility");
    }
    let numbers: Vec<NewNumber> = setup
        .numbers
        .iter()
        .map(|(number, pool, facility)| NewNumber {
            number: E164::parse(number).expect("fixture number"),
            pool: PoolCode::parse(pool).expect("fixture pool"),
            facility: facility.map(|f| FacilityId::parse(f).expect("fixture facility")),
            display_name: match *facility {
                Some(NANTES) => "CHU Nantes".into(),
                Some(_) => "Clinique St-Jean".into(),
                None => "Vigie Sante".into(),
            },
            callback: E164::parse("+33478000000").expect("callback"),
        })
        .collect();
    store.add_numbers(&numbers, "test-setup").await.expect("the fixture inventory");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port on 127.0.0.1");
    let addr = listener.local_addr().expect("local address");
    let state = vigie_http::AppState::new(store.clone())
        .with_sms_webhooks(setup.sms_webhooks)
        .with_report_webhooks(setup.report_webhooks);
    let mut router = vigie_http::router(state, setup.http);
    if setup.dashboard {
        router = router.merge(vigie_web::router(vigie_web::Dashboard::new(store.clone(), "Centre test")));
    }
    let server = tokio::spawn(async move {
        vigie_http::serve(listener, router, std::future::pending()).await.expect("the server runs");
    });
    TestApp { api: Api::new(format!("http://{addr}")), keys, store, clock, db: db.clone(), server }
}

// ----- HTTP -----

/// A client for one server.
#[derive(Clone)]
pub(crate) struct Api {
    /// `http://127.0.0.1:PORT`.
    pub(crate) base: String,
    http: reqwest::Client,
}

/// A response, read whole.
#[derive(Debug)]
pub(crate) struct Reply {
    /// Status code.
    pub(crate) status: u16,
    /// The body as JSON (`Null` when it is not JSON).
    pub(crate) body: Value,
    /// The body as text.
    pub(crate) text: String,
    /// The Content-Type header.
    pub(crate) content_type: String,
}

impl Reply {
    /// Asserts the status, showing the body when it differs; returns the body.
    pub(crate) fn expect(&self, status: u16, what: &str) -> &Value {
        assert_eq!(self.status, status, "{what}: unexpected status; body: {}", self.text);
        &self.body
    }

    /// Asserts an API error: status, stable code and, when given, the field.
    pub(crate) fn expect_error(&self, status: u16, code: &str, field: Option<&str>, what: &str) {
        assert_eq!(self.status, status, "{what}: unexpected status; body: {}", self.text);
        assert_eq!(self.body["error"], code, "{what}: error code; body: {}", self.text);
        assert!(self.body["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: a message; body: {}", self.text);
        if let Some(field) = field {
            assert_eq!(self.body["field"], field, "{what}: the field at fault; body: {}", self.text);
        }
    }

    /// A string field of the body.
    pub(crate) fn str(&self, key: &str) -> &str {
        self.body[key].as_str().unwrap_or_else(|| panic!("`{key}` is not a string in {}", self.text))
    }
}

impl Api {
    /// A client for `base`, never through a proxy.
    pub(crate) fn new(base: String) -> Api {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(256)
            .build()
            .expect("an HTTP client");
        Api { base, http }
    }

    /// Sends a request; a transport error is returned, not a panic.
    pub(crate) async fn try_send(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Reply, reqwest::Error> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let res = req.send().await?;
        let status = res.status().as_u16();
        let content_type = res
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = res.text().await?;
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Reply { status, body, text, content_type })
    }

    /// Sends a request with a JSON body (or none).
    pub(crate) async fn send(&self, method: Method, path: &str, key: Option<&str>, body: Option<&Value>) -> Reply {
        self.try_send(method.clone(), path, key, body)
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: transport error: {e}"))
    }

    /// Sends raw bytes as `application/json`.
    pub(crate) async fn send_raw(&self, method: Method, path: &str, key: &str, body: Vec<u8>) -> Reply {
        let res = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(key)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: transport error: {e}"));
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, body, text, content_type: String::new() }
    }

    /// GET with a key.
    pub(crate) async fn get(&self, path: &str, key: &str) -> Reply {
        self.send(Method::GET, path, Some(key), None).await
    }

    /// POST a JSON body with a key.
    pub(crate) async fn post(&self, path: &str, key: &str, body: &Value) -> Reply {
        self.send(Method::POST, path, Some(key), Some(body)).await
    }

    /// PATCH a JSON body with a key.
    pub(crate) async fn patch(&self, path: &str, key: &str, body: &Value) -> Reply {
        self.send(Method::PATCH, path, Some(key), Some(body)).await
    }

    /// `GET /v1/numbers/{e164}`, expecting it to exist.
    pub(crate) async fn number(&self, e164: &str, key: &str) -> Value {
        let reply = self.get(&format!("/v1/numbers/{e164}"), key).await;
        reply.expect(200, &format!("GET /v1/numbers/{e164}")).clone()
    }

    /// `GET /v1/calls/{id}`, expecting it to exist.
    pub(crate) async fn call(&self, id: i64, key: &str) -> Value {
        let reply = self.get(&format!("/v1/calls/{id}"), key).await;
        reply.expect(200, &format!("GET /v1/calls/{id}")).clone()
    }

    /// `calls_today` of every number, from `GET /v1/numbers`.
    pub(crate) async fn calls_today(&self, key: &str) -> BTreeMap<String, u64> {
        let reply = self.get("/v1/numbers", key).await;
        let list = reply.expect(200, "GET /v1/numbers").as_array().expect("a list of numbers").clone();
        list.iter()
            .map(|n| {
                let number = n["number"].as_str().expect("number").to_owned();
                (number, n["calls_today"].as_u64().expect("calls_today"))
            })
            .collect()
    }
}

/// A `POST /v1/calls` body.
#[derive(Debug, Clone)]
pub(crate) struct CallReq {
    /// Idempotency key.
    pub(crate) call_ref: String,
    /// Facility slug.
    pub(crate) facility: String,
    /// Purpose.
    pub(crate) purpose: String,
    /// Pseudonymous patient.
    pub(crate) patient_ref: String,
    /// Patient phone.
    pub(crate) patient_phone: String,
    /// When it will be dialled.
    pub(crate) dial_at: Timestamp,
}

impl CallReq {
    /// An appointment reminder for a Lyon patient of Saint-Jean.
    pub(crate) fn new(call_ref: &str, dial_at: Timestamp) -> CallReq {
        CallReq {
            call_ref: call_ref.into(),
            facility: SAINT_JEAN.into(),
            purpose: "appointment_reminder".into(),
            patient_ref: format!("pat-{call_ref}"),
            patient_phone: PATIENT_LYON.into(),
            dial_at,
        }
    }

    /// The same call for another purpose.
    pub(crate) fn purpose(mut self, purpose: &str) -> CallReq {
        self.purpose = purpose.into();
        self
    }

    /// The same call for another patient reference.
    pub(crate) fn patient(mut self, patient_ref: &str) -> CallReq {
        self.patient_ref = patient_ref.into();
        self
    }

    /// The JSON body.
    pub(crate) fn json(&self) -> Value {
        json!({
            "call_ref": self.call_ref,
            "facility": self.facility,
            "purpose": self.purpose,
            "patient_ref": self.patient_ref,
            "patient_phone": self.patient_phone,
            "dial_at": self.dial_at.to_string(),
        })
    }
}

/// A `POST /v1/reports` body.
pub(crate) fn report(number: &str, source: &str, reported_at: Timestamp) -> Value {
    json!({"number": number, "source": source, "reported_at": reported_at.to_string(), "detail": "test report"})
}

// ----- direct database checks -----

/// Calls per (number, Europe/Paris day of `dial_at`), counted from the `calls` table
/// (cancelled calls left out: they do not count against the cap),
/// and the same figures from `number_days`, the counters the engine keeps.
pub(crate) struct DayCounts {
    /// From the calls themselves.
    pub(crate) from_calls: BTreeMap<(String, String), i64>,
    /// From the engine's counters (rows with zero calls left out).
    pub(crate) from_counters: BTreeMap<(String, String), i64>,
}

/// Reads [`DayCounts`] straight from the database.
pub(crate) async fn day_counts(pool: &AnyPool) -> DayCounts {
    let mut from_calls = BTreeMap::new();
    let rows = sqlx::query(
        "SELECT n.e164, c.dial_at FROM calls c JOIN numbers n ON n.id = c.number_id WHERE c.cancelled_at IS NULL",
    )
    .fetch_all(pool)
    .await
    .expect("calls with a number");
    for row in rows {
        let at = Timestamp::from_microsecond(row.get::<i64, _>(1)).expect("a stored instant");
        *from_calls.entry((row.get::<String, _>(0), paris_day(at))).or_insert(0) += 1;
    }
    let rows = sqlx::query("SELECT n.e164, nd.day, nd.calls FROM number_days nd JOIN numbers n ON n.id = nd.number_id")
        .fetch_all(pool)
        .await
        .expect("number_days");
    let from_counters = rows
        .iter()
        .map(|r| ((r.get::<String, _>(0), r.get::<String, _>(1)), r.get::<i64, _>(2)))
        .filter(|(_, calls)| *calls != 0)
        .collect();
    DayCounts { from_calls, from_counters }
}

/// Asserts that no number has more than `cap` calls on any local day, by the calls
/// and by the counters, and that both agree. Returns the calls counted.
pub(crate) async fn assert_cap_held_in_db(pool: &AnyPool, cap: i64) -> i64 {
    let counts = day_counts(pool).await;
    for ((number, day), calls) in &counts.from_calls {
        assert!(*calls <= cap, "{number} has {calls} calls on {day}, over the cap of {cap}");
    }
    assert_eq!(counts.from_calls, counts.from_counters, "the calls table and the engine's per-day counters disagree");
    counts.from_calls.values().sum()
}

// ----- peers -----

/// aiosmtpd (vigie-alert's test server, installed by `.ci/run`), plain SMTP on a free
/// port, writing each message it receives to `dir` as a `.eml` file.
pub(crate) async fn smtpd(dir: &std::path::Path) -> (tokio::process::Child, u16) {
    use tokio::io::AsyncBufReadExt;
    let server = concat!(env!("CARGO_MANIFEST_DIR"), "/../vigie-alert/tests/smtpd/server.py");
    let mut child = tokio::process::Command::new("python3")
        .arg(server)
        .arg("--out")
        .arg(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 runs");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = tokio::time::timeout(std::time::Duration::from_secs(20), lines.next_line())
        .await
        .expect("server.py answers within 20 s (aiosmtpd installed? .ci/run installs it)")
        .expect("a line")
        .expect("READY <port>");
    let port = line.strip_prefix("READY ").and_then(|p| p.parse().ok()).expect("READY <port>");
    (child, port)
}

/// Runs the `vigie` binary on the test's database (its `--db` or `--database-url`
/// flags, no configuration file, none of the caller's `VIGIE_*` settings).
pub(crate) async fn vigie_on<I, S>(db: &TestDb, args: I) -> std::process::Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    tokio::process::Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(args)
        .args(db.cli_flags())
        .env_remove("VIGIE_DATABASE_URL")
        .env_remove("VIGIE_CONFIG")
        .output()
        .await
        .expect("vigie runs")
}
