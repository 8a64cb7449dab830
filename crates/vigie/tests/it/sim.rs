//! `vigie sim` as a separate process: a few simulated days at low volume, the seed's
//! table side by side, the files written to `--out`, the same output for the same
//! seed, and bad arguments named with their rule.

use std::process::{Command, Output};

const VIGIE: &str = env!("CARGO_BIN_EXE_vigie");

fn sim(args: &[&str]) -> Output {
    Command::new(VIGIE).arg("sim").args(args).output().expect("vigie runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn compare_prints_the_seeds_table_and_writes_the_charts() {
    let dir = tempfile::tempdir().expect("a directory");
    let out_dir = dir.path().join("sim");
    let out_arg = out_dir.to_str().expect("a UTF-8 path");
    let args = ["--days", "3", "--calls-per-day", "300", "--compare", "baseline,seed,vigie", "--seed", "5"];
    let out = sim(&[&args[..], &["--out", out_arg]].concat());
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("| metric | seed table: before | seed table: after | baseline | seed | vigie |"),
        "{stdout}"
    );
    for row in [
        "| Spam report rate | 0.8% | 0.08% |",
        "| Answer rate | 41% | 63% |",
        "| Blacklisted numbers/month | 4-6 | 0-1 |",
        "| Incident detection time | 5-10 days | < 2 hours |",
        "| Number replacement cost/year | €12,000 | €1,500 |",
        "| Calls placed | | | 900 | 900 | 900 |",
    ] {
        assert!(stdout.contains(row), "{row} missing from\n{stdout}");
    }
    // The progress bar is hidden when stderr is not a terminal; each run's line stays.
    assert!(stderr.contains("seed: 3 days, 900 calls, 12 invariant checks passed"), "{stderr}");
    for chart in ["spam_report_rate", "answer_rate", "blacklisted", "detection_time", "replacement_cost"] {
        let svg = std::fs::read_to_string(out_dir.join(format!("{chart}.svg"))).expect("the chart was written");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"), "{chart}: {svg}");
        for policy in ["baseline", "seed", "vigie"] {
            assert!(svg.contains(&format!(r#"data-name="{policy}""#)), "{chart} has no {policy} series");
        }
    }
    let csv = std::fs::read_to_string(out_dir.join("daily.csv")).expect("daily.csv");
    assert_eq!(csv.lines().count(), 1 + 3 * 3, "{csv}");
    assert!(csv.lines().any(|l| l.starts_with("vigie,2026-01-07,300,")), "{csv}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("summary.json")).expect("summary.json"))
            .expect("JSON");
    assert_eq!(json["policies"][2]["policy"], "vigie");
    assert_eq!(json["policies"][2]["calls"], 900);

    // The same seed prints the same table; another seed another one.
    let again = sim(&[&args[..], &["--out", out_arg]].concat());
    assert_eq!(text(&again.stdout), stdout);
    let baseline = |seed: &str| {
        text(&sim(&["--days", "3", "--calls-per-day", "300", "--policy", "baseline", "--seed", seed]).stdout)
    };
    assert_ne!(baseline("5"), baseline("6"));
}

#[test]
fn bad_arguments_name_the_option_and_the_rule() {
    for (args, expected) in [
        (&["--days", "0"][..], "--days: must be between 1 and 3660"),
        (
            &["--days", "2", "--compare", "baseline,nope"][..],
            "--compare: 'nope' is not a policy; the policies are baseline, seed, vigie",
        ),
        (&["--days", "2", "--compare", "seed,seed"][..], "--compare: 'seed' is named twice"),
        (&["--days", "2", "--policy", "late"][..], "--policy: 'late' is not a policy"),
        (&["--days", "2", "--calls-per-day", "0"][..], "--calls-per-day: must be between 1 and 1000000"),
        (&["--days", "2", "--model", "/nonexistent/model.toml"][..], "--model: cannot read /nonexistent/model.toml"),
    ] {
        let out = sim(args);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(text(&out.stderr).contains(expected), "{args:?}: {}", text(&out.stderr));
    }
    let dir = tempfile::tempdir().expect("a directory");
    let model = dir.path().join("model.toml");
    std::fs::write(&model, "[answer]\nplain = \"often\"\n").expect("written");
    let out = sim(&["--days", "2", "--model", model.to_str().expect("UTF-8")]);
    assert!(text(&out.stderr).contains("answer.plain"), "{}", text(&out.stderr));
}
