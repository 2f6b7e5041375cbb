//! Client authentication at the token, revocation and introspection
//! endpoints (RFC 6749 2.3): client_secret_basic with form-urldecoded parts,
//! client_secret_post, or `none` for public clients; secrets compared as
//! SHA-256 digests in constant time.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::clients::Client;
use super::{OAuthError, Result};
use crate::secret::Secret;
use crate::storage::Store;
use crate::storage::clients::ClientRecord;

/// How the client presented itself at a client-authenticated endpoint.
#[derive(Debug)]
pub enum ClientCredentials {
    Basic {
        id: String,
        secret: Secret,
    },
    Post {
        id: String,
        secret: Secret,
    },
    /// Public client: identifies itself, proves nothing.
    None {
        id: String,
    },
    Missing,
}

impl ClientCredentials {
    /// From the Authorization header value and the body parameters. Using
    /// more than one method is invalid_request (RFC 6749 2.3).
    pub fn from_request(
        authorization: Option<&str>,
        params: &super::params::Params,
    ) -> std::result::Result<Self, OAuthError> {
        let body_id = params.get("client_id");
        let body_secret = params.get("client_secret");
        if let Some(header) = authorization {
            let (id, secret) = parse_basic(header).ok_or_else(OAuthError::invalid_client)?;
            if body_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "use only one client authentication method",
                ));
            }
            if body_id.is_some_and(|b| b != id) {
                return Err(OAuthError::invalid_request(
                    "client_id does not match the credentials",
                ));
            }
            return Ok(Self::Basic { id, secret });
        }
        Ok(match (body_id, body_secret) {
            (Some(id), Some(secret)) => Self::Post {
                id: id.to_owned(),
                secret: Secret::new(secret),
            },
            (Some(id), None) => Self::None { id: id.to_owned() },
            (None, Some(_)) => {
                return Err(OAuthError::invalid_request(
                    "client_secret without client_id",
                ));
            }
            (None, None) => Self::Missing,
        })
    }

    pub fn was_basic(&self) -> bool {
        matches!(self, Self::Basic { .. })
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))`; both parts are
/// form-urldecoded after splitting (RFC 6749 2.3.1).
fn parse_basic(header: &str) -> Option<(String, Secret)> {
    let (scheme, value) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(value.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let id = form_decode(id);
    if id.is_empty() {
        return None;
    }
    Some((id, Secret::new(form_decode(secret))))
}

fn form_decode(s: &str) -> String {
    form_urlencoded::parse(format!("v={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Authenticates a client: confidential clients by secret (constant-time
/// compare of SHA-256 hashes), public clients by id alone.
pub fn authenticate(store: &Store, creds: &ClientCredentials) -> Result<Client> {
    let (id, secret) = presented(creds)?;
    let record = store.client_cached(id)?;
    check(record.as_deref(), secret)
}

/// [`authenticate`] from the client cache alone, for callers that must not
/// block on the database: `None` when the client is not cached.
pub fn authenticate_cached(store: &Store, creds: &ClientCredentials) -> Option<Result<Client>> {
    let (id, secret) = match presented(creds) {
        Ok(presented) => presented,
        Err(e) => return Some(Err(e)),
    };
    let record = store.client_if_cached(id)?;
    Some(check(Some(&record), secret))
}

/// The client id and, for confidential clients, the secret presented.
fn presented(creds: &ClientCredentials) -> Result<(&str, Option<&Secret>)> {
    match creds {
        ClientCredentials::Basic { id, secret } | ClientCredentials::Post { id, secret } => {
            Ok((id.as_str(), Some(secret)))
        }
        ClientCredentials::None { id } => Ok((id.as_str(), None)),
        ClientCredentials::Missing => Err(OAuthError::invalid_client().into()),
    }
}

fn check(record: Option<&ClientRecord>, secret: Option<&Secret>) -> Result<Client> {
    let client = record
        .map(|record| Client::from_record(record.clone()))
        .filter(|c| !c.disabled)
        .ok_or_else(OAuthError::invalid_client)?;
    let ok = match secret {
        Some(secret) => client.secret_matches(secret),
        None => client.is_public(),
    };
    if !ok {
        tracing::info!(client_id = %client.id, "client authentication failed");
        return Err(OAuthError::invalid_client().into());
    }
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::params::Params;

    #[test]
    fn basic_credentials_are_form_urldecoded() {
        // id "my client", secret "a+b/c=d" encoded per RFC 6749 2.3.1.
        let header = format!("Basic {}", STANDARD.encode("my+client:a%2Bb%2Fc%3Dd"));
        let creds = ClientCredentials::from_request(Some(&header), &Params::default()).unwrap();
        match creds {
            ClientCredentials::Basic { id, secret } => {
                assert_eq!(id, "my client");
                assert_eq!(secret.expose(), "a+b/c=d");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn two_methods_are_rejected() {
        let header = format!("Basic {}", STANDARD.encode("c:s"));
        let params = Params::parse(b"client_secret=s&client_id=c");
        assert!(ClientCredentials::from_request(Some(&header), &params).is_err());
    }
}
