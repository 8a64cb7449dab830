//! The pre-call SMS end to end: calls of announced purposes planned in their window,
//! submitted by the binary's dispatcher (one `tick` at a time, by the test's clock) to a
//! real SMPP server (node-smpp scripted as an SMSC, as in vigie-sms's tests), delivered
//! by its receipts; a patient's STOP; a claim left without an answer; quiet hours,
//! holidays and the daylight saving change; and, through the `vigie` binary, a
//! configuration refused at load and `vigie demo` announcing its calls.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;
use vigie_core::{
    ANNOUNCED_PURPOSES, E164, FacilityId, Language, Purpose, QuietPolicy, SignedDuration, SmsStatus, SmsTiming,
    Template, Timestamp, default_template_text,
};
use vigie_sms::{DeliveryReceipt, SmppConfig, SmsEvent};
use vigie_store::{CLAIM_TIMEOUT, NewCall, PurposeSms, SmsPolicy, StoreError};

use crate::helpers::{CallReq, Fixture, SAINT_JEAN, Setup, TestApp, TestDb, ts};

/// The dispatcher of `vigie serve`, as the binary compiles it.
#[path = "../../src/sms.rs"]
#[allow(dead_code)]
mod dispatcher;

/// The scripted SMSC of vigie-sms's tests.
#[path = "../../../vigie-sms/tests/it/smsc.rs"]
#[allow(dead_code)]
mod smsc;

use dispatcher::{DispatchConfig, Dispatcher, ProviderKind, ProviderSpec, TickReport};
use smsc::Smsc;

/// The binary under test.
const VIGIE: &str = env!("CARGO_BIN_EXE_vigie");

/// Patients' mobiles (SMS go to mobiles).
const PATIENT: &str = "+33612345678";
const PATIENT_2: &str = "+33612345679";
const PATIENT_3: &str = "+33612345680";

/// Pool C (coordination) and D (the survey).
const C1: &str = "+33987100051";
const D1: &str = "+33987100041";

fn inventory() -> Vec<Fixture> {
    let mut numbers = crate::helpers::INVENTORY.to_vec();
    numbers.push((C1, "C", None));
    numbers.push((D1, "D", Some(SAINT_JEAN)));
    numbers
}

fn purpose(text: &str) -> Purpose {
    Purpose::parse(text).expect("purpose")
}

/// A purpose announced with its default French text and `timing`.
fn announced(name: &str, timing: SmsTiming) -> PurposeSms {
    let text = default_template_text(name, Language::Fr).expect("a default text");
    PurposeSms {
        timing,
        template: Template::parse(name, text, 3).expect("the default text parses"),
        facility_templates: HashMap::new(),
        require_announcement: true,
        stop_ends_calls: name == "satisfaction_survey",
    }
}

/// The defaults of `[sms]`: the three patient purposes, from the caller number.
fn default_policy() -> SmsPolicy {
    let mut policy = SmsPolicy::default();
    for name in ANNOUNCED_PURPOSES {
        policy.purposes.insert(purpose(name), announced(name, SmsTiming::default()));
    }
    policy
}

async fn app(db: &TestDb, policy: SmsPolicy, now: &str) -> TestApp {
    crate::helpers::spawn_app_with(db, Setup { sms: policy, numbers: inventory(), now: ts(now), ..Setup::default() })
        .await
}

/// The dispatcher over the app's store, with one SMPP provider on the test's SMSC,
/// bound.
async fn smpp_dispatcher(app: &TestApp, smsc: &Smsc) -> (Dispatcher, tokio::sync::mpsc::Receiver<SmsEvent>) {
    let smpp = SmppConfig {
        reconnect_delay_min: Duration::from_millis(50),
        reconnect_delay_max: Duration::from_millis(400),
        messages_per_second: 1_000,
        ..SmppConfig::new("smsc", &smsc.address(), "vigie", "secret")
    };
    let config = DispatchConfig {
        providers: vec![ProviderSpec { name: "smsc".into(), kind: ProviderKind::Smpp(smpp), failover: None }],
        default_provider: None,
        facility_providers: HashMap::new(),
        interval: Duration::from_secs(1),
        batch_max: 100,
        events_max: 64,
    };
    let (dispatcher, events) = Dispatcher::start(app.store.clone(), &config).expect("the dispatcher starts");
    let unbound = dispatcher.wait_bound(Duration::from_secs(10)).await;
    assert!(unbound.is_empty(), "not bound to the test SMSC: {unbound:?}");
    (dispatcher, events)
}

