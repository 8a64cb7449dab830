-- Fewer index pages written per allocation (PostgreSQL). A quarantined number's calls
-- still to dial are found through the creation instant (always appended at the end of
-- the index; a call is dialled at most the dial window's max_ahead after it was created)
-- instead of an index on (number, dial_at), whose insertion point is random. The per-day
-- counters keep their key: PostgreSQL updates them in place (HOT) without touching it.
DROP INDEX calls_number_dial;
CREATE INDEX calls_created ON calls(created_at);
-- The number that last called a patient for a pool is read from the patient's latest
-- call there (through the index on calls(patient_ref) that export and erasure use), so
-- the affinities table, a random-key page per allocation, goes.
DROP TABLE affinities;
