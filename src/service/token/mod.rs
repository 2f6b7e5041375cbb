//! The token endpoint (RFC 6749 3.2, 5): client authentication, then one
//! module per grant type. Tokens are built in [`mint`].

use serde::Serialize;

use super::clients::{
    self, ClientCredentials, GRANT_AUTHORIZATION_CODE, GRANT_CLIENT_CREDENTIALS,
    GRANT_REFRESH_TOKEN,
};
use super::params::Params;
use super::{ErrorCode, OAuthError, Provider, Result};

mod authorization_code;
mod client_credentials;
pub mod mint;
mod refresh;

/// The successful token response. Deliberately not `Debug`: it holds tokens.
#[derive(Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// POST /token: authenticates the client, then runs the grant.
pub fn exchange(p: &Provider, creds: &ClientCredentials, params: &Params) -> Result<TokenResponse> {
    let grant_type = grant_type(params)?;
    let client = clients::authenticate(&p.store, creds)?;
    permitted(&client, grant_type)?;
    match grant_type {
        GRANT_AUTHORIZATION_CODE => authorization_code::exchange(p, &client, params),
        GRANT_REFRESH_TOKEN => refresh::exchange(p, &client, params),
        _ => client_credentials::exchange(p, &client, params),
    }
}

/// [`exchange`] for the one request that needs no blocking work: a
/// client_credentials grant by a cached client, signed with a fast
/// algorithm. The checks and the signature run here, on the caller's
/// thread; the returned future waits for the commit without holding a
/// thread. `None` when the request needs more (a database read, a slow
/// signature): run [`exchange`] on the blocking pool instead. Both paths
/// run the same checks in the same order, so they answer alike.
pub fn exchange_without_blocking(
    p: &Provider,
    creds: &ClientCredentials,
    params: &Params,
) -> Option<impl Future<Output = Result<TokenResponse>> + use<>> {
    if params.get("grant_type") != Some(GRANT_CLIENT_CREDENTIALS)
        || !p.config.tokens.access_token_alg.signs_quickly()
    {
        return None;
    }
    let issued = match grant_type(params) {
        Err(e) => Err(e),
        Ok(grant_type) => match clients::authenticate_cached(&p.store, creds)? {
            Err(e) => Err(e),
            Ok(client) => permitted(&client, grant_type)
                .and_then(|()| client_credentials::issue(p, &client, params)),
        },
    };
    let commit = issued.map(|issued| issued.commit(p));
    Some(async move { commit?.await })
}

/// The request's grant_type, after the checks every grant shares.
fn grant_type(params: &Params) -> Result<&str> {
    params.reject_malformed()?;
    Ok(params.require("grant_type")?)
}

/// Whether this client may use this grant type.
fn permitted(client: &clients::Client, grant_type: &str) -> Result<()> {
    let known = [
        GRANT_AUTHORIZATION_CODE,
        GRANT_REFRESH_TOKEN,
        GRANT_CLIENT_CREDENTIALS,
    ];
    if !known.contains(&grant_type) {
        return Err(
            OAuthError::new(ErrorCode::UnsupportedGrantType, "unsupported grant_type").into(),
        );
    }
    if !client.allows_grant(grant_type) {
        let e = OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "grant type not allowed for this client",
        );
        return Err(e.into());
    }
    Ok(())
}
