//! The pre-call SMS over the API: a call's SMS in the call answers, the patients who
//! want no SMS (`/v1/sms/optouts`, the phone always in a body, never in a URL), the
//! signed delivery receipts of the HTTP gateways (`/v1/sms/receipts/{provider}`), and
//! the SMS figures of `/metrics`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use vigie_core::{E164, SignedDuration, SmsStatus, Timestamp};
use vigie_sms::{HTTP_BODY_BYTES_MAX, WebhookConfig, WebhookError};
use vigie_store::{Role, SmsView, Store};

use crate::AppState;
use crate::api::{Caller, parse, phone};
use crate::error::ApiError;

// ----- a call's SMS -----

/// A call's SMS, as `GET /v1/calls/{call_id}` shows it.
#[derive(Serialize)]
pub(crate) struct SmsOut {
    status: &'static str,
    send_at: String,
    encoding: String,
    segments: u32,
    submitted_at: Option<String>,
    error: Option<String>,
}

impl From<SmsView> for SmsOut {
    fn from(v: SmsView) -> SmsOut {
        SmsOut {
            status: v.status.as_str(),
            send_at: v.send_at.to_string(),
            encoding: v.encoding,
            segments: v.segments,
            submitted_at: v.submitted_at.map(|t| t.to_string()),
            error: v.error,
        }
    }
}

/// When the SMS of a known call goes, for the answer to a repeated `POST /v1/calls`:
/// the planned instant, unless the SMS was withdrawn since.
pub(crate) async fn planned_sms_at(store: &Store, call_id: i64) -> Result<Option<Timestamp>, ApiError> {
    let sms = store.call_sms(call_id).await?;
    Ok(sms.filter(|v| v.status != SmsStatus::Cancelled).map(|v| v.send_at))
}

// ----- opt-outs -----

