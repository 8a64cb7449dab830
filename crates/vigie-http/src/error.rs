//! The API's one error type: it picks the status code, names the field and the rule
//! for the client, and logs internals without returning them.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use vigie_core::{InvalidField, Timestamp};
use vigie_store::StoreError;

/// An error as the client sees it.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: Box<ErrorBody>,
}

#[derive(Debug, Serialize)]
struct ErrorBody {
    error: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pool: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_at: Option<String>,
    /// The calling rule that refuses a call (`error: "rule"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    rule: Option<&'static str>,
    /// When the refused call would be allowed, if time lifts the refusal.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_allowed_at: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    rows: Vec<RowError>,
}

#[derive(Debug, Serialize)]
struct RowError {
    row: usize,
    field: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, error: &'static str, message: impl Into<String>, field: Option<&str>) -> ApiError {
        ApiError {
            status,
            body: Box::new(ErrorBody {
                error,
                message: message.into(),
                field: field.map(str::to_owned),
                pool: None,
                retry_at: None,
                rule: None,
                next_allowed_at: None,
                rows: Vec::new(),
            }),
        }
    }

    /// 422: a field breaks a rule.
    pub fn invalid(field: &str, rule: impl Into<String>) -> ApiError {
        let rule = rule.into();
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", format!("{field}: {rule}"), Some(field))
    }

    /// 404.
    pub fn not_found(what: &str, field: &str) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"), Some(field))
    }

    /// 401.
    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid API key is required: Authorization: Bearer <key>",
            None,
        )
    }

    /// 401 for a webhook call whose signature header is missing or does not match the
    /// body under the provider's shared secret.
    pub fn bad_signature(header: &str) -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            format!(
                "a valid signature is required: {header}: the HMAC-SHA256 of the body with the shared secret, in hex"
            ),
            None,
        )
    }

    /// 403.
    pub fn forbidden(role: &str) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", format!("the {role} role may not do this"), None)
    }

    /// 405.
    pub fn method_not_allowed() -> ApiError {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this route does not take that method",
            None,
        )
    }

    /// 413.
    pub fn too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("bodies are limited to {limit} bytes"),
            None,
        )
    }

    /// 400: the body is not JSON at all.
    pub fn malformed(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", message, None)
    }

    /// 503.
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message, None)
    }
}

impl From<InvalidField> for ApiError {
    fn from(e: InvalidField) -> ApiError {
        ApiError::invalid(e.field, e.rule)
    }
}

fn ts(t: Timestamp) -> String {
    t.to_string()
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound { what, field } => ApiError::not_found(what, field),
            StoreError::Invalid(f) => f.into(),
            StoreError::Conflict { field, message } => {
                ApiError::new(StatusCode::CONFLICT, "conflict", message, Some(field))
            }
            StoreError::NoCapacity { pool, retry_at } => {
                let mut err = ApiError::new(
                    StatusCode::CONFLICT,
                    "no_capacity",
                    match retry_at {
                        Some(t) => format!("no number of pool {pool} can take the call; capacity returns at {}", ts(t)),
                        None => format!("no number of pool {pool} can take the call; no active number will free up"),
                    },
                    None,
                );
                err.body.pool = Some(pool.to_string());
                err.body.retry_at = retry_at.map(ts);
                err
            }
            StoreError::Rule(refusal) => {
                let mut err =
                    ApiError::new(StatusCode::CONFLICT, "rule", crate::compliance_api::rule_message(&refusal), None);
                err.body.rule = Some(refusal.rule.as_str());
                err.body.next_allowed_at = refusal.next_allowed_at.map(ts);
                err
            }
            StoreError::Rows(rows) => {
                let mut err = ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_request",
                    format!("{} rows refused; nothing was written", rows.len()),
                    rows.first().map(|r| r.field),
                );
                err.body.rows =
                    rows.into_iter().map(|r| RowError { row: r.index, field: r.field, message: r.message }).collect();
                err
            }
            StoreError::Closed => ApiError::unavailable("the server is shutting down"),
            other => {
                tracing::error!(error = %other, "internal error");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error; see the server log", None)
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(*self.body)).into_response()
    }
}
