//! Signing in and out, the session cookie, the CSRF token of every form, and the
//! language switch. The session cookie is `Secure; HttpOnly; SameSite=Strict`; the
//! browser treats http://127.0.0.1 and http://localhost as secure, so it keeps it there
//! too. A page asks for a [`Viewer`]: the signed-in user, or a redirect to `/login`.

use axum::Form;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use rand::RngCore;
use serde::Deserialize;
use vigie_core::Language;
use vigie_store::{SESSION_TTL, SignIn, User};

use crate::Dashboard;
use crate::access::{Permission, allows};
use crate::error::WebError;
use crate::layout::{Lang, shell};

const SESSION_COOKIE: &str = "vigie_session";
const LOGIN_COOKIE: &str = "vigie_login";
const LANG_COOKIE: &str = "vigie_lang";

/// The value of a cookie of the request, if it is there.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn set_cookie(name: &str, value: &str, path: &str, max_age_s: i64) -> (header::HeaderName, HeaderValue) {
    let text = format!("{name}={value}; Path={path}; Max-Age={max_age_s}; Secure; HttpOnly; SameSite=Strict");
    (header::SET_COOKIE, HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("")))
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Compares two tokens in time independent of where they differ.
fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The language of the request: the `vigie_lang` cookie, French by default.
pub(crate) fn language(headers: &HeaderMap) -> Language {
    match cookie(headers, LANG_COOKIE).as_deref() {
        Some("en") => Language::En,
        _ => Language::Fr,
    }
}

/// The signed-in user of a request.
pub(crate) struct Viewer {
    /// Who.
    pub(crate) user: User,
    /// The token every form of the session carries.
    pub(crate) csrf: String,
    /// The page language.
    pub(crate) lang: Lang,
    /// The request's path, for the language switch.
    pub(crate) path: String,
}

impl Viewer {
    /// Refuses (403) unless the user's role has the permission.
    pub(crate) fn require(&self, permission: Permission) -> Result<(), WebError> {
        if allows(self.user.role, permission) { Ok(()) } else { Err(WebError::Forbidden) }
    }

    /// Whether the user's role has the permission.
    pub(crate) fn may(&self, permission: Permission) -> bool {
        allows(self.user.role, permission)
    }

    /// Refuses (403) a form whose CSRF token is not the session's.
    pub(crate) fn check_csrf(&self, token: &str) -> Result<(), WebError> {
        if same_token(token, &self.csrf) { Ok(()) } else { Err(WebError::Csrf) }
    }

    /// The actor named in the audit trail.
    pub(crate) fn actor(&self) -> String {
        format!("web:{}", self.user.name)
    }
}

impl FromRequestParts<Dashboard> for Viewer {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &Dashboard) -> Result<Viewer, WebError> {
        let token = cookie(&parts.headers, SESSION_COOKIE).ok_or(WebError::SignIn)?;
        let session = state.store.session(&token).await?.ok_or(WebError::SignIn)?;
        Ok(Viewer {
            user: session.user,
            csrf: session.csrf,
            lang: Lang::new(language(&parts.headers), state.store.calendar().tz().clone()),
            path: parts.uri.path().to_owned(),
        })
    }
}

fn login_form(lang: &Lang, csrf: &str, problem: Option<&str>) -> Markup {
    let body = html! {
        main.narrow {
            h1 { "Vigie" }
            p { (lang.t("Connexion au tableau de bord", "Sign in to the dashboard")) }
            @if let Some(p) = problem { p.problem role="alert" { (p) } }
            form method="post" action="/login" {
                input type="hidden" name="csrf" value=(csrf);
                label { (lang.t("Identifiant", "User name")) input name="name" autocomplete="username" required; }
                label { (lang.t("Mot de passe", "Password")) input type="password" name="password" autocomplete="current-password" required; }
                button type="submit" { (lang.t("Se connecter", "Sign in")) }
            }
            p.small {
                a href="/lang/fr?back=/login" { "Français" } " · " a href="/lang/en?back=/login" { "English" }
            }
        }
    };
    shell(lang, lang.t("Connexion", "Sign in"), body)
}

