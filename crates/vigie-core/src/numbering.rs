//! ARCEP numbering rules for the number a call presents: which numbers may never be
//! presented, which ranges an automated dialler must use, and the ranges Orange
//! Téléphone labels as canvassing.

use std::fmt;

use crate::catalog::InvalidField;
use crate::names::named_enum;
use crate::phone::{E164, NumberCategory};

named_enum!(
    /// How a pool's calls are dialled. Default: [`DiallingMode::Agent`], as on the
    /// seed's 120 workstations.
    DiallingMode [Default], "dialling_mode", {
        /// An agent dials each call by hand.
        #[default]
        Agent = "agent",
        /// The system proposes the next call and the agent launches it.
        Preview = "preview",
        /// The system dials when an agent is free, one call per agent.
        Progressive = "progressive",
        /// The system dials ahead of free agents.
        Predictive = "predictive",
    }
);

impl DiallingMode {
    /// Whether calls in this mode come from an automated calling system (SAA, loi
    /// 2021-1485 art. 24) and must present a number from the ranges for automated
    /// calling. Progressive and predictive always do; preview does only if the
    /// configuration says so.
    pub fn is_automated(self, rules: &NumberingRules) -> bool {
        match self {
            DiallingMode::Agent => false,
            DiallingMode::Preview => rules.preview_is_automated,
            DiallingMode::Progressive | DiallingMode::Predictive => true,
        }
    }
}

/// A prefix of French numbers in national form: `0` then one to nine digits
/// (`0162`, `09475`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NumberPrefix(String);

impl NumberPrefix {
    /// Parses a national prefix such as `0162` or `09475`.
    pub fn parse(text: &str) -> Result<NumberPrefix, InvalidField> {
        let text = text.trim();
        let ok = (2..=10).contains(&text.len()) && text.starts_with('0') && text.bytes().all(|b| b.is_ascii_digit());
        if ok {
            Ok(NumberPrefix(text.to_owned()))
        } else {
            Err(InvalidField::new("prefix", format!("`{text}` must be 0 followed by 1 to 9 digits, such as 0162")))
        }
    }

    /// The prefix as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether a French number in national form starts with this prefix.
    fn matches(&self, national: &str) -> bool {
        national.starts_with(&self.0)
    }
}

impl fmt::Display for NumberPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Most prefixes one list may hold.
pub const PREFIXES_MAX: usize = 64;

/// The ARCEP ranges, kept in configuration because ARCEP changes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberingRules {
    /// Verified polyvalent numbers (NPV, décision 2022-1583), the ranges automated
    /// calling may present besides 08 and 30/31. Default, from the research file:
    /// 0162, 0163, 0270, 0271, 0377, 0378, 0424, 0425, 0568, 0569, 0948, 0949 and,
    /// overseas, 09475 to 09479.
    pub verified_prefixes: Vec<NumberPrefix>,
    /// Polyvalent numbers for exchanges with a technical platform. Default: 0937,
    /// 0938, 0939.
    pub platform_prefixes: Vec<NumberPrefix>,
    /// Whether automated calls may present the platform numbers. UNCONFIRMED whether
    /// automated voice appointment reminders may use them; set only once counsel has
    /// confirmed it. Default: false.
    pub platform_numbers_for_automated: bool,
    /// Whether preview dialling counts as automated calling. UNCONFIRMED (ARCEP's
    /// wording on agent-launched preview was not found). Default: false.
    pub preview_is_automated: bool,
}

impl Default for NumberingRules {
    fn default() -> NumberingRules {
        let prefixes = |list: &[&str]| list.iter().map(|p| NumberPrefix((*p).to_owned())).collect();
        NumberingRules {
            verified_prefixes: prefixes(&[
                "0162", "0163", "0270", "0271", "0377", "0378", "0424", "0425", "0568", "0569", "0948", "0949",
                "09475", "09476", "09477", "09478", "09479",
            ]),
            platform_prefixes: prefixes(&["0937", "0938", "0939"]),
            platform_numbers_for_automated: false,
            preview_is_automated: false,
        }
    }
}

