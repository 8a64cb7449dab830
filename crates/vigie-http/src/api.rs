//! The dialers' API: JSON DTOs, their validation into core types, and the handlers.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::atomic::Ordering;
use vigie_core::{E164, FacilityId, Outcome, PoolCode, Purpose, ReportSource, Timestamp};
use vigie_store::{
    CallAnswer, CallChange, CallChangeAnswer, Facility, NewCall, NewNumber, NewReport, NumberChange, NumberRecord,
    OutcomeReport, Principal, ReportAnswer, Role,
};

use crate::AppState;
use crate::error::ApiError;

/// Parses a JSON body, naming the field at fault.
pub(crate) fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    // serde also reads a struct from an array, by position; every body is an object.
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(ApiError::invalid("body", "must be a JSON object, not an array"));
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::malformed(format!("the body is not valid JSON: {inner}"));
        }
        let msg = inner.to_string();
        let field = if path == "." {
            // serde names a missing or unknown field in its message.
            msg.split('`').nth(1).unwrap_or("body").to_owned()
        } else {
            path
        };
        let rule = msg.split(" at line").next().unwrap_or(&msg).to_owned();
        ApiError::invalid(&field, rule)
    })?;
    de.end().map_err(|e| ApiError::malformed(format!("the body has data after its JSON value: {e}")))?;
    Ok(value)
}

/// The holder of the request's API key.
pub(crate) struct Caller(pub(crate) Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token)
            .ok_or_else(ApiError::unauthorized)?;
        match state.store.authenticate(token.trim()).await? {
            Some(p) => Ok(Caller(p)),
            None => Err(ApiError::unauthorized()),
        }
    }
}

impl Caller {
    pub(crate) fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if self.0.role == Role::Admin || roles.contains(&self.0.role) {
            Ok(())
        } else {
            Err(ApiError::forbidden(self.0.role.as_str()))
        }
    }
}

/// Free text on one line (names): trimmed, 1 to `max` characters, no control
/// character. PostgreSQL cannot store a NUL, and escapes or line breaks have no place
/// in a name a phone or a dashboard shows.
pub(crate) fn text(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    free_text(field, value, max, false)
}

/// Free text that may hold tabs and line breaks (reasons, consent wording and proof).
pub(crate) fn note(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    free_text(field, value, max, true)
}

fn free_text(field: &str, value: &str, max: usize, lines: bool) -> Result<String, ApiError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max {
        return Err(ApiError::invalid(field, format!("must be 1 to {max} characters")));
    }
    no_controls(field, v, lines)?;
    Ok(v.to_owned())
}

/// Refuses control characters: all of them, or all but tab, CR and LF with `lines`.
fn no_controls(field: &str, value: &str, lines: bool) -> Result<(), ApiError> {
    if value.chars().any(|c| c.is_control() && !(lines && matches!(c, '\t' | '\n' | '\r'))) {
        let rule = if lines {
            "must not contain control characters other than tabs and line breaks"
        } else {
            "must not contain control characters (line breaks, tabs, NUL)"
        };
        return Err(ApiError::invalid(field, rule));
    }
    Ok(())
}

pub(crate) fn phone(field: &str, value: &str) -> Result<E164, ApiError> {
    E164::parse(value).map_err(|e| ApiError::invalid(field, e.to_string()))
}

fn instant(field: &str, value: &str) -> Result<Timestamp, ApiError> {
    value.parse::<Timestamp>().map_err(|_| {
        ApiError::invalid(field, "must be an RFC 3339 instant with an offset, such as 2026-11-27T09:30:00+01:00")
    })
}

pub(crate) fn reference(field: &str, value: &str) -> Result<String, ApiError> {
    let ok = !value.is_empty()
        && value.len() <= 128
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:/".contains(&b));
    if !ok {
        return Err(ApiError::invalid(
            field,
            "must be 1 to 128 characters of A-Z, a-z, 0-9, '-', '_', '.', ':' or '/'",
        ));
    }
    // A reference that is written like a telephone number (E.164, or ten digits in
    // French national form) would put a patient's number where pseudonyms belong.
    let digits = value.strip_prefix('+').unwrap_or(value);
    let looks_like_phone = digits.bytes().all(|b| b.is_ascii_digit())
        && (value.starts_with('+') || (value.len() == 10 && value.starts_with('0')));
    if looks_like_phone {
        return Err(ApiError::invalid(field, "must be a pseudonymous reference, not a telephone number"));
    }
    Ok(value.to_owned())
}

