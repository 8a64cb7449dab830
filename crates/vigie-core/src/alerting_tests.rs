//! Alerts: their keys, their texts in French and English, and the gate (duplicates
//! within the window, escalation, the hourly limit and the critical bypass, rebuilt
//! from history), with a property over random streams.

use proptest::prelude::*;

use super::*;

fn at(text: &str) -> Timestamp {
    text.parse().expect("timestamp")
}

fn minutes(m: i64) -> Timestamp {
    at("2026-11-27T09:00:00Z") + SignedDuration::from_mins(m)
}

fn number(text: &str) -> E164 {
    E164::parse(text).expect("number")
}

fn pool(code: &str) -> PoolCode {
    PoolCode::parse(code).expect("pool")
}

fn quarantine(n: &str) -> Alert {
    Alert {
        signal: AlertSignal::Reports,
        severity: Severity::Critical,
        number: Some(number(n)),
        pool: Some(pool("A")),
        about: None,
        evidence: Finding::text("2 signalements"),
        action: AlertAction::Quarantined,
        at: minutes(0),
    }
}

fn pool_drop(code: &str, severity: Severity) -> Alert {
    Alert {
        signal: AlertSignal::PoolAnswerRateDrop,
        severity,
        number: None,
        pool: Some(pool(code)),
        about: None,
        evidence: Finding::text("answer rate 41% over 600 calls against 60% expected"),
        action: AlertAction::AlertOnly,
        at: minutes(0),
    }
}

fn gate(policy: AlertPolicy) -> AlertGate {
    AlertGate::new(policy).expect("gate")
}

#[test]
fn keys_are_signal_and_number_or_pool() {
    assert_eq!(quarantine("+33478200001").dedup_key(), "reports:+33478200001");
    assert_eq!(pool_drop("B", Severity::Warning).dedup_key(), "pool_answer_rate_drop:pool:B");
    let source = Alert { number: None, pool: None, signal: AlertSignal::SourceFailing, ..quarantine("+33478200001") };
    assert_eq!(source.dedup_key(), "source_failing");
    assert_eq!(AlertSignal::parse("capacity_short"), Ok(AlertSignal::CapacityShort));
    assert_eq!(AlertAction::parse("none"), Ok(AlertAction::Nothing));
    assert_eq!(Severity::parse("urgent").expect_err("unknown").field, "severity");
}

#[test]
fn a_duplicate_within_the_window_is_dropped_and_sent_after() {
    let mut g = gate(AlertPolicy::default());
    let a = quarantine("+33478200001");
    assert_eq!(g.decide(&a, minutes(0)), Decision::Send);
    g.record_sent(&a, minutes(0));

    let dup = Decision::Duplicate { of_key: a.dedup_key(), first_at: minutes(0) };
    assert_eq!(g.decide(&a, minutes(1)), dup);
    assert_eq!(g.decide(&a, minutes(6 * 60 - 1)), dup);
    // The window runs from the alert sent: duplicates do not stretch it.
    assert_eq!(g.decide(&a, minutes(6 * 60)), Decision::Send);

    // Another number, or the same number on another signal, is news.
    assert_eq!(g.decide(&quarantine("+33478200002"), minutes(1)), Decision::Send);
    let flagged = Alert { signal: AlertSignal::ExternalFlag, ..a.clone() };
    assert_eq!(g.decide(&flagged, minutes(1)), Decision::Send);
}

#[test]
fn an_escalation_is_not_a_duplicate() {
    let mut g = gate(AlertPolicy::default());
    let warning = pool_drop("B", Severity::Warning);
    g.record_sent(&warning, minutes(0));
    assert!(matches!(g.decide(&pool_drop("B", Severity::Info), minutes(5)), Decision::Duplicate { .. }));
    assert_eq!(g.decide(&pool_drop("B", Severity::Critical), minutes(5)), Decision::Send);
    g.record_sent(&pool_drop("B", Severity::Critical), minutes(5));
    // The critical one now stands for the key, and its window runs from it.
    let dup = Decision::Duplicate { of_key: "pool_answer_rate_drop:pool:B".into(), first_at: minutes(5) };
    assert_eq!(g.decide(&pool_drop("B", Severity::Critical), minutes(10)), dup);
    assert_eq!(g.decide(&pool_drop("B", Severity::Warning), minutes(6 * 60 + 4)), dup);
    assert_eq!(g.decide(&pool_drop("B", Severity::Warning), minutes(6 * 60 + 5)), Decision::Send);
}