/// How a patient told the centre they want no SMS, when it is recorded over the API.
/// A STOP reply to an SMS is recorded by the dispatcher, as `sms_reply`.
pub(crate) const OPTOUT_SOURCES: [&str; 4] = ["agent", "web_form", "email", "letter"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OptOutIn {
    patient_phone: String,
    source: String,
}

impl OptOutIn {
    pub(crate) fn validate(self) -> Result<(E164, &'static str), ApiError> {
        let patient_phone = phone("patient_phone", &self.patient_phone)?;
        let source = OPTOUT_SOURCES
            .into_iter()
            .find(|s| *s == self.source)
            .ok_or_else(|| ApiError::invalid("source", format!("must be one of: {}", OPTOUT_SOURCES.join(", "))))?;
        Ok((patient_phone, source))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OptOutLookupIn {
    patient_phone: String,
}

#[derive(Serialize)]
pub(crate) struct OptOutOut {
    opted_out: bool,
    at: Option<String>,
    source: Option<String>,
    /// On a POST: calls not yet dialled that the opt-out cancelled (purposes whose calls
    /// stop with their SMS), and SMS not yet sent that it cancelled.
    #[serde(skip_serializing_if = "Option::is_none")]
    calls_cancelled: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sms_cancelled: Option<u32>,
}

impl OptOutOut {
    fn new(found: Option<(Timestamp, String)>) -> OptOutOut {
        match found {
            Some((at, source)) => OptOutOut {
                opted_out: true,
                at: Some(at.to_string()),
                source: Some(source),
                calls_cancelled: None,
                sms_cancelled: None,
            },
            None => OptOutOut { opted_out: false, at: None, source: None, calls_cancelled: None, sms_cancelled: None },
        }
    }
}

/// Records that a patient wants no more SMS, told to an agent or in writing, and
/// applies it (their SMS not yet sent, and their calls of the purposes that stop with
/// their SMS, are cancelled): 201 when new, 200 with the first record when the patient
/// had already opted out.
pub(crate) async fn post_optout(State(s): State<AppState>, caller: Caller, body: Bytes) -> Result<Response, ApiError> {
    caller.require(&[Role::Dialer, Role::Ops])?;
    let (patient_phone, source) = parse::<OptOutIn>(&body)?.validate()?;
    let done = s.store.record_sms_optout(&patient_phone, source, &caller.0.name).await?;
    // The first record stands (a STOP reply stays a STOP reply).
    let now = s.store.now();
    let first = s.store.sms_optout(&patient_phone, &caller.0.name).await?.unwrap_or((now, source.to_owned()));
    let out = OptOutOut {
        calls_cancelled: Some(done.calls_cancelled),
        sms_cancelled: Some(done.sms_cancelled),
        ..OptOutOut::new(Some(first))
    };
    let status = if done.recorded { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(out)).into_response())
}

/// Whether a patient opted out of SMS, when and how. A POST, so that the phone is in
/// no URL and no access log; the read is in the audit trail.
pub(crate) async fn post_optout_lookup(
    State(s): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<Json<OptOutOut>, ApiError> {
    caller.require(&[Role::Ops, Role::Auditor])?;
    let lookup: OptOutLookupIn = parse(&body)?;
    let patient_phone = phone("patient_phone", &lookup.patient_phone)?;
    Ok(Json(OptOutOut::new(s.store.sms_optout(&patient_phone, &caller.0.name).await?)))
}

// ----- delivery receipts -----

#[derive(Serialize)]
pub(crate) struct ReceiptOut {
    provider: String,
    message_id: String,
    status: &'static str,
    applied: bool,
}

/// The JSON path of a webhook's pointer, as errors name fields (`/message_id` →
/// `message_id`, `/data/id` → `data.id`).
fn pointer_field(pointer: &str) -> String {
    pointer.trim_start_matches('/').replace('/', ".")
}

fn receipt_error(webhook: &WebhookConfig, e: WebhookError) -> ApiError {
    match e {
        WebhookError::MissingSignature | WebhookError::BadSignature => {
            tracing::warn!(provider = %webhook.provider, reason = %e, "SMS receipt refused");
            ApiError::bad_signature(&webhook.signature_header)
        }
        WebhookError::TooLarge => ApiError::too_large(HTTP_BODY_BYTES_MAX),
        WebhookError::NotJson => ApiError::malformed("the body is not valid JSON"),
        WebhookError::MissingField(what) => {
            let pointer = if what == "status" { &webhook.status_pointer } else { &webhook.message_id_pointer };
            ApiError::invalid(&pointer_field(pointer), format!("{e}: expected a non-empty string or a number"))
        }
        WebhookError::UnknownStatus(_) => ApiError::invalid(&pointer_field(&webhook.status_pointer), e.to_string()),
    }
}

/// A delivery receipt from an HTTP gateway, signed with its shared secret. The
/// signature is checked before anything is read; a receipt for a message this store
/// does not know is logged and acknowledged (202), so that the gateway stops retrying.
pub(crate) async fn post_receipt(
    State(s): State<AppState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let webhook = s.sms_webhooks.get(&provider).ok_or_else(|| ApiError::not_found("provider", "provider"))?;
    let signature = headers.get(webhook.signature_header.as_str()).and_then(|v| v.to_str().ok());
    let receipt = webhook.receipt(signature, &body).map_err(|e| receipt_error(webhook, e))?;
    // An intermediate notification (sent, accepted…) changes nothing: the SMS is
    // already submitted once its message id is known.
    let applied = receipt.status.is_final()
        && s.store
            .sms_receipt(
                &receipt.provider,
                &receipt.message_id,
                receipt.status,
                receipt.error.as_deref(),
                s.store.now(),
            )
            .await?;
    if receipt.status.is_final() && !applied {
        tracing::warn!(
            provider = %receipt.provider,
            message_id = %receipt.message_id,
            state = %receipt.state,
            "delivery receipt for a message this store does not know; acknowledged and ignored"
        );
    }
    let status = if applied { StatusCode::OK } else { StatusCode::ACCEPTED };
    let out = ReceiptOut {
        provider: receipt.provider,
        message_id: receipt.message_id,
        status: receipt.status.as_str(),
        applied,
    };
    Ok((status, Json(out)).into_response())
}

// ----- metrics -----

/// How far back `vigie_answer_rate` looks.
const ANSWER_RATE_DAYS: i64 = 30;

/// A Prometheus label value: backslashes, quotes and line breaks escaped.
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Appends the SMS figures to `/metrics`: SMS and segments per facility, purpose and
/// status, and the answer rate of announced and unannounced calls per pool.
pub(crate) async fn write_metrics(store: &Store, out: &mut String) -> Result<(), ApiError> {
    let counts = store.sms_counts().await?;
    out.push_str(
        "# HELP vigie_sms_total Pre-call SMS per facility, purpose and current status (queued, submitted, delivered, failed, expired, cancelled), from the database.\n# TYPE vigie_sms_total gauge\n",
    );
    for c in &counts {
        out.push_str(&format!(
            "vigie_sms_total{{facility=\"{}\",purpose=\"{}\",status=\"{}\"}} {}\n",
            label(&c.facility),
            label(&c.purpose),
            label(&c.status),
            c.count
        ));
    }
    out.push_str(
        "# HELP vigie_sms_segments_total Segments of those SMS (what they cost), per facility, purpose and status.\n# TYPE vigie_sms_segments_total gauge\n",
    );
    for c in &counts {
        out.push_str(&format!(
            "vigie_sms_segments_total{{facility=\"{}\",purpose=\"{}\",status=\"{}\"}} {}\n",
            label(&c.facility),
            label(&c.purpose),
            label(&c.status),
            c.segments
        ));
    }
    let since = store.now() - SignedDuration::from_hours(24 * ANSWER_RATE_DAYS);
    let rates = store.announced_answer_rates(since).await?;
    let series = |name: &str, help: &str, value: &dyn Fn(&vigie_store::AnnouncedRate) -> String| {
        let mut text = format!("# HELP vigie_{name} {help}\n# TYPE vigie_{name} gauge\n");
        for r in rates.iter().filter(|r| r.calls > 0) {
            text.push_str(&format!(
                "vigie_{name}{{pool=\"{}\",announced=\"{}\"}} {}\n",
                label(&r.pool),
                r.announced,
                value(r)
            ));
        }
        text
    };
    out.push_str(&series(
        "answer_rate",
        "Share of calls answered, per pool, among the calls dialled in the last 30 days that have an outcome: announced=\"true\" for calls whose SMS was delivered, \"false\" for the others.",
        &|r| (r.answered as f64 / r.calls as f64).to_string(),
    ));
    out.push_str(&series(
        "answer_rate_calls",
        "Calls behind vigie_answer_rate: dialled in the last 30 days, with an outcome.",
        &|r| r.calls.to_string(),
    ));
    out.push_str(&series("answer_rate_answered", "Of those, the calls answered.", &|r| r.answered.to_string()));
    Ok(())
}