// ----- facilities -----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FacilityIn {
    id: String,
    name: String,
    display_name: String,
    city: String,
    callback: String,
}

#[derive(Serialize)]
pub(crate) struct FacilityOut {
    id: String,
    name: String,
    display_name: String,
    city: String,
    callback: String,
}

impl From<Facility> for FacilityOut {
    fn from(f: Facility) -> FacilityOut {
        FacilityOut {
            id: f.id.to_string(),
            name: f.name,
            display_name: f.display_name,
            city: f.city,
            callback: f.callback.to_string(),
        }
    }
}

impl FacilityIn {
    pub(crate) fn validate(self) -> Result<Facility, ApiError> {
        Ok(Facility {
            id: FacilityId::parse(&self.id).map_err(|e| ApiError::invalid("id", e.rule))?,
            name: text("name", &self.name, 128)?,
            display_name: text("display_name", &self.display_name, 64)?,
            city: text("city", &self.city, 64)?,
            callback: phone("callback", &self.callback)?,
        })
    }
}

pub(crate) async fn post_facility(
    State(s): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Ops])?;
    let f = parse::<FacilityIn>(&body)?.validate()?;
    let created = s.store.upsert_facility(&f, &caller.0.name).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(FacilityOut::from(f))).into_response())
}

pub(crate) async fn get_facilities(
    State(s): State<AppState>,
    _caller: Caller,
) -> Result<Json<Vec<FacilityOut>>, ApiError> {
    Ok(Json(s.store.facilities().await?.into_iter().map(FacilityOut::from).collect()))
}

// ----- calls -----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CallIn {
    call_ref: String,
    facility: String,
    purpose: String,
    patient_ref: String,
    patient_phone: String,
    dial_at: String,
}

#[derive(Serialize)]
pub(crate) struct CallOut {
    call_id: i64,
    status: &'static str,
    caller_number: Option<String>,
    display_name: Option<String>,
    pool: String,
    /// When the call's pre-call SMS goes (sms_api.rs), if it is announced.
    sms_at: Option<String>,
}

impl From<CallAnswer> for CallOut {
    fn from(a: CallAnswer) -> CallOut {
        CallOut {
            call_id: a.call_id,
            status: if a.caller_number.is_some() { "allocated" } else { "needs_number" },
            caller_number: a.caller_number.map(|n| n.to_string()),
            display_name: a.display_name,
            pool: a.pool.to_string(),
            sms_at: a.sms_at.map(|t| t.to_string()),
        }
    }
}

pub(crate) async fn post_call(State(s): State<AppState>, caller: Caller, body: Bytes) -> Result<Response, ApiError> {
    caller.require(&[Role::Dialer])?;
    let c: CallIn = parse(&body)?;
    let call_ref = reference("call_ref", &c.call_ref)?;
    let facility = FacilityId::parse(&c.facility).map_err(|e| ApiError::invalid("facility", e.rule))?;
    let purpose = Purpose::parse(&c.purpose).map_err(|e| ApiError::invalid("purpose", e.rule))?;
    if s.store.catalog().pool_for(&purpose).is_none() {
        return Err(ApiError::invalid("purpose", format!("{purpose} is not a purpose any pool serves")));
    }
    let patient_ref = reference("patient_ref", &c.patient_ref)?;
    let patient_phone = phone("patient_phone", &c.patient_phone)?;
    let dial_at = instant("dial_at", &c.dial_at)?;
    // The store refuses a facility it does not know (422, `facility`).
    let mut answer = s
        .store
        .allocate(NewCall { call_ref, facility, purpose, patient_ref, patient_phone, dial_at }, &caller.0.name)
        .await?;
    if !answer.created {
        // A repeat answers as the first time did: the SMS planned then, read back.
        answer.sms_at = crate::sms_api::planned_sms_at(&s.store, answer.call_id).await?;
    }
    let status = if answer.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(CallOut::from(answer))).into_response())
}

