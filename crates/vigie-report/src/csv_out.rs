//! The report's figures as CSV, for spreadsheets: `figures.csv` (one row per scope)
//! and `daily.csv` (one row per pool and day).
//!
//! Numbers are written as they are computed, with a decimal point and no rounding:
//! rates are fractions (`0.63`), times are minutes, costs are euros; an empty cell is a
//! figure that cannot be computed or a day the store did not give. A pool name that a
//! spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, a tab or a
//! carriage return) is written after a `'`.

use crate::figures::{Figure, Period, WeeklyFigures};

/// The file of weekly figures.
pub const FIGURES_CSV: &str = "figures.csv";
/// The file of daily figures.
pub const DAILY_CSV: &str = "daily.csv";

/// The report's CSV files, as file names and contents:
///
/// - `figures.csv`: `week, scope (centre|pool), pool`, then for every [`Figure`] its
///   value and `<code>_previous`, then the raw `answered`, `sms_delivered` and
///   `replacement_cost_cents` and their previous values; the centre first, then each
///   pool;
/// - `daily.csv`: `week, pool, date, calls, answered, answer_rate, spam_reports,
///   quarantines`, seven rows per pool.
pub fn render_csv(figures: &WeeklyFigures) -> Vec<(String, String)> {
    vec![(FIGURES_CSV.to_owned(), figures_csv(figures)), (DAILY_CSV.to_owned(), daily_csv(figures))]
}

/// A raw count of a period.
type Count = fn(&Period) -> u64;

/// The raw counts written beside the figures, so that sums can be redone.
const RAW: [(&str, Count); 3] = [
    ("answered", |p| p.answered),
    ("sms_delivered", |p| p.sms_delivered),
    ("replacement_cost_cents", |p| p.replacement_cost_cents),
];

fn figures_csv(figures: &WeeklyFigures) -> String {
    let mut header = vec!["week".to_owned(), "scope".to_owned(), "pool".to_owned()];
    for figure in Figure::ALL {
        header.push(figure.code().to_owned());
        header.push(format!("{}_previous", figure.code()));
    }
    for (code, _) in RAW {
        header.push(code.to_owned());
        header.push(format!("{code}_previous"));
    }
    let week = figures.week.to_string();
    let row = |scope: &str, pool: &str, current: &Period, previous: &Period| {
        let mut row = vec![week.clone(), scope.to_owned(), spreadsheet_safe(pool)];
        for figure in Figure::ALL {
            row.push(cell(figure.value(current)));
            row.push(cell(figure.value(previous)));
        }
        for (_, raw) in RAW {
            row.push(raw(current).to_string());
            row.push(raw(previous).to_string());
        }
        row
    };
    let mut rows = vec![header, row("centre", "", &figures.centre.current, &figures.centre.previous)];
    rows.extend(figures.pools.iter().map(|pool| row("pool", &pool.pool, &pool.current, &pool.previous)));
    write(rows)
}

fn daily_csv(figures: &WeeklyFigures) -> String {
    let header = ["week", "pool", "date", "calls", "answered", "answer_rate", "spam_reports", "quarantines"];
    let mut rows = vec![header.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>()];
    let week = figures.week.to_string();
    for pool in &figures.pools {
        for date in figures.week.days() {
            let day = pool.day(date);
            rows.push(vec![
                week.clone(),
                spreadsheet_safe(&pool.pool),
                date.to_string(),
                day.map(|d| d.calls.to_string()).unwrap_or_default(),
                day.map(|d| d.answered.to_string()).unwrap_or_default(),
                cell(day.and_then(|d| d.answer_rate())),
                day.map(|d| d.spam_reports.to_string()).unwrap_or_default(),
                day.map(|d| d.quarantines.to_string()).unwrap_or_default(),
            ]);
        }
    }
    write(rows)
}

/// A value in full precision (`Display` of `f64` round-trips), empty when missing.
fn cell(value: Option<f64>) -> String {
    value.filter(|v| v.is_finite()).map(|v| v.to_string()).unwrap_or_default()
}

/// Keeps a spreadsheet from running a cell as a formula (CSV injection).
fn spreadsheet_safe(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{text}") } else { text.to_owned() }
}

fn write(rows: Vec<Vec<String>>) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        // Writing to a Vec cannot fail, and every row has the header's length.
        let _ = writer.write_record(&row);
    }
    let bytes = writer.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}
