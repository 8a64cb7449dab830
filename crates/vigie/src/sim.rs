//! `vigie sim`: runs vigie-sim's deterministic simulator for one policy or several side
//! by side, prints the seed's before/after table with each policy's figures, and
//! writes the figures over the year (SVG charts drawn by vigie-report, the daily series
//! as CSV, the summaries and weekly series as JSON) to `--out`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use vigie_core::Language;
use vigie_report::charts::{Chart, Series, YFormat, line_chart};
use vigie_report::{Figure, seed_figure};
use vigie_sim::{DayFigures, Model, PolicyKind, PolicySpec, Report, START_DAY, Summary, run_with_progress};

/// Longest run `--days` accepts: ten years.
const DAYS_MAX: u32 = 3_660;
/// Most calls a day `--calls-per-day` accepts.
const CALLS_PER_DAY_MAX: u32 = 1_000_000;
/// Days per point of the charts.
const WEEK: usize = 7;

#[derive(Args, Debug)]
pub(crate) struct SimArgs {
    /// Days to simulate, from Monday 2026-01-05 (1 to 3660).
    #[arg(long, default_value_t = 365)]
    days: u32,
    /// Calls a working day (default: the model's population.calls_per_day, 10000).
    #[arg(long)]
    calls_per_day: Option<u32>,
    /// The policy to run: baseline, seed or vigie.
    #[arg(long, default_value = "vigie", conflicts_with = "compare")]
    policy: String,
    /// Policies to run side by side, comma-separated (baseline,seed,vigie).
    #[arg(long)]
    compare: Option<String>,
    /// The seed: the same seed gives the same output.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// A folder to write the charts (SVG), daily.csv and summary.json to.
    #[arg(long)]
    out: Option<PathBuf>,
    /// A model file overriding any of the default model's keys (`vigie-sim`'s model.toml).
    #[arg(long)]
    model: Option<PathBuf>,
}

/// The policies named by `--policy` or `--compare`, checked.
fn policies(args: &SimArgs) -> anyhow::Result<Vec<PolicyKind>> {
    let (option, text) = match &args.compare {
        Some(list) => ("--compare", list.as_str()),
        None => ("--policy", args.policy.as_str()),
    };
    let names: Vec<&str> = PolicyKind::ALL.iter().map(|k| k.as_str()).collect();
    let mut kinds = Vec::new();
    for name in text.split(',').map(str::trim) {
        let Some(kind) = PolicyKind::parse(name) else {
            bail!("{option}: '{name}' is not a policy; the policies are {}", names.join(", "));
        };
        if kinds.contains(&kind) {
            bail!("{option}: '{name}' is named twice; each policy runs once");
        }
        kinds.push(kind);
    }
    Ok(kinds)
}

/// The model: the default, or the file's keys over it, with `--calls-per-day`.
fn model(args: &SimArgs) -> anyhow::Result<Model> {
    let mut model = match &args.model {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("--model: cannot read {}", path.display()))?;
            Model::from_toml(&text).map_err(|e| anyhow::anyhow!("--model {}: {e}", path.display()))?
        }
        None => Model::default(),
    };
    if let Some(calls) = args.calls_per_day {
        if !(1..=CALLS_PER_DAY_MAX).contains(&calls) {
            bail!("--calls-per-day: must be between 1 and {CALLS_PER_DAY_MAX}");
        }
        model.population.calls_per_day = calls;
    }
    Ok(model)
}

