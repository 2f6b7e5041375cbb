//! OpenID Connect Discovery 1.0 and RFC 8414 metadata, built with the
//! openidconnect crate's types and serialized once at start.

use openidconnect::core::{
    CoreClaimName, CoreClientAuthMethod, CoreGrantType, CoreJwsSigningAlgorithm, CoreResponseMode,
    CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, AuthUrl, IssuerUrl, JsonWebKeySetUrl, ProviderMetadata,
    ResponseTypes, Scope, TokenUrl, UserInfoUrl,
};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::crypto::keys::Alg;

/// Fields the core OpenID metadata type does not model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExtraMetadata {
    code_challenge_methods_supported: Vec<String>,
    authorization_response_iss_parameter_supported: bool,
    revocation_endpoint: String,
    revocation_endpoint_auth_methods_supported: Vec<String>,
    introspection_endpoint: String,
    introspection_endpoint_auth_methods_supported: Vec<String>,
    end_session_endpoint: String,
}

impl AdditionalProviderMetadata for ExtraMetadata {}

type Metadata = ProviderMetadata<
    ExtraMetadata,
    openidconnect::core::CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    openidconnect::core::CoreClaimType,
    CoreGrantType,
    openidconnect::core::CoreJweContentEncryptionAlgorithm,
    openidconnect::core::CoreJweKeyManagementAlgorithm,
    openidconnect::core::CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

pub const CLAIMS: &[&str] = &[
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "sid",
    "name",
    "preferred_username",
    "updated_at",
    "email",
    "email_verified",
];

fn signing_alg(alg: Alg) -> CoreJwsSigningAlgorithm {
    match alg {
        Alg::RS256 => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        Alg::ES256 => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    }
}

/// The discovery document as JSON. Panics only on an issuer that passed
/// config validation yet is not a URL, which cannot happen.
pub fn document(config: &Config) -> String {
    let base = config.issuer_base();
    let url = |path: &str| format!("{base}{path}");
    let parse = |s: String| url::Url::parse(&s).ok();
    let (Some(issuer), Some(auth), Some(jwks), Some(token), Some(userinfo)) = (
        IssuerUrl::new(config.issuer.clone()).ok(),
        parse(url("/authorize")).map(AuthUrl::from_url),
        parse(url("/jwks")).map(JsonWebKeySetUrl::from_url),
        parse(url("/token")).map(TokenUrl::from_url),
        parse(url("/userinfo")).map(UserInfoUrl::from_url),
    ) else {
        unreachable!("issuer was validated as an absolute URL")
    };
    // RS256 first: it is the one algorithm every relying party must support.
    let mut algs = vec![signing_alg(Alg::RS256)];
    if config.tokens.id_token_alg != Alg::RS256 {
        algs.push(signing_alg(config.tokens.id_token_alg));
    }
    let metadata = Metadata::new(
        issuer,
        auth,
        jwks,
        vec![ResponseTypes::new(vec![CoreResponseType::Code])],
        vec![CoreSubjectIdentifierType::Public],
        algs,
        ExtraMetadata {
            code_challenge_methods_supported: vec!["S256".into()],
            authorization_response_iss_parameter_supported: true,
            revocation_endpoint: url("/revoke"),
            revocation_endpoint_auth_methods_supported: strings(&[
                "client_secret_basic",
                "client_secret_post",
                "none",
            ]),
            introspection_endpoint: url("/introspect"),
            // Introspection is for confidential clients only.
            introspection_endpoint_auth_methods_supported: strings(&[
                "client_secret_basic",
                "client_secret_post",
            ]),
            end_session_endpoint: url("/logout"),
        },
    )
    .set_token_endpoint(Some(token))
    .set_userinfo_endpoint(Some(userinfo))
    .set_response_modes_supported(Some(vec![
        CoreResponseMode::Query,
        CoreResponseMode::FormPost,
    ]))
    .set_grant_types_supported(Some(vec![
        CoreGrantType::AuthorizationCode,
        CoreGrantType::RefreshToken,
        CoreGrantType::ClientCredentials,
    ]))
    .set_token_endpoint_auth_methods_supported(Some(vec![
        CoreClientAuthMethod::ClientSecretBasic,
        CoreClientAuthMethod::ClientSecretPost,
        CoreClientAuthMethod::None,
    ]))
    .set_scopes_supported(Some(
        crate::service::scope::KNOWN
            .iter()
            .map(|(s, _)| Scope::new((*s).to_owned()))
            .collect(),
    ))
    .set_claims_supported(Some(
        CLAIMS
            .iter()
            .map(|c| CoreClaimName::new((*c).to_owned()))
            .collect(),
    ))
    .set_request_parameter_supported(Some(false))
    .set_request_uri_parameter_supported(Some(false));
    serde_json::to_string(&metadata).unwrap_or_default()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}
