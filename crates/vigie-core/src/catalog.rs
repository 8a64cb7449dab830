//! What the centre is made of: facilities, purposes, pools and each pool's policy.

use std::collections::BTreeMap;
use std::fmt;

/// Why a name, code or policy was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {rule}")]
pub struct InvalidField {
    /// The field at fault.
    pub field: &'static str,
    /// The rule it broke, in words.
    pub rule: String,
}

impl InvalidField {
    /// A refusal of `field` for breaking `rule`.
    pub fn new(field: &'static str, rule: impl Into<String>) -> InvalidField {
        InvalidField { field, rule: rule.into() }
    }
}

fn slug(field: &'static str, text: &str, max: usize) -> Result<String, InvalidField> {
    let ok = !text.is_empty()
        && text.len() <= max
        && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && text.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(text.to_owned())
    } else {
        Err(InvalidField::new(
            field,
            format!("must be 1 to {max} characters of a-z, 0-9, '-' or '_', starting with a letter or digit"),
        ))
    }
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Parses the name, refusing anything but a short lowercase slug.
            pub fn parse(text: &str) -> Result<$name, InvalidField> {
                slug($field, text, $max).map($name)
            }
            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

name_type!(
    /// A facility's slug, such as `clinique-saint-jean`.
    FacilityId, "facility", 64
);
name_type!(
    /// A call purpose, such as `appointment_reminder`.
    Purpose, "purpose", 64
);

/// A pool's code: one to eight uppercase letters or digits (`A`, `B`, `R`…).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PoolCode(String);

impl PoolCode {
    /// Parses a pool code.
    pub fn parse(text: &str) -> Result<PoolCode, InvalidField> {
        let ok =
            !text.is_empty() && text.len() <= 8 && text.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if ok {
            Ok(PoolCode(text.to_owned()))
        } else {
            Err(InvalidField::new("pool", "must be 1 to 8 characters of A-Z or 0-9"))
        }
    }
    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PoolCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a pool is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolRole {
    /// Serves outbound calls of its purposes.
    Outbound,
    /// Receives patients' calls; never given to an outbound call.
    Inbound,
    /// Holds numbers ready to be promoted into an outbound pool.
    Reserve,
}

impl PoolRole {
    /// Parses `outbound`, `inbound` or `reserve`.
    pub fn parse(text: &str) -> Result<PoolRole, InvalidField> {
        match text {
            "outbound" => Ok(PoolRole::Outbound),
            "inbound" => Ok(PoolRole::Inbound),
            "reserve" => Ok(PoolRole::Reserve),
            _ => Err(InvalidField::new("role", "must be outbound, inbound or reserve")),
        }
    }
    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            PoolRole::Outbound => "outbound",
            PoolRole::Inbound => "inbound",
            PoolRole::Reserve => "reserve",
        }
    }
}

/// The rules one pool's numbers live by. Defaults are the seed's practices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Most outbound calls one number makes in a Europe/Paris day (seed: 80).
    pub calls_per_day_max: u32,
    /// A day with at least this many calls is intensive (default 70).
    pub intensive_calls_min: u32,
    /// Consecutive intensive days after which the number rests (seed: 3).
    pub intensive_days_before_rest: u32,
    /// Length of the rest, from the end of the last intensive day (seed: 48).
    pub rest_hours: u32,
    /// The volume a number carries before the pool opens another one that day.
    pub healthy_calls_per_day: u32,
    /// Reports in one local day that quarantine a number at once (seed: 2).
    pub reports_per_day_to_quarantine: u32,
    /// Margin over the expected demand below which reserve numbers are promoted.
    pub reserve_margin_percent: u32,
    /// Whether the pool holds geographic numbers matched to the patient's zone.
    pub geographic: bool,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            calls_per_day_max: 80,
            intensive_calls_min: 70,
            intensive_days_before_rest: 3,
            rest_hours: 48,
            healthy_calls_per_day: 65,
            reports_per_day_to_quarantine: 2,
            reserve_margin_percent: 10,
            geographic: false,
        }
    }
}

