//! The HTML page: figures, previous values, changes, languages, escaping, SVG.

use roxmltree::Document;
use vigie_core::Language;
use vigie_report::{Period, REPORT_HTML, render_html, write_report};

use crate::{inline_svgs, plain, sample};

/// The `n`-th table row of a figure (0: the centre, then the pools), its text made
/// plain.
fn row(html: &str, code: &str, n: usize) -> String {
    let start = html.match_indices(&format!("<tr data-figure=\"{code}\">")).nth(n).map(|(i, _)| i).expect("row");
    let end = html[start..].find("</tr>").expect("row end") + start;
    plain(&html[start..end])
}

const GOOD: &str = "color:#00704A";
const BAD: &str = "color:#B14700";

#[test]
fn french_report_shows_every_figure_with_the_previous_week_and_the_case_study() {
    let html = render_html(&sample(), Language::Fr);
    let text = plain(&html);
    assert!(text.contains("<html lang=\"fr\">"));
    assert!(text.contains("<h1>Rapport hebdomadaire — semaine 2026-W48</h1>"));
    assert!(text.contains("du 23/11/2026 au 29/11/2026"));
    assert!(text.contains("comparée à la semaine 2026-W47"));
    assert!(text.contains("généré le 30/11/2026 à 08:00 (heure de Paris)"));
    // The centre: label, this week, last week, change, the case study.
    let expected = [
        (
            "spam_report_rate",
            "Taux de signalement spam",
            "0,08 %",
            "0,10 %",
            "▼ −0,02 pt",
            Some(GOOD),
            "0,8 % → 0,08 %",
        ),
        ("answer_rate", "Taux de décroché", "63,0 %", "60,0 %", "▲ +3,0 pt", Some(GOOD), "41 % → 63 %"),
        ("blacklisted_per_month", "Numéros blacklistés par mois", "4,3", "8,6", "▼ −4,3", Some(GOOD), "4–6 → 0–1"),
        ("detection_minutes", "Délai de détection", "95 min", "2,2 h", "▼ −35 min", Some(GOOD), "5 j–10 j → &lt; 2 h"),
        (
            "replacement_cost_per_year_eur",
            "Coût de remplacement",
            "36 500 €",
            "73 000 €",
            "▼ −36 500 €",
            Some(GOOD),
            "12 000 € → 1 500 €",
        ),
        ("calls", "Appels passés", "70 000", "68 000", "▲ +2 000", None, ""),
        ("spam_reports", "Signalements spam", ">56<", ">68<", "▼ −12", Some(GOOD), ""),
        ("numbers_quarantined", "Numéros mis en quarantaine", ">1<", ">2<", "▼ −1", Some(GOOD), ""),
        ("numbers_active", "Numéros actifs", ">150<", ">148<", "▲ +2", None, ""),
        ("numbers_retired", "Numéros retirés", ">0<", ">1<", "▼ −1", None, ""),
        ("incidents", "Incidents détectés", ">2<", ">3<", "▼ −1", Some(GOOD), ""),
        ("sms_sent", "SMS de prévenance envoyés", "50 000", "48 000", "▲ +2 000", None, ""),
        ("sms_delivery_rate", "Taux de remise des SMS", "98,0 %", "96,0 %", "▲ +2,0 pt", Some(GOOD), ""),
    ];
    for (code, label, now, before, change, colour, reference) in expected {
        let row = row(&html, code, 0);
        for part in [label, now, before, change, reference] {
            assert!(row.contains(part), "{code}: {part:?} not in {row}");
        }
        if let Some(colour) = colour {
            assert!(row.contains(colour), "{code}: {row}");
        }
    }
    // Pool B got worse: answer rate down, reports up, in orange.
    let answer = row(&html, "answer_rate", 2);
    assert!(answer.contains("45,0 %") && answer.contains("50,0 %") && answer.contains("▼ −5,0 pt"), "{answer}");
    assert!(answer.contains(BAD) && answer.contains("title=\"dégradation\""), "{answer}");
    let reports = row(&html, "spam_report_rate", 2);
    assert!(reports.contains("0,90 %") && reports.contains("0,30 %") && reports.contains("▲ +0,60 pt"), "{reports}");
    assert!(reports.contains(BAD), "{reports}");
    // Pool A's answer rate: 65 % against 60 %; its unchanged calls read "=".
    assert!(row(&html, "answer_rate", 1).contains("65,0 %"));
    assert!(row(&html, "calls", 1).contains(">=<"));
    assert!(text.contains("Taux de décroché par jour et par pool"));
    assert!(text.contains("mois de 30 jours"));
}

