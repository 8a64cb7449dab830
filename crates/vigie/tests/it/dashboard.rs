//! The dashboard (issue 7): users and sessions in the store, `vigie users create`,
//! every refusal a 403 through the real routes, the CSRF token of every form, the
//! lock-out, the live feed; and, on SQLite, the pages driven in headless Chromium by
//! `crates/vigie-web/tests/e2e/dashboard.mjs`, which writes screenshots under
//! `target/screenshots/`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use vigie_core::{E164, FacilityId, Outcome, PoolCode, Purpose, ReportSource};
use vigie_store::{
    FAILED_SIGN_INS_MAX, NewCall, NewNumber, NewReport, NewUser, OutcomeReport, SignIn, StoreError, UserRole,
};

use crate::helpers::{
    A1, A2, CallReq, NANTES, SAINT_JEAN, Setup, TestApp, TestDb, hours, mins, report, spawn_app_with, vigie_on,
};

/// The password the tests' users share (the store wants 12 characters at least).
const PASSWORD: &str = "correct horse battery staple";

/// A browser without a browser: keeps no cookies and follows no redirect, so that the
/// test sees every status and sets every cookie itself.
struct Client {
    http: reqwest::Client,
    base: String,
}

/// A signed-in session: the cookie's token and the forms' CSRF token.
struct Signed {
    cookie: String,
    csrf: String,
}

/// The value of `name="csrf" value="…"` in a page.
fn csrf_of(html: &str) -> String {
    let at = html.find(r#"name="csrf" value=""#).expect("a form with a CSRF token");
    let rest = &html[at + r#"name="csrf" value=""#.len()..];
    rest[..rest.find('"').expect("the token's end")].to_owned()
}

/// The value a `Set-Cookie` header gives `name`, with the whole header.
fn set_cookie(res: &reqwest::Response, name: &str) -> Option<(String, String)> {
    res.headers().get_all(SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|v| {
        let value = v.strip_prefix(&format!("{name}="))?;
        Some((value.split(';').next().unwrap_or_default().to_owned(), v.to_owned()))
    })
}

impl Client {
    fn new(base: &str) -> Client {
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client");
        Client { http, base: base.to_owned() }
    }

    /// GET with the session's cookie (or none): status, body.
    async fn get(&self, path: &str, session: Option<&Signed>) -> (u16, String) {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(s) = session {
            req = req.header(COOKIE, format!("vigie_session={}", s.cookie));
        }
        let res = req.send().await.expect("the dashboard answers");
        (res.status().as_u16(), res.text().await.expect("a body"))
    }

    /// POST a form with the session's cookie: the response.
    async fn post(&self, path: &str, session: Option<&Signed>, form: &[(&str, &str)]) -> reqwest::Response {
        let mut req = self.http.post(format!("{}{path}", self.base)).form(form);
        if let Some(s) = session {
            req = req.header(COOKIE, format!("vigie_session={}", s.cookie));
        }
        req.send().await.expect("the dashboard answers")
    }

    /// Signs in through the form: the session, or the refusal's status and page.
    async fn sign_in(&self, name: &str, password: &str) -> Result<Signed, (u16, String)> {
        let page = self.http.get(format!("{}/login", self.base)).send().await.expect("the sign-in page");
        let (login_cookie, _) = set_cookie(&page, "vigie_login").expect("the sign-in form's cookie");
        let csrf = csrf_of(&page.text().await.expect("a body"));
        let res = self
            .http
            .post(format!("{}/login", self.base))
            .header(COOKIE, format!("vigie_login={login_cookie}"))
            .form(&[("name", name), ("password", password), ("csrf", csrf.as_str())])
            .send()
            .await
            .expect("the sign-in answers");
        let status = res.status().as_u16();
        let Some((cookie, header)) = set_cookie(&res, "vigie_session") else {
            return Err((status, res.text().await.unwrap_or_default()));
        };
        assert_eq!(status, 303, "a sign-in sends the browser on");
        for part in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(header.contains(part), "the session cookie is {part}: {header}");
        }
        let mut signed = Signed { cookie, csrf: String::new() };
        let (status, home) = self.get("/", Some(&signed)).await;
        assert_eq!(status, 200, "the overview after signing in: {home}");
        signed.csrf = csrf_of(&home);
        Ok(signed)
    }
}

fn facility(id: &str) -> FacilityId {
    FacilityId::parse(id).expect("a facility id")
}

/// The test's users: (name, role, facilities).
const USERS: [(&str, UserRole, &[&str]); 6] = [
    ("admin-a", UserRole::Admin, &[]),
    ("ops-o", UserRole::OpsManager, &[]),
    ("sup-n", UserRole::Supervisor, &[NANTES]),
    ("agent-l", UserRole::Agent, &[SAINT_JEAN]),
    ("agent-n", UserRole::Agent, &[NANTES]),
    ("audit-u", UserRole::Auditor, &[]),
];

async fn create_users(app: &TestApp) {
    for (name, role, facilities) in USERS {
        let user = NewUser { name: name.into(), role, facilities: facilities.iter().map(|f| facility(f)).collect() };
        app.store.create_user(&user, PASSWORD, "test").await.expect("a user");
    }
}

/// A call allocated through the API for `facility`, dialled in five minutes.
async fn call_for(app: &TestApp, call_ref: &str, facility: &str) -> i64 {
    let mut req = CallReq::new(call_ref, app.clock.now() + mins(5));
    req.facility = facility.into();
    let reply = app.post("/v1/calls", &app.keys.dialer, &req.json()).await;
    reply.expect(201, "a call").get("call_id").and_then(|v| v.as_i64()).expect("call_id")
}

fn field_of(e: StoreError) -> &'static str {
    match e {
        StoreError::Invalid(f) => f.field,
        StoreError::Conflict { field, .. } => field,
        other => panic!("expected a refusal naming a field, got {other}"),
    }
}