impl NumberingRules {
    /// Refuses empty or oversized prefix lists and repeated prefixes.
    pub fn validate(&self) -> Result<(), InvalidField> {
        for (field, list) in
            [("verified_prefixes", &self.verified_prefixes), ("platform_prefixes", &self.platform_prefixes)]
        {
            if list.len() > PREFIXES_MAX {
                return Err(InvalidField::new(field, format!("must hold at most {PREFIXES_MAX} prefixes")));
            }
            let mut sorted: Vec<&NumberPrefix> = list.iter().collect();
            sorted.sort();
            if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
                return Err(InvalidField::new(field, format!("{} is listed twice", w[0])));
            }
        }
        if self.verified_prefixes.is_empty() {
            return Err(InvalidField::new("verified_prefixes", "must hold at least one prefix"));
        }
        Ok(())
    }

    /// Whether the number is a verified polyvalent number (NPV) by this list.
    pub fn is_verified(&self, number: &E164) -> bool {
        french_national(number).is_some_and(|n| self.verified_prefixes.iter().any(|p| p.matches(&n)))
    }

    /// Whether Orange Téléphone labels calls from this number as canvassing by
    /// default (it flags the NPV ranges); a care pool presenting it deserves a warning.
    pub fn orange_labels_as_canvassing(&self, number: &E164) -> bool {
        self.is_verified(number)
    }

    fn is_platform(&self, number: &E164) -> bool {
        french_national(number).is_some_and(|n| self.platform_prefixes.iter().any(|p| p.matches(&n)))
    }
}

/// Why a number may not be presented on a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NumberingRefusal {
    /// 06 and 07 are never presented by a call centre (ARCEP).
    #[error("number_mobile: mobile numbers (06, 07) are never presented by a call centre")]
    Mobile,
    /// 089 premium-rate numbers are barred (arrêté du 5 juillet 2016).
    #[error("number_premium: 089 premium-rate numbers are barred from presentation")]
    Premium,
    /// Only numbers of the French plan (with its overseas departments) are presented.
    #[error("number_foreign: only numbers of the French plan may be presented")]
    Foreign,
    /// An automated dialler must present an NPV, an 08 (not 089) or a 30/31 number.
    #[error(
        "number_not_for_automated: {mode} dialling must present a verified polyvalent number (NPV) or an 08 number, not a {category} number"
    )]
    NotForAutomated {
        /// The pool's dialling mode.
        mode: DiallingMode,
        /// The number's category, by its stable name.
        category: &'static str,
    },
}

impl NumberingRefusal {
    /// The refusal's stable code.
    pub fn code(self) -> &'static str {
        match self {
            NumberingRefusal::Mobile => "number_mobile",
            NumberingRefusal::Premium => "number_premium",
            NumberingRefusal::Foreign => "number_foreign",
            NumberingRefusal::NotForAutomated { .. } => "number_not_for_automated",
        }
    }
}

/// Checks that a call dialled in `mode` may present `number`.
///
/// Mobile (06, 07), premium (089) and foreign numbers are never presented. Short
/// numbers (3BPQ, 30/31) and 118 XYZ cannot be [`E164`] values, so they never reach
/// this check: the inventory cannot hold them. Automated dialling
/// ([`DiallingMode::is_automated`]) further requires an NPV from
/// [`NumberingRules::verified_prefixes`], an 08 number other than 089, or, when
/// [`NumberingRules::platform_numbers_for_automated`] is set, a platform number.
pub fn check_presentation(number: &E164, mode: DiallingMode, rules: &NumberingRules) -> Result<(), NumberingRefusal> {
    let category = presentation_category(number);
    match category {
        NumberCategory::Mobile => return Err(NumberingRefusal::Mobile),
        NumberCategory::Premium => return Err(NumberingRefusal::Premium),
        NumberCategory::Foreign => return Err(NumberingRefusal::Foreign),
        _ => {}
    }
    if !mode.is_automated(rules) {
        return Ok(());
    }
    let allowed = rules.is_verified(number)
        || category == NumberCategory::Special
        || (rules.platform_numbers_for_automated && rules.is_platform(number));
    if allowed { Ok(()) } else { Err(NumberingRefusal::NotForAutomated { mode, category: category.as_str() }) }
}

/// The overseas departments' country codes, whose national significant numbers are
/// French national numbers without the 0 (`+262 692…` is `0692…`).
const OVERSEAS_CODES: [&str; 4] = ["+262", "+590", "+594", "+596"];

/// The number in French national form (`0…`), for the French plan including the
/// overseas departments written with their own country code; `None` otherwise.
fn french_national(number: &E164) -> Option<String> {
    let text = number.as_str();
    if let Some(nsn) = text.strip_prefix("+33") {
        return Some(format!("0{nsn}"));
    }
    OVERSEAS_CODES.iter().find_map(|code| text.strip_prefix(code)).map(|nsn| format!("0{nsn}"))
}