/// The next provider event, at most 15 seconds away.
async fn next_event(events: &mut tokio::sync::mpsc::Receiver<SmsEvent>) -> SmsEvent {
    tokio::time::timeout(Duration::from_secs(15), events.recv())
        .await
        .expect("an SMS event within 15 s")
        .expect("the event channel is open")
}

/// One tick at the clock's time.
async fn tick(app: &TestApp, dispatcher: &Dispatcher) -> TickReport {
    dispatcher.tick(app.clock.now()).await.expect("a tick")
}

fn new_call(call_ref: &str, purpose_name: &str, phone: &str, dial_at: Timestamp) -> NewCall {
    NewCall {
        call_ref: call_ref.into(),
        facility: FacilityId::parse(SAINT_JEAN).expect("facility"),
        purpose: purpose(purpose_name),
        patient_ref: format!("pat-{call_ref}"),
        patient_phone: E164::parse(phone).expect("phone"),
        dial_at,
    }
}

fn paris() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get("Europe/Paris").expect("Europe/Paris")
}

/// A Paris local date-time (`2026-06-10T12:59`) as an instant.
fn local(text: &str) -> Timestamp {
    let dt: jiff::civil::DateTime = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
    paris().to_ambiguous_timestamp(dt).compatible().expect("a Paris instant")
}

/// An instant in Paris local time, for the tables.
fn show(t: Timestamp) -> String {
    t.to_zoned_datetime(paris()).strftime("%a %Y-%m-%dT%H:%M%:z").to_string()
}

async fn status(app: &TestApp, call_id: i64) -> SmsStatus {
    app.store.call_sms(call_id).await.expect("read the SMS").expect("the call has an SMS").status
}

