//! `vigie reports import FILE.csv`: spam reports from a file (an app's or a carrier's
//! export, a community database's list), each row checked and every bad row reported
//! with its line number; nothing is filed unless every row is good. Each report then
//! goes through the store like one posted to the API: the second of a local day
//! quarantines its number at once.

use std::path::Path;

use anyhow::{Context, bail};
use vigie_core::{E164, ReportSource, SignedDuration, Timestamp};
use vigie_store::{NewReport, Store};

use crate::import::Lines;

/// The CSV columns, in order.
const HEADER: [&str; 4] = ["number", "source", "reported_at", "detail"];

/// Longest detail, in characters.
const DETAIL_MAX: usize = 500;

/// Parses the file into reports, or every problem with its line number. A report may
/// not be dated more than 5 minutes after `now`.
pub(crate) fn parse(text: &str, now: Timestamp) -> Result<Vec<(usize, NewReport)>, Vec<String>> {
    let (mut reader, mut problems) = crate::import::open_csv(text, &HEADER);
    let mut rows = Vec::new();
    let mut lines = Lines::new(text);
    for (i, record) in reader.records().enumerate() {
        let mut at = |pos: Option<&csv::Position>| pos.map_or(i + 2, |p| lines.of(p.byte()));
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                problems.push(format!("line {}: {e}", at(e.position())));
                continue;
            }
        };
        let line = at(record.position());
        if record.len() != HEADER.len() {
            problems.push(format!("line {line}: expected {} fields, found {}", HEADER.len(), record.len()));
            continue;
        }
        let mut bad = |field: &str, why: String| problems.push(format!("line {line}: {field}: {why}"));
        let number = E164::parse(&record[0]).map_err(|e| bad("number", e.to_string())).ok();
        let source = ReportSource::parse(&record[1]).map_err(|e| bad("source", e.rule)).ok();
        let reported_at = match record[2].parse::<Timestamp>() {
            Ok(t) if t > now + SignedDuration::from_mins(5) => {
                bad("reported_at", "must not be in the future".into());
                None
            }
            Ok(t) => Some(t),
            Err(_) => {
                bad(
                    "reported_at",
                    "must be an RFC 3339 instant with an offset, such as 2026-11-27T09:30:00+01:00".into(),
                );
                None
            }
        };
        let detail = record[3].to_owned();
        if detail.chars().count() > DETAIL_MAX {
            bad("detail", format!("must be at most {DETAIL_MAX} characters"));
        } else if detail.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')) {
            bad("detail", "must not contain control characters other than tabs and line breaks".into());
        }
        if let (Some(number), Some(source), Some(reported_at)) = (number, source, reported_at) {
            rows.push((line, NewReport { number, source, reported_at, detail }));
        }
    }
    if problems.is_empty() { Ok(rows) } else { Err(problems) }
}

/// Imports the file: checks every row and every number first, then files the reports
/// in order. Prints what they did.
pub(crate) async fn run(store: &Store, file: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let mut rows = match parse(&text, store.now()) {
        Ok(rows) => rows,
        Err(problems) => {
            for p in &problems {
                eprintln!("{}: {p}", file.display());
            }
            bail!("{} problems; nothing was imported", problems.len());
        }
    };
    let mut unknown = Vec::new();
    for (line, r) in &rows {
        if store.number(&r.number).await?.is_none() {
            unknown.push(format!("line {line}: number: {} is not in the inventory", r.number));
        }
    }
    if !unknown.is_empty() {
        for p in &unknown {
            eprintln!("{}: {p}", file.display());
        }
        bail!("{} problems; nothing was imported", unknown.len());
    }
    // In the order they were made, so that "the second of the day" is the second.
    rows.sort_by_key(|(line, r)| (r.reported_at, *line));
    let mut quarantined = Vec::new();
    for (_, report) in &rows {
        let number = report.number.clone();
        let answer = store.report(report.clone(), "import").await?;
        if answer.quarantined {
            quarantined.push(number.to_string());
        }
    }
    println!("imported {} reports from {}", rows.len(), file.display());
    if !quarantined.is_empty() {
        println!("quarantined: {}", quarantined.join(", "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-11-27T12:00:00Z".parse().expect("an instant")
    }

    #[test]
    fn every_bad_row_is_named_with_its_line() {
        let text = "number,source,reported_at,detail\n\
                    +33478200001,patient,2026-11-27T09:00:00+01:00,seen in Orange Téléphone\n\
                    +3347,patient,2026-11-27T09:00:00Z,x\n\
                    +33478200001,neighbour,2026-11-27T09:00:00Z,x\n\
                    +33478200001,carrier,yesterday,x\n\
                    +33478200001,carrier,2026-11-28T09:00:00Z,x\n";
        let problems = parse(text, now()).expect_err("bad rows");
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].starts_with("line 3: number:"), "{problems:?}");
        assert!(problems[1].starts_with("line 4: source:"), "{problems:?}");
        assert!(problems[2].starts_with("line 5: reported_at: must be an RFC 3339"), "{problems:?}");
        assert!(problems[3].starts_with("line 6: reported_at: must not be in the future"), "{problems:?}");
    }

    #[test]
    fn good_rows_parse_with_their_lines() {
        let text = "\u{feff}number,source,reported_at,detail\r\n\r\n\
                    +33478200001,community_db,2026-11-27T09:00:00Z,\"listed, 37 reports\"\r\n";
        let rows = parse(text, now()).expect("good rows");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].0, 3);
        assert_eq!(rows[0].1.source, ReportSource::CommunityDb);
        assert_eq!(rows[0].1.detail, "listed, 37 reports");
        assert!(parse("number,source\n", now()).is_err());
    }
}
