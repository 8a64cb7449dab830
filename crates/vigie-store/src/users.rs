//! The dashboard's people: users (a role, a facility scope, an Argon2id password hash,
//! a lock-out after repeated failed sign-ins) and their sessions (a random token kept
//! only as its SHA-256, a CSRF token, an expiry). Every user creation, sign-in, failed
//! sign-in, lock-out and sign-out is in the audit trail.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;
use sqlx::{Connection, Row};
use vigie_core::{FacilityId, InvalidField, SignedDuration, Timestamp};

use crate::audit::{self, Entry};
use crate::db::{instant, micros};
use crate::error::StoreError;
use crate::{Role, Store, hash_token};

/// Failed sign-ins in a row that lock a user out.
pub const FAILED_SIGN_INS_MAX: u32 = 5;
/// How long a lock-out lasts.
pub const LOCKOUT: SignedDuration = SignedDuration::from_mins(15);
/// How long a session lasts after its sign-in.
pub const SESSION_TTL: SignedDuration = SignedDuration::from_hours(10);
/// The shortest password accepted.
pub const PASSWORD_CHARS_MIN: usize = 12;
/// The longest user name.
pub(crate) const USER_NAME_CHARS_MAX: usize = 64;

/// What a dashboard user is, which decides what they may see and do (the rules are in
/// vigie-web's `access` module).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserRole {
    /// Everything, users and API keys included.
    Admin,
    /// Runs the numbers and pools; never sees a patient's phone.
    OpsManager,
    /// Supervises agents of their facilities.
    Supervisor,
    /// Places calls for their facilities.
    Agent,
    /// Reads the audit trail.
    Auditor,
}

impl UserRole {
    /// Every role, in the order the dashboard lists them.
    pub const ALL: [UserRole; 5] =
        [UserRole::Admin, UserRole::OpsManager, UserRole::Supervisor, UserRole::Agent, UserRole::Auditor];

    /// Parses a role's name.
    pub fn parse(text: &str) -> Result<UserRole, InvalidField> {
        UserRole::ALL
            .into_iter()
            .find(|r| r.as_str() == text)
            .ok_or_else(|| InvalidField::new("role", "must be one of: admin, ops_manager, supervisor, agent, auditor"))
    }

    /// The role's stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            UserRole::Admin => "admin",
            UserRole::OpsManager => "ops_manager",
            UserRole::Supervisor => "supervisor",
            UserRole::Agent => "agent",
            UserRole::Auditor => "auditor",
        }
    }

    /// Whether the role works for given facilities only: an agent or a supervisor
    /// without a facility would see nothing, so one is required.
    pub fn needs_facility(self) -> bool {
        matches!(self, UserRole::Agent | UserRole::Supervisor)
    }
}

/// A user to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// The sign-in name (1 to 64 characters, no spaces at either end).
    pub name: String,
    /// The role.
    pub role: UserRole,
    /// The facilities of the user's scope; none: every facility (not for agents and
    /// supervisors).
    pub facilities: Vec<FacilityId>,
}

/// A user as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Identity.
    pub id: i64,
    /// The sign-in name.
    pub name: String,
    /// The role.
    pub role: UserRole,
    /// The facilities of the scope; empty: every facility.
    pub facilities: Vec<FacilityId>,
    /// Failed sign-ins since the last success or lock-out.
    pub failed_sign_ins: u32,
    /// The end of the lock-out, if one was ever set.
    pub locked_until: Option<Timestamp>,
    /// When the user was created.
    pub created_at: Timestamp,
    /// When the user was disabled, if they are: no sign-in, no session.
    pub disabled_at: Option<Timestamp>,
}

impl User {
    /// Whether the user's scope covers the facility.
    pub fn covers(&self, facility: &FacilityId) -> bool {
        self.facilities.is_empty() || self.facilities.contains(facility)
    }
}

/// A signed-in browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The cookie's value (the store keeps only its hash). Empty when the session was
    /// read back from a cookie: the caller has the token.
    pub token: String,
    /// The token every form of the session must carry.
    pub csrf: String,
    /// Who.
    pub user: User,
    /// When it ends.
    pub expires_at: Timestamp,
}

/// What a sign-in attempt gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignIn {
    /// Signed in.
    Session(Session),
    /// Unknown name or wrong password (the answer does not say which).
    Refused,
    /// Too many failed sign-ins: refused until then, whatever the password.
    Locked {
        /// The lock-out's end.
        until: Timestamp,
    },
}

