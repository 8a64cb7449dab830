//! The case study's before/after key figures, shown beside the centre's own.
//!
//! Source: the seed text of the project, "healthcare-teleconsulting" (a French
//! healthcare teleconsulting centre making 10,000 calls a day on 6 pools), section
//! "Results After 12 Months", table "Metric | Before | After | Change":
//!
//! | Metric | Before | After | Change |
//! |---|---|---|---|
//! | Spam report rate | 0.8% | 0.08% | ÷ 10 |
//! | Answer rate | 41% | 63% | + 22 pts |
//! | Blacklisted numbers/month | 4-6 | 0-1 | ÷ 5 |
//! | Incident detection time | 5-10 days | < 2 hours | ÷ 60 |
//! | Number replacement cost/year | €12,000 | €1,500 | ÷ 8 |

use vigie_core::Language;

use crate::figures::Figure;
use crate::format;

/// A reference value of the seed, in the unit of its [`Figure`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SeedValue {
    /// One value.
    Exact(f64),
    /// A range, low to high (`4-6`).
    Range(f64, f64),
    /// Under a bound (`< 2 hours`).
    Below(f64),
}

/// One row of the seed's "Results After 12 Months" table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeedFigure {
    /// The figure it compares to.
    pub figure: Figure,
    /// The seed's wording of the metric.
    pub metric: &'static str,
    /// Before, as the seed writes it.
    pub before_text: &'static str,
    /// After twelve months, as the seed writes it.
    pub after_text: &'static str,
    /// The change, as the seed writes it.
    pub change_text: &'static str,
    /// Before, in the figure's unit.
    pub before: SeedValue,
    /// After twelve months, in the figure's unit.
    pub after: SeedValue,
}

/// The seed's five key figures, in its order, with the values in each figure's unit
/// (fractions for rates, minutes, euros).
pub const SEED_FIGURES: [SeedFigure; 5] = [
    SeedFigure {
        figure: Figure::SpamReportRate,
        metric: "Spam report rate",
        before_text: "0.8%",
        after_text: "0.08%",
        change_text: "÷ 10",
        before: SeedValue::Exact(0.008),
        after: SeedValue::Exact(0.0008),
    },
    SeedFigure {
        figure: Figure::AnswerRate,
        metric: "Answer rate",
        before_text: "41%",
        after_text: "63%",
        change_text: "+ 22 pts",
        before: SeedValue::Exact(0.41),
        after: SeedValue::Exact(0.63),
    },
    SeedFigure {
        figure: Figure::BlacklistedPerMonth,
        metric: "Blacklisted numbers/month",
        before_text: "4-6",
        after_text: "0-1",
        change_text: "÷ 5",
        before: SeedValue::Range(4.0, 6.0),
        after: SeedValue::Range(0.0, 1.0),
    },
    SeedFigure {
        figure: Figure::DetectionTime,
        metric: "Incident detection time",
        before_text: "5-10 days",
        after_text: "< 2 hours",
        change_text: "÷ 60",
        before: SeedValue::Range(5.0 * 24.0 * 60.0, 10.0 * 24.0 * 60.0),
        after: SeedValue::Below(2.0 * 60.0),
    },
    SeedFigure {
        figure: Figure::ReplacementCostPerYear,
        metric: "Number replacement cost/year",
        before_text: "€12,000",
        after_text: "€1,500",
        change_text: "÷ 8",
        before: SeedValue::Exact(12_000.0),
        after: SeedValue::Exact(1_500.0),
    },
];

/// The seed's row for `figure`, if it is a key figure.
pub fn seed_figure(figure: Figure) -> Option<&'static SeedFigure> {
    SEED_FIGURES.iter().find(|seed| seed.figure == figure)
}

/// A seed value in the report's language and the figure's format.
pub(crate) fn seed_value_text(figure: Figure, value: SeedValue, language: Language) -> String {
    let show = |v: f64| match figure {
        // The seed gives 4-6 and 0-1 numbers, no decimals.
        Figure::BlacklistedPerMonth => format::number(v, 0, language),
        // 0.8% has one decimal, 0.08% two; show them as the seed does.
        Figure::SpamReportRate => format::percent(v, if v < 0.001 { 2 } else { 1 }, language),
        Figure::AnswerRate => format::percent(v, 0, language),
        _ => format::value(figure, Some(v), language),
    };
    match value {
        SeedValue::Exact(v) => show(v),
        SeedValue::Range(low, high) => format!("{}–{}", show(low), show(high)),
        SeedValue::Below(v) => format!("<\u{A0}{}", show(v)),
    }
}
