-- No index on calls(patient_ref) on SQLite. The pseudonym is random by design, so the
-- index put every new call on a leaf page of its own: more than half of the pages each
-- commit wrote. The store keeps every patient's call ids in memory instead (read from
-- this table at start, caught up at each write; see src/patients.rs), and its queries
-- by patient read those calls by id and compare patient_ref themselves.
DROP INDEX calls_patient;
-- The retention purge matches consents with the solicitation calls of their patient and
-- facility, across all consents at once: a partial index serves it, paid only by
-- solicitation calls (its condition is the list of `solicitation_classes_sql`, which a
-- test keeps equal).
CREATE INDEX calls_patient_solicitation ON calls(patient_ref, facility)
    WHERE class IN ('survey_with_promotion', 'commercial');
