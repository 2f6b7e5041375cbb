//! The whole flow with the openidconnect crate as the relying party:
//! discovery, PKCE, state and nonce, login, consent, code exchange, ID token
//! verification against our JWKS, userinfo.

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJsonWebKey, CoreJwsSigningAlgorithm,
    CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthType, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl,
    JsonWebKey, Nonce, OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};

use crate::support::{self, Browser, ClientSpec, PASSWORD, TestClient, TestServer};

struct FlowResult {
    access_token: String,
    id_token: String,
    code: String,
    state: String,
}

fn relying_party_flow(
    server: &TestServer,
    client: &TestClient,
    auth: AuthType,
    sub: &str,
) -> FlowResult {
    let http = support::http();
    let issuer = IssuerUrl::new(server.base.clone()).expect("issuer");
    let metadata = CoreProviderMetadata::discover(&issuer, &http).expect("discovery");
    let rp = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client.id.clone()),
        client.secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(client.redirect.clone()).expect("redirect"))
    .set_auth_type(auth);

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();

    let callback = Browser::new().authorize(&server.base, url.as_str(), "alice", PASSWORD);
    assert_eq!(callback.param("state"), Some(state.secret().as_str()));
    assert_eq!(
        callback.param("iss"),
        Some(server.base.as_str()),
        "RFC 9207 iss"
    );
    let code = callback.param("code").expect("code").to_owned();

    let tokens = rp
        .exchange_code(AuthorizationCode::new(code.clone()))
        .expect("token endpoint configured")
        .set_pkce_verifier(verifier)
        .request(&http)
        .expect("token exchange");
    let id_token = tokens.id_token().expect("id_token for openid scope");
    let id_verifier = rp.id_token_verifier();
    let claims = id_token
        .claims(&id_verifier, &nonce)
        .expect("ID token verifies");
    assert_eq!(claims.subject().as_str(), sub);
    assert_eq!(claims.issuer().as_str(), server.base);
    assert!(claims.auth_time().is_some(), "auth_time");
    let expected_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().expect("alg"),
        id_token.signing_key(&id_verifier).expect("key"),
    )
    .expect("hash");
    assert_eq!(claims.access_token_hash(), Some(&expected_hash), "at_hash");
    assert_eq!(
        id_token.signing_alg().expect("alg"),
        &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256
    );

    let info: CoreUserInfoClaims = rp
        .user_info(tokens.access_token().clone(), None)
        .expect("userinfo endpoint")
        .request(&http)
        .expect("userinfo");
    assert_eq!(info.subject().as_str(), sub);
    assert_eq!(info.preferred_username().map(|u| u.as_str()), Some("alice"));
    assert_eq!(info.email().map(|e| e.as_str()), Some("alice@example.com"));

    let scopes: Vec<String> = tokens
        .scopes()
        .expect("scope")
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert!(scopes.contains(&"openid".to_owned()) && scopes.contains(&"email".to_owned()));
    FlowResult {
        access_token: tokens.access_token().secret().clone(),
        id_token: id_token.to_string(),
        code,
        state: state.secret().clone(),
    }
}

crate::both! {
    fn confidential_client_with_basic_auth() {
    let server = TestServer::start();
    let sub = server.add_user("alice");
    let client = server.confidential();
    relying_party_flow(&server, &client, AuthType::BasicAuth, &sub);
}
}

crate::both! {
    fn confidential_client_with_client_secret_post() {
    let server = TestServer::start();
    let sub = server.add_user("alice");
    let client = server.confidential();
    relying_party_flow(&server, &client, AuthType::RequestBody, &sub);
}
}

crate::both! {
    fn public_client_with_pkce() {
    let server = TestServer::start();
    let sub = server.add_user("alice");
    let client = server.public();
    relying_party_flow(&server, &client, AuthType::RequestBody, &sub);
}
}

crate::both! {
    fn id_token_carries_sid_and_nonce() {
    let server = TestServer::start();
    let sub = server.add_user("alice");
    let client = server.confidential();
    let result = relying_party_flow(&server, &client, AuthType::BasicAuth, &sub);
    let (header, claims) = support::jwt_parts(&result.id_token);
    assert_eq!(header["alg"], "RS256");
    assert!(claims["sid"].as_str().is_some_and(|s| !s.is_empty()), "sid");
    assert!(claims["nonce"].as_str().is_some(), "nonce");
    assert_eq!(claims["aud"], client.id.as_str());
}
}

// RFC 9068: typ at+jwt, ES256 by default, exactly the listed claims, and a
// signature that verifies against the published JWKS with a JOSE
// implementation other than ours.
crate::both! {
    fn access_token_is_an_rfc9068_jwt_that_verifies_independently() {
    let server = TestServer::start();
    let sub = server.add_user("alice");
    let client = server.confidential();
    let result = relying_party_flow(&server, &client, AuthType::BasicAuth, &sub);
    let (header, claims) = support::jwt_parts(&result.access_token);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "ES256");
    let mut names: Vec<&str> = claims
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "aud",
            "client_id",
            "exp",
            "iat",
            "iss",
            "jti",
            "scope",
            "sub"
        ]
    );
    assert_eq!(claims["sub"], sub.as_str());
    assert_eq!(claims["client_id"], client.id.as_str());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        300
    );

    let jwks: openidconnect::JsonWebKeySet<CoreJsonWebKey> = support::http()
        .get(server.url("/jwks"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let kid = header["kid"].as_str().expect("kid");
    let key = jwks
        .keys()
        .iter()
        .find(|k| k.key_id().map(|id| id.as_str()) == Some(kid))
        .expect("key in JWKS");
    let (signing_input, signature) = result.access_token.rsplit_once('.').unwrap();
    use base64::Engine;
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(signature)
        .unwrap();
    key.verify_signature(
        &CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        signing_input.as_bytes(),
        &signature,
    )
    .expect("signature verifies with the openidconnect crate");
}
}

// Nothing secret reaches the log: not the password, the code, the state,
// the tokens, the client secret or the session cookie.
crate::both! {
    fn logs_contain_no_secrets() {
    let server = TestServer::start();
    let sub = server.add_user("alice");
    let client = server.add_client(ClientSpec {
        secret: Some("a-very-long-client-secret-used-only-here-0123456789".into()),
        ..ClientSpec::default()
    });
    let result = relying_party_flow(&server, &client, AuthType::BasicAuth, &sub);
    let logs = support::logs::captured();
    assert!(logs.contains("login succeeded"), "the capture works");
    for secret in [
        PASSWORD,
        client.secret.as_deref().unwrap(),
        result.code.as_str(),
        result.access_token.as_str(),
        result.id_token.as_str(),
        result.state.as_str(),
    ] {
        assert!(!logs.contains(secret), "log contains a secret");
    }
    assert!(!logs.contains("pss_"), "log contains a session cookie");
}
}