#[test]
fn the_hourly_limit_holds_warnings_and_lets_criticals_through() {
    let policy = AlertPolicy { max_per_hour: 3, ..AlertPolicy::default() };
    let mut g = gate(policy);
    for (i, code) in ["A", "B", "C"].iter().enumerate() {
        let a = pool_drop(code, Severity::Warning);
        let t = minutes(i as i64 * 10);
        assert_eq!(g.decide(&a, t), Decision::Send);
        g.record_sent(&a, t);
    }
    let fourth = pool_drop("D", Severity::Warning);
    assert_eq!(g.decide(&fourth, minutes(30)), Decision::RateLimited { until: minutes(60) });
    assert_eq!(g.decide(&fourth, minutes(60)), Decision::Send);

    let critical = quarantine("+33478200001");
    assert_eq!(g.decide(&critical, minutes(30)), Decision::Send);
    g.record_sent(&critical, minutes(30));
    // Four sent in the hour now: a place frees when two have aged out.
    assert_eq!(g.decide(&fourth, minutes(31)), Decision::RateLimited { until: minutes(70) });

    let strict = gate(AlertPolicy { critical_bypasses_rate_limit: false, ..policy });
    let mut strict = strict;
    for (i, code) in ["A", "B", "C"].iter().enumerate() {
        strict.record_sent(&pool_drop(code, Severity::Warning), minutes(i as i64));
    }
    assert_eq!(strict.decide(&critical, minutes(3)), Decision::RateLimited { until: minutes(60) });
}

#[test]
fn the_gate_rebuilds_from_stored_history() {
    let policy = AlertPolicy { max_per_hour: 2, ..AlertPolicy::default() };
    let a = quarantine("+33478200001");
    let history = vec![
        SentAlert { key: pool_drop("B", Severity::Warning).dedup_key(), severity: Severity::Warning, at: minutes(50) },
        SentAlert { key: a.dedup_key(), severity: Severity::Critical, at: minutes(-300) },
        SentAlert { key: "reports:+33478200009".into(), severity: Severity::Critical, at: minutes(-600) },
        SentAlert { key: pool_drop("C", Severity::Warning).dedup_key(), severity: Severity::Warning, at: minutes(40) },
    ];
    let g = AlertGate::rebuild(policy, history, minutes(55)).expect("rebuilt");
    assert_eq!(g.decide(&a, minutes(55)), Decision::Duplicate { of_key: a.dedup_key(), first_at: minutes(-300) });
    assert_eq!(
        g.decide(&pool_drop("D", Severity::Warning), minutes(55)),
        Decision::RateLimited { until: minutes(100) }
    );
    // Older than the window: forgotten.
    assert!(!g.by_key.contains_key("reports:+33478200009"));
    assert_eq!(g.decide(&quarantine("+33478200009"), minutes(55)), Decision::Send);

    let bad = AlertPolicy { max_per_hour: 0, ..AlertPolicy::default() };
    assert_eq!(AlertGate::rebuild(bad, Vec::new(), minutes(0)).expect_err("zero").field, "max_per_hour");
    let long = AlertPolicy { dedup_window: SignedDuration::from_hours(24 * 8), ..AlertPolicy::default() };
    assert_eq!(long.validate().expect_err("long").field, "dedup_window");
}

