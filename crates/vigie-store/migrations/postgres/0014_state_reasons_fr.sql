-- A number's state reasons in French beside English, as alerts and incidents have
-- (0012): the engine's reasons (reports, rests, promotions, monitoring) are written in
-- both; an operator's reason is kept as typed in both. Older rows have English only.
ALTER TABLE numbers ADD COLUMN status_reason_fr TEXT;
ALTER TABLE number_events ADD COLUMN reason_fr TEXT;
