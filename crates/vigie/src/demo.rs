//! `vigie demo`: an embedded server on a fresh SQLite file, with demo facilities, about
//! 150 numbers in the six pools, and a background stream of simulated calls,
//! outcomes and reports through the real store; the patient calls are announced by SMS
//! through the log provider.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::net::TcpListener;
use vigie_core::{
    E164, FacilityId, Outcome, PoolCode, Purpose, ReportSource, SignedDuration, SmsPlan, Territory, Timestamp,
    Unannounceable, plan_sms,
};
use vigie_store::{
    DataKey, Facility, NewCall, NewNumber, NewReport, NewUser, OutcomeReport, Role, Store, StoreError, UserRole,
};

use crate::DbArgs;
use crate::config::Config;

#[derive(Args, Debug)]
pub(crate) struct DemoArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// The demo database file; it is recreated at each start.
    #[arg(long, default_value = "vigie-demo.db")]
    db: PathBuf,
    /// Simulated calls per second.
    #[arg(long, default_value_t = 2.0)]
    calls_per_second: f64,
    /// Stop after this many seconds (runs until Ctrl-C otherwise).
    #[arg(long)]
    duration_s: Option<u64>,
    /// Seed of the simulated traffic.
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

/// (id, name, displayed name, city, callback, zone digit, area digits)
const FACILITIES: [(&str, &str, &str, &str, &str, u8, &str); 4] = [
    ("clinique-saint-jean", "Clinique Saint-Jean SAS", "Clinique St-Jean", "Lyon", "+33478100000", 4, "78"),
    ("chu-nantes", "Centre Hospitalier Universitaire de Nantes", "CHU Nantes", "Nantes", "+33240100000", 2, "40"),
    ("centre-medical-paris-15", "Centre Médical Paris 15", "Centre Medical Paris 15", "Paris", "+33145100000", 1, "45"),
    ("telemed-sud", "Télémédecine Sud", "Telemed Sud", "Marseille", "+33491100000", 4, "91"),
];

/// Pool, how many numbers, and whether they are geographic.
const INVENTORY: [(&str, usize, bool); 6] =
    [("A", 50, true), ("B", 32, false), ("C", 25, true), ("D", 19, false), ("E", 8, true), ("R", 16, true)];

fn demo_numbers() -> Vec<NewNumber> {
    let mut out = Vec::new();
    let mut serial = 0u32;
    for (pool, count, geographic) in INVENTORY {
        for i in 0..count {
            serial += 1;
            let f = FACILITIES[i % FACILITIES.len()];
            let text = if geographic {
                format!("+33{}{}{:06}", f.5, f.6, 200_000 + serial)
            } else {
                format!("+339{}{:06}", if pool == "D" { "70" } else { "87" }, 300_000 + serial)
            };
            let (Ok(number), Ok(callback), Ok(pool), Ok(facility)) =
                (E164::parse(&text), E164::parse(f.4), PoolCode::parse(pool), FacilityId::parse(f.0))
            else {
                continue;
            };
            out.push(NewNumber { number, pool, facility: Some(facility), display_name: f.2.to_owned(), callback });
        }
    }
    out
}

