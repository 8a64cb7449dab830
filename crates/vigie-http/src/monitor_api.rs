//! Reputation monitoring over the API: alerts (listed, acknowledged) and incidents (the
//! crisis playbook's steps done one by one, then closed: the number back to service
//! after the cool-down and a clean check, or retired with its replacement cost).

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use vigie_store::{AlertRecord, IncidentRecord, Resolution, Role};

use crate::AppState;
use crate::api::{Caller, note, parse};
use crate::error::ApiError;

/// At most this many alerts or incidents per list.
const LIST_MAX: u32 = 500;

/// `state=open` (the default) or `state=all`.
fn open_only(query: &HashMap<String, String>) -> Result<bool, ApiError> {
    match query.get("state").map(String::as_str) {
        None | Some("open") => Ok(true),
        Some("all") => Ok(false),
        Some(_) => Err(ApiError::invalid("state", "must be open or all")),
    }
}

fn id(field: &'static str, value: &str) -> Result<i64, ApiError> {
    value.parse().map_err(|_| ApiError::invalid(field, "must be an integer"))
}

#[derive(Serialize)]
pub(crate) struct AlertOut {
    alert_id: i64,
    signal: String,
    severity: String,
    number: Option<String>,
    pool: Option<String>,
    evidence: String,
    evidence_fr: String,
    action: String,
    raised_at: String,
    repeats: u64,
    last_seen_at: String,
    notified_at: Option<String>,
    rate_limited: bool,
    acknowledged_at: Option<String>,
    acknowledged_by: Option<String>,
}

impl From<AlertRecord> for AlertOut {
    fn from(a: AlertRecord) -> AlertOut {
        AlertOut {
            alert_id: a.id,
            signal: a.signal,
            severity: a.severity,
            number: a.number.map(|n| n.to_string()),
            pool: a.pool,
            evidence: a.evidence,
            evidence_fr: a.evidence_fr,
            action: a.action,
            raised_at: a.raised_at.to_string(),
            repeats: a.repeats,
            last_seen_at: a.last_seen_at.to_string(),
            notified_at: a.notified_at.map(|t| t.to_string()),
            rate_limited: a.suppressed.is_some(),
            acknowledged_at: a.acknowledged.as_ref().map(|(at, _)| at.to_string()),
            acknowledged_by: a.acknowledged.map(|(_, by)| by),
        }
    }
}

