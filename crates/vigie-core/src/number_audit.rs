//! The phone reputation audit behind `vigie audit numbers`: a checklist run on every
//! number, each check passing, warning or failing with its evidence, from facts the
//! store gathers ([`NumberFacts`]). Pure: the thresholds live here, the queries in the
//! store.

use crate::names::named_enum;

named_enum!(
    /// A check's result.
    Verdict, "verdict", {
        /// Nothing to do.
        Pass = "pass",
        /// Worth a look.
        Warn = "warn",
        /// To fix.
        Fail = "fail",
    }
);

/// One check of one number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCheck {
    /// The check's stable name (`identity_registered`, …).
    pub code: &'static str,
    /// Its result.
    pub verdict: Verdict,
    /// The evidence, in words.
    pub detail: String,
}

/// What the store knows about a number, for the audit. Counts are over the last 30
/// days unless their name says otherwise.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NumberFacts {
    /// Its pool takes outbound calls (the call checks apply).
    pub outbound: bool,
    /// Its state: `active`, `resting`, `quarantined`, `reserve`, `retired`.
    pub state: String,
    /// Its displayed name (CNAM) was registered with the carrier.
    pub cnam_registered: bool,
    /// Its displayed name, as configured.
    pub display_name: String,
    /// Its callback number differs from the number itself and is a valid number.
    pub callback_configured: bool,
    /// The callback reaches the centre: it is one of the centre's inbound numbers or
    /// its facility's own callback.
    pub callback_reaches_centre: bool,
    /// Its reverse-directory listing was recorded.
    pub directory_listed: bool,
    /// Its carrier authenticates its calls (MAN, STIR/SHAKEN), as recorded.
    pub caller_authenticated: bool,
    /// Why its pool's dialling mode may not present it (ARCEP), if it may not.
    pub range_refusal: Option<String>,
    /// Its range is labelled as canvassing by default while its pool makes care calls.
    pub range_labelled_canvassing: bool,
    /// Calls it placed for a purpose its pool does not serve (pool segregation).
    pub calls_outside_pool: u64,
    /// Its busiest local day's calls.
    pub max_calls_per_day: u32,
    /// Its pool's cap.
    pub cap: u32,
    /// Calls dialled inside one of its rest windows.
    pub calls_in_rest: u64,
    /// Spam reports received.
    pub reports: u32,
    /// Calls with an outcome.
    pub calls: u64,
    /// Of which answered.
    pub answered: u64,
    /// Its pool's answer rate over the same days, if its pool has outcomes.
    pub pool_rate: Option<f64>,
    /// Answered calls with a known duration.
    pub answered_with_duration: u64,
    /// Answered calls under 10 seconds.
    pub short_answered: u64,
    /// Pre-call SMS submitted for its calls, and those delivered.
    pub sms_submitted: u64,
    /// Of which delivered.
    pub sms_delivered: u64,
    /// External sources whose latest reading flags it.
    pub flagged_by: Vec<String>,
    /// An incident about it is open.
    pub open_incident: bool,
    /// Incidents about it over the last 30 days.
    pub incidents: u32,
}

/// Fewest calls with an outcome for an answer-rate verdict.
pub const AUDIT_CALLS_MIN: u64 = 30;

/// The checks, in order (there are 17).
pub const AUDIT_CHECKS: [&str; 17] = [
    "state",
    "identity_registered",
    "callback_configured",
    "callback_reaches_centre",
    "directory_listing_recorded",
    "caller_authentication_recorded",
    "number_range_allowed",
    "range_not_labelled_canvassing",
    "pool_segregation",
    "cap_respected_30d",
    "rest_respected_30d",
    "reports_30d",
    "answer_rate_vs_pool",
    "short_calls",
    "sms_delivery_rate",
    "external_sources_clean",
    "incidents_30d",
];

