//! The operations dashboard: server-rendered HTML pages (maud templates) over the store,
//! signed-in users with roles and facility scopes, and a live feed of number state
//! changes and alerts (server-sent events). `router(dashboard)` gives the routes that
//! `vigie serve` and `vigie demo` merge beside the JSON API; the CSS and the small
//! script are compiled into the binary, so nothing else is fetched.
//!
//! Who may see and do what is decided in one place, [`access`]; every handler asks it.

pub mod access;
mod admin;
mod alerts;
mod calls;
mod error;
mod layout;
mod live;
mod numbers;
mod overview;
mod planner;
mod records;
mod session;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, header};
use axum::routing::{get, post};
use tower_http::timeout::TimeoutLayer;
use vigie_store::Store;

pub use records::weekly_figures;

/// How often the live feed reads the store for new state changes and alerts.
pub const LIVE_POLL: Duration = Duration::from_millis(500);
/// The longest a page or a form may take.
const PAGE_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest form accepted.
const FORM_BYTES_MAX: usize = 64 * 1024;

/// What every dashboard handler shares.
#[derive(Clone)]
pub struct Dashboard {
    pub(crate) store: Store,
    pub(crate) live: Arc<live::Live>,
    pub(crate) centre_name: Arc<str>,
}

impl Dashboard {
    /// The dashboard over a store; starts the live feed's poller (a task that stops
    /// when the last clone of the dashboard is dropped), so it is called inside a Tokio
    /// runtime.
    pub fn new(store: Store, centre_name: &str) -> Dashboard {
        let live = live::Live::start(store.clone(), LIVE_POLL);
        Dashboard { store, live, centre_name: centre_name.into() }
    }
}

const APP_CSS: &str = include_str!("../assets/app.css");
const APP_JS: &str = include_str!("../assets/app.js");

/// The dashboard's routes, all outside `/v1`.
pub fn router(dashboard: Dashboard) -> Router {
    let pages = Router::new()
        .route("/", get(overview::page))
        .route("/login", get(session::login_page).post(session::login))
        .route("/logout", post(session::logout))
        .route("/lang/{code}", get(session::set_language))
        .route("/numbers", get(numbers::list))
        .route("/numbers/{number}", get(numbers::page))
        .route("/numbers/{number}/change", post(numbers::change))
        .route("/calls", get(calls::find))
        .route("/calls/{call_id}", get(calls::page))
        .route("/alerts", get(alerts::list))
        .route("/alerts/{alert_id}/ack", post(alerts::acknowledge))
        .route("/incidents/{incident_id}", get(alerts::incident))
        .route("/incidents/{incident_id}/steps/{step}", post(alerts::step))
        .route("/incidents/{incident_id}/close", post(alerts::close))
        .route("/planner", get(planner::page))
        .route("/reports", get(records::weekly_list))
        .route("/reports/{week}", get(records::weekly_report))
        .route("/audit", get(records::audit))
        .route("/admin", get(admin::page))
        .route("/admin/users", post(admin::create_user))
        .route("/admin/users/password", post(admin::reset_password))
        .route("/admin/users/access", post(admin::set_access))
        .route("/admin/keys", post(admin::create_key))
        .route("/admin/keys/{key_id}/revoke", post(admin::revoke_key))
        .route("/assets/app.css", get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], APP_CSS) }))
        .route("/assets/app.js", get(|| async { ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], APP_JS) }))
        .layer(DefaultBodyLimit::max(FORM_BYTES_MAX))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, PAGE_TIMEOUT));
    // The live feed stays open as long as its page: no timeout.
    let live = Router::new().route("/live", get(live::stream));
    pages.merge(live).layer(axum::middleware::map_response(protect)).with_state(dashboard)
}

/// The headers every dashboard answer carries: pages that may show patient data are
/// never cached; only this site's script runs (no inline script), the pages are never
/// framed and forms only post here. Inline styles stay allowed for the weekly report,
/// which is made to be e-mailed.
async fn protect(mut response: axum::response::Response) -> axum::response::Response {
    use axum::http::HeaderValue;
    let headers = response.headers_mut();
    let policy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                  frame-ancestors 'none'; form-action 'self'; base-uri 'none'";
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, policy),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
    ] {
        headers.entry(name).or_insert(HeaderValue::from_static(value));
    }
    response
}
