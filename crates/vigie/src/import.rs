//! `vigie numbers import FILE.csv`: every row checked, every bad row reported with its
//! line number, and nothing written unless all rows are good.

use std::path::Path;

use anyhow::{Context, bail};
use vigie_core::{E164, FacilityId, PoolCode};
use vigie_store::{NewNumber, Store, StoreError};

/// The CSV columns, in order.
const HEADER: [&str; 5] = ["number", "pool", "display_name", "facility", "callback"];

/// Parses the file into numbers, or every problem with its line number.
pub(crate) fn parse(text: &str) -> Result<Vec<(usize, NewNumber)>, Vec<String>> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(true).from_reader(text.as_bytes());
    let mut problems = Vec::new();
    match reader.headers() {
        Ok(h) if h.iter().collect::<Vec<_>>() == HEADER => {}
        Ok(h) => problems.push(format!(
            "line 1: the header must be {} (found {})",
            HEADER.join(","),
            h.iter().collect::<Vec<_>>().join(",")
        )),
        Err(e) => problems.push(format!("line 1: {e}")),
    }
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                problems.push(format!("line {line}: {e}"));
                continue;
            }
        };
        if record.len() != HEADER.len() {
            problems.push(format!("line {line}: expected {} fields, found {}", HEADER.len(), record.len()));
            continue;
        }
        let mut bad = |field: &str, why: String| problems.push(format!("line {line}: {field}: {why}"));
        let number = E164::parse(&record[0]).map_err(|e| bad("number", e.to_string())).ok();
        let pool = PoolCode::parse(&record[1]).map_err(|e| bad("pool", e.rule)).ok();
        let display_name = record[2].to_owned();
        if display_name.is_empty() || display_name.chars().count() > 64 {
            bad("display_name", "must be 1 to 64 characters".into());
        }
        let facility = if record[3].is_empty() {
            Some(None)
        } else {
            FacilityId::parse(&record[3]).map(Some).map_err(|e| bad("facility", e.rule)).ok()
        };
        let callback = E164::parse(&record[4]).map_err(|e| bad("callback", e.to_string())).ok();
        if let (Some(number), Some(pool), Some(facility), Some(callback)) = (number, pool, facility, callback) {
            rows.push((line, NewNumber { number, pool, facility, display_name, callback }));
        }
    }
    if problems.is_empty() { Ok(rows) } else { Err(problems) }
}

pub(crate) async fn run(store: &Store, file: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let rows = match parse(&text) {
        Ok(rows) => rows,
        Err(problems) => {
            for p in &problems {
                eprintln!("{}: {p}", file.display());
            }
            bail!("{} problems; nothing was imported", problems.len());
        }
    };
    let numbers: Vec<NewNumber> = rows.iter().map(|(_, n)| n.clone()).collect();
    match store.add_numbers(&numbers, "import").await {
        Ok(ids) => {
            println!("imported {} numbers from {}", ids.len(), file.display());
            Ok(())
        }
        Err(StoreError::Rows(problems)) => {
            for p in &problems {
                let line = rows.get(p.index).map_or(0, |(l, _)| *l);
                eprintln!("{}: line {line}: {}: {}", file.display(), p.field, p.message);
            }
            bail!("{} problems; nothing was imported", problems.len());
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_every_bad_row_with_its_line() {
        let text = "number,pool,display_name,facility,callback\n\
                    +33142000001,A,Clinique,clinique-a,+33142000000\n\
                    not-a-number,A,Clinique,,+33142000000\n\
                    +33142000003,a,,,+33142000000\n";
        let problems = parse(text).expect_err("bad rows");
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("line 3: number:"), "{problems:?}");
        assert!(problems[1].starts_with("line 4: pool:"), "{problems:?}");
        assert!(problems[2].starts_with("line 4: display_name:"), "{problems:?}");
        let ok =
            parse("number,pool,display_name,facility,callback\n+33142000001,A,Clinique,,+33142000000\n").expect("ok");
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[0].0, 2);
    }
}
