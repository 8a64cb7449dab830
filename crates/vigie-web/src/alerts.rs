//! Alerts and incidents: acknowledge an alert, follow an incident's playbook step by
//! step, close it (back to service after the cool-down and the clean check, or
//! retired with its cost). The store functions are those behind `/v1/alerts` and
//! `/v1/incidents`; their rules (a second acknowledgement, a close before the
//! cool-down) come back as the store's refusals.

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use vigie_core::PlaybookStep;
use vigie_store::Resolution;

use crate::Dashboard;
use crate::access::Permission;
use crate::error::WebError;
use crate::layout;
use crate::session::Viewer;

/// Alerts and incidents listed.
const LISTED: u32 = 100;
/// The longest note accepted.
const NOTE_CHARS_MAX: usize = 2_000;

fn note(text: Option<&str>) -> Result<String, WebError> {
    let text = text.unwrap_or("").trim();
    if text.chars().count() > NOTE_CHARS_MAX {
        return Err(WebError::Invalid("note", format!("must be at most {NOTE_CHARS_MAX} characters")));
    }
    Ok(text.to_owned())
}

fn id_of(text: &str, what: &'static str) -> Result<i64, WebError> {
    text.parse().map_err(|_| WebError::NotFound(what))
}

/// `GET /alerts`.
pub(crate) async fn list(State(d): State<Dashboard>, v: Viewer) -> Result<Html<String>, WebError> {
    v.require(Permission::ViewAlerts)?;
    let l = &v.lang;
    let alerts = d.store.alerts(false, LISTED).await?;
    let incidents = d.store.incidents(false, LISTED).await?;
    let act = v.may(Permission::ActOnAlerts);
    let body = html! {
        h2 { (l.t("Alertes", "Alerts")) }
        table.data data-testid="alerts" {
            thead { tr {
                th { (l.t("Levée", "Raised")) } th { (l.t("Signal", "Signal")) } th { (l.t("Gravité", "Severity")) }
                th { (l.t("Numéro ou pool", "Number or pool")) } th { (l.t("Constat", "Evidence")) } th { (l.t("Action", "Action")) }
                th { (l.t("Acquittement", "Acknowledgement")) }
            } }
            tbody #live-alert-rows {
                @for a in &alerts {
                    tr data-alert=(a.id) data-severity=(a.severity) {
                        td { (l.when(a.raised_at)) @if a.repeats > 0 { " (+" (a.repeats) ")" } }
                        td { (a.signal) } td.severity { (a.severity) }
                        td { @if let Some(n) = &a.number { a href={ "/numbers/" (n.as_str()) } { (n.as_str()) } } @else if let Some(p) = &a.pool { "pool " (p) } }
                        td { (l.pick(&a.evidence_fr, &a.evidence)) } td { (a.action) }
                        td {
                            @if let Some((at, by)) = &a.acknowledged {
                                span.ok data-testid="acknowledged" { (l.t("acquittée", "acknowledged")) " · " (by) " · " (l.when(*at)) }
                            } @else if act {
                                form.inline method="post" action={ "/alerts/" (a.id) "/ack" } {
                                    input type="hidden" name="csrf" value=(v.csrf);
                                    input name="note" placeholder=(l.t("note", "note")) maxlength="500";
                                    button type="submit" data-testid="ack" { (l.t("Acquitter", "Acknowledge")) }
                                }
                            } @else { (l.t("ouverte", "open")) }
                        }
                    }
                }
            }
        }
        h2 { (l.t("Incidents", "Incidents")) }
        table.data {
            thead { tr {
                th { "#" } th { (l.t("Numéro", "Number")) } th { (l.t("Déclencheur", "Trigger")) }
                th { (l.t("Ouvert", "Opened")) } th { (l.t("Étapes faites", "Steps done")) } th { (l.t("Clôture", "Closed")) }
            } }
            tbody {
                @for i in &incidents {
                    tr {
                        td { a href={ "/incidents/" (i.id) } { "#" (i.id) } }
                        td { (i.number.as_str()) } td { (i.trigger_signal) } td { (l.when(i.opened_at)) }
                        td { (i.steps.iter().filter(|s| s.done.is_some()).count()) " / " (i.steps.len()) }
                        td { @if let Some((at, _, r)) = &i.closed { (r.as_str()) " · " (l.when(*at)) } @else { (l.t("ouvert", "open")) } }
                    }
                }
            }
        }
    };
    Ok(Html(layout::page(&v, l.t("Alertes et incidents", "Alerts and incidents"), body).into_string()))
}

#[derive(Deserialize)]
pub(crate) struct NoteForm {
    csrf: String,
    note: Option<String>,
}

/// `POST /alerts/{alert_id}/ack`.
pub(crate) async fn acknowledge(
    State(d): State<Dashboard>,
    v: Viewer,
    Path(id): Path<String>,
    Form(form): Form<NoteForm>,
) -> Result<Response, WebError> {
    v.require(Permission::ActOnAlerts)?;
    v.check_csrf(&form.csrf)?;
    let text = note(form.note.as_deref())?;
    d.store.acknowledge_alert(id_of(&id, "alert")?, &v.actor(), &text).await?;
    Ok(Redirect::to("/alerts").into_response())
}