/// An announced call through the API: its SMS planned in the window; submitted to the
/// SMSC by a tick once due, with the call's time as validity; delivered by the SMSC's
/// receipt. A receipt for an unknown message changes nothing. The patient replies
/// STOP: the opt-out is recorded, a later survey call is refused (`sms_stop`) and a
/// reminder goes without SMS.
pub(crate) async fn sms_announced_calls_are_submitted_delivered_and_stopped(db: TestDb) {
    let mut smsc = Smsc::start(0).await;
    let app = app(&db, default_policy(), "2026-06-10T08:00:00+02:00").await;
    let (dispatcher, mut events) = smpp_dispatcher(&app, &smsc).await;
    smsc.expect("bind").await;

    let mut req = CallReq::new("sms-e2e-1", local("2026-06-10T10:00"));
    req.patient_phone = PATIENT.into();
    let body = app.post("/v1/calls", &app.keys.dialer, &req.json()).await.expect(201, "POST /v1/calls").clone();
    let call_id = body["call_id"].as_i64().expect("call_id");
    let caller = body["caller_number"].as_str().expect("caller_number").to_owned();
    let sms_at: Timestamp = body["sms_at"].as_str().expect("sms_at").parse().expect("an instant");
    assert_eq!(show(sms_at), "Wed 2026-06-10T09:30+02:00", "the start of the window, 30 minutes ahead");
    let planned = app.store.call_sms(call_id).await.expect("read").expect("an SMS");
    assert_eq!((planned.status, planned.send_at, planned.segments), (SmsStatus::Queued, sms_at, 1));

    // Not due before its instant.
    assert_eq!(tick(&app, &dispatcher).await.claimed, 0);
    app.clock.set(local("2026-06-10T09:29:59"));
    assert_eq!(tick(&app, &dispatcher).await.claimed, 0);
    app.clock.set(sms_at);
    assert_eq!(tick(&app, &dispatcher).await, TickReport { claimed: 1, submitted: 1, ..TickReport::default() });
    let submit = smsc.expect("submit").await;
    assert_eq!(submit["destination_addr"], PATIENT.trim_start_matches('+'));
    assert_eq!(submit["source_addr"], caller.trim_start_matches('+'), "from the caller number");
    assert_eq!(submit["registered_delivery"], 1);
    assert_eq!(submit["validity_period"], "2026-06-10T08:00:00.000Z", "worth delivering until the call");
    let text = submit["text"].as_str().expect("text");
    assert!(text.starts_with("Clinique St-Jean vous appellera le 10/06/2026 vers 10h00"), "{text}");
    let sent = app.store.call_sms(call_id).await.expect("read").expect("an SMS");
    assert_eq!((sent.status, sent.submitted_at), (SmsStatus::Submitted, Some(sms_at)));
    // Submitted once: the next tick has nothing.
    assert_eq!(tick(&app, &dispatcher).await.claimed, 0);

    let receipt = next_event(&mut events).await;
    match &receipt {
        SmsEvent::Receipt(r) => assert_eq!(
            (r.provider.as_str(), r.message_id.as_str()),
            ("smsc", submit["message_id"].as_str().expect("id"))
        ),
        other => panic!("expected a receipt, got {other:?}"),
    }
    dispatcher.handle_event(receipt).await;
    assert_eq!(status(&app, call_id).await, SmsStatus::Delivered);

    // A receipt for a message nobody sent: logged, nothing changes.
    let stray = DeliveryReceipt {
        provider: "smsc".into(),
        message_id: "smsc-999999".into(),
        status: SmsStatus::Failed,
        state: "UNDELIV".into(),
        error: None,
    };
    dispatcher.handle_event(SmsEvent::Receipt(stray)).await;
    assert!(
        !app.store.sms_receipt("smsc", "smsc-999999", SmsStatus::Failed, None, app.clock.now()).await.expect("receipt")
    );
    assert_eq!(status(&app, call_id).await, SmsStatus::Delivered);

    // The patient replies STOP to the caller number.
    let phone = E164::parse(PATIENT).expect("phone");
    assert_eq!(app.store.sms_optout(&phone, "test").await.expect("read"), None);
    smsc.command(json!({"cmd": "mo", "from": PATIENT.trim_start_matches('+'), "to": caller.trim_start_matches('+'), "text": "Stop"}))
        .await;
    let reply = next_event(&mut events).await;
    assert!(matches!(&reply, SmsEvent::Reply(r) if r.stop && r.from == phone), "{reply:?}");
    app.clock.set(local("2026-06-10T09:40"));
    dispatcher.handle_event(reply).await;
    let (at, source) = app.store.sms_optout(&phone, "test").await.expect("read").expect("the opt-out is recorded");
    assert_eq!((at, source.as_str()), (local("2026-06-10T09:40"), "sms_reply"));

    let survey = CallReq { patient_phone: PATIENT.into(), ..CallReq::new("sms-e2e-survey", local("2026-06-10T14:00")) }
        .purpose("satisfaction_survey");
    let refused = app.post("/v1/calls", &app.keys.dialer, &survey.json()).await;
    refused.expect_error(409, "rule", None, "a survey after STOP");
    assert_eq!(refused.body["rule"], "sms_stop", "{}", refused.text);
    let reminder = CallReq { patient_phone: PATIENT.into(), ..CallReq::new("sms-e2e-2", local("2026-06-10T14:00")) };
    let body =
        app.post("/v1/calls", &app.keys.dialer, &reminder.json()).await.expect(201, "a reminder after STOP").clone();
    assert!(body["sms_at"].is_null(), "no SMS after STOP: {body}");
    let second = body["call_id"].as_i64().expect("call_id");
    assert_eq!(app.store.call_sms(second).await.expect("read"), None);
    app.clock.set(local("2026-06-10T13:45"));
    assert_eq!(tick(&app, &dispatcher).await.claimed, 0);
    assert!(smsc.take_pending("submit").is_empty(), "nothing else reached the SMSC");
}