impl Policy {
    /// Checks that the figures make sense together.
    pub fn validate(&self) -> Result<(), InvalidField> {
        if self.calls_per_day_max == 0 || self.calls_per_day_max > 10_000 {
            return Err(InvalidField::new("calls_per_day_max", "must be between 1 and 10000"));
        }
        if self.intensive_calls_min == 0 || self.intensive_calls_min > self.calls_per_day_max {
            return Err(InvalidField::new("intensive_calls_min", "must be between 1 and calls_per_day_max"));
        }
        if self.healthy_calls_per_day == 0 || self.healthy_calls_per_day > self.calls_per_day_max {
            return Err(InvalidField::new("healthy_calls_per_day", "must be between 1 and calls_per_day_max"));
        }
        if self.intensive_days_before_rest == 0 || self.intensive_days_before_rest > 14 {
            return Err(InvalidField::new("intensive_days_before_rest", "must be between 1 and 14"));
        }
        if self.rest_hours > 24 * 14 {
            return Err(InvalidField::new("rest_hours", "must be at most 336"));
        }
        if self.reports_per_day_to_quarantine == 0 {
            return Err(InvalidField::new("reports_per_day_to_quarantine", "must be at least 1"));
        }
        if self.reserve_margin_percent > 500 {
            return Err(InvalidField::new("reserve_margin_percent", "must be at most 500"));
        }
        Ok(())
    }
}

/// One pool as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolDef {
    /// The pool's code.
    pub code: PoolCode,
    /// What it is for.
    pub role: PoolRole,
    /// The purposes it serves (outbound pools only).
    pub purposes: Vec<Purpose>,
    /// Its rules.
    pub policy: Policy,
}

/// The pools of the centre and which pool serves each purpose.
#[derive(Debug, Clone)]
pub struct Catalog {
    pools: BTreeMap<PoolCode, PoolDef>,
    by_purpose: BTreeMap<Purpose, PoolCode>,
    reserve: Option<PoolCode>,
}

impl Catalog {
    /// Builds the catalog, refusing a purpose served twice, purposes on a pool that is
    /// not outbound, or more than one reserve pool.
    pub fn new(pools: Vec<PoolDef>) -> Result<Catalog, InvalidField> {
        let mut catalog = Catalog { pools: BTreeMap::new(), by_purpose: BTreeMap::new(), reserve: None };
        for def in pools {
            def.policy.validate()?;
            if def.role != PoolRole::Outbound && !def.purposes.is_empty() {
                return Err(InvalidField::new(
                    "purposes",
                    format!("pool {} is {} and cannot serve outbound purposes", def.code, def.role.as_str()),
                ));
            }
            if def.role == PoolRole::Reserve {
                if let Some(other) = &catalog.reserve {
                    return Err(InvalidField::new(
                        "role",
                        format!("only one reserve pool is allowed ({other} and {})", def.code),
                    ));
                }
                catalog.reserve = Some(def.code.clone());
            }
            for purpose in &def.purposes {
                if let Some(other) = catalog.by_purpose.insert(purpose.clone(), def.code.clone()) {
                    return Err(InvalidField::new(
                        "purposes",
                        format!("purpose {purpose} is served by both {other} and {}", def.code),
                    ));
                }
            }
            if catalog.pools.insert(def.code.clone(), def.clone()).is_some() {
                return Err(InvalidField::new("pool", format!("pool {} is defined twice", def.code)));
            }
        }
        Ok(catalog)
    }

    /// The seed's six pools with the default policy; pool A is geographic.
    pub fn seed_defaults() -> Catalog {
        let def = |code: &str, role: PoolRole, purposes: &[&str], geographic: bool| PoolDef {
            code: PoolCode(code.into()),
            role,
            purposes: purposes.iter().map(|p| Purpose((*p).into())).collect(),
            policy: Policy { geographic, ..Policy::default() },
        };
        let pools = vec![
            def("A", PoolRole::Outbound, &["appointment_reminder"], true),
            def("B", PoolRole::Outbound, &["results_followup"], false),
            def("C", PoolRole::Outbound, &["coordination"], false),
            def("D", PoolRole::Outbound, &["satisfaction_survey"], false),
            def("E", PoolRole::Inbound, &[], false),
            def("R", PoolRole::Reserve, &[], false),
        ];
        match Catalog::new(pools) {
            Ok(c) => c,
            Err(e) => unreachable!("the seed catalog is valid: {e}"),
        }
    }

    /// The pool that serves `purpose`.
    pub fn pool_for(&self, purpose: &Purpose) -> Option<&PoolDef> {
        self.by_purpose.get(purpose).and_then(|code| self.pools.get(code))
    }

    /// A pool by code.
    pub fn pool(&self, code: &PoolCode) -> Option<&PoolDef> {
        self.pools.get(code)
    }

    /// Every pool, by code.
    pub fn pools(&self) -> impl Iterator<Item = &PoolDef> {
        self.pools.values()
    }

    /// The reserve pool, if the centre has one.
    pub fn reserve(&self) -> Option<&PoolCode> {
        self.reserve.as_ref()
    }
}
