//! The simulator's tests: determinism, the model file, the model's responses, the
//! calendar and SMS timing from vigie-core, the monitoring in the loop, and the
//! invariants under each policy. Small centres and few days: a year at full volume is
//! the benchmark's (bench/sim.sh).

use crate::{Detection, MODEL_TOML, Model, PolicyKind, PolicySpec, Report, Summary, run};

/// A small centre: 1,000 calls a working day to 5,000 patients.
fn small() -> Model {
    let mut model = Model::default();
    model.population.calls_per_day = 1_000;
    model.population.patients = 5_000;
    model.population.professionals = 200;
    model.policies.baseline_numbers = 10;
    model
}

fn report(model: &Model, spec: &PolicySpec, seed: u64, days: u32) -> Report {
    run(model, spec, seed, days).unwrap_or_else(|e| panic!("{e}"))
}

fn summary(model: &Model, kind: PolicyKind, seed: u64, days: u32) -> Summary {
    report(model, &PolicySpec::of(kind, model), seed, days).summary
}

#[test]
fn same_seed_same_run_other_seed_other_run() {
    let model = small();
    for kind in PolicyKind::ALL {
        let spec = PolicySpec::of(kind, &model);
        let a = report(&model, &spec, 7, 8);
        assert_eq!(a, report(&model, &spec, 7, 8), "{}", spec.name);
        assert_ne!(a.days, report(&model, &spec, 8, 8).days, "{}", spec.name);
    }
}

#[test]
fn embedded_model_is_the_default() {
    assert_eq!(Model::from_toml(MODEL_TOML), Ok(Model::default()));
}

#[test]
fn a_model_file_overrides_some_keys() {
    let model = Model::from_toml("[population]\ncalls_per_day = 500\n").expect("valid");
    assert_eq!(model.population.calls_per_day, 500);
    assert_eq!(model.answer, Model::default().answer);
}

#[test]
fn model_errors_name_the_key() {
    let e = Model::from_toml("[answer]\nplain = \"often\"\n").expect_err("a string is no probability");
    assert_eq!(e.key, "answer.plain");
    let e = Model::from_toml("[apps]\nreport_window = 7\n").expect_err("unknown key");
    assert!(e.key.starts_with("apps") && e.message.contains("report_window"), "{e}");
    let e = Model::from_toml("[mix]\nreminders = 0.9\n").expect_err("mix over 1");
    assert_eq!(e.key, "mix");
    let e = Model::from_toml("[sms]\nlate_planned_minutes = 0\n").expect_err("no lead");
    assert_eq!(e.key, "sms.late_planned_minutes");
    let e = Model::from_toml("[apps]\nvisible_to_sources = [true, true, true, true]\n").expect_err("four apps");
    assert_eq!(e.key, "apps.visible_to_sources");
}

/// The seed's directions: spam reports down, answers up by about 20 points, no more
/// labelled numbers. The model divides spam reports by about 4 at full size, not the
/// seed's 10 (README, "Simulator"), and by about 2.5 in this small centre, whose few
/// numbers per pool show the patient's own facility less often.
#[test]
fn seed_practices_move_the_figures_the_seeds_way() {
    let model = small();
    let before = summary(&model, PolicyKind::Baseline, 1, 21);
    let after = summary(&model, PolicyKind::Seed, 1, 21);
    assert!(after.spam_report_rate < before.spam_report_rate / 2.0, "{before}\n{after}");
    assert!(after.answer_rate > before.answer_rate + 0.15, "{before}\n{after}");
    assert!(after.blacklisted_per_month <= before.blacklisted_per_month, "{before}\n{after}");
}

#[test]
fn without_sms_fewer_answers_and_more_reports() {
    let model = small();
    let with = PolicySpec::of(PolicyKind::Seed, &model);
    let without = PolicySpec { sms: false, ..with.clone() };
    let (with, without) = (report(&model, &with, 3, 10), report(&model, &without, 3, 10));
    let (w, wo) = (&with.summary, &without.summary);
    assert!(w.announced_rate > 0.5 && wo.announced_rate == 0.0, "{w}\n{wo}");
    assert!(wo.answer_rate < w.answer_rate - 0.05, "{w}\n{wo}");
    assert!(wo.spam_report_rate > w.spam_report_rate, "{w}\n{wo}");
}

#[test]
fn more_reports_more_quarantines() {
    let model = small();
    let mut touchy = small();
    touchy.reports.answered *= 4.0;
    touchy.reports.short *= 4.0;
    touchy.reports.unanswered *= 4.0;
    let quarantined = |m: &Model| {
        let r = report(m, &PolicySpec::of(PolicyKind::Seed, m), 5, 10);
        r.days.iter().map(|d| d.quarantined).sum::<u64>()
    };
    let (calm, reported) = (quarantined(&model), quarantined(&touchy));
    assert!(reported > calm * 2 && reported > 5, "{calm} quarantines, {reported} with four times the reports");
}

