//! Registered clients: their record, redirect-URI matching and validation
//! (RFC 6749 3.1.2, RFC 8252 7.3), and registration. Authentication lives in
//! `client_auth`.

use url::Url;

use super::audit::{self, Kind};
use super::scope::Scope;
use crate::crypto::random;
use crate::ids::ClientId;
use crate::secret::{Secret, ct_eq};
use crate::storage::Store;
use crate::storage::clients::ClientRecord;

pub use super::client_auth::{ClientCredentials, authenticate, authenticate_cached};

pub const GRANT_AUTHORIZATION_CODE: &str = "authorization_code";
pub const GRANT_REFRESH_TOKEN: &str = "refresh_token";
pub const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";
pub const ALL_GRANTS: &[&str] = &[
    GRANT_AUTHORIZATION_CODE,
    GRANT_REFRESH_TOKEN,
    GRANT_CLIENT_CREDENTIALS,
];

/// A registered client, decoded from storage.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: ClientId,
    pub name: String,
    secret_hash: Option<String>,
    pub first_party: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub allowed_scopes: Scope,
    pub grant_types: Vec<String>,
    pub refresh_without_offline_access: bool,
    pub access_token_ttl: Option<i64>,
    pub refresh_absolute_ttl: Option<i64>,
    pub refresh_idle_ttl: Option<i64>,
    pub disabled: bool,
}

impl Client {
    pub fn from_record(r: ClientRecord) -> Self {
        Self {
            id: ClientId::new(r.id),
            name: r.name,
            secret_hash: r.secret_hash,
            first_party: r.first_party,
            redirect_uris: serde_json::from_str(&r.redirect_uris).unwrap_or_default(),
            post_logout_redirect_uris: serde_json::from_str(&r.post_logout_redirect_uris)
                .unwrap_or_default(),
            allowed_scopes: Scope::parse(&r.allowed_scopes),
            grant_types: r.grant_types.split(' ').map(str::to_owned).collect(),
            refresh_without_offline_access: r.refresh_without_offline_access,
            access_token_ttl: r.access_token_ttl_secs,
            refresh_absolute_ttl: r.refresh_absolute_ttl_secs,
            refresh_idle_ttl: r.refresh_idle_ttl_secs,
            disabled: r.disabled,
        }
    }

    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none()
    }

    pub fn allows_grant(&self, grant_type: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant_type)
    }

    /// The registered redirect URI that `presented` matches, if any.
    pub fn matching_redirect_uri(&self, presented: &str) -> Option<&str> {
        self.redirect_uris
            .iter()
            .map(String::as_str)
            .find(|registered| redirect_uri_matches(registered, presented))
    }

    pub(super) fn secret_matches(&self, presented: &Secret) -> bool {
        match &self.secret_hash {
            Some(stored) => ct_eq(
                random::sha256_hex(presented.expose()).as_bytes(),
                stored.as_bytes(),
            ),
            None => false,
        }
    }
}

/// Exact string comparison, except that the port of an `http` loopback IP
/// literal may differ (RFC 8252 7.3): native apps listen on ephemeral ports.
///
/// The relaxation applies only to a URI registered without a port: a
/// registration that names a port means exactly that port.
pub fn redirect_uri_matches(registered: &str, presented: &str) -> bool {
    if registered == presented {
        return true;
    }
    for host in ["http://127.0.0.1", "http://[::1]"] {
        if let (Some(r), Some(p)) = (registered.strip_prefix(host), presented.strip_prefix(host)) {
            return !r.starts_with(':') && strip_port(p) == Some(r);
        }
    }
    false
}

/// Removes a leading `:port`; anything else that is not a path, query or end
/// is left in place so it fails the comparison.
fn strip_port(rest: &str) -> Option<&str> {
    let Some(after_colon) = rest.strip_prefix(':') else {
        return Some(rest);
    };
    let digits = after_colon.bytes().take_while(u8::is_ascii_digit).count();
    let port = &after_colon[..digits];
    let valid = port.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p));
    if port.is_empty() || port.len() > 5 || !valid {
        return None;
    }
    Some(&after_colon[digits..])
}

/// Registration-time validation: absolute and already in normal form (so
/// the exact-string comparison at /authorize compares what was validated),
/// no fragment or userinfo, no wildcard, and https unless the host is
/// `127.0.0.1` or `[::1]`.
pub fn validate_redirect_uri(uri: &str) -> std::result::Result<(), String> {
    let url = Url::parse(uri).map_err(|e| format!("{uri:?} is not an absolute URL: {e}"))?;
    if url.as_str() != uri {
        return Err(format!(
            "{uri:?} is not in normal form; register it as {:?}",
            url.as_str()
        ));
    }
    if uri.contains('#') {
        return Err(format!("{uri:?} must not contain a fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{uri:?} must not contain user information"));
    }
    if uri.contains('*') {
        return Err(format!("{uri:?} must not contain a wildcard"));
    }
    let loopback = matches!(url.host_str(), Some("127.0.0.1") | Some("[::1]"));
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(format!(
            "{uri:?} must use https (http is allowed only for 127.0.0.1 and [::1])"
        )),
    }
}

