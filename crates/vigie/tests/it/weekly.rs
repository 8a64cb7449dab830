//! The weekly report end to end: traffic in two consecutive weeks, the store's counts
//! checked figure by figure against it (for a pool and the centre, the week before
//! beside), `vigie report weekly` run as a process, and the e-mail received by a real
//! SMTP server (aiosmtpd), once.

use vigie_core::{E164, FacilityId, Language, Outcome, Purpose, Timestamp};
use vigie_report::Week;
use vigie_store::{NewCall, OutcomeReport, PeriodCounts, Resolution};

use crate::helpers::{A2, PATIENT_LYON, SAINT_JEAN, Setup, TestApp, TestDb, mins, report, ts};

/// The binary's weekly report, as it compiles it.
#[path = "../../src/weekly.rs"]
#[allow(dead_code)]
mod weekly_report;

/// The week reported on (Monday 8 June 2026) and the week before (Monday 1 June).
const WEEK: &str = "2026-W24";

fn call(call_ref: &str, purpose: &str, dial_at: Timestamp) -> NewCall {
    NewCall {
        call_ref: call_ref.into(),
        facility: FacilityId::parse(SAINT_JEAN).expect("facility"),
        purpose: Purpose::parse(purpose).expect("purpose"),
        patient_ref: format!("pat-{call_ref}"),
        patient_phone: E164::parse(PATIENT_LYON).expect("phone"),
        dial_at,
    }
}

fn ended(outcome: Outcome, at: Timestamp) -> OutcomeReport {
    let answered = outcome == Outcome::Answered;
    OutcomeReport {
        outcome,
        duration_s: if answered { 80 } else { 0 },
        ended_at: at,
        ring_s: Some(10),
        sip_code: Some(if answered { 200 } else { 480 }),
        agent_note: None,
    }
}

/// Places a call at the clock's time and records its outcome (`None`: no outcome yet).
async fn place(app: &TestApp, call_ref: &str, purpose: &str, outcome: Option<Outcome>) {
    let now = app.clock.now();
    let answer = app.store.allocate(call(call_ref, purpose, now + mins(1)), "dialer").await.expect("a number");
    if let Some(outcome) = outcome {
        app.store.record_outcome(answer.call_id, ended(outcome, now + mins(3)), "dialer").await.expect("outcome");
    }
}

/// Two weeks of traffic; returns the incident's detection time in minutes.
async fn two_weeks(app: &TestApp) -> f64 {
    // The week before (Wednesday 3 June): two calls in pool A, one answered, and one
    // report on A2.
    place(app, "w23-1", "appointment_reminder", Some(Outcome::Answered)).await;
    place(app, "w23-2", "appointment_reminder", Some(Outcome::NoAnswer)).await;
    let now = app.clock.now();
    app.post("/v1/reports", &app.keys.dialer, &report(A2, "patient", now)).await.expect(202, "report");

    // The week (Tuesday 9 June): four calls in pool A (three answered), one without an
    // outcome (not counted), one answered in pool B.
    app.clock.set(ts("2026-06-09T10:00:00+02:00"));
    for (i, outcome) in [Outcome::Answered, Outcome::Answered, Outcome::NoAnswer, Outcome::Answered].iter().enumerate()
    {
        place(app, &format!("w24-{i}"), "appointment_reminder", Some(*outcome)).await;
    }
    place(app, "w24-pending", "appointment_reminder", None).await;
    place(app, "w24-b", "results_followup", Some(Outcome::Answered)).await;

    // Wednesday 10 June: two reports on A2, the second quarantines it (an incident);
    // it is then retired at a cost of 45 €.
    app.clock.set(ts("2026-06-10T11:00:00+02:00"));
    let now = app.clock.now();
    app.post("/v1/reports", &app.keys.dialer, &report(A2, "patient", now - mins(40))).await.expect(202, "report");
    app.post("/v1/reports", &app.keys.dialer, &report(A2, "app_label", now)).await.expect(202, "report");
    let open = app.store.incidents(true, 10).await.expect("incidents");
    assert_eq!(open.len(), 1, "{open:?}");
    let detection = open[0].time_to_detect().as_secs_f64() / 60.0;
    app.clock.set(ts("2026-06-11T09:00:00+02:00"));
    app.store
        .close_incident(open[0].id, Resolution::Retired { cost_cents: 4_500 }, "burnt", "ops-desk")
        .await
        .expect("retired");
    detection
}