/// A dispatcher that claimed an SMS and died before recording its provider's answer:
/// the SMS is left alone for CLAIM_TIMEOUT, then ends as failed with the reason, and no
/// dispatcher ever submits it.
pub(crate) async fn sms_a_claim_without_an_answer_fails_and_is_never_sent(db: TestDb) {
    let mut smsc = Smsc::start(0).await;
    let app = app(&db, default_policy(), "2026-06-10T09:00:00+02:00").await;
    let (dispatcher, mut events) = smpp_dispatcher(&app, &smsc).await;
    let dial_at = local("2026-06-10T10:00");
    let mut phones = HashMap::new();
    let mut send_at = None;
    for (call_ref, phone) in [("first", PATIENT), ("second", PATIENT_2)] {
        let answer = app.store.allocate(new_call(call_ref, "appointment_reminder", phone, dial_at), "dialer-1").await;
        let answer = answer.expect("allocated");
        assert!(answer.sms_at.is_some() && send_at.is_none_or(|at| Some(at) == answer.sms_at));
        send_at = answer.sms_at;
        phones.insert(answer.call_id, phone);
    }
    let send_at = send_at.expect("an SMS");

    // Another dispatcher claims one of the two SMS due, and dies.
    app.clock.set(send_at);
    let claimed = app.store.claim_due_sms("crashed-dispatcher", send_at, 1).await.expect("claim");
    assert_eq!(claimed.len(), 1);
    let lost = claimed[0].call_id;
    drop(claimed);
    let (&kept, &kept_phone) = phones.iter().find(|(id, _)| **id != lost).expect("the other call");

    // The live dispatcher sends the other one only.
    assert_eq!(tick(&app, &dispatcher).await, TickReport { claimed: 1, submitted: 1, ..TickReport::default() });
    assert_eq!(smsc.expect("submit").await["destination_addr"], kept_phone.trim_start_matches('+'));
    let receipt = next_event(&mut events).await;
    dispatcher.handle_event(receipt).await;
    assert_eq!(status(&app, kept).await, SmsStatus::Delivered);

    // Within the timeout the claim is left to its owner.
    app.clock.set(send_at + CLAIM_TIMEOUT - SignedDuration::from_secs(1));
    assert_eq!(tick(&app, &dispatcher).await.claimed, 0);
    assert_eq!(status(&app, lost).await, SmsStatus::Queued);
    // After it, the SMS fails: its outcome is unknown, so it is not sent again.
    app.clock.set(send_at + CLAIM_TIMEOUT + SignedDuration::from_secs(1));
    assert_eq!(tick(&app, &dispatcher).await.claimed, 0);
    let failed = app.store.call_sms(lost).await.expect("read").expect("an SMS");
    assert_eq!(failed.status, SmsStatus::Failed);
    assert!(failed.error.as_deref().is_some_and(|e| e.contains("not sent again")), "{failed:?}");
    let counts = app.store.sms_counts().await.expect("counts");
    let failed_count: u64 = counts.iter().filter(|c| c.status == "failed").map(|c| c.count).sum();
    assert_eq!(failed_count, 1, "{counts:?}");

    // A later SMS is the next thing the SMSC sees: the lost one never went.
    let later =
        app.store.allocate(new_call("later", "appointment_reminder", PATIENT_3, local("2026-06-10T10:20")), "dialer-1");
    let later = later.await.expect("allocated");
    app.clock.set(later.sms_at.expect("an SMS"));
    assert_eq!(tick(&app, &dispatcher).await, TickReport { claimed: 1, submitted: 1, ..TickReport::default() });
    assert_eq!(smsc.expect("submit").await["destination_addr"], PATIENT_3.trim_start_matches('+'));
    for _ in 0..3 {
        assert_eq!(tick(&app, &dispatcher).await.claimed, 0);
    }
    assert!(smsc.take_pending("submit").is_empty(), "no second submission");
    assert_eq!(status(&app, lost).await, SmsStatus::Failed);
}

