-- Nothing changes on PostgreSQL: several server processes write there, none of them
-- sees all the calls in memory, so the index on calls(patient_ref) stays. (SQLite drops
-- it in its own 0015.)
SELECT 1;
