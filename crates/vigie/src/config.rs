//! The configuration file (TOML), read in one place, with documented defaults. Every
//! field is optional; `vigie config` prints the defaults as a commented file.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use serde::Deserialize;
use serde_json::Value;
use vigie_core::{
    ANNOUNCED_PURPOSES, Catalog, DEFAULT_MAX_SEGMENTS, E164, FacilityId, Language, Policy, PoolCode, PoolDef, PoolRole,
    Purpose, QuietPolicy, SenderChoice, SenderId, SignedDuration, SmsQuietHours, SmsTiming, SmsWindow, Template,
    TimeRange, default_template_text,
};
use vigie_sms::{ConfigError, HttpConfig, HttpProvider, SmppConfig, WebhookConfig};
use vigie_store::{Facility, PurposeSms, SmsPolicy};

use crate::privacy::{PrivacyConfig, RetentionConfig, Secret};
use crate::sms::{DispatchConfig, ProviderKind, ProviderSpec};

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    #[serde(default)]
    pub(crate) server: ServerConfig,
    #[serde(default)]
    pub(crate) store: StoreConfig,
    #[serde(default)]
    pub(crate) calls: CallsConfig,
    #[serde(default)]
    pub(crate) pools: Vec<PoolConfig>,
    #[serde(default)]
    pub(crate) facilities: Vec<FacilityConfig>,
    #[serde(default)]
    pub(crate) privacy: PrivacyConfig,
    #[serde(default)]
    pub(crate) retention: RetentionConfig,
    #[serde(default)]
    pub(crate) compliance: crate::compliance::ComplianceConfig,
    #[serde(default)]
    pub(crate) sms: SmsConfig,
    #[serde(default)]
    pub(crate) monitoring: MonitoringConfig,
    #[serde(default)]
    pub(crate) reports: ReportsConfig,
    #[serde(default)]
    pub(crate) alerts: AlertsConfig,
    #[serde(default)]
    pub(crate) weekly_report: WeeklyReportConfig,
    #[serde(default)]
    pub(crate) sources: Vec<SourceConfig>,
}

/// `[[sources]]`: an external reputation source read over HTTP as JSON.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SourceConfig {
    name: String,
    /// community_db, verification_tool or app_label.
    kind: String,
    /// With {number} (E.164) or {national} (0XXXXXXXXX).
    url: String,
    auth_header: Option<String>,
    auth_value: Option<crate::privacy::Secret>,
    /// JSON path of the score ($.data.score) and its scale.
    score_path: Option<String>,
    score_min: Option<f64>,
    score_max: Option<f64>,
    /// Whether a higher raw score means more trusted (default true).
    score_higher_is_better: Option<bool>,
    /// A score (0-100, 100 trusted) at or under this flags the number.
    flag_below_score: Option<f64>,
    /// JSON path of the flag ($.listed) and the values that mean flagged (default: true).
    flagged_path: Option<String>,
    #[serde(default)]
    flagged_values: Vec<toml::Value>,
    label_path: Option<String>,
    /// A 404 means "not listed" (default true for community_db).
    not_found_is_clean: Option<bool>,
    /// Minutes between rounds (default 60).
    interval_minutes: Option<u64>,
    timeout_ms: Option<u64>,
    /// What a flag does: quarantine (default) or alert.
    on_flag: Option<String>,
}

/// The sources of `[[sources]]`, each checked; and what a flag does (the strictest
/// asked by any source: quarantine unless every source says alert).
pub(crate) fn sources(
    config: &Config,
) -> anyhow::Result<(Vec<crate::sources::HttpSourceConfig>, crate::sources::OnFlag)> {
    use crate::sources::{HttpSourceConfig, JsonPath, OnFlag};
    let mut out: Vec<HttpSourceConfig> = Vec::new();
    let mut on_flag = OnFlag::Alert;
    for (i, c) in config.sources.iter().enumerate() {
        let at = format!("sources[{i}]");
        if c.name.trim().is_empty() || out.iter().any(|o| o.name == c.name) {
            bail!("{at}.name: must be set and unique");
        }
        if !["community_db", "verification_tool", "app_label"].contains(&c.kind.as_str()) {
            bail!("{at}.kind: must be community_db, verification_tool or app_label");
        }
        if !(c.url.starts_with("http://") || c.url.starts_with("https://"))
            || !(c.url.contains("{number}") || c.url.contains("{national}"))
        {
            bail!("{at}.url: must be an http(s) URL with {{number}} or {{national}}");
        }
        let path = |key: &str, p: &Option<String>| -> anyhow::Result<Option<JsonPath>> {
            p.as_deref().map(|t| JsonPath::parse(t).map_err(|e| anyhow!("{at}.{key}: {e}"))).transpose()
        };
        let score = match path("score_path", &c.score_path)? {
            None => None,
            Some(p) => {
                let (min, max) = (c.score_min.unwrap_or(0.0), c.score_max.unwrap_or(100.0));
                if !(min.is_finite() && max.is_finite() && min < max) {
                    bail!("{at}.score_min, score_max: must be numbers with min < max");
                }
                Some((p, min, max, c.score_higher_is_better.unwrap_or(true)))
            }
        };
        let flagged = path("flagged_path", &c.flagged_path)?.map(|p| {
            let values = c.flagged_values.iter().map(|v| serde_json::to_value(v).unwrap_or(Value::Null)).collect();
            (p, values)
        });
        if score.is_none() && flagged.is_none() {
            bail!("{at}: give score_path or flagged_path (or both)");
        }
        let auth = match (&c.auth_header, &c.auth_value) {
            (Some(h), Some(v)) => Some((h.clone(), v.expose().to_owned())),
            (None, None) => None,
            _ => bail!("{at}.auth_header, auth_value: give both or neither"),
        };
        match c.on_flag.as_deref().unwrap_or("quarantine") {
            "quarantine" => on_flag = OnFlag::Quarantine,
            "alert" => {}
            _ => bail!("{at}.on_flag: must be quarantine or alert"),
        }
        let interval = c.interval_minutes.unwrap_or(60);
        if !(1..=7 * 24 * 60).contains(&interval) {
            bail!("{at}.interval_minutes: must be between 1 and 10080");
        }
        out.push(HttpSourceConfig {
            name: c.name.clone(),
            kind: c.kind.clone(),
            url: c.url.clone(),
            auth,
            score,
            flagged,
            flag_below_score: c.flag_below_score,
            label: path("label_path", &c.label_path)?,
            not_found_is_clean: c.not_found_is_clean.unwrap_or(c.kind == "community_db"),
            interval: Duration::from_secs(interval * 60),
            timeout: Duration::from_millis(c.timeout_ms.unwrap_or(10_000)),
        });
    }
    Ok((out, on_flag))
}

/// `[alerts]`: where alerts are sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct AlertsConfig {
    /// The language of the alert e-mails: fr or en.
    language: String,
    /// How often waiting alerts are sent, in milliseconds.
    interval_ms: u64,
    channels: Vec<AlertChannelConfig>,
}

impl Default for AlertsConfig {
    fn default() -> AlertsConfig {
        AlertsConfig { language: "fr".into(), interval_ms: 1_000, channels: Vec::new() }
    }
}

