//! Signing keys over their life: created on first start, rotated on
//! demand, reloaded from the database so every instance converges.
//!
//! Rotation publishes the new keys at once but lets them sign only after
//! `keys.activation_delay_secs`, so relying parties that cache the JWKS have
//! them before they meet a token signed with them. The old keys stay
//! published until every token they signed has expired, then leave the JWKS.

use std::sync::{Arc, RwLock};

use super::audit::{self, Kind};
use super::{Provider, Result};
use crate::crypto::keys::{Alg, KeyRing, KeySchedule, SigningKey, StoredKey};
use crate::storage::{Store, StoreError};

/// The current key ring, swapped whole when the database changes.
#[derive(Debug)]
pub struct KeyStore {
    ring: RwLock<Arc<KeyRing>>,
}

impl KeyStore {
    pub fn new(ring: KeyRing) -> Self {
        Self {
            ring: RwLock::new(Arc::new(ring)),
        }
    }

    pub fn ring(&self) -> Arc<KeyRing> {
        self.ring
            .read()
            .map(|r| r.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    fn replace(&self, ring: KeyRing) {
        match self.ring.write() {
            Ok(mut r) => *r = Arc::new(ring),
            Err(e) => *e.into_inner() = Arc::new(ring),
        }
    }
}

/// Loads the ring, creating the first keys on a fresh database.
pub fn load_or_create(store: &Store, now: i64) -> Result<KeyRing> {
    let mut stored = store.signing_keys()?;
    if stored.is_empty() {
        let mut fresh = [
            StoredKey::generate(Alg::RS256)?,
            StoredKey::generate(Alg::ES256)?,
        ];
        for key in &mut fresh {
            key.schedule.created_at = now;
        }
        if store.bootstrap_signing_keys(&fresh, now)? {
            for key in &fresh {
                tracing::info!(kid = %key.kid, alg = key.alg.name(), "signing key created");
            }
        }
        // Whether this instance or another one won, everyone reads the same.
        stored = store.signing_keys()?;
    }
    build(&stored, now)
}

fn build(stored: &[StoredKey], now: i64) -> Result<KeyRing> {
    let keys = stored
        .iter()
        .map(SigningKey::load)
        .collect::<Result<Vec<_>, _>>()?;
    let ring = KeyRing::new(keys, now);
    for alg in [Alg::RS256, Alg::ES256] {
        if ring.signing_key(alg, now).is_none() {
            let message = format!("no usable {} signing key in the database", alg.name());
            return Err(StoreError::Migration(message).into());
        }
    }
    Ok(ring)
}

/// Re-reads the keys (another instance may have rotated them).
pub fn reload(p: &Provider) -> Result<()> {
    let now = p.now();
    let ring = build(&p.store.signing_keys()?, now)?;
    p.keys.replace(ring);
    Ok(())
}

/// Starts a rotation; returns the new key ids.
pub fn rotate(p: &Provider, actor: Option<&str>) -> Result<Vec<String>> {
    let now = p.now();
    let activates_at = now + p.config.keys.activation_delay_secs;
    let tokens = &p.config.tokens;
    let longest_access = p.store.longest_client_access_ttl()?.unwrap_or(0);
    let longest = tokens
        .access_token_ttl_secs
        .max(tokens.id_token_ttl_secs)
        .max(longest_access);
    // Old keys sign until the new ones activate; their last tokens expire
    // `longest` later. A minute more covers clock skew between instances.
    let retire_old_at = activates_at + longest + 60;
    let mut fresh = [
        StoredKey::generate(Alg::RS256)?,
        StoredKey::generate(Alg::ES256)?,
    ];
    for key in &mut fresh {
        key.schedule = KeySchedule {
            created_at: now,
            activates_at: Some(activates_at),
            retires_at: None,
        };
    }
    p.store.rotate_signing_keys(&fresh, retire_old_at)?;
    reload(p)?;
    let kids: Vec<String> = fresh.iter().map(|k| k.kid.clone()).collect();
    tracing::info!(kids = ?kids, activates_at, retire_old_at, "signing keys rotated");
    let mut event = audit::event(Kind::KeysRotated).detail(kids.join(" "));
    if let Some(actor) = actor {
        event = event.actor(actor);
    }
    event.record(p);
    Ok(kids)
}

/// Reloads the ring every `interval` on its own thread, so a rotation done
/// on one instance reaches every other within that time.
pub fn spawn_reloader(p: Arc<Provider>, interval: std::time::Duration) {
    let spawned = std::thread::Builder::new()
        .name("key-reloader".into())
        .spawn(move || {
            loop {
                std::thread::sleep(interval);
                if let Err(e) = reload(&p) {
                    tracing::warn!(error = %e, "reloading signing keys failed");
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the key reloader");
    }
}
