//! The derived figures and their edges.

use vigie_report::{Day, Figure, Period, SEED_FIGURES, SeedValue, seed_figure};

#[test]
fn derived_figures_follow_their_formulas() {
    let period = Period {
        calls: 10_000,
        answered: 6_300,
        spam_reports: 8,
        numbers_quarantined: 7,
        replacement_cost_cents: 70_000,
        sms_sent: 200,
        sms_delivered: 150,
        median_detection_minutes: Some(42.0),
        ..Period::default()
    };
    assert_eq!(period.answer_rate(), Some(0.63));
    assert_eq!(period.spam_report_rate(), Some(0.0008));
    // 7 quarantines in a week: 7 × 30 / 7 = 30 a month.
    assert!((period.blacklisted_per_month() - 30.0).abs() < 1e-9);
    // €700 in a week: 700 × 365 / 7 = €36,500 a year.
    assert!((period.replacement_cost_per_year_euros() - 36_500.0).abs() < 1e-9);
    assert_eq!(period.sms_delivery_rate(), Some(0.75));
    assert_eq!(Figure::DetectionTime.value(&period), Some(42.0));
}

#[test]
fn no_calls_divides_by_nothing() {
    let empty = Period::default();
    assert_eq!(empty.answer_rate(), None);
    assert_eq!(empty.spam_report_rate(), None);
    assert_eq!(empty.sms_delivery_rate(), None);
    assert_eq!(empty.blacklisted_per_month(), 0.0);
    for figure in Figure::ALL {
        assert!(figure.value(&empty).is_none_or(f64::is_finite), "{figure:?}");
    }
    let day = Day { date: jiff::civil::date(2026, 11, 23), calls: 0, answered: 0, spam_reports: 0, quarantines: 0 };
    assert_eq!(day.answer_rate(), None);
}

#[test]
fn seed_figures_are_the_case_study_table() {
    let metrics: Vec<_> = SEED_FIGURES.iter().map(|s| (s.metric, s.before_text, s.after_text, s.change_text)).collect();
    assert_eq!(
        metrics,
        [
            ("Spam report rate", "0.8%", "0.08%", "÷ 10"),
            ("Answer rate", "41%", "63%", "+ 22 pts"),
            ("Blacklisted numbers/month", "4-6", "0-1", "÷ 5"),
            ("Incident detection time", "5-10 days", "< 2 hours", "÷ 60"),
            ("Number replacement cost/year", "€12,000", "€1,500", "÷ 8"),
        ]
    );
    assert_eq!(SEED_FIGURES.map(|s| s.figure), Figure::KEY);
    assert_eq!(seed_figure(Figure::DetectionTime).map(|s| s.after), Some(SeedValue::Below(120.0)));
    assert!(seed_figure(Figure::Calls).is_none());
}
