//! The calling rules in the binary: the `[compliance]` section (purpose classes, hours,
//! the rules' figures, the consent switch, holidays, the ARCEP ranges) and each pool's
//! `dialling`, turned into the store's options; and the commands
//! `vigie bloctel import` and `vigie audit numbers`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use serde::Deserialize;
use vigie_core::{
    ComplianceRules, Date, DiallingMode, E164, FacilityId, HolidayCalendar, NumberPrefix, NumberingRules, PoolCode,
    PoolRole, Purpose, PurposeClass, Territory, Timestamp, WeeklyHours,
};
use vigie_store::{ComplianceOptions, DataKey, NumberRecord};

use crate::DbArgs;
use crate::config::Config;

/// `[compliance]`: every key optional; the defaults are the law's figures.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ComplianceConfig {
    /// Purpose → class; merged over the seed's classes.
    purpose_class: BTreeMap<String, String>,
    solicitation_hours: String,
    care_hours: String,
    care_closed_on_holidays: bool,
    care_hours_by_purpose: BTreeMap<String, String>,
    care_hours_by_facility: BTreeMap<String, String>,
    attempts_max: u32,
    attempts_window_days: u32,
    refusal_cooldown_days: u32,
    bloctel_scrub_max_age_days: u32,
    /// A date (00:00 Europe/Paris) or an RFC 3339 instant.
    consent_required_from: String,
    search_days: u32,
    holidays: HolidaysConfig,
    numbering: NumberingConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct HolidaysConfig {
    alsace_moselle: bool,
    overseas_abolition_of_slavery: bool,
    extra_dates: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct NumberingConfig {
    verified_prefixes: Vec<String>,
    platform_prefixes: Vec<String>,
    platform_numbers_for_automated: bool,
    preview_is_automated: bool,
}

impl Default for ComplianceConfig {
    fn default() -> ComplianceConfig {
        let r = ComplianceRules::default();
        ComplianceConfig {
            purpose_class: BTreeMap::new(),
            solicitation_hours: r.solicitation_hours.to_string(),
            care_hours: r.care_hours.to_string(),
            care_closed_on_holidays: r.care_closed_on_holidays,
            care_hours_by_purpose: BTreeMap::new(),
            care_hours_by_facility: BTreeMap::new(),
            attempts_max: r.attempts_max,
            attempts_window_days: r.attempts_window_days,
            refusal_cooldown_days: r.refusal_cooldown_days,
            bloctel_scrub_max_age_days: r.bloctel_scrub_max_age_days,
            consent_required_from: "2026-08-11".into(),
            search_days: r.search_days,
            holidays: HolidaysConfig::default(),
            numbering: NumberingConfig::default(),
        }
    }
}

impl Default for HolidaysConfig {
    fn default() -> HolidaysConfig {
        let h = HolidayCalendar::default();
        HolidaysConfig {
            alsace_moselle: h.alsace_moselle,
            overseas_abolition_of_slavery: h.overseas_abolition_of_slavery,
            extra_dates: Vec::new(),
        }
    }
}

impl Default for NumberingConfig {
    fn default() -> NumberingConfig {
        let n = NumberingRules::default();
        let text = |list: &[NumberPrefix]| list.iter().map(|p| p.as_str().to_owned()).collect();
        NumberingConfig {
            verified_prefixes: text(&n.verified_prefixes),
            platform_prefixes: text(&n.platform_prefixes),
            platform_numbers_for_automated: n.platform_numbers_for_automated,
            preview_is_automated: n.preview_is_automated,
        }
    }
}

fn hours(field: &str, text: &str) -> anyhow::Result<WeeklyHours> {
    WeeklyHours::parse(text).with_context(|| format!("compliance.{field}"))
}

/// The instant `text` names: an RFC 3339 instant, or a date read as 00:00 in Paris.
fn switch_instant(text: &str) -> anyhow::Result<Timestamp> {
    if let Ok(at) = text.parse::<Timestamp>() {
        return Ok(at);
    }
    let date: Date = text.parse().with_context(|| {
        format!("compliance.consent_required_from: `{text}` is neither a date (2026-08-11) nor an RFC 3339 instant")
    })?;
    Ok(date.to_zoned_datetime(Territory::Metropolitan.time_zone())?.timestamp())
}

/// The store's compliance options from the configuration, checked against the pools.
pub(crate) fn options(config: &Config) -> anyhow::Result<ComplianceOptions> {
    let c = &config.compliance;
    let mut options = ComplianceOptions::default();
    for (purpose, class) in &c.purpose_class {
        let ctx = || format!("compliance.purpose_class.{purpose}");
        options
            .classes
            .insert(Purpose::parse(purpose).with_context(ctx)?, PurposeClass::parse(class).with_context(ctx)?);
    }
    let mut extra_dates = BTreeSet::new();
    for (i, d) in c.holidays.extra_dates.iter().enumerate() {
        let date: Date =
            d.parse().with_context(|| format!("compliance.holidays.extra_dates[{i}]: `{d}` is not a date"))?;
        extra_dates.insert(date);
    }
    options.rules = ComplianceRules {
        solicitation_hours: hours("solicitation_hours", &c.solicitation_hours)?,
        care_hours: hours("care_hours", &c.care_hours)?,
        care_closed_on_holidays: c.care_closed_on_holidays,
        holidays: HolidayCalendar {
            alsace_moselle: c.holidays.alsace_moselle,
            overseas_abolition_of_slavery: c.holidays.overseas_abolition_of_slavery,
            extra_dates,
        },
        attempts_max: c.attempts_max,
        attempts_window_days: c.attempts_window_days,
        refusal_cooldown_days: c.refusal_cooldown_days,
        bloctel_scrub_max_age_days: c.bloctel_scrub_max_age_days,
        consent_required_from: switch_instant(&c.consent_required_from)?,
        search_days: c.search_days,
    };
    for (purpose, text) in &c.care_hours_by_purpose {
        let p = Purpose::parse(purpose).with_context(|| format!("compliance.care_hours_by_purpose.{purpose}"))?;
        options.care_hours_by_purpose.insert(p, hours(&format!("care_hours_by_purpose.{purpose}"), text)?);
    }
    for (facility, text) in &c.care_hours_by_facility {
        let f = FacilityId::parse(facility).with_context(|| format!("compliance.care_hours_by_facility.{facility}"))?;
        options.care_hours_by_facility.insert(f, hours(&format!("care_hours_by_facility.{facility}"), text)?);
    }
    let prefixes = |field: &str, list: &[String]| -> anyhow::Result<Vec<NumberPrefix>> {
        list.iter().map(|p| NumberPrefix::parse(p).with_context(|| format!("compliance.numbering.{field}"))).collect()
    };
    options.numbering = NumberingRules {
        verified_prefixes: prefixes("verified_prefixes", &c.numbering.verified_prefixes)?,
        platform_prefixes: prefixes("platform_prefixes", &c.numbering.platform_prefixes)?,
        platform_numbers_for_automated: c.numbering.platform_numbers_for_automated,
        preview_is_automated: c.numbering.preview_is_automated,
    };
    for (i, pool) in config.pools.iter().enumerate() {
        if let Some(mode) = &pool.dialling {
            let ctx = || format!("pools[{i}] ({}).dialling", pool.code);
            let code = PoolCode::parse(&pool.code).with_context(ctx)?;
            options.dialling.insert(code, DiallingMode::parse(mode).with_context(ctx)?);
        }
    }
    options.validate(&config.catalog()?).context("compliance")?;
    Ok(options)
}

// ----- vigie bloctel import -----

/// `vigie bloctel import FILE --file-date YYYY-MM-DD`.
#[derive(Args)]
pub(crate) struct BloctelImportArgs {
    #[command(flatten)]
    db: DbArgs,
    /// The scrub result: the numbers found on the Bloctel list, one per line (E.164 or
    /// French national form); blank lines and lines starting with # are skipped.
    file: PathBuf,
    /// The date of the scrub (YYYY-MM-DD); solicitation is refused once it is more
    /// than `compliance.bloctel_scrub_max_age_days` old.
    #[arg(long)]
    file_date: String,
}

/// Parses a Bloctel file into numbers, or every bad line with its number.
pub(crate) fn parse_bloctel(text: &str) -> Result<Vec<E164>, Vec<String>> {
    let mut numbers = Vec::new();
    let mut problems = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match E164::parse(line) {
            Ok(n) => numbers.push(n),
            Err(e) => problems.push(format!("line {}: {e}", i + 1)),
        }
    }
    if problems.is_empty() { Ok(numbers) } else { Err(problems) }
}

