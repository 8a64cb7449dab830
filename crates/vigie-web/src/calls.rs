//! A call's page, for those whose role sees calls and whose facilities include the
//! call's; the patient's phone only for agents. Every read is in the audit trail (the
//! store writes it before returning the call); a refusal is a 403 before anything of
//! the call is read, and itself in the audit trail.

use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use vigie_store::{Principal, Role};

use crate::Dashboard;
use crate::access::{Permission, may_see_call};
use crate::error::WebError;
use crate::layout;
use crate::session::Viewer;

#[derive(Deserialize)]
pub(crate) struct FindQuery {
    id: Option<String>,
}

/// `GET /calls?id=N`: a call by its identity (the dialer's screens link here).
pub(crate) async fn find(v: Viewer, Query(q): Query<FindQuery>) -> Result<Response, WebError> {
    v.require(Permission::ViewCalls)?;
    if let Some(id) = q.id.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let id: i64 = id.parse().map_err(|_| WebError::Invalid("id", "must be a call number".into()))?;
        return Ok(Redirect::to(&format!("/calls/{id}")).into_response());
    }
    let l = &v.lang;
    let body = html! {
        form.filters method="get" action="/calls" {
            label { (l.t("Numéro d'appel", "Call number")) input name="id" inputmode="numeric" required; }
            button type="submit" { (l.t("Ouvrir", "Open")) }
        }
        p.small { (l.t("Vos établissements", "Your facilities")) " : "
            @if v.user.facilities.is_empty() { (l.t("tous", "all")) }
            @for f in &v.user.facilities { (f.as_str()) " " } }
    };
    Ok(Html(layout::page(&v, l.t("Appels", "Calls"), body).into_string()).into_response())
}

/// The call's page, once the role and the facility scope allow it.
async fn render(d: &Dashboard, v: &Viewer, id: i64) -> Result<Html<String>, WebError> {
    v.require(Permission::ViewCalls)?;
    let facility = d.store.call_facility(id).await?.ok_or(WebError::NotFound("call"))?;
    if !may_see_call(&v.user, &facility) {
        d.store.audit_refusal(&v.actor(), &format!("call-id:{id}"), "outside the user's facilities").await?;
        return Err(WebError::Forbidden);
    }
    // The store decrypts the phone for the dialer role only; an agent reads as the
    // dialer it works for, anyone else reads it masked. Either read is audited.
    let role = if v.may(Permission::SeePatientPhone) { Role::Dialer } else { Role::Auditor };
    let reader = Principal { name: v.actor(), role };
    let call = d.store.call(id, &reader).await?.ok_or(WebError::NotFound("call"))?;
    let l = &v.lang;
    let body = html! {
        dl.fields {
            dt { (l.t("Établissement", "Facility")) } dd { (call.facility.as_str()) }
            dt { (l.t("Motif d'appel", "Purpose")) } dd { (call.purpose.as_str()) }
            dt { (l.t("Pool", "Pool")) } dd { (call.pool.as_str()) }
            dt { (l.t("Patient (pseudonyme)", "Patient (pseudonym)")) } dd { code { (call.patient_ref) } }
            dt { (l.t("Téléphone du patient", "Patient phone")) }
            dd data-testid="patient-phone" {
                @match &call.patient_phone {
                    Some(p) => (p.as_str()),
                    None => (l.t("masqué", "masked")),
                }
            }
            dt { (l.t("Numéro présenté", "Caller number")) }
            dd { @if let Some(n) = &call.caller_number { (n.as_str()) } @else { "—" } }
            dt { (l.t("Heure d'appel", "Dial time")) } dd { (l.when(call.dial_at)) }
            dt { (l.t("Issue", "Outcome")) }
            dd { @if let Some(o) = &call.outcome { (o.outcome.as_str()) " · " (o.duration_s) " s" } @else { "—" } }
        }
    };
    Ok(Html(layout::page(v, &format!("{} {id}", l.t("Appel", "Call")), body).into_string()))
}

/// `GET /calls/{call_id}`.
pub(crate) async fn page(
    State(d): State<Dashboard>,
    v: Viewer,
    Path(id): Path<String>,
) -> Result<Html<String>, WebError> {
    let id: i64 = id.parse().map_err(|_| WebError::NotFound("call"))?;
    render(&d, &v, id).await
}