/// An API key as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// Identity.
    pub id: i64,
    /// Who or what holds it.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
}

/// A new random password: 20 characters of letters and digits (about 119 bits).
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut bytes = [0u8; 20];
    rand::rng().fill_bytes(&mut bytes);
    // 256 is not a multiple of 57: the first 28 letters are a little likelier, which
    // costs well under a bit of the 119.
    bytes.iter().map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()])).collect()
}

fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn hash_password(password: &str) -> Result<String, StoreError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| StoreError::Corrupt(format!("password salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Corrupt(format!("password hash: {e}")))
}

fn password_matches(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A hash no password matches, checked when the name is unknown so that a refusal
/// takes as long whether or not the user exists.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| hash_password(&random_hex()).unwrap_or_default())
}

/// Runs Argon2 off the async threads (each hash takes tens of milliseconds).
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| StoreError::Corrupt(format!("password task: {e}")))
}

fn check_new_user(user: &NewUser, password: &str) -> Result<(), InvalidField> {
    let chars = user.name.chars().count();
    if chars == 0 || chars > USER_NAME_CHARS_MAX || user.name.trim() != user.name {
        return Err(InvalidField::new("name", "must be 1 to 64 characters, without spaces at either end"));
    }
    if user.role.needs_facility() && user.facilities.is_empty() {
        return Err(InvalidField::new("facility", "agents and supervisors work for at least one facility"));
    }
    check_password(password)
}

fn check_password(password: &str) -> Result<(), InvalidField> {
    if password.chars().count() < PASSWORD_CHARS_MIN {
        return Err(InvalidField::new("password", format!("must be at least {PASSWORD_CHARS_MIN} characters")));
    }
    Ok(())
}

/// The Argon2id hash of a new password, checked first, computed off the async threads.
async fn new_password_hash(password: &str) -> Result<String, StoreError> {
    check_password(password)?;
    let password = password.to_owned();
    blocking(move || hash_password(&password)).await?
}

const USER_COLUMNS: &str = "SELECT id, name, role, failed_logins, locked_until, created_at, disabled_at FROM users";