/// When the SMS goes, or why the call is refused, at the edges of quiet hours, on a
/// Sunday, a public holiday and across the spring daylight saving change. Reminders
/// send at the latest allowed minute up to 48 hours ahead, surveys up to 18 hours
/// (the default), and results follow-ups move the call instead (`delay_call`).
pub(crate) async fn sms_quiet_hours_move_the_sms_or_the_call(db: TestDb) {
    let mut policy = default_policy();
    let lead = |hours| SmsTiming {
        policy: QuietPolicy::LatestBefore { lead_max: SignedDuration::from_hours(hours) },
        ..SmsTiming::default()
    };
    policy.purposes.insert(purpose("appointment_reminder"), announced("appointment_reminder", lead(48)));
    let delay = SmsTiming { policy: QuietPolicy::DelayCall, ..SmsTiming::default() };
    policy.purposes.insert(purpose("results_followup"), announced("results_followup", delay));
    let app = app(&db, policy, "2026-03-28T09:00:00+01:00").await;

    // (label, purpose, Paris local now, Paris local dial_at)
    // In the order of their `now`: the store's clock only moves forward.
    let rows = [
        ("reminder mon 30 march 08:10 (dst)", "appointment_reminder", "2026-03-28T10:00", "2026-03-30T08:10"),
        ("reminder wed 08:20 at 07:00", "appointment_reminder", "2026-06-10T07:00", "2026-06-10T08:20"),
        ("reminder wed 08:10 at 07:00", "appointment_reminder", "2026-06-10T07:00", "2026-06-10T08:10"),
        ("reminder wed 10:00", "appointment_reminder", "2026-06-10T08:00", "2026-06-10T10:00"),
        ("reminder wed 10:00 at 09:50", "appointment_reminder", "2026-06-10T09:50", "2026-06-10T10:00"),
        ("reminder wed 20:20", "appointment_reminder", "2026-06-10T10:00", "2026-06-10T20:20"),
        ("reminder wed 20:40", "appointment_reminder", "2026-06-10T10:00", "2026-06-10T20:40"),
        ("followup wed 20:40", "results_followup", "2026-06-10T10:00", "2026-06-10T20:40"),
        ("reminder mon 08:10 from sat", "appointment_reminder", "2026-06-13T10:00", "2026-06-15T08:10"),
        ("survey mon 08:10 from sat", "satisfaction_survey", "2026-06-13T10:00", "2026-06-15T08:10"),
        ("followup mon 08:10 from sat", "results_followup", "2026-06-13T10:00", "2026-06-15T08:10"),
        ("coordination mon 08:10", "coordination", "2026-06-13T10:00", "2026-06-15T08:10"),
        ("survey tue 08:10 from mon", "satisfaction_survey", "2026-06-15T10:00", "2026-06-16T08:10"),
        ("reminder wed 15 july 08:10 (14 july)", "appointment_reminder", "2026-07-13T10:00", "2026-07-15T08:10"),
    ];
    let mut got = Vec::new();
    for (i, (label, purpose_name, now, dial_at)) in rows.iter().enumerate() {
        app.clock.set(local(now));
        let phone = format!("+336123457{i:02}");
        let verdict = match app
            .store
            .allocate(new_call(&format!("quiet-{i}"), purpose_name, &phone, local(dial_at)), "dialer-1")
            .await
        {
            Ok(a) => a.sms_at.map_or_else(|| "ok, no SMS".to_owned(), |t| format!("SMS {}", show(t))),
            Err(StoreError::Rule(r)) => {
                format!("{} next={}", r.rule, r.next_allowed_at.map_or_else(|| "none".into(), show))
            }
            Err(e) => format!("error {e}"),
        };
        got.push(format!("{label}: {verdict}"));
    }
    let want = "\
reminder mon 30 march 08:10 (dst): SMS Sat 2026-03-28T19:59+01:00
reminder wed 08:20 at 07:00: SMS Wed 2026-06-10T08:00+02:00
reminder wed 08:10 at 07:00: sms_announcement next=Wed 2026-06-10T08:15+02:00
reminder wed 10:00: SMS Wed 2026-06-10T09:30+02:00
reminder wed 10:00 at 09:50: sms_announcement next=Wed 2026-06-10T10:05+02:00
reminder wed 20:20: SMS Wed 2026-06-10T19:50+02:00
reminder wed 20:40: SMS Wed 2026-06-10T19:59+02:00
followup wed 20:40: sms_announcement next=Thu 2026-06-11T08:15+02:00
reminder mon 08:10 from sat: SMS Sat 2026-06-13T19:59+02:00
survey mon 08:10 from sat: sms_announcement next=Mon 2026-06-15T08:15+02:00
followup mon 08:10 from sat: sms_announcement next=Mon 2026-06-15T08:15+02:00
coordination mon 08:10: ok, no SMS
survey tue 08:10 from mon: SMS Mon 2026-06-15T19:59+02:00
reminder wed 15 july 08:10 (14 july): SMS Mon 2026-07-13T19:59+02:00";
    assert_eq!(got.join("\n"), want);

    // The API's refusal: 409 with the rule and the earliest dial_at that can be announced.
    app.clock.set(local("2026-07-18T10:00"));
    let mut req = CallReq::new("quiet-api", local("2026-07-20T08:10")).purpose("results_followup");
    req.patient_phone = PATIENT.into();
    let reply = app.post("/v1/calls", &app.keys.dialer, &req.json()).await;
    reply.expect_error(409, "rule", None, "a follow-up that cannot be announced");
    assert_eq!(reply.body["rule"], "sms_announcement", "{}", reply.text);
    let next: Timestamp = reply.str("next_allowed_at").parse().expect("an instant");
    assert_eq!(show(next), "Mon 2026-07-20T08:15+02:00");
    // Dialled then, it is announced at 08:00.
    let retry = CallReq { dial_at: next, ..req };
    let body = app.post("/v1/calls", &app.keys.dialer, &retry.json()).await.expect(201, "at next_allowed_at").clone();
    let sms_at: Timestamp = body["sms_at"].as_str().expect("sms_at").parse().expect("an instant");
    assert_eq!(show(sms_at), "Mon 2026-07-20T08:00+02:00");
}

