//! grant_type=client_credentials (RFC 6749 4.4): a confidential client
//! acting for itself. `sub` is the client id; no refresh or ID token.

use super::{TokenResponse, mint};
use crate::service::audit::{self, Kind};
use crate::service::clients::{Client, GRANT_CLIENT_CREDENTIALS};
use crate::service::params::Params;
use crate::service::scope::Scope;
use crate::service::{ErrorCode, OAuthError, Provider, Result};
use crate::storage::StoreError;
use crate::storage::audit::AuditRecord;
use crate::storage::grants::AccessTokenRecord;

/// Scopes that describe a user; meaningless without one.
const USER_SCOPES: &[&str] = &["openid", "offline_access", "profile", "email"];

pub(super) fn exchange(p: &Provider, client: &Client, params: &Params) -> Result<TokenResponse> {
    let Issued {
        response,
        record,
        audit,
    } = issue(p, client, params)?;
    p.store
        .insert_access_token(record, Some(audit))
        .map_err(client_gone)?;
    Ok(issued(client.id.as_str(), response))
}

/// A token signed and the rows that record it, not yet written.
pub(super) struct Issued {
    response: TokenResponse,
    record: AccessTokenRecord,
    audit: AuditRecord,
}

impl Issued {
    /// Queues the rows; the future answers once they are committed.
    pub(super) fn commit(
        self,
        p: &Provider,
    ) -> impl Future<Output = Result<TokenResponse>> + use<> {
        let client_id = self.record.client_id.clone();
        let committed = p
            .store
            .insert_access_token_async(self.record, Some(self.audit));
        let response = self.response;
        async move {
            committed.await.map_err(client_gone)?;
            Ok(issued(&client_id, response))
        }
    }
}

/// The client was deleted (by another instance, whose change this one's
/// client cache had not seen yet) between authentication and the insert:
/// it no longer exists, so it is not authenticated either.
fn client_gone(e: StoreError) -> crate::service::Error {
    if e.is_foreign_key_violation() {
        OAuthError::invalid_client().into()
    } else {
        e.into()
    }
}

fn issued(client_id: &str, response: TokenResponse) -> TokenResponse {
    tracing::info!(
        client_id,
        grant_type = GRANT_CLIENT_CREDENTIALS,
        "tokens issued"
    );
    response
}

/// Checks the scope and signs the token; writes nothing.
pub(super) fn issue(p: &Provider, client: &Client, params: &Params) -> Result<Issued> {
    if client.is_public() {
        let e = OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "public clients cannot use this grant",
        );
        return Err(e.into());
    }
    let allowed = Scope::parse(
        &client
            .allowed_scopes
            .iter()
            .filter(|s| !USER_SCOPES.contains(s))
            .collect::<Vec<_>>()
            .join(" "),
    );
    let scope = match params.get("scope") {
        None => allowed,
        Some(requested) => {
            let requested = Scope::parse(requested);
            if !requested.is_subset(&allowed) {
                let e =
                    OAuthError::new(ErrorCode::InvalidScope, "scope not allowed for this client");
                return Err(e.into());
            }
            requested
        }
    };
    let access = mint::access_token(p, client, client.id.as_str(), &scope, None)?;
    let audit = audit::event(Kind::TokenIssued)
        .client(client.id.to_string())
        .detail(GRANT_CLIENT_CREDENTIALS)
        .build(p.now());
    Ok(Issued {
        response: TokenResponse {
            access_token: access.token,
            token_type: "Bearer",
            expires_in: access.expires_in,
            scope: scope.to_string(),
            refresh_token: None,
            id_token: None,
        },
        record: access.record,
        audit,
    })
}
