//! A patient's rights over the API, for the `admin` role only: everything stored about
//! them, phones opened, consent records and solicitation refusals included (GDPR
//! Article 15), and erasure (Article 17), which keeps the minimal opposition records
//! the calling rules need. Both are written to the audit trail. The path names the
//! patient by the dialer's reference, which the store turns into its pseudonym.

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use vigie_store::{CallRecord, Opposition, PatientSms};

use crate::AppState;
use crate::api::{Caller, OutcomeOut, reference};
use crate::compliance_api::ConsentOut;
use crate::error::ApiError;

#[derive(Serialize)]
pub(crate) struct PatientCallOut {
    call_id: i64,
    call_ref: String,
    facility: String,
    purpose: String,
    purpose_class: Option<&'static str>,
    legal_basis: Option<&'static str>,
    pool: String,
    dial_at: String,
    created_at: String,
    caller_number: Option<String>,
    display_name: Option<String>,
    patient_phone: Option<String>,
    outcome: Option<OutcomeOut>,
    solicitation_refused_at: Option<String>,
    cancelled_at: Option<String>,
    cancel_reason: Option<String>,
}

impl From<CallRecord> for PatientCallOut {
    fn from(c: CallRecord) -> PatientCallOut {
        PatientCallOut {
            call_id: c.id,
            call_ref: c.call_ref,
            facility: c.facility.to_string(),
            purpose: c.purpose.to_string(),
            purpose_class: c.class.map(|k| k.as_str()),
            legal_basis: c.legal_basis.map(|b| b.as_str()),
            pool: c.pool.to_string(),
            dial_at: c.dial_at.to_string(),
            created_at: c.created_at.to_string(),
            caller_number: c.caller_number.map(|n| n.to_string()),
            display_name: c.display_name,
            patient_phone: c.patient_phone.map(|p| p.to_string()),
            outcome: c.outcome.map(OutcomeOut::from),
            solicitation_refused_at: c.solicitation_refused_at.map(|t| t.to_string()),
            cancelled_at: c.cancelled.as_ref().map(|(at, _)| at.to_string()),
            cancel_reason: c.cancelled.map(|(_, why)| why),
        }
    }
}

#[derive(Serialize)]
pub(crate) struct PatientSmsOut {
    call_id: i64,
    status: String,
    send_at: String,
    sender: String,
    text: String,
    submitted_at: Option<String>,
    final_at: Option<String>,
    error: Option<String>,
}

impl From<PatientSms> for PatientSmsOut {
    fn from(s: PatientSms) -> PatientSmsOut {
        PatientSmsOut {
            call_id: s.call_id,
            status: s.status,
            send_at: s.send_at.to_string(),
            sender: s.sender,
            text: s.text,
            submitted_at: s.submitted_at.map(|t| t.to_string()),
            final_at: s.final_at.map(|t| t.to_string()),
            error: s.error,
        }
    }
}

#[derive(Serialize)]
pub(crate) struct SmsOptOutOut {
    at: String,
    source: String,
}

#[derive(Serialize)]
pub(crate) struct AffinityOut {
    pool: String,
    caller_number: Option<String>,
    at: String,
}

#[derive(Serialize)]
pub(crate) struct OppositionOut {
    kind: &'static str,
    facility: String,
    purpose_class: Option<&'static str>,
    at: String,
}

impl From<Opposition> for OppositionOut {
    fn from(o: Opposition) -> OppositionOut {
        OppositionOut {
            kind: o.kind.as_str(),
            facility: o.facility.to_string(),
            purpose_class: o.class.map(|k| k.as_str()),
            at: o.at.to_string(),
        }
    }
}

#[derive(Serialize)]
pub(crate) struct PatientExportOut {
    patient_ref: String,
    pseudonym: String,
    exported_at: String,
    truncated: bool,
    calls: Vec<PatientCallOut>,
    affinities: Vec<AffinityOut>,
    consents: Vec<ConsentOut>,
    oppositions: Vec<OppositionOut>,
    sms: Vec<PatientSmsOut>,
    sms_optouts: Vec<SmsOptOutOut>,
}

pub(crate) async fn get_patient_export(
    State(s): State<AppState>,
    caller: Caller,
    Path(patient_ref): Path<String>,
) -> Result<Json<PatientExportOut>, ApiError> {
    caller.require(&[])?;
    let patient_ref = reference("patient_ref", &patient_ref)?;
    let export = s.store.export_patient(&patient_ref, &caller.0.name).await?;
    let now = s.store.now();
    Ok(Json(PatientExportOut {
        patient_ref,
        pseudonym: export.pseudonym,
        exported_at: now.to_string(),
        truncated: export.truncated,
        calls: export.calls.into_iter().map(PatientCallOut::from).collect(),
        affinities: export
            .affinities
            .into_iter()
            .map(|a| AffinityOut {
                pool: a.pool.to_string(),
                caller_number: a.number.map(|n| n.to_string()),
                at: a.at.to_string(),
            })
            .collect(),
        consents: export.consents.into_iter().map(|c| ConsentOut::new(c, now)).collect(),
        oppositions: export.oppositions.into_iter().map(OppositionOut::from).collect(),
        sms: export.sms.into_iter().map(PatientSmsOut::from).collect(),
        sms_optouts: export
            .sms_optouts
            .into_iter()
            .map(|(at, source)| SmsOptOutOut { at: at.to_string(), source })
            .collect(),
    }))
}

#[derive(Serialize)]
pub(crate) struct ErasureOut {
    pseudonym: String,
    calls_erased: u64,
    affinities_removed: u64,
    consents_erased: u64,
    oppositions_kept: u64,
}

pub(crate) async fn delete_patient(
    State(s): State<AppState>,
    caller: Caller,
    Path(patient_ref): Path<String>,
) -> Result<Json<ErasureOut>, ApiError> {
    caller.require(&[])?;
    let patient_ref = reference("patient_ref", &patient_ref)?;
    let erased = s.store.erase_patient(&patient_ref, &caller.0.name).await?;
    Ok(Json(ErasureOut {
        pseudonym: erased.pseudonym,
        calls_erased: erased.calls,
        affinities_removed: erased.affinities,
        consents_erased: erased.consents,
        oppositions_kept: erased.oppositions,
    }))
}
