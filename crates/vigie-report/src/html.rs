//! The weekly report as one self-contained HTML page, made to be e-mailed: inline CSS
//! and SVG, no script, no external font, image or link.

use std::fmt::Write as _;

use jiff::civil::Date;
use vigie_core::Language;

use crate::charts::{self, Chart, Series, YFormat};
use crate::figures::{Better, Figure, Period, WeeklyFigures};
use crate::format::{self, MISSING, escape};
use crate::seed::{seed_figure, seed_value_text};

/// Writes to a `String`, which cannot fail.
macro_rules! w {
    ($out:expr, $($arg:tt)*) => {{
        let _ = write!($out, $($arg)*);
    }};
}

/// The width of the report's charts, to fit an e-mail's usual 640 to 700 pixels.
const CHART_WIDTH: u32 = 640;
const CHART_HEIGHT: u32 = 300;
/// The text colours of a change, darker shades of the Okabe–Ito bluish green and
/// vermillion so that they read at 6:1 and 5.6:1 on white.
const GOOD: &str = "#00704A";
const BAD: &str = "#B14700";
const NEUTRAL: &str = "#444444";

const STYLE: &str = "\
body{margin:0;padding:16px;background:#FFFFFF;color:#222222;\
font-family:system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;font-size:15px;line-height:1.4}\
main{max-width:720px;margin:0 auto}\
h1{font-size:22px;margin:0 0 4px}\
h2{font-size:18px;margin:28px 0 8px;border-bottom:2px solid #0072B2;padding-bottom:2px}\
h3{font-size:16px;margin:20px 0 6px}\
.meta{color:#555555;margin:0 0 12px}\
table{border-collapse:collapse;width:100%;margin:0 0 8px}\
th,td{padding:5px 8px;border-bottom:1px solid #DDDDDD;text-align:left;vertical-align:top}\
thead th{background:#F2F2F2;font-size:13px}\
td.num,td.chg{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}\
td.chg{font-weight:bold}\
td.ref{color:#555555;white-space:nowrap}\
tr.sub th{background:#FAFAFA;color:#555555;font-size:13px;font-weight:normal}\
figure{margin:16px 0}\
figure svg{max-width:100%;height:auto}\
.spark{margin-left:8px;vertical-align:middle}\
.notes{color:#444444;font-size:13px}";

