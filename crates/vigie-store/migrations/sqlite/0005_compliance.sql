-- Compliance (SQLite). Each call records the class of its purpose (NULL for calls stored
-- before this migration: they were not classed) so that solicitation attempts per patient
-- and facility can be counted, and the instant the patient refused solicitation during it
-- (the 60-day cooldown starts there). Numbers record their identity with the carrier and
-- the reverse directory. The consent register and the Bloctel opposition list, whose
-- numbers are stored only as keyed hashes, serve the solicitation rules.
ALTER TABLE calls ADD COLUMN class TEXT;
ALTER TABLE calls ADD COLUMN refused_at BIGINT;
ALTER TABLE numbers ADD COLUMN cnam_registered_at BIGINT;
ALTER TABLE numbers ADD COLUMN directory_listed_at BIGINT;
ALTER TABLE numbers ADD COLUMN directory_name TEXT;
ALTER TABLE numbers ADD COLUMN man_authenticated BIGINT NOT NULL DEFAULT 0;
CREATE TABLE consents (
    id INTEGER PRIMARY KEY,
    patient_ref TEXT NOT NULL,
    facility TEXT NOT NULL REFERENCES facilities(id),
    given_at BIGINT NOT NULL,
    wording TEXT NOT NULL,
    method TEXT NOT NULL,
    proof TEXT NOT NULL,
    withdrawn_at BIGINT,
    recorded_at BIGINT NOT NULL,
    recorded_by TEXT NOT NULL
);
CREATE INDEX consents_patient ON consents(patient_ref);
CREATE TABLE bloctel_list (
    id BIGINT PRIMARY KEY,
    file_date TEXT NOT NULL,
    imported_at BIGINT NOT NULL,
    numbers BIGINT NOT NULL
);
CREATE TABLE bloctel_numbers (
    hash TEXT PRIMARY KEY
);