#[test]
fn english_report_uses_english_words_and_numbers() {
    let html = render_html(&sample(), Language::En);
    let text = plain(&html);
    assert!(text.contains("<html lang=\"en\">"));
    assert!(text.contains("<h1>Weekly report — week 2026-W48</h1>"));
    assert!(text.contains("from 2026-11-23 to 2026-11-29"));
    assert!(text.contains("generated on 2026-11-30 at 08:00 (Paris time)"));
    let answer = row(&html, "answer_rate", 0);
    assert!(answer.contains("Answer rate") && answer.contains("63.0%") && answer.contains("+3.0 pt"), "{answer}");
    assert!(answer.contains("41% → 63%"), "{answer}");
    let cost = row(&html, "replacement_cost_per_year_eur", 0);
    assert!(cost.contains("€36,500") && cost.contains("€12,000 → €1,500"), "{cost}");
    assert!(row(&html, "detection_minutes", 0).contains("5 d–10 d → &lt; 2 h"));
    assert!(row(&html, "calls", 0).contains("70,000"));
    assert!(text.contains("Daily spam reports per pool"));
    assert!(!text.contains("Taux de décroché"));
}

#[test]
fn names_are_escaped_and_the_page_is_self_contained() {
    let mut figures = sample();
    figures.centre_name = "Clinique \"Saint-Éloi\" <b>& Co</b>".to_owned();
    figures.pools[1].pool = "B <script>alert('x')</script>\u{7}".to_owned();
    let html = render_html(&figures, Language::Fr);
    assert!(html.contains("Clinique &quot;Saint-Éloi&quot; &lt;b&gt;&amp; Co&lt;/b&gt;"));
    assert!(html.contains("B &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;\u{FFFD}"));
    let lower = html.to_lowercase();
    for forbidden in ["<script", "<b>", "<link", "<img", "src=", "href=", "url(", "@import", "https:"] {
        assert!(!lower.contains(forbidden), "{forbidden}");
    }
    // The only URL is the SVG namespace.
    assert_eq!(lower.matches("http:").count(), lower.matches("xmlns=\"http://www.w3.org/2000/svg\"").count());
    // Every inline SVG parses, the pool's name intact inside.
    let svgs = inline_svgs(&html);
    assert_eq!(svgs.len(), 2 + 2, "two sparklines, two charts");
    for svg in &svgs {
        Document::parse(svg).unwrap_or_else(|e| panic!("{e}: {svg}"));
    }
    let chart = Document::parse(svgs[2]).expect("valid SVG");
    assert!(chart.descendants().any(|n| n.attribute("data-name") == Some("B <script>alert('x')</script>\u{FFFD}")));
}

#[test]
fn a_pool_without_calls_shows_dashes() {
    let mut figures = sample();
    figures.pools[0].current = Period::default();
    figures.pools[0].daily.clear();
    let html = render_html(&figures, Language::Fr);
    assert!(row(&html, "answer_rate", 1).contains("<td class=\"num\">—</td><td class=\"num\">60,0 %</td>"));
    assert!(row(&html, "spam_report_rate", 1).contains("<td class=\"num\">—</td>"));
    assert!(row(&html, "detection_minutes", 1).matches('—').count() == 3);
    assert!(!html.contains("NaN") && !html.contains("inf"));
}

#[test]
fn write_report_writes_the_page_the_charts_and_the_csv() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("2026-W48");
    let figures = sample();
    let paths = write_report(&figures, Language::Fr, &out).expect("written");
    let names: Vec<_> = paths.iter().filter_map(|p| p.file_name()?.to_str()).collect();
    assert_eq!(names, [REPORT_HTML, "answer-rate.svg", "spam-reports.svg", "figures.csv", "daily.csv"]);
    let html = std::fs::read_to_string(&paths[0]).expect("html");
    let inline = inline_svgs(&html);
    for (path, expected_series, element, expected_marks) in
        [(&paths[1], 2, "circle", 6 + 7), (&paths[2], 2, "rect", 6 + 7)]
    {
        let svg = std::fs::read_to_string(path).expect("svg");
        let doc = Document::parse(&svg).expect("valid standalone SVG");
        let series = doc.descendants().filter(|n| n.attribute("class") == Some("series")).count();
        let marks = doc
            .descendants()
            .filter(|n| n.has_tag_name(element) && matches!(n.attribute("class"), Some("point" | "bar")))
            .count();
        assert_eq!((series, marks), (expected_series, expected_marks), "{}", path.display());
        assert!(inline.iter().any(|i| svg.contains(i)), "the page holds the same chart");
    }
    // Pool A's Thursday is a gap in its line.
    let svg = std::fs::read_to_string(&paths[1]).expect("svg");
    let doc = Document::parse(&svg).expect("valid");
    let pool_a = doc.descendants().find(|n| n.attribute("data-name") == Some("A")).expect("pool A");
    let d = pool_a.children().find(|n| n.has_tag_name("path")).and_then(|p| p.attribute("d")).expect("line");
    assert_eq!(d.matches('M').count(), 2);
    assert_eq!(std::fs::read_to_string(&paths[3]).expect("csv"), vigie_report::render_csv(&figures)[0].1);
}
