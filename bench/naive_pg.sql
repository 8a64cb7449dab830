-- pgbench script: the PostgreSQL baseline of issue 2, one SQL transaction per call.
-- Pick the least used number of the call's pool on the call's day that is under the
-- cap (80) and not locked by another transaction, count the call, store the call.
-- Schema: bench/naive_pg_setup.sql. Run by bench/run.sh as
--   pgbench -n -M prepared -f bench/naive_pg.sql -T 10 -c 64 -j 2 DB
\set r random(1, 100)
\set pool CASE WHEN :r <= 40 THEN 1 WHEN :r <= 65 THEN 2 WHEN :r <= 85 THEN 3 ELSE 4 END
\set day random(0, 12)
\set patient random(1, 1000000)
\set phone random(10000000, 99999999)
\set ahead random(60, 1123200)
BEGIN;
SELECT number_id AS id FROM bench.number_days WHERE pool = :pool AND day = :day AND calls < 80 ORDER BY calls LIMIT 1 FOR UPDATE SKIP LOCKED \gset
UPDATE bench.number_days SET calls = calls + 1 WHERE number_id = :id AND day = :day;
INSERT INTO bench.calls (call_ref, pool, number_id, day, patient_ref, patient_phone, dial_at) VALUES ('naive-' || nextval('bench.call_ref_seq'), :pool, :id, :day, 'patient-' || :patient, convert_to('+336' || :phone, 'UTF8'), now() + :ahead * interval '1 second');
COMMIT;
