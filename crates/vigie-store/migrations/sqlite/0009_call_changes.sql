-- Calls cancelled or rescheduled by the dialer, and SMS found by their patient's phone.
-- A cancelled call keeps its row (what was planned stays traceable to its purpose) but no
-- longer counts against its number's cap, nor as an attempt under the calling rules.
-- sms.phone_hash is the keyed hash of the patient's phone (the opt-out hash): a patient's
-- STOP finds the calls it ends through it, since the phone itself is sealed with a random
-- nonce and cannot be searched.
ALTER TABLE calls ADD COLUMN cancelled_at BIGINT;
ALTER TABLE calls ADD COLUMN cancel_reason TEXT;
ALTER TABLE sms ADD COLUMN phone_hash TEXT;
CREATE INDEX sms_phone ON sms(phone_hash);