pub(crate) async fn run(args: DemoArgs) -> anyhow::Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let path = PathBuf::from(format!("{}{suffix}", args.db.display()));
        if path.exists() {
            std::fs::remove_file(&path)
                .with_context(|| format!("removing the previous demo database {}", path.display()))?;
        }
    }
    // The simulated dialer dials its care calls whenever the demo is started: its care
    // hours are the whole week (the real defaults are Monday to Saturday, 08:00-20:00;
    // README, "Compliance"). The patient calls are announced by SMS (the defaults of
    // `[sms]`), "sent" by the log provider, which reports them delivered 2 s later.
    let config = Config::parse(
        "[compliance]\ncare_hours = \"mon-sun 00:00-24:00\"\ncare_closed_on_holidays = false\n\
         [[sms.providers]]\nname = \"log\"\nkind = \"log\"\ndelay_ms = 2000\n",
    )?;
    let sms = crate::config::sms(&config)?;
    let db = DbArgs { db: Some(args.db.clone()), database_url: None, config: None };
    let store = crate::open_store(&db, &config, DataKey::generate().0).await?;
    for f in FACILITIES {
        store
            .upsert_facility(
                &Facility {
                    id: FacilityId::parse(f.0)?,
                    name: f.1.into(),
                    display_name: f.2.into(),
                    city: f.3.into(),
                    callback: E164::parse(f.4)?,
                },
                "demo",
            )
            .await?;
    }
    let numbers = demo_numbers();
    store.add_numbers(&numbers, "demo").await?;
    let admin = store.create_key("demo-admin", Role::Admin, "demo").await?;
    let dialer = store.create_key("demo-dialer", Role::Dialer, "demo").await?;
    let password = vigie_store::generate_password();
    let user = NewUser { name: "admin".into(), role: UserRole::Admin, facilities: Vec::new() };
    store.create_user(&user, &password, "demo").await?;
    let listener = TcpListener::bind(&args.listen).await.with_context(|| format!("binding {}", args.listen))?;
    let url = format!("http://{}", listener.local_addr()?);
    println!(
        "Vigie demo: {} numbers in 6 pools, {} facilities, SQLite at {}",
        numbers.len(),
        FACILITIES.len(),
        args.db.display()
    );
    println!("  dashboard:  {url}/   (user: admin, password: {password})");
    println!("  API:        {url}/v1/pools   (OpenAPI at {url}/openapi.json, metrics at {url}/metrics)");
    println!("  admin key:  {admin}");
    println!("  dialer key: {dialer}");
    println!("  try:        curl -s -H 'Authorization: Bearer {admin}' {url}/v1/pools");
    println!(
        "Simulating {} calls a second; the patient calls are announced by SMS 15 to 30 minutes ahead (log provider, numbers masked); Ctrl-C stops.",
        args.calls_per_second
    );
    let dispatcher = crate::start_sms(&store, &sms)?;
    let monitor = crate::start_monitor(&store, &config).await?;
    let notifier = crate::start_notifier(&store, &config)?;
    let state = vigie_http::AppState::new(store.clone())
        .with_sms_webhooks(sms.webhooks)
        .with_report_webhooks(crate::config::report_webhooks(&config)?);
    let router = vigie_http::router(state, crate::http_options(&config)).merge(crate::dashboard(&store, &config)?);
    let refused = Arc::new(AtomicU64::new(0));
    let traffic = tokio::spawn(simulate(store.clone(), args.calls_per_second, args.seed, Arc::clone(&refused)));
    let stop = async move {
        match args.duration_s {
            Some(s) => {
                tokio::select! { _ = tokio::time::sleep(Duration::from_secs(s)) => {}, _ = crate::shutdown_signal() => {} }
            }
            None => crate::shutdown_signal().await,
        }
    };
    vigie_http::serve(listener, router, stop).await?;
    traffic.abort();
    monitor.abort();
    if let Some(n) = notifier {
        n.abort();
    }
    if let Some(dispatcher) = dispatcher {
        dispatcher.stop().await;
    }
    let m = store.metrics();
    use std::sync::atomic::Ordering::Relaxed;
    println!(
        "demo stopped: {} calls allocated, {} refused for capacity, {} refused by a calling rule, {} reports, {} numbers quarantined, {} calls moved, {} reserve numbers promoted",
        m.allocations.load(Relaxed),
        m.no_capacity.load(Relaxed),
        refused.load(Relaxed),
        m.reports.load(Relaxed),
        m.quarantines.load(Relaxed),
        m.reassigned.load(Relaxed),
        m.promotions.load(Relaxed)
    );
    let mut by_status = std::collections::BTreeMap::new();
    for c in store.sms_counts().await? {
        *by_status.entry(c.status).or_insert(0) += c.count;
    }
    let counts: Vec<String> = by_status.iter().map(|(status, n)| format!("{n} {status}")).collect();
    println!("SMS: {}", if counts.is_empty() { "none".to_owned() } else { counts.join(", ") });
    Ok(())
}