/// What an operator asks for when registering a client.
#[derive(Debug, Clone)]
pub struct NewClient {
    pub id: Option<String>,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub public: bool,
    pub first_party: bool,
    pub scopes: Option<String>,
    /// Operator-chosen secret; generated when `None`.
    pub secret: Option<Secret>,
    /// Grant types; `None` means authorization_code and refresh_token.
    pub grant_types: Option<Vec<String>>,
    pub refresh_without_offline_access: bool,
    pub lifetimes: ClientLifetimes,
    /// The admin registering the client, for the audit log.
    pub created_by: Option<String>,
}

/// Per-client overrides of the configured token lifetimes, in seconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientLifetimes {
    pub access_token: Option<i64>,
    pub refresh_absolute: Option<i64>,
    pub refresh_idle: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Service(#[from] super::Error),
}

impl From<crate::storage::StoreError> for RegisterError {
    fn from(e: crate::storage::StoreError) -> Self {
        RegisterError::Service(e.into())
    }
}

/// Registers a client; returns its id and, for a confidential client, the
/// secret, which is shown only this once.
pub fn register(
    store: &Store,
    now: i64,
    new: NewClient,
) -> std::result::Result<(ClientId, Option<Secret>), RegisterError> {
    if new.name.trim().is_empty() {
        return Err(RegisterError::Invalid("a client needs a name".into()));
    }
    let grant_types = new.grant_types.clone().unwrap_or_else(|| {
        vec![
            GRANT_AUTHORIZATION_CODE.to_owned(),
            GRANT_REFRESH_TOKEN.to_owned(),
        ]
    });
    check_grants(&new, &grant_types)?;
    for uri in new
        .redirect_uris
        .iter()
        .chain(&new.post_logout_redirect_uris)
    {
        validate_redirect_uri(uri).map_err(RegisterError::Invalid)?;
    }
    let id = new.id.unwrap_or_else(random::hex_id);
    validate_client_id(&id).map_err(RegisterError::Invalid)?;
    // A machine client's tokens carry its id as `sub`: it must never be
    // mistaken for a user.
    if store.user_by_id(&id)?.is_some() {
        return Err(RegisterError::Invalid(format!("client id {id:?} is taken")));
    }
    if new.public && new.secret.is_some() {
        return Err(RegisterError::Invalid(
            "a public client has no secret".into(),
        ));
    }
    let secret = match (new.public, new.secret) {
        (true, _) => None,
        (false, Some(s)) if s.expose().len() < 32 => {
            return Err(RegisterError::Invalid(
                "a client secret needs at least 32 characters".into(),
            ));
        }
        (false, Some(s)) => Some(s),
        (false, None) => Some(Secret::new(random::prefixed_secret("pcs_"))),
    };
    let scopes = new
        .scopes
        .unwrap_or_else(|| "openid profile email offline_access".into());
    let record = ClientRecord {
        id: id.clone(),
        name: new.name.trim().to_owned(),
        secret_hash: secret.as_ref().map(|s| random::sha256_hex(s.expose())),
        first_party: new.first_party,
        redirect_uris: serde_json::to_string(&new.redirect_uris).unwrap_or_default(),
        post_logout_redirect_uris: serde_json::to_string(&new.post_logout_redirect_uris)
            .unwrap_or_default(),
        allowed_scopes: Scope::parse(&scopes).to_string(),
        grant_types: grant_types.join(" "),
        refresh_without_offline_access: new.refresh_without_offline_access,
        access_token_ttl_secs: new.lifetimes.access_token,
        refresh_absolute_ttl_secs: new.lifetimes.refresh_absolute,
        refresh_idle_ttl_secs: new.lifetimes.refresh_idle,
        disabled: false,
        created_at: now,
    };
    store.insert_client(&record).map_err(|e| match &e {
        crate::storage::StoreError::Query(q) if crate::storage::is_unique_violation(q) => {
            RegisterError::Invalid(format!("a client with id {id:?} already exists"))
        }
        _ => e.into(),
    })?;
    tracing::info!(client_id = %id, public = new.public, "client registered");
    audit::event(Kind::ClientCreated)
        .client(id.clone())
        .record_in(store, now);
    Ok((ClientId::new(id), secret))
}