/// The words of the report in one language.
struct Words {
    html_lang: &'static str,
    title: &'static str,
    week: &'static str,
    previous: &'static str,
    from_to: (&'static str, &'static str),
    compared: &'static str,
    generated: &'static str,
    centre: &'static str,
    pools: &'static str,
    no_pool: &'static str,
    figure: &'static str,
    change: &'static str,
    reference: &'static str,
    context: &'static str,
    better: &'static str,
    worse: &'static str,
    charts: &'static str,
    answer_chart: &'static str,
    reports_chart: &'static str,
    sparkline: &'static str,
    notes: &'static str,
    weekdays: [&'static str; 7],
    notes_items: [&'static str; 7],
}

const FR: Words = Words {
    html_lang: "fr",
    title: "Rapport hebdomadaire",
    week: "semaine",
    previous: "précédente",
    from_to: ("du", "au"),
    compared: "comparée à la semaine",
    generated: "généré le",
    centre: "Centre",
    pools: "Par pool",
    no_pool: "Aucun pool cette semaine.",
    figure: "Indicateur",
    change: "Évolution",
    reference: "Étude de cas : avant → après 12 mois",
    context: "Contexte",
    better: "amélioration",
    worse: "dégradation",
    charts: "Graphiques",
    answer_chart: "Taux de décroché par jour et par pool",
    reports_chart: "Signalements spam par jour et par pool",
    sparkline: "décroché jour par jour",
    notes: "Notes",
    weekdays: ["lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim."],
    notes_items: [
        "Taux de signalement spam : signalements ÷ appels passés, en pourcentage des appels, comme dans l’étude de cas.",
        "Numéros blacklistés par mois : numéros mis en quarantaine dans la semaine × 30 ÷ 7 (mois de 30 jours).",
        "Coût de remplacement par an : coût de la semaine × 365 ÷ 7.",
        "Délai de détection : médiane, sur les incidents de la semaine, du premier signal à la détection.",
        "Évolution : en points de pourcentage pour les taux ; ▲ hausse, ▼ baisse ; en vert une amélioration, en orange une dégradation.",
        "— : non calculable (aucun appel, aucun SMS ou aucun incident sur la période).",
        "Étude de cas : un centre de téléconsultation santé français, 10 000 appels par jour sur 6 pools, résultats après 12 mois (« Results After 12 Months ») ; des repères, pas des objectifs contractuels.",
    ],
};

const EN: Words = Words {
    html_lang: "en",
    title: "Weekly report",
    week: "week",
    previous: "previous",
    from_to: ("from", "to"),
    compared: "compared with week",
    generated: "generated on",
    centre: "Centre",
    pools: "Per pool",
    no_pool: "No pool this week.",
    figure: "Figure",
    change: "Change",
    reference: "Case study: before → after 12 months",
    context: "Context",
    better: "better",
    worse: "worse",
    charts: "Charts",
    answer_chart: "Daily answer rate per pool",
    reports_chart: "Daily spam reports per pool",
    sparkline: "answer rate day by day",
    notes: "Notes",
    weekdays: ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
    notes_items: [
        "Spam report rate: spam reports ÷ calls made, as a percentage of calls, as in the case study.",
        "Blacklisted numbers per month: numbers quarantined during the week × 30 ÷ 7 (a 30-day month).",
        "Replacement cost per year: the week's cost × 365 ÷ 7.",
        "Detection time: the median, over the week's incidents, from the first signal to the detection.",
        "Change: in percentage points for rates; ▲ up, ▼ down; green is better, orange is worse.",
        "—: cannot be computed (no call, no SMS or no incident in the period).",
        "Case study: a French healthcare teleconsulting centre, 10,000 calls a day on 6 pools, results after 12 months (\"Results After 12 Months\"); landmarks, not contractual targets.",
    ],
};

fn words(language: Language) -> &'static Words {
    match language {
        Language::Fr => &FR,
        Language::En => &EN,
    }
}

/// The report's title: `Rapport hebdomadaire — semaine 2026-W48`.
pub(crate) fn title(figures: &WeeklyFigures, language: Language) -> String {
    let words = words(language);
    format!("{} — {} {}", words.title, words.week, figures.week)
}

/// The report's charts, as file names and SVG: the same text goes inline in the page
/// and into the standalone files.
pub(crate) fn report_charts(figures: &WeeklyFigures, language: Language) -> [(&'static str, String); 2] {
    let words = words(language);
    let days = figures.week.days();
    let x_labels: Vec<String> =
        days.iter().zip(words.weekdays).map(|(day, name)| format!("{name} {:02}", day.day())).collect();
    let series = |value: &dyn Fn(&crate::figures::Day) -> Option<f64>| -> Vec<Series> {
        figures
            .pools
            .iter()
            .map(|pool| Series {
                name: pool.pool.clone(),
                values: days.iter().map(|date| pool.day(*date).and_then(value)).collect(),
            })
            .collect()
    };
    let answer = Chart {
        title: words.answer_chart.to_owned(),
        x_labels: x_labels.clone(),
        series: series(&|day| day.answer_rate()),
        y_format: YFormat::Percent,
        language,
        width: CHART_WIDTH,
        height: CHART_HEIGHT,
    };
    let reports = Chart {
        title: words.reports_chart.to_owned(),
        x_labels,
        series: series(&|day| Some(day.spam_reports as f64)),
        y_format: YFormat::Number,
        language,
        width: CHART_WIDTH,
        height: CHART_HEIGHT,
    };
    [("answer-rate.svg", charts::line_chart(&answer)), ("spam-reports.svg", charts::bar_chart(&reports))]
}

/// The weekly report as a self-contained HTML page, in French or English: the key
/// figures of the centre and of each pool with the previous week and the change, the
/// case study's figures beside the centre's, then the daily charts.
pub fn render_html(figures: &WeeklyFigures, language: Language) -> String {
    let words = words(language);
    let title = title(figures, language);
    let previous_week = figures.week.previous();
    let mut out = String::with_capacity(64 * 1024);
    w!(
        out,
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n",
        words.html_lang,
        escape(&title)
    );
    w!(out, "<h1>{}</h1>\n", escape(&title));
    w!(
        out,
        "<p class=\"meta\">{} · {} {} {} {} · {} {} · {} {}</p>\n",
        escape(&figures.centre_name),
        words.from_to.0,
        date_text(figures.week.monday(), language),
        words.from_to.1,
        date_text(figures.week.sunday(), language),
        words.compared,
        previous_week,
        words.generated,
        escape(&generated_text(figures, language)),
    );

    w!(out, "<h2>{}</h2>\n", words.centre);
    table(&mut out, figures, &figures.centre.current, &figures.centre.previous, true, language);

    w!(out, "<h2>{}</h2>\n", words.pools);
    if figures.pools.is_empty() {
        w!(out, "<p>{}</p>\n", words.no_pool);
    }
    let days = figures.week.days();
    for pool in &figures.pools {
        let rates: Vec<Option<f64>> = days.iter().map(|d| pool.day(*d).and_then(|day| day.answer_rate())).collect();
        w!(
            out,
            "<h3>{}<span class=\"spark\" title=\"{}\">{}</span></h3>\n",
            escape(&pool.pool),
            words.sparkline,
            charts::sparkline(&rates, 84, 18)
        );
        table(&mut out, figures, &pool.current, &pool.previous, false, language);
    }

    w!(out, "<h2>{}</h2>\n", words.charts);
    for (_, svg) in report_charts(figures, language) {
        w!(out, "<figure>{svg}</figure>\n");
    }

    w!(out, "<h2>{}</h2>\n<ul class=\"notes\">\n", words.notes);
    for note in words.notes_items {
        w!(out, "<li>{}</li>\n", escape(note));
    }
    out.push_str("</ul>\n</main>\n</body>\n</html>\n");
    out
}

/// One table of figures: the key ones, then the context; the case study's column for
/// the centre.
fn table(
    out: &mut String,
    figures: &WeeklyFigures,
    current: &Period,
    previous: &Period,
    seed: bool,
    language: Language,
) {
    let words = words(language);
    let columns = if seed { 5 } else { 4 };
    w!(
        out,
        "<table>\n<thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{} {}</th>\
         <th scope=\"col\">{} {} ({})</th><th scope=\"col\">{}</th>",
        words.figure,
        capitalised(words.week),
        figures.week,
        capitalised(words.week),
        figures.week.previous(),
        words.previous,
        words.change,
    );
    if seed {
        w!(out, "<th scope=\"col\">{}</th>", words.reference);
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for figure in Figure::ALL {
        if figure == Figure::ALL[Figure::KEY.len()] {
            w!(out, "<tr class=\"sub\"><th colspan=\"{columns}\" scope=\"rowgroup\">{}</th></tr>\n", words.context);
        }
        let now = figure.value(current);
        let before = figure.value(previous);
        w!(
            out,
            "<tr data-figure=\"{}\"><th scope=\"row\">{}</th><td class=\"num\">{}</td><td class=\"num\">{}</td>",
            figure.code(),
            format::label(figure, language),
            escape(&format::value(figure, now, language)),
            escape(&format::value(figure, before, language)),
        );
        change_cell(out, figure, now, before, language);
        if seed {
            let reference = seed_figure(figure).map(|s| {
                format!(
                    "{} → {}",
                    seed_value_text(figure, s.before, language),
                    seed_value_text(figure, s.after, language)
                )
            });
            w!(out, "<td class=\"ref\">{}</td>", escape(reference.as_deref().unwrap_or("")));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
}

/// The change from the previous week: an arrow, the signed delta, green when better,
/// orange when worse (and the word in a tooltip, not colour alone).
fn change_cell(out: &mut String, figure: Figure, now: Option<f64>, before: Option<f64>, language: Language) {
    let words = words(language);
    let (Some(now), Some(before)) = (now, before) else {
        w!(out, "<td class=\"chg\" style=\"color:{NEUTRAL}\">{MISSING}</td>");
        return;
    };
    let delta = now - before;
    if !delta.is_finite() || delta.abs() < format::delta_threshold(figure) {
        w!(out, "<td class=\"chg\" style=\"color:{NEUTRAL}\">=</td>");
        return;
    }
    let arrow = if delta > 0.0 { "▲" } else { "▼" };
    let (colour, verdict) = match figure.better() {
        Some(Better::Higher) if delta > 0.0 => (GOOD, words.better),
        Some(Better::Lower) if delta < 0.0 => (GOOD, words.better),
        Some(_) => (BAD, words.worse),
        None => (NEUTRAL, ""),
    };
    let title = if verdict.is_empty() { String::new() } else { format!(" title=\"{verdict}\"") };
    w!(
        out,
        "<td class=\"chg\" style=\"color:{colour}\"{title}>{arrow}\u{A0}{}</td>",
        escape(&format::delta(figure, delta, language))
    );
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// `23/11/2026` in French, `2026-11-23` in English.
fn date_text(date: Date, language: Language) -> String {
    match language {
        Language::Fr => format!("{:02}/{:02}/{}", date.day(), date.month(), date.year()),
        Language::En => date.to_string(),
    }
}

/// When the figures were computed, in Paris time.
fn generated_text(figures: &WeeklyFigures, language: Language) -> String {
    let paris = match language {
        Language::Fr => " (heure de Paris)",
        Language::En => " (Paris time)",
    };
    let (zone, label) = match figures.generated_at.in_tz("Europe/Paris") {
        Ok(zoned) => (zoned, paris),
        Err(_) => (figures.generated_at.to_zoned_datetime(jiff::tz::TimeZone::UTC), " UTC"),
    };
    let date = zone.date();
    let time = format!("{:02}:{:02}", zone.hour(), zone.minute());
    match language {
        Language::Fr => format!("{} à {time}{label}", date_text(date, language)),
        Language::En => format!("{} at {time}{label}", date_text(date, language)),
    }
}