/// `GET /login`: the form, with a fresh token in a cookie of its own (the form's
/// CSRF protection before there is a session).
pub(crate) async fn login_page(State(d): State<Dashboard>, headers: HeaderMap) -> Response {
    let lang = Lang::new(language(&headers), d.store.calendar().tz().clone());
    let csrf = random_token();
    let cookie = set_cookie(LOGIN_COOKIE, &csrf, "/login", 3600);
    ([cookie], axum::response::Html(login_form(&lang, &csrf, None).into_string())).into_response()
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    name: String,
    password: String,
    csrf: String,
}

/// `POST /login`: a session cookie and the overview, or the form again with a 403.
pub(crate) async fn login(State(d): State<Dashboard>, headers: HeaderMap, Form(form): Form<LoginForm>) -> Response {
    let lang = Lang::new(language(&headers), d.store.calendar().tz().clone());
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !same_token(&expected, &form.csrf) {
        return WebError::Csrf.into_response();
    }
    let refused = |problem: String| {
        let csrf = random_token();
        let cookie = set_cookie(LOGIN_COOKIE, &csrf, "/login", 3600);
        let page = login_form(&lang, &csrf, Some(&problem)).into_string();
        (StatusCode::FORBIDDEN, [cookie], axum::response::Html(page)).into_response()
    };
    match d.store.sign_in(form.name.trim(), &form.password).await {
        Ok(SignIn::Session(s)) => {
            let cookie = set_cookie(SESSION_COOKIE, &s.token, "/", SESSION_TTL.as_secs());
            let clear = set_cookie(LOGIN_COOKIE, "", "/login", 0);
            (axum::response::AppendHeaders([cookie, clear]), Redirect::to("/")).into_response()
        }
        Ok(SignIn::Refused) => {
            refused(lang.t("Identifiant ou mot de passe incorrect.", "Wrong user name or password.").to_owned())
        }
        Ok(SignIn::Locked { until }) => refused(format!(
            "{} {}",
            lang.t(
                "Trop d'échecs : compte verrouillé jusqu'à",
                "Too many failed sign-ins: the account is locked until"
            ),
            lang.when(until)
        )),
        Err(e) => WebError::Store(e).into_response(),
    }
}

#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    pub(crate) csrf: String,
}

/// `POST /logout`: ends the session and clears its cookie.
pub(crate) async fn logout(
    State(d): State<Dashboard>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(&form.csrf)?;
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        d.store.sign_out(&token).await?;
    }
    Ok(([set_cookie(SESSION_COOKIE, "", "/", 0)], Redirect::to("/login")).into_response())
}

#[derive(Deserialize)]
pub(crate) struct Back {
    back: Option<String>,
}

/// `GET /lang/{fr|en}?back=/path`: remembers the language and goes back.
pub(crate) async fn set_language(Path(code): Path<String>, Query(q): Query<Back>) -> Result<Response, WebError> {
    if code != "fr" && code != "en" {
        return Err(WebError::Invalid("lang", "must be fr or en".into()));
    }
    // Only a path of this site: never an open redirect.
    let back = q.back.filter(|b| b.starts_with('/') && !b.starts_with("//")).unwrap_or_else(|| "/".into());
    Ok(([set_cookie(LANG_COOKIE, &code, "/", 365 * 24 * 3600)], Redirect::to(&back)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_several() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; vigie_session=abc; vigie_lang=en"));
        assert_eq!(cookie(&h, "vigie_session").as_deref(), Some("abc"));
        assert_eq!(language(&h), Language::En);
        assert_eq!(cookie(&h, "missing"), None);
        assert_eq!(language(&HeaderMap::new()), Language::Fr);
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same_token("abcd", "abcd"));
        assert!(!same_token("abcd", "abce"));
        assert!(!same_token("abcd", "abc"));
        assert!(!same_token("", "a"));
    }

    #[test]
    fn session_cookies_are_secure_httponly_strict() {
        let (_, v) = set_cookie(SESSION_COOKIE, "tok", "/", 60);
        let v = v.to_str().expect("ascii");
        for part in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=60"] {
            assert!(v.contains(part), "{v}");
        }
    }
}
