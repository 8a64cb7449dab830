//! The weekly report of `vigie report weekly`: figures in, files out. The store
//! computes a week's [`WeeklyFigures`] (per pool and for the centre, with the week
//! before); this crate turns them into
//!
//! - [`render_html`]: one self-contained HTML page, French or English, made to be
//!   e-mailed (inline CSS and SVG, no script, no external font, image or link): the
//!   case study's key figures with the previous week and the change, the case study's
//!   own before/after values ([`SEED_FIGURES`]) beside the centre's, daily charts;
//! - [`render_csv`]: `figures.csv` and `daily.csv`;
//! - [`write_report`]: all of it, with the charts as standalone `.svg` files, in a
//!   folder.
//!
//! The derived figures and their formulas are on [`Period`] (see the `figures`
//! module's text). The [`charts`] module draws SVG line and bar charts and sparklines
//! that know nothing of the report, for the dashboard too. Rendering is pure: no
//! clock, no I/O but [`write_report`]'s files.

pub mod charts;
mod csv_out;
mod figures;
mod files;
mod format;
mod html;
mod seed;
mod week;

pub use csv_out::{DAILY_CSV, FIGURES_CSV, render_csv};
pub use figures::{Better, Day, Figure, MONTH_DAYS, Period, PoolWeek, Totals, WEEK_DAYS, WeeklyFigures, YEAR_DAYS};
pub use files::{REPORT_HTML, write_report};
pub use format::{label as figure_label, value as figure_value};
pub use html::render_html;
pub use seed::{SEED_FIGURES, SeedFigure, SeedValue, seed_figure};
pub use week::{InvalidWeek, Week};
