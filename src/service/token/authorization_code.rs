//! grant_type=authorization_code (RFC 6749 4.1.3, RFC 7636 4.6, OpenID
//! Connect Core 3.1.3).

use super::{TokenResponse, mint};
use crate::crypto::random;
use crate::secret::ct_eq;
use crate::service::audit::{self, Kind};
use crate::service::clients::{Client, GRANT_AUTHORIZATION_CODE};
use crate::service::params::Params;
use crate::service::scope::Scope;
use crate::service::{Error, OAuthError, Provider, Result};
use crate::storage::grants::{CodeRecord, GrantRecord};
use crate::storage::refresh::CodeRedemption;

pub(super) fn exchange(p: &Provider, client: &Client, params: &Params) -> Result<TokenResponse> {
    let code = params.require("code")?;
    let redirect_uri = params.require("redirect_uri")?;
    let code_hash = random::sha256_hex(code);
    let now = p.now();
    let Some((record, grant)) = p.store.code_with_grant(&code_hash)? else {
        return Err(OAuthError::invalid_grant("unknown authorization code").into());
    };
    // Another client's code: refused before anything else, so that nobody
    // but the owner can burn it or, by replaying it, revoke its tokens.
    if grant.client_id != client.id.as_str() {
        tracing::info!(client_id = %client.id, "authorization code presented by another client");
        return Err(OAuthError::invalid_grant("the code was issued to another client").into());
    }
    if record.used_at.is_some() {
        return Err(replayed(p, &grant, now));
    }
    // Checks that fail leave the code unused: a wrong guess by someone
    // holding a stolen code must not burn it for its owner.
    if record.expires_at <= now {
        return Err(OAuthError::invalid_grant("the authorization code has expired").into());
    }
    if record.redirect_uri != redirect_uri {
        let e = OAuthError::invalid_grant("redirect_uri does not match the authorization request");
        return Err(e.into());
    }
    // A client made public after its code was issued without a challenge
    // (possible only for a confidential client) gets no tokens for it.
    if client.is_public() && record.code_challenge.is_none() {
        return Err(OAuthError::invalid_grant("public clients must use PKCE").into());
    }
    check_pkce(&record, params.get("code_verifier"))?;
    if grant.revoked_at.is_some() {
        return Err(OAuthError::invalid_grant("the grant was revoked").into());
    }
    issue(p, client, &code_hash, &record, &grant)
}

fn issue(
    p: &Provider,
    client: &Client,
    code_hash: &str,
    record: &CodeRecord,
    grant: &GrantRecord,
) -> Result<TokenResponse> {
    let user_id = grant.user_id.clone().unwrap_or_default();
    let scope = Scope::parse(&grant.scope);
    let access = mint::access_token(p, client, &user_id, &scope, Some(&grant.id))?;
    let family_expires_at = mint::family_expiry(p, client);
    let refresh = mint::wants_refresh_token(client, &scope)
        .then(|| mint::refresh_token(p, client, &grant.id, family_expires_at));
    let audit = audit::event(Kind::TokenIssued)
        .subject(user_id.clone())
        .client(client.id.to_string())
        .detail(GRANT_AUTHORIZATION_CODE)
        .build(p.now());
    let redemption = CodeRedemption {
        audit: Some(audit),
        code_hash: code_hash.to_owned(),
        grant_id: grant.id.clone(),
        access: access.record,
        refresh: refresh.as_ref().map(|(_, r)| r.clone()),
        family_expires_at: refresh.as_ref().map(|_| family_expires_at),
    };
    if !p.store.redeem_code(redemption, p.now())? {
        return Err(replayed(p, grant, p.now()));
    }
    let id_token = match scope.contains("openid") {
        true => Some(mint::id_token(
            p,
            grant,
            record.nonce.as_deref(),
            &access.token,
        )?),
        false => None,
    };
    tracing::info!(
        client_id = %client.id,
        user_id = %user_id,
        grant_type = GRANT_AUTHORIZATION_CODE,
        refresh_token = refresh.is_some(),
        "tokens issued"
    );
    Ok(TokenResponse {
        access_token: access.token,
        token_type: "Bearer",
        expires_in: access.expires_in,
        scope: scope.to_string(),
        refresh_token: refresh.map(|(token, _)| token),
        id_token,
    })
}

/// A code used twice: the first use may have been an attacker's, so every
/// token issued from it is revoked (RFC 6749 4.1.2).
fn replayed(p: &Provider, grant: &GrantRecord, now: i64) -> Error {
    tracing::warn!(
        client_id = %grant.client_id,
        grant_id = %grant.id,
        "authorization code replayed; grant revoked"
    );
    let mut event = audit::event(Kind::CodeReplayed)
        .failed()
        .client(grant.client_id.clone());
    if let Some(user) = &grant.user_id {
        event = event.subject(user.clone());
    }
    event.detail(format!("grant {}", grant.id)).record(p);
    if let Err(e) = p.store.revoke_grant(&grant.id, now) {
        return e.into();
    }
    OAuthError::invalid_grant("the authorization code was already used").into()
}

/// RFC 7636 4.6, and RFC 9700 2.1.1: a verifier for a code issued without a
/// challenge is refused, so PKCE cannot be downgraded.
fn check_pkce(record: &CodeRecord, verifier: Option<&str>) -> Result<()> {
    let fail = |d: &'static str| Err(OAuthError::invalid_grant(d).into());
    match (&record.code_challenge, verifier) {
        (None, None) => Ok(()),
        (None, Some(_)) => fail("code_verifier sent for a code issued without code_challenge"),
        (Some(_), None) => fail("code_verifier is required"),
        (Some(challenge), Some(verifier)) => {
            let well_formed = (43..=128).contains(&verifier.len())
                && verifier
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
            let computed = random::sha256_b64url(verifier.as_bytes());
            if well_formed && ct_eq(computed.as_bytes(), challenge.as_bytes()) {
                Ok(())
            } else {
                fail("code_verifier does not match the code_challenge")
            }
        }
    }
}
