-- Nothing changes on SQLite: one writer, which decides every batch under its lock
-- (PostgreSQL adds vigie_expect_head in its 0017).
SELECT 1;
