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
use crate::service::{ErrorCode, OAuthError, Provider, Result};
use crate::storage::grants::GrantRecord;
use crate::storage::refresh::{RefreshRecord, RefreshWrite, Rotation};

/// What the decision hands back once its transaction has committed.
enum Outcome {
    Rotated {
        grant: Box<GrantRecord>,
        scope: Scope,
        access: mint::UnsignedAccess,
        successor: String,
    },
    Refused(OAuthError),
    /// Another client's token: refused, and left working for its owner.
    Foreign,
    /// The family was revoked.
    Reused(Box<GrantRecord>),
}

pub(super) fn exchange(p: &Provider, client: &Client, params: &Params) -> Result<TokenResponse> {
    let presented = params.require("refresh_token")?;
    let requested = params.get("scope").map(Scope::parse);
    let now = p.now();
    let grace = p.config.tokens.refresh_token_reuse_grace_secs;
    let source_ip = audit::source_ip();
    // Built before the transaction: the writer thread only decides and
    // writes. Only the rows are random here; the signatures come after the
    // commit, from what was committed.
    let client_id = client.id.clone();
    let client = client.clone();
    let idle = client
        .refresh_idle_ttl
        .unwrap_or(p.config.tokens.refresh_token_idle_ttl_secs);
    let family_ttl = client
        .refresh_absolute_ttl
        .unwrap_or(p.config.tokens.refresh_token_absolute_ttl_secs);
    let access_ttl = mint::access_ttl(p, &client);
    let decide = move |token: &RefreshRecord, grant: &GrantRecord| {
        let event = |kind| {
            audit::event(kind)
                .client(grant.client_id.clone())
                .subject_opt(grant.user_id.clone())
                .source_ip(source_ip.clone())
        };
        let refuse = |e| (RefreshWrite::Nothing, Outcome::Refused(e));
        if token.client_id != client.id.as_str() {
            return (RefreshWrite::Nothing, Outcome::Foreign);
        }
        if grant.revoked_at.is_some() {
            return refuse(OAuthError::invalid_grant("the refresh token was revoked"));
        }
        // A retired token may come back once within the grace window; any
        // other return means two parties hold it.
        let retire = token.retired_at.is_none();
        let in_grace = token
            .retired_at
            .is_some_and(|at| grace > 0 && now - at <= grace && !token.grace_used);
        if !retire && !in_grace {
            let audit = event(Kind::RefreshReuseDetected)
                .failed()
                .detail(format!("family {} revoked", grant.id))
                .build(now);
            let write = RefreshWrite::RevokeFamily { at: now, audit };
            return (write, Outcome::Reused(Box::new(grant.clone())));
        }
        if token.expires_at <= now || grant.expires_at.is_some_and(|end| end <= now) {
            return refuse(OAuthError::invalid_grant("the refresh token has expired"));
        }
        let scope = match narrowed_scope(grant, requested.as_ref()) {
            Ok(scope) => scope,
            Err(e) => return refuse(e),
        };
        let family_end = grant.expires_at.unwrap_or(now + family_ttl);
        let (successor, record) = mint::refresh_record(&client, &grant.id, now, idle, family_end);
        let user_id = grant.user_id.clone().unwrap_or_default();
        let access =
            mint::UnsignedAccess::new(&client, &user_id, &scope, Some(&grant.id), now, access_ttl);
        let audit = event(Kind::TokenRefreshed)
            .detail(format!("family {}", grant.id))
            .build(now);
        let write = RefreshWrite::Rotate(Box::new(Rotation {
            retire,
            successor: record,
            access: access.record.clone(),
            audit,
        }));
        let outcome = Outcome::Rotated {
            grant: Box::new(grant.clone()),
            scope,
            access,
            successor,
        };
        (write, outcome)
    };
    let hash = random::sha256_hex(presented);
    match p.store.refresh_step(hash, decide)? {
        None => Err(OAuthError::invalid_grant("unknown refresh token").into()),
        Some(Outcome::Refused(e)) => Err(e.into()),
        Some(Outcome::Foreign) => {
            tracing::info!(client_id = %client_id, "refresh token presented by another client");
            Err(OAuthError::invalid_grant("unknown refresh token").into())
        }
        Some(Outcome::Reused(grant)) => {
            tracing::warn!(
                client_id = %grant.client_id,
                user_id = grant.user_id.as_deref().unwrap_or_default(),
                family_id = %grant.id,
                "refresh token reuse detected; family revoked"
            );
            Err(OAuthError::invalid_grant("the refresh token was already used").into())
        }
        Some(Outcome::Rotated {
            grant,
            scope,
            access,
            successor,
        }) => respond(p, &grant, scope, access, successor),
    }
}

/// `scope` may only narrow what the grant holds (RFC 6749 6).
fn narrowed_scope(
    grant: &GrantRecord,
    requested: Option<&Scope>,
) -> std::result::Result<Scope, OAuthError> {
    let granted = Scope::parse(&grant.scope);
    let Some(requested) = requested else {
        return Ok(granted);
    };
    if requested.is_empty() || !requested.is_subset(&granted) {
        return Err(OAuthError::new(
            ErrorCode::InvalidScope,
            "scope exceeds what was granted",
        ));
    }
    Ok(requested.clone())
}

/// Signs what the committed rotation recorded. A signature cannot fail
/// with a loaded key; were it to, the client would have to log in again,
/// as after a lost response.
fn respond(
    p: &Provider,
    grant: &GrantRecord,
    scope: Scope,
    access: mint::UnsignedAccess,
    successor: String,
) -> Result<TokenResponse> {
    let access = access.sign(p)?;
    let id_token = match Scope::parse(&grant.scope).contains("openid") {
        true => Some(mint::id_token(p, grant, None, &access.token)?),
        false => None,
    };
    tracing::info!(
        client_id = %grant.client_id,
        user_id = grant.user_id.as_deref().unwrap_or_default(),
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
