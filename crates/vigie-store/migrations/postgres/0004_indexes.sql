-- Only the per-number index on calls is used (reassignment of a quarantined number's
-- calls); the per-pool one cost a page write per allocation for no reader.
DROP INDEX calls_pool_dial;
