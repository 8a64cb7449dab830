//! The report written to a folder: the page, its charts as standalone SVG files, the
//! CSV files.

use std::io;
use std::path::{Path, PathBuf};

use vigie_core::Language;

use crate::csv_out::render_csv;
use crate::figures::WeeklyFigures;
use crate::html::{render_html, report_charts};

/// The report's page.
pub const REPORT_HTML: &str = "report.html";

/// Writes the report into `dir` (created if needed): `report.html`,
/// `answer-rate.svg`, `spam-reports.svg`, `figures.csv` and `daily.csv`, replacing
/// files of the same names. Returns the paths written, in that order.
pub fn write_report(figures: &WeeklyFigures, language: Language, dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut files = vec![(REPORT_HTML.to_owned(), render_html(figures, language))];
    for (name, svg) in report_charts(figures, language) {
        files.push((name.to_owned(), format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{svg}\n")));
    }
    files.extend(render_csv(figures));
    let mut written = Vec::with_capacity(files.len());
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text)?;
        written.push(path);
    }
    Ok(written)
}
