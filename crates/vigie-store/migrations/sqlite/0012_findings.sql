-- What monitoring found, in French beside English: an alert's evidence and an
-- incident's reason are written in both when they are raised (vigie-core's Finding),
-- so that a French team reads French. Rows from before keep their English text only.
ALTER TABLE alerts ADD COLUMN evidence_fr TEXT;
ALTER TABLE incidents ADD COLUMN reason_fr TEXT;
