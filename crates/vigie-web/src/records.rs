//! The records pages: the weekly reports' archive (each week rendered by vigie-report,
//! as e-mailed) and the audit trail; and [`weekly_figures`], the one conversion from
//! the store's counts to vigie-report's figures, which `vigie report weekly` uses too.

use axum::extract::{Path, State};
use axum::response::Html;
use maud::{Markup, html};
use vigie_core::{Timestamp, add_days};
use vigie_report::{Day, Period, PoolWeek, Totals, Week, WeeklyFigures, render_html};
use vigie_store::{PeriodCounts, WeeklyFiguresData};

use crate::Dashboard;
use crate::access::Permission;
use crate::error::WebError;
use crate::layout;
use crate::session::Viewer;

/// How many weeks the archive lists.
const ARCHIVE_WEEKS: i32 = 12;
/// How many audit entries the audit page shows.
const AUDIT_ENTRIES: u32 = 300;

/// The report's figures from the store's counts.
pub fn weekly_figures(week: Week, data: &WeeklyFiguresData, centre_name: &str) -> WeeklyFigures {
    let period = |p: &PeriodCounts| Period {
        calls: p.calls,
        answered: p.answered,
        spam_reports: p.spam_reports,
        numbers_active: p.numbers_active,
        numbers_quarantined: p.numbers_quarantined,
        numbers_retired: p.numbers_retired,
        incidents: p.incidents,
        median_detection_minutes: p.median_detection_minutes,
        replacement_cost_cents: p.replacement_cost_cents,
        sms_sent: p.sms_sent,
        sms_delivered: p.sms_delivered,
    };
    WeeklyFigures {
        week,
        generated_at: data.generated_at,
        centre_name: centre_name.to_owned(),
        centre: Totals { current: period(&data.centre.0), previous: period(&data.centre.1) },
        pools: data
            .pools
            .iter()
            .map(|p| PoolWeek {
                pool: p.pool.clone(),
                current: period(&p.current),
                previous: period(&p.previous),
                daily: p
                    .daily
                    .iter()
                    .map(|d| Day {
                        date: d.date,
                        calls: d.calls,
                        answered: d.answered,
                        spam_reports: d.spam_reports,
                        quarantines: d.quarantines,
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// A week's figures, read now.
pub(crate) async fn read_week(d: &Dashboard, week: Week) -> Result<WeeklyFigures, WebError> {
    let now: Timestamp = d.store.now();
    let data = d.store.weekly_figures(week.monday(), now).await?;
    Ok(weekly_figures(week, &data, &d.centre_name))
}

/// `GET /reports`: the last weeks, newest first.
pub(crate) async fn weekly_list(State(d): State<Dashboard>, v: Viewer) -> Result<Html<String>, WebError> {
    v.require(Permission::ViewReports)?;
    let l = &v.lang;
    let today = d.store.calendar().day_of(d.store.now());
    let weeks: Vec<Week> = (0..ARCHIVE_WEEKS).map(|i| Week::containing(add_days(today, -7 * i))).collect();
    let body = html! {
        p { (l.t("Chaque semaine, telle qu'envoyée par e-mail le lundi (la semaine en cours est partielle).",
                 "Each week as e-mailed on Mondays (the current week is partial).")) }
        ul.weeks {
            @for w in &weeks {
                li { a href={ "/reports/" (w) } { (w) } " — " (w.monday()) " → " (w.sunday()) }
            }
        }
    };
    Ok(Html(layout::page(&v, l.t("Rapports hebdomadaires", "Weekly reports"), body).into_string()))
}

/// `GET /reports/{week}`: the week's report, as vigie-report renders it.
pub(crate) async fn weekly_report(
    State(d): State<Dashboard>,
    v: Viewer,
    Path(week): Path<String>,
) -> Result<Html<String>, WebError> {
    v.require(Permission::ViewReports)?;
    let week = Week::parse(&week).map_err(|e| WebError::Invalid("week", e.to_string()))?;
    let figures = read_week(&d, week).await?;
    Ok(Html(render_html(&figures, v.lang.language)))
}

/// `GET /audit`: the latest entries of the hash-chained trail, and whether it is intact.
pub(crate) async fn audit(State(d): State<Dashboard>, v: Viewer) -> Result<Html<String>, WebError> {
    v.require(Permission::ViewAudit)?;
    let l = &v.lang;
    let report = d.store.verify_audit().await?;
    let entries = d.store.audit_entries(AUDIT_ENTRIES).await?;
    let body: Markup = html! {
        @match &report.problem {
            None => p.ok { (l.t("Chaîne intacte", "Chain intact")) " : " (report.entries) " " (l.t("entrées", "entries")) },
            Some(p) => p.problem role="alert" { (l.t("Chaîne rompue à l'entrée", "Chain broken at entry")) " " (p.seq) " : " (p.message) },
        }
        table.data {
            thead { tr {
                th { "#" } th { (l.t("Quand", "When")) } th { (l.t("Qui", "Who")) }
                th { (l.t("Action", "Action")) } th { (l.t("Objet", "Subject")) } th { (l.t("Détail", "Detail")) }
            } }
            tbody {
                @for e in &entries {
                    tr { td { (e.seq) } td { (l.when(e.at)) } td { (e.actor) } td { code { (e.action) } } td { (e.subject) } td.detail { (e.detail) } }
                }
            }
        }
    };
    Ok(Html(layout::page(&v, l.t("Journal d'audit", "Audit trail"), body).into_string()))
}
