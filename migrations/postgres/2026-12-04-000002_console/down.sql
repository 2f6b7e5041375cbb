DROP TABLE audit_events;
ALTER TABLE signing_keys DROP COLUMN retires_at;
ALTER TABLE signing_keys DROP COLUMN activates_at;
ALTER TABLE refresh_tokens DROP COLUMN grace_used;