/// Replaces the Bloctel list with the file's numbers, hashed with the pseudonym key.
pub(crate) async fn bloctel_import(args: BloctelImportArgs) -> anyhow::Result<()> {
    let config = Config::load(args.db.config.as_deref())?;
    if crate::privacy::pseudonym_key(&config)?.is_none() {
        bail!(
            "no pseudonym key: the Bloctel list is stored as hashes keyed with VIGIE_PSEUDONYM_KEY (or store.pseudonym_key), the key `vigie serve` uses"
        );
    }
    let file_date: Date = args
        .file_date
        .parse()
        .with_context(|| format!("--file-date: `{}` is not a date (YYYY-MM-DD)", args.file_date))?;
    let text = std::fs::read_to_string(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let numbers = match parse_bloctel(&text) {
        Ok(n) => n,
        Err(problems) => {
            for p in problems.iter().take(100) {
                eprintln!("{}: {p}", args.file.display());
            }
            bail!("{} bad lines; the list was not replaced", problems.len());
        }
    };
    let store = crate::open_store(&args.db, &config, DataKey::generate().0).await?;
    let done = store.import_bloctel(&numbers, file_date, "cli").await?;
    println!(
        "Bloctel list of {} replaced: {} numbers (stored as keyed hashes), {} before",
        done.file_date, done.numbers, done.replaced
    );
    Ok(())
}

// ----- vigie audit numbers -----

/// Prints every number with its category, its pool's dialling mode, whether it may be
/// presented and why not, and what its identity lacks; warns when a care pool presents
/// a range Orange Téléphone labels as canvassing. Returns the count of presented
/// numbers that break a rule.
///
/// Then the phone reputation audit: every check of vigie-core's `number_audit.rs` on
/// every number over the last 30 days, the warnings and failures with their evidence,
/// and a summary; `json` prints the audit as JSON instead of text.
pub(crate) async fn audit_numbers(db: &DbArgs, json: bool) -> anyhow::Result<usize> {
    let config = Config::load(db.config.as_deref())?;
    let store = crate::open_store(db, &config, DataKey::generate().0).await?;
    let numbers = store.numbers().await?;
    let (report, broken) = render_audit(&numbers, store.catalog(), store.compliance());
    let facts = store.audit_facts(store.now()).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&audit_json(&facts, broken))?);
    } else {
        print!("{report}");
        print!("{}", render_reputation_audit(&facts));
    }
    Ok(broken)
}