/// Everything logged on this thread while the guard lives (the test runs on a
/// current-thread runtime, so the dispatcher's and the provider's tasks log here too),
/// filtered as the binary filters.
#[derive(Clone, Default)]
struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }
}

/// The dispatcher logs submissions, receipts and replies with the patient's number
/// masked, never in clear, at every level.
#[tokio::test]
async fn sms_logs_show_patients_numbers_masked() {
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(format!(
            "trace,sqlx=warn,{}",
            vigie_sms::LOG_FILTER_DIRECTIVES
        )))
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    crate::helpers::run(
        crate::helpers::Backend::Sqlite,
        "sms::sms_logs_show_patients_numbers_masked",
        |db| async move {
            let mut smsc = Smsc::start(0).await;
            let app = app(&db, default_policy(), "2026-06-10T09:00:00+02:00").await;
            let (dispatcher, mut events) = smpp_dispatcher(&app, &smsc).await;
            let call = new_call("logged", "appointment_reminder", PATIENT, local("2026-06-10T10:00"));
            let answer = app.store.allocate(call, "dialer-1").await.expect("allocated");
            app.clock.set(answer.sms_at.expect("an SMS"));
            assert_eq!(tick(&app, &dispatcher).await.submitted, 1);
            let submit = smsc.expect("submit").await;
            dispatcher.handle_event(next_event(&mut events).await).await;
            let caller = submit["source_addr"].as_str().expect("sender").to_owned();
            for text in ["Merci", "STOP"] {
                smsc.command(json!({"cmd": "mo", "from": PATIENT.trim_start_matches('+'), "to": caller, "text": text}))
                    .await;
                dispatcher.handle_event(next_event(&mut events).await).await;
            }
        },
    )
    .await;
    drop(guard);
    let text = logs.text();
    for needle in
        ["SMS submitted", "SMS receipt", "a patient replied (not STOP", "a patient replied STOP", "+33 6 ** ** ** 78"]
    {
        assert!(text.contains(needle), "`{needle}` is not in the logs:\n{text}");
    }
    for clear in ["612345678", "6 12 34 56 78", "0612345678"] {
        assert!(!text.contains(clear), "the patient's number is in the logs ({clear}):\n{text}");
    }
}

