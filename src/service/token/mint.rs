//! Building tokens: RFC 9068 access tokens, OpenID Connect ID tokens and
//! opaque refresh tokens. Nothing here writes to the store; callers record
//! what they issue in the same transaction as the state change it belongs to.

use serde_json::{Map, Value, json};

use crate::crypto::{jwt, random};
use crate::service::clients::Client;
use crate::service::scope::Scope;
use crate::service::{Provider, Result};
use crate::storage::grants::{AccessTokenRecord, GrantRecord};
use crate::storage::refresh::RefreshRecord;

/// The prefix that makes a leaked refresh token findable by secret scanners.
pub const REFRESH_PREFIX: &str = "pcr_";

/// A signed access token and the row that makes it revocable.
pub struct AccessToken {
    pub token: String,
    pub record: AccessTokenRecord,
    pub expires_in: i64,
}

/// An RFC 9068 access token. It carries only these claims: no secret, no
/// password-derived value, nothing about the user beyond `sub`.
pub fn access_token(
    p: &Provider,
    client: &Client,
    sub: &str,
    scope: &Scope,
    grant_id: Option<&str>,
) -> Result<AccessToken> {
    UnsignedAccess::new(client, sub, scope, grant_id, p.now(), access_ttl(p, client)).sign(p)
}

/// The access-token lifetime for this client.
pub fn access_ttl(p: &Provider, client: &Client) -> i64 {
    client
        .access_token_ttl
        .unwrap_or(p.config.tokens.access_token_ttl_secs)
}

/// An access token decided but not yet signed: its row can be written
/// first, and the signature made from exactly what was written.
pub struct UnsignedAccess {
    pub record: AccessTokenRecord,
    sub: String,
    scope: String,
    issued_at: i64,
}

impl UnsignedAccess {
    pub fn new(
        client: &Client,
        sub: &str,
        scope: &Scope,
        grant_id: Option<&str>,
        now: i64,
        ttl: i64,
    ) -> Self {
        Self {
            record: AccessTokenRecord {
                jti: random::ordered_id(),
                grant_id: grant_id.map(str::to_owned),
                client_id: client.id.to_string(),
                expires_at: now + ttl,
                revoked_at: None,
            },
            sub: sub.to_owned(),
            scope: scope.to_string(),
            issued_at: now,
        }
    }

    pub fn sign(self, p: &Provider) -> Result<AccessToken> {
        let claims = json!({
            "iss": p.config.issuer,
            "sub": self.sub,
            "aud": p.config.issuer,
            "exp": self.record.expires_at,
            "iat": self.issued_at,
            "jti": self.record.jti,
            "client_id": self.record.client_id,
            "scope": self.scope,
        });
        let token = jwt::sign(
            &p.keys.ring(),
            p.config.tokens.access_token_alg,
            "at+jwt",
            as_map(claims),
        )?;
        Ok(AccessToken {
            token,
            expires_in: self.record.expires_at - self.issued_at,
            record: self.record,
        })
    }
}

/// An ID token (OpenID Connect Core 2) for the grant's user and session.
/// `nonce` only on the first issue; refreshed ID tokens carry none (12.2).
pub fn id_token(
    p: &Provider,
    grant: &GrantRecord,
    nonce: Option<&str>,
    access_token: &str,
) -> Result<String> {
    let now = p.now();
    let mut claims = as_map(json!({
        "iss": p.config.issuer,
        "sub": grant.user_id,
        "aud": grant.client_id,
        "exp": now + p.config.tokens.id_token_ttl_secs,
        "iat": now,
        "auth_time": grant.auth_time,
        "at_hash": random::left_half_hash(access_token),
    }));
    if let Some(sid) = &grant.session_id {
        claims.insert("sid".into(), Value::String(sid.clone()));
    }
    if let Some(nonce) = nonce {
        claims.insert("nonce".into(), Value::String(nonce.to_owned()));
    }
    Ok(jwt::sign(
        &p.keys.ring(),
        p.config.tokens.id_token_alg,
        "JWT",
        claims,
    )?)
}

/// Whether this authorization earns a refresh token: the client may use the
/// grant and the user granted offline_access, or a first-party client is
/// configured to receive one without it.
pub fn wants_refresh_token(client: &Client, scope: &Scope) -> bool {
    client.allows_grant(crate::service::clients::GRANT_REFRESH_TOKEN)
        && (scope.contains("offline_access")
            || (client.first_party && client.refresh_without_offline_access))
}

/// The absolute end of a family that starts now.
pub fn family_expiry(p: &Provider, client: &Client) -> i64 {
    p.now()
        + client
            .refresh_absolute_ttl
            .unwrap_or(p.config.tokens.refresh_token_absolute_ttl_secs)
}

/// A fresh refresh token of the family: 256 random bits with our prefix,
/// stored only as its SHA-256. Expires after the idle lifetime, and never
/// later than the family.
pub fn refresh_token(
    p: &Provider,
    client: &Client,
    grant_id: &str,
    family_expires_at: i64,
) -> (String, RefreshRecord) {
    let idle = client
        .refresh_idle_ttl
        .unwrap_or(p.config.tokens.refresh_token_idle_ttl_secs);
    refresh_record(client, grant_id, p.now(), idle, family_expires_at)
}

/// [`refresh_token`] with the time and idle lifetime given.
pub fn refresh_record(
    client: &Client,
    grant_id: &str,
    now: i64,
    idle: i64,
    family_expires_at: i64,
) -> (String, RefreshRecord) {
    let token = random::prefixed_secret(REFRESH_PREFIX);
    let record = RefreshRecord {
        token_hash: random::sha256_hex(&token),
        id: random::ordered_id(),
        grant_id: grant_id.to_owned(),
        client_id: client.id.to_string(),
        created_at: now,
        expires_at: (now + idle).min(family_expires_at),
        retired_at: None,
        grace_used: false,
    };
    (token, record)
}

fn as_map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}
