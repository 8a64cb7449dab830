//! `GET /`: one card per pool (numbers by state, capacity used today, answer rate and
//! spam report rate over 30 days), the open alerts and incidents, and the seed's key
//! figures for this week beside the week before and the seed's own values.

use std::collections::HashMap;

use axum::extract::State;
use axum::response::Html;
use maud::{Markup, html};
use vigie_core::{Date, add_days};
use vigie_report::charts::{Chart, Series, YFormat, line_chart};
use vigie_report::{Figure, Week, figure_label, figure_value, seed_figure};
use vigie_store::{DayCounts, PoolSummary};

use crate::Dashboard;
use crate::access::Permission;
use crate::error::WebError;
use crate::layout::{self, Lang, svg};
use crate::records::read_week;
use crate::session::Viewer;

/// Days in the pool cards' charts.
const CHART_DAYS: i32 = 30;
/// Open alerts and incidents listed.
const OPEN_LISTED: u32 = 20;

/// A pool's days over the chart's window, read from the weekly counts of the weeks it
/// spans (the same counting as the weekly report).
async fn pool_days(d: &Dashboard, today: Date) -> Result<HashMap<(String, Date), DayCounts>, WebError> {
    let first = add_days(today, 1 - CHART_DAYS);
    let mut out = HashMap::new();
    let mut week = Week::containing(first);
    while week.monday() <= today {
        let data = d.store.weekly_figures(week.monday(), d.store.now()).await?;
        for p in &data.pools {
            for day in p.daily.iter().filter(|x| x.date >= first && x.date <= today) {
                out.insert((p.pool.clone(), day.date), *day);
            }
        }
        week = Week::containing(add_days(week.monday(), 7));
    }
    Ok(out)
}

fn pool_card(l: &Lang, p: &PoolSummary, days: &HashMap<(String, Date), DayCounts>, dates: &[Date]) -> Markup {
    let day = |date: &Date| days.get(&(p.code.as_str().to_owned(), *date));
    let answer: Vec<Option<f64>> = dates
        .iter()
        .map(|date| day(date).and_then(|d| (d.calls > 0).then(|| d.answered as f64 / d.calls as f64)))
        .collect();
    let spam: Vec<Option<f64>> = dates
        .iter()
        .map(|date| day(date).and_then(|d| (d.calls > 0).then(|| d.spam_reports as f64 / d.calls as f64)))
        .collect();
    let labels: Vec<String> = dates.iter().map(|d| d.strftime("%d/%m").to_string()).collect();
    let chart = |title: &str, name: &str, values: Vec<Option<f64>>| {
        line_chart(&Chart {
            title: title.to_owned(),
            x_labels: labels.clone(),
            series: vec![Series { name: name.to_owned(), values }],
            y_format: YFormat::Percent,
            language: l.language,
            width: 360,
            height: 150,
        })
    };
    let used = if p.capacity_today > 0 { Some(f64::from(p.used_today) / f64::from(p.capacity_today)) } else { None };
    html! {
        section.card data-pool=(p.code.as_str()) data-role=(p.role) data-testid="pool-card" {
            h2 { (l.t("Pool", "Pool")) " " (p.code.as_str()) " " small { (p.role) } }
            dl.counts {
                div.active { dt { (l.t("Actifs", "Active")) } dd data-count="active" { (p.active) } }
                div.resting { dt { (l.t("Au repos", "Resting")) } dd data-count="resting" { (p.resting) } }
                div.quarantined { dt { (l.t("Quarantaine", "Quarantined")) } dd data-count="quarantined" { (p.quarantined) } }
                div.reserve { dt { (l.t("Réserve", "Reserve")) } dd data-count="reserve" { (p.reserve) } }
            }
            p {
                (l.t("Capacité utilisée aujourd'hui", "Capacity used today")) " : "
                strong { (p.used_today) " / " (p.capacity_today) } " (" (l.percent(used, 0)) ")"
                meter min="0" max=(p.capacity_today.max(1)) value=(p.used_today) {}
            }
            p { (l.t("Taux de décroché (7 j)", "Answer rate (7 d)")) " : " strong { (l.percent(p.answer_rate_7d, 1)) } }
            // Inbound and reserve pools place no calls: no rate to draw.
            @if p.role == "outbound" {
                div.chart { (svg(chart(l.t("Taux de décroché, 30 jours", "Answer rate, 30 days"), l.t("décroché", "answered"), answer))) }
                div.chart { (svg(chart(l.t("Taux de signalement spam, 30 jours", "Spam report rate, 30 days"), l.t("signalements", "reports"), spam))) }
            } @else {
                p.small { (l.t("Pool sans appels sortants : pas de taux à suivre.", "No outbound calls in this pool: no rate to follow.")) }
            }
        }
    }
}

