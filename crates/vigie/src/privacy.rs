//! Data protection in the binary: the data key ring and the pseudonym key (from the
//! environment or the `[store]` section), the legal bases (`[privacy]`) and retention
//! periods (`[retention]`), and the commands `vigie keys rotate-data-key` and
//! `vigie purge`.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use serde::Deserialize;
use vigie_core::Purpose;
use vigie_store::{DataKey, FIRST_KEY_ID, KeyRing, LegalBases, LegalBasis, PseudonymKey, Retention, Store};

use crate::DbArgs;
use crate::config::Config;

/// A secret from the configuration file. Its `Debug` never shows it.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub(crate) struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that uses it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// `[privacy]`: the GDPR Art. 9(2) basis recorded with each purpose's calls.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct PrivacyConfig {
    /// The basis of purposes `legal_basis` does not list.
    pub(crate) legal_basis_default: String,
    /// Purpose → basis. Listing any purpose replaces the whole default table
    /// (`satisfaction_survey` on consent), and then every purpose listed must be one a
    /// pool serves.
    pub(crate) legal_basis: Option<BTreeMap<String, String>>,
}

impl Default for PrivacyConfig {
    fn default() -> PrivacyConfig {
        PrivacyConfig { legal_basis_default: LegalBasis::Care.as_str().to_owned(), legal_basis: None }
    }
}

/// `[retention]`: how long each kind of record is kept, and when the daily purge of
/// `vigie serve` runs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RetentionConfig {
    pub(crate) calls_days: u32,
    pub(crate) reports_days: u32,
    pub(crate) audit_days: u32,
    pub(crate) consents_days: u32,
    pub(crate) purge_at_hour: u8,
    pub(crate) purge_check_minutes: u64,
}

impl Default for RetentionConfig {
    fn default() -> RetentionConfig {
        let r = Retention::default();
        RetentionConfig {
            calls_days: r.calls_days,
            reports_days: r.reports_days,
            audit_days: r.audit_days,
            consents_days: r.consents_days,
            purge_at_hour: 3,
            purge_check_minutes: 10,
        }
    }
}

/// An environment variable, unless unset or blank.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The data keys: `VIGIE_DATA_KEY` (id 1, as before rotation existed) and
/// `VIGIE_DATA_KEYS` (`ID:HEX,…`), sealing with `VIGIE_DATA_KEY_ID` (default 1 when
/// only `VIGIE_DATA_KEY` is set); each falls back to its `[store]` key. `None` when no
/// key is given at all.
pub(crate) fn key_ring(config: &Config) -> anyhow::Result<Option<KeyRing>> {
    let single = env("VIGIE_DATA_KEY").or_else(|| config.store.data_key.as_ref().map(|s| s.0.clone()));
    let list = env("VIGIE_DATA_KEYS").or_else(|| config.store.data_keys.as_ref().map(|s| s.0.clone()));
    let active = match env("VIGIE_DATA_KEY_ID") {
        Some(text) => {
            Some(text.trim().parse::<u8>().ok().filter(|id| *id > 0).context("VIGIE_DATA_KEY_ID: must be 1 to 255")?)
        }
        None => config.store.data_key_id,
    };
    let mut keys = Vec::new();
    if let Some(text) = &single {
        keys.push((FIRST_KEY_ID, DataKey::from_hex(text).context("VIGIE_DATA_KEY / store.data_key")?));
    }
    if let Some(text) = &list {
        keys.extend(KeyRing::parse_list(text).context("VIGIE_DATA_KEYS / store.data_keys")?);
    }
    if keys.is_empty() {
        if active.is_some() {
            bail!("VIGIE_DATA_KEY_ID / store.data_key_id is set but no data key is given");
        }
        return Ok(None);
    }
    let active = match (active, &list) {
        (Some(id), _) => id,
        (None, None) => FIRST_KEY_ID,
        (None, Some(_)) => {
            bail!(
                "VIGIE_DATA_KEY_ID / store.data_key_id must name the key that seals new values when VIGIE_DATA_KEYS is set"
            )
        }
    };
    Ok(Some(KeyRing::new(active, keys).context("VIGIE_DATA_KEYS / VIGIE_DATA_KEY_ID")?))
}

/// The pseudonym key from `VIGIE_PSEUDONYM_KEY` or `store.pseudonym_key`.
pub(crate) fn pseudonym_key(config: &Config) -> anyhow::Result<Option<PseudonymKey>> {
    env("VIGIE_PSEUDONYM_KEY")
        .or_else(|| config.store.pseudonym_key.as_ref().map(|s| s.0.clone()))
        .map(|t| {
            PseudonymKey::from_hex(&t)
                .context("VIGIE_PSEUDONYM_KEY / store.pseudonym_key: must be 64 hexadecimal digits")
        })
        .transpose()
}