/// `GET /incidents/{incident_id}`: the incident and its playbook.
pub(crate) async fn incident(
    State(d): State<Dashboard>,
    v: Viewer,
    Path(id): Path<String>,
) -> Result<Html<String>, WebError> {
    v.require(Permission::ViewAlerts)?;
    let l = &v.lang;
    let now = d.store.now();
    let i = d.store.incident(id_of(&id, "incident")?).await?.ok_or(WebError::NotFound("incident"))?;
    let open = i.closed.is_none() && v.may(Permission::ActOnAlerts);
    let body = html! {
        p.lead {
            a href={ "/numbers/" (i.number.as_str()) } { (i.number.as_str()) } " · pool " (i.pool) " · " (i.trigger_signal)
            " · " (l.t("ouvert le", "opened")) " " (l.when(i.opened_at))
        }
        p { (l.pick(&i.reason_fr, &i.reason)) }
        @if let Some((at, by, r)) = &i.closed { p.ok { (l.t("Clos", "Closed")) " : " (r.as_str()) " · " (by) " · " (l.when(*at)) } }
        h2 { (l.t("Étapes du plan de crise", "Playbook steps")) }
        table.data {
            thead { tr { th { (l.t("Étape", "Step")) } th { (l.t("Échéance", "Due")) } th { (l.t("Faite", "Done")) } } }
            tbody {
                @for s in &i.steps {
                    tr.overdue[s.done.is_none() && s.deadline_at < now] {
                        td { @if let Ok(step) = PlaybookStep::parse(&s.step) { (step.label(l.language)) " " } code { (s.step) } } td { (l.when(s.deadline_at)) }
                        td {
                            @if let Some((at, by, note)) = &s.done { (by) " · " (l.when(*at)) @if !note.is_empty() { " · " (note) } }
                            @else if open {
                                form.inline method="post" action={ "/incidents/" (i.id) "/steps/" (s.step) } {
                                    input type="hidden" name="csrf" value=(v.csrf);
                                    input name="note" placeholder=(l.t("note", "note")) maxlength="2000";
                                    button type="submit" { (l.t("Fait", "Done")) }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if open {
            h2 { (l.t("Clore l'incident", "Close the incident")) }
            form.action method="post" action={ "/incidents/" (i.id) "/close" } {
                input type="hidden" name="csrf" value=(v.csrf);
                label { (l.t("Issue", "Resolution"))
                    select name="resolution" {
                        option value="returned" { (l.t("Remis en service", "Back to service")) }
                        option value="retired" { (l.t("Retiré", "Retired")) }
                    }
                }
                label { (l.t("Coût de remplacement (€, si retiré)", "Replacement cost (€, if retired)")) input name="replacement_cost_eur" inputmode="decimal"; }
                label.wide { (l.t("Note", "Note")) input name="note" maxlength="2000"; }
                button type="submit" { (l.t("Clore", "Close")) }
            }
        }
    };
    Ok(Html(layout::page(&v, &format!("{} #{}", l.t("Incident", "Incident"), i.id), body).into_string()))
}

/// `POST /incidents/{incident_id}/steps/{step}`.
pub(crate) async fn step(
    State(d): State<Dashboard>,
    v: Viewer,
    Path((id, step)): Path<(String, String)>,
    Form(form): Form<NoteForm>,
) -> Result<Response, WebError> {
    v.require(Permission::ActOnAlerts)?;
    v.check_csrf(&form.csrf)?;
    let id = id_of(&id, "incident")?;
    d.store.complete_incident_step(id, &step, &v.actor(), &note(form.note.as_deref())?).await?;
    Ok(Redirect::to(&format!("/incidents/{id}")).into_response())
}

#[derive(Deserialize)]
pub(crate) struct CloseForm {
    csrf: String,
    resolution: String,
    replacement_cost_eur: Option<String>,
    note: Option<String>,
}

/// `POST /incidents/{incident_id}/close`.
pub(crate) async fn close(
    State(d): State<Dashboard>,
    v: Viewer,
    Path(id): Path<String>,
    Form(form): Form<CloseForm>,
) -> Result<Response, WebError> {
    v.require(Permission::ActOnAlerts)?;
    v.check_csrf(&form.csrf)?;
    let id = id_of(&id, "incident")?;
    let cost = match form.replacement_cost_eur.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(
            c.replace(',', ".")
                .parse::<f64>()
                .map_err(|_| WebError::Invalid("replacement_cost_eur", "must be a number".into()))?,
        ),
    };
    let resolution = Resolution::parse(&form.resolution, cost).map_err(|e| WebError::Invalid(e.field, e.rule))?;
    d.store.close_incident(id, resolution, &note(form.note.as_deref())?, &v.actor()).await?;
    Ok(Redirect::to(&format!("/incidents/{id}")).into_response())
}