#[test]
fn a_quarantine_reads_in_french_by_default() {
    let r = quarantine("+33478200001").render(Language::Fr, &Calendar::paris());
    assert_eq!(r.subject, "[Vigie] Numéro +33 4 78 20 00 01 mis en quarantaine (pool A) : 2 signalements");
    for words in [
        "Numéro : +33 4 78 20 00 01",
        "Pool : A",
        "Signal : signalements de spam (reports)",
        "Gravité : critique",
        "Constat : 2 signalements",
        "Action prise : numéro mis en quarantaine",
        "À faire : Vérifier l'étiquette",
        "Heure : 2026-11-27 10:00 (Europe/Paris)",
    ] {
        assert!(r.text.contains(words), "{words} missing from:\n{}", r.text);
    }
}

#[test]
fn english_when_asked() {
    let r = quarantine("+33478200001").render(Language::En, &Calendar::paris());
    assert_eq!(r.subject, "[Vigie] Number +33 4 78 20 00 01 quarantined (pool A): 2 signalements");
    for words in [
        "Number: +33 4 78 20 00 01",
        "Pool: A",
        "Signal: spam reports (reports)",
        "Severity: critical",
        "Evidence: 2 signalements",
        "Action taken: number quarantined",
        "Next: Check the label",
    ] {
        assert!(r.text.contains(words), "{words} missing from:\n{}", r.text);
    }
}

#[test]
fn long_evidence_gives_way_to_the_signal_in_the_subject() {
    let mut a = pool_drop("B", Severity::Warning);
    a.evidence = Finding::text(format!("{}\nsecond line", "x".repeat(10)));
    let r = a.render(Language::Fr, &Calendar::paris());
    assert_eq!(r.subject, "[Vigie] Pool B : baisse du taux de décroché du pool");
    assert!(r.text.contains("Numéro : —"), "{}", r.text);
    assert!(r.text.contains("second line"));

    let source = Alert {
        signal: AlertSignal::SourceFailing,
        severity: Severity::Warning,
        number: None,
        pool: None,
        about: Some("source:huhu".into()),
        evidence: Finding::text("huhu: HTTP 503 since 08:40"),
        action: AlertAction::Nothing,
        at: minutes(0),
    };
    assert_eq!(source.dedup_key(), "source_failing:source:huhu");
    let other = Alert { about: Some("source:hoho".into()), ..source.clone() };
    assert_ne!(other.dedup_key(), source.dedup_key(), "two failing sources are two alerts");
    let r = source.render(Language::En, &Calendar::paris());
    assert_eq!(r.subject, "[Vigie] monitoring source failing: huhu: HTTP 503 since 08:40");
    assert!(r.text.contains("Action taken: none"));
    // A foreign number is shown as it is.
    assert_eq!(spaced_number(&number("+442079460000")), "+442079460000");
}

proptest! {
    /// Whatever the stream, no hour holds more than `max_per_hour` non-critical
    /// alerts sent, and no key is sent twice within its window at the same severity
    /// (the window is an hour here).
    #[test]
    fn the_gate_keeps_its_limits(events in prop::collection::vec((0i64..40, 0usize..4, 0usize..3), 1..200)) {
        let policy = AlertPolicy { max_per_hour: 5, dedup_window: SignedDuration::from_hours(1), ..AlertPolicy::default() };
        let mut g = gate(policy);
        let mut t = minutes(0);
        let mut sent: Vec<(Timestamp, String, Severity)> = Vec::new();
        for (gap, code, sev) in events {
            t += SignedDuration::from_mins(gap);
            let severity = Severity::ALL[sev];
            let a = pool_drop(["A", "B", "C", "D"][code], severity);
            if g.decide(&a, t) == Decision::Send {
                g.record_sent(&a, t);
                sent.push((t, a.dedup_key(), severity));
            }
        }
        for (i, (ti, key, sev)) in sent.iter().enumerate() {
            let hour: Vec<_> = sent[..=i].iter().filter(|(tj, _, _)| *tj > *ti - SignedDuration::from_hours(1)).collect();
            let non_critical = hour.iter().filter(|(_, _, s)| *s != Severity::Critical).count();
            prop_assert!(non_critical <= 5);
            let repeats = hour.iter().filter(|(_, k, s)| k == key && s == sev).count();
            prop_assert_eq!(repeats, 1);
        }
    }
}