pub(crate) fn run(args: &SimArgs) -> anyhow::Result<()> {
    if !(1..=DAYS_MAX).contains(&args.days) {
        bail!("--days: must be between 1 and {DAYS_MAX}");
    }
    let kinds = policies(args)?;
    let model = model(args)?;
    let bar =
        ProgressBar::with_draw_target(Some(u64::from(args.days) * kinds.len() as u64), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} simulated days {pos}/{len} {wide_bar} {elapsed} (eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    // The policies are independent runs of their own seeded stream: each on its own
    // thread, the output is the same whatever the scheduling.
    let results: Vec<anyhow::Result<(Report, f64)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = kinds
            .iter()
            .map(|&kind| {
                let (model, bar) = (&model, bar.clone());
                scope.spawn(move || {
                    let started = Instant::now();
                    let spec = PolicySpec::of(kind, model);
                    let mut done = 0;
                    let report = run_with_progress(model, &spec, args.seed, args.days, &mut |day| {
                        bar.inc(u64::from(day - done));
                        done = day;
                    })?;
                    Ok((report, started.elapsed().as_secs_f64()))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a simulation thread panicked (seed {})", args.seed)))
            })
            .collect()
    });
    bar.finish_and_clear();
    let mut reports = Vec::new();
    for result in results {
        let (report, secs) = result?;
        eprintln!(
            "{}: {} days, {} calls, {} invariant checks passed, {secs:.1} s",
            report.summary.policy, report.summary.days, report.summary.calls, report.invariant_checks
        );
        reports.push(report);
    }
    println!(
        "vigie sim: {} days from {START_DAY}, {} calls a working day, seed {}",
        args.days, model.population.calls_per_day, args.seed
    );
    println!();
    print!("{}", table(&reports));
    if let Some(out) = &args.out {
        write_files(out, &reports)?;
        println!();
        println!("wrote {} (charts: {})", out.display(), CHARTS.map(|c| c.file).join(", "));
    }
    Ok(())
}

/// A figure of a summary as the table shows it.
fn cell(figure: Figure, s: &Summary) -> String {
    match figure {
        Figure::SpamReportRate => format!("{:.3}%", s.spam_report_rate * 100.0),
        Figure::AnswerRate => format!("{:.1}%", s.answer_rate * 100.0),
        Figure::BlacklistedPerMonth => format!("{:.1}", s.blacklisted_per_month),
        Figure::DetectionTime => match s.detection_hours {
            None => "none".into(),
            Some(h) if h >= 48.0 => format!("{:.1} days", h / 24.0),
            Some(h) if h >= 1.0 => format!("{h:.1} hours"),
            Some(h) => format!("{:.0} minutes", h * 60.0),
        },
        Figure::ReplacementCostPerYear => format!("€{}", grouped(s.replacement_cost_per_year_eur.round() as u64)),
        _ => String::new(),
    }
}

/// A count with its thousands separated by commas, as the seed's table writes them.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A figure of a summary as text.
type SummaryText = fn(&Summary) -> String;

/// The seed's five figures, before and after, with each policy's; then what the
/// simulator counted besides.
fn table(reports: &[Report]) -> String {
    let mut out = String::from("| metric | seed table: before | seed table: after |");
    for r in reports {
        out.push_str(&format!(" {} |", r.summary.policy));
    }
    out.push_str("\n|---|---|---|");
    out.push_str(&"---|".repeat(reports.len()));
    out.push('\n');
    for figure in [
        Figure::SpamReportRate,
        Figure::AnswerRate,
        Figure::BlacklistedPerMonth,
        Figure::DetectionTime,
        Figure::ReplacementCostPerYear,
    ] {
        let seed = seed_figure(figure);
        out.push_str(&format!(
            "| {} | {} | {} |",
            seed.map_or("", |s| s.metric),
            seed.map_or("", |s| s.before_text),
            seed.map_or("", |s| s.after_text)
        ));
        for r in reports {
            out.push_str(&format!(" {} |", cell(figure, &r.summary)));
        }
        out.push('\n');
    }
    let extra: [(&str, SummaryText); 6] = [
        ("Calls placed", |s| grouped(s.calls)),
        ("Calls announced by SMS", |s| format!("{:.1}%", s.announced_rate * 100.0)),
        ("Calls shown with a spam label", |s| format!("{:.2}%", s.shown_labelled_rate * 100.0)),
        ("Quarantines/month on reports, sources, charts", |s| {
            let [r, e, c] = s.quarantines_per_month;
            format!("{r:.1}, {e:.1}, {c:.1}")
        }),
        ("Quarantines of numbers never labelled/month", |s| format!("{:.1}", s.cleared_per_month)),
        ("Calls no number could take", |s| grouped(s.unplaced)),
    ];
    for (name, value) in extra {
        out.push_str(&format!("| {name} | | |"));
        for r in reports {
            out.push_str(&format!(" {} |", value(&r.summary)));
        }
        out.push('\n');
    }
    out
}

/// One chart of the figures over the run.
#[derive(Clone, Copy)]
struct ChartSpec {
    file: &'static str,
    title: &'static str,
    format: YFormat,
    /// The value of a week (its summary, and the days so far for running totals).
    value: fn(&Summary, &[DayFigures]) -> Option<f64>,
}

/// The seed's five figures, week by week: rates and detection time of each week,
/// blacklisted numbers and replacement cost as running totals.
const CHARTS: [ChartSpec; 5] = [
    ChartSpec {
        file: "spam_report_rate.svg",
        title: "Spam report rate, per week",
        format: YFormat::Percent,
        value: |s, _| (s.calls > 0).then_some(s.spam_report_rate),
    },
    ChartSpec {
        file: "answer_rate.svg",
        title: "Answer rate, per week",
        format: YFormat::Percent,
        value: |s, _| (s.calls > 0).then_some(s.answer_rate),
    },
    ChartSpec {
        file: "blacklisted.svg",
        title: "Numbers blacklisted (labelled by an app) since the start",
        format: YFormat::Number,
        value: |_, so_far| Some(so_far.iter().map(|d| d.labelled).sum::<u64>() as f64),
    },
    ChartSpec {
        file: "detection_time.svg",
        title: "Incident detection time, mean of the week (hours)",
        format: YFormat::Number,
        value: |s, _| s.detection_hours,
    },
    ChartSpec {
        file: "replacement_cost.svg",
        title: "Number replacement cost since the start (EUR)",
        format: YFormat::Number,
        value: |_, so_far| Some(so_far.iter().map(|d| d.replacement_cost_eur).sum()),
    },
];

/// A chart's weekly values for one run.
fn weekly(chart: &ChartSpec, report: &Report) -> Vec<Option<f64>> {
    let days = &report.days;
    (0..days.len().div_ceil(WEEK))
        .map(|w| {
            let end = ((w + 1) * WEEK).min(days.len());
            let week = Summary::of(&report.summary.policy, &days[w * WEEK..end]);
            (chart.value)(&week, &days[..end])
        })
        .collect()
}

/// The week's first day, as the charts' x labels show it.
fn week_labels(report: &Report) -> Vec<String> {
    report
        .days
        .chunks(WEEK)
        .map(|week| week[0].day.map_or(String::new(), |d| d.strftime("%m-%d").to_string()))
        .collect()
}

fn write_files(out: &Path, reports: &[Report]) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("--out: cannot create {}", out.display()))?;
    let write = |name: &str, text: &str| {
        let path = out.join(name);
        std::fs::write(&path, text).with_context(|| format!("--out: cannot write {}", path.display()))
    };
    let labels = reports.first().map(week_labels).unwrap_or_default();
    for chart in &CHARTS {
        let svg = line_chart(&Chart {
            title: chart.title.into(),
            x_labels: labels.clone(),
            series: reports
                .iter()
                .map(|r| Series { name: r.summary.policy.clone(), values: weekly(chart, r) })
                .collect(),
            y_format: chart.format,
            language: Language::En,
            width: 900,
            height: 320,
        });
        write(chart.file, &svg)?;
    }
    let mut csv = csv::Writer::from_writer(Vec::new());
    csv.write_record([
        "policy",
        "day",
        "calls",
        "answered",
        "announced",
        "shown_labelled",
        "rejected",
        "spam_reports",
        "shown_as_spam",
        "labelled",
        "quarantined_on_reports",
        "quarantined_on_sources",
        "quarantined_on_charts",
        "incidents",
        "incidents_of_labelled",
        "detection_hours",
        "incidents_without_label",
        "pool_alerts",
        "replaced",
        "replacement_cost_eur",
        "promoted",
        "unplaced",
        "moved_for_sms",
        "deferred",
    ])?;
    for r in reports {
        for d in &r.days {
            let day = d.day.map_or(String::new(), |d| d.to_string());
            let counts = [
                d.calls,
                d.answered,
                d.announced,
                d.shown_labelled,
                d.rejected,
                d.spam_reports,
                d.shown_as_spam,
                d.labelled,
                d.quarantined,
                d.source_quarantines,
                d.chart_quarantines,
                d.incidents,
                d.detected,
            ];
            let mut row = vec![r.summary.policy.clone(), day];
            row.extend(counts.iter().map(u64::to_string));
            row.push(format!("{:.3}", d.detection_hours));
            row.extend([d.cleared, d.pool_alerts, d.replaced].iter().map(u64::to_string));
            row.push(format!("{:.2}", d.replacement_cost_eur));
            row.extend([d.promoted, d.unplaced, d.moved_for_sms, d.deferred].iter().map(u64::to_string));
            csv.write_record(&row)?;
        }
    }
    let csv = String::from_utf8(csv.into_inner().map_err(|e| anyhow::anyhow!("daily.csv: {e}"))?)?;
    write("daily.csv", &csv)?;
    let policies: Vec<_> = reports
        .iter()
        .map(|r| {
            let s = &r.summary;
            let weeks: serde_json::Map<String, serde_json::Value> =
                CHARTS.iter().map(|c| (c.file.trim_end_matches(".svg").to_string(), json!(weekly(c, r)))).collect();
            json!({
                "policy": s.policy,
                "seed": r.seed,
                "days": s.days,
                "calls": s.calls,
                "answer_rate": s.answer_rate,
                "spam_report_rate": s.spam_report_rate,
                "blacklisted_per_month": s.blacklisted_per_month,
                "detection_hours": s.detection_hours,
                "replacement_cost_per_year_eur": s.replacement_cost_per_year_eur,
                "announced_rate": s.announced_rate,
                "shown_labelled_rate": s.shown_labelled_rate,
                "quarantines_without_label_per_month": s.cleared_per_month,
                "quarantines_per_month": {
                    "reports": s.quarantines_per_month[0],
                    "sources": s.quarantines_per_month[1],
                    "charts": s.quarantines_per_month[2],
                },
                "unplaced": s.unplaced,
                "invariant_checks": r.invariant_checks,
                "weekly": weeks,
            })
        })
        .collect();
    let json = json!({ "start": START_DAY.to_string(), "week_starts": labels, "policies": policies });
    write("summary.json", &serde_json::to_string_pretty(&json)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_are_grouped_by_thousands() {
        let cases = [(0, "0"), (999, "999"), (1_000, "1,000"), (12_000, "12,000"), (2_520_000, "2,520,000")];
        for (n, text) in cases {
            assert_eq!(super::grouped(n), text);
        }
    }
}
