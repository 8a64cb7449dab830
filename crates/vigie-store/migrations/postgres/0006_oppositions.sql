-- Erasure and the calling rules (PostgreSQL). Erasing a patient (Art. 17) cuts their calls from them
-- and removes their consent records; what the calling rules must go on honouring is kept in
-- `oppositions`, under the same pseudonym, with no phone and no wording: the instants of their
-- solicitation attempts (the 30-day window) and refusals (the 60-day cooldown), and the end of
-- their consents (an opposition), each with the facility and, for calls, the purpose class.
-- Each consent records the last solicitation call to its patient for its facility, from which its
-- retention runs.
CREATE TABLE oppositions (
    id BIGSERIAL PRIMARY KEY,
    patient_ref TEXT NOT NULL,
    facility TEXT NOT NULL,
    kind TEXT NOT NULL,
    class TEXT,
    at BIGINT NOT NULL
);
CREATE INDEX oppositions_patient ON oppositions(patient_ref);
ALTER TABLE consents ADD COLUMN last_used_at BIGINT;