/// `GET /`.
pub(crate) async fn page(State(d): State<Dashboard>, v: Viewer) -> Result<Html<String>, WebError> {
    v.require(Permission::ViewOverview)?;
    let l = &v.lang;
    let today = d.store.calendar().day_of(d.store.now());
    let pools = d.store.pools().await?;
    let days = pool_days(&d, today).await?;
    let dates: Vec<Date> = (0..CHART_DAYS).map(|i| add_days(today, i + 1 - CHART_DAYS)).collect();
    let alerts = d.store.alerts(true, OPEN_LISTED).await?;
    let incidents = d.store.incidents(true, OPEN_LISTED).await?;
    let week = read_week(&d, Week::containing(today)).await?;
    let see_alerts = v.may(Permission::ViewAlerts);
    let body = html! {
        div.cards {
            @for p in &pools { (pool_card(l, p, &days, &dates)) }
        }
        div.columns {
            section {
                h2 { (l.t("Alertes ouvertes", "Open alerts")) }
                ul #live-alerts data-testid="open-alerts" {
                    @for a in &alerts {
                        li.alert data-severity=(a.severity) {
                            @if see_alerts { a href="/alerts" { (a.signal) } } @else { (a.signal) }
                            " · " (a.severity) " · " @if let Some(n) = &a.number { (n.as_str()) " · " } (l.pick(&a.evidence_fr, &a.evidence))
                        }
                    }
                    @if alerts.is_empty() { li.none { (l.t("Aucune alerte ouverte.", "No open alert.")) } }
                }
                h2 { (l.t("Incidents ouverts", "Open incidents")) }
                ul {
                    @for i in &incidents {
                        li {
                            @if see_alerts { a href={ "/incidents/" (i.id) } { "#" (i.id) } } @else { "#" (i.id) }
                            " · " (i.number.as_str()) " · " (i.trigger_signal) " · " (l.when(i.opened_at))
                        }
                    }
                    @if incidents.is_empty() { li.none { (l.t("Aucun incident ouvert.", "No open incident.")) } }
                }
            }
            section {
                h2 { (l.t("Chiffres clés de l'étude, cette semaine", "The case study's key figures, this week")) " (" (week.week) ")" }
                table.data data-testid="key-figures" {
                    thead { tr {
                        th { (l.t("Indicateur", "Figure")) } th { (l.t("Cette semaine", "This week")) }
                        th { (l.t("Semaine précédente", "Week before")) } th { (l.t("Étude : avant → après", "Case study: before → after")) }
                    } }
                    tbody {
                        @for f in Figure::KEY {
                            tr {
                                td { (figure_label(f, l.language)) }
                                td.num { (figure_value(f, f.value(&week.centre.current), l.language)) }
                                td.num { (figure_value(f, f.value(&week.centre.previous), l.language)) }
                                td { @if let Some(s) = seed_figure(f) { (s.before_text) " → " (s.after_text) } }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(Html(layout::page(&v, l.t("Vue d'ensemble", "Overview"), body).into_string()))
}