/// The simulated dialer: calls by the seed's mix, outcomes, occasional spam reports,
/// and now and then a number that gets flagged twice in a day.
async fn simulate(store: Store, calls_per_second: f64, seed: u64, refused: Arc<AtomicU64>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let period = Duration::from_secs_f64(1.0 / calls_per_second.clamp(0.01, 10_000.0));
    let mix =
        [("appointment_reminder", 40), ("results_followup", 25), ("coordination", 20), ("satisfaction_survey", 15)];
    let mut n: u64 = 0;
    loop {
        tokio::time::sleep(period).await;
        n += 1;
        let roll = rng.random_range(0..100);
        let mut acc = 0;
        let purpose = mix.iter().find(|(_, w)| {
            acc += w;
            roll < acc
        });
        let Some((purpose, _)) = purpose else { continue };
        let f = FACILITIES[rng.random_range(0..FACILITIES.len())];
        let patient = rng.random_range(0..3_000u32);
        let phone = if patient % 4 == 0 {
            format!("+33{}{}{:06}", f.5, f.6, 500_000 + patient)
        } else {
            format!("+336{:08}", 12_000_000 + patient)
        };
        let now = store.now();
        let (Ok(facility), Ok(purpose), Ok(patient_phone)) =
            (FacilityId::parse(f.0), Purpose::parse(purpose), E164::parse(&phone))
        else {
            continue;
        };
        let dial_at = dial_at(&store, &purpose, &patient_phone, now, &mut rng);
        let call = NewCall {
            call_ref: format!("demo-{seed}-{n}-{}", now.as_millisecond()),
            facility,
            purpose,
            patient_ref: format!("demo-patient-{patient}"),
            patient_phone,
            dial_at,
        };
        let answer = match store.allocate(call, "demo-dialer").await {
            Ok(a) => a,
            Err(StoreError::NoCapacity { .. }) => continue,
            Err(StoreError::Rule(refusal)) => {
                refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::info!(%refusal, "demo call refused by a calling rule");
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "demo allocation failed");
                continue;
            }
        };
        let roll = rng.random_range(0..100);
        let (outcome, duration_s, ring_s) = match roll {
            0..60 => (Outcome::Answered, rng.random_range(30..300), rng.random_range(3..20)),
            60..85 => (Outcome::NoAnswer, 0, 30),
            85..95 => (Outcome::Voicemail, 20, 25),
            _ => (Outcome::Busy, 0, 1),
        };
        let spam_note = rng.random_range(0..1000) < 2;
        let _ = store
            .record_outcome(
                answer.call_id,
                OutcomeReport {
                    outcome,
                    duration_s,
                    ended_at: dial_at + SignedDuration::from_secs(i64::from(duration_s)),
                    ring_s: Some(ring_s),
                    sip_code: None,
                    agent_note: spam_note.then(|| vigie_store::SHOWN_AS_SPAM.to_owned()),
                },
                "demo-dialer",
            )
            .await;
        // Every ~300 calls a number gets two reports in the day: it is quarantined at
        // once, its pending calls move, and the reserve steps in if capacity runs low.
        if n.is_multiple_of(300)
            && let Some(number) = answer.caller_number
        {
            for source in [ReportSource::Patient, ReportSource::AppLabel] {
                let _ = store
                    .report(
                        NewReport { number: number.clone(), source, reported_at: now, detail: "demo: flagged".into() },
                        "demo-dialer",
                    )
                    .await;
            }
            tracing::info!(number = %number, "demo: a number was reported twice");
        }
    }
}

/// When the simulated dialer dials a call. A purpose that is not announced: at once. An
/// announced one: 16 to 29 minutes ahead, so that its SMS goes at once, inside its window
/// (15 to 30 minutes before); in quiet hours (nights, Sundays, holidays), when that
/// window cannot be used, at the earliest `dial_at` that can be announced, up to an hour
/// later. Never a `dial_at` the SMS rules refuse: the rules stay as configured.
fn dial_at(store: &Store, purpose: &Purpose, phone: &E164, now: Timestamp, rng: &mut StdRng) -> Timestamp {
    let Some(sms) = store.sms_policy().purposes.get(purpose) else { return now };
    let lead_min = sms.timing.window.lead_min();
    let soon = now + lead_min + SignedDuration::from_secs(rng.random_range(60..14 * 60));
    // The store plans the SMS a moment later than now: plan it as of a minute later, so
    // that a call chosen at 19:59:59 is not refused at 20:00:00 as too late to announce.
    let planned_at = now + SignedDuration::from_mins(1);
    match plan_sms(soon, planned_at, Territory::of(phone), &sms.timing) {
        SmsPlan::SendAt(_) => soon,
        SmsPlan::DialNotBefore(earliest)
        | SmsPlan::CannotAnnounce(Unannounceable { earliest_dial_at: Some(earliest), .. }) => {
            earliest + SignedDuration::from_secs(rng.random_range(0..3_600))
        }
        // Nothing can be announced within the search horizon: the store refuses it.
        SmsPlan::CannotAnnounce(_) => soon,
    }
}
