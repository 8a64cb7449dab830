-- Fewer pages written per allocation (SQLite). A committed allocation writes every page it
-- dirtied to the WAL, so an index whose key is random costs a whole page per allocation.
-- The per-day counters are keyed by (day, number) without a rowid, so that a batch's
-- counters for one day share pages. A quarantined number's calls still to dial are found
-- through the creation instant (always appended at the end of the index; a call is
-- dialled at most the dial window's max_ahead after it was created) instead of an index
-- on (number, dial_at), whose insertion point is random.
CREATE TABLE number_days_by_day (
    number_id BIGINT NOT NULL REFERENCES numbers(id),
    day TEXT NOT NULL,
    calls BIGINT NOT NULL,
    last_dial_at BIGINT NOT NULL,
    PRIMARY KEY (day, number_id)
) WITHOUT ROWID;
INSERT INTO number_days_by_day (number_id, day, calls, last_dial_at)
    SELECT number_id, day, calls, last_dial_at FROM number_days;
DROP TABLE number_days;
ALTER TABLE number_days_by_day RENAME TO number_days;
DROP INDEX calls_number_dial;
CREATE INDEX calls_created ON calls(created_at);
-- The number that last called a patient for a pool is read from the patient's latest
-- call there (through the index on calls(patient_ref) that export and erasure use), so
-- the affinities table, a random-key page per allocation, goes.
DROP TABLE affinities;
