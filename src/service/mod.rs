//! The OAuth 2.0 / OpenID Connect flow logic. No actix types: handlers parse
//! HTTP into the request types here and map the results back.

use std::sync::Arc;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::crypto::csrf::CsrfKey;
use crate::crypto::random;
use crate::crypto::seal::SealKey;
use crate::secret::Secret;
use crate::storage::Store;

pub mod account;
pub mod admin;
pub mod audit;
pub mod authorize;
pub mod client_auth;
pub mod clients;
pub mod consent;
pub mod discovery;
pub mod error;
pub mod keys;
pub mod limits;
pub mod login;
pub mod logout;
pub mod params;
pub mod revocation;
pub mod scope;
pub mod token;
pub mod userinfo;
pub mod users;

pub use error::{Error, ErrorCode, OAuthError, Result};

/// Everything a request needs, built once at start and shared read-only.
#[derive(Debug)]
pub struct Provider {
    pub config: Config,
    pub store: Store,
    pub clock: SharedClock,
    pub keys: keys::KeyStore,
    pub csrf: CsrfKey,
    /// Seals authorization requests into login forms (see
    /// [`authorize::find`]).
    pub request_seal: SealKey,
    pub discovery_json: String,
    /// Where password hashing runs (login, re-authentication).
    pub hash_pool: limits::HashPool,
    /// Access tokens whose signature has been checked (see
    /// [`crate::crypto::jwt::VerifiedTokens`]).
    pub verified_access_tokens: crate::crypto::jwt::VerifiedTokens,
}

impl Provider {
    /// Loads (or on first start creates) the signing keys, CSRF key and
    /// sealing key from the store, so every instance on the same database uses the same ones.
    pub fn new(config: Config, store: Store, clock: SharedClock) -> Result<Arc<Self>> {
        let keys = keys::KeyStore::new(keys::load_or_create(&store, clock.now())?);
        let csrf = CsrfKey::new(Secret::new(
            store.server_secret("csrf_key", || random::token(32))?,
        ));
        let request_seal = SealKey::derive(
            &Secret::new(store.server_secret("seal_key", || random::token(32))?),
            "sealed authorization requests",
        );
        let discovery_json = discovery::document(&config);
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let hash_pool = limits::HashPool::new(cores, 64, std::time::Duration::from_secs(10));
        Ok(Arc::new(Self {
            config,
            store,
            clock,
            keys,
            csrf,
            request_seal,
            discovery_json,
            hash_pool,
            verified_access_tokens: crate::crypto::jwt::VerifiedTokens::new("at+jwt"),
        }))
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// `{issuer}{path}`, for endpoint URLs and `iss`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.config.issuer_base(), path)
    }
}

/// Removes what nothing can use any more: expired rows, audit events past
/// their retention, keys whose tokens have all expired.
pub fn sweep(p: &Provider) -> Result<()> {
    let now = p.now();
    let purged = p.store.purge_expired(now)?;
    let audit = p
        .store
        .purge_audit(now - p.config.audit.retention_days * 24 * 3600)?;
    let keys = p.store.delete_retired_keys(now - 24 * 3600)?;
    tracing::debug!(?purged, audit, keys, "expired rows removed");
    Ok(())
}