/// Runs `vigie` with `args` and the environment `env`; its output.
async fn vigie(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = tokio::process::Command::new(VIGIE);
    command.args(args).env_remove("VIGIE_CONFIG").env_remove("VIGIE_DATABASE_URL").env("RUST_LOG", "warn");
    for (k, v) in env {
        command.env(k, v);
    }
    tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("vigie finishes within 120 s")
        .expect("vigie runs")
}

/// A template with an unknown placeholder is refused when the configuration loads,
/// naming the template; so is a server that announces calls without a provider, before
/// it opens its database.
#[tokio::test]
async fn sms_configuration_is_refused_at_load() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let db = dir.path().join("vigie.db");
    let db = db.to_str().expect("a UTF-8 path");
    let keys = [("VIGIE_DATA_KEY", &"ab".repeat(32)[..]), ("VIGIE_PSEUDONYM_KEY", &"cd".repeat(32)[..])];
    let cases = [
        (
            "[sms.purposes.appointment_reminder]\ntemplate = \"{facility}: votre appel de {time} pour {patient}\"\n",
            "template sms.purposes.appointment_reminder.template: unknown placeholder {patient}",
        ),
        (
            "[sms.facilities.chu-nantes.templates]\nresults_followup = \"CHU Nantes {heure}\"\n",
            "template sms.facilities.chu-nantes.templates.results_followup: unknown placeholder {heure}",
        ),
        ("", "no [[sms.providers]] is configured"),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let config = dir.path().join(format!("vigie-{i}.toml"));
        std::fs::write(&config, text).expect("write the configuration");
        let config = config.to_str().expect("a UTF-8 path");
        let out = vigie(&["serve", "--db", db, "--listen", "127.0.0.1:0", "--config", config], &keys).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{text:?} was accepted");
        assert!(stderr.contains(want), "{text:?}: {stderr}");
        assert!(!std::path::Path::new(db).exists(), "refused before the database was opened");
    }
}

/// `vigie demo` announces its patient calls through the log provider: every simulated
/// call is given a `dial_at` that can be announced, so the calling rules refuse none.
#[tokio::test]
async fn sms_demo_traffic_is_announceable() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let db = dir.path().join("demo.db");
    let db = db.to_str().expect("a UTF-8 path");
    let out =
        vigie(&["demo", "--listen", "127.0.0.1:0", "--db", db, "--calls-per-second", "40", "--duration-s", "3"], &[])
            .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let summary = stdout.lines().find(|l| l.starts_with("demo stopped:")).unwrap_or_else(|| panic!("{stdout}"));
    let allocated: u64 = summary
        .trim_start_matches("demo stopped: ")
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{summary}"));
    assert!(allocated > 20, "{summary}");
    assert!(summary.contains(" 0 refused by a calling rule"), "{summary}");
    // Queued at night and on Sundays, submitted and delivered otherwise.
    assert!(stdout.lines().any(|l| l.starts_with("SMS: ") && l != "SMS: none"), "{stdout}");
}
