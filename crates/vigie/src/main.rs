//! `vigie`: the one binary. Parses the command line and the configuration, opens the
//! store, and hands over to the library crates.

mod compliance;
mod config;
mod demo;
mod import;
mod monitor;
mod notify;
mod plan;
mod privacy;
mod reports;
mod sim;
mod sms;
mod sources;
mod weekly;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use tokio::net::TcpListener;
use vigie_core::{Calendar, DialWindow, SignedDuration};
use vigie_store::{Clock, DataKey, KeyRing, NewUser, Role, Store, StoreOptions, UserRole};

use config::Config;

/// mimalloc rather than glibc's malloc: the writer and the HTTP workers allocate and free
/// many small objects per request (measured in BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Vigie keeps a call centre's caller numbers trusted.
#[derive(Parser)]
#[command(name = "vigie", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the HTTP API.
    Serve {
        #[command(flatten)]
        db: DbArgs,
        /// Address to listen on (default from the configuration, 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<String>,
    },
    /// API keys and the data key.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// The number inventory.
    Numbers {
        #[command(subcommand)]
        command: NumbersCommand,
    },
    /// Spam reports.
    Reports {
        #[command(subcommand)]
        command: ReportsCommand,
    },
    /// How many numbers each pool needs, with the arithmetic.
    Plan(plan::PlanArgs),
    /// An embedded server with demo data and simulated traffic.
    Demo(demo::DemoArgs),
    /// Replays days of the centre through the real engine under one policy, or several
    /// side by side (`--compare baseline,seed,vigie`), and prints the seed's
    /// before/after table; `--out` also writes charts, daily.csv and summary.json.
    Sim(sim::SimArgs),
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Applies the retention periods of `[retention]` now and prints what it removed
    /// per kind of record (`vigie serve` does it daily).
    Purge(privacy::PurgeArgs),
    /// The Bloctel opposition list.
    Bloctel {
        #[command(subcommand)]
        command: BloctelCommand,
    },
    /// Reports for the operations managers.
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
    /// Prints the default configuration file, commented.
    Config,
    /// The dashboard's users.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Creates a dashboard user and prints their password once: generated, or taken
    /// from VIGIE_USER_PASSWORD (at least 12 characters).
    Create {
        #[command(flatten)]
        db: DbArgs,
        /// admin, ops_manager, supervisor, agent or auditor.
        #[arg(long)]
        role: String,
        /// The sign-in name.
        #[arg(long)]
        name: String,
        /// A facility of the user's scope (repeat for several); required for agents and
        /// supervisors, none means every facility.
        #[arg(long = "facility")]
        facilities: Vec<String>,
    },
}

