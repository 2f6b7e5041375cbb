//! The token endpoint (RFC 6749 4.1.3-4.1.4 and 5; RFC 7636 4.6; OpenID
//! Connect Core 3.1.3) and the minting of access tokens (RFC 9068) and ID
//! tokens.

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::clients::{self, Client, ClientCredentials, GRANT_AUTHORIZATION_CODE};
use super::params::Params;
use super::scope::Scope;
use super::{ErrorCode, OAuthError, Provider, Result};
use crate::crypto::{jwt, random};
use crate::secret::ct_eq;
use crate::storage::grants::{AccessTokenRecord, CodeRecord, GrantRecord};

/// The successful token response. Deliberately not `Debug`: it holds tokens.
#[derive(Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// POST /token: authenticates the client, then runs the grant.
pub fn exchange(p: &Provider, creds: &ClientCredentials, params: &Params) -> Result<TokenResponse> {
    params.reject_repeated()?;
    let grant_type = params.require("grant_type")?;
    let client = clients::authenticate(&p.store, creds)?;
    match grant_type {
        GRANT_AUTHORIZATION_CODE => authorization_code(p, &client, params),
        _ => Err(OAuthError::new(ErrorCode::UnsupportedGrantType, "unsupported grant_type").into()),
    }
}

fn authorization_code(p: &Provider, client: &Client, params: &Params) -> Result<TokenResponse> {
    if !client.allows_grant(GRANT_AUTHORIZATION_CODE) {
        return Err(
            OAuthError::new(ErrorCode::UnauthorizedClient, "grant type not allowed").into(),
        );
    }
    let code = params.require("code")?;
    let redirect_uri = params.require("redirect_uri")?;
    let code_hash = random::sha256_hex(code);
    let now = p.now();
    let Some((record, grant)) = p.store.code_with_grant(&code_hash)? else {
        return Err(OAuthError::invalid_grant("unknown authorization code").into());
    };
    if record.used_at.is_some() {
        return Err(replayed(p, &grant, now));
    }
    if grant.client_id != client.id.as_str() {
        tracing::info!(client_id = %client.id, "authorization code presented by another client");
        return Err(OAuthError::invalid_grant("the code was issued to another client").into());
    }
    if record.expires_at <= now {
        return Err(OAuthError::invalid_grant("the authorization code has expired").into());
    }
    if record.redirect_uri != redirect_uri {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        )
        .into());
    }
    check_pkce(&record, params.get("code_verifier"))?;
    if grant.revoked_at.is_some() {
        return Err(OAuthError::invalid_grant("the grant was revoked").into());
    }
    if !p.store.consume_code(&code_hash, now)? {
        return Err(replayed(p, &grant, now));
    }
    let user_id = grant.user_id.clone().unwrap_or_default();
    let scope = Scope::parse(&grant.scope);
    let access = mint_access_token(p, client.id.as_str(), &user_id, &scope, Some(&grant.id))?;
    let id_token = if scope.contains("openid") {
        Some(mint_id_token(
            p,
            &grant,
            record.nonce.as_deref(),
            &access.token,
        )?)
    } else {
        None
    };
    tracing::info!(client_id = %client.id, user_id = %user_id, grant_type = GRANT_AUTHORIZATION_CODE, "tokens issued");
    Ok(TokenResponse {
        access_token: access.token,
        token_type: "Bearer",
        expires_in: access.expires_in,
        scope: scope.to_string(),
        id_token,
    })
}

/// A code used twice: the first use may have been an attacker's, so every
/// token issued from it is revoked (RFC 6749 4.1.2).
fn replayed(p: &Provider, grant: &GrantRecord, now: i64) -> super::Error {
    tracing::warn!(client_id = %grant.client_id, grant_id = %grant.id, "authorization code replayed; grant revoked");
    if let Err(e) = p.store.revoke_grant(&grant.id, now) {
        return e.into();
    }
    OAuthError::invalid_grant("the authorization code was already used").into()
}

/// RFC 7636 4.6, and RFC 9700 2.1.1: a verifier for a code issued without a
/// challenge is refused, so PKCE cannot be downgraded.
fn check_pkce(record: &CodeRecord, verifier: Option<&str>) -> Result<()> {
    match (&record.code_challenge, verifier) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(OAuthError::invalid_grant(
            "code_verifier sent for a code issued without code_challenge",
        )
        .into()),
        (Some(_), None) => Err(OAuthError::invalid_grant("code_verifier is required").into()),
        (Some(challenge), Some(verifier)) => {
            let well_formed = (43..=128).contains(&verifier.len())
                && verifier
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
            let computed = random::sha256_b64url(verifier.as_bytes());
            if well_formed && ct_eq(computed.as_bytes(), challenge.as_bytes()) {
                Ok(())
            } else {
                Err(
                    OAuthError::invalid_grant("code_verifier does not match the code_challenge")
                        .into(),
                )
            }
        }
    }
}

pub struct MintedAccessToken {
    pub token: String,
    pub jti: String,
    pub expires_in: i64,
}

/// An RFC 9068 access token. It carries only these claims: no secret, no
/// password-derived value, nothing about the user beyond `sub`.
pub fn mint_access_token(
    p: &Provider,
    client_id: &str,
    sub: &str,
    scope: &Scope,
    grant_id: Option<&str>,
) -> Result<MintedAccessToken> {
    let now = p.now();
    let ttl = p.config.tokens.access_token_ttl_secs;
    let jti = random::id();
    let claims = json!({
        "iss": p.config.issuer,
        "sub": sub,
        "aud": p.config.issuer,
        "exp": now + ttl,
        "iat": now,
        "jti": jti,
        "client_id": client_id,
        "scope": scope.to_string(),
    });
    let token = jwt::sign(
        &p.keys,
        p.config.tokens.access_token_alg,
        "at+jwt",
        as_map(claims),
    )?;
    p.store.insert_access_token(&AccessTokenRecord {
        jti: jti.clone(),
        grant_id: grant_id.map(str::to_owned),
        client_id: client_id.to_owned(),
        expires_at: now + ttl,
        revoked_at: None,
    })?;
    Ok(MintedAccessToken {
        token,
        jti,
        expires_in: ttl,
    })
}

/// An ID token (OpenID Connect Core 2) for the grant's user and session.
pub fn mint_id_token(
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
        &p.keys,
        p.config.tokens.id_token_alg,
        "JWT",
        claims,
    )?)
}

fn as_map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}