impl Store {
    /// Creates a dashboard user with the password given (hashed with Argon2id).
    pub async fn create_user(&self, user: &NewUser, password: &str, actor: &str) -> Result<User, StoreError> {
        check_new_user(user, password)?;
        for f in &user.facilities {
            if self.facility(f).await?.is_none() {
                return Err(StoreError::Invalid(InvalidField::new("facility", format!("facility {f} does not exist"))));
            }
        }
        let hash = new_password_hash(password).await?;
        let backend = self.shared.backend;
        let now = self.now();
        let mut conn = self.shared.pool.acquire().await?;
        let mut tx = conn.begin_with(backend.begin_write()).await?;
        let id: i64 = sqlx::query(
            "INSERT INTO users (name, role, password_hash, failed_logins, created_at) VALUES ($1, $2, $3, 0, $4) RETURNING id",
        )
        .bind(user.name.as_str())
        .bind(user.role.as_str())
        .bind(hash)
        .bind(micros(now))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                StoreError::Conflict { field: "name", message: format!("the user {} exists already", user.name) }
            }
            other => other.into(),
        })?
        .get(0);
        for f in &user.facilities {
            sqlx::query("INSERT INTO user_facilities (user_id, facility) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(id)
                .bind(f.as_str())
                .execute(&mut *tx)
                .await?;
        }
        let scope: Vec<&str> = user.facilities.iter().map(FacilityId::as_str).collect();
        let detail = format!("role={} facilities={}", user.role.as_str(), scope.join(","));
        audit::append(
            &mut tx,
            backend,
            &[Entry::new(now, actor, "user.create", format!("user:{}", user.name), detail)],
        )
        .await?;
        tx.commit().await?;
        self.user(&user.name).await?.ok_or(StoreError::NotFound { what: "user", field: "name" })
    }

    /// One user by name.
    pub async fn user(&self, name: &str) -> Result<Option<User>, StoreError> {
        let sql = format!("{USER_COLUMNS} WHERE name = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(name).fetch_optional(&self.shared.pool).await?;
        match row {
            Some(r) => Ok(Some(self.user_row(&r).await?)),
            None => Ok(None),
        }
    }

    /// Every user, by name.
    pub async fn users(&self) -> Result<Vec<User>, StoreError> {
        let sql = format!("{USER_COLUMNS} ORDER BY name");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&self.shared.pool).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(self.user_row(r).await?);
        }
        Ok(out)
    }

    async fn user_row(&self, r: &sqlx::any::AnyRow) -> Result<User, StoreError> {
        let id: i64 = r.get(0);
        let facilities = sqlx::query("SELECT facility FROM user_facilities WHERE user_id = $1 ORDER BY facility")
            .bind(id)
            .fetch_all(&self.shared.pool)
            .await?
            .iter()
            .map(|f| FacilityId::parse(&f.get::<String, _>(0)).map_err(|e| StoreError::Corrupt(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(User {
            id,
            name: r.get(1),
            role: UserRole::parse(&r.get::<String, _>(2)).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            facilities,
            failed_sign_ins: u32::try_from(r.get::<i64, _>(3)).unwrap_or(u32::MAX),
            locked_until: r.get::<Option<i64>, _>(4).map(instant).transpose()?,
            created_at: instant(r.get(5))?,
            disabled_at: r.get::<Option<i64>, _>(6).map(instant).transpose()?,
        })
    }

    /// Checks a name and password. A success opens a session and clears the failed
    /// count; a failure counts, and the [`FAILED_SIGN_INS_MAX`]th in a row locks the
    /// user out for [`LOCKOUT`]. A locked-out user is refused without the password
    /// being checked.
    pub async fn sign_in(&self, name: &str, password: &str) -> Result<SignIn, StoreError> {
        let now = self.now();
        let name: String = name.chars().take(USER_NAME_CHARS_MAX).collect();
        let row = sqlx::query("SELECT id, password_hash, locked_until, disabled_at FROM users WHERE name = $1")
            .bind(name.as_str())
            .fetch_optional(&self.shared.pool)
            .await?;
        let subject = format!("user:{name}");
        let Some(row) = row else {
            let password = password.to_owned();
            blocking(move || password_matches(&password, decoy_hash())).await?;
            self.audit_one(Entry::new(now, &name, "user.sign_in_refused", subject, "unknown user")).await?;
            return Ok(SignIn::Refused);
        };
        let id: i64 = row.get(0);
        if row.get::<Option<i64>, _>(3).is_some() {
            // As long as a wrong password takes: the answer does not tell a disabled user.
            let password = password.to_owned();
            blocking(move || password_matches(&password, decoy_hash())).await?;
            self.audit_one(Entry::new(now, &name, "user.sign_in_refused", subject, "user disabled")).await?;
            return Ok(SignIn::Refused);
        }
        if let Some(until) = row.get::<Option<i64>, _>(2).map(instant).transpose()?
            && until > now
        {
            self.audit_one(Entry::new(now, &name, "user.sign_in_refused", subject, "locked out")).await?;
            return Ok(SignIn::Locked { until });
        }
        let (password, phc) = (password.to_owned(), row.get::<String, _>(1));
        let matches = blocking(move || password_matches(&password, &phc)).await?;
        let backend = self.shared.backend;
        let mut conn = self.shared.pool.acquire().await?;
        let mut tx = conn.begin_with(backend.begin_write()).await?;
        if !matches {
            let failed: i64 =
                sqlx::query("UPDATE users SET failed_logins = failed_logins + 1 WHERE id = $1 RETURNING failed_logins")
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?
                    .get(0);
            let locks = failed >= i64::from(FAILED_SIGN_INS_MAX);
            let mut entries = vec![Entry::new(
                now,
                &name,
                "user.sign_in_refused",
                subject.clone(),
                format!("wrong password, {failed} in a row"),
            )];
            let outcome = if locks {
                let until = now + LOCKOUT;
                sqlx::query("UPDATE users SET failed_logins = 0, locked_until = $1 WHERE id = $2")
                    .bind(micros(until))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                entries.push(Entry::new(now, &name, "user.locked", subject, format!("until {until}")));
                SignIn::Locked { until }
            } else {
                SignIn::Refused
            };
            audit::append(&mut tx, backend, &entries).await?;
            tx.commit().await?;
            return Ok(outcome);
        }
        sqlx::query("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let token = random_hex();
        let csrf = random_hex();
        let expires_at = now + SESSION_TTL;
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(hash_token(&token))
        .bind(id)
        .bind(csrf.as_str())
        .bind(micros(now))
        .bind(micros(expires_at))
        .execute(&mut *tx)
        .await?;
        // Sessions that ended go with each sign-in: the table holds live ones only.
        sqlx::query("DELETE FROM sessions WHERE expires_at <= $1").bind(micros(now)).execute(&mut *tx).await?;
        audit::append(&mut tx, backend, &[Entry::new(now, &name, "user.sign_in", subject, "session opened")]).await?;
        tx.commit().await?;
        let user = self.user(&name).await?.ok_or(StoreError::NotFound { what: "user", field: "name" })?;
        Ok(SignIn::Session(Session { token, csrf, user, expires_at }))
    }

    /// The live session of a cookie's token, if any.
    pub async fn session(&self, token: &str) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query(
            "SELECT u.name, s.csrf, s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.disabled_at IS NULL",
        )
        .bind(hash_token(token))
        .bind(micros(self.now()))
        .fetch_optional(&self.shared.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let Some(user) = self.user(&row.get::<String, _>(0)).await? else { return Ok(None) };
        Ok(Some(Session { token: String::new(), csrf: row.get(1), user, expires_at: instant(row.get(2))? }))
    }

    /// Ends a session.
    pub async fn sign_out(&self, token: &str) -> Result<(), StoreError> {
        let Some(session) = self.session(token).await? else { return Ok(()) };
        let backend = self.shared.backend;
        let now = self.now();
        let mut conn = self.shared.pool.acquire().await?;
        let mut tx = conn.begin_with(backend.begin_write()).await?;
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(hash_token(token)).execute(&mut *tx).await?;
        let name = session.user.name;
        let entry = Entry::new(now, &name, "user.sign_out", format!("user:{name}"), "session closed");
        audit::append(&mut tx, backend, &[entry]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every API key, newest first (names and roles; secrets are never stored).
    pub async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        sqlx::query("SELECT id, name, role, created_at, revoked_at FROM api_keys ORDER BY created_at DESC, id DESC")
            .fetch_all(&self.shared.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(ApiKeyRecord {
                    id: r.get(0),
                    name: r.get(1),
                    role: Role::parse(&r.get::<String, _>(2))
                        .ok_or_else(|| StoreError::Corrupt("unknown API key role".into()))?,
                    created_at: instant(r.get(3))?,
                    revoked_at: r.get::<Option<i64>, _>(4).map(instant).transpose()?,
                })
            })
            .collect()
    }

    /// Gives a user a new password (checked as at creation), lifts any lock-out and
    /// ends the user's sessions.
    pub async fn reset_password(&self, name: &str, password: &str, actor: &str) -> Result<(), StoreError> {
        let hash = new_password_hash(password).await?;
        let backend = self.shared.backend;
        let now = self.now();
        let mut conn = self.shared.pool.acquire().await?;
        let mut tx = conn.begin_with(backend.begin_write()).await?;
        let id: Option<i64> = sqlx::query(
            "UPDATE users SET password_hash = $1, failed_logins = 0, locked_until = NULL WHERE name = $2 RETURNING id",
        )
        .bind(hash)
        .bind(name)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.get(0));
        let id = id.ok_or(StoreError::NotFound { what: "user", field: "name" })?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
        let entry =
            Entry::new(now, actor, "user.password_reset", format!("user:{name}"), "lock-out lifted, sessions ended");
        audit::append(&mut tx, backend, &[entry]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Disables a user (refused at sign-in from now on, their sessions ended at once) or
    /// enables them again. The last enabled admin cannot be disabled: someone must be
    /// able to sign in and manage users.
    pub async fn set_user_enabled(&self, name: &str, enabled: bool, actor: &str) -> Result<User, StoreError> {
        let backend = self.shared.backend;
        let now = self.now();
        let mut conn = self.shared.pool.acquire().await?;
        let mut tx = conn.begin_with(backend.begin_write()).await?;
        let row = sqlx::query("SELECT id, role, disabled_at FROM users WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound { what: "user", field: "name" })?;
        let id: i64 = row.get(0);
        let disabled = row.get::<Option<i64>, _>(2).is_some();
        if disabled != enabled {
            let state = if enabled { "enabled" } else { "disabled" };
            return Err(StoreError::Conflict { field: "name", message: format!("the user is already {state}") });
        }
        if !enabled && row.get::<String, _>(1) == UserRole::Admin.as_str() {
            let admins: i64 =
                sqlx::query("SELECT COUNT(*) FROM users WHERE role = $1 AND disabled_at IS NULL AND id <> $2")
                    .bind(UserRole::Admin.as_str())
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?
                    .get(0);
            if admins == 0 {
                return Err(StoreError::Conflict {
                    field: "name",
                    message: "the last enabled admin cannot be disabled".into(),
                });
            }
        }
        sqlx::query("UPDATE users SET disabled_at = $1 WHERE id = $2")
            .bind((!enabled).then(|| micros(now)))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if !enabled {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
        }
        let (action, detail) =
            if enabled { ("user.enable", "may sign in again") } else { ("user.disable", "sessions ended") };
        audit::append(&mut tx, backend, &[Entry::new(now, actor, action, format!("user:{name}"), detail)]).await?;
        tx.commit().await?;
        self.user(name).await?.ok_or(StoreError::NotFound { what: "user", field: "name" })
    }

    /// Revokes an API key: refused at once by this process, within the minute by the
    /// others (they cache a key's answer for a minute). Revoking it again is a conflict.
    pub async fn revoke_key(&self, id: i64, actor: &str) -> Result<(), StoreError> {
        let backend = self.shared.backend;
        let now = self.now();
        let mut conn = self.shared.pool.acquire().await?;
        let mut tx = conn.begin_with(backend.begin_write()).await?;
        let name: Option<String> =
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL RETURNING name")
                .bind(micros(now))
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| r.get(0));
        let Some(name) = name else {
            let exists = sqlx::query("SELECT 1 FROM api_keys WHERE id = $1").bind(id).fetch_optional(&mut *tx).await?;
            return Err(match exists {
                Some(_) => StoreError::Conflict { field: "key", message: "the key is already revoked".into() },
                None => StoreError::NotFound { what: "API key", field: "key" },
            });
        };
        audit::append(&mut tx, backend, &[Entry::new(now, actor, "key.revoke", format!("key:{name}"), "revoked")])
            .await?;
        tx.commit().await?;
        if let Ok(mut cache) = self.shared.keys.lock() {
            cache.clear();
        }
        Ok(())
    }

    /// Records that the dashboard refused `actor` a look at patient data (`subject`, such
    /// as `call-id:42`): an attempt outside one's facilities is worth an auditor's eye.
    pub async fn audit_refusal(&self, actor: &str, subject: &str, detail: &str) -> Result<(), StoreError> {
        self.audit_one(Entry::new(self.now(), actor, "access.refused", subject, detail)).await
    }

    /// Appends one entry to the audit trail in a transaction of its own.
    async fn audit_one(&self, entry: Entry) -> Result<(), StoreError> {
        let backend = self.shared.backend;
        let mut conn = self.shared.pool.acquire().await?;
        let mut tx = conn.begin_with(backend.begin_write()).await?;
        audit::append(&mut tx, backend, &[entry]).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_argon2id_and_only_the_right_one_matches() {
        let phc = hash_password("correct horse battery").expect("hash");
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(password_matches("correct horse battery", &phc));
        assert!(!password_matches("correct horse batterY", &phc));
        assert!(!password_matches("correct horse battery", decoy_hash()));
    }

    #[test]
    fn generated_passwords_are_long_and_differ() {
        let (a, b) = (generate_password(), generate_password());
        assert_eq!(a.chars().count(), 20);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }

    #[test]
    fn new_users_are_checked() {
        let f = FacilityId::parse("chu-nantes").expect("facility");
        let ok = NewUser { name: "alice".into(), role: UserRole::Agent, facilities: vec![f] };
        assert!(check_new_user(&ok, "long enough pw").is_ok());
        let field = |u: &NewUser, pw: &str| check_new_user(u, pw).err().map(|e| e.field);
        assert_eq!(field(&ok, "short"), Some("password"));
        assert_eq!(field(&NewUser { facilities: vec![], ..ok.clone() }, "long enough pw"), Some("facility"));
        assert_eq!(field(&NewUser { name: " alice".into(), ..ok.clone() }, "long enough pw"), Some("name"));
        let ops = NewUser { role: UserRole::OpsManager, facilities: vec![], ..ok };
        assert!(check_new_user(&ops, "long enough pw").is_ok());
        for role in UserRole::ALL {
            assert_eq!(UserRole::parse(role.as_str()), Ok(role));
        }
        assert!(UserRole::parse("dialer").is_err());
    }
}