/// `[[alerts.channels]]`: a signed webhook or an e-mail relay.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertChannelConfig {
    name: String,
    /// `webhook` or `email`.
    kind: String,
    // webhook
    url: Option<String>,
    secret: Option<crate::privacy::Secret>,
    // email
    host: Option<String>,
    port: Option<u16>,
    /// none, starttls (default) or tls.
    security: Option<String>,
    username: Option<String>,
    password: Option<crate::privacy::Secret>,
    from: Option<String>,
    to: Option<Vec<String>>,
    /// A PEM file of a CA to trust beside the usual roots.
    ca_file: Option<String>,
    timeout_ms: Option<u64>,
}

/// The alert channels of `[[alerts.channels]]`, built, and how alerts are sent.
pub(crate) struct AlertSetup {
    /// Every channel.
    pub(crate) channels: Vec<Box<dyn vigie_alert::Channel>>,
    /// The language of the e-mails.
    pub(crate) language: Language,
    /// How often waiting alerts are sent.
    pub(crate) interval: Duration,
}

/// The setup of `[alerts]`, every field checked; an error names the key and the rule.
pub(crate) fn alert_channels(config: &Config) -> anyhow::Result<AlertSetup> {
    let c = &config.alerts;
    let language = Language::parse(&c.language).map_err(|e| anyhow!("alerts.language: {}", e.rule))?;
    if !(100..=60_000).contains(&c.interval_ms) {
        bail!("alerts.interval_ms: must be between 100 and 60000");
    }
    let mut channels: Vec<Box<dyn vigie_alert::Channel>> = Vec::new();
    for (i, ch) in c.channels.iter().enumerate() {
        let at = format!("alerts.channels[{i}]");
        let need = |v: Option<&String>, key: &str| {
            v.cloned().ok_or_else(|| anyhow!("{at}.{key}: is required for a {} channel", ch.kind))
        };
        let built = |e: vigie_alert::ConfigError| anyhow!("{at}.{}: {}", e.field, e.rule);
        let timeout = ch.timeout_ms.map(Duration::from_millis);
        match ch.kind.as_str() {
            "webhook" => {
                let url = need(ch.url.as_ref(), "url")?;
                let secret =
                    ch.secret.as_ref().ok_or_else(|| anyhow!("{at}.secret: is required for a webhook channel"))?;
                if secret.expose().len() < 16 {
                    bail!("{at}.secret: must be at least 16 characters");
                }
                let mut w = vigie_alert::WebhookConfig::new(&ch.name, &url, secret.expose().as_bytes());
                if let Some(t) = timeout {
                    w.timeout = t;
                }
                channels.push(Box::new(vigie_alert::WebhookChannel::new(w).map_err(built)?));
            }
            "email" => {
                let e = email_config(&at, ch)?;
                channels.push(Box::new(vigie_alert::EmailChannel::new(e).map_err(built)?));
            }
            other => bail!("{at}.kind: must be webhook or email (found {other})"),
        }
    }
    Ok(AlertSetup { channels, language, interval: Duration::from_millis(c.interval_ms) })
}

/// The relay settings of an `email` channel of `[[alerts.channels]]`.
fn email_config(at: &str, ch: &AlertChannelConfig) -> anyhow::Result<vigie_alert::EmailConfig> {
    let need = |v: Option<&String>, key: &str| {
        v.cloned().ok_or_else(|| anyhow!("{at}.{key}: is required for a {} channel", ch.kind))
    };
    let timeout = ch.timeout_ms.map(Duration::from_millis);
    let host = need(ch.host.as_ref(), "host")?;
    let from = need(ch.from.as_ref(), "from")?;
    let to = ch.to.clone().ok_or_else(|| anyhow!("{at}.to: is required for an email channel"))?;
    let to: Vec<&str> = to.iter().map(String::as_str).collect();
    let mut e = vigie_alert::EmailConfig::new(&ch.name, &host, &from, &to);
    e.security = match ch.security.as_deref().unwrap_or("starttls") {
        "none" => vigie_alert::SmtpSecurity::None,
        "starttls" => vigie_alert::SmtpSecurity::StartTls,
        "tls" => vigie_alert::SmtpSecurity::Tls,
        _ => bail!("{at}.security: must be none, starttls or tls"),
    };
    if let Some(port) = ch.port {
        e.port = port;
    }
    if let (Some(username), Some(password)) = (&ch.username, &ch.password) {
        e.credentials =
            Some(vigie_alert::SmtpCredentials { username: username.clone(), password: password.expose().to_owned() });
    } else if ch.username.is_some() || ch.password.is_some() {
        bail!("{at}.username, password: give both or neither");
    }
    if let Some(file) = &ch.ca_file {
        e.root_ca_pem = Some(std::fs::read_to_string(file).with_context(|| format!("{at}.ca_file: reading {file}"))?);
    }
    if let Some(t) = timeout {
        e.timeout = t;
    }
    Ok(e)
}

/// `[weekly_report]`: the report `vigie serve` e-mails every Monday at 08:00
/// Europe/Paris, through the `email` channels of `[[alerts.channels]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct WeeklyReportConfig {
    /// Whether `vigie serve` sends it (default false).
    enabled: bool,
    /// Its recipients (the operations managers); empty: each e-mail channel's own `to`.
    to: Vec<String>,
    /// fr or en; default: `alerts.language`.
    language: Option<String>,
    /// The centre's name, under the report's title.
    centre_name: String,
}

impl Default for WeeklyReportConfig {
    fn default() -> WeeklyReportConfig {
        WeeklyReportConfig { enabled: false, to: Vec::new(), language: None, centre_name: "Vigie".into() }
    }
}

/// The weekly report's channels, language and centre name.
pub(crate) struct WeeklyReportSetup {
    /// Whether `vigie serve` sends it.
    pub(crate) enabled: bool,
    /// The e-mail channels, with `weekly_report.to` as their recipients when given.
    pub(crate) channels: Vec<Box<dyn vigie_alert::Channel>>,
    /// The report's language.
    pub(crate) language: Language,
    /// Shown under the title.
    pub(crate) centre_name: String,
}

/// The setup of `[weekly_report]`, checked; an error names the key and the rule.
pub(crate) fn weekly_report(config: &Config) -> anyhow::Result<WeeklyReportSetup> {
    let c = &config.weekly_report;
    let language = match &c.language {
        Some(l) => Language::parse(l).map_err(|e| anyhow!("weekly_report.language: {}", e.rule))?,
        None => Language::parse(&config.alerts.language).map_err(|e| anyhow!("alerts.language: {}", e.rule))?,
    };
    if c.centre_name.trim().is_empty() || c.centre_name.chars().count() > 120 {
        bail!("weekly_report.centre_name: must be 1 to 120 characters");
    }
    let mut channels: Vec<Box<dyn vigie_alert::Channel>> = Vec::new();
    for (i, ch) in config.alerts.channels.iter().enumerate().filter(|(_, ch)| ch.kind == "email") {
        let at = format!("alerts.channels[{i}]");
        let mut e = email_config(&at, ch)?;
        if !c.to.is_empty() {
            e.to = c.to.clone();
        }
        let built = |e: vigie_alert::ConfigError| {
            let key = if e.field == "to" { "weekly_report.to".to_owned() } else { format!("{at}.{}", e.field) };
            anyhow!("{key}: {}", e.rule)
        };
        channels.push(Box::new(vigie_alert::EmailChannel::new(e).map_err(built)?));
    }
    if c.enabled && channels.is_empty() {
        bail!("weekly_report.enabled: the report goes by e-mail, and no [[alerts.channels]] has kind = \"email\"");
    }
    Ok(WeeklyReportSetup { enabled: c.enabled, channels, language, centre_name: c.centre_name.trim().to_owned() })
}