/// Users are checked when created (and by `vigie users create`), a wrong password
/// counts, the fifth in a row locks the user out until the lock-out ends.
pub(crate) async fn dashboard_users_are_checked_and_locked_out(db: TestDb) {
    let app = spawn_app_with(&db, Setup { dashboard: true, ..Setup::default() }).await;
    create_users(&app).await;
    let store = &app.store;
    let new = |name: &str, role, facilities: Vec<FacilityId>| NewUser { name: name.into(), role, facilities };
    let refused = |r: Result<vigie_store::User, StoreError>| field_of(r.expect_err("refused"));
    assert_eq!(refused(store.create_user(&new("x", UserRole::Agent, vec![]), PASSWORD, "t").await), "facility");
    assert_eq!(refused(store.create_user(&new("ops-o", UserRole::OpsManager, vec![]), PASSWORD, "t").await), "name");
    assert_eq!(refused(store.create_user(&new("y", UserRole::Auditor, vec![]), "short", "t").await), "password");
    let unknown = vec![facility("nowhere")];
    assert_eq!(refused(store.create_user(&new("z", UserRole::Agent, unknown), PASSWORD, "t").await), "facility");
    let users = store.users().await.expect("users");
    assert_eq!(users.len(), USERS.len(), "no refused user was stored");
    let agent = users.iter().find(|u| u.name == "agent-l").expect("agent-l");
    assert_eq!((agent.role, agent.facilities.clone()), (UserRole::Agent, vec![facility(SAINT_JEAN)]));

    // The command prints a generated password once; the user signs in with it.
    let out =
        vigie_on(&db, ["users", "create", "--role", "supervisor", "--name", "sup-cli", "--facility", SAINT_JEAN]).await;
    assert!(out.status.success(), "vigie users create: {}", String::from_utf8_lossy(&out.stderr));
    let generated = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_eq!(generated.chars().count(), 20, "one generated password on stdout: {generated:?}");
    assert!(matches!(store.sign_in("sup-cli", &generated).await, Ok(SignIn::Session(_))));
    let out = vigie_on(&db, ["users", "create", "--role", "agent", "--name", "agent-cli"]).await;
    assert!(!out.status.success(), "an agent without a facility is refused");
    assert!(String::from_utf8_lossy(&out.stderr).contains("facility"), "{}", String::from_utf8_lossy(&out.stderr));

    // The lock-out.
    for i in 1..FAILED_SIGN_INS_MAX {
        assert_eq!(store.sign_in("ops-o", "wrong password!").await.expect("a refusal"), SignIn::Refused, "try {i}");
    }
    let locked = store.sign_in("ops-o", "wrong password!").await.expect("the lock-out");
    assert!(matches!(locked, SignIn::Locked { .. }), "the {FAILED_SIGN_INS_MAX}th failure locks: {locked:?}");
    assert!(matches!(store.sign_in("ops-o", PASSWORD).await, Ok(SignIn::Locked { .. })), "the right password waits");
    let client = Client::new(&app.base);
    let (status, page) = client.sign_in("ops-o", PASSWORD).await.err().expect("refused while locked");
    assert_eq!(status, 403, "a locked-out sign-in is a 403");
    assert!(page.contains("verrouillé"), "the page says why: {page}");
    app.clock.advance(mins(16));
    assert!(client.sign_in("ops-o", PASSWORD).await.is_ok(), "the lock-out ends");
    // An admin lifts a lock-out at once with a new password, which ends the sessions.
    for _ in 0..FAILED_SIGN_INS_MAX {
        store.sign_in("audit-u", "wrong password!").await.expect("a refusal");
    }
    let admin = client.sign_in("admin-a", PASSWORD).await.expect("the admin");
    let res = client.post("/admin/users/password", Some(&admin), &[("csrf", &admin.csrf), ("name", "audit-u")]).await;
    assert_eq!(res.status().as_u16(), 200);
    let page = res.text().await.expect("the users page");
    let fresh = page.split(r#"data-testid="new-secret">"#).nth(1).and_then(|r| r.split('<').next()).expect("shown");
    assert!(client.sign_in("audit-u", fresh).await.is_ok(), "the new password works at once");
    assert_eq!(client.sign_in("audit-u", PASSWORD).await.err().map(|e| e.0), Some(403), "the old one no more");
    assert_eq!(client.sign_in("nobody", PASSWORD).await.err().map(|e| e.0), Some(403), "an unknown name is a 403");
    let audit = store.audit_entries(200).await.expect("audit");
    for action in ["user.create", "user.sign_in", "user.sign_in_refused", "user.locked"] {
        assert!(audit.iter().any(|e| e.action == action), "{action} is in the audit trail");
    }
}

/// Every page for every role: allowed, or a 403 page; calls within the facility scope
/// only, the patient's phone for agents only, each read in the audit trail; forms
/// without the session's CSRF token refused; the live feed; sign-out.
pub(crate) async fn dashboard_roles_forms_and_the_live_feed(db: TestDb) {
    let app = spawn_app_with(&db, Setup { dashboard: true, ..Setup::default() }).await;
    create_users(&app).await;
    let client = Client::new(&app.base);
    let lyon_call = call_for(&app, "dash-lyon", SAINT_JEAN).await;
    let nantes_call = call_for(&app, "dash-nantes", NANTES).await;

    let (status, _) = client.get("/", None).await;
    assert_eq!(status, 303, "no session: to the sign-in page");
    let res = client.post("/login", None, &[("name", "admin-a"), ("password", PASSWORD), ("csrf", "x")]).await;
    assert_eq!(res.status().as_u16(), 403, "a sign-in without the form's cookie is refused");

    let mut sessions = std::collections::HashMap::new();
    for (name, ..) in USERS {
        sessions.insert(name, client.sign_in(name, PASSWORD).await.unwrap_or_else(|e| panic!("{name}: {e:?}")));
    }
    let (lc, nc) = (format!("/calls/{lyon_call}"), format!("/calls/{nantes_call}"));
    let a1 = format!("/numbers/{A1}");
    let pages: [(&str, &[(&str, u16)]); 6] = [
        (
            "admin-a",
            &[
                ("/", 200),
                ("/numbers", 200),
                ("/alerts", 200),
                ("/planner", 200),
                ("/reports", 200),
                ("/audit", 200),
                ("/admin", 200),
            ],
        ),
        (
            "ops-o",
            &[
                ("/", 200),
                ("/numbers", 200),
                ("/planner", 200),
                ("/alerts", 200),
                ("/audit", 403),
                ("/admin", 403),
                ("/calls", 403),
            ],
        ),
        ("sup-n", &[("/numbers", 200), ("/alerts", 200), ("/planner", 403), ("/audit", 403), ("/admin", 403)]),
        (
            "agent-l",
            &[
                ("/", 200),
                ("/calls", 200),
                ("/numbers", 403),
                ("/alerts", 403),
                ("/reports", 403),
                ("/audit", 403),
                ("/admin", 403),
            ],
        ),
        ("agent-n", &[("/planner", 403)]),
        (
            "audit-u",
            &[
                ("/audit", 200),
                ("/numbers", 200),
                ("/reports", 200),
                ("/planner", 403),
                ("/admin", 403),
                ("/calls", 403),
            ],
        ),
    ];
    for (name, expected) in pages {
        for (path, want) in expected {
            let (status, body) = client.get(path, sessions.get(name)).await;
            assert_eq!(status, *want, "{name} GET {path}");
            if *want == 403 {
                assert!(body.contains("Accès refusé"), "{name} GET {path}: a 403 page, got {body}");
            }
        }
    }
    let (status, _) = client.get(&a1, sessions.get("ops-o")).await;
    assert_eq!(status, 200, "ops see a number's page");

    // Calls: the scope, and the patient's phone for agents only.
    let patient = crate::helpers::PATIENT_LYON;
    let calls: [(&str, &str, u16, bool); 8] = [
        ("agent-l", &lc, 200, true),
        ("agent-l", &nc, 403, false),
        ("agent-n", &nc, 200, true),
        ("agent-n", &lc, 403, false),
        ("sup-n", &nc, 200, false),
        ("sup-n", &lc, 403, false),
        ("ops-o", &lc, 403, false),
        ("audit-u", &nc, 403, false),
    ];
    for (name, path, want, phone) in calls {
        let (status, body) = client.get(path, sessions.get(name)).await;
        assert_eq!(status, want, "{name} GET {path}: {body}");
        assert_eq!(body.contains(patient), phone, "{name} GET {path}: the patient's phone shown or not");
    }
    let (status, body) = client.get(&lc, sessions.get("admin-a")).await;
    assert_eq!((status, body.contains(patient)), (200, false), "admins see calls, masked");
    let res = client
        .http
        .get(format!("{}{lc}", app.base))
        .header(COOKIE, format!("vigie_session={}", sessions["agent-l"].cookie))
        .send()
        .await
        .expect("the call page");
    let header = |name: &str| res.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert_eq!(header("cache-control"), "no-store", "a page with a patient's phone is never cached");
    assert!(header("content-security-policy").contains("frame-ancestors 'none'"), "never framed");
    let audit = app.store.audit_entries(500).await.expect("audit");
    let read = |actor: &str, action: &str| audit.iter().any(|e| e.actor == actor && e.action == action);
    assert!(read("web:agent-l", "patient.read"), "the agent's read of the phone is audited");
    assert!(read("web:sup-n", "call.read"), "the supervisor's masked read is audited");
    assert!(!read("web:agent-n", "call.read") && !read("web:ops-o", "call.read"), "a refused read reads nothing");
    assert!(read("web:agent-n", "access.refused"), "a call outside one's facilities is refused on the record");

    // Forms: the session's CSRF token, the role, the reason.
    let ops = &sessions["ops-o"];
    let change = format!("{a1}/change");
    for csrf in ["", "0000", sessions["admin-a"].csrf.as_str()] {
        let res = client.post(&change, Some(ops), &[("csrf", csrf), ("action", "quarantine"), ("reason", "r")]).await;
        assert_eq!(res.status().as_u16(), 403, "a wrong CSRF token ({csrf:?}) is refused");
    }
    let sup = &sessions["sup-n"];
    let res = client.post(&change, Some(sup), &[("csrf", &sup.csrf), ("action", "quarantine"), ("reason", "r")]).await;
    assert_eq!(res.status().as_u16(), 403, "supervisors do not change numbers");
    let res = client.post(&change, Some(ops), &[("csrf", &ops.csrf), ("action", "quarantine"), ("reason", " ")]).await;
    assert_eq!(res.status().as_u16(), 400, "a reason is required");
    let (number, _) = app.store.number(&E164::parse(A1).expect("A1")).await.expect("read").expect("A1");
    assert_eq!(number.state(), "active", "nothing refused changed the number");
    let res = client
        .post(&change, Some(ops), &[("csrf", &ops.csrf), ("action", "quarantine"), ("reason", "checked by hand")])
        .await;
    assert_eq!(res.status().as_u16(), 303, "the change is made");
    let (number, events) = app.store.number(&E164::parse(A1).expect("A1")).await.expect("read").expect("A1");
    assert_eq!(number.state(), "quarantined");
    assert_eq!((events[0].reason.as_str(), events[0].actor.as_str()), ("checked by hand", "web:ops-o"));

    // The quarantine's alert, acknowledged from the dashboard.
    let alert = app.store.alerts(true, 10).await.expect("alerts").into_iter().next().expect("the quarantine's alert");
    let ack = format!("/alerts/{}/ack", alert.id);
    let res = client.post(&ack, Some(&sessions["audit-u"]), &[("csrf", &sessions["audit-u"].csrf)]).await;
    assert_eq!(res.status().as_u16(), 403, "auditors do not acknowledge");
    let res = client.post(&ack, Some(ops), &[("csrf", &ops.csrf), ("note", "seen")]).await;
    assert_eq!(res.status().as_u16(), 303);
    let acked = app.store.alert(alert.id).await.expect("read").expect("the alert");
    assert_eq!(acked.acknowledged.map(|a| a.1), Some("web:ops-o".to_owned()));
    // The evidence reads in the page's language.
    let (_, page) = client.get("/alerts", Some(ops)).await;
    assert!(page.contains("checked by hand ; 1 appels en attente"), "French evidence on a French page: {page}");
    assert!(!page.contains("pending calls moved"), "no English evidence on a French page");

    // Users and API keys, by the admin only.
    let admin = &sessions["admin-a"];
    let form = [
        ("csrf", admin.csrf.as_str()),
        ("name", "sup-2"),
        ("role", "supervisor"),
        ("facility", SAINT_JEAN),
        ("facility", NANTES),
    ];
    let res = client.post("/admin/users", Some(admin), &form).await;
    assert_eq!(res.status().as_u16(), 200);
    let page = res.text().await.expect("the users page");
    let generated =
        page.split(r#"data-testid="new-secret">"#).nth(1).and_then(|r| r.split('<').next()).expect("the password");
    let sup2 = app.store.user("sup-2").await.expect("read").expect("sup-2");
    assert_eq!(sup2.facilities, vec![facility(NANTES), facility(SAINT_JEAN)], "both facilities in the scope");
    assert!(matches!(app.store.sign_in("sup-2", generated).await, Ok(SignIn::Session(_))), "the shown password works");
    let form = [("csrf", ops.csrf.as_str()), ("name", "x-ops"), ("role", "admin")];
    assert_eq!(client.post("/admin/users", Some(ops), &form).await.status().as_u16(), 403, "only admins add users");
    let key = app.store.api_keys().await.expect("keys").into_iter().find(|k| k.name == "auditor-1").expect("a key");
    let revoke = format!("/admin/keys/{}/revoke", key.id);
    assert_eq!(client.post(&revoke, Some(ops), &[("csrf", &ops.csrf)]).await.status().as_u16(), 403);
    assert_eq!(app.get("/v1/numbers", &app.keys.auditor).await.status, 200, "the key works before");
    assert_eq!(client.post(&revoke, Some(admin), &[("csrf", &admin.csrf)]).await.status().as_u16(), 303);
    assert_eq!(app.get("/v1/numbers", &app.keys.auditor).await.status, 401, "a revoked key is refused at once");

    // A leaver: disabled by the admin, their open session ends at once and their
    // sign-in is refused; enabled again, they sign in. Only admins do it, never to
    // themselves, and the last admin stays.
    let leaver = &sessions["agent-n"];
    fn access<'a>(name: &'a str, what: &'a str, csrf: &'a str) -> [(&'a str, &'a str); 3] {
        [("csrf", csrf), ("name", name), ("access", what)]
    }
    let ops_form = access("agent-n", "disable", &ops.csrf);
    assert_eq!(client.post("/admin/users/access", Some(ops), &ops_form).await.status().as_u16(), 403);
    let admin_csrf = admin.csrf.as_str();
    let res = client.post("/admin/users/access", Some(admin), &access("agent-n", "disable", admin_csrf)).await;
    assert_eq!(res.status().as_u16(), 303, "disabled");
    assert_eq!(client.get("/", Some(leaver)).await.0, 303, "the leaver's open session ends at once");
    assert!(client.sign_in("agent-n", PASSWORD).await.is_err(), "a disabled user cannot sign in");
    let (_, page) = client.get("/admin", Some(admin)).await;
    assert!(page.contains(r#"data-testid="access-agent-n">désactivé le"#), "the Users page says so");
    let again = client.post("/admin/users/access", Some(admin), &access("agent-n", "disable", admin_csrf)).await;
    assert_eq!(again.status().as_u16(), 409, "already disabled");
    let own = client.post("/admin/users/access", Some(admin), &access("admin-a", "disable", admin_csrf)).await;
    assert_eq!(own.status().as_u16(), 400, "not one's own account");
    let last = app.store.set_user_enabled("admin-a", false, "test").await;
    assert!(matches!(last, Err(StoreError::Conflict { .. })), "the last admin stays: {last:?}");
    let res = client.post("/admin/users/access", Some(admin), &access("agent-n", "enable", admin_csrf)).await;
    assert_eq!(res.status().as_u16(), 303, "enabled");
    assert!(client.sign_in("agent-n", PASSWORD).await.is_ok(), "enabled again, the user signs in");
    let trail = app.store.audit_entries(500).await.expect("audit");
    for action in ["user.disable", "user.enable"] {
        assert!(trail.iter().any(|e| e.action == action && e.actor == "web:admin-a"), "{action} in the audit trail");
    }

    // The incident's playbook: a step done from the dashboard; the close waits for the
    // cool-down (the store's rule, a 409 page).
    let incident = app.store.incidents(true, 10).await.expect("incidents").into_iter().next().expect("the incident");
    let step = incident.steps.iter().find(|s| s.done.is_none()).expect("a step to do").step.clone();
    let path = format!("/incidents/{}/steps/{step}", incident.id);
    let res = client.post(&path, Some(ops), &[("csrf", &ops.csrf), ("note", "done by phone")]).await;
    assert_eq!(res.status().as_u16(), 303, "the step is done");
    let incident = app.store.incident(incident.id).await.expect("read").expect("the incident");
    assert!(incident.step_done(&step), "{step} is recorded");
    let close = format!("/incidents/{}/close", incident.id);
    let form = [("csrf", ops.csrf.as_str()), ("resolution", "returned"), ("replacement_cost_eur", "")];
    assert_eq!(client.post(&close, Some(ops), &form).await.status().as_u16(), 409, "not before the cool-down");
    let form = [("csrf", ops.csrf.as_str()), ("resolution", "retired"), ("replacement_cost_eur", "")];
    assert_eq!(client.post(&close, Some(ops), &form).await.status().as_u16(), 400, "a retirement has its cost");

    // The live feed: two reports through the API reach an open page as events.
    let mut live = client
        .http
        .get(format!("{}/live", app.base))
        .header(COOKIE, format!("vigie_session={}", admin.cookie))
        .send()
        .await
        .expect("the live feed");
    assert_eq!(live.status().as_u16(), 200);
    let mut seen = String::new();
    read_until(&mut live, "event: ready", &mut seen).await;
    for source in ["patient", "app_label"] {
        app.post("/v1/reports", &app.keys.ops, &report(A2, source, app.clock.now())).await.expect(202, "a report");
    }
    read_until(&mut live, "event: alert", &mut seen).await;
    read_until(&mut live, &format!(r#""number":"{A2}""#), &mut seen).await;
    read_until(&mut live, r#""state":"quarantined""#, &mut seen).await;
    drop(live);

    // Sign-out ends the session.
    let res = client.post("/logout", Some(admin), &[("csrf", &admin.csrf)]).await;
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(res.headers().get(LOCATION).and_then(|v| v.to_str().ok()), Some("/login"));
    assert_eq!(client.get("/", Some(admin)).await.0, 303, "the old cookie is no session");
    assert_eq!(client.get("/", Some(ops)).await.0, 200, "another session lives on");
}

/// A second server process on the same database (its own store, writer and live
/// feed, as another `vigie serve` would have) sees the changes the first one makes:
/// its open pages are told, because the feed reads the store rather than listening
/// inside the process.
pub(crate) async fn dashboard_live_feed_crosses_processes(db: TestDb) {
    let app = spawn_app_with(&db, Setup { dashboard: true, ..Setup::default() }).await;
    create_users(&app).await;
    let now = app.clock.now();
    let other = vigie_store::Store::open(
        &vigie_store::StoreOptions {
            compliance: crate::compliance::around_the_clock(),
            ..vigie_store::StoreOptions::new(db.url.clone())
        },
        vigie_core::Catalog::seed_defaults(),
        vigie_store::KeyRing::from(vigie_store::generate_data_key().0),
        vigie_core::Calendar::paris(),
        std::sync::Arc::new(move || now),
    )
    .await
    .expect("a second store on the same database");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let base = format!("http://{}", listener.local_addr().expect("an address"));
    let router = vigie_web::router(vigie_web::Dashboard::new(other, "Centre test"));
    let server = tokio::spawn(async move { axum::serve(listener, router).await.expect("the second server") });
    let client = Client::new(&base);
    let ops = client.sign_in("ops-o", PASSWORD).await.expect("signed in on the second server");
    let mut live = client
        .http
        .get(format!("{base}/live"))
        .header(COOKIE, format!("vigie_session={}", ops.cookie))
        .send()
        .await
        .expect("the second server's live feed");
    let mut seen = String::new();
    read_until(&mut live, "event: ready", &mut seen).await;
    // The change is made through the first server's API and writer.
    let change = serde_json::json!({"action": "retire", "reason": "replaced"});
    app.patch(&format!("/v1/numbers/{A2}"), &app.keys.ops, &change).await.expect(200, "retired on the first server");
    read_until(&mut live, &format!(r#""number":"{A2}""#), &mut seen).await;
    read_until(&mut live, r#""state":"retired""#, &mut seen).await;
    server.abort();
}

/// Reads the live feed until it says `needle` (30 s at most).
async fn read_until(live: &mut reqwest::Response, needle: &str, seen: &mut String) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !seen.contains(needle) {
        let chunk = tokio::time::timeout_at(deadline, live.chunk()).await;
        let Ok(Ok(Some(bytes))) = chunk else { panic!("the feed never said {needle:?}; it said {seen}") };
        seen.push_str(&String::from_utf8_lossy(&bytes));
    }
}

// ----- the browser -----

const CHROMIUM: &str = "/usr/bin/chromium";

fn e2e_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../vigie-web/tests/e2e")
}

/// Whether the browser test can run; when not, says so (and fails when
/// VIGIE_REQUIRE_BROWSER=1, as `.ci/run` sets).
fn browser_ready() -> bool {
    let node = std::process::Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    let missing: Vec<&str> = [
        (!Path::new(CHROMIUM).exists()).then_some("chromium at /usr/bin/chromium (apt-get install chromium)"),
        (!node).then_some("node"),
        (!e2e_dir().join("node_modules/playwright-core").exists())
            .then_some("crates/vigie-web/tests/e2e/node_modules (npm ci --prefix crates/vigie-web/tests/e2e)"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var("VIGIE_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
        panic!("the browser test is required (VIGIE_REQUIRE_BROWSER=1) but these are missing: {}", missing.join(", "));
    }
    let _ = writeln!(std::io::stderr(), "SKIPPED (no browser: missing {}): dashboard_in_chromium", missing.join(", "));
    false
}

/// Pools C and D and more numbers in A, as the demo has: every pool card has numbers.
fn more_numbers() -> Vec<NewNumber> {
    let rows = [
        ("+33478100041", "A", SAINT_JEAN),
        ("+33240100042", "A", NANTES),
        ("+33478100043", "C", SAINT_JEAN),
        ("+33240100044", "C", NANTES),
        ("+33970100045", "D", SAINT_JEAN),
        ("+33987100046", "B", NANTES),
        ("+33987100047", "R", SAINT_JEAN),
    ];
    rows.iter()
        .map(|(n, pool, f)| NewNumber {
            number: E164::parse(n).expect("number"),
            pool: PoolCode::parse(pool).expect("pool"),
            facility: Some(facility(f)),
            display_name: "Vigie Sante".into(),
            callback: E164::parse("+33478000000").expect("callback"),
        })
        .collect()
}

/// Three weeks of calls with outcomes and a few reports, so that the charts have
/// something to draw; the clock comes back to where it was.
async fn history(app: &TestApp) {
    let start = app.clock.now();
    let purposes = [("appointment_reminder", SAINT_JEAN), ("results_followup", NANTES), ("coordination", SAINT_JEAN)];
    let mut n = 0u32;
    for day in (1..=21i64).rev() {
        app.clock.set(start - hours(24 * day) + hours(2));
        for i in 0..30u32 {
            n += 1;
            let (purpose, f) = purposes[(i % 3) as usize];
            let call = NewCall {
                call_ref: format!("hist-{n}"),
                facility: facility(f),
                purpose: Purpose::parse(purpose).expect("purpose"),
                patient_ref: format!("hist-patient-{n}"),
                patient_phone: E164::parse(&format!("+3347200{:04}", n % 10_000)).expect("phone"),
                dial_at: app.clock.now() + mins(i64::from(i)),
            };
            let answer = app.store.allocate(call, "test").await.expect("a history call");
            // Answer rates that move from day to day, between about 50 and 75 %.
            let answered = (n * 37) % 100 < 52 + (day as u32 % 5) * 5;
            let outcome = OutcomeReport {
                outcome: if answered { Outcome::Answered } else { Outcome::NoAnswer },
                duration_s: if answered { 90 } else { 0 },
                ended_at: app.clock.now() + mins(i64::from(i) + 2),
                ring_s: Some(8),
                sip_code: None,
                agent_note: None,
            };
            app.store.record_outcome(answer.call_id, outcome, "test").await.expect("an outcome");
            // One report every fifth day: never two for a number in a day, so no
            // quarantine, but a spam report rate to draw.
            if i == 0
                && day % 5 == 0
                && let Some(number) = answer.caller_number
            {
                let report = NewReport {
                    number,
                    source: ReportSource::Patient,
                    reported_at: app.clock.now(),
                    detail: "history".into(),
                };
                app.store.report(report, "test").await.expect("a report");
            }
        }
    }
    app.clock.set(start);
}

/// The dashboard in headless Chromium: sign in, the pool cards, two reports through
/// the API turn the open number page quarantined without a reload, the alert is
/// acknowledged, an agent gets 403 on another facility's call, sign out; screenshots
/// of the main pages under target/screenshots/.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_chromium() {
    if !browser_ready() {
        return;
    }
    crate::helpers::run(crate::helpers::Backend::Sqlite, "dashboard_in_chromium", browser_case).await;
}

async fn browser_case(db: TestDb) {
    let app = spawn_app_with(&db, Setup { dashboard: true, ..Setup::default() }).await;
    app.store.add_numbers(&more_numbers(), "test").await.expect("more numbers");
    history(&app).await;
    let own_call = call_for(&app, "e2e-lyon", SAINT_JEAN).await;
    let other_call = call_for(&app, "e2e-nantes", NANTES).await;
    let mut passwords = Vec::new();
    for (role, name, facility) in
        [("ops_manager", "marie", None), ("agent", "agent-lyon", Some(SAINT_JEAN)), ("admin", "admin", None)]
    {
        let mut args = vec!["users", "create", "--role", role, "--name", name];
        if let Some(f) = facility {
            args.extend(["--facility", f]);
        }
        let out = vigie_on(&db, args).await;
        assert!(out.status.success(), "vigie users create {name}: {}", String::from_utf8_lossy(&out.stderr));
        passwords.push(String::from_utf8_lossy(&out.stdout).trim().to_owned());
    }
    let screenshots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../screenshots");
    std::fs::create_dir_all(&screenshots).expect("target/screenshots");
    let out = tokio::time::timeout(
        Duration::from_secs(240),
        tokio::process::Command::new("node")
            .arg(e2e_dir().join("dashboard.mjs"))
            .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
            .env("VIGIE_CHROMIUM", CHROMIUM)
            .env("VIGIE_BASE", &app.base)
            .env("VIGIE_NOW", app.clock.now().to_string())
            .env("VIGIE_OPS_KEY", &app.keys.ops)
            .env("VIGIE_NUMBER", A1)
            .env("VIGIE_OPS", format!("marie:{}", passwords[0]))
            .env("VIGIE_AGENT", format!("agent-lyon:{}", passwords[1]))
            .env("VIGIE_ADMIN", format!("admin:{}", passwords[2]))
            .env("VIGIE_OWN_CALL", own_call.to_string())
            .env("VIGIE_OTHER_CALL", other_call.to_string())
            .env("VIGIE_SCREENSHOTS", &screenshots)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the browser script ends within 240 s")
    .expect("node runs");
    let said = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "dashboard.mjs failed:\n{said}");
    println!("{said}");
    // What the script did, seen from the store.
    let (number, _) = app.store.number(&E164::parse(A1).expect("A1")).await.expect("read").expect("A1");
    assert_eq!(number.state(), "quarantined", "{said}");
    let alerts = app.store.alerts(false, 10).await.expect("alerts");
    let alert = alerts.iter().find(|a| a.number.as_ref().is_some_and(|n| n.as_str() == A1)).expect("A1's alert");
    assert_eq!(alert.acknowledged.as_ref().map(|a| a.1.as_str()), Some("web:marie"), "{said}");
    for shot in ["overview.png", "numbers.png", "number-quarantined.png", "alerts.png", "planner.png", "forbidden.png"]
    {
        let size = std::fs::metadata(screenshots.join(shot)).map(|m| m.len()).unwrap_or(0);
        assert!(size > 10_000, "{shot} was written under target/screenshots ({size} bytes)");
    }
}
