//! Compact JWS for our tokens: sign claims with a ring key, and verify a
//! presented token against the ring with an algorithm allow-list and an
//! expected `typ` (RFC 8725 3.1 and 3.11).

use josekit::jws::{JwsHeader, JwsVerifier};
use josekit::jwt::{self, JwtPayload};
use serde_json::{Map, Value};

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