/// `[reports]`: the feeds that push spam reports to `POST /v1/reports/inbound/{name}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ReportsConfig {
    webhooks: Vec<ReportWebhookConfig>,
}

/// `[[reports.webhooks]]`: one feed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportWebhookConfig {
    /// Its name, in the URL.
    name: String,
    /// The shared secret of its signature, at least 16 characters.
    secret: crate::privacy::Secret,
    /// The source its reports are filed under (community_db, app_label, carrier,
    /// verification_tool, patient, agent).
    source: String,
}

/// The report feeds of `[[reports.webhooks]]`, each checked.
pub(crate) fn report_webhooks(config: &Config) -> anyhow::Result<Vec<vigie_http::ReportWebhook>> {
    let mut out: Vec<vigie_http::ReportWebhook> = Vec::new();
    for (i, w) in config.reports.webhooks.iter().enumerate() {
        let at = format!("reports.webhooks[{i}]");
        let ok_name = !w.name.is_empty()
            && w.name.len() <= 64
            && w.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !ok_name {
            bail!("{at}.name: must be 1 to 64 lowercase letters, digits, - or _");
        }
        if out.iter().any(|o| o.name == w.name) {
            bail!("{at}.name: {} is used twice", w.name);
        }
        if w.secret.expose().len() < 16 {
            bail!("{at}.secret: must be at least 16 characters");
        }
        let source = vigie_core::ReportSource::parse(&w.source).map_err(|e| anyhow!("{at}.source: {}", e.rule))?;
        out.push(vigie_http::ReportWebhook {
            name: w.name.clone(),
            secret: w.secret.expose().as_bytes().to_vec(),
            source,
        });
    }
    Ok(out)
}

/// `[monitoring]`: reputation monitoring. Every key is optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct MonitoringConfig {
    /// How often call outcomes are read, in milliseconds.
    interval_ms: u64,
    /// Days of history the answer-rate baselines are built from.
    history_days: u32,
    /// Tolerated false quarantines (alarms on healthy numbers) per pool per month.
    false_quarantines_per_month: f64,
    /// Tolerated false pool alerts per pool per month.
    false_pool_alerts_per_month: f64,
    /// Pools whose numbers are only alerted on, not quarantined, when their answer rate falls.
    alert_only_pools: Vec<String>,
    /// An alert with the key of one raised less than this many hours ago is a repeat.
    alert_dedup_hours: u32,
    /// Most alerts notified per hour (critical ones always are).
    alerts_per_hour: u32,
    /// Hours a quarantined number waits before it may return to service.
    cool_down_hours: u32,
}

impl Default for MonitoringConfig {
    fn default() -> MonitoringConfig {
        MonitoringConfig {
            interval_ms: 500,
            history_days: 28,
            false_quarantines_per_month: 1.0,
            false_pool_alerts_per_month: 1.0,
            alert_only_pools: Vec::new(),
            alert_dedup_hours: 6,
            alerts_per_hour: 20,
            cool_down_hours: 72,
        }
    }
}

