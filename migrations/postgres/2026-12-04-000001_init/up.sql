-- Times are Unix seconds (BIGINT), the same as in the SQLite schema.

CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    email TEXT,
    email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    name TEXT,
    is_admin BOOLEAN NOT NULL DEFAULT FALSE,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE clients (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    -- SHA-256 of the secret, hex; NULL for public clients.
    secret_hash TEXT,
    first_party BOOLEAN NOT NULL DEFAULT FALSE,
    -- JSON arrays of strings.
    redirect_uris TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]',
    -- Space-separated, as in OAuth scope strings.
    allowed_scopes TEXT NOT NULL,
    grant_types TEXT NOT NULL,
    -- First-party clients may get refresh tokens without offline_access.
    refresh_without_offline_access BOOLEAN NOT NULL DEFAULT FALSE,
    -- Per-client overrides of the configured lifetimes (NULL: default).
    access_token_ttl_secs BIGINT,
    refresh_absolute_ttl_secs BIGINT,
    refresh_idle_ttl_secs BIGINT,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL
);

-- Browser login sessions. The cookie carries a secret whose SHA-256 is kept
-- here; `id` is the public session identifier that goes into ID tokens (sid).
CREATE TABLE login_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    auth_time BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX login_sessions_user ON login_sessions(user_id);

-- Validated authorization requests waiting for login or consent.
CREATE TABLE pending_requests (
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    redirect_uri TEXT NOT NULL,
    scope TEXT NOT NULL,
    state TEXT,
    nonce TEXT,
    code_challenge TEXT,
    response_mode TEXT NOT NULL,
    prompt TEXT,
    max_age BIGINT,
    login_hint TEXT,
    -- The session that logged in while this request waited, so prompt=login
    -- and a mismatched login_hint are satisfied exactly once.
    authenticated_session_id TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE consents (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

-- A grant is what one authorization produced: the code and every token
-- issued from it. Revoking the grant revokes them all.
CREATE TABLE grants (
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
    session_id TEXT,
    scope TEXT NOT NULL,
    auth_time BIGINT,
    created_at BIGINT NOT NULL,
    -- Absolute end of the refresh-token family; NULL when it has none.
    expires_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX grants_user ON grants(user_id);

-- Refresh tokens: one row per token of a family (grant); only the SHA-256
-- of the token is kept. A retired token has been rotated away; presenting it
-- again is reuse.
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    id TEXT NOT NULL UNIQUE,
    grant_id TEXT NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    retired_at BIGINT
);
CREATE INDEX refresh_tokens_grant ON refresh_tokens(grant_id);

CREATE TABLE authorization_codes (
    code_hash TEXT PRIMARY KEY NOT NULL,
    grant_id TEXT NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
    redirect_uri TEXT NOT NULL,
    nonce TEXT,
    code_challenge TEXT,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);

-- Every access token issued, so that revocation and introspection can
-- answer for a JWT that is still inside its exp.
CREATE TABLE access_tokens (
    jti TEXT PRIMARY KEY NOT NULL,
    grant_id TEXT REFERENCES grants(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX access_tokens_grant ON access_tokens(grant_id);

CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    alg TEXT NOT NULL,
    -- Private key, PKCS#8 DER, base64.
    private_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE
);

-- Installation-wide secrets (the CSRF MAC key), shared by every instance.
CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
