//! The CSV files read back.

use vigie_report::render_csv;

use crate::sample;

fn read(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = ::csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().expect("a header").iter().map(str::to_owned).collect();
    let rows = reader.records().map(|r| r.expect("a row").iter().map(str::to_owned).collect()).collect();
    (header, rows)
}

fn get<'a>(header: &[String], row: &'a [String], column: &str) -> &'a str {
    let index = header.iter().position(|h| h == column).unwrap_or_else(|| panic!("no column {column}"));
    &row[index]
}

#[test]
fn figures_csv_reads_back() {
    let mut figures = sample();
    figures.pools[1].pool = "=HYPERLINK(\"x\")".to_owned();
    let files = render_csv(&figures);
    let names: Vec<_> = files.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["figures.csv", "daily.csv"]);

    let (header, rows) = read(&files[0].1);
    assert_eq!(rows.len(), 3);
    let centre = &rows[0];
    assert_eq!(get(&header, centre, "week"), "2026-W48");
    assert_eq!(get(&header, centre, "scope"), "centre");
    assert_eq!(get(&header, centre, "calls"), "70000");
    assert_eq!(get(&header, centre, "calls_previous"), "68000");
    assert_eq!(get(&header, centre, "answer_rate").parse::<f64>().ok(), Some(0.63));
    assert_eq!(get(&header, centre, "answer_rate_previous").parse::<f64>().ok(), Some(0.6));
    assert_eq!(get(&header, centre, "spam_report_rate").parse::<f64>().ok(), Some(56.0 / 70_000.0));
    assert_eq!(get(&header, centre, "detection_minutes"), "95");
    assert_eq!(get(&header, centre, "detection_minutes_previous"), "130");
    assert_eq!(get(&header, centre, "replacement_cost_per_year_eur").parse::<f64>().ok(), Some(36_500.0));
    assert_eq!(get(&header, centre, "replacement_cost_cents_previous"), "140000");
    let pool_a = &rows[1];
    assert_eq!((get(&header, pool_a, "scope"), get(&header, pool_a, "pool")), ("pool", "A"));
    // No incident: an empty cell, not NaN.
    assert_eq!(get(&header, pool_a, "detection_minutes"), "");
    assert_eq!(get(&header, pool_a, "sms_delivery_rate"), "");
    // A would-be formula is defused.
    assert_eq!(get(&header, &rows[2], "pool"), "'=HYPERLINK(\"x\")");
}

#[test]
fn daily_csv_has_every_day_and_leaves_missing_ones_empty() {
    let files = render_csv(&sample());
    let (header, rows) = read(&files[1].1);
    assert_eq!(rows.len(), 2 * 7);
    let thursday = &rows[3];
    assert_eq!(get(&header, thursday, "date"), "2026-11-26");
    assert_eq!(get(&header, thursday, "calls"), "");
    assert_eq!(get(&header, thursday, "answer_rate"), "");
    let monday = &rows[0];
    assert_eq!(get(&header, monday, "pool"), "A");
    assert_eq!(get(&header, monday, "calls"), "600");
    assert_eq!(get(&header, monday, "answer_rate").parse::<f64>().ok(), Some(0.6));
}
