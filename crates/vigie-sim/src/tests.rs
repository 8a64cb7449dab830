//! The simulator's tests: determinism, the model file, the model's responses, and the
//! invariants under each policy.

use crate::{MODEL_TOML, Model, PolicyKind, PolicySpec, Summary, run};

/// A small centre: 2,000 calls a day to 10,000 patients.
fn small() -> Model {
    let mut model = Model::default();
    model.population.calls_per_day = 2_000;
    model.population.patients = 10_000;
    model.population.professionals = 400;
    model.policies.baseline_numbers = 20;
    model
}

fn summary(model: &Model, kind: PolicyKind, seed: u64, days: u32) -> Summary {
    run(model, &PolicySpec::of(kind, model), seed, days).summary
}

#[test]
fn same_seed_same_run() {
    let model = small();
    for kind in PolicyKind::ALL {
        let spec = PolicySpec::of(kind, &model);
        let a = run(&model, &spec, 7, 10);
        assert_eq!(a, run(&model, &spec, 7, 10), "{}", spec.name);
        assert_ne!(a.days, run(&model, &spec, 8, 10).days, "{}", spec.name);
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
}

#[test]
fn seed_practices_move_the_figures_the_seeds_way() {
    let model = small();
    let before = summary(&model, PolicyKind::Baseline, 1, 30);
    let after = summary(&model, PolicyKind::Seed, 1, 30);
    assert!(after.spam_report_rate < before.spam_report_rate / 2.0, "{before}\n{after}");
    assert!(after.answer_rate > before.answer_rate + 0.10, "{before}\n{after}");
    assert!(after.blacklisted_per_month <= before.blacklisted_per_month, "{before}\n{after}");
}

#[test]
fn without_sms_fewer_answers_and_more_reports() {
    let model = small();
    let with = PolicySpec::of(PolicyKind::Seed, &model);
    let without = PolicySpec { sms: false, ..with.clone() };
    let (with, without) = (run(&model, &with, 3, 20).summary, run(&model, &without, 3, 20).summary);
    assert!(without.answer_rate < with.answer_rate - 0.05, "{with}\n{without}");
    assert!(without.spam_report_rate > with.spam_report_rate, "{with}\n{without}");
}

#[test]
fn invariants_hold_under_every_policy_even_when_pools_run_short() {
    let mut model = small();
    // Pools sized to the healthy volume exactly: caps, rests and promotions happen.
    model.policies.pool_headroom = 1.0;
    model.reports.unanswered = 0.05;
    for kind in PolicyKind::ALL {
        let report = run(&model, &PolicySpec::of(kind, &model), 11, 20);
        let engine = kind != PolicyKind::Baseline;
        // Four pools a day through vigie-core's check (run panics with the seed if one fails).
        assert_eq!(report.invariant_checks, if engine { 4 * 20 } else { 0 }, "{kind:?}");
        assert_eq!(report.summary.unplaced, 0, "{kind:?}");
        if engine {
            assert!(report.days.iter().any(|d| d.quarantined > 0), "{kind:?}: no quarantine exercised");
        }
    }
}