/// The reputation audit as text: one line per number with its counts, then each
/// warning and failure with its evidence, then the summary.
pub(crate) fn render_reputation_audit(facts: &[(NumberRecord, vigie_core::NumberFacts)]) -> String {
    use vigie_core::{Verdict, audit_number, audit_summary};
    let mut out = format!(
        "\nPhone reputation audit (last {} days, {} checks per number)\n{:<15} {:<5} {:<12} {:>4} {:>4} {:>4}\n",
        vigie_store::AUDIT_DAYS,
        vigie_core::AUDIT_CHECKS.len(),
        "number",
        "pool",
        "state",
        "pass",
        "warn",
        "fail"
    );
    let mut findings = String::new();
    let (mut totals, mut failing) = ((0, 0, 0), 0);
    for (n, f) in facts {
        let checks = audit_number(f);
        let (p, w, x) = audit_summary(&checks);
        totals = (totals.0 + p, totals.1 + w, totals.2 + x);
        failing += usize::from(x > 0);
        out.push_str(&format!(
            "{:<15} {:<5} {:<12} {p:>4} {w:>4} {x:>4}\n",
            n.number.as_str(),
            n.pool.as_str(),
            n.state()
        ));
        for c in checks.iter().filter(|c| c.verdict != Verdict::Pass) {
            findings.push_str(&format!("{} {}: {}: {}\n", c.verdict, n.number, c.code, c.detail));
        }
    }
    out.push_str(&findings);
    out.push_str(&format!(
        "summary: {} numbers, {} checks passed, {} warnings, {} failures; {failing} numbers with a failure\n",
        facts.len(),
        totals.0,
        totals.1,
        totals.2
    ));
    out
}

