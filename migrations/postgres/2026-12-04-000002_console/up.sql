-- Signing-key rotation: a new key is published first and becomes the signer
-- at activates_at; an old key stays published until retires_at.
ALTER TABLE signing_keys ADD COLUMN activates_at BIGINT;
ALTER TABLE signing_keys ADD COLUMN retires_at BIGINT;

-- A retired refresh token may be presented once more inside the grace
-- window; this records that it was.
ALTER TABLE refresh_tokens ADD COLUMN grace_used BOOLEAN NOT NULL DEFAULT FALSE;

-- Security events, for the admin console. Never holds a secret.
CREATE TABLE audit_events (
    id TEXT PRIMARY KEY NOT NULL,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    outcome TEXT NOT NULL,
    actor_user_id TEXT,
    subject_user_id TEXT,
    client_id TEXT,
    source_ip TEXT,
    detail TEXT
);
CREATE INDEX audit_events_at ON audit_events(at);
CREATE INDEX audit_events_subject ON audit_events(subject_user_id);
CREATE INDEX audit_events_client ON audit_events(client_id);
