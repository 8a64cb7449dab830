//! The charts on their own: valid SVG, one group per series, gaps, escaping.

use roxmltree::{Document, Node};
use vigie_core::Language;
use vigie_report::charts::{Chart, Series, YFormat, bar_chart, line_chart, sparkline};

fn chart(series: Vec<Series>, y_format: YFormat) -> Chart {
    Chart {
        title: "Taux <de> décroché & co".to_owned(),
        x_labels: ["lun.", "mar.", "mer.", "jeu.", "ven."].map(str::to_owned).to_vec(),
        series,
        y_format,
        language: Language::Fr,
        width: 480,
        height: 240,
    }
}

fn series(name: &str, values: &[Option<f64>]) -> Series {
    Series { name: name.to_owned(), values: values.to_vec() }
}

fn with_class<'a>(doc: &'a Document<'_>, element: &str, class: &str) -> Vec<Node<'a, 'a>> {
    doc.descendants().filter(|n| n.has_tag_name(element) && n.attribute("class") == Some(class)).collect()
}

/// The number of subpaths (`M` commands) of each series' line.
fn subpaths(doc: &Document<'_>) -> Vec<usize> {
    with_class(doc, "g", "series")
        .iter()
        .map(|g| {
            g.children()
                .find(|n| n.has_tag_name("path"))
                .and_then(|p| p.attribute("d"))
                .map_or(0, |d| d.matches('M').count())
        })
        .collect()
}

#[test]
fn line_chart_draws_a_gap_for_a_missing_value() {
    let svg = line_chart(&chart(
        vec![
            series("A", &[Some(0.61), Some(0.63), None, Some(0.6), Some(0.64)]),
            series("B <script>alert(1)</script>", &[Some(0.5), Some(0.52), Some(0.49), Some(0.5), Some(0.51)]),
            series("C", &[None, None, None, None, None]),
        ],
        YFormat::Percent,
    ));
    let doc = Document::parse(&svg).expect("valid SVG");
    let root = doc.root_element();
    assert_eq!(root.attribute("viewBox"), Some("0 0 480 240"));
    assert_eq!(root.attribute("aria-label"), Some("Taux <de> décroché & co"));
    let names: Vec<_> = with_class(&doc, "g", "series").iter().filter_map(|g| g.attribute("data-name")).collect();
    assert_eq!(names, ["A", "B <script>alert(1)</script>", "C"]);
    assert_eq!(subpaths(&doc), [2, 1, 0]);
    assert_eq!(with_class(&doc, "circle", "point").len(), 4 + 5);
    assert!(!svg.contains("<script"));
    // Tick labels in French: 0 %, 20 %, ….
    assert!(svg.contains("20\u{202F}%"), "{svg}");
}

#[test]
fn bar_chart_draws_one_bar_per_value() {
    let svg = bar_chart(&chart(
        vec![
            series("A", &[Some(0.0), Some(3.0), Some(1.0), None, Some(2.0)]),
            series("B", &[Some(5.0), Some(4.0), Some(1.0), Some(0.0), Some(2.0)]),
        ],
        YFormat::Number,
    ));
    let doc = Document::parse(&svg).expect("valid SVG");
    let groups = with_class(&doc, "g", "series");
    let bars: Vec<usize> =
        groups.iter().map(|g| g.children().filter(|n| n.attribute("class") == Some("bar")).count()).collect();
    assert_eq!(bars, [4, 5]);
    // A zero is a visible sliver, drawn inside the chart.
    for bar in with_class(&doc, "rect", "bar") {
        let height: f64 = bar.attribute("height").and_then(|h| h.parse().ok()).expect("height");
        let y: f64 = bar.attribute("y").and_then(|h| h.parse().ok()).expect("y");
        assert!(height >= 1.0 && y > 0.0 && y + height < 240.0, "{height} {y}");
    }
}

#[test]
fn charts_without_data_still_parse() {
    for svg in [
        line_chart(&chart(vec![], YFormat::Percent)),
        bar_chart(&chart(vec![series("A", &[None; 5])], YFormat::Number)),
        sparkline(&[], 80, 16),
        sparkline(&[None, Some(1.0), None], 80, 16),
    ] {
        Document::parse(&svg).unwrap_or_else(|e| panic!("{e}: {svg}"));
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
    }
}

#[test]
fn sparkline_breaks_at_gaps() {
    let svg = sparkline(&[Some(0.6), Some(0.62), None, Some(0.58), Some(0.6), None, Some(0.7)], 84, 18);
    let doc = Document::parse(&svg).expect("valid SVG");
    let d = doc.descendants().find(|n| n.has_tag_name("path")).and_then(|p| p.attribute("d")).expect("a path");
    assert_eq!(d.matches('M').count(), 3);
    // The lone last value gets a dot.
    assert_eq!(doc.descendants().filter(|n| n.has_tag_name("circle")).count(), 1);
}