/// The monitor's settings and the incidents' playbook from `[monitoring]`, each value
/// checked; an error names the key and the rule.
pub(crate) fn monitoring(
    config: &Config,
    catalog: &Catalog,
) -> anyhow::Result<(crate::monitor::MonitorSettings, vigie_core::Playbook)> {
    let c = &config.monitoring;
    if !(50..=60_000).contains(&c.interval_ms) {
        bail!("monitoring.interval_ms: must be between 50 and 60000");
    }
    if !(1..=365).contains(&c.history_days) {
        bail!("monitoring.history_days: must be between 1 and 365");
    }
    for (value, key) in [
        (c.false_quarantines_per_month, "false_quarantines_per_month"),
        (c.false_pool_alerts_per_month, "false_pool_alerts_per_month"),
    ] {
        if !(value > 0.0 && value <= 1_000.0) {
            bail!("monitoring.{key}: must be more than 0 and at most 1000");
        }
    }
    if !(1..=24 * 7).contains(&c.alert_dedup_hours) {
        bail!("monitoring.alert_dedup_hours: must be between 1 and 168");
    }
    if !(1..=10_000).contains(&c.alerts_per_hour) {
        bail!("monitoring.alerts_per_hour: must be between 1 and 10000");
    }
    if !(1..=24 * 90).contains(&c.cool_down_hours) {
        bail!("monitoring.cool_down_hours: must be between 1 and 2160");
    }
    let mut on_number_alarm = HashMap::new();
    for (i, code) in c.alert_only_pools.iter().enumerate() {
        let pool = PoolCode::parse(code).map_err(|e| anyhow!("monitoring.alert_only_pools[{i}]: {}", e.rule))?;
        if catalog.pool(&pool).is_none() {
            bail!("monitoring.alert_only_pools[{i}]: pool {pool} is not configured");
        }
        on_number_alarm.insert(pool, vigie_core::AlarmAction::AlertOnly);
    }
    let settings = crate::monitor::MonitorSettings {
        interval: Duration::from_millis(c.interval_ms),
        history_days: c.history_days,
        false_quarantines_per_month: c.false_quarantines_per_month,
        false_pool_alerts_per_month: c.false_pool_alerts_per_month,
        on_number_alarm,
        alerts: vigie_core::AlertPolicy {
            dedup_window: SignedDuration::from_hours(i64::from(c.alert_dedup_hours)),
            max_per_hour: c.alerts_per_hour,
            critical_bypasses_rate_limit: true,
        },
        ..crate::monitor::MonitorSettings::default()
    };
    let playbook = vigie_core::Playbook {
        cool_down: SignedDuration::from_hours(i64::from(c.cool_down_hours)),
        ..vigie_core::Playbook::default()
    };
    Ok((settings, playbook))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ServerConfig {
    pub(crate) listen: String,
    pub(crate) body_bytes_max: usize,
    pub(crate) request_timeout_s: u64,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig { listen: "127.0.0.1:8080".into(), body_bytes_max: 64 * 1024, request_timeout_s: 30 }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct StoreConfig {
    pub(crate) database_url: Option<String>,
    /// Hex data key for patient phones (key id 1); `VIGIE_DATA_KEY` overrides it.
    pub(crate) data_key: Option<Secret>,
    /// More data keys, `ID:HEX,…`; `VIGIE_DATA_KEYS` overrides it.
    pub(crate) data_keys: Option<Secret>,
    /// The id of the key that seals new values; `VIGIE_DATA_KEY_ID` overrides it.
    pub(crate) data_key_id: Option<u8>,
    /// Hex key of the patient reference pseudonyms; `VIGIE_PSEUDONYM_KEY` overrides it.
    pub(crate) pseudonym_key: Option<Secret>,
    pub(crate) max_connections: u32,
    pub(crate) batch_max: usize,
    pub(crate) queue_max: usize,
}

impl Default for StoreConfig {
    fn default() -> StoreConfig {
        StoreConfig {
            database_url: None,
            data_key: None,
            data_keys: None,
            data_key_id: None,
            pseudonym_key: None,
            max_connections: 8,
            batch_max: 512,
            queue_max: 8192,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct CallsConfig {
    pub(crate) time_zone: String,
    pub(crate) dial_at_past_max_minutes: i64,
    pub(crate) dial_at_ahead_max_days: i64,
}

impl Default for CallsConfig {
    fn default() -> CallsConfig {
        CallsConfig { time_zone: "Europe/Paris".into(), dial_at_past_max_minutes: 5, dial_at_ahead_max_days: 14 }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PoolConfig {
    pub(crate) code: String,
    role: String,
    #[serde(default)]
    purposes: Vec<String>,
    geographic: Option<bool>,
    calls_per_day_max: Option<u32>,
    intensive_calls_min: Option<u32>,
    intensive_days_before_rest: Option<u32>,
    rest_hours: Option<u32>,
    healthy_calls_per_day: Option<u32>,
    reports_per_day_to_quarantine: Option<u32>,
    reserve_margin_percent: Option<u32>,
    /// How the pool's calls are dialled: agent (default), preview, progressive or
    /// predictive (compliance.rs).
    pub(crate) dialling: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FacilityConfig {
    id: String,
    name: String,
    display_name: String,
    city: String,
    callback: String,
}

impl Config {
    /// Reads a file, or the defaults when there is none.
    pub(crate) fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        let Some(path) = path else { return Ok(Config::default()) };
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Config::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    pub(crate) fn parse(text: &str) -> anyhow::Result<Config> {
        let config: Config = toml::from_str(text)?;
        config.catalog()?;
        config.facilities()?;
        crate::privacy::legal_bases(&config)?;
        crate::privacy::retention(&config)?;
        crate::compliance::options(&config)?;
        sms(&config)?;
        Ok(config)
    }

    /// The pools: the configured ones, or the seed's six.
    pub(crate) fn catalog(&self) -> anyhow::Result<Catalog> {
        if self.pools.is_empty() {
            return Ok(Catalog::seed_defaults());
        }
        let mut defs = Vec::new();
        for (i, p) in self.pools.iter().enumerate() {
            let ctx = || format!("pools[{i}] ({})", p.code);
            let d = Policy::default();
            let policy = Policy {
                calls_per_day_max: p.calls_per_day_max.unwrap_or(d.calls_per_day_max),
                intensive_calls_min: p.intensive_calls_min.unwrap_or(d.intensive_calls_min),
                intensive_days_before_rest: p.intensive_days_before_rest.unwrap_or(d.intensive_days_before_rest),
                rest_hours: p.rest_hours.unwrap_or(d.rest_hours),
                healthy_calls_per_day: p.healthy_calls_per_day.unwrap_or(d.healthy_calls_per_day),
                reports_per_day_to_quarantine: p
                    .reports_per_day_to_quarantine
                    .unwrap_or(d.reports_per_day_to_quarantine),
                reserve_margin_percent: p.reserve_margin_percent.unwrap_or(d.reserve_margin_percent),
                geographic: p.geographic.unwrap_or(false),
            };
            policy.validate().with_context(ctx)?;
            defs.push(PoolDef {
                code: PoolCode::parse(&p.code).with_context(ctx)?,
                role: PoolRole::parse(&p.role).with_context(ctx)?,
                purposes: p.purposes.iter().map(|x| Purpose::parse(x)).collect::<Result<_, _>>().with_context(ctx)?,
                policy,
            });
        }
        Ok(Catalog::new(defs)?)
    }

    /// The facilities declared in the file.
    pub(crate) fn facilities(&self) -> anyhow::Result<Vec<Facility>> {
        self.facilities
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let ctx = || format!("facilities[{i}] ({})", f.id);
                if f.display_name.trim().is_empty() || f.display_name.chars().count() > 64 {
                    bail!("facilities[{i}].display_name: must be 1 to 64 characters");
                }
                Ok(Facility {
                    id: FacilityId::parse(&f.id).with_context(ctx)?,
                    name: f.name.clone(),
                    display_name: f.display_name.clone(),
                    city: f.city.clone(),
                    callback: E164::parse(&f.callback).with_context(|| format!("facilities[{i}].callback"))?,
                })
            })
            .collect()
    }
}

// ----- [sms] -----

/// `[sms]`: the pre-call SMS. Every key is optional: by default the patient calls are
/// announced (README, "Pre-call SMS") with the French texts, from the caller number.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct SmsConfig {
    /// The purposes whose calls are announced; `[]` announces none.
    announce: Vec<String>,
    /// The language of the default texts: fr or en.
    language: String,
    /// The sender of facilities without their own: `caller` or an alphanumeric ID.
    sender: String,
    /// The provider of facilities without their own; default: the first listed.
    provider: Option<String>,
    dispatch_interval_ms: u64,
    dispatch_batch_max: u32,
    events_max: usize,
    /// A submitted SMS without a delivery receipt after this many minutes ends as
    /// `expired` (a later delivery receipt still settles it as delivered).
    receipt_timeout_minutes: u32,
    /// Purpose → its window, quiet hours and text.
    purposes: BTreeMap<String, PurposeSmsConfig>,
    /// Facility → its sender, provider and texts.
    facilities: BTreeMap<String, FacilitySmsConfig>,
    providers: Vec<SmsProviderConfig>,
}

impl Default for SmsConfig {
    fn default() -> SmsConfig {
        SmsConfig {
            announce: ANNOUNCED_PURPOSES.iter().map(|p| (*p).to_owned()).collect(),
            language: Language::Fr.as_str().to_owned(),
            sender: SENDER_CALLER.to_owned(),
            provider: None,
            dispatch_interval_ms: 1_000,
            dispatch_batch_max: 100,
            events_max: 1_024,
            receipt_timeout_minutes: 24 * 60,
            purposes: BTreeMap::new(),
            facilities: BTreeMap::new(),
            providers: Vec::new(),
        }
    }
}

/// The sender value that means "the number the call comes from".
const SENDER_CALLER: &str = "caller";

/// `[sms.purposes.NAME]`: each key falls back to its default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PurposeSmsConfig {
    lead_max_minutes: Option<u32>,
    lead_min_minutes: Option<u32>,
    hours: Option<String>,
    quiet_policy: Option<String>,
    quiet_lead_max_hours: Option<u32>,
    sundays_allowed: Option<bool>,
    holidays_allowed: Option<bool>,
    template: Option<String>,
    max_segments: Option<u32>,
    require_announcement: Option<bool>,
    stop_ends_calls: Option<bool>,
}

/// `[sms.facilities.ID]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FacilitySmsConfig {
    sender: Option<String>,
    provider: Option<String>,
    /// Purpose → text.
    #[serde(default)]
    templates: BTreeMap<String, String>,
}

/// `[[sms.providers]]`: the keys of its `kind` only.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SmsProviderConfig {
    name: String,
    kind: String,
    failover: Option<String>,
    // smpp
    address: Option<String>,
    system_id: Option<String>,
    password: Option<Secret>,
    system_type: Option<String>,
    enquire_link_s: Option<u64>,
    // smpp and http
    window: Option<usize>,
    messages_per_second: Option<u32>,
    // http
    url: Option<String>,
    headers: Option<BTreeMap<String, Secret>>,
    body: Option<serde_json::Value>,
    message_id_pointer: Option<String>,
    timeout_s: Option<u64>,
    webhook_secret: Option<Secret>,
    webhook_signature_header: Option<String>,
    webhook_message_id_pointer: Option<String>,
    webhook_status_pointer: Option<String>,
    // log
    delay_ms: Option<u64>,
}

/// What `[sms]` sets up: the store's policy, the dispatcher's providers, and the
/// receipt webhooks of the HTTP gateways.
#[derive(Debug)]
pub(crate) struct SmsSetup {
    /// Which calls are announced, when, with which text, from whom.
    pub(crate) policy: SmsPolicy,
    /// The providers and which facility uses which.
    pub(crate) dispatch: DispatchConfig,
    /// The signed receipt webhooks (`POST /v1/sms/receipts/{provider}`).
    pub(crate) webhooks: Vec<WebhookConfig>,
}

/// The setup of `[sms]`, every value checked; an error names the key and the rule.
pub(crate) fn sms(config: &Config) -> anyhow::Result<SmsSetup> {
    let c = &config.sms;
    let language = Language::parse(&c.language).map_err(|e| anyhow!("sms.language: {}", e.rule))?;
    if !(10..=60_000).contains(&c.dispatch_interval_ms) {
        bail!("sms.dispatch_interval_ms: must be between 10 and 60000");
    }
    if !(1..=10_000).contains(&c.dispatch_batch_max) {
        bail!("sms.dispatch_batch_max: must be between 1 and 10000");
    }
    if !(1..=100_000).contains(&c.events_max) {
        bail!("sms.events_max: must be between 1 and 100000");
    }
    if !(10..=7 * 24 * 60).contains(&c.receipt_timeout_minutes) {
        bail!("sms.receipt_timeout_minutes: must be between 10 and 10080 (a week)");
    }
    let rules = crate::compliance::options(config)?.rules;
    let mut announced = Vec::new();
    for (i, name) in c.announce.iter().enumerate() {
        announced.push(Purpose::parse(name).map_err(|e| anyhow!("sms.announce[{i}]: `{name}`: {}", e.rule))?);
    }
    for name in c.purposes.keys() {
        Purpose::parse(name).map_err(|e| anyhow!("sms.purposes.{name}: {}", e.rule))?;
    }
    // Every purpose configured is checked, announced or not.
    let mut policy = SmsPolicy {
        receipt_timeout: vigie_core::SignedDuration::from_mins(i64::from(c.receipt_timeout_minutes)),
        ..SmsPolicy::default()
    };
    let mut max_segments = HashMap::new();
    let no_settings = PurposeSmsConfig::default();
    let configured = c.purposes.keys().filter_map(|p| Purpose::parse(p).ok());
    for purpose in announced.iter().cloned().chain(configured) {
        let settings = c.purposes.get(purpose.as_str()).unwrap_or(&no_settings);
        let sms = purpose_sms(&purpose, settings, language, &rules)?;
        max_segments.insert(purpose.clone(), sms.template.max_segments());
        if announced.contains(&purpose) {
            policy.purposes.insert(purpose, sms);
        }
    }
    policy.default_sender = Some(sender_choice("sms.sender", &c.sender)?);
    let providers = sms_providers(c)?;
    let names: Vec<&str> = providers.0.iter().map(|p| p.name.as_str()).collect();
    if let Some(name) = &c.provider
        && !names.contains(&name.as_str())
    {
        bail!("sms.provider: no [[sms.providers]] is named `{name}`");
    }
    let mut facility_providers = HashMap::new();
    for (id, f) in &c.facilities {
        let at = format!("sms.facilities.{id}");
        let facility = FacilityId::parse(id).map_err(|e| anyhow!("{at}: {}", e.rule))?;
        if let Some(text) = &f.sender {
            policy.senders.insert(facility.clone(), sender_choice(&format!("{at}.sender"), text)?);
        }
        if let Some(name) = &f.provider {
            if !names.contains(&name.as_str()) {
                bail!("{at}.provider: no [[sms.providers]] is named `{name}`");
            }
            facility_providers.insert(facility.clone(), name.clone());
        }
        for (purpose, text) in &f.templates {
            let key = format!("{at}.templates.{purpose}");
            let purpose = Purpose::parse(purpose).map_err(|e| anyhow!("{key}: {}", e.rule))?;
            let max = max_segments.get(&purpose).copied().unwrap_or(DEFAULT_MAX_SEGMENTS);
            let template = Template::parse(&key, text, max)?;
            if let Some(p) = policy.purposes.get_mut(&purpose) {
                p.facility_templates.insert(facility.clone(), template);
            }
        }
    }
    let (providers, webhooks) = providers;
    let dispatch = DispatchConfig {
        providers,
        default_provider: c.provider.clone(),
        facility_providers,
        interval: Duration::from_millis(c.dispatch_interval_ms),
        batch_max: c.dispatch_batch_max,
        events_max: c.events_max,
    };
    Ok(SmsSetup { policy, dispatch, webhooks })
}

/// One purpose's SMS: its timing, checked, and its template, parsed.
fn purpose_sms(
    purpose: &Purpose,
    c: &PurposeSmsConfig,
    language: Language,
    rules: &vigie_core::ComplianceRules,
) -> anyhow::Result<PurposeSms> {
    let at = format!("sms.purposes.{purpose}");
    let lead_max = c.lead_max_minutes.unwrap_or(30);
    let lead_min = c.lead_min_minutes.unwrap_or(15);
    let window = SmsWindow::new(lead_max, lead_min).map_err(|e| anyhow!("{at}.{}: {}", e.field, e.rule))?;
    let allowed = match &c.hours {
        Some(text) => TimeRange::parse(text).map_err(|e| anyhow!("{at}.hours: {}", e.rule))?,
        None => SmsQuietHours::default().allowed,
    };
    let policy = match c.quiet_policy.as_deref().unwrap_or("latest_before") {
        "latest_before" => {
            let hours = c.quiet_lead_max_hours.unwrap_or(18);
            if u64::from(hours) * 60 < u64::from(lead_max) || hours > 7 * 24 {
                bail!(
                    "{at}.quiet_lead_max_hours: must be between the window's lead_max_minutes ({lead_max} minutes) and 168 hours"
                );
            }
            QuietPolicy::LatestBefore { lead_max: SignedDuration::from_hours(i64::from(hours)) }
        }
        "delay_call" => {
            if c.quiet_lead_max_hours.is_some() {
                bail!("{at}.quiet_lead_max_hours: only with quiet_policy = \"latest_before\"");
            }
            QuietPolicy::DelayCall
        }
        other => bail!("{at}.quiet_policy: `{other}` must be latest_before or delay_call"),
    };
    let timing = SmsTiming {
        window,
        quiet: SmsQuietHours {
            allowed,
            sundays_allowed: c.sundays_allowed.unwrap_or(false),
            holidays_allowed: c.holidays_allowed.unwrap_or(false),
        },
        policy,
        holidays: rules.holidays.clone(),
        search_days: rules.search_days,
    };
    timing.validate().map_err(|e| anyhow!("{at}: {e}"))?;
    let max_segments = c.max_segments.unwrap_or(DEFAULT_MAX_SEGMENTS);
    let template = match &c.template {
        Some(text) => Template::parse(&format!("{at}.template"), text, max_segments)?,
        None => {
            let Some(text) = default_template_text(purpose.as_str(), language) else {
                bail!("{at}.template: required: {purpose} has no default text");
            };
            Template::parse(&format!("{at}.template (the default {language} text)"), text, max_segments)?
        }
    };
    Ok(PurposeSms {
        timing,
        template,
        facility_templates: HashMap::new(),
        require_announcement: c.require_announcement.unwrap_or(true),
        stop_ends_calls: c.stop_ends_calls.unwrap_or(purpose.as_str() == "satisfaction_survey"),
    })
}

/// `caller`, or an alphanumeric sender ID.
fn sender_choice(key: &str, text: &str) -> anyhow::Result<SenderChoice> {
    if text == SENDER_CALLER {
        return Ok(SenderChoice::CallerNumber);
    }
    let id = SenderId::parse(text).map_err(|e| anyhow!("{key}: `{text}`: {} (or \"{SENDER_CALLER}\")", e.rule))?;
    Ok(SenderChoice::Alphanumeric(id))
}

/// The providers of `[[sms.providers]]`, each checked, and the HTTP gateways' webhooks.
fn sms_providers(c: &SmsConfig) -> anyhow::Result<(Vec<ProviderSpec>, Vec<WebhookConfig>)> {
    let names: Vec<&str> = c.providers.iter().map(|p| p.name.as_str()).collect();
    let mut specs = Vec::new();
    let mut webhooks = Vec::new();
    for (i, p) in c.providers.iter().enumerate() {
        let at = format!("sms.providers[{i}] ({})", p.name);
        let ok_name = (1..=32).contains(&p.name.len())
            && p.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok_name {
            bail!("sms.providers[{i}].name: `{}` must be 1 to 32 letters, digits, '-' or '_'", p.name);
        }
        if names.iter().filter(|n| **n == p.name).count() > 1 {
            bail!("{at}.name: two providers are named `{}`", p.name);
        }
        if let Some(other) = &p.failover {
            if *other == p.name {
                bail!("{at}.failover: must name another provider");
            }
            if !names.contains(&other.as_str()) {
                bail!("{at}.failover: no [[sms.providers]] is named `{other}`");
            }
        }
        let keys = [
            ("address", p.address.is_some()),
            ("system_id", p.system_id.is_some()),
            ("password", p.password.is_some()),
            ("system_type", p.system_type.is_some()),
            ("enquire_link_s", p.enquire_link_s.is_some()),
            ("window", p.window.is_some()),
            ("messages_per_second", p.messages_per_second.is_some()),
            ("url", p.url.is_some()),
            ("headers", p.headers.is_some()),
            ("body", p.body.is_some()),
            ("message_id_pointer", p.message_id_pointer.is_some()),
            ("timeout_s", p.timeout_s.is_some()),
            ("webhook_secret", p.webhook_secret.is_some()),
            ("webhook_signature_header", p.webhook_signature_header.is_some()),
            ("webhook_message_id_pointer", p.webhook_message_id_pointer.is_some()),
            ("webhook_status_pointer", p.webhook_status_pointer.is_some()),
            ("delay_ms", p.delay_ms.is_some()),
        ];
        let allowed: &[&str] = match p.kind.as_str() {
            "log" => &["delay_ms"],
            "smpp" => {
                &["address", "system_id", "password", "system_type", "enquire_link_s", "window", "messages_per_second"]
            }
            "http" => &[
                "url",
                "headers",
                "body",
                "message_id_pointer",
                "timeout_s",
                "window",
                "messages_per_second",
                "webhook_secret",
                "webhook_signature_header",
                "webhook_message_id_pointer",
                "webhook_status_pointer",
            ],
            other => bail!("{at}.kind: `{other}` must be log, smpp or http"),
        };
        if let Some((key, _)) = keys.iter().find(|(key, set)| *set && !allowed.contains(key)) {
            bail!("{at}.{key}: not a key of kind {}", p.kind);
        }
        let required = |key: &str, value: &Option<String>| -> anyhow::Result<String> {
            value.clone().ok_or_else(|| anyhow!("{at}.{key}: required for kind {}", p.kind))
        };
        let config_error = |e: ConfigError| anyhow!("{at}.{}: {}", e.field, e.rule);
        let kind = match p.kind.as_str() {
            "log" => {
                let delay_ms = p.delay_ms.unwrap_or(1_000);
                if delay_ms > 60_000 {
                    bail!("{at}.delay_ms: must be at most 60000");
                }
                ProviderKind::Log { delay: Duration::from_millis(delay_ms) }
            }
            "smpp" => {
                let password = p.password.as_ref().map_or("", Secret::expose);
                let mut smpp = SmppConfig::new(
                    &p.name,
                    &required("address", &p.address)?,
                    &required("system_id", &p.system_id)?,
                    password,
                );
                if let Some(t) = &p.system_type {
                    smpp.system_type.clone_from(t);
                }
                smpp.window = p.window.unwrap_or(smpp.window);
                smpp.messages_per_second = p.messages_per_second.unwrap_or(smpp.messages_per_second);
                if let Some(s) = p.enquire_link_s {
                    smpp.enquire_link_interval = Duration::from_secs(s);
                }
                smpp.validate().map_err(config_error)?;
                ProviderKind::Smpp(smpp)
            }
            _ => {
                let Some(body) = p.body.clone() else { bail!("{at}.body: required for kind http") };
                let mut http = HttpConfig::new(
                    &p.name,
                    &required("url", &p.url)?,
                    body,
                    &required("message_id_pointer", &p.message_id_pointer)?,
                );
                http.headers = p.headers.iter().flatten().map(|(k, v)| (k.clone(), v.expose().to_owned())).collect();
                http.window = p.window.unwrap_or(http.window);
                http.messages_per_second = p.messages_per_second.unwrap_or(http.messages_per_second);
                if let Some(s) = p.timeout_s {
                    http.timeout = Duration::from_secs(s);
                }
                // Building the client checks every field.
                HttpProvider::new(http.clone()).map_err(config_error)?;
                if let Some(secret) = &p.webhook_secret {
                    if secret.expose().len() < 16 {
                        bail!("{at}.webhook_secret: must be at least 16 characters");
                    }
                    let mut webhook = WebhookConfig::new(&p.name, secret.expose().as_bytes());
                    if let Some(h) = &p.webhook_signature_header {
                        webhook.signature_header.clone_from(h);
                    }
                    for (key, value, target) in [
                        ("webhook_message_id_pointer", &p.webhook_message_id_pointer, &mut webhook.message_id_pointer),
                        ("webhook_status_pointer", &p.webhook_status_pointer, &mut webhook.status_pointer),
                    ] {
                        if let Some(v) = value {
                            if !v.starts_with('/') {
                                bail!("{at}.{key}: must be a JSON pointer such as /status");
                            }
                            target.clone_from(v);
                        }
                    }
                    webhooks.push(webhook);
                } else if p.webhook_signature_header.is_some()
                    || p.webhook_message_id_pointer.is_some()
                    || p.webhook_status_pointer.is_some()
                {
                    bail!("{at}.webhook_secret: required with the other webhook_ keys");
                }
                ProviderKind::Http(http)
            }
        };
        specs.push(ProviderSpec { name: p.name.clone(), kind, failover: p.failover.clone() });
    }
    Ok((specs, webhooks))
}

/// The defaults, as a commented configuration file.
pub(crate) const EXAMPLE: &str = include_str!("../vigie.example.toml");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_is_valid_and_matches_the_defaults() {
        let c = Config::parse(EXAMPLE).expect("example parses");
        let catalog = c.catalog().expect("catalog");
        let seed = Catalog::seed_defaults();
        assert_eq!(catalog.pools().count(), seed.pools().count());
        for def in seed.pools() {
            assert_eq!(catalog.pool(&def.code), Some(def), "pool {}", def.code);
        }
        assert_eq!(c.server.listen, ServerConfig::default().listen);
        assert_eq!(crate::privacy::retention(&c).expect("retention"), vigie_store::Retention::default());
        assert_eq!(crate::privacy::legal_bases(&c).expect("legal bases"), vigie_store::LegalBases::default());
        let d = Config::default();
        assert_eq!(crate::privacy::legal_bases(&d).expect("legal bases"), vigie_store::LegalBases::default());
        assert_eq!(c.retention.purge_at_hour, d.retention.purge_at_hour);
        assert_eq!(c.retention.purge_check_minutes, d.retention.purge_check_minutes);
    }

    #[test]
    fn the_example_sms_section_is_the_default() {
        let example = sms(&Config::parse(EXAMPLE).expect("example parses")).expect("sms");
        let default = sms(&Config::default()).expect("sms");
        for setup in [&example, &default] {
            let mut announced: Vec<&str> = setup.policy.purposes.keys().map(|p| p.as_str()).collect();
            announced.sort_unstable();
            assert_eq!(announced, ["appointment_reminder", "results_followup", "satisfaction_survey"]);
            assert_eq!(setup.policy.default_sender, Some(SenderChoice::CallerNumber));
            assert!(setup.dispatch.providers.is_empty() && setup.webhooks.is_empty());
            assert_eq!(setup.dispatch.interval, Duration::from_secs(1));
        }
        for (purpose, d) in &default.policy.purposes {
            let e = &example.policy.purposes[purpose];
            assert_eq!(e.timing, d.timing, "{purpose}");
            assert_eq!(e.timing.window, SmsWindow::default(), "{purpose}");
            assert_eq!(e.timing.quiet, SmsQuietHours::default(), "{purpose}");
            assert_eq!(e.timing.policy, QuietPolicy::default(), "{purpose}");
            assert_eq!(e.template.text(), d.template.text(), "{purpose}");
            assert_eq!(e.template.max_segments(), DEFAULT_MAX_SEGMENTS);
            assert!(e.require_announcement && d.require_announcement);
            assert_eq!(e.stop_ends_calls, purpose.as_str() == "satisfaction_survey");
            assert_eq!(d.stop_ends_calls, purpose.as_str() == "satisfaction_survey");
        }
    }

    #[test]
    fn sms_providers_facilities_and_purposes_are_read() {
        let text = r#"
[sms]
announce = ["appointment_reminder", "satisfaction_survey"]
language = "en"
sender = "VigieSante"
provider = "gateway"

[sms.purposes.appointment_reminder]
lead_max_minutes = 45
lead_min_minutes = 20
hours = "09:00-19:00"
quiet_policy = "delay_call"
sundays_allowed = true
template = "{facility}: call on {date} at {time}."
max_segments = 2

[sms.purposes.coordination]
template = "{facility} calls you at {time}."

[sms.facilities.chu-nantes]
sender = "caller"
provider = "smsc"
templates.appointment_reminder = "CHU: call at {time}."

[[sms.providers]]
name = "smsc"
kind = "smpp"
address = "127.0.0.1:2775"
system_id = "vigie"
password = "secret"
window = 5
messages_per_second = 10
failover = "gateway"

[[sms.providers]]
name = "gateway"
kind = "http"
url = "https://sms.example.net/send"
headers = { Authorization = "Bearer t0ps3cr3t" }
body = { to = "{to}", text = "{text}", segments = "{segments}" }
message_id_pointer = "/id"
webhook_secret = "0123456789abcdef0123"
"#;
        let config = Config::parse(text).expect("parses");
        assert!(!format!("{config:?}").contains("t0ps3cr3t"), "header values never print");
        assert!(!format!("{config:?}").contains("0123456789abcdef0123"), "secrets never print");
        let setup = sms(&config).expect("sms");
        let reminder = Purpose::parse("appointment_reminder").expect("purpose");
        let p = &setup.policy.purposes[&reminder];
        assert_eq!(p.timing.window, SmsWindow::new(45, 20).expect("window"));
        assert_eq!(p.timing.policy, QuietPolicy::DelayCall);
        assert!(p.timing.quiet.sundays_allowed && !p.timing.quiet.holidays_allowed);
        assert_eq!(p.timing.quiet.allowed.to_string(), "09:00-19:00");
        assert_eq!(p.template.text(), "{facility}: call on {date} at {time}.");
        let nantes = FacilityId::parse("chu-nantes").expect("facility");
        assert_eq!(p.facility_templates[&nantes].text(), "CHU: call at {time}.");
        assert!(p.facility_templates[&nantes].name().contains("sms.facilities.chu-nantes.templates"));
        let survey = &setup.policy.purposes[&Purpose::parse("satisfaction_survey").expect("purpose")];
        assert!(survey.template.text().contains("Reply STOP"), "the English default");
        assert!(survey.stop_ends_calls);
        assert!(!setup.policy.purposes.contains_key(&Purpose::parse("coordination").expect("purpose")));
        assert_eq!(setup.policy.sender(&nantes), SenderChoice::CallerNumber);
        let other = FacilityId::parse("clinique-saint-jean").expect("facility");
        assert_eq!(setup.policy.sender(&other), SenderChoice::Alphanumeric(SenderId::parse("VigieSante").expect("id")));
        let d = &setup.dispatch;
        assert_eq!(d.default_provider.as_deref(), Some("gateway"));
        assert_eq!(d.facility_providers[&nantes], "smsc");
        assert_eq!(d.providers.len(), 2);
        match &d.providers[0].kind {
            ProviderKind::Smpp(c) => {
                assert_eq!((c.window, c.messages_per_second, c.password.as_str()), (5, 10, "secret"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(d.providers[0].failover.as_deref(), Some("gateway"));
        assert!(matches!(&d.providers[1].kind, ProviderKind::Http(c) if c.headers.len() == 1));
        assert_eq!(setup.webhooks.len(), 1);
        assert_eq!(setup.webhooks[0].provider, "gateway");
    }

    #[test]
    fn sms_errors_name_the_key_and_the_rule() {
        let smpp = "[[sms.providers]]\nname = \"smsc\"\nkind = \"smpp\"\naddress = \"127.0.0.1:2775\"\nsystem_id = \"vigie\"\n";
        let cases: Vec<(String, &str)> = vec![
            (
                "[sms.purposes.appointment_reminder]\ntemplate = \"Bonjour {patient}\"\n".into(),
                "template sms.purposes.appointment_reminder.template: unknown placeholder {patient}",
            ),
            (
                format!("[sms.purposes.results_followup]\nmax_segments = 1\ntemplate = \"{}\"\n", "{facility} ".repeat(5)),
                "template sms.purposes.results_followup.template: takes",
            ),
            (
                "[sms.facilities.chu-nantes.templates]\nsatisfaction_survey = \"{date\"\n".into(),
                "template sms.facilities.chu-nantes.templates.satisfaction_survey: unbalanced brace",
            ),
            ("[sms.purposes.coordination]\nlead_max_minutes = 30\n".into(), "sms.purposes.coordination.template: required"),
            ("[sms]\nannounce = [\"Appointment\"]\n".into(), "sms.announce[0]: `Appointment`"),
            ("[sms]\nlanguage = \"de\"\n".into(), "sms.language: must be one of: fr, en"),
            ("[sms]\nsender = \"RDV\"\n".into(), "sms.sender: `RDV`"),
            ("[sms.facilities.chu-nantes]\nsender = \"CHU Nantes\"\n".into(), "sms.facilities.chu-nantes.sender"),
            ("[sms.facilities.chu-nantes]\nprovider = \"nope\"\n".into(), "sms.facilities.chu-nantes.provider: no [[sms.providers]] is named `nope`"),
            ("[sms]\nprovider = \"nope\"\n".into(), "sms.provider: no [[sms.providers]] is named `nope`"),
            ("[sms]\ndispatch_interval_ms = 0\n".into(), "sms.dispatch_interval_ms"),
            ("[sms.purposes.appointment_reminder]\nlead_min_minutes = 0\n".into(), "sms.purposes.appointment_reminder.lead_min_minutes"),
            ("[sms.purposes.appointment_reminder]\nlead_max_minutes = 10\n".into(), "sms.purposes.appointment_reminder.lead_max_minutes"),
            ("[sms.purposes.appointment_reminder]\nquiet_policy = \"never\"\n".into(), "sms.purposes.appointment_reminder.quiet_policy"),
            ("[sms.purposes.appointment_reminder]\nquiet_lead_max_hours = 200\n".into(), "sms.purposes.appointment_reminder.quiet_lead_max_hours"),
            (
                "[sms.purposes.appointment_reminder]\nquiet_policy = \"delay_call\"\nquiet_lead_max_hours = 18\n".into(),
                "quiet_lead_max_hours: only with",
            ),
            ("[sms.purposes.appointment_reminder]\nhours = \"20:00-08:00\"\n".into(), "sms.purposes.appointment_reminder.hours"),
            ("[sms.purposes.appointment_reminder]\nmax_segments = 11\n".into(), "max_segments must be between 1 and 10"),
            ("[sms.purposes.appointment_reminder]\nlead_minutes = 3\n".into(), "lead_minutes"),
            ("[[sms.providers]]\nname = \"x\"\nkind = \"smtp\"\n".into(), "sms.providers[0] (x).kind: `smtp` must be log, smpp or http"),
            ("[[sms.providers]]\nname = \"a b\"\nkind = \"log\"\n".into(), "sms.providers[0].name"),
            ("[[sms.providers]]\nname = \"x\"\nkind = \"smpp\"\nsystem_id = \"v\"\n".into(), "sms.providers[0] (x).address: required for kind smpp"),
            (format!("{smpp}window = 0\n"), "sms.providers[0] (smsc).window: must be between 1 and 1000"),
            (format!("{smpp}password = \"far-too-long\"\n"), "sms.providers[0] (smsc).password"),
            (format!("{smpp}url = \"https://x\"\n"), "sms.providers[0] (smsc).url: not a key of kind smpp"),
            (format!("{smpp}failover = \"other\"\n"), "sms.providers[0] (smsc).failover: no [[sms.providers]] is named `other`"),
            (format!("{smpp}failover = \"smsc\"\n"), "failover: must name another provider"),
            (format!("{smpp}{smpp}"), "sms.providers[0] (smsc).name: two providers are named `smsc`"),
            (
                "[[sms.providers]]\nname = \"g\"\nkind = \"http\"\nurl = \"ftp://x\"\nbody = { to = \"{to}\", text = \"{text}\" }\nmessage_id_pointer = \"/id\"\n".into(),
                "sms.providers[0] (g).url",
            ),
            (
                "[[sms.providers]]\nname = \"g\"\nkind = \"http\"\nurl = \"https://x\"\nbody = { to = \"{to}\", text = \"{txt}\" }\nmessage_id_pointer = \"/id\"\n".into(),
                "sms.providers[0] (g).body: unknown placeholder {txt}",
            ),
            (
                "[[sms.providers]]\nname = \"g\"\nkind = \"http\"\nurl = \"https://x\"\nbody = { to = \"{to}\", text = \"{text}\" }\nmessage_id_pointer = \"/id\"\nwebhook_secret = \"short\"\n".into(),
                "sms.providers[0] (g).webhook_secret: must be at least 16 characters",
            ),
        ];
        for (text, want) in &cases {
            match Config::parse(text) {
                Ok(_) => panic!("{text:?} was accepted"),
                Err(e) => assert!(format!("{e:#}").contains(want), "{text:?}: {e:#}\n  wanted: {want}"),
            }
        }
    }

    #[test]
    fn errors_name_the_pool_and_field() {
        let e =
            Config::parse("[[pools]]\ncode = \"A\"\nrole = \"outbound\"\nintensive_calls_min = 90\n").expect_err("bad");
        assert!(format!("{e:#}").contains("intensive_calls_min"), "{e:#}");
        let e = Config::parse("[server]\nlisten = 1\n").expect_err("bad");
        assert!(format!("{e:#}").contains("listen"), "{e:#}");
        let e = Config::parse("[retention]\ncalls_days = 30\n").expect_err("bad");
        assert!(format!("{e:#}").contains("calls_days"), "{e:#}");
        let e = Config::parse("[privacy.legal_basis]\ncoordination = \"consent\"\n").expect_err("bad");
        assert!(format!("{e:#}").contains("privacy.legal_basis.coordination"), "{e:#}");
        let e = Config::parse("[privacy.legal_basis]\nbilling = \"art9_2_h_care\"\n").expect_err("bad");
        assert!(format!("{e:#}").contains("no pool serves"), "{e:#}");
        let c = Config::parse("[store]\npseudonym_key = \"0123\"\n").expect("parses");
        assert!(!format!("{c:?}").contains("0123"), "secrets never print");
    }
}