/// The audit as JSON.
fn audit_json(facts: &[(NumberRecord, vigie_core::NumberFacts)], broken: usize) -> serde_json::Value {
    use vigie_core::{audit_number, audit_summary};
    let mut totals = (0, 0, 0);
    let numbers: Vec<serde_json::Value> = facts
        .iter()
        .map(|(n, f)| {
            let checks = audit_number(f);
            let (p, w, x) = audit_summary(&checks);
            totals = (totals.0 + p, totals.1 + w, totals.2 + x);
            serde_json::json!({
                "number": n.number.as_str(),
                "pool": n.pool.as_str(),
                "state": n.state(),
                "pass": p, "warn": w, "fail": x,
                "checks": checks.iter().map(|c| serde_json::json!({
                    "code": c.code, "verdict": c.verdict.as_str(), "detail": c.detail,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::json!({
        "days": vigie_store::AUDIT_DAYS,
        "checks_per_number": vigie_core::AUDIT_CHECKS.len(),
        "summary": {"numbers": facts.len(), "pass": totals.0, "warn": totals.1, "fail": totals.2,
                     "presented_numbers_breaking_a_rule": broken},
        "numbers": numbers,
    })
}

/// The text of `vigie audit numbers`, and the count of presented numbers that break a rule.
pub(crate) fn render_audit(
    numbers: &[NumberRecord],
    catalog: &vigie_core::Catalog,
    options: &ComplianceOptions,
) -> (String, usize) {
    let mut out = String::new();
    let mut warnings = Vec::new();
    let mut broken = 0;
    out.push_str(&format!(
        "{:<15} {:<5} {:<20} {:<12} {:<12} {:<40} identity\n",
        "number", "pool", "category", "dialling", "state", "presentable"
    ));
    for n in numbers {
        let c = &n.compliance;
        let def = catalog.pool(&n.pool);
        let outbound = def.is_some_and(|d| d.role == PoolRole::Outbound);
        let presented = outbound && n.status == vigie_core::NumberStatus::Active;
        let presentable = match &c.refusal {
            None => "yes".to_owned(),
            Some(r) => {
                if presented {
                    broken += 1;
                }
                format!("no: {}", r.code())
            }
        };
        let missing = c.identity.missing();
        let identity =
            if missing.is_empty() { "complete".to_owned() } else { format!("missing {}", missing.join(", ")) };
        out.push_str(&format!(
            "{:<15} {:<5} {:<20} {:<12} {:<12} {:<40} callback {}; {identity}\n",
            n.number.as_str(),
            n.pool.as_str(),
            n.category,
            c.dialling.as_str(),
            n.state(),
            presentable,
            n.callback
        ));
        if let Some(r) = &c.refusal {
            warnings.push(format!("{}{}: {r}", if presented { "error: " } else { "note: " }, n.number));
        }
        let care_pool = def.is_some_and(|d| {
            d.role == PoolRole::Outbound
                && !d.purposes.is_empty()
                && d.purposes.iter().all(|p| !options.class_of(p).is_solicitation())
        });
        if care_pool && c.labelled_canvassing {
            warnings.push(format!(
                "warning: {} (pool {}, care calls) is in a range Orange Téléphone labels as canvassing by default; agent-dialled care calls should present a non-NPV number of the centre",
                n.number, n.pool
            ));
        }
    }
    for w in &warnings {
        out.push_str(w);
        out.push('\n');
    }
    out.push_str(&format!("{} numbers; {broken} presented numbers break a rule\n", numbers.len()));
    (out, broken)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_store_defaults() {
        let config = Config::default();
        assert_eq!(options(&config).expect("defaults"), ComplianceOptions::default());
        let example = Config::parse(crate::config::EXAMPLE).expect("the example parses");
        assert_eq!(options(&example).expect("example"), ComplianceOptions::default());
    }

    #[test]
    fn configuration_errors_name_the_key() {
        let cases = [
            ("[compliance]\nsolicitation_hours = \"mon-fri 13:00-10:00\"\n", "compliance.solicitation_hours"),
            ("[compliance.purpose_class]\nbilling = \"care\"\n", ""),
            (
                "[compliance.purpose_class]\nsatisfaction_survey = \"promo\"\n",
                "compliance.purpose_class.satisfaction_survey",
            ),
            ("[compliance]\nconsent_required_from = \"soon\"\n", "compliance.consent_required_from"),
            ("[compliance]\nattempts_max = 0\n", "attempts_max"),
            ("[compliance.numbering]\nverified_prefixes = [\"162\"]\n", "compliance.numbering.verified_prefixes"),
            ("[compliance.holidays]\nextra_dates = [\"2026-13-01\"]\n", "compliance.holidays.extra_dates[0]"),
            (
                "[[pools]]\ncode = \"A\"\nrole = \"outbound\"\npurposes = [\"appointment_reminder\"]\ndialling = \"robot\"\n",
                "dialling",
            ),
            (
                "[[pools]]\ncode = \"A\"\nrole = \"outbound\"\npurposes = [\"billing\"]\n",
                "purpose billing (pool A) has no class",
            ),
        ];
        for (text, want) in cases {
            match Config::parse(text) {
                Ok(_) if want.is_empty() => {}
                Ok(_) => panic!("{text:?} was accepted"),
                Err(e) => assert!(format!("{e:#}").contains(want), "{text:?}: {e:#}"),
            }
        }
    }

    #[test]
    fn pools_set_their_dialling_and_classes_merge() {
        let text = "[compliance]\nconsent_required_from = \"2026-09-01T00:00:00+02:00\"\ncare_hours = \"mon-fri 09:00-18:00\"\n\
                    [compliance.purpose_class]\nsatisfaction_survey = \"survey_with_promotion\"\n\
                    [compliance.care_hours_by_facility]\nchu-nantes = \"mon-fri 08:00-12:00\"\n\
                    [[pools]]\ncode = \"D\"\nrole = \"outbound\"\npurposes = [\"satisfaction_survey\", \"appointment_reminder\"]\ndialling = \"predictive\"\n";
        let o = options(&Config::parse(text).expect("parses")).expect("options");
        let d = PoolCode::parse("D").expect("code");
        assert_eq!(o.dialling_of(&d), DiallingMode::Predictive);
        let survey = Purpose::parse("satisfaction_survey").expect("purpose");
        assert_eq!(o.class_of(&survey), PurposeClass::SurveyWithPromotion);
        assert_eq!(o.class_of(&Purpose::parse("appointment_reminder").expect("purpose")), PurposeClass::Care);
        assert_eq!(o.rules.consent_required_from, "2026-08-31T22:00:00Z".parse::<Timestamp>().expect("instant"));
        assert_eq!(o.rules.care_hours.to_string(), "mon-fri 09:00-18:00");
        assert_eq!(o.care_hours_by_facility.len(), 1);
    }

    #[test]
    fn bloctel_files_are_read_line_by_line() {
        let ok = parse_bloctel("# scrub of 2026-06-01\n+33612345678\n\n0472000001\n").expect("two numbers");
        assert_eq!(ok.iter().map(E164::as_str).collect::<Vec<_>>(), ["+33612345678", "+33472000001"]);
        let bad = parse_bloctel("+33612345678\nhello\n06\n").expect_err("bad lines");
        assert_eq!(bad.len(), 2);
        assert!(bad[0].starts_with("line 2:"), "{bad:?}");
    }
}
