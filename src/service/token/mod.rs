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
    params.reject_malformed()?;
    let grant_type = params.require("grant_type")?;
    let client = clients::authenticate(&p.store, creds)?;
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
    match grant_type {
        GRANT_AUTHORIZATION_CODE => authorization_code::exchange(p, &client, params),
        GRANT_REFRESH_TOKEN => refresh::exchange(p, &client, params),
        _ => client_credentials::exchange(p, &client, params),
    }
}
