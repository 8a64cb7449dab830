//! The configuration file (TOML), read in one place, with documented defaults. Every
//! field is optional; `vigie config` prints the defaults as a commented file.

use std::path::Path;

use anyhow::{Context, bail};
use serde::Deserialize;
use vigie_core::{Catalog, E164, FacilityId, Policy, PoolCode, PoolDef, PoolRole, Purpose};
use vigie_store::Facility;

use crate::privacy::{PrivacyConfig, RetentionConfig, Secret};

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
