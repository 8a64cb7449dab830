-- The dashboard's people (postgres). users: a person who signs in to the dashboard, with a role
-- (admin, ops_manager, supervisor, agent, auditor), an Argon2id password hash (PHC text),
-- failed sign-ins since the last success and the lock-out's end. user_facilities: the
-- facilities a user's scope covers (none: every facility, for the roles that may have
-- that). sessions: a signed-in browser; the cookie's token is stored only as its SHA-256,
-- beside the session's CSRF token and its expiry.
CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    failed_logins BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT,
    created_at BIGINT NOT NULL
);
CREATE TABLE user_facilities (
    user_id BIGINT NOT NULL REFERENCES users(id),
    facility TEXT NOT NULL REFERENCES facilities(id),
    PRIMARY KEY (user_id, facility)
);
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id),
    csrf TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);
