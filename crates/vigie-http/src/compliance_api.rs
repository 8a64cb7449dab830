//! The calling rules over the API: the consent register (`/v1/consents`), a number's
//! identity (`PATCH /v1/numbers/{number}` with `"action": "identity"`) and its standing
//! under the presentation rules in every number answer, and the words of the 409 that
//! names a rule refusing a call.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use vigie_core::{CallRule, E164, FacilityId, RuleRefusal, SignedDuration, Timestamp};
use vigie_store::{
    CONSENT_METHOD_MAX, CONSENT_PROOF_MAX, CONSENT_WORDING_MAX, Consent, IdentityUpdate, NewConsent, NumberCompliance,
    Role,
};

use crate::AppState;
use crate::api::{Caller, NumberDetailOut, NumberPatch, get_number, note, parse, reference, text};
use crate::error::ApiError;

/// How far ahead of the server's clock a reported instant may be (clock skew).
const SKEW_MINUTES: i64 = 5;

fn instant(field: &str, value: &str) -> Result<Timestamp, ApiError> {
    value.parse::<Timestamp>().map_err(|_| {
        ApiError::invalid(field, "must be an RFC 3339 instant with an offset, such as 2026-11-27T09:30:00+01:00")
    })
}

fn past_instant(s: &AppState, field: &str, value: &str) -> Result<Timestamp, ApiError> {
    let at = instant(field, value)?;
    if at > s.store.now() + SignedDuration::from_mins(SKEW_MINUTES) {
        return Err(ApiError::invalid(field, "must not be in the future"));
    }
    Ok(at)
}

// ----- the 409 of a rule -----

/// The client's message for a call the rules refuse: the rule, what it says, and when
/// the call would be allowed.
pub(crate) fn rule_message(refusal: &RuleRefusal) -> String {
    let what = match refusal.rule {
        CallRule::SolicitationHours => {
            "solicitation calls may start only within the solicitation hours (by default Monday to Friday, 10:00-13:00 and 14:00-20:00 in the patient's time zone; D223-9)"
        }
        CallRule::PublicHoliday => "no call on a public holiday in the patient's territory",
        CallRule::CareHours => "care calls may start only within the care hours of the facility or purpose",
        CallRule::AttemptsLimit => {
            "at most 4 solicitation attempts, answered or not, per patient and facility in 30 rolling days (D223-9)"
        }
        CallRule::RefusalCooldown => {
            "no solicitation call for 60 days after the patient refused solicitation during a call (D223-9)"
        }
        CallRule::BloctelListed => "the patient's number is on the Bloctel opposition list",
        CallRule::BloctelScrubStale => {
            "the last Bloctel scrub is missing or older than 30 days: import a fresh list (vigie bloctel import)"
        }
        CallRule::ConsentMissing => "solicitation needs the patient's recorded consent for this facility",
        CallRule::ConsentWithdrawn => "the patient withdrew their consent to solicitation for this facility",
        CallRule::SmsAnnouncement => {
            "calls of this purpose are announced by SMS beforehand, and no SMS can go in time before this dial_at (quiet hours, or too close)"
        }
        CallRule::SmsStop => "the patient replied STOP to the centre's SMS; calls of this purpose stop too",
    };
    match refusal.next_allowed_at {
        Some(at) => format!("{}: {what}; the call would be allowed from {at}", refusal.rule),
        None => format!("{}: {what}", refusal.rule),
    }
}

// ----- numbers -----

/// A number's identity and presentation standing, flattened into the number answers.
#[derive(Serialize)]
pub(crate) struct NumberComplianceOut {
    dialling: &'static str,
    presentable: bool,
    presentation_rule: Option<&'static str>,
    labelled_canvassing: bool,
    cnam_registered_at: Option<String>,
    directory_listed_at: Option<String>,
    directory_name: Option<String>,
    man_authenticated: bool,
    identity_missing: Vec<&'static str>,
}

impl From<NumberCompliance> for NumberComplianceOut {
    fn from(c: NumberCompliance) -> NumberComplianceOut {
        NumberComplianceOut {
            dialling: c.dialling.as_str(),
            presentable: c.refusal.is_none(),
            presentation_rule: c.refusal.map(|r| r.code()),
            labelled_canvassing: c.labelled_canvassing,
            identity_missing: c.identity.missing(),
            cnam_registered_at: c.identity.cnam_registered_at.map(|t| t.to_string()),
            directory_listed_at: c.identity.directory_listed_at.map(|t| t.to_string()),
            directory_name: c.identity.directory_name,
            man_authenticated: c.identity.man_authenticated,
        }
    }
}