pub(crate) async fn weekly_report_counts_two_weeks_writes_the_files_and_mails_them_once(db: TestDb) {
    let setup = Setup { now: ts("2026-06-03T10:00:00+02:00"), ..Setup::default() };
    let app = crate::helpers::spawn_app_with(&db, setup).await;
    let detection = two_weeks(&app).await;
    assert_eq!(detection, 40.0, "first evidence is the first report, 40 minutes before the quarantine");
    app.clock.set(ts("2026-06-15T08:00:00+02:00"));
    let week = Week::parse(WEEK).expect("week");
    let data = app.store.weekly_figures(week.monday(), app.clock.now()).await.expect("figures");

    let pool = |code: &str| data.pools.iter().find(|p| p.pool == code).cloned().expect("the pool is listed");
    let a = pool("A");
    let (b, c) = (pool("B"), pool("C"));
    assert_eq!(
        a.current,
        PeriodCounts {
            calls: 4,
            answered: 3,
            spam_reports: 2,
            // A1 and A3; A2 was quarantined, then retired.
            numbers_active: 2,
            numbers_quarantined: 1,
            numbers_retired: 1,
            incidents: 1,
            median_detection_minutes: Some(40.0),
            replacement_cost_cents: 4_500,
            sms_sent: 0,
            sms_delivered: 0,
        },
        "pool A, {WEEK}"
    );
    assert_eq!(
        a.previous,
        PeriodCounts { calls: 2, answered: 1, spam_reports: 1, numbers_active: 3, ..PeriodCounts::default() },
        "pool A, the week before"
    );
    assert_eq!(b.current, PeriodCounts { calls: 1, answered: 1, numbers_active: 2, ..PeriodCounts::default() });
    assert_eq!(b.previous, PeriodCounts { numbers_active: 2, ..PeriodCounts::default() });
    assert_eq!(c.current, PeriodCounts::default(), "an outbound pool without numbers is listed, empty");
    assert!(data.pools.iter().all(|p| p.pool != "E"), "an inbound pool without activity is left out");
    let (centre, before) = data.centre;
    assert_eq!(
        (centre.calls, centre.answered, centre.spam_reports, centre.numbers_active, centre.numbers_quarantined),
        (5, 4, 2, 4, 1)
    );
    assert_eq!((centre.numbers_retired, centre.incidents, centre.replacement_cost_cents), (1, 1, 4_500));
    assert_eq!(centre.median_detection_minutes, Some(40.0));
    assert_eq!(
        before,
        PeriodCounts { calls: 2, answered: 1, spam_reports: 1, numbers_active: 5, ..Default::default() }
    );
    // Pool A's days: calls on Tuesday, reports and the quarantine on Wednesday.
    let days: Vec<(String, u64, u64, u64, u32)> =
        a.daily.iter().map(|d| (d.date.to_string(), d.calls, d.answered, d.spam_reports, d.quarantines)).collect();
    assert_eq!(
        days,
        vec![
            ("2026-06-08".into(), 0, 0, 0, 0),
            ("2026-06-09".into(), 4, 3, 0, 0),
            ("2026-06-10".into(), 0, 0, 2, 1),
            ("2026-06-11".into(), 0, 0, 0, 0),
            ("2026-06-12".into(), 0, 0, 0, 0),
            ("2026-06-13".into(), 0, 0, 0, 0),
            ("2026-06-14".into(), 0, 0, 0, 0),
        ]
    );
    // The report's derived figures.
    let figures = weekly_report::figures(week, &data, "Centre test");
    assert_eq!(figures.centre.current.answer_rate(), Some(0.8));
    assert_eq!(figures.centre.current.spam_report_rate(), Some(0.4));
    assert_eq!(figures.centre.previous.answer_rate(), Some(0.5));

    // The command writes the files and prints the summary.
    let out_dir = tempfile::tempdir().expect("a directory");
    let started = std::time::Instant::now();
    let args = [std::ffi::OsStr::new("report"), "weekly".as_ref(), "--week".as_ref(), WEEK.as_ref(), "--out".as_ref()];
    let out = crate::helpers::vigie_on(&db, args.into_iter().chain([out_dir.path().as_os_str()])).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    println!("vigie report weekly ({:?}):\n{stdout}", started.elapsed());
    for name in ["report.html", "answer-rate.svg", "spam-reports.svg", "figures.csv", "daily.csv"] {
        let path = out_dir.path().join(name);
        assert!(path.is_file() && stdout.contains(&path.display().to_string()), "{name} written and listed");
    }
    assert!(stdout.contains("week 2026-W24 (2026-06-08 to 2026-06-14)"), "{stdout}");
    assert!(stdout.contains("5 (2)") && stdout.contains("80.00 % (50.00 %)"), "centre calls and answer rate: {stdout}");
    let html = std::fs::read_to_string(out_dir.path().join("report.html")).expect("html");
    assert!(html.contains(WEEK) && html.contains("<svg"), "the page names the week and has charts");
    let mut csv = csv::Reader::from_path(out_dir.path().join("figures.csv")).expect("figures.csv");
    let header = csv.headers().expect("a header").clone();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap_or_else(|| panic!("{name} in {header:?}"));
    let rows: Vec<csv::StringRecord> = csv.records().map(|r| r.expect("a row")).collect();
    let centre_row = rows.iter().find(|r| &r[column("scope")] == "centre").expect("the centre's row");
    assert_eq!(&centre_row[column("calls")], "5");
    assert_eq!(&centre_row[column("calls_previous")], "2");
    assert_eq!(&centre_row[column("spam_reports")], "2");
    let daily = csv::Reader::from_path(out_dir.path().join("daily.csv")).expect("daily.csv").into_records().count();
    assert_eq!(daily, 7 * data.pools.len(), "seven days per pool");
    // A bad --week names the flag and the rule.
    let out = crate::helpers::vigie_on(&db, ["report", "weekly", "--week", "2026-48"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("--week: ") && stderr.contains("YYYY-Www"), "{stderr}");

    // The e-mail: sent once, whatever the number of tries.
    let mail = tempfile::tempdir().expect("a directory");
    let (_server, port) = crate::helpers::smtpd(mail.path()).await;
    let mut email = vigie_alert::EmailConfig::new(
        "ops-mail",
        "127.0.0.1",
        "Vigie <vigie@centre.example>",
        &["direction.operations@centre.example"],
    );
    email.port = port;
    email.security = vigie_alert::SmtpSecurity::None;
    let channel = vigie_alert::EmailChannel::new(email).expect("an e-mail channel");
    let mailer =
        weekly_report::WeeklyMailer::new(app.store.clone(), vec![Box::new(channel)], Language::Fr, "Centre test");
    assert_eq!(mailer.send(week).await.expect("sent"), weekly_report::Delivery::Delivered);
    assert_eq!(mailer.send(week).await.expect("not again"), weekly_report::Delivery::AlreadySent);
    let entries = app.store.audit_entries(1_000).await.expect("audit");
    assert!(entries.iter().any(|e| e.action == vigie_store::WEEKLY_REPORT_SENT && e.subject == "week:2026-W24"));
    assert!(app.store.verify_audit().await.expect("verify").problem.is_none(), "the chain holds");
    let messages: Vec<_> =
        std::fs::read_dir(mail.path()).expect("mail dir").map(|e| e.expect("entry").path()).collect();
    assert_eq!(messages.len(), 1, "one e-mail: {messages:?}");
    // Python's e-mail parser lists the parts, decoded.
    let parts = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import email, sys\n\
             m = email.message_from_binary_file(open(sys.argv[1], 'rb'))\n\
             print('subject', m['Subject'])\n\
             for p in m.walk():\n\
             \x20   body = p.get_payload(decode=True) or b''\n\
             \x20   print('part', p.get_content_type(), p.get_filename(), len(body))\n\
             \x20   if p.get_content_type() == 'text/html': print('html', 'W24' in body.decode() and '<svg' in body.decode())\n",
        )
        .arg(&messages[0])
        .output()
        .expect("python3 runs");
    let parts = String::from_utf8_lossy(&parts.stdout);
    println!("--- weekly e-mail parts ---\n{parts}");
    for expected in [
        "subject [Vigie] Rapport hebdomadaire 2026-W24",
        "part text/plain None",
        "html True",
        "part text/csv vigie-2026-W24-figures.csv",
        "part text/csv vigie-2026-W24-daily.csv",
        "part image/svg+xml vigie-2026-W24-answer-rate.svg",
        "part image/svg+xml vigie-2026-W24-spam-reports.svg",
    ] {
        assert!(parts.contains(expected), "{expected:?} in:\n{parts}");
    }
}
