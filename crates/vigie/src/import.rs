//! `vigie numbers import FILE.csv`: every row checked, every bad row reported with its
//! line number, and nothing written unless all rows are good.

use std::path::Path;

use anyhow::{Context, bail};
use vigie_core::{E164, FacilityId, PoolCode};
use vigie_store::{NewNumber, Store, StoreError};

/// The CSV columns, in order.
const HEADER: [&str; 5] = ["number", "pool", "display_name", "facility", "callback"];

/// A CSV reader over `text` (fields trimmed, rows of any length, reported by the
/// caller), and the problem with its header line if it is not `header`.
pub(crate) fn open_csv<'a>(text: &'a str, header: &[&str]) -> (csv::Reader<&'a [u8]>, Vec<String>) {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(true).from_reader(text.as_bytes());
    let mut problems = Vec::new();
    match reader.headers() {
        Ok(h) if h.iter().map(|f| f.trim_start_matches('\u{feff}')).eq(header.iter().copied()) => {}
        Ok(h) => problems.push(format!(
            "line 1: the header must be {} (found {})",
            header.join(","),
            h.iter().collect::<Vec<_>>().join(",")
        )),
        Err(e) => problems.push(format!("line 1: {e}")),
    }
    (reader, problems)
}

/// Parses the file into numbers, or every problem with its line number.
pub(crate) fn parse(text: &str) -> Result<Vec<(usize, NewNumber)>, Vec<String>> {
    let (mut reader, mut problems) = open_csv(text, &HEADER);
    let mut rows = Vec::new();
    let mut lines = Lines { text: text.as_bytes(), at: 0, line: 1 };
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
        let pool = PoolCode::parse(&record[1]).map_err(|e| bad("pool", e.rule)).ok();
        let display_name = record[2].to_owned();
        if display_name.is_empty() || display_name.chars().count() > 64 {
            bad("display_name", "must be 1 to 64 characters".into());
        } else if display_name.chars().any(char::is_control) {
            bad("display_name", "must not contain control characters (line breaks, tabs, NUL)".into());
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

/// The line on which a record starts, from the byte offset the reader gives: the
/// reader skips blank lines and a quoted field may span lines, so neither the record's
/// index nor the reader's own line count (taken before it skips line breaks) is it.
/// Records come in order, so the count resumes where the last one stopped.
pub(crate) struct Lines<'a> {
    text: &'a [u8],
    at: usize,
    line: usize,
}

impl<'a> Lines<'a> {
    /// Counting from the start of `text` (its header on line 1).
    pub(crate) fn new(text: &'a str) -> Lines<'a> {
        Lines { text: text.as_bytes(), at: 0, line: 1 }
    }
}

impl Lines<'_> {
    pub(crate) fn of(&mut self, byte: u64) -> usize {
        let mut start = usize::try_from(byte).unwrap_or(usize::MAX).clamp(self.at, self.text.len());
        while self.text.get(start).is_some_and(|b| matches!(b, b'\r' | b'\n')) {
            start += 1;
        }
        self.line += self.text[self.at..start].iter().filter(|&&b| b == b'\n').count();
        self.at = start;
        self.line
    }
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

    #[test]
    fn line_numbers_count_blank_lines_crlf_and_quoted_line_breaks() {
        let text = "\u{feff}number,pool,display_name,facility,callback\r\n\r\n\
                    +33142000001,A,\"Clinique\r\nSud\",,+33142000000\r\n\
                    +33142000002,A,Clinique,,+33\r\n";
        let problems = parse(text).expect_err("bad rows");
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("line 3: display_name:"), "{problems:?}");
        assert!(problems[1].starts_with("line 5: callback:"), "{problems:?}");
    }

    // ----- property tests: random files, good and bad rows, every bad row named -----

    use proptest::prelude::*;
    use proptest::sample::select;

    /// Strings an attacker or a careless export may put in any field.
    const INJECTIONS: [&str; 6] = [
        "'; DROP TABLE numbers; --",
        "'; DROP TABLE calls; --",
        "1 OR 1=1",
        "\" OR \"\"=\"",
        "Robert'); DELETE FROM audit_log; --",
        "$(rm -rf /)",
    ];

    /// Texts that are not telephone numbers (none holds a valid number).
    const BAD_NUMBERS: [&str; 12] = [
        "+33",
        "+3361234567890123",
        "06 12",
        "+1-800-FLOWERS",
        "0612",
        "not-a-number",
        "+33 4 78",
        "+33 (0) 4 78",
        "+33478100001x9999999999",
        "+33\u{0}478100001",
        "33478",
        "\u{feff}",
    ];

    /// One row of a file: its fields, and whether `parse` must refuse it.
    #[derive(Debug, Clone)]
    struct Row {
        fields: Vec<String>,
        bad: bool,
    }

    /// A displayed name: letters, accents, punctuation that needs quoting, or an
    /// injection string (free text: valid, and stored as text).
    fn display_name() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => "[A-Za-zÀ-ÿ][A-Za-zÀ-ÿ0-9 ,;'\"=()-]{0,40}[A-Za-zé]",
            1 => select(INJECTIONS.to_vec()).prop_map(str::to_owned),
        ]
    }

    fn good_row() -> impl Strategy<Value = Row> {
        (
            0..1_000_000u32,
            select(vec!["A", "B", "R", "C1", "POOL42"]),
            display_name(),
            prop_oneof![Just(String::new()), "[a-z0-9][a-z0-9_-]{0,30}"],
            any::<bool>(),
        )
            .prop_map(|(n, pool, name, facility, national)| {
                let number = if national {
                    format!("04 78 {:02} {:02} {:02}", n / 10_000, n / 100 % 100, n % 100)
                } else {
                    format!("+33478{n:06}")
                };
                Row { fields: vec![number, pool.into(), name, facility, "+33478000000".into()], bad: false }
            })
    }

    /// A good row with one thing wrong.
    fn bad_row() -> impl Strategy<Value = Row> {
        let bad_text = prop_oneof![
            select(BAD_NUMBERS.to_vec()).prop_map(str::to_owned),
            select(INJECTIONS.to_vec()).prop_map(str::to_owned),
            // No digit of any script: never a number, a pool or a facility.
            "[^\\p{N}\\p{Cc}]{1,30}".prop_filter("not blank", |s| !s.trim().is_empty()),
        ];
        let control = select(vec!['\u{0}', '\t', '\n', '\u{7}', '\u{1b}', '\u{7f}']);
        (good_row(), 0..8usize, bad_text, control).prop_map(|(mut row, what, text, c)| {
            match what {
                0 => row.fields[0] = text,
                1 => row.fields[1] = format!("{text}x"),
                2 => row.fields[3] = format!("X{text}"),
                3 => row.fields[4] = text,
                4 => row.fields[2] = if c == '\t' { String::new() } else { format!("Clinique{c}Sud") },
                5 => row.fields[2] = "é".repeat(65),
                6 => {
                    row.fields.pop();
                }
                _ => row.fields.push(text),
            }
            row.bad = true;
            row
        })
    }

    /// How the file is written: line ending, BOM, quoting, blank lines.
    #[derive(Debug, Clone)]
    struct Layout {
        crlf: bool,
        bom: bool,
        quote_all: bool,
        blank_before: Vec<bool>,
    }

    fn layout() -> impl Strategy<Value = Layout> {
        (any::<bool>(), any::<bool>(), any::<bool>(), prop::collection::vec(prop::bool::weighted(0.15), 64))
            .prop_map(|(crlf, bom, quote_all, blank_before)| Layout { crlf, bom, quote_all, blank_before })
    }

    fn field(text: &str, quote_all: bool) -> String {
        let needs = text.contains([',', '"', '\n', '\r']) || text.trim() != text || text.is_empty();
        if quote_all || (needs && !text.is_empty()) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text.to_owned()
        }
    }

    /// The file's text, and the line on which each row starts.
    fn write(rows: &[Row], layout: &Layout) -> (String, Vec<usize>) {
        let end = if layout.crlf { "\r\n" } else { "\n" };
        let mut text = String::new();
        if layout.bom {
            text.push('\u{feff}');
        }
        text.push_str(&HEADER.join(","));
        text.push_str(end);
        let mut line = 2;
        let mut lines = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            if layout.blank_before.get(i).copied().unwrap_or(false) {
                text.push_str(end);
                line += 1;
            }
            let encoded: Vec<String> = row.fields.iter().map(|f| field(f, layout.quote_all)).collect();
            let encoded = encoded.join(",");
            lines.push(line);
            line += 1 + encoded.matches('\n').count();
            text.push_str(&encoded);
            text.push_str(end);
        }
        (text, lines)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn a_good_file_parses_fully(rows in prop::collection::vec(good_row(), 1..40), layout in layout()) {
            let (text, lines) = write(&rows, &layout);
            let parsed = parse(&text).map_err(|p| TestCaseError::fail(format!("{p:?}\n{text}")))?;
            prop_assert_eq!(parsed.len(), rows.len());
            for ((line, number), (row, expected_line)) in parsed.iter().zip(rows.iter().zip(&lines)) {
                prop_assert_eq!(line, expected_line);
                prop_assert_eq!(Some(number.number.clone()), E164::parse(&row.fields[0]).ok());
                prop_assert_eq!(number.display_name.as_str(), row.fields[2].trim());
            }
        }

        #[test]
        fn every_bad_row_is_reported_with_its_line(
            rows in prop::collection::vec(prop_oneof![2 => good_row(), 1 => bad_row()], 1..40),
            forced_bad in bad_row(),
            at in any::<prop::sample::Index>(),
            layout in layout(),
        ) {
            let mut rows = rows;
            let i = at.index(rows.len() + 1);
            rows.insert(i, forced_bad);
            let (text, lines) = write(&rows, &layout);
            let problems = match parse(&text) {
                Ok(_) => return Err(TestCaseError::fail(format!("a file with bad rows parsed\n{text}"))),
                Err(p) => p,
            };
            let reported = |line: usize| problems.iter().any(|p| p.starts_with(&format!("line {line}: ")));
            for (row, line) in rows.iter().zip(&lines) {
                if row.bad {
                    prop_assert!(reported(*line), "bad row on line {} not reported: {:?}\n{:?}\n{}", line, row, problems, text);
                } else {
                    prop_assert!(!reported(*line), "good row on line {} reported: {:?}\n{:?}", line, row, problems);
                }
            }
            prop_assert!(problems.iter().all(|p| p.starts_with("line ")), "{:?}", problems);
        }

        #[test]
        fn a_wrong_header_is_line_1(
            header in prop_oneof![
                select(INJECTIONS.to_vec()).prop_map(str::to_owned),
                Just("number;pool;display_name;facility;callback".to_owned()),
                Just("number,pool,display_name,facility".to_owned()),
                "[a-z,]{1,40}".prop_filter("not the header", |h| h.split(',').map(str::trim).collect::<Vec<_>>() != HEADER),
            ],
            rows in prop::collection::vec(good_row(), 0..5),
        ) {
            let (text, _) = write(&rows, &Layout { crlf: false, bom: false, quote_all: false, blank_before: Vec::new() });
            let text = text.replacen(&HEADER.join(","), &header, 1);
            let problems = parse(&text).err().unwrap_or_default();
            prop_assert!(problems.first().is_some_and(|p| p.starts_with("line 1: ")), "{:?}\n{}", problems, text);
        }
    }
}