fn check(code: &'static str, verdict: Verdict, detail: impl Into<String>) -> AuditCheck {
    AuditCheck { code, verdict, detail: detail.into() }
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { 100.0 * part as f64 / whole as f64 }
}

/// Runs every check of [`AUDIT_CHECKS`] on one number, in that order.
pub fn audit_number(f: &NumberFacts) -> Vec<AuditCheck> {
    use Verdict::{Fail, Pass, Warn};
    let mut out = Vec::with_capacity(AUDIT_CHECKS.len());
    out.push(match f.state.as_str() {
        "active" | "reserve" => check("state", Pass, f.state.clone()),
        "resting" => check("state", Pass, "resting after intensive days (the engine's rule)"),
        "quarantined" => check("state", Fail, "quarantined: see its incident"),
        other => check("state", Warn, other.to_owned()),
    });
    out.push(if f.cnam_registered {
        check("identity_registered", Pass, format!("displayed name \"{}\" registered", f.display_name))
    } else {
        check(
            "identity_registered",
            Fail,
            format!("\"{}\" is configured but not registered with the carrier (CNAM)", f.display_name),
        )
    });
    out.push(if f.callback_configured {
        check("callback_configured", Pass, "a callback number is set")
    } else {
        check("callback_configured", Fail, "no usable callback number (missing, or the number itself)")
    });
    out.push(if f.callback_reaches_centre {
        check("callback_reaches_centre", Pass, "the callback is an inbound number of the centre or its facility's")
    } else {
        check(
            "callback_reaches_centre",
            Warn,
            "the callback is neither an inbound number (pool E) nor its facility's callback: check that it is answered",
        )
    });
    out.push(if f.directory_listed {
        check("directory_listing_recorded", Pass, "listed in the reverse directory")
    } else {
        check("directory_listing_recorded", Warn, "no reverse-directory listing recorded")
    });
    out.push(if f.caller_authenticated {
        check("caller_authentication_recorded", Pass, "the carrier authenticates its calls (MAN)")
    } else {
        check("caller_authentication_recorded", Warn, "no caller authentication (MAN, STIR/SHAKEN) recorded")
    });
    out.push(match &f.range_refusal {
        None => check("number_range_allowed", Pass, "its pool's dialling mode may present it (ARCEP)"),
        Some(why) => check("number_range_allowed", Fail, why.clone()),
    });
    out.push(if f.range_labelled_canvassing {
        check(
            "range_not_labelled_canvassing",
            Warn,
            "its range is labelled as canvassing by default while its pool makes care calls",
        )
    } else {
        check("range_not_labelled_canvassing", Pass, "its range carries no default label for its use")
    });
    out.push(if f.calls_outside_pool == 0 {
        check("pool_segregation", Pass, "every call served its pool's purposes")
    } else {
        check("pool_segregation", Fail, format!("{} calls for purposes its pool does not serve", f.calls_outside_pool))
    });
    out.push(if f.max_calls_per_day <= f.cap {
        check("cap_respected_30d", Pass, format!("busiest day {} calls, cap {}", f.max_calls_per_day, f.cap))
    } else {
        check(
            "cap_respected_30d",
            Fail,
            format!("busiest day {} calls, over the cap of {}", f.max_calls_per_day, f.cap),
        )
    });
    out.push(if f.calls_in_rest == 0 {
        check("rest_respected_30d", Pass, "no call in a rest window")
    } else {
        check("rest_respected_30d", Fail, format!("{} calls inside a rest window", f.calls_in_rest))
    });
    out.push(match f.reports {
        0 => check("reports_30d", Pass, "no spam report"),
        1 => check("reports_30d", Warn, "1 spam report"),
        n => check("reports_30d", Fail, format!("{n} spam reports")),
    });
    out.push(match (f.calls >= AUDIT_CALLS_MIN, f.pool_rate) {
        (true, Some(pool)) if pool > 0.0 => {
            let rate = f.answered as f64 / f.calls as f64;
            let shortfall = 1.0 - rate / pool;
            let detail = format!(
                "{:.0} % answered against {:.0} % for its pool, over {} calls",
                100.0 * rate,
                100.0 * pool,
                f.calls
            );
            let verdict = if shortfall > 0.25 {
                Fail
            } else if shortfall > 0.10 {
                Warn
            } else {
                Pass
            };
            check("answer_rate_vs_pool", verdict, detail)
        }
        _ if !f.outbound => check("answer_rate_vs_pool", Pass, "not an outbound number"),
        _ => check(
            "answer_rate_vs_pool",
            Pass,
            format!("{} calls with an outcome: too few to judge (at least {AUDIT_CALLS_MIN})", f.calls),
        ),
    });
    out.push(if f.answered_with_duration < AUDIT_CALLS_MIN {
        check(
            "short_calls",
            Pass,
            format!("{} answered calls with a duration: too few to judge", f.answered_with_duration),
        )
    } else {
        let share = pct(f.short_answered, f.answered_with_duration);
        let verdict = if share > 25.0 {
            Fail
        } else if share > 12.0 {
            Warn
        } else {
            Pass
        };
        check("short_calls", verdict, format!("{share:.0} % of answered calls under 10 s"))
    });
    out.push(if f.sms_submitted == 0 {
        check("sms_delivery_rate", Pass, "no pre-call SMS sent")
    } else {
        let rate = pct(f.sms_delivered, f.sms_submitted);
        let verdict = if rate < 75.0 {
            Fail
        } else if rate < 90.0 {
            Warn
        } else {
            Pass
        };
        check("sms_delivery_rate", verdict, format!("{rate:.0} % of {} SMS delivered", f.sms_submitted))
    });
    out.push(if f.flagged_by.is_empty() {
        check("external_sources_clean", Pass, "no external source flags it")
    } else {
        check("external_sources_clean", Fail, format!("flagged by {}", f.flagged_by.join(", ")))
    });
    out.push(match (f.open_incident, f.incidents) {
        (true, _) => check("incidents_30d", Fail, "an incident is open"),
        (false, 0) => check("incidents_30d", Pass, "no incident"),
        (false, n) => check("incidents_30d", Warn, format!("{n} incidents, all closed")),
    });
    out
}