/// The legal bases of `[privacy]`, each purpose checked against the pools.
pub(crate) fn legal_bases(config: &Config) -> anyhow::Result<LegalBases> {
    let p = &config.privacy;
    let default = LegalBasis::parse(&p.legal_basis_default).context("privacy.legal_basis_default")?;
    let Some(table) = &p.legal_basis else {
        let defaults = LegalBases::default();
        let survey = Purpose::parse("satisfaction_survey")?;
        return Ok(LegalBases::new(default, BTreeMap::from([(survey.clone(), defaults.for_purpose(&survey))])));
    };
    let catalog = config.catalog()?;
    let mut by_purpose = BTreeMap::new();
    for (purpose, basis) in table {
        let at = || format!("privacy.legal_basis.{purpose}");
        let purpose = Purpose::parse(purpose).with_context(at)?;
        if catalog.pool_for(&purpose).is_none() {
            bail!("{}: no pool serves this purpose", at());
        }
        by_purpose.insert(purpose, LegalBasis::parse(basis).with_context(at)?);
    }
    Ok(LegalBases::new(default, by_purpose))
}

/// The retention periods of `[retention]`, checked.
pub(crate) fn retention(config: &Config) -> anyhow::Result<Retention> {
    let r = &config.retention;
    let retention = Retention {
        calls_days: r.calls_days,
        reports_days: r.reports_days,
        audit_days: r.audit_days,
        consents_days: r.consents_days,
    };
    retention.validate().context("[retention]")?;
    if r.purge_at_hour > 23 {
        bail!("retention.purge_at_hour: must be 0 to 23");
    }
    if !(1..=24 * 60).contains(&r.purge_check_minutes) {
        bail!("retention.purge_check_minutes: must be 1 to 1440");
    }
    Ok(retention)
}

/// Starts the daily retention purge of `vigie serve`.
pub(crate) fn spawn_retention(store: &Store, config: &Config) -> anyhow::Result<()> {
    let worker = vigie_http::RetentionWorker::new(store.clone(), retention(config)?, config.retention.purge_at_hour);
    let period = Duration::from_secs(60 * config.retention.purge_check_minutes);
    tokio::spawn(worker.run(period, std::future::pending()));
    Ok(())
}

/// `vigie keys rotate-data-key`.
#[derive(Args, Debug)]
pub(crate) struct RotateArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Calls re-sealed per transaction (each batch is one short transaction).
    #[arg(long, default_value_t = 500)]
    batch: u32,
}

/// Re-seals every patient phone with the active data key and prints what it rewrote
/// per key id. Exits with 1 when some phones were sealed with a key not configured.
pub(crate) async fn rotate(args: RotateArgs) -> anyhow::Result<()> {
    let config = Config::load(args.db.config.as_deref())?;
    let Some(ring) = key_ring(&config)? else {
        bail!(
            "no data key: set VIGIE_DATA_KEYS=\"1:<old hex>,2:<new hex>\" and VIGIE_DATA_KEY_ID=2 (or VIGIE_DATA_KEY for key 1)"
        );
    };
    if !(1..=10_000).contains(&args.batch) {
        bail!("--batch: must be 1 to 10000");
    }
    let active = ring.active_id();
    let store = crate::open_store(&args.db, &config, ring).await?;
    let done = store.rotate_data_key(args.batch, "cli", |_| {}).await?;
    println!("data key rotation to key {active}: {} calls scanned", done.scanned);
    for (id, n) in &done.rewritten {
        println!("rewrote {n} rows sealed with key {id}");
    }
    if done.rewritten.is_empty() {
        println!("nothing to rewrite: every phone is sealed with key {active} or erased");
    }
    if !done.unreadable.is_empty() {
        for (id, n) in &done.unreadable {
            eprintln!(
                "{n} rows sealed with key {id} could not be opened: add key {id} to VIGIE_DATA_KEYS and run again"
            );
        }
        std::process::exit(1);
    }
    Ok(())
}

/// `vigie purge`.
#[derive(Args, Debug)]
pub(crate) struct PurgeArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Count what would be removed, remove nothing.
    #[arg(long)]
    dry_run: bool,
}

/// Applies the retention periods now and prints what was removed per kind of record.
pub(crate) async fn purge(args: PurgeArgs) -> anyhow::Result<()> {
    let config = Config::load(args.db.config.as_deref())?;
    let retention = retention(&config)?;
    let store = crate::open_store(&args.db, &config, DataKey::generate().0).await?;
    let r = store.purge(&retention, store.now(), args.dry_run, "cli").await?;
    let verb = if r.dry_run { "would remove" } else { "removed" };
    println!("calls: {verb} {} (dialled before {})", r.calls, r.calls_before);
    println!("reports: {verb} {} (made before {})", r.reports, r.reports_before);
    println!("consents: {verb} {} (withdrawn, or last used or given, before {})", r.consents, r.consents_before);
    println!(
        "oppositions: {verb} {} (attempts and refusals the rules no longer count; consents ended before {})",
        r.oppositions, r.consents_before
    );
    println!("audit: {verb} {} (written before {}; a prefix of the chain only)", r.audit, r.audit_before);
    Ok(())
}
