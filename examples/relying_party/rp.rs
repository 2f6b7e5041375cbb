//! The relying-party side of portcullis, as a small library the example app
//! (and the test suite) use: log in with the authorization code flow and
//! PKCE, keep the tokens server-side, call a protected resource, refresh
//! silently when the access token is rejected, and treat `invalid_grant` on
//! refresh as "the user is logged out".

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreErrorResponseType, CoreProviderMetadata,
};
use openidconnect::{
    AccessToken, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope, TokenResponse,
};

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

#[derive(Debug)]
pub enum RpError {
    /// The refresh token was refused: the session at the provider is over
    /// (revoked, expired, password changed). Log the user out locally.
    LoggedOut,
    /// Anything else: a misconfiguration or a provider that cannot be reached.
    Failed(String),
}

impl std::fmt::Display for RpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RpError::LoggedOut => f.write_str("logged out"),
            RpError::Failed(m) => f.write_str(m),
        }
    }
}

fn failed(e: impl std::fmt::Display) -> RpError {
    RpError::Failed(e.to_string())
}

/// What the app remembers between redirecting to the provider and the
/// callback. Keep it server-side, keyed by the user's session.
pub struct PendingLogin {
    state: CsrfToken,
    nonce: Nonce,
    verifier: PkceCodeVerifier,
}

/// Tokens kept server-side for one signed-in user; never sent to the browser.
pub struct Tokens {
    pub access_token: AccessToken,
    pub refresh_token: Option<RefreshToken>,
    pub id_token: String,
    pub subject: String,
}

pub struct RelyingParty {
    client: Client,
    http: reqwest::blocking::Client,
    issuer: String,
    end_session_endpoint: Option<String>,
}

impl RelyingParty {
    /// Reads the provider's discovery document and JWKS.
    pub fn discover(
        issuer: &str,
        client_id: &str,
        client_secret: Option<&str>,
        redirect_uri: &str,
    ) -> Result<Self, RpError> {
        // Redirects are not followed: an OAuth client must never chase them.
        let http = reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(failed)?;
        let issuer_url = IssuerUrl::new(issuer.to_owned()).map_err(failed)?;
        let metadata = CoreProviderMetadata::discover(&issuer_url, &http).map_err(failed)?;
        let discovery: serde_json::Value = http
            .get(format!(
                "{}/.well-known/openid-configuration",
                issuer.trim_end_matches('/')
            ))
            .send()
            .and_then(|r| r.json())
            .map_err(failed)?;
        let end_session_endpoint = discovery["end_session_endpoint"]
            .as_str()
            .map(str::to_owned);
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(client_id.to_owned()),
            client_secret.map(|s| ClientSecret::new(s.to_owned())),
        )
        .set_redirect_uri(RedirectUrl::new(redirect_uri.to_owned()).map_err(failed)?);
        Ok(Self {
            client,
            http,
            issuer: issuer.to_owned(),
            end_session_endpoint,
        })
    }

    /// The URL to send the browser to, and what to remember until it returns.
    /// `offline_access` asks for a refresh token.
    pub fn start_login(&self) -> (String, PendingLogin) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = self
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("profile".into()))
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("offline_access".into()))
            .set_pkce_challenge(challenge)
            .url();
        (
            url.to_string(),
            PendingLogin {
                state,
                nonce,
                verifier,
            },
        )
    }

    /// Handles the redirect back: checks `state` and `iss` (RFC 9207),
    /// exchanges the code and verifies the ID token (signature, issuer,
    /// audience, expiry, nonce, at_hash).
    pub fn finish_login(
        &self,
        pending: PendingLogin,
        query: &[(String, String)],
    ) -> Result<Tokens, RpError> {
        let param = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        if let Some(error) = param("error") {
            return Err(RpError::Failed(format!("the provider answered {error}")));
        }
        if param("state") != Some(pending.state.secret().as_str()) {
            return Err(RpError::Failed("state mismatch".into()));
        }
        if param("iss") != Some(self.issuer.as_str()) {
            return Err(RpError::Failed(
                "the response came from another issuer".into(),
            ));
        }
        let code = param("code").ok_or_else(|| RpError::Failed("no code".into()))?;
        let response = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(failed)?
            .set_pkce_verifier(pending.verifier)
            .request(&self.http)
            .map_err(failed)?;
        let id_token = response
            .id_token()
            .ok_or_else(|| RpError::Failed("no ID token".into()))?;
        let verifier = self.client.id_token_verifier();
        let claims = id_token.claims(&verifier, &pending.nonce).map_err(failed)?;
        if let Some(expected) = claims.access_token_hash() {
            let alg = id_token.signing_alg().map_err(failed)?;
            let key = id_token.signing_key(&verifier).map_err(failed)?;
            let actual =
                openidconnect::AccessTokenHash::from_token(response.access_token(), alg, key)
                    .map_err(failed)?;
            if &actual != expected {
                return Err(RpError::Failed("at_hash mismatch".into()));
            }
        }
        Ok(Tokens {
            access_token: response.access_token().clone(),
            refresh_token: response.refresh_token().cloned(),
            id_token: id_token.to_string(),
            subject: claims.subject().to_string(),
        })
    }

    /// GETs a bearer-protected resource. A 401 with `invalid_token` means the
    /// access token expired or was revoked: refresh silently and retry once.
    pub fn call(&self, tokens: &mut Tokens, url: &str) -> Result<serde_json::Value, RpError> {
        let res = self.get(url, &tokens.access_token)?;
        let res = if res.status() == 401 && is_invalid_token(&res) {
            self.refresh(tokens)?;
            self.get(url, &tokens.access_token)?
        } else {
            res
        };
        if !res.status().is_success() {
            return Err(RpError::Failed(format!(
                "resource answered {}",
                res.status()
            )));
        }
        res.json().map_err(failed)
    }

    fn get(&self, url: &str, token: &AccessToken) -> Result<reqwest::blocking::Response, RpError> {
        self.http
            .get(url)
            .bearer_auth(token.secret())
            .send()
            .map_err(failed)
    }

    /// Rotates the refresh token; `invalid_grant` means logged out.
    pub fn refresh(&self, tokens: &mut Tokens) -> Result<(), RpError> {
        let Some(refresh_token) = &tokens.refresh_token else {
            return Err(RpError::LoggedOut);
        };
        let request = self
            .client
            .exchange_refresh_token(refresh_token)
            .map_err(failed)?;
        match request.request(&self.http) {
            Ok(response) => {
                tokens.access_token = response.access_token().clone();
                // Always keep the new refresh token: the old one is retired,
                // and presenting it again would revoke the whole session.
                tokens.refresh_token = response.refresh_token().cloned();
                if let Some(id_token) = response.id_token() {
                    tokens.id_token = id_token.to_string();
                }
                Ok(())
            }
            Err(RequestTokenError::ServerResponse(e))
                if *e.error() == CoreErrorResponseType::InvalidGrant =>
            {
                Err(RpError::LoggedOut)
            }
            Err(e) => Err(failed(e)),
        }
    }

    /// Where to send the browser to end the provider session too.
    pub fn logout_url(&self, tokens: &Tokens, post_logout_redirect_uri: &str) -> Option<String> {
        let endpoint = self.end_session_endpoint.as_ref()?;
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("id_token_hint", &tokens.id_token)
            .append_pair("post_logout_redirect_uri", post_logout_redirect_uri)
            .finish();
        Some(format!("{endpoint}?{query}"))
    }
}

/// RFC 6750 3.1: the resource says the token itself is the problem.
fn is_invalid_token(res: &reqwest::blocking::Response) -> bool {
    res.headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("error=\"invalid_token\""))
}
