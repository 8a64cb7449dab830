//! The dashboard's one error type: what a refused or failed request answers. A refusal
//! is always a 403 page; a page without a session sends the browser to the sign-in
//! page; internals are logged, never shown.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use vigie_store::StoreError;

/// Why a dashboard request did not get its page.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WebError {
    /// No live session: sign in first.
    #[error("not signed in")]
    SignIn,
    /// The role or the facility scope does not allow it.
    #[error("forbidden")]
    Forbidden,
    /// The form's CSRF token is missing or wrong.
    #[error("bad CSRF token")]
    Csrf,
    /// Nothing by that name.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Too many pages follow the live feed already.
    #[error("busy")]
    Busy,
    /// A form field breaks a rule (field, rule).
    #[error("{0}: {1}")]
    Invalid(&'static str, String),
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn message_page(status: StatusCode, title: &str, detail: &str) -> Response {
    let body = html! {
        (maud::DOCTYPE)
        html lang="fr" {
            head {
                meta charset="utf-8";
                title { (title) }
                link rel="stylesheet" href="/assets/app.css";
            }
            body {
                main.narrow {
                    h1 { (title) }
                    p { (detail) }
                    p { a href="/" { "Retour au tableau de bord — Back to the dashboard" } }
                }
            }
        }
    };
    (status, axum::response::Html(body.into_string())).into_response()
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match self {
            WebError::SignIn => Redirect::to("/login").into_response(),
            WebError::Forbidden => message_page(
                StatusCode::FORBIDDEN,
                "Accès refusé — Access denied",
                "Votre rôle ou vos établissements ne permettent pas cette page. — Your role or facilities do not allow this page.",
            ),
            WebError::Csrf => message_page(
                StatusCode::FORBIDDEN,
                "Formulaire expiré — Form expired",
                "Rechargez la page et recommencez. — Reload the page and try again.",
            ),
            WebError::Busy => message_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Occupé — Busy",
                "Trop de pages suivent le direct ; réessayez. — Too many pages follow the live feed; try again.",
            ),
            WebError::NotFound(what) => message_page(StatusCode::NOT_FOUND, "Introuvable — Not found", what),
            WebError::Invalid(field, rule) => {
                message_page(StatusCode::BAD_REQUEST, "Saisie refusée — Input refused", &format!("{field}: {rule}"))
            }
            WebError::Store(StoreError::Invalid(e)) => message_page(
                StatusCode::BAD_REQUEST,
                "Saisie refusée — Input refused",
                &format!("{}: {}", e.field, e.rule),
            ),
            WebError::Store(StoreError::Conflict { field, message }) => {
                message_page(StatusCode::CONFLICT, "Refusé — Refused", &format!("{field}: {message}"))
            }
            WebError::Store(StoreError::NotFound { what, .. }) => {
                message_page(StatusCode::NOT_FOUND, "Introuvable — Not found", what)
            }
            WebError::Store(e) => {
                tracing::error!(error = %e, "dashboard request failed");
                message_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Erreur — Error",
                    "Une erreur interne est survenue ; elle est journalisée. — An internal error occurred; it is logged.",
                )
            }
        }
    }
}
