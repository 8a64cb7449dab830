-- Pre-call SMS (postgres). One row per announced call: when it goes, from whom, its text (the
-- facility's name, the date and time of the call and numbers; never medical content, never
-- the patient's phone, which stays sealed on the call), its encoding and segments (its
-- cost), and where it is in its life. claimed_at/claimed_by mark an SMS a dispatcher took
-- to submit: an SMS is submitted at most once, so a claim that never got its provider's
-- answer (the process died) ends as failed, not resent. sms_messages maps each provider
-- message id (one per segment) to its SMS, for receipts. sms_optouts holds the patients who
-- replied STOP, as keyed hashes of their numbers.
CREATE TABLE sms (
    id BIGSERIAL PRIMARY KEY,
    call_id BIGINT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    facility TEXT NOT NULL,
    purpose TEXT NOT NULL,
    status TEXT NOT NULL,
    planned_at BIGINT NOT NULL,
    send_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    sender TEXT NOT NULL,
    text TEXT NOT NULL,
    encoding TEXT NOT NULL,
    segments BIGINT NOT NULL,
    claimed_at BIGINT,
    claimed_by TEXT,
    provider TEXT,
    submitted_at BIGINT,
    final_at BIGINT,
    error TEXT
);
CREATE INDEX sms_due ON sms(status, send_at);
CREATE INDEX sms_call ON sms(call_id);
CREATE TABLE sms_messages (
    provider TEXT NOT NULL,
    message_id TEXT NOT NULL,
    sms_id BIGINT NOT NULL REFERENCES sms(id) ON DELETE CASCADE,
    PRIMARY KEY (provider, message_id)
);
CREATE TABLE sms_optouts (
    hash TEXT PRIMARY KEY,
    at BIGINT NOT NULL,
    source TEXT NOT NULL
);