/// The number's ARCEP category, reading the overseas departments' numbers written
/// with their own country code as French (which [`E164::category`] calls foreign).
fn presentation_category(number: &E164) -> NumberCategory {
    if number.as_str().starts_with("+33") {
        return number.category();
    }
    let Some(national) = french_national(number) else {
        return NumberCategory::Foreign;
    };
    match national.as_bytes().get(1).map(|b| b.wrapping_sub(b'0')) {
        Some(zone @ 1..=5) => NumberCategory::Geographic { zone },
        Some(6 | 7) => NumberCategory::Mobile,
        Some(8) if national.starts_with("089") => NumberCategory::Premium,
        Some(8) => NumberCategory::Special,
        Some(9) => NumberCategory::NonGeographic,
        _ => NumberCategory::Foreign,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders the verdict for each mode as `agent preview progressive predictive`.
    fn verdicts(number: &str, rules: &NumberingRules) -> String {
        let number = E164::parse(number).unwrap_or_else(|e| panic!("{number}: {e}"));
        DiallingMode::ALL
            .iter()
            .map(|&mode| match check_presentation(&number, mode, rules) {
                Ok(()) => "ok".to_owned(),
                Err(refusal) => refusal.code().trim_start_matches("number_").to_owned(),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn presentation_per_mode() {
        let default = NumberingRules::default();
        let counsel =
            NumberingRules { platform_numbers_for_automated: true, preview_is_automated: true, ..default.clone() };
        // number: default rules | platform numbers allowed and preview automated
        let table = "
            0142685300    ok ok not_for_automated not_for_automated | ok not_for_automated not_for_automated not_for_automated
            0472000000    ok ok not_for_automated not_for_automated | ok not_for_automated not_for_automated not_for_automated
            0162000000    ok ok ok ok | ok ok ok ok
            0163123456    ok ok ok ok | ok ok ok ok
            0270123456    ok ok ok ok | ok ok ok ok
            0377123456    ok ok ok ok | ok ok ok ok
            0424123456    ok ok ok ok | ok ok ok ok
            0569123456    ok ok ok ok | ok ok ok ok
            0948000000    ok ok ok ok | ok ok ok ok
            0949123456    ok ok ok ok | ok ok ok ok
            0947512345    ok ok ok ok | ok ok ok ok
            0947912345    ok ok ok ok | ok ok ok ok
            0947412345    ok ok not_for_automated not_for_automated | ok not_for_automated not_for_automated not_for_automated
            0938000000    ok ok not_for_automated not_for_automated | ok ok ok ok
            0987000000    ok ok not_for_automated not_for_automated | ok not_for_automated not_for_automated not_for_automated
            0812345678    ok ok ok ok | ok ok ok ok
            0899123456    premium premium premium premium | premium premium premium premium
            0612345678    mobile mobile mobile mobile | mobile mobile mobile mobile
            0773123456    mobile mobile mobile mobile | mobile mobile mobile mobile
            +4930123456   foreign foreign foreign foreign | foreign foreign foreign foreign
            +262262501234 ok ok not_for_automated not_for_automated | ok not_for_automated not_for_automated not_for_automated
            +262692123456 mobile mobile mobile mobile | mobile mobile mobile mobile
            +590690123456 mobile mobile mobile mobile | mobile mobile mobile mobile
            +508411234    foreign foreign foreign foreign | foreign foreign foreign foreign
        ";
        let mut got = Vec::new();
        let mut want = Vec::new();
        for line in table.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let number = line.split_whitespace().next().expect("number");
            want.push(line.split_whitespace().collect::<Vec<_>>().join(" "));
            got.push(format!("{number} {} | {}", verdicts(number, &default), verdicts(number, &counsel)));
        }
        assert_eq!(got.join("\n"), want.join("\n"));
    }

    #[test]
    fn barred_short_numbers_cannot_be_inventory_numbers() {
        for text in ["118218", "3010", "3900", "3117"] {
            assert!(E164::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn orange_labels_npv_ranges() {
        let rules = NumberingRules::default();
        let labelled = |s: &str| rules.orange_labels_as_canvassing(&E164::parse(s).expect("valid"));
        assert!(labelled("0162000000") && labelled("0947712345"));
        assert!(!labelled("0142685300") && !labelled("0938000000") && !labelled("0812345678"));
    }

    #[test]
    fn prefixes_and_rules_validate() {
        assert!(NumberingRules::default().validate().is_ok());
        assert!(NumberPrefix::parse("0162").is_ok());
        for bad in ["162", "0", "01a2", "012345678901"] {
            assert!(NumberPrefix::parse(bad).is_err(), "{bad}");
        }
        let mut twice = NumberingRules::default();
        twice.verified_prefixes.push(NumberPrefix::parse("0162").expect("prefix"));
        assert_eq!(twice.validate().map_err(|e| e.to_string()), Err("verified_prefixes: 0162 is listed twice".into()));
        let none = NumberingRules { verified_prefixes: Vec::new(), ..NumberingRules::default() };
        assert!(none.validate().is_err());
        assert_eq!(DiallingMode::default(), DiallingMode::Agent);
        assert_eq!(DiallingMode::parse("predictive"), Ok(DiallingMode::Predictive));
    }
}
