//! Token revocation (RFC 7009) and introspection (RFC 7662).
//!
//! Refresh tokens and access tokens have disjoint formats (an opaque
//! `pcr_...` string versus a JWT), so `token_type_hint` is never needed to
//! find a token and a wrong hint changes nothing.

use serde_json::{Value, json};

use super::audit::{self, Kind};
use super::clients::{self, Client, ClientCredentials};
use super::params::Params;
use super::scope::Scope;
use super::token::mint::REFRESH_PREFIX;
use super::userinfo::validate_access_token;
use super::{OAuthError, Provider, Result};
use crate::crypto::keys::Alg;
use crate::crypto::{jwt, random};
use crate::storage::grants::GrantRecord;
use crate::storage::refresh::RefreshRecord;

fn refresh_token(p: &Provider, token: &str) -> Result<Option<(RefreshRecord, GrantRecord)>> {
    if !token.starts_with(REFRESH_PREFIX) {
        return Ok(None);
    }
    Ok(p.store
        .refresh_token_with_grant(&random::sha256_hex(token))?)
}

/// The `jti` of an access token we signed, whether or not it has expired.
fn access_token_jti(p: &Provider, token: &str) -> Option<String> {
    let claims = jwt::verify(&p.keys.ring(), token, "at+jwt", &[Alg::ES256, Alg::RS256]).ok()?;
    claims.get("jti").and_then(Value::as_str).map(str::to_owned)
}

/// POST /revoke. Revoking a refresh token revokes its whole family and the
/// access tokens issued from it; revoking an access token revokes only that
/// token. Unknown, expired, already revoked and other clients' tokens all get
/// the same empty success, and other clients' tokens keep working.
pub fn revoke(p: &Provider, creds: &ClientCredentials, params: &Params) -> Result<()> {
    params.reject_malformed()?;
    let client = clients::authenticate(&p.store, creds)?;
    let token = params.require("token")?;
    let now = p.now();
    if let Some((refresh, grant)) = refresh_token(p, token)? {
        if refresh.client_id == client.id.as_str() {
            p.store.revoke_grant(&grant.id, now)?;
            tracing::info!(client_id = %client.id, family_id = %grant.id, "refresh token revoked");
            let mut event = audit::event(Kind::TokenRevoked).client(client.id.to_string());
            if let Some(user) = &grant.user_id {
                event = event.subject(user.clone());
            }
            event
                .detail(format!("refresh token; family {}", grant.id))
                .record(p);
        }
        return Ok(());
    }
    if let Some(jti) = access_token_jti(p, token) {
        let owned = p
            .store
            .access_token(&jti)?
            .is_some_and(|t| t.client_id == client.id.as_str());
        if owned {
            p.store.revoke_access_token(&jti, now)?;
            tracing::info!(client_id = %client.id, jti = %jti, "access token revoked");
            audit::event(Kind::TokenRevoked)
                .client(client.id.to_string())
                .detail("access token")
                .record(p);
        }
    }
    Ok(())
}

/// POST /introspect: only confidential clients (resource servers register
/// as such). Anything not active is exactly `{"active": false}`.
pub fn introspect(p: &Provider, creds: &ClientCredentials, params: &Params) -> Result<Value> {
    params.reject_malformed()?;
    let caller = clients::authenticate(&p.store, creds)?;
    if caller.is_public() {
        return Err(OAuthError::invalid_client().into());
    }
    let token = params.require("token")?;
    let inactive = json!({ "active": false });
    if let Some((refresh, grant)) = refresh_token(p, token)? {
        // A refresh token is its client's business alone: only the client it
        // was issued to learns that it is active.
        if refresh.client_id != caller.id.as_str() {
            return Ok(inactive);
        }
        return Ok(refresh_claims(p, &refresh, &grant)?.unwrap_or(inactive));
    }
    let Ok(claims) = validate_access_token(p, token) else {
        return Ok(inactive);
    };
    let username = username_for(p, &claims)?;
    tracing::debug!(client_id = %caller.id, "access token introspected");
    Ok(json!({
        "active": true,
        "scope": claims.scope.to_string(),
        "client_id": claims.client_id,
        "username": username,
        "sub": claims.sub,
        "aud": p.config.issuer,
        "iss": p.config.issuer,
        "exp": claims.exp,
        "iat": claims.iat,
        "token_type": "Bearer",
        "jti": claims.jti,
    }))
    .map(strip_nulls)
}

/// The username, only where the user consented to share it (`profile`)
/// and the token was issued for a user, not to a client for itself.
fn username_for(p: &Provider, claims: &super::userinfo::AccessClaims) -> Result<Option<String>> {
    if !claims.scope.contains("profile") {
        return Ok(None);
    }
    if !claims.for_user {
        return Ok(None);
    }
    Ok(p.store.user_by_id(&claims.sub)?.map(|u| u.username))
}

fn refresh_claims(
    p: &Provider,
    refresh: &RefreshRecord,
    grant: &GrantRecord,
) -> Result<Option<Value>> {
    let now = p.now();
    let active = refresh.retired_at.is_none()
        && refresh.expires_at > now
        && grant.revoked_at.is_none()
        && grant.expires_at.is_none_or(|end| end > now);
    if !active {
        return Ok(None);
    }
    let user = match &grant.user_id {
        Some(id) => p.store.user_by_id(id)?.filter(|u| !u.disabled),
        None => None,
    };
    let Some(user) = user else { return Ok(None) };
    let client: Option<Client> = p.store.client(&grant.client_id)?.map(Client::from_record);
    if client.is_none_or(|c| c.disabled) {
        return Ok(None);
    }
    Ok(Some(json!({
        "active": true,
        "scope": Scope::parse(&grant.scope).to_string(),
        "client_id": grant.client_id,
        "username": Scope::parse(&grant.scope).contains("profile").then_some(user.username),
        "sub": user.id,
        "aud": grant.client_id,
        "iss": p.config.issuer,
        "exp": refresh.expires_at,
        "iat": refresh.created_at,
        "token_type": "refresh_token",
        "jti": refresh.id,
    }))
    .map(strip_nulls))
}

fn strip_nulls(mut v: Value) -> Value {
    if let Value::Object(map) = &mut v {
        map.retain(|_, v| !v.is_null());
    }
    v
}
