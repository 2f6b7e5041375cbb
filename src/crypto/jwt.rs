//! Compact JWS for our tokens: sign claims with a ring key, and verify a
//! presented token against the ring with an algorithm allow-list and an
//! expected `typ` (RFC 8725 3.1 and 3.11).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use josekit::jws::{JwsHeader, JwsVerifier};
use josekit::jwt::{self, JwtPayload};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::keys::{Alg, KeyRing};

#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("no signing key for {0:?}")]
    NoKey(Alg),
    #[error("token is malformed or its signature does not verify")]
    Invalid,
    #[error("signing failed: {0}")]
    Sign(josekit::JoseError),
}

/// Signs with the key that is `alg`'s signer at the claims' `iat`.
pub fn sign(
    ring: &KeyRing,
    alg: Alg,
    typ: &str,
    claims: Map<String, Value>,
) -> Result<String, JwtError> {
    let now = claims
        .get("iat")
        .and_then(Value::as_i64)
        .unwrap_or(i64::MAX);
    let key = ring.signing_key(alg, now).ok_or(JwtError::NoKey(alg))?;
    let mut header = JwsHeader::new();
    header.set_token_type(typ);
    header.set_key_id(&key.kid);
    let payload = JwtPayload::from_map(claims).map_err(JwtError::Sign)?;
    jwt::encode_with_signer(&payload, &header, key.signer()).map_err(JwtError::Sign)
}

/// Verifies signature, algorithm and `typ`; returns the claims. Time-based
/// claims are the caller's to check, against the injected clock.
pub fn verify(
    ring: &KeyRing,
    token: &str,
    typ: &str,
    allowed: &[Alg],
) -> Result<Map<String, Value>, JwtError> {
    let (payload, _) =
        jwt::decode_with_verifier_selector(token, |header| Ok(select(ring, header, typ, allowed)))
            .map_err(|_| JwtError::Invalid)?;
    Ok(payload.claims_set().clone())
}

fn select<'a>(
    ring: &'a KeyRing,
    header: &JwsHeader,
    typ: &str,
    allowed: &[Alg],
) -> Option<&'a dyn JwsVerifier> {
    let presented_typ = header.token_type()?;
    // RFC 9068 2.1 allows the media type with or without "application/".
    let presented_typ = presented_typ
        .strip_prefix("application/")
        .unwrap_or(presented_typ);
    if !presented_typ.eq_ignore_ascii_case(typ) {
        return None;
    }
    let alg = Alg::parse(header.algorithm()?)?;
    if !allowed.contains(&alg) {
        return None;
    }
    ring.find(header.key_id()?, alg).map(|k| k.verifier())
}

/// Tokens whose signature has been verified, so that a resource server
/// asking about the same access token again (introspection, userinfo) does
/// not pay for the signature check again (72 µs for ES256). Only the
/// signature is remembered: expiry and revocation are checked on every
/// use. An entry is used only while the ring still holds its key, so a
/// retired key stops its tokens at once.
pub struct VerifiedTokens {
    typ: &'static str,
    entries: RwLock<HashMap<[u8; 32], Verified>>,
}

struct Verified {
    claims: Arc<Map<String, Value>>,
    kid: String,
    alg: Alg,
    exp: i64,
}

/// Bounds the memory the cache takes (a few MiB at most).
const VERIFIED_MAX: usize = 8192;

impl VerifiedTokens {
    /// A cache for tokens of this `typ`.
    pub fn new(typ: &'static str) -> Self {
        Self {
            typ,
            entries: RwLock::default(),
        }
    }

    /// [`verify`], remembered. `now` only decides which entries are worth
    /// keeping when the cache is full.
    pub fn verify(
        &self,
        ring: &KeyRing,
        token: &str,
        allowed: &[Alg],
        now: i64,
    ) -> Result<Arc<Map<String, Value>>, JwtError> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        {
            let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
            if let Some(hit) = entries.get(&key)
                && allowed.contains(&hit.alg)
                && ring.find(&hit.kid, hit.alg).is_some()
            {
                return Ok(hit.claims.clone());
            }
        }
        let (payload, header) = jwt::decode_with_verifier_selector(token, |header| {
            Ok(select(ring, header, self.typ, allowed))
        })
        .map_err(|_| JwtError::Invalid)?;
        let (Some(kid), Some(alg)) = (
            header.key_id().map(str::to_owned),
            header.algorithm().and_then(Alg::parse),
        ) else {
            return Err(JwtError::Invalid);
        };
        let claims = Arc::new(payload.claims_set().clone());
        let exp = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= VERIFIED_MAX {
            entries.retain(|_, v| v.exp > now);
            if entries.len() >= VERIFIED_MAX {
                entries.clear();
            }
        }
        let entry = Verified {
            claims: claims.clone(),
            kid,
            alg,
            exp,
        };
        entries.insert(key, entry);
        Ok(claims)
    }
}

impl std::fmt::Debug for VerifiedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedTokens")
            .field("typ", &self.typ)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::keys::{SigningKey, StoredKey};

    fn ring_of(keys: &[&StoredKey]) -> KeyRing {
        let loaded = keys.iter().map(|k| SigningKey::load(k).unwrap()).collect();
        KeyRing::new(loaded, 0)
    }

    fn claims(exp: i64) -> Map<String, Value> {
        let v = serde_json::json!({ "iat": 0, "exp": exp, "jti": "j" });
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_remembered_signature_needs_its_key_still_in_the_ring() {
        let key = StoredKey::generate(Alg::ES256).unwrap();
        let other = StoredKey::generate(Alg::ES256).unwrap();
        let ring = ring_of(&[&key]);
        let token = sign(&ring, Alg::ES256, "at+jwt", claims(100)).unwrap();
        let cache = VerifiedTokens::new("at+jwt");
        assert_eq!(
            cache.verify(&ring, &token, &[Alg::ES256], 0).unwrap()["exp"],
            100
        );
        // Served from the cache, and still only for allowed algorithms.
        assert!(cache.verify(&ring, &token, &[Alg::ES256], 0).is_ok());
        assert!(cache.verify(&ring, &token, &[Alg::RS256], 0).is_err());
        // The key retired: the remembered signature no longer counts.
        let without = ring_of(&[&other]);
        assert!(cache.verify(&without, &token, &[Alg::ES256], 0).is_err());
    }

    #[test]
    fn bad_tokens_are_refused_and_not_remembered() {
        let key = StoredKey::generate(Alg::ES256).unwrap();
        let ring = ring_of(&[&key]);
        let token = sign(&ring, Alg::ES256, "at+jwt", claims(100)).unwrap();
        let cache = VerifiedTokens::new("at+jwt");
        // One character of the signature changed, well inside it.
        let at = token.rfind('.').unwrap() + 10;
        let swapped = if &token[at..=at] == "A" { "B" } else { "A" };
        let tampered = format!("{}{swapped}{}", &token[..at], &token[at + 1..]);
        assert!(cache.verify(&ring, &tampered, &[Alg::ES256], 0).is_err());
        let id_token = sign(&ring, Alg::ES256, "JWT", claims(100)).unwrap();
        assert!(cache.verify(&ring, &id_token, &[Alg::ES256], 0).is_err());
        assert!(cache.entries.read().unwrap().is_empty());
    }
}
