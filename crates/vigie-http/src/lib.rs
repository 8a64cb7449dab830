//! Vigie's HTTP adapter: the dialers' JSON API, health and metrics, and the OpenAPI
//! document. `router(state)` builds the app, `serve` runs it until shutdown.

mod api;
mod compliance_api;
mod error;
mod monitor_api;
#[cfg(test)]
mod openapi_tests;
mod privacy_api;
mod retention;
mod sms_api;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use tokio::net::TcpListener;
use tower_http::timeout::TimeoutLayer;
use vigie_sms::WebhookConfig;
use vigie_store::Store;

pub use api::ReportWebhook;
pub use error::ApiError;
pub use retention::RetentionWorker;

/// Limits of the HTTP layer.
#[derive(Debug, Clone, Copy)]
pub struct HttpOptions {
    /// Largest request body accepted, in bytes (413 beyond).
    pub body_bytes_max: usize,
    /// Longest a request may take.
    pub request_timeout: Duration,
}

impl Default for HttpOptions {
    fn default() -> HttpOptions {
        HttpOptions { body_bytes_max: 64 * 1024, request_timeout: Duration::from_secs(30) }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub(crate) store: Store,
    /// The receipt webhooks of the HTTP SMS gateways, by provider name (the
    /// `{provider}` of `/v1/sms/receipts/{provider}`). Empty by default: every
    /// provider is then unknown (404).
    pub(crate) sms_webhooks: Arc<HashMap<String, WebhookConfig>>,
    /// The feeds that push spam reports, by name (`/v1/reports/inbound/{source}`).
    pub(crate) report_webhooks: Arc<HashMap<String, ReportWebhook>>,
}

impl AppState {
    /// The state over a store, with no SMS receipt webhook.
    pub fn new(store: Store) -> AppState {
        AppState { store, sms_webhooks: Arc::default(), report_webhooks: Arc::default() }
    }

    /// The same state, answering the delivery receipts of these HTTP gateways at
    /// `POST /v1/sms/receipts/{provider}` (each checked with its shared secret). A
    /// later webhook of the same provider name replaces an earlier one.
    pub fn with_sms_webhooks(mut self, webhooks: impl IntoIterator<Item = WebhookConfig>) -> AppState {
        self.sms_webhooks = Arc::new(webhooks.into_iter().map(|w| (w.provider.clone(), w)).collect());
        self
    }

    /// The same state, taking the spam reports these feeds push at
    /// `POST /v1/reports/inbound/{source}` (each checked with its shared secret).
    pub fn with_report_webhooks(mut self, webhooks: impl IntoIterator<Item = ReportWebhook>) -> AppState {
        self.report_webhooks = Arc::new(webhooks.into_iter().map(|w| (w.name.clone(), w)).collect());
        self
    }
}

/// The application's routes.
pub fn router(state: AppState, options: HttpOptions) -> Router {
    Router::new()
        .route("/livez", get(|| async { "ok" }))
        .route("/healthz", get(api::healthz))
        .route("/metrics", get(api::metrics))
        .route("/openapi.json", get(api::openapi))
        .route("/v1/facilities", post(api::post_facility).get(api::get_facilities))
        .route("/v1/calls", post(api::post_call))
        .route("/v1/calls/{call_id}", get(api::get_call).patch(api::patch_call))
        .route("/v1/calls/{call_id}/cancel", post(api::post_call_cancel))
        .route("/v1/calls/{call_id}/outcome", post(api::post_outcome))
        .route("/v1/reports", post(api::post_report))
        .route("/v1/reports/inbound/{source}", post(api::post_inbound_report))
        .route("/v1/numbers", get(api::get_numbers).post(api::post_number))
        .route("/v1/numbers/{number}", get(api::get_number).patch(api::patch_number))
        .route("/v1/numbers/{number}/reputation", get(monitor_api::get_reputation))
        .route("/v1/pools", get(api::get_pools))
        .route("/v1/consents", post(compliance_api::post_consent).get(compliance_api::get_consents))
        .route("/v1/consents/{consent_id}/withdraw", post(compliance_api::post_consent_withdraw))
        .route("/v1/sms/optouts", post(sms_api::post_optout))
        .route("/v1/sms/optouts/lookup", post(sms_api::post_optout_lookup))
        .route("/v1/sms/receipts/{provider}", post(sms_api::post_receipt))
        .route("/v1/alerts", get(monitor_api::get_alerts))
        .route("/v1/alerts/{alert_id}/ack", post(monitor_api::post_alert_ack))
        .route("/v1/incidents", get(monitor_api::get_incidents))
        .route("/v1/incidents/{incident_id}", get(monitor_api::get_incident))
        .route("/v1/incidents/{incident_id}/playbook", get(monitor_api::get_incident_playbook))
        .route("/v1/incidents/{incident_id}/steps/{step}", post(monitor_api::post_incident_step))
        .route("/v1/incidents/{incident_id}/close", post(monitor_api::post_incident_close))
        .route("/v1/patients/{patient_ref}", delete(privacy_api::delete_patient))
        .route("/v1/patients/{patient_ref}/export", get(privacy_api::get_patient_export))
        .layer(DefaultBodyLimit::max(options.body_bytes_max))
        .layer(axum::middleware::from_fn(move |req, next| body_limit_as_json(req, next, options.body_bytes_max)))
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, options.request_timeout))
        .fallback(|| async { ApiError::not_found("route", "path") })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .with_state(state)
}

/// Turns axum's plain-text 413 into the API's JSON error.
async fn body_limit_as_json(
    req: axum::extract::Request,
    next: axum::middleware::Next,
    limit: usize,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return ApiError::too_large(limit).into_response();
    }
    let res = next.run(req).await;
    if res.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::too_large(limit).into_response();
    }
    res
}

/// Serves `router` on `listener` until `shutdown` resolves, then drains requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router).with_graceful_shutdown(shutdown).await
}
