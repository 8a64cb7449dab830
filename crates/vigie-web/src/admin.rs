//! `GET /admin` (admins only): the users with their roles, scopes and lock-outs, the
//! API keys (names and roles; secrets are shown once, at creation), and the forms that
//! create them.

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use vigie_core::FacilityId;
use vigie_store::{NewUser, Role, UserRole, generate_password};

use crate::Dashboard;
use crate::access::Permission;
use crate::error::WebError;
use crate::layout;
use crate::session::Viewer;

async fn render(d: &Dashboard, v: &Viewer, created: Option<Markup>) -> Result<Html<String>, WebError> {
    let l = &v.lang;
    let users = d.store.users().await?;
    let keys = d.store.api_keys().await?;
    let facilities = d.store.facilities().await?;
    let now = d.store.now();
    let body = html! {
        @if let Some(c) = created { div.created role="status" { (c) } }
        h2 { (l.t("Utilisateurs", "Users")) }
        table.data {
            thead { tr {
                th { (l.t("Nom", "Name")) } th { (l.t("Rôle", "Role")) } th { (l.t("Établissements", "Facilities")) }
                th { (l.t("Verrouillé", "Locked")) } th { (l.t("Créé", "Created")) } th { (l.t("Mot de passe", "Password")) }
                th { (l.t("Accès", "Access")) }
            } }
            tbody {
                @for u in &users {
                    tr {
                        td { (u.name) } td { (u.role.as_str()) }
                        td { @if u.facilities.is_empty() { (l.t("tous", "all")) } @for f in &u.facilities { (f.as_str()) " " } }
                        td { @if let Some(until) = u.locked_until.filter(|t| *t > now) { (l.t("jusqu'à", "until")) " " (l.when(until)) } @else { "—" } }
                        td { (l.when(u.created_at)) }
                        td {
                            form.inline method="post" action="/admin/users/password" {
                                input type="hidden" name="csrf" value=(v.csrf);
                                input type="hidden" name="name" value=(u.name);
                                button type="submit" { (l.t("Nouveau mot de passe", "New password")) }
                            }
                        }
                        td data-testid={ "access-" (u.name) } {
                            @if let Some(at) = u.disabled_at { (l.t("désactivé le", "disabled on")) " " (l.when(at)) " " }
                            @if u.name != v.user.name {
                                form.inline method="post" action="/admin/users/access" {
                                    input type="hidden" name="csrf" value=(v.csrf);
                                    input type="hidden" name="name" value=(u.name);
                                    @if u.disabled_at.is_some() {
                                        input type="hidden" name="access" value="enable";
                                        button type="submit" { (l.t("Réactiver", "Enable")) }
                                    } @else {
                                        input type="hidden" name="access" value="disable";
                                        button type="submit" { (l.t("Désactiver", "Disable")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        form.action method="post" action="/admin/users" {
            input type="hidden" name="csrf" value=(v.csrf);
            label { (l.t("Nom", "Name")) input name="name" required maxlength="64"; }
            label { (l.t("Rôle", "Role")) select name="role" { @for r in UserRole::ALL { option value=(r.as_str()) { (r.as_str()) } } } }
            label { (l.t("Établissements (aucun : tous ; requis pour agents et superviseurs)", "Facilities (none: all; required for agents and supervisors)"))
                select name="facility" multiple size="4" { @for f in &facilities { option value=(f.id.as_str()) { (f.name) } } }
            }
            button type="submit" { (l.t("Créer l'utilisateur", "Create the user")) }
        }
        h2 { (l.t("Clés d'API", "API keys")) }
        table.data {
            thead { tr { th { (l.t("Nom", "Name")) } th { (l.t("Rôle", "Role")) } th { (l.t("Créée", "Created")) } th { (l.t("Révoquée", "Revoked")) } } }
            tbody {
                @for k in &keys {
                    tr {
                        td { (k.name) } td { (k.role.as_str()) } td { (l.when(k.created_at)) }
                        td {
                            @if let Some(r) = k.revoked_at { (l.when(r)) } @else {
                                form.inline method="post" action={ "/admin/keys/" (k.id) "/revoke" } {
                                    input type="hidden" name="csrf" value=(v.csrf);
                                    button type="submit" { (l.t("Révoquer", "Revoke")) }
                                }
                            }
                        }
                    }
                }
            }
        }
        form.action method="post" action="/admin/keys" {
            input type="hidden" name="csrf" value=(v.csrf);
            label { (l.t("Nom", "Name")) input name="name" required maxlength="64"; }
            label { (l.t("Rôle", "Role")) select name="role" { @for r in ["dialer", "ops", "auditor", "admin"] { option value=(r) { (r) } } } }
            button type="submit" { (l.t("Créer la clé", "Create the key")) }
        }
    };
    Ok(Html(layout::page(v, l.t("Utilisateurs et clés d'API", "Users and API keys"), body).into_string()))
}

/// "Password of NAME: SECRET — shown only once.": a new password or key, the only time
/// it is shown.
fn secret_shown_once(what: &str, name: &str, secret: &str, once: &str) -> Markup {
    html! { (what) " " strong { (name) } " : " code data-testid="new-secret" { (secret) } " — " (once) }
}

/// `GET /admin`.
pub(crate) async fn page(State(d): State<Dashboard>, v: Viewer) -> Result<Html<String>, WebError> {
    v.require(Permission::ManageUsers)?;
    render(&d, &v, None).await
}

/// `POST /admin/users`: creates the user and shows its generated password once. The
/// form's `facility` repeats, one per facility of the scope (none: every facility).
pub(crate) async fn create_user(
    State(d): State<Dashboard>,
    v: Viewer,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Html<String>, WebError> {
    v.require(Permission::ManageUsers)?;
    let field = |name: &str| fields.iter().find(|(k, _)| k == name).map_or("", |(_, value)| value.as_str());
    v.check_csrf(field("csrf"))?;
    let role = UserRole::parse(field("role")).map_err(|e| WebError::Invalid(e.field, e.rule))?;
    let facilities = fields
        .iter()
        .filter(|(k, value)| k == "facility" && !value.is_empty())
        .map(|(_, f)| FacilityId::parse(f).map_err(|e| WebError::Invalid("facility", e.rule)))
        .collect::<Result<Vec<_>, _>>()?;
    let password = generate_password();
    let user = NewUser { name: field("name").trim().to_owned(), role, facilities };
    d.store.create_user(&user, &password, &v.actor()).await?;
    let l = &v.lang;
    let shown = secret_shown_once(
        l.t("Mot de passe de", "Password of"),
        &user.name,
        &password,
        l.t("affiché une seule fois.", "shown only once."),
    );
    render(&d, &v, Some(shown)).await
}

#[derive(Deserialize)]
pub(crate) struct KeyForm {
    csrf: String,
    name: String,
    role: String,
}

/// `POST /admin/keys`: creates an API key and shows it once.
pub(crate) async fn create_key(
    State(d): State<Dashboard>,
    v: Viewer,
    Form(form): Form<KeyForm>,
) -> Result<Html<String>, WebError> {
    v.require(Permission::ManageUsers)?;
    v.check_csrf(&form.csrf)?;
    let role =
        Role::parse(&form.role).ok_or(WebError::Invalid("role", "must be dialer, ops, auditor or admin".into()))?;
    let name = form.name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(WebError::Invalid("name", "must be 1 to 64 characters".into()));
    }
    let key = d.store.create_key(name, role, &v.actor()).await?;
    let l = &v.lang;
    let shown =
        secret_shown_once(l.t("Clé de", "Key of"), name, &key, l.t("affichée une seule fois.", "shown only once."));
    render(&d, &v, Some(shown)).await
}

/// `POST /admin/keys/{key_id}/revoke`.
pub(crate) async fn revoke_key(
    State(d): State<Dashboard>,
    v: Viewer,
    Path(id): Path<String>,
    Form(form): Form<crate::session::CsrfForm>,
) -> Result<Response, WebError> {
    v.require(Permission::ManageUsers)?;
    v.check_csrf(&form.csrf)?;
    let id: i64 = id.parse().map_err(|_| WebError::NotFound("API key"))?;
    d.store.revoke_key(id, &v.actor()).await?;
    Ok(Redirect::to("/admin").into_response())
}

#[derive(Deserialize)]
pub(crate) struct AccessForm {
    csrf: String,
    name: String,
    access: String,
}

/// `POST /admin/users/access`: disables a user (a leaver: no sign-in, sessions ended at
/// once) or enables them again. An admin does not disable themself here.
pub(crate) async fn set_access(
    State(d): State<Dashboard>,
    v: Viewer,
    Form(form): Form<AccessForm>,
) -> Result<Response, WebError> {
    v.require(Permission::ManageUsers)?;
    v.check_csrf(&form.csrf)?;
    let enabled = match form.access.as_str() {
        "enable" => true,
        "disable" => false,
        _ => return Err(WebError::Invalid("access", "must be enable or disable".into())),
    };
    if !enabled && form.name == v.user.name {
        return Err(WebError::Invalid("name", "an admin does not disable their own account".into()));
    }
    d.store.set_user_enabled(&form.name, enabled, &v.actor()).await?;
    Ok(Redirect::to("/admin").into_response())
}

#[derive(Deserialize)]
pub(crate) struct ResetForm {
    csrf: String,
    name: String,
}

/// `POST /admin/users/password`: a new generated password, shown once; the lock-out is
/// lifted and the user's sessions end.
pub(crate) async fn reset_password(
    State(d): State<Dashboard>,
    v: Viewer,
    Form(form): Form<ResetForm>,
) -> Result<Html<String>, WebError> {
    v.require(Permission::ManageUsers)?;
    v.check_csrf(&form.csrf)?;
    let password = generate_password();
    d.store.reset_password(&form.name, &password, &v.actor()).await?;
    let l = &v.lang;
    let shown = secret_shown_once(
        l.t("Nouveau mot de passe de", "New password of"),
        &form.name,
        &password,
        l.t("affiché une seule fois.", "shown only once."),
    );
    render(&d, &v, Some(shown)).await
}