/// `PATCH /v1/numbers/{number}` with `"action": "identity"`: the fields given change,
/// the others keep their value.
pub(crate) async fn patch_identity(
    s: AppState,
    caller: Caller,
    number: E164,
    p: &NumberPatch,
    reason: String,
) -> Result<Json<NumberDetailOut>, ApiError> {
    let update = IdentityUpdate {
        display_name: p.display_name.as_deref().map(|v| text("display_name", v, 64)).transpose()?,
        callback: p
            .callback
            .as_deref()
            .map(|v| E164::parse(v).map_err(|e| ApiError::invalid("callback", e.to_string())))
            .transpose()?,
        cnam_registered_at: p
            .cnam_registered_at
            .as_deref()
            .map(|v| past_instant(&s, "cnam_registered_at", v))
            .transpose()?,
        directory_listed_at: p
            .directory_listed_at
            .as_deref()
            .map(|v| past_instant(&s, "directory_listed_at", v))
            .transpose()?,
        directory_name: p.directory_name.as_deref().map(|v| text("directory_name", v, 128)).transpose()?,
        man_authenticated: p.man_authenticated,
    };
    s.store.update_identity(&number, &update, &reason, &caller.0.name).await?;
    get_number(State(s), caller, Path(number.to_string())).await
}

// ----- consents -----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConsentIn {
    patient_ref: String,
    facility: String,
    given_at: String,
    wording: String,
    method: String,
    proof: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WithdrawIn {
    withdrawn_at: String,
}

#[derive(Serialize)]
pub(crate) struct ConsentOut {
    consent_id: i64,
    patient_ref: String,
    facility: String,
    given_at: String,
    wording: String,
    method: String,
    proof: String,
    state: &'static str,
    withdrawn_at: Option<String>,
    recorded_at: String,
    recorded_by: String,
}

impl ConsentOut {
    pub(crate) fn new(c: Consent, now: Timestamp) -> ConsentOut {
        let state = match c.withdrawn_at {
            Some(w) if w <= now => "withdrawn",
            _ => "given",
        };
        ConsentOut {
            consent_id: c.id,
            patient_ref: c.patient_ref,
            facility: c.facility.to_string(),
            given_at: c.given_at.to_string(),
            wording: c.wording,
            method: c.method,
            proof: c.proof,
            state,
            withdrawn_at: c.withdrawn_at.map(|t| t.to_string()),
            recorded_at: c.recorded_at.to_string(),
            recorded_by: c.recorded_by,
        }
    }
}

pub(crate) async fn post_consent(State(s): State<AppState>, caller: Caller, body: Bytes) -> Result<Response, ApiError> {
    caller.require(&[Role::Ops])?;
    let c: ConsentIn = parse(&body)?;
    let consent = NewConsent {
        patient_ref: reference("patient_ref", &c.patient_ref)?,
        facility: FacilityId::parse(&c.facility).map_err(|e| ApiError::invalid("facility", e.rule))?,
        given_at: past_instant(&s, "given_at", &c.given_at)?,
        wording: note("wording", &c.wording, CONSENT_WORDING_MAX)?,
        method: text("method", &c.method, CONSENT_METHOD_MAX)?,
        proof: note("proof", &c.proof, CONSENT_PROOF_MAX)?,
    };
    let stored = s.store.record_consent(consent, &caller.0.name).await?;
    Ok((StatusCode::CREATED, Json(ConsentOut::new(stored, s.store.now()))).into_response())
}

pub(crate) async fn post_consent_withdraw(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<ConsentOut>, ApiError> {
    caller.require(&[Role::Ops])?;
    let id: i64 = id.parse().map_err(|_| ApiError::invalid("consent_id", "must be an integer"))?;
    let w: WithdrawIn = parse(&body)?;
    let withdrawn_at = past_instant(&s, "withdrawn_at", &w.withdrawn_at)?;
    let consent = s.store.withdraw_consent(id, withdrawn_at, &caller.0.name).await?;
    Ok(Json(ConsentOut::new(consent, s.store.now())))
}

pub(crate) async fn get_consents(
    State(s): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Vec<ConsentOut>>, ApiError> {
    caller.require(&[Role::Ops, Role::Auditor])?;
    let patient_ref = query.get("patient_ref").ok_or_else(|| ApiError::invalid("patient_ref", "is required"))?;
    let patient_ref = reference("patient_ref", patient_ref)?;
    let now = s.store.now();
    let consents = s.store.consents(&patient_ref, &caller.0.name).await?;
    Ok(Json(consents.into_iter().map(|c| ConsentOut::new(c, now)).collect()))
}