#[derive(Serialize)]
pub(crate) struct OutcomeOut {
    outcome: &'static str,
    duration_s: u32,
    ended_at: String,
    ring_s: Option<u32>,
    sip_code: Option<u16>,
    agent_note: Option<String>,
}

impl From<OutcomeReport> for OutcomeOut {
    fn from(o: OutcomeReport) -> OutcomeOut {
        OutcomeOut {
            outcome: o.outcome.as_str(),
            duration_s: o.duration_s,
            ended_at: o.ended_at.to_string(),
            ring_s: o.ring_s,
            sip_code: o.sip_code,
            agent_note: o.agent_note,
        }
    }
}

#[derive(Serialize)]
pub(crate) struct CallRecordOut {
    call_id: i64,
    call_ref: String,
    status: &'static str,
    facility: String,
    purpose: String,
    purpose_class: Option<&'static str>,
    legal_basis: Option<&'static str>,
    pool: String,
    patient_ref: String,
    patient_phone: String,
    dial_at: String,
    caller_number: Option<String>,
    display_name: Option<String>,
    created_at: String,
    reassigned_at: Option<String>,
    outcome: Option<OutcomeOut>,
    solicitation_refused_at: Option<String>,
    cancelled_at: Option<String>,
    cancel_reason: Option<String>,
    /// The call's pre-call SMS (sms_api.rs), if it has one.
    sms: Option<crate::sms_api::SmsOut>,
}

