//! grant_type=refresh_token (RFC 6749 6) with rotation and reuse detection
//! (RFC 9700 4.14.2).
//!
//! Every successful refresh retires the presented token and returns its
//! successor. Presenting a retired token again means two parties hold it, so
//! the whole family (grant) and every access token issued from it are
//! revoked. With `refresh_token_reuse_grace_secs` above zero, the same client
//! may present a just-retired token once more within that many seconds: it
//! gets a new access token and a new refresh token of the same family, and
//! the successor issued by the first use stays valid too. A third use is
//! reuse.

use super::{TokenResponse, mint};
use crate::crypto::random;
use crate::service::audit::{self, Kind};
use crate::service::clients::{Client, GRANT_REFRESH_TOKEN};
use crate::service::params::Params;
use crate::service::scope::Scope;
use crate::service::{Error, ErrorCode, OAuthError, Provider, Result};
use crate::storage::grants::GrantRecord;
use crate::storage::refresh::{RefreshRecord, Rotation};

pub(super) fn exchange(p: &Provider, client: &Client, params: &Params) -> Result<TokenResponse> {
    let presented = params.require("refresh_token")?;
    let hash = random::sha256_hex(presented);
    let now = p.now();
    let Some((token, grant)) = p.store.refresh_token_with_grant(&hash)? else {
        return Err(OAuthError::invalid_grant("unknown refresh token").into());
    };
    // Another client's token: refused, and left working for its owner.
    if token.client_id != client.id.as_str() {
        tracing::info!(client_id = %client.id, "refresh token presented by another client");
        return Err(OAuthError::invalid_grant("unknown refresh token").into());
    }
    if grant.revoked_at.is_some() {
        return Err(OAuthError::invalid_grant("the refresh token was revoked").into());
    }
    if let Some(retired_at) = token.retired_at
        && !grace_allows(p, &token.token_hash, retired_at, now)?
    {
        return Err(reuse_detected(p, &grant, now));
    }
    if token.expires_at <= now || grant.expires_at.is_some_and(|end| end <= now) {
        return Err(OAuthError::invalid_grant("the refresh token has expired").into());
    }
    let scope = narrowed_scope(&grant, params.get("scope"))?;
    rotate(p, client, &token, &grant, &scope)
}

/// The grace window lets a just-retired token through exactly once more;
/// any further use is reuse, so a thief cannot keep a branch of the family.
fn grace_allows(p: &Provider, token_hash: &str, retired_at: i64, now: i64) -> Result<bool> {
    let grace = p.config.tokens.refresh_token_reuse_grace_secs;
    if grace <= 0 || now - retired_at > grace {
        return Ok(false);
    }
    Ok(p.store.claim_grace_use(token_hash)?)
}

/// `scope` may only narrow what the grant holds (RFC 6749 6).
fn narrowed_scope(grant: &GrantRecord, requested: Option<&str>) -> Result<Scope> {
    let granted = Scope::parse(&grant.scope);
    let Some(requested) = requested else {
        return Ok(granted);
    };
    let requested = Scope::parse(requested);
    if requested.is_empty() || !requested.is_subset(&granted) {
        let e = OAuthError::new(ErrorCode::InvalidScope, "scope exceeds what was granted");
        return Err(e.into());
    }
    Ok(requested)
}

fn rotate(
    p: &Provider,
    client: &Client,
    token: &RefreshRecord,
    grant: &GrantRecord,
    scope: &Scope,
) -> Result<TokenResponse> {
    let now = p.now();
    let user_id = grant.user_id.clone().unwrap_or_default();
    let access = mint::access_token(p, client, &user_id, scope, Some(&grant.id))?;
    let family_end = grant
        .expires_at
        .unwrap_or_else(|| mint::family_expiry(p, client));
    let (successor, record) = mint::refresh_token(p, client, &grant.id, family_end);
    let audit = audit::event(Kind::TokenRefreshed)
        .subject(user_id.clone())
        .client(client.id.to_string())
        .detail(format!("family {}", grant.id))
        .build(now);
    // A token already retired (grace window) is not retired again.
    let old = token.retired_at.is_none().then(|| token.token_hash.clone());
    let step = |old: Option<String>| Rotation {
        old,
        successor: record.clone(),
        access: access.record.clone(),
        audit: Some(audit.clone()),
    };
    if !p.store.rotate_refresh_token(step(old), now)? {
        // Lost a race: another request rotated this token first.
        let retired_at = p
            .store
            .refresh_token_retired_at(&token.token_hash)?
            .unwrap_or(now);
        if !grace_allows(p, &token.token_hash, retired_at, now)? {
            return Err(reuse_detected(p, grant, now));
        }
        if !p.store.rotate_refresh_token(step(None), now)? {
            return Err(reuse_detected(p, grant, now));
        }
    }
    let id_token = match Scope::parse(&grant.scope).contains("openid") {
        true => Some(mint::id_token(p, grant, None, &access.token)?),
        false => None,
    };
    tracing::info!(
        client_id = %client.id,
        user_id = %user_id,
        family_id = %grant.id,
        grant_type = GRANT_REFRESH_TOKEN,
        "tokens refreshed"
    );
    Ok(TokenResponse {
        access_token: access.token,
        token_type: "Bearer",
        expires_in: access.expires_in,
        scope: scope.to_string(),
        refresh_token: Some(successor),
        id_token,
    })
}

/// A retired token came back: treat it as theft.
fn reuse_detected(p: &Provider, grant: &GrantRecord, now: i64) -> Error {
    tracing::warn!(
        client_id = %grant.client_id,
        user_id = grant.user_id.as_deref().unwrap_or_default(),
        family_id = %grant.id,
        "refresh token reuse detected; family revoked"
    );
    let mut event = audit::event(Kind::RefreshReuseDetected)
        .failed()
        .client(grant.client_id.clone());
    if let Some(user) = &grant.user_id {
        event = event.subject(user.clone());
    }
    event
        .detail(format!("family {} revoked", grant.id))
        .record(p);
    if let Err(e) = p.store.revoke_grant(&grant.id, now) {
        return e.into();
    }
    OAuthError::invalid_grant("the refresh token was already used").into()
}
