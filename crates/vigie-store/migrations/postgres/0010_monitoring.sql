-- Reputation monitoring (postgres). alerts: what monitoring raised (a number's reports, a fall in
-- answer rate, an external flag, a failing source…), with its evidence and the action
-- taken, deduplicated by key; notified_at once a channel took it, acknowledged_at/by once
-- someone did. incidents: opened when a number is quarantined, with the crisis playbook's
-- steps (incident_steps: deadline, who did it, when); closed when the number returns to
-- service after a cool-down and a clean check, or is retired with its replacement cost.
-- reputation: each number's score over time, with its reasons. source_readings: what the
-- external sources said, for evidence and the clean check. monitor_cursor: how far the
-- monitor read call outcomes (outcome_at, id), so that a restart resumes.
CREATE TABLE alerts (
    id BIGSERIAL PRIMARY KEY,
    dedup_key TEXT NOT NULL,
    signal TEXT NOT NULL,
    severity TEXT NOT NULL,
    number_id BIGINT REFERENCES numbers(id),
    pool TEXT,
    evidence TEXT NOT NULL,
    action TEXT NOT NULL,
    raised_at BIGINT NOT NULL,
    repeats BIGINT NOT NULL DEFAULT 0,
    last_seen_at BIGINT NOT NULL,
    suppressed TEXT,
    notified_at BIGINT,
    notify_attempts BIGINT NOT NULL DEFAULT 0,
    notify_error TEXT,
    acknowledged_at BIGINT,
    acknowledged_by TEXT
);
CREATE INDEX alerts_key ON alerts(dedup_key, raised_at);
CREATE INDEX alerts_raised ON alerts(raised_at);
CREATE TABLE incidents (
    id BIGSERIAL PRIMARY KEY,
    number_id BIGINT NOT NULL REFERENCES numbers(id),
    pool TEXT NOT NULL,
    trigger_signal TEXT NOT NULL,
    reason TEXT NOT NULL,
    opened_at BIGINT NOT NULL,
    first_evidence_at BIGINT NOT NULL,
    closed_at BIGINT,
    closed_by TEXT,
    resolution TEXT,
    replacement_cost_cents BIGINT
);
CREATE INDEX incidents_number ON incidents(number_id, opened_at);
CREATE INDEX incidents_opened ON incidents(opened_at);
CREATE TABLE incident_steps (
    incident_id BIGINT NOT NULL REFERENCES incidents(id),
    step TEXT NOT NULL,
    deadline_at BIGINT NOT NULL,
    done_at BIGINT,
    done_by TEXT,
    note TEXT,
    PRIMARY KEY (incident_id, step)
);
CREATE TABLE reputation (
    number_id BIGINT NOT NULL REFERENCES numbers(id),
    at BIGINT NOT NULL,
    score BIGINT NOT NULL,
    reasons TEXT NOT NULL,
    PRIMARY KEY (number_id, at)
);
CREATE TABLE source_readings (
    id BIGSERIAL PRIMARY KEY,
    source TEXT NOT NULL,
    kind TEXT NOT NULL,
    number_id BIGINT NOT NULL REFERENCES numbers(id),
    at BIGINT NOT NULL,
    score DOUBLE PRECISION,
    flagged BIGINT NOT NULL,
    label TEXT,
    excerpt TEXT NOT NULL
);
CREATE INDEX source_readings_number ON source_readings(number_id, at);
CREATE TABLE monitor_cursor (
    id BIGINT PRIMARY KEY,
    outcome_at BIGINT NOT NULL,
    call_id BIGINT NOT NULL
);
-- Partial: an allocation (outcome_at still NULL) writes nothing to it.
CREATE INDEX calls_outcome ON calls(outcome_at, id) WHERE outcome_at IS NOT NULL;