/// The longest lifetimes a client may be given, so that no setting can
/// keep a signing key published for years or overflow a timestamp.
pub const MAX_ACCESS_TOKEN_TTL: i64 = 24 * 3600;
pub const MAX_REFRESH_TTL: i64 = 400 * 24 * 3600;

/// Per-client lifetimes: positive and within the caps above.
pub fn validate_lifetimes(l: &ClientLifetimes) -> std::result::Result<(), String> {
    let checks = [
        (
            "access token lifetime",
            l.access_token,
            MAX_ACCESS_TOKEN_TTL,
        ),
        (
            "refresh-token family lifetime",
            l.refresh_absolute,
            MAX_REFRESH_TTL,
        ),
        (
            "refresh-token idle lifetime",
            l.refresh_idle,
            MAX_REFRESH_TTL,
        ),
    ];
    for (name, value, max) in checks {
        if let Some(v) = value
            && !(1..=max).contains(&v)
        {
            return Err(format!("The {name} must be between 1 and {max} seconds."));
        }
    }
    Ok(())
}

/// Client ids appear in URLs and on command lines: URL-unreserved
/// characters only.
pub fn validate_client_id(id: &str) -> std::result::Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 100
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    if ok {
        Ok(())
    } else {
        Err("a client id is 1 to 100 letters, digits, '-', '.', '_' or '~'".into())
    }
}

/// Grant types, redirect URIs and settings that only make sense together.
fn check_grants(new: &NewClient, grants: &[String]) -> std::result::Result<(), RegisterError> {
    let invalid = |m: &str| Err(RegisterError::Invalid(m.to_owned()));
    if let Some(unknown) = grants.iter().find(|g| !ALL_GRANTS.contains(&g.as_str())) {
        return Err(RegisterError::Invalid(format!(
            "unknown grant type {unknown:?}; use {}",
            ALL_GRANTS.join(", ")
        )));
    }
    let uses_code = grants.iter().any(|g| g == GRANT_AUTHORIZATION_CODE);
    if uses_code && new.redirect_uris.is_empty() {
        return invalid("a client using authorization_code needs at least one redirect URI");
    }
    if grants.iter().any(|g| g == GRANT_CLIENT_CREDENTIALS) && new.public {
        return invalid("client_credentials needs a confidential client");
    }
    if new.refresh_without_offline_access && !new.first_party {
        return invalid("only first-party clients may get refresh tokens without offline_access");
    }
    validate_lifetimes(&new.lifetimes).map_err(RegisterError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uri_exact_match_only() {
        let r = "https://app.example/cb";
        assert!(redirect_uri_matches(r, r));
        for bad in [
            "https://app.example/cb/",
            "https://app.example/cb/x",
            "https://app.example/cb?x=1",
            "https://app.example/c",
            "http://app.example/cb",
            "https://APP.example/cb",
            "https://app.example@evil.example/cb",
            "https://app.example:443/cb",
        ] {
            assert!(!redirect_uri_matches(r, bad), "{bad}");
        }
    }

    #[test]
    fn loopback_port_may_differ() {
        assert!(redirect_uri_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:51000/cb"
        ));
        assert!(!redirect_uri_matches(
            "http://127.0.0.1:8000/cb",
            "http://127.0.0.1:9/cb"
        ));
        assert!(redirect_uri_matches(
            "http://127.0.0.1:8000/cb",
            "http://127.0.0.1:8000/cb"
        ));
        assert!(!redirect_uri_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:0/cb"
        ));
        assert!(redirect_uri_matches(
            "http://[::1]/cb",
            "http://[::1]:4000/cb"
        ));
        assert!(!redirect_uri_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:1/cb2"
        ));
        assert!(!redirect_uri_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:99999/cb"
        ));
        assert!(!redirect_uri_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:80@evil/cb"
        ));
        assert!(!redirect_uri_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1.evil/cb"
        ));
        assert!(!redirect_uri_matches(
            "https://127.0.0.1/cb",
            "https://127.0.0.1:5/cb"
        ));
    }

    #[test]
    fn registration_validation() {
        assert!(validate_redirect_uri("https://app.example/cb").is_ok());
        assert!(validate_redirect_uri("http://127.0.0.1:3000/cb").is_ok());
        assert!(validate_redirect_uri("http://[::1]/cb").is_ok());
        for bad in [
            "/relative",
            "http://app.example/cb",
            "https://app.example/cb#frag",
            "https://user:pw@app.example/cb",
            "https://*.example/cb",
            "javascript:alert(1)",
            "https://app.example/cb\r\nSet-Cookie: x=1",
            " https://app.example/cb",
            "https://app.example/c\tb",
            "http://127.0.0.2/cb",
            "http://0x7f.1/cb",
            "https://app.example",
            "https://APP.example/cb",
        ] {
            assert!(validate_redirect_uri(bad).is_err(), "{bad}");
        }
    }
}
