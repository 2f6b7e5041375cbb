//! Bearer-token validation (RFC 6750, RFC 9068 4) and the UserInfo endpoint
//! (OpenID Connect Core 5.3).

use serde_json::{Map, Value, json};

use super::scope::Scope;
use super::{ErrorCode, OAuthError, Provider};
use crate::crypto::keys::Alg;

/// Why a bearer-protected request was refused.
#[derive(Debug)]
pub enum BearerError {
    /// No token at all: a bare `Bearer` challenge (RFC 6750 3.1).
    Missing,
    /// invalid_request, invalid_token or insufficient_scope.
    Rejected(OAuthError),
    Internal(super::Error),
}

impl<E: Into<super::Error>> From<E> for BearerError {
    fn from(e: E) -> Self {
        BearerError::Internal(e.into())
    }
}

/// The claims of an access token that passed every check.
#[derive(Debug)]
pub struct AccessClaims {
    /// Issued for a user (not to a client for itself).
    pub for_user: bool,
    pub sub: String,
    pub client_id: String,
    pub scope: Scope,
    pub jti: String,
    pub exp: i64,
    pub iat: i64,
}

/// Signature (allowed algorithms only, `typ` at+jwt), issuer, audience,
/// expiry against the injected clock, and the revocation list.
pub fn validate_access_token(p: &Provider, token: &str) -> Result<AccessClaims, BearerError> {
    let invalid = |d: &'static str| BearerError::Rejected(OAuthError::invalid_token(d));
    let now = p.now();
    let claims = p
        .verified_access_tokens
        .verify(&p.keys.ring(), token, &[Alg::ES256, Alg::RS256], now)
        .map_err(|_| invalid("the access token is malformed or its signature is invalid"))?;
    let str_claim = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
    let int_claim = |name: &str| claims.get(name).and_then(Value::as_i64);
    if str_claim("iss").as_deref() != Some(p.config.issuer.as_str()) {
        return Err(invalid("the access token was issued by someone else"));
    }
    if !audience_contains(claims.get("aud"), &p.config.issuer) {
        return Err(invalid("the access token is for another audience"));
    }
    let (Some(sub), Some(client_id), Some(jti), Some(exp), Some(iat)) = (
        str_claim("sub"),
        str_claim("client_id"),
        str_claim("jti"),
        int_claim("exp"),
        int_claim("iat"),
    ) else {
        return Err(invalid("the access token lacks required claims"));
    };
    if exp <= now {
        return Err(invalid("the access token has expired"));
    }
    // We never issue tokens dated in the future; allow a minute of skew
    // between instances.
    if iat > now + 60 {
        return Err(invalid("the access token is not valid yet"));
    }
    let Some(for_user) = p.store.active_access_token(&jti, now)? else {
        return Err(invalid("the access token is no longer active"));
    };
    let scope = Scope::parse(&str_claim("scope").unwrap_or_default());
    Ok(AccessClaims {
        for_user,
        sub,
        client_id,
        scope,
        jti,
        exp,
        iat,
    })
}

fn audience_contains(aud: Option<&Value>, expected: &str) -> bool {
    match aud {
        Some(Value::String(s)) => s == expected,
        Some(Value::Array(items)) => items.iter().any(|v| v.as_str() == Some(expected)),
        _ => false,
    }
}

/// The claims the token's scopes allow (OpenID Connect Core 5.4).
pub fn userinfo(p: &Provider, token: &str) -> Result<Value, BearerError> {
    let claims = validate_access_token(p, token)?;
    if !claims.scope.contains("openid") {
        return Err(BearerError::Rejected(OAuthError::new(
            ErrorCode::InsufficientScope,
            "the access token lacks the openid scope",
        )));
    }
    let Some(user) = p.store.user_by_id(&claims.sub)?.filter(|u| !u.disabled) else {
        return Err(BearerError::Rejected(OAuthError::invalid_token(
            "the user no longer exists",
        )));
    };
    let mut out = Map::new();
    out.insert("sub".into(), json!(user.id));
    if claims.scope.contains("profile") {
        out.insert("name".into(), json!(user.name));
        out.insert("preferred_username".into(), json!(user.username));
        out.insert("updated_at".into(), json!(user.updated_at));
    }
    if claims.scope.contains("email") {
        out.insert("email".into(), json!(user.email));
        out.insert("email_verified".into(), json!(user.email_verified));
    }
    // Absent claims are omitted rather than sent as null (Core 5.3.2).
    out.retain(|_, v| !v.is_null());
    Ok(Value::Object(out))
}
