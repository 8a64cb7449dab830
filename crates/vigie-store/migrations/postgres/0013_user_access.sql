-- A dashboard user can be disabled (a leaver, a lost laptop): refused at sign-in, their
-- sessions ended; the row stays, so that the audit trail's names keep their meaning.
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
