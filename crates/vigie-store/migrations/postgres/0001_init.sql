-- Vigie schema, PostgreSQL. Instants are UTC microseconds since the Unix epoch (BIGINT);
-- local days are 'YYYY-MM-DD' in the centre's time zone (Europe/Paris).
CREATE TABLE facilities (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    display_name TEXT NOT NULL,
    city TEXT NOT NULL,
    callback TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE pools (
    code TEXT PRIMARY KEY,
    version BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE numbers (
    id BIGSERIAL PRIMARY KEY,
    e164 TEXT NOT NULL UNIQUE,
    pool TEXT NOT NULL REFERENCES pools(code),
    facility TEXT REFERENCES facilities(id),
    display_name TEXT NOT NULL,
    callback TEXT NOT NULL,
    category TEXT NOT NULL,
    zone BIGINT,
    status TEXT NOT NULL,
    status_since BIGINT NOT NULL,
    status_reason TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX numbers_pool ON numbers(pool);
CREATE TABLE number_events (
    id BIGSERIAL PRIMARY KEY,
    number_id BIGINT NOT NULL REFERENCES numbers(id),
    at BIGINT NOT NULL,
    state TEXT NOT NULL,
    pool TEXT NOT NULL,
    until_at BIGINT,
    reason TEXT NOT NULL,
    actor TEXT NOT NULL
);
CREATE INDEX number_events_number ON number_events(number_id, at);
CREATE TABLE rests (
    number_id BIGINT NOT NULL REFERENCES numbers(id),
    from_at BIGINT NOT NULL,
    until_at BIGINT NOT NULL,
    PRIMARY KEY (number_id, from_at)
);
CREATE TABLE number_days (
    number_id BIGINT NOT NULL REFERENCES numbers(id),
    day TEXT NOT NULL,
    calls BIGINT NOT NULL,
    last_dial_at BIGINT NOT NULL,
    PRIMARY KEY (number_id, day)
);
CREATE TABLE pool_days (
    pool TEXT NOT NULL,
    day TEXT NOT NULL,
    calls BIGINT NOT NULL,
    PRIMARY KEY (pool, day)
);
CREATE TABLE calls (
    id BIGSERIAL PRIMARY KEY,
    call_ref TEXT NOT NULL UNIQUE,
    facility TEXT NOT NULL REFERENCES facilities(id),
    purpose TEXT NOT NULL,
    pool TEXT NOT NULL,
    patient_ref TEXT NOT NULL,
    patient_phone BYTEA NOT NULL,
    patient_zone BIGINT,
    dial_at BIGINT NOT NULL,
    number_id BIGINT REFERENCES numbers(id),
    created_at BIGINT NOT NULL,
    reassigned_at BIGINT,
    outcome TEXT,
    duration_s BIGINT,
    ended_at BIGINT,
    ring_s BIGINT,
    sip_code BIGINT,
    agent_note TEXT,
    outcome_at BIGINT
);
CREATE INDEX calls_number_dial ON calls(number_id, dial_at);
CREATE INDEX calls_pool_dial ON calls(pool, dial_at);
CREATE TABLE affinities (
    pool TEXT NOT NULL,
    patient_ref TEXT NOT NULL,
    number_id BIGINT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (pool, patient_ref)
);
CREATE TABLE reports (
    id BIGSERIAL PRIMARY KEY,
    number_id BIGINT NOT NULL REFERENCES numbers(id),
    source TEXT NOT NULL,
    reported_at BIGINT NOT NULL,
    day TEXT NOT NULL,
    detail TEXT NOT NULL,
    call_id BIGINT,
    received_at BIGINT NOT NULL
);
CREATE INDEX reports_number_day ON reports(number_id, day);
CREATE TABLE api_keys (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE TABLE access_log (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    call_id BIGINT NOT NULL,
    what TEXT NOT NULL
);
