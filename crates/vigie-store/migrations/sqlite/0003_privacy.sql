-- Data protection (SQLite). Each call records the GDPR Art. 9(2) basis of its processing (NULL
-- for calls stored before this migration: their basis was not recorded). Export and
-- erasure find a patient's calls by pseudonym. After a retention purge the audit chain
-- starts at an anchor: the first entry kept and the hash it follows. The fingerprint of
-- the pseudonym key refuses a server started with another key.
ALTER TABLE calls ADD COLUMN legal_basis TEXT;
CREATE INDEX calls_patient ON calls(patient_ref);
CREATE TABLE audit_anchor (
    id BIGINT PRIMARY KEY,
    seq BIGINT NOT NULL,
    prev_hash TEXT NOT NULL
);
INSERT INTO audit_anchor (id, seq, prev_hash) VALUES (1, 1, 'genesis');
CREATE TABLE privacy_keys (
    name TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