/// Counts of each verdict over a set of checks: (pass, warn, fail).
pub fn audit_summary<'a>(checks: impl IntoIterator<Item = &'a AuditCheck>) -> (usize, usize, usize) {
    checks.into_iter().fold((0, 0, 0), |(p, w, f), c| match c.verdict {
        Verdict::Pass => (p + 1, w, f),
        Verdict::Warn => (p, w + 1, f),
        Verdict::Fail => (p, w, f + 1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> NumberFacts {
        NumberFacts {
            outbound: true,
            state: "active".into(),
            cnam_registered: true,
            display_name: "Clinique St-Jean".into(),
            callback_configured: true,
            callback_reaches_centre: true,
            directory_listed: true,
            caller_authenticated: true,
            max_calls_per_day: 70,
            cap: 80,
            calls: 200,
            answered: 120,
            pool_rate: Some(0.6),
            answered_with_duration: 120,
            short_answered: 6,
            sms_submitted: 100,
            sms_delivered: 97,
            ..NumberFacts::default()
        }
    }

    fn verdict(f: &NumberFacts, code: &str) -> Verdict {
        audit_number(f).into_iter().find(|c| c.code == code).map(|c| c.verdict).expect("the check runs")
    }

    #[test]
    fn every_check_runs_in_order_and_a_healthy_number_passes() {
        let checks = audit_number(&healthy());
        assert_eq!(checks.iter().map(|c| c.code).collect::<Vec<_>>(), AUDIT_CHECKS);
        assert!(AUDIT_CHECKS.len() >= 15);
        assert_eq!(audit_summary(&checks), (AUDIT_CHECKS.len(), 0, 0), "{checks:?}");
    }

    #[test]
    fn each_check_warns_or_fails_at_its_edge() {
        let h = healthy();
        let cases: Vec<(NumberFacts, &str, Verdict)> = vec![
            (NumberFacts { state: "quarantined".into(), ..h.clone() }, "state", Verdict::Fail),
            (NumberFacts { cnam_registered: false, ..h.clone() }, "identity_registered", Verdict::Fail),
            (NumberFacts { callback_configured: false, ..h.clone() }, "callback_configured", Verdict::Fail),
            (NumberFacts { callback_reaches_centre: false, ..h.clone() }, "callback_reaches_centre", Verdict::Warn),
            (NumberFacts { directory_listed: false, ..h.clone() }, "directory_listing_recorded", Verdict::Warn),
            (NumberFacts { caller_authenticated: false, ..h.clone() }, "caller_authentication_recorded", Verdict::Warn),
            (NumberFacts { range_refusal: Some("NPV".into()), ..h.clone() }, "number_range_allowed", Verdict::Fail),
            (
                NumberFacts { range_labelled_canvassing: true, ..h.clone() },
                "range_not_labelled_canvassing",
                Verdict::Warn,
            ),
            (NumberFacts { calls_outside_pool: 1, ..h.clone() }, "pool_segregation", Verdict::Fail),
            (NumberFacts { max_calls_per_day: 80, ..h.clone() }, "cap_respected_30d", Verdict::Pass),
            (NumberFacts { max_calls_per_day: 81, ..h.clone() }, "cap_respected_30d", Verdict::Fail),
            (NumberFacts { calls_in_rest: 1, ..h.clone() }, "rest_respected_30d", Verdict::Fail),
            (NumberFacts { reports: 1, ..h.clone() }, "reports_30d", Verdict::Warn),
            (NumberFacts { reports: 2, ..h.clone() }, "reports_30d", Verdict::Fail),
            // 0.6 pool: 54 % is a shortfall of 10 % (pass), 53 % warns, 44 % fails.
            (NumberFacts { answered: 108, ..h.clone() }, "answer_rate_vs_pool", Verdict::Pass),
            (NumberFacts { answered: 106, ..h.clone() }, "answer_rate_vs_pool", Verdict::Warn),
            (NumberFacts { answered: 88, ..h.clone() }, "answer_rate_vs_pool", Verdict::Fail),
            (NumberFacts { calls: 29, answered: 1, ..h.clone() }, "answer_rate_vs_pool", Verdict::Pass),
            (NumberFacts { short_answered: 14, ..h.clone() }, "short_calls", Verdict::Pass),
            (NumberFacts { short_answered: 15, ..h.clone() }, "short_calls", Verdict::Warn),
            (NumberFacts { short_answered: 31, ..h.clone() }, "short_calls", Verdict::Fail),
            (NumberFacts { sms_delivered: 89, ..h.clone() }, "sms_delivery_rate", Verdict::Warn),
            (NumberFacts { sms_delivered: 74, ..h.clone() }, "sms_delivery_rate", Verdict::Fail),
            (NumberFacts { sms_submitted: 0, sms_delivered: 0, ..h.clone() }, "sms_delivery_rate", Verdict::Pass),
            (NumberFacts { flagged_by: vec!["huhu".into()], ..h.clone() }, "external_sources_clean", Verdict::Fail),
            (NumberFacts { incidents: 1, ..h.clone() }, "incidents_30d", Verdict::Warn),
            (NumberFacts { open_incident: true, incidents: 1, ..h.clone() }, "incidents_30d", Verdict::Fail),
        ];
        for (facts, code, want) in cases {
            assert_eq!(verdict(&facts, code), want, "{code}: {facts:?}");
        }
        let none = NumberFacts { calls: 0, answered: 0, pool_rate: None, ..h };
        assert_eq!(verdict(&none, "answer_rate_vs_pool"), Verdict::Pass);
    }
}