/// Alerts, newest first.
pub(crate) async fn get_alerts(
    State(s): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Vec<AlertOut>>, ApiError> {
    caller.require(&[Role::Ops, Role::Auditor])?;
    let open = open_only(&query)?;
    Ok(Json(s.store.alerts(open, LIST_MAX).await?.into_iter().map(AlertOut::from).collect()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AckIn {
    note: Option<String>,
}

/// Acknowledges an alert.
pub(crate) async fn post_alert_ack(
    State(s): State<AppState>,
    caller: Caller,
    Path(alert_id): Path<String>,
    body: Bytes,
) -> Result<Json<AlertOut>, ApiError> {
    caller.require(&[Role::Ops])?;
    let alert_id = id("alert_id", &alert_id)?;
    let ack: AckIn = parse(&body)?;
    let text = ack.note.as_deref().map(|n| note("note", n, 500)).transpose()?.unwrap_or_default();
    Ok(Json(AlertOut::from(s.store.acknowledge_alert(alert_id, &caller.0.name, &text).await?)))
}

#[derive(Serialize)]
pub(crate) struct StepOut {
    step: String,
    deadline_at: String,
    overdue: bool,
    done_at: Option<String>,
    done_by: Option<String>,
    note: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct IncidentOut {
    incident_id: i64,
    number: String,
    pool: String,
    trigger: String,
    reason: String,
    reason_fr: String,
    opened_at: String,
    first_evidence_at: String,
    time_to_detect_minutes: f64,
    state: &'static str,
    closed_at: Option<String>,
    closed_by: Option<String>,
    resolution: Option<&'static str>,
    replacement_cost_eur: Option<f64>,
    time_to_resolve_minutes: Option<f64>,
    steps: Vec<StepOut>,
}

impl IncidentOut {
    fn new(i: IncidentRecord, now: vigie_core::Timestamp) -> IncidentOut {
        let minutes = |d: vigie_core::SignedDuration| (d.as_secs_f64() / 60.0 * 10.0).round() / 10.0;
        let time_to_detect_minutes = minutes(i.time_to_detect());
        let time_to_resolve_minutes = i.time_to_resolve().map(minutes);
        let open = i.closed.is_none();
        IncidentOut {
            incident_id: i.id,
            number: i.number.to_string(),
            pool: i.pool,
            trigger: i.trigger_signal,
            reason: i.reason,
            reason_fr: i.reason_fr,
            opened_at: i.opened_at.to_string(),
            first_evidence_at: i.first_evidence_at.to_string(),
            time_to_detect_minutes,
            state: if open { "open" } else { "closed" },
            closed_at: i.closed.as_ref().map(|c| c.0.to_string()),
            closed_by: i.closed.as_ref().map(|c| c.1.clone()),
            resolution: i.closed.as_ref().map(|c| c.2.as_str()),
            replacement_cost_eur: i.closed.as_ref().and_then(|c| match c.2 {
                Resolution::Retired { cost_cents } => Some(cost_cents as f64 / 100.0),
                Resolution::Returned => None,
            }),
            time_to_resolve_minutes,
            steps: i
                .steps
                .into_iter()
                .map(|st| StepOut {
                    overdue: open && st.done.is_none() && st.deadline_at < now,
                    step: st.step,
                    deadline_at: st.deadline_at.to_string(),
                    done_at: st.done.as_ref().map(|d| d.0.to_string()),
                    done_by: st.done.as_ref().map(|d| d.1.clone()),
                    note: st.done.map(|d| d.2),
                })
                .collect(),
        }
    }
}

/// Incidents, newest first.
pub(crate) async fn get_incidents(
    State(s): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Vec<IncidentOut>>, ApiError> {
    caller.require(&[Role::Ops, Role::Auditor])?;
    let open = open_only(&query)?;
    let now = s.store.now();
    Ok(Json(s.store.incidents(open, LIST_MAX).await?.into_iter().map(|i| IncidentOut::new(i, now)).collect()))
}

/// One incident.
pub(crate) async fn get_incident(
    State(s): State<AppState>,
    caller: Caller,
    Path(incident_id): Path<String>,
) -> Result<Json<IncidentOut>, ApiError> {
    caller.require(&[Role::Ops, Role::Auditor])?;
    let incident_id = id("incident_id", &incident_id)?;
    let found = s.store.incident(incident_id).await?.ok_or_else(|| ApiError::not_found("incident", "incident_id"))?;
    Ok(Json(IncidentOut::new(found, s.store.now())))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StepIn {
    note: Option<String>,
}

/// Records a playbook step as done by the caller.
pub(crate) async fn post_incident_step(
    State(s): State<AppState>,
    caller: Caller,
    Path((incident_id, step)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<IncidentOut>, ApiError> {
    caller.require(&[Role::Ops])?;
    let incident_id = id("incident_id", &incident_id)?;
    let input: StepIn = parse(&body)?;
    let text = note("note", input.note.as_deref().unwrap_or(""), 2_000)?;
    let done = s.store.complete_incident_step(incident_id, &step, &caller.0.name, &text).await?;
    Ok(Json(IncidentOut::new(done, s.store.now())))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CloseIn {
    resolution: String,
    replacement_cost_eur: Option<f64>,
    note: Option<String>,
}

/// Closes an incident: `returned` (after the cool-down and a clean check) or
/// `retired` with `replacement_cost_eur`.
pub(crate) async fn post_incident_close(
    State(s): State<AppState>,
    caller: Caller,
    Path(incident_id): Path<String>,
    body: Bytes,
) -> Result<Json<IncidentOut>, ApiError> {
    caller.require(&[Role::Ops])?;
    let incident_id = id("incident_id", &incident_id)?;
    let input: CloseIn = parse(&body)?;
    let text = note("note", input.note.as_deref().unwrap_or(""), 2_000)?;
    let resolution = Resolution::parse(&input.resolution, input.replacement_cost_eur)
        .map_err(|e| ApiError::invalid(e.field, e.rule))?;
    let closed = s.store.close_incident(incident_id, resolution, &text, &caller.0.name).await?;
    Ok(Json(IncidentOut::new(closed, s.store.now())))
}

#[derive(Serialize)]
pub(crate) struct CauseOut {
    cause: &'static str,
    evidence: String,
    observed: f64,
    reference: f64,
}

#[derive(Serialize)]
pub(crate) struct DelistingOut {
    target: &'static str,
    channel: &'static str,
    subject: String,
    body: String,
}

#[derive(Serialize)]
pub(crate) struct PlaybookOut {
    incident_id: i64,
    number: String,
    causes: Vec<CauseOut>,
    delisting: Vec<DelistingOut>,
}

/// What the playbook's later steps need, prepared: the cause analysis of the 14 days
/// before the quarantine, and a delisting request for every app and database (French
/// unless `language=en`), stating the facility's identity and callback, never patient
/// data.
pub(crate) async fn get_incident_playbook(
    State(s): State<AppState>,
    caller: Caller,
    Path(incident_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<PlaybookOut>, ApiError> {
    caller.require(&[Role::Ops, Role::Auditor])?;
    let incident_id = id("incident_id", &incident_id)?;
    let language = match query.get("language").map(String::as_str) {
        None => vigie_core::Language::Fr,
        Some(l) => vigie_core::Language::parse(l).map_err(|e| ApiError::invalid("language", e.rule))?,
    };
    let incident =
        s.store.incident(incident_id).await?.ok_or_else(|| ApiError::not_found("incident", "incident_id"))?;
    let material =
        s.store.incident_material(incident_id).await?.ok_or_else(|| ApiError::not_found("incident", "incident_id"))?;
    let causes = vigie_core::analyse_cause(&material.cause_input, &vigie_core::CauseConfig::default())
        .into_iter()
        .map(|f| CauseOut {
            cause: f.cause.as_str(),
            evidence: f.evidence,
            observed: f.observed,
            reference: f.reference,
        })
        .collect();
    let context = vigie_core::DelistingContext {
        number: incident.number.clone(),
        facility_name: material.facility_name,
        callback: material.callback,
        city: material.city,
        language,
    };
    let mut delisting = Vec::new();
    for target in vigie_core::ListingTarget::ALL {
        let r = vigie_core::delisting_request(*target, &context).map_err(|e| {
            ApiError::invalid(e.field, format!("the facility's identity cannot go in a request: {}", e.rule))
        })?;
        delisting.push(DelistingOut {
            target: r.target.as_str(),
            channel: r.channel,
            subject: r.subject,
            body: r.body,
        });
    }
    Ok(Json(PlaybookOut { incident_id, number: incident.number.to_string(), causes, delisting }))
}

#[derive(Serialize)]
pub(crate) struct ReasonOut {
    code: String,
    weight: u32,
    detail: String,
}

#[derive(Serialize)]
pub(crate) struct ScorePointOut {
    at: String,
    score: u32,
}

#[derive(Serialize)]
pub(crate) struct ReputationOut {
    number: String,
    score: Option<u32>,
    scored_at: Option<String>,
    reasons: Vec<ReasonOut>,
    history: Vec<ScorePointOut>,
}

/// A number's reputation score (0–100) with the reasons behind it, and its history over
/// `days` (default 30, at most 365), as monitoring records it every hour.
pub(crate) async fn get_reputation(
    State(s): State<AppState>,
    _caller: Caller,
    Path(number): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<ReputationOut>, ApiError> {
    let number = crate::api::phone("number", &number)?;
    let days: i64 = match query.get("days") {
        None => 30,
        Some(d) => d
            .parse()
            .ok()
            .filter(|d| (1..=365).contains(d))
            .ok_or_else(|| ApiError::invalid("days", "must be between 1 and 365"))?,
    };
    if s.store.number(&number).await?.is_none() {
        return Err(ApiError::not_found("number", "number"));
    }
    let since = s.store.now() - vigie_core::SignedDuration::from_hours(24 * days);
    let history = s.store.score_history(&number, since).await?;
    let latest = history.last().cloned();
    let reasons = latest
        .as_ref()
        .map(|p| {
            p.reasons
                .lines()
                .filter_map(|l| {
                    let mut parts = l.splitn(3, '\t');
                    Some(ReasonOut {
                        code: parts.next()?.to_owned(),
                        weight: parts.next()?.parse().ok()?,
                        detail: parts.next().unwrap_or_default().to_owned(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Json(ReputationOut {
        number: number.to_string(),
        score: latest.as_ref().map(|p| p.score),
        scored_at: latest.as_ref().map(|p| p.at.to_string()),
        reasons,
        history: history.into_iter().map(|p| ScorePointOut { at: p.at.to_string(), score: p.score }).collect(),
    }))
}