/// Sundays and public holidays have no calls (vigie-core's calling rules); a call
/// planned inside the SMS window is moved to when its SMS can go (vigie-core's
/// `plan_sms`).
#[test]
fn calendar_and_sms_timing_come_from_the_core() {
    let mut model = small();
    model.population.calls_per_day = 200;
    model.population.saturday_share = 0.5;
    // 2026-01-05 is a Monday; day 116 is Friday 1 May, a public holiday.
    let r = report(&model, &PolicySpec::of(PolicyKind::Seed, &model), 2, 118);
    let calls: Vec<u64> = r.days.iter().map(|d| d.calls).collect();
    assert_eq!(&calls[..7], &[200, 200, 200, 200, 200, 100, 0], "Monday to Sunday");
    assert_eq!(r.days[116].day.map(|d| d.to_string()), Some("2026-05-01".into()));
    assert_eq!((calls[116], calls[117]), (0, 100), "1 May, then a Saturday");

    model.sms.late_planned_share = 0.0;
    let r = report(&model, &PolicySpec::of(PolicyKind::Seed, &model), 2, 5);
    assert_eq!(r.days.iter().map(|d| d.moved_for_sms).sum::<u64>(), 0);
    model.sms.late_planned_share = 1.0;
    let r = report(&model, &PolicySpec::of(PolicyKind::Seed, &model), 2, 5);
    let (moved, sent) = r.days.iter().fold((0, 0), |(m, s), d| (m + d.moved_for_sms, s + d.sms_sent));
    assert!(sent > 0 && moved == sent, "{moved} of {sent} SMS'd calls moved when all are planned late");
}

/// With labels no external source sees, only the number charts (vigie-core's CUSUM)
/// catch a labelled number before its reports do: the vigie policy runs them, the
/// seed's does not.
#[test]
fn the_number_charts_catch_labels_the_sources_miss() {
    let mut model = small();
    model.apps.visible_to_sources = vec![false; 3];
    model.apps.reports_to_label = 1;
    let seed = report(&model, &PolicySpec::of(PolicyKind::Seed, &model), 4, 15);
    let vigie = report(&model, &PolicySpec::of(PolicyKind::Vigie, &model), 4, 15);
    let charts = |r: &Report| r.days.iter().map(|d| d.chart_quarantines).sum::<u64>();
    let sources = |r: &Report| r.days.iter().map(|d| d.source_quarantines).sum::<u64>();
    assert_eq!((charts(&seed), sources(&seed), sources(&vigie)), (0, 0, 0));
    assert!(charts(&vigie) > 0, "no chart alarm in {:?}", vigie.summary);
    // Caught from their calls, labelled numbers make fewer calls under their label.
    let (s, v) = (seed.summary.shown_labelled_rate, vigie.summary.shown_labelled_rate);
    assert!(v < s, "calls shown labelled: seed {s}, vigie {v}");
    assert!(matches!(PolicySpec::of(PolicyKind::Vigie, &model).detection, Detection::Monitor { number_charts: true }));
}

#[test]
fn invariants_hold_under_every_policy_even_when_pools_run_short() {
    let mut model = small();
    // Pools sized to the healthy volume exactly: caps, rests and promotions happen.
    model.policies.pool_headroom = 1.0;
    model.reports.unanswered = 0.05;
    for kind in PolicyKind::ALL {
        let report = report(&model, &PolicySpec::of(kind, &model), 11, 15);
        let engine = kind != PolicyKind::Baseline;
        // Four pools a day through vigie-core's check (run fails with the seed if one fails).
        assert_eq!(report.invariant_checks, if engine { 4 * 15 } else { 0 }, "{kind:?}");
        assert_eq!(report.summary.unplaced, 0, "{kind:?}");
        if engine {
            assert!(report.days.iter().any(|d| d.quarantined > 0), "{kind:?}: no quarantine exercised");
            assert!(report.days.iter().any(|d| d.promoted > 0), "{kind:?}: no promotion exercised");
        }
    }
}

#[test]
fn a_broken_invariant_names_the_seed_to_replay() {
    let e = crate::SimError::Invariant {
        seed: 42,
        policy: "vigie".into(),
        day: crate::START_DAY,
        what: "pool A: index and numbers disagree".into(),
    };
    assert_eq!(
        e.to_string(),
        "invariant broken on 2026-01-05 under policy vigie (seed 42, replay with --seed 42): \
         pool A: index and numbers disagree"
    );
}