#[derive(Subcommand)]
enum ReportCommand {
    /// Writes the weekly report (HTML with SVG charts, the charts as SVG files, CSV) of
    /// an ISO week, with the week before beside it, and prints a summary.
    Weekly {
        #[command(flatten)]
        db: DbArgs,
        /// The ISO week, YYYY-Www (2026-W48); default: the last complete week
        /// (Europe/Paris).
        #[arg(long)]
        week: Option<String>,
        /// The folder to write to; default: ./vigie-report-<week>.
        #[arg(long)]
        out: Option<PathBuf>,
        /// fr or en; default: weekly_report.language, else alerts.language.
        #[arg(long)]
        language: Option<String>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recomputes the hash chain of the audit log; exits with 1 at the first break.
    Verify {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Lists every number with its category, its pool's dialling mode, whether it may
    /// be presented (and the ARCEP rule if not) and what its identity lacks, then the
    /// phone reputation audit (17 checks per number over 30 days, pass/warn/fail with
    /// the evidence, and a summary); exits with 1 when a number in service breaks a
    /// presentation rule.
    Numbers {
        #[command(flatten)]
        db: DbArgs,
        /// The reputation audit as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum BloctelCommand {
    /// Replaces the opposition list with a scrub file's numbers (one per line), stored
    /// only as keyed hashes, with the file's date.
    Import(compliance::BloctelImportArgs),
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Creates an API key and prints it once.
    Create {
        #[command(flatten)]
        db: DbArgs,
        /// admin, dialer, ops or auditor.
        #[arg(long)]
        role: String,
        /// Who or what holds the key (it is the actor in the audit trail).
        #[arg(long)]
        name: String,
    },
    /// Prints a new random data key for VIGIE_DATA_KEY or VIGIE_DATA_KEYS.
    DataKey,
    /// Prints a new random pseudonym key for VIGIE_PSEUDONYM_KEY.
    PseudonymKey,
    /// Re-seals every patient phone with the active data key (VIGIE_DATA_KEY_ID), in
    /// small transactions while servers run; prints the rows rewritten per key id.
    RotateDataKey(privacy::RotateArgs),
}

#[derive(Subcommand)]
enum ReportsCommand {
    /// Files spam reports from a CSV file (number,source,reported_at,detail): every row
    /// is checked first, and none is filed unless all are good; the second report of a
    /// local day quarantines its number.
    Import {
        #[command(flatten)]
        db: DbArgs,
        /// The CSV file, with a header line.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum NumbersCommand {
    /// Imports numbers from a CSV file (number,pool,display_name,facility,callback):
    /// all rows or none.
    Import {
        #[command(flatten)]
        db: DbArgs,
        /// The CSV file, with a header line.
        file: PathBuf,
    },
}

/// Where the store is; the same for every subcommand that touches it.
#[derive(Args, Clone, Debug)]
pub(crate) struct DbArgs {
    /// SQLite database file (default ./vigie.db).
    #[arg(long, conflicts_with = "database_url")]
    pub(crate) db: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB.
    #[arg(long, env = "VIGIE_DATABASE_URL")]
    pub(crate) database_url: Option<String>,
    /// Configuration file (TOML).
    #[arg(long, env = "VIGIE_CONFIG")]
    pub(crate) config: Option<PathBuf>,
}

impl DbArgs {
    pub(crate) fn url(&self, config: &Config) -> String {
        if let Some(path) = &self.db {
            return sqlite_url(path);
        }
        self.database_url
            .clone()
            .or_else(|| config.store.database_url.clone())
            .unwrap_or_else(|| sqlite_url(&PathBuf::from("vigie.db")))
    }
}

pub(crate) fn sqlite_url(path: &std::path::Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// The system clock: the only place the server reads the time.
pub(crate) fn system_clock() -> Clock {
    Arc::new(vigie_core::Timestamp::now)
}

/// Opens the store the arguments and configuration name.
pub(crate) async fn open_store(db: &DbArgs, config: &Config, key: impl Into<KeyRing>) -> anyhow::Result<Store> {
    let mut options = StoreOptions::new(db.url(config));
    options.pseudonym_key = privacy::pseudonym_key(config)?;
    options.legal_bases = privacy::legal_bases(config)?;
    options.compliance = compliance::options(config)?;
    options.sms = config::sms(config)?.policy;
    options.playbook = config::monitoring(config, &config.catalog()?)?.1;
    options.max_connections = config.store.max_connections;
    options.batch_max = config.store.batch_max;
    options.queue_max = config.store.queue_max;
    options.dial_window = DialWindow {
        past_max: SignedDuration::from_mins(config.calls.dial_at_past_max_minutes),
        ahead_max: SignedDuration::from_hours(24 * config.calls.dial_at_ahead_max_days),
    };
    let calendar = Calendar::new(&config.calls.time_zone)
        .with_context(|| format!("calls.time_zone {}", config.calls.time_zone))?;
    let store = Store::open(&options, config.catalog()?, key, calendar, system_clock())
        .await
        .with_context(|| format!("opening the store at {}", redact(&options.database_url)))?;
    for f in config.facilities()? {
        store.upsert_facility(&f, "config").await?;
    }
    Ok(store)
}

/// A database URL without its password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if url[s + 3..at].contains(':') => {
            let colon = s + 3 + url[s + 3..at].find(':').unwrap_or(0);
            format!("{}:***{}", &url[..colon], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// The data keys from VIGIE_DATA_KEY, VIGIE_DATA_KEYS and VIGIE_DATA_KEY_ID or the
/// configuration.
fn data_key(config: &Config) -> anyhow::Result<Option<KeyRing>> {
    privacy::key_ring(config)
}

/// Refuses a configuration that announces calls without any provider to send the SMS:
/// its calls would never be announced, and a server should not start silently so.
pub(crate) fn check_sms_providers(setup: &config::SmsSetup) -> anyhow::Result<()> {
    if !setup.policy.purposes.is_empty() && setup.dispatch.providers.is_empty() {
        let mut purposes: Vec<&str> = setup.policy.purposes.keys().map(|p| p.as_str()).collect();
        purposes.sort_unstable();
        bail!(
            "[sms]: the calls of {} are announced by SMS (sms.announce) but no [[sms.providers]] is configured: add a provider (README, \"Pre-call SMS\"), or set sms.announce = [] to dial without announcing",
            purposes.join(", ")
        );
    }
    Ok(())
}

/// Starts reputation monitoring: reads call outcomes every `interval` and acts on alarms.
pub(crate) async fn start_monitor(store: &Store, config: &Config) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let (settings, _) = config::monitoring(config, store.catalog())?;
    let monitor = monitor::Monitor::start(store.clone(), settings, store.now()).await?;
    Ok(monitor.spawn())
}

/// Starts the alert notifier when `[[alerts.channels]]` lists any channel.
pub(crate) fn start_notifier(store: &Store, config: &Config) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    let setup = config::alert_channels(config)?;
    if setup.channels.is_empty() {
        return Ok(None);
    }
    Ok(Some(notify::Notifier::new(store.clone(), setup.channels, setup.language).spawn(setup.interval)))
}

/// Starts the weekly report's e-mails when `[weekly_report]` is enabled.
pub(crate) fn start_weekly_report(
    store: &Store,
    config: &Config,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    let setup = config::weekly_report(config)?;
    if !setup.enabled {
        return Ok(None);
    }
    Ok(Some(weekly::WeeklyMailer::new(store.clone(), setup.channels, setup.language, &setup.centre_name).spawn()))
}

/// Starts the external reputation sources of `[[sources]]`, if any.
pub(crate) fn start_sources(store: &Store, config: &Config) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    let (configs, on_flag) = config::sources(config)?;
    if configs.is_empty() {
        return Ok(None);
    }
    let mut sources: Vec<std::sync::Arc<dyn sources::ReputationSource>> = Vec::new();
    for c in configs {
        sources.push(std::sync::Arc::new(sources::HttpJsonSource::new(c)?));
    }
    let (settings, _) = config::monitoring(config, store.catalog())?;
    Ok(Some(sources::Poller::new(store.clone(), sources, on_flag, settings.alerts).spawn()))
}

/// Starts the SMS dispatcher when some purpose is announced.
pub(crate) fn start_sms(store: &Store, setup: &config::SmsSetup) -> anyhow::Result<Option<sms::Running>> {
    if setup.policy.purposes.is_empty() {
        return Ok(None);
    }
    check_sms_providers(setup)?;
    let (dispatcher, events) = sms::Dispatcher::start(store.clone(), &setup.dispatch)?;
    let running = dispatcher.spawn(events);
    let dispatcher = running.dispatcher();
    tokio::spawn(async move {
        for name in dispatcher.wait_bound(Duration::from_secs(10)).await {
            tracing::warn!(provider = %name, "SMPP provider not bound after 10 s: its SMS wait (or go through its failover)");
        }
    });
    Ok(Some(running))
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// The dashboard's routes over the store, merged beside the API by `serve` and `demo`.
pub(crate) fn dashboard(store: &Store, config: &Config) -> anyhow::Result<axum::Router> {
    let setup = config::weekly_report(config)?;
    Ok(vigie_web::router(vigie_web::Dashboard::new(store.clone(), &setup.centre_name)))
}

pub(crate) fn http_options(config: &Config) -> vigie_http::HttpOptions {
    vigie_http::HttpOptions {
        body_bytes_max: config.server.body_bytes_max,
        request_timeout: Duration::from_secs(config.server.request_timeout_s),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sqlx=warn".into());
    // The SMPP codec logs whole PDUs, patient numbers included, below `info`: never
    // below `info`, whatever RUST_LOG asks.
    for directive in vigie_sms::LOG_FILTER_DIRECTIVES.split(',') {
        if let Ok(d) = directive.parse() {
            filter = filter.add_directive(d);
        }
    }
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { db, listen } => {
            let config = Config::load(db.config.as_deref())?;
            let Some(key) = data_key(&config)? else {
                bail!(
                    "no data key: set VIGIE_DATA_KEY (64 hex digits; `vigie keys data-key` prints a new one) or store.data_key in the configuration"
                );
            };
            if privacy::pseudonym_key(&config)?.is_none() {
                bail!(
                    "no pseudonym key: set VIGIE_PSEUDONYM_KEY (64 hex digits; `vigie keys pseudonym-key` prints a new one) or store.pseudonym_key in the configuration"
                );
            }
            let sms = config::sms(&config)?;
            check_sms_providers(&sms)?;
            let store = open_store(&db, &config, key).await?;
            privacy::spawn_retention(&store, &config)?;
            let dispatcher = start_sms(&store, &sms)?;
            let monitor = start_monitor(&store, &config).await?;
            let notifier = start_notifier(&store, &config)?;
            let sources = start_sources(&store, &config)?;
            let weekly = start_weekly_report(&store, &config)?;
            let addr = listen.unwrap_or_else(|| config.server.listen.clone());
            let listener = TcpListener::bind(&addr).await.with_context(|| format!("binding {addr}"))?;
            tracing::info!(addr = %listener.local_addr()?, backend = store.backend().as_str(), "vigie serving");
            println!("vigie listening on http://{}", listener.local_addr()?);
            let state = vigie_http::AppState::new(store.clone())
                .with_sms_webhooks(sms.webhooks)
                .with_report_webhooks(config::report_webhooks(&config)?);
            let router = vigie_http::router(state, http_options(&config)).merge(dashboard(&store, &config)?);
            vigie_http::serve(listener, router, shutdown_signal()).await?;
            monitor.abort();
            for task in [notifier, sources, weekly].into_iter().flatten() {
                task.abort();
            }
            if let Some(dispatcher) = dispatcher {
                dispatcher.stop().await;
            }
        }
        Command::Keys { command: KeysCommand::Create { db, role, name } } => {
            let config = Config::load(db.config.as_deref())?;
            let Some(role) = Role::parse(&role) else { bail!("--role: must be admin, dialer, ops or auditor") };
            if name.trim().is_empty() || name.len() > 64 {
                bail!("--name: must be 1 to 64 characters");
            }
            let store = open_store(&db, &config, DataKey::generate().0).await?;
            let key = store.create_key(name.trim(), role, "cli").await?;
            println!("{key}");
            eprintln!("API key for {} ({}) created; it is shown only once.", name.trim(), role.as_str());
        }
        Command::Keys { command: KeysCommand::DataKey } => {
            println!("{}", DataKey::generate().1);
        }
        Command::Keys { command: KeysCommand::PseudonymKey } => {
            println!("{}", vigie_store::PseudonymKey::generate().1);
        }
        Command::Keys { command: KeysCommand::RotateDataKey(args) } => privacy::rotate(args).await?,
        Command::Purge(args) => privacy::purge(args).await?,
        Command::Bloctel { command: BloctelCommand::Import(args) } => compliance::bloctel_import(args).await?,
        Command::Audit { command: AuditCommand::Numbers { db, json } } => {
            if compliance::audit_numbers(&db, json).await? > 0 {
                std::process::exit(1);
            }
        }
        Command::Numbers { command: NumbersCommand::Import { db, file } } => {
            let config = Config::load(db.config.as_deref())?;
            let store = open_store(&db, &config, DataKey::generate().0).await?;
            import::run(&store, &file).await?;
        }
        Command::Reports { command: ReportsCommand::Import { db, file } } => {
            let config = Config::load(db.config.as_deref())?;
            let store = open_store(&db, &config, DataKey::generate().0).await?;
            reports::run(&store, &file).await?;
        }
        Command::Plan(args) => plan::run(&args)?,
        Command::Sim(args) => sim::run(&args)?,
        Command::Demo(args) => demo::run(args).await?,
        Command::Audit { command: AuditCommand::Verify { db } } => {
            let config = Config::load(db.config.as_deref())?;
            let store = open_store(&db, &config, DataKey::generate().0).await?;
            let report = store.verify_audit().await?;
            match report.problem {
                None => println!("audit chain intact: {} entries, head {}", report.entries, report.head_hash),
                Some(p) => {
                    eprintln!("audit chain broken at entry {}: {}", p.seq, p.message);
                    eprintln!("({} entries read before the break)", report.entries);
                    std::process::exit(1);
                }
            }
        }
        Command::Report { command: ReportCommand::Weekly { db, week, out, language } } => {
            let config = Config::load(db.config.as_deref())?;
            let setup = config::weekly_report(&config)?;
            let store = open_store(&db, &config, DataKey::generate().0).await?;
            let language = language.unwrap_or_else(|| setup.language.as_str().to_owned());
            weekly::run(&store, week.as_deref(), out, &language, &setup.centre_name).await?;
        }
        Command::Config => print!("{}", config::EXAMPLE),
        Command::Users { command: UsersCommand::Create { db, role, name, facilities } } => {
            let config = Config::load(db.config.as_deref())?;
            let role = UserRole::parse(&role).map_err(|e| anyhow::anyhow!("--role: {}", e.rule))?;
            let facilities = facilities
                .iter()
                .map(|f| vigie_core::FacilityId::parse(f).map_err(|e| anyhow::anyhow!("--facility {f}: {}", e.rule)))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let (password, generated) = match std::env::var("VIGIE_USER_PASSWORD") {
                Ok(p) if !p.is_empty() => (p, false),
                _ => (vigie_store::generate_password(), true),
            };
            let store = open_store(&db, &config, DataKey::generate().0).await?;
            let user = NewUser { name: name.trim().to_owned(), role, facilities };
            store.create_user(&user, &password, "cli").await?;
            if generated {
                println!("{password}");
                eprintln!(
                    "Dashboard user {} ({}) created; the password above is shown only once.",
                    user.name,
                    role.as_str()
                );
            } else {
                eprintln!("Dashboard user {} ({}) created with VIGIE_USER_PASSWORD.", user.name, role.as_str());
            }
        }
    }
    Ok(())
}
