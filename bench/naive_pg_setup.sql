-- Schema for the PostgreSQL baseline (bench/naive_pg.sql): the same inventory as the
-- Vigie run (:numbers numbers in pools 1-4 = A-D in the seed's mix, :a/:b/:c/:d each),
-- one counter row per number and local day for the 13 days the calls are spread over.
-- psql -v numbers=600 -v a=240 -v b=150 -v c=120 -v d=90 -f bench/naive_pg_setup.sql
\set ON_ERROR_STOP on
DROP SCHEMA IF EXISTS bench CASCADE;
CREATE SCHEMA bench;
CREATE TABLE bench.numbers (
    id INT PRIMARY KEY,
    pool INT NOT NULL,
    e164 TEXT NOT NULL UNIQUE
);
CREATE TABLE bench.number_days (
    number_id INT NOT NULL REFERENCES bench.numbers(id),
    pool INT NOT NULL,
    day INT NOT NULL,
    calls INT NOT NULL DEFAULT 0,
    PRIMARY KEY (number_id, day)
);
-- The naive allocator's one index: the least used number of a pool on a day.
CREATE INDEX number_days_pick ON bench.number_days (pool, day, calls);
CREATE SEQUENCE bench.call_ref_seq;
CREATE TABLE bench.calls (
    id BIGSERIAL PRIMARY KEY,
    call_ref TEXT NOT NULL UNIQUE,
    pool INT NOT NULL,
    number_id INT NOT NULL REFERENCES bench.numbers(id),
    day INT NOT NULL,
    patient_ref TEXT NOT NULL,
    patient_phone BYTEA NOT NULL,
    dial_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO bench.numbers (id, pool, e164)
SELECT i,
       CASE WHEN i <= :a THEN 1 WHEN i <= :a + :b THEN 2 WHEN i <= :a + :b + :c THEN 3 ELSE 4 END,
       '+339' || (87000000 + i)
FROM generate_series(1, :numbers) AS i;
INSERT INTO bench.number_days (number_id, pool, day)
SELECT n.id, n.pool, d FROM bench.numbers n, generate_series(0, 12) AS d;
ANALYZE bench.numbers;
ANALYZE bench.number_days;