pub(crate) async fn get_call(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<CallRecordOut>, ApiError> {
    caller.require(&[Role::Dialer, Role::Ops, Role::Auditor])?;
    let id: i64 = id.parse().map_err(|_| ApiError::invalid("call_id", "must be an integer"))?;
    let c = s.store.call(id, &caller.0).await?.ok_or_else(|| ApiError::not_found("call", "call_id"))?;
    // Read after the call, whose read is in the audit trail; the SMS holds no patient data.
    let sms = s.store.call_sms(c.id).await?.map(crate::sms_api::SmsOut::from);
    let masked = "+33•••••••••".to_owned();
    Ok(Json(CallRecordOut {
        call_id: c.id,
        call_ref: c.call_ref,
        status: match (&c.outcome, &c.caller_number, &c.cancelled) {
            (Some(_), ..) => "completed",
            (None, _, Some(_)) => "cancelled",
            (None, Some(_), None) => "allocated",
            (None, None, None) => "needs_number",
        },
        cancelled_at: c.cancelled.as_ref().map(|(at, _)| at.to_string()),
        cancel_reason: c.cancelled.map(|(_, why)| why),
        facility: c.facility.to_string(),
        purpose: c.purpose.to_string(),
        purpose_class: c.class.map(|k| k.as_str()),
        legal_basis: c.legal_basis.map(|b| b.as_str()),
        pool: c.pool.to_string(),
        patient_ref: c.patient_ref,
        patient_phone: c.patient_phone.map_or(masked, |p| p.to_string()),
        dial_at: c.dial_at.to_string(),
        caller_number: c.caller_number.map(|n| n.to_string()),
        display_name: c.display_name,
        created_at: c.created_at.to_string(),
        reassigned_at: c.reassigned_at.map(|t| t.to_string()),
        outcome: c.outcome.map(OutcomeOut::from),
        solicitation_refused_at: c.solicitation_refused_at.map(|t| t.to_string()),
        sms,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CallCancelIn {
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CallPatchIn {
    dial_at: String,
    reason: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct CallChangeOut {
    call_id: i64,
    status: &'static str,
    dial_at: String,
    caller_number: Option<String>,
    display_name: Option<String>,
    pool: String,
    /// When the call's new SMS goes, if one is planned.
    sms_at: Option<String>,
    /// SMS of the call cancelled before they went.
    sms_cancelled: u32,
    /// An SMS of the call already went to the patient, announcing the old time.
    sms_already_sent: bool,
}

impl CallChangeOut {
    fn new(a: CallChangeAnswer, status: &'static str) -> CallChangeOut {
        CallChangeOut {
            call_id: a.call_id,
            status,
            dial_at: a.dial_at.to_string(),
            caller_number: a.caller_number.map(|n| n.to_string()),
            display_name: a.display_name,
            pool: a.pool.to_string(),
            sms_at: a.sms_at.map(|t| t.to_string()),
            sms_cancelled: a.sms_cancelled,
            sms_already_sent: a.sms_already_sent,
        }
    }
}

/// Cancels a call not yet dialled: it stops counting against its number's cap and as
/// an attempt, and its SMS not yet sent is cancelled.
pub(crate) async fn post_call_cancel(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<CallChangeOut>, ApiError> {
    caller.require(&[Role::Dialer, Role::Ops])?;
    let call_id: i64 = id.parse().map_err(|_| ApiError::invalid("call_id", "must be an integer"))?;
    let c: CallCancelIn = parse(&body)?;
    let reason = note("reason", c.reason.as_deref().unwrap_or(""), 500)?;
    let done = s.store.change_call(call_id, CallChange::Cancel, reason, caller.0.name.clone()).await?;
    Ok(Json(CallChangeOut::new(done, "cancelled")))
}

/// Moves a call not yet dialled to another `dial_at`: the dial window and the calling
/// rules are checked again, its number chosen again for that day (the same one when it
/// is still eligible), and its SMS planned again.
pub(crate) async fn patch_call(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<CallChangeOut>, ApiError> {
    caller.require(&[Role::Dialer])?;
    let call_id: i64 = id.parse().map_err(|_| ApiError::invalid("call_id", "must be an integer"))?;
    let c: CallPatchIn = parse(&body)?;
    let dial_at = instant("dial_at", &c.dial_at)?;
    let reason = note("reason", c.reason.as_deref().unwrap_or(""), 500)?;
    let done = s.store.change_call(call_id, CallChange::Reschedule(dial_at), reason, caller.0.name.clone()).await?;
    Ok(Json(CallChangeOut::new(done, "allocated")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OutcomeIn {
    outcome: String,
    duration_s: u32,
    ended_at: String,
    ring_s: Option<u32>,
    sip_code: Option<u16>,
    agent_note: Option<String>,
    /// The patient refused solicitation during the call (D223-9 cooldown from ended_at).
    solicitation_refused: Option<bool>,
}

#[derive(Serialize)]
pub(crate) struct ReportOut {
    report_id: i64,
    reports_that_day: u32,
    quarantined: bool,
    reassigned_calls: u32,
    calls_needing_number: u32,
}

impl From<ReportAnswer> for ReportOut {
    fn from(r: ReportAnswer) -> ReportOut {
        ReportOut {
            report_id: r.report_id,
            reports_that_day: r.reports_that_day,
            quarantined: r.quarantined,
            reassigned_calls: r.reassigned,
            calls_needing_number: r.unassigned,
        }
    }
}

#[derive(Serialize)]
pub(crate) struct OutcomeAck {
    call_id: i64,
    recorded: bool,
    report: Option<ReportOut>,
}

pub(crate) async fn post_outcome(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<OutcomeAck>, ApiError> {
    caller.require(&[Role::Dialer])?;
    let call_id: i64 = id.parse().map_err(|_| ApiError::invalid("call_id", "must be an integer"))?;
    let o: OutcomeIn = parse(&body)?;
    let outcome = Outcome::parse(&o.outcome)?;
    if o.duration_s > 86_400 {
        return Err(ApiError::invalid("duration_s", "must be at most 86400"));
    }
    if o.ring_s.is_some_and(|r| r > 600) {
        return Err(ApiError::invalid("ring_s", "must be at most 600"));
    }
    if o.sip_code.is_some_and(|c| !(100..=699).contains(&c)) {
        return Err(ApiError::invalid("sip_code", "must be a SIP status code between 100 and 699"));
    }
    let agent_note = o.agent_note.as_deref().map(|n| text("agent_note", n, 64)).transpose()?;
    let ended_at = instant("ended_at", &o.ended_at)?;
    if ended_at > s.store.now() + vigie_core::SignedDuration::from_mins(5) {
        return Err(ApiError::invalid("ended_at", "must not be in the future"));
    }
    let report = s
        .store
        .record_outcome_with_refusal(
            call_id,
            OutcomeReport {
                outcome,
                duration_s: o.duration_s,
                ended_at,
                ring_s: o.ring_s,
                sip_code: o.sip_code,
                agent_note,
            },
            o.solicitation_refused.unwrap_or(false),
            &caller.0.name,
        )
        .await?;
    Ok(Json(OutcomeAck { call_id, recorded: true, report: report.map(ReportOut::from) }))
}

// ----- reports -----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReportIn {
    number: String,
    source: String,
    reported_at: String,
    #[serde(default)]
    detail: String,
}

/// A report's fields checked: the number, the instant (not in the future), the detail.
fn new_report(
    s: &AppState,
    number: &str,
    source: ReportSource,
    reported_at: &str,
    detail: String,
) -> Result<NewReport, ApiError> {
    let number = phone("number", number)?;
    let reported_at = instant("reported_at", reported_at)?;
    if reported_at > s.store.now() + vigie_core::SignedDuration::from_mins(5) {
        return Err(ApiError::invalid("reported_at", "must not be in the future"));
    }
    if detail.chars().count() > 500 {
        return Err(ApiError::invalid("detail", "must be at most 500 characters"));
    }
    no_controls("detail", &detail, true)?;
    Ok(NewReport { number, source, reported_at, detail })
}

pub(crate) async fn post_report(State(s): State<AppState>, caller: Caller, body: Bytes) -> Result<Response, ApiError> {
    caller.require(&[Role::Dialer, Role::Ops])?;
    let r: ReportIn = parse(&body)?;
    phone("number", &r.number)?;
    let source = ReportSource::parse(&r.source)?;
    let report = new_report(&s, &r.number, source, &r.reported_at, r.detail)?;
    let answer = s.store.report(report, &caller.0.name).await?;
    Ok((StatusCode::ACCEPTED, Json(ReportOut::from(answer))).into_response())
}

/// An external feed of spam reports (a community database, an app's or a carrier's
/// notifications) that pushes them to Vigie, with its shared secret.
#[derive(Debug, Clone)]
pub struct ReportWebhook {
    /// Its name, the `{source}` of `POST /v1/reports/inbound/{source}`.
    pub name: String,
    /// The shared secret of its HMAC-SHA256 signature.
    pub secret: Vec<u8>,
    /// The source its reports are filed under.
    pub source: ReportSource,
}

/// How far a signed request's timestamp may be from now (replays are refused).
const SIGNATURE_SKEW_SECS: i64 = 300;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InboundReportIn {
    number: String,
    reported_at: String,
    #[serde(default)]
    detail: String,
}

/// A report pushed by an external feed: signed like Vigie's own webhooks (header
/// `X-Vigie-Signature: sha256=<hex of HMAC-SHA256(secret, "{X-Vigie-Timestamp}.{body}")>`,
/// the timestamp within 5 minutes of now), checked before the body is read, then
/// filed like `POST /v1/reports` under the feed's source.
pub(crate) async fn post_inbound_report(
    State(s): State<AppState>,
    Path(source): Path<String>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let webhook = s.report_webhooks.get(&source).ok_or_else(|| ApiError::not_found("source", "source"))?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let timestamp = header(vigie_alert::TIMESTAMP_HEADER);
    let fresh = timestamp.parse::<i64>().is_ok_and(|t| (t - s.store.now().as_second()).abs() <= SIGNATURE_SKEW_SECS);
    let signature = header(vigie_alert::SIGNATURE_HEADER);
    if !fresh || !vigie_alert::verify_signature(&webhook.secret, timestamp, &body, signature) {
        tracing::warn!(source = %webhook.name, fresh, "inbound report refused: bad or stale signature");
        return Err(ApiError::bad_signature(vigie_alert::SIGNATURE_HEADER));
    }
    let r: InboundReportIn = parse(&body)?;
    let report = new_report(&s, &r.number, webhook.source, &r.reported_at, r.detail)?;
    let answer = s.store.report(report, &format!("webhook:{}", webhook.name)).await?;
    Ok((StatusCode::ACCEPTED, Json(ReportOut::from(answer))).into_response())
}

// ----- numbers -----

#[derive(Serialize)]
pub(crate) struct NumberOut {
    number: String,
    national: String,
    pool: String,
    facility: Option<String>,
    display_name: String,
    callback: String,
    category: String,
    zone: Option<u8>,
    state: &'static str,
    state_since: String,
    state_reason: String,
    resting_until: Option<String>,
    calls_today: u32,
    reports_today: u32,
    /// Identity and standing under the presentation rules (compliance_api.rs).
    #[serde(flatten)]
    compliance: crate::compliance_api::NumberComplianceOut,
}

impl From<NumberRecord> for NumberOut {
    fn from(n: NumberRecord) -> NumberOut {
        NumberOut {
            state: n.state(),
            national: n.number.national(),
            number: n.number.to_string(),
            pool: n.pool.to_string(),
            facility: n.facility.map(|f| f.to_string()),
            display_name: n.display_name,
            callback: n.callback,
            category: n.category,
            zone: n.zone,
            state_since: n.status_since.to_string(),
            state_reason: n.status_reason,
            resting_until: n.resting_until.map(|t| t.to_string()),
            calls_today: n.calls_today,
            reports_today: n.reports_today,
            compliance: n.compliance.into(),
        }
    }
}

pub(crate) async fn get_numbers(State(s): State<AppState>, _caller: Caller) -> Result<Json<Vec<NumberOut>>, ApiError> {
    Ok(Json(s.store.numbers().await?.into_iter().map(NumberOut::from).collect()))
}

#[derive(Serialize)]
pub(crate) struct EventOut {
    at: String,
    state: String,
    pool: String,
    until: Option<String>,
    reason: String,
    actor: String,
}

#[derive(Serialize)]
pub(crate) struct NumberDetailOut {
    #[serde(flatten)]
    number: NumberOut,
    history: Vec<EventOut>,
}

pub(crate) async fn get_number(
    State(s): State<AppState>,
    _caller: Caller,
    Path(e164): Path<String>,
) -> Result<Json<NumberDetailOut>, ApiError> {
    let e164 = phone("number", &e164)?;
    let (n, events) = s.store.number(&e164).await?.ok_or_else(|| ApiError::not_found("number", "number"))?;
    Ok(Json(NumberDetailOut {
        number: n.into(),
        history: events
            .into_iter()
            .map(|e| EventOut {
                at: e.at.to_string(),
                state: e.state,
                pool: e.pool.to_string(),
                until: e.until.map(|t| t.to_string()),
                reason: e.reason,
                actor: e.actor,
            })
            .collect(),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NumberIn {
    number: String,
    pool: String,
    facility: Option<String>,
    display_name: String,
    callback: String,
}

impl NumberIn {
    pub(crate) fn validate(self) -> Result<NewNumber, ApiError> {
        Ok(NewNumber {
            number: phone("number", &self.number)?,
            pool: PoolCode::parse(&self.pool).map_err(|e| ApiError::invalid("pool", e.rule))?,
            facility: self
                .facility
                .map(|f| FacilityId::parse(&f))
                .transpose()
                .map_err(|e| ApiError::invalid("facility", e.rule))?,
            display_name: text("display_name", &self.display_name, 64)?,
            callback: phone("callback", &self.callback)?,
        })
    }
}

pub(crate) async fn post_number(State(s): State<AppState>, caller: Caller, body: Bytes) -> Result<Response, ApiError> {
    caller.require(&[Role::Ops])?;
    let n = parse::<NumberIn>(&body)?.validate()?;
    let e164 = n.number.clone();
    s.store.add_numbers(&[n], &caller.0.name).await.map_err(|e| match e {
        vigie_store::StoreError::Rows(mut rows) if rows.len() == 1 => {
            let r = rows.remove(0);
            if r.message.contains("already") {
                ApiError::from(vigie_store::StoreError::Conflict { field: r.field, message: r.message })
            } else {
                ApiError::invalid(r.field, r.message)
            }
        }
        other => other.into(),
    })?;
    let (record, _) = s.store.number(&e164).await?.ok_or_else(|| ApiError::not_found("number", "number"))?;
    Ok((StatusCode::CREATED, Json(NumberOut::from(record))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NumberPatch {
    action: String,
    reason: Option<String>,
    pool: Option<String>,
    // The identity fields of `"action": "identity"` (compliance_api.rs).
    pub(crate) display_name: Option<String>,
    pub(crate) callback: Option<String>,
    pub(crate) cnam_registered_at: Option<String>,
    pub(crate) directory_listed_at: Option<String>,
    pub(crate) directory_name: Option<String>,
    pub(crate) man_authenticated: Option<bool>,
}

pub(crate) async fn patch_number(
    State(s): State<AppState>,
    caller: Caller,
    Path(e164): Path<String>,
    body: Bytes,
) -> Result<Json<NumberDetailOut>, ApiError> {
    caller.require(&[Role::Ops])?;
    let number = phone("number", &e164)?;
    let p: NumberPatch = parse(&body)?;
    let reason = note("reason", p.reason.as_deref().unwrap_or(""), 500)?;
    let change = match p.action.as_str() {
        "quarantine" => NumberChange::Quarantine,
        "release" => NumberChange::Release,
        "retire" => NumberChange::Retire,
        "move" => {
            let pool = p.pool.as_deref().ok_or_else(|| ApiError::invalid("pool", "is required to move a number"))?;
            NumberChange::Move(PoolCode::parse(pool).map_err(|e| ApiError::invalid("pool", e.rule))?)
        }
        "identity" => return crate::compliance_api::patch_identity(s, caller, number, &p, reason).await,
        _ => return Err(ApiError::invalid("action", "must be one of: quarantine, release, retire, move, identity")),
    };
    s.store.change_number(number.clone(), change, reason, caller.0.name.clone()).await?;
    get_number(State(s), caller, Path(number.to_string())).await
}

// ----- pools, health, metrics -----

#[derive(Serialize)]
pub(crate) struct PoolOut {
    code: String,
    role: &'static str,
    purposes: Vec<String>,
    numbers: PoolCounts,
    capacity_today: u32,
    used_today: u32,
    answer_rate_7d: Option<f64>,
    outcomes_7d: u32,
    day: String,
}

#[derive(Serialize)]
pub(crate) struct PoolCounts {
    active: u32,
    resting: u32,
    quarantined: u32,
    reserve: u32,
    retired: u32,
}

pub(crate) async fn get_pools(State(s): State<AppState>, _caller: Caller) -> Result<Json<Vec<PoolOut>>, ApiError> {
    Ok(Json(
        s.store
            .pools()
            .await?
            .into_iter()
            .map(|p| PoolOut {
                code: p.code.to_string(),
                role: p.role,
                purposes: p.purposes.iter().map(|x| x.to_string()).collect(),
                numbers: PoolCounts {
                    active: p.active,
                    resting: p.resting,
                    quarantined: p.quarantined,
                    reserve: p.reserve,
                    retired: p.retired,
                },
                capacity_today: p.capacity_today,
                used_today: p.used_today,
                answer_rate_7d: p.answer_rate_7d,
                outcomes_7d: p.outcomes_7d,
                day: p.today.to_string(),
            })
            .collect(),
    ))
}

pub(crate) async fn healthz(State(s): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    s.store.ping().await.map_err(|_| ApiError::unavailable("the database does not answer"))?;
    Ok(Json(serde_json::json!({"status": "ok", "backend": s.store.backend().as_str()})))
}

pub(crate) async fn metrics(State(s): State<AppState>) -> Result<Response, ApiError> {
    let m = s.store.metrics();
    let mut out = String::new();
    let mut counter = |name: &str, help: &str, v: u64| {
        out.push_str(&format!("# HELP vigie_{name} {help}\n# TYPE vigie_{name} counter\nvigie_{name} {v}\n"));
    };
    counter("allocations_total", "Calls given a number.", m.allocations.load(Ordering::Relaxed));
    counter("no_capacity_total", "Calls refused for lack of capacity.", m.no_capacity.load(Ordering::Relaxed));
    counter("reports_total", "Spam reports received.", m.reports.load(Ordering::Relaxed));
    counter("quarantines_total", "Numbers quarantined by reports.", m.quarantines.load(Ordering::Relaxed));
    counter("reassigned_calls_total", "Calls moved to another number.", m.reassigned.load(Ordering::Relaxed));
    counter("promotions_total", "Reserve numbers promoted.", m.promotions.load(Ordering::Relaxed));
    counter("outcomes_total", "Call outcomes recorded.", m.outcomes.load(Ordering::Relaxed));
    counter("writer_commits_total", "Writer transactions committed.", m.commits.load(Ordering::Relaxed));
    counter("writer_batched_requests_total", "Requests served by writer batches.", m.batched.load(Ordering::Relaxed));
    counter(
        "writer_failed_batches_total",
        "Writer batches that failed and were retried request by request.",
        m.failed_batches.load(Ordering::Relaxed),
    );
    if s.store.backend() == vigie_store::Backend::Postgres {
        for (name, help, value) in [
            (
                "writer_overlapped_batches_total",
                "Writer batches whose reads travelled while the previous batch was committed.",
                &m.overlapped_batches,
            ),
            (
                "writer_guarded_batches_total",
                "Writer batches decided without the lock and written in one statement that takes it and commits.",
                &m.guarded_batches,
            ),
            (
                "writer_head_conflicts_total",
                "Guarded writer batches that found another writer had committed first, decided again under the lock.",
                &m.head_conflicts,
            ),
            (
                "writer_guard_retries_total",
                "Guarded statements sent again: they took the lock before the one they were decided on.",
                &m.guard_retries,
            ),
        ] {
            counter(name, help, value.load(Ordering::Relaxed));
        }
    }
    if let Some(bytes) = s.store.wal_bytes() {
        counter(
            "writer_checkpoint_tails_total",
            "SQLite checkpoints finished by the writer, each letting the WAL start again.",
            m.checkpoint_tails.load(Ordering::Relaxed),
        );
        out.push_str(&format!(
            "# HELP vigie_sqlite_wal_bytes Size of the SQLite WAL file.\n# TYPE vigie_sqlite_wal_bytes gauge\nvigie_sqlite_wal_bytes {bytes}\n"
        ));
    }
    let pools = s.store.pools().await?;
    out.push_str("# HELP vigie_pool_numbers Numbers per pool and state.\n# TYPE vigie_pool_numbers gauge\n");
    for p in &pools {
        for (state, v) in [
            ("active", p.active),
            ("resting", p.resting),
            ("quarantined", p.quarantined),
            ("reserve", p.reserve),
            ("retired", p.retired),
        ] {
            out.push_str(&format!("vigie_pool_numbers{{pool=\"{}\",state=\"{state}\"}} {v}\n", p.code));
        }
    }
    out.push_str("# HELP vigie_pool_used_today Calls allocated today per pool.\n# TYPE vigie_pool_used_today gauge\n");
    for p in &pools {
        out.push_str(&format!("vigie_pool_used_today{{pool=\"{}\"}} {}\n", p.code, p.used_today));
    }
    out.push_str("# HELP vigie_pool_capacity_today Calls the active numbers may carry today.\n# TYPE vigie_pool_capacity_today gauge\n");
    for p in &pools {
        out.push_str(&format!("vigie_pool_capacity_today{{pool=\"{}\"}} {}\n", p.code, p.capacity_today));
    }
    crate::sms_api::write_metrics(&s.store, &mut out).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response())
}

pub(crate) async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], include_str!("openapi.json")).into_response()
}
