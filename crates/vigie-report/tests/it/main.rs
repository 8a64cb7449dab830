//! The one integration-test binary of vigie-report: a week of figures in, HTML, SVG and
//! CSV out, read back.

mod charts;
mod csv;
mod figures;
mod html;

use jiff::Timestamp;
use jiff::civil::date;
use vigie_report::{Day, Period, PoolWeek, Totals, Week, WeeklyFigures};

/// Week 2026-W48 (Monday 23 to Sunday 29 November): the centre, pool `A` (no figures
/// on Thursday) and pool `B` (reports up).
fn sample() -> WeeklyFigures {
    let week = Week::parse("2026-W48").expect("valid week");
    let centre = Totals {
        current: Period {
            calls: 70_000,
            answered: 44_100,
            spam_reports: 56,
            numbers_active: 150,
            numbers_quarantined: 1,
            numbers_retired: 0,
            incidents: 2,
            median_detection_minutes: Some(95.0),
            replacement_cost_cents: 70_000,
            sms_sent: 50_000,
            sms_delivered: 49_000,
        },
        previous: Period {
            calls: 68_000,
            answered: 40_800,
            spam_reports: 68,
            numbers_active: 148,
            numbers_quarantined: 2,
            numbers_retired: 1,
            incidents: 3,
            median_detection_minutes: Some(130.0),
            replacement_cost_cents: 140_000,
            sms_sent: 48_000,
            sms_delivered: 46_080,
        },
    };
    let days = week.days();
    let pool_a = PoolWeek {
        pool: "A".to_owned(),
        current: Period { calls: 4_000, answered: 2_600, spam_reports: 2, ..Period::default() },
        previous: Period { calls: 4_000, answered: 2_400, spam_reports: 4, ..Period::default() },
        daily: days
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 3)
            .map(|(i, d)| Day {
                date: *d,
                calls: 600,
                answered: 360 + 10 * i as u64,
                spam_reports: i as u64 % 2,
                quarantines: 0,
            })
            .collect(),
    };
    let pool_b = PoolWeek {
        pool: "B".to_owned(),
        current: Period { calls: 1_000, answered: 450, spam_reports: 9, numbers_quarantined: 1, ..Period::default() },
        previous: Period { calls: 1_000, answered: 500, spam_reports: 3, ..Period::default() },
        daily: days
            .iter()
            .map(|d| Day { date: *d, calls: 150, answered: 70, spam_reports: 1, quarantines: 0 })
            .collect(),
    };
    WeeklyFigures {
        week,
        generated_at: "2026-11-30T07:00:00Z".parse::<Timestamp>().expect("valid timestamp"),
        centre_name: "Centre de téléconsultation".to_owned(),
        centre,
        pools: vec![pool_a, pool_b],
    }
}

/// The text with its no-break spaces made plain, so that expectations read easily.
fn plain(text: &str) -> String {
    text.replace(['\u{202F}', '\u{A0}'], " ")
}

/// Every `<svg …>…</svg>` in a page (they are never nested).
fn inline_svgs(html: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<svg") {
        let end = rest[start..].find("</svg>").expect("closed svg") + start + "</svg>".len();
        found.push(&rest[start..end]);
        rest = &rest[end..];
    }
    found
}

#[test]
fn week_parses_and_knows_its_days() {
    let week = Week::parse("2026-W48").expect("valid");
    assert_eq!(week.to_string(), "2026-W48");
    assert_eq!(week.monday(), date(2026, 11, 23));
    assert_eq!(week.sunday(), date(2026, 11, 29));
    assert_eq!(week.previous().to_string(), "2026-W47");
    assert_eq!(Week::containing(date(2026, 11, 29)), week);
    // 2026 starts on a Thursday, so it has a week 53; 2025 has not.
    assert_eq!(Week::parse("2027-W01").expect("valid").previous().to_string(), "2026-W53");
    for bad in ["2025-W53", "2026-W00", "2026-48", "2026-W5", "26-W48", "2026-W4x"] {
        assert!(Week::parse(bad).is_err(), "{bad}");
    }
}
