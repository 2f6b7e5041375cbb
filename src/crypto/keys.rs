//! Signing keys: generated on first start, stored in the database (so every
//! instance sharing it signs and publishes the same keys), loaded into a
//! [`KeyRing`] that signs, verifies and serves the pre-serialized JWKS.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use josekit::jwk::Jwk;
use josekit::jwk::alg::ec::EcCurve;
use josekit::jws::{ES256, JwsSigner, JwsVerifier, RS256};
use serde::{Deserialize, Serialize};

/// JWS algorithms we sign with. Anything else (notably `none` and the HMAC
/// family) is refused on verification (RFC 8725 3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Alg {
    RS256,
    ES256,
}

impl Alg {
    pub fn name(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::ES256 => "ES256",
        }
    }

    /// Whether one signature is cheap enough to make on an async worker:
    /// an ES256 signature takes tens of microseconds, an RS256 one about
    /// ten times that (BENCHMARKS.md).
    pub fn signs_quickly(self) -> bool {
        matches!(self, Alg::ES256)
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "RS256" => Some(Alg::RS256),
            "ES256" => Some(Alg::ES256),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key operation failed: {0}")]
    Jose(#[from] josekit::JoseError),
    #[error("stored key is malformed: {0}")]
    Malformed(String),
}

/// When a key may sign and until when it is published (Unix seconds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeySchedule {
    pub created_at: i64,
    /// It signs from then on; `None` means from creation.
    pub activates_at: Option<i64>,
    /// It leaves the JWKS then; `None` means not scheduled.
    pub retires_at: Option<i64>,
}

impl KeySchedule {
    pub fn signs_from(&self) -> i64 {
        self.activates_at.unwrap_or(self.created_at)
    }

    pub fn is_published(&self, now: i64) -> bool {
        self.retires_at.is_none_or(|r| r > now)
    }
}

/// A private key as stored: PKCS#8 DER, base64.
pub struct StoredKey {
    pub kid: String,
    pub alg: Alg,
    pub private_der_b64: String,
    pub schedule: KeySchedule,
}

impl fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("private_der_b64", &"[redacted]")
            .finish()
    }
}

impl StoredKey {
    /// A fresh key pair: RSA 2048 for RS256, P-256 for ES256.
    pub fn generate(alg: Alg) -> Result<Self, KeyError> {
        let der = match alg {
            Alg::RS256 => josekit::jwk::alg::rsa::RsaKeyPair::generate(2048)?.to_der_private_key(),
            Alg::ES256 => {
                josekit::jwk::alg::ec::EcKeyPair::generate(EcCurve::P256)?.to_der_private_key()
            }
        };
        let kid = format!(
            "{}-{}",
            alg.name().to_lowercase(),
            crate::crypto::random::token(9)
        );
        Ok(Self {
            kid,
            alg,
            private_der_b64: STANDARD.encode(der),
            schedule: KeySchedule::default(),
        })
    }
}

use josekit::jwk::KeyPair as _;

/// One usable key: signer, verifier and its public JWK.
pub struct SigningKey {
    pub kid: String,
    pub alg: Alg,
    pub schedule: KeySchedule,
    signer: Box<dyn JwsSigner>,
    verifier: Box<dyn JwsVerifier>,
    public_jwk: Jwk,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish()
    }
}

impl SigningKey {
    pub fn load(stored: &StoredKey) -> Result<Self, KeyError> {
        let der = STANDARD
            .decode(&stored.private_der_b64)
            .map_err(|e| KeyError::Malformed(e.to_string()))?;
        let (signer, mut public_jwk): (Box<dyn JwsSigner>, Jwk) = match stored.alg {
            Alg::RS256 => (
                Box::new(RS256.signer_from_der(&der)?),
                RS256.key_pair_from_der(&der)?.to_jwk_public_key(),
            ),
            Alg::ES256 => (
                Box::new(Es256Signer::from_der(&der)?),
                ES256.key_pair_from_der(&der)?.to_jwk_public_key(),
            ),
        };
        // Public-key export drops kid and alg; relying parties select keys by
        // them, so they are set again here.
        public_jwk.set_key_id(&stored.kid);
        public_jwk.set_algorithm(stored.alg.name());
        public_jwk.set_key_use("sig");
        let verifier: Box<dyn JwsVerifier> = match stored.alg {
            Alg::RS256 => Box::new(RS256.verifier_from_jwk(&public_jwk)?),
            Alg::ES256 => Box::new(ES256.verifier_from_jwk(&public_jwk)?),
        };
        Ok(Self {
            kid: stored.kid.clone(),
            alg: stored.alg,
            schedule: stored.schedule,
            signer,
            verifier,
            public_jwk,
        })
    }

    pub fn signer(&self) -> &dyn JwsSigner {
        self.signer.as_ref()
    }

    pub fn verifier(&self) -> &dyn JwsVerifier {
        self.verifier.as_ref()
    }
}

/// ES256 signatures (RFC 7518 3.4) from OpenSSL's ECDSA directly. josekit's
/// own signer sets up an OpenSSL 3 digest-and-sign context for every
/// signature, which looks the algorithms up in OpenSSL's provider tables
/// each time: under a login load that set-up was a third of the cost of a
/// signature, and signing two tokens the largest single cost of a code
/// exchange. Here SHA-256 is computed in Rust and only the ECDSA step runs
/// in OpenSSL. josekit still builds and verifies the JWS around it.
#[derive(Clone)]
struct Es256Signer(openssl::ec::EcKey<openssl::pkey::Private>);

impl fmt::Debug for Es256Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Es256Signer([redacted])")
    }
}

/// Bytes of each of r and s in an ES256 signature.
const P256_SCALAR_LEN: i32 = 32;

impl Es256Signer {
    /// From the stored DER (PKCS#8 or SEC 1); only a P-256 key is accepted.
    fn from_der(der: &[u8]) -> Result<Self, KeyError> {
        let malformed = |e: openssl::error::ErrorStack| KeyError::Malformed(e.to_string());
        let key = openssl::pkey::PKey::private_key_from_der(der)
            .and_then(|k| k.ec_key())
            .map_err(malformed)?;
        let p256 = key
            .group()
            .curve_name()
            .is_some_and(|c| c == openssl::nid::Nid::X9_62_PRIME256V1);
        if !p256 {
            return Err(KeyError::Malformed("an ES256 key must be on P-256".into()));
        }
        key.check_key().map_err(malformed)?;
        Ok(Self(key))
    }
}

impl JwsSigner for Es256Signer {
    fn algorithm(&self) -> &dyn josekit::jws::JwsAlgorithm {
        &ES256
    }

    fn key_id(&self) -> Option<&str> {
        // The caller puts the kid in the header.
        None
    }

    fn signature_len(&self) -> usize {
        2 * P256_SCALAR_LEN as usize
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, josekit::JoseError> {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(message);
        let signed = openssl::ecdsa::EcdsaSig::sign(&digest, &self.0).and_then(|sig| {
            // JWS wants r and s as fixed-width big-endian, not DER.
            let mut out = sig.r().to_vec_padded(P256_SCALAR_LEN)?;
            out.extend(sig.s().to_vec_padded(P256_SCALAR_LEN)?);
            Ok(out)
        });
        signed.map_err(|e| josekit::JoseError::InvalidSignature(e.into()))
    }

    fn box_clone(&self) -> Box<dyn JwsSigner> {
        Box::new(self.clone())
    }
}

/// Every published key, plus the JWKS document serialized once.
#[derive(Debug)]
pub struct KeyRing {
    keys: Vec<SigningKey>,
    jwks_json: String,
}

impl KeyRing {
    /// The keys published at `now` (retired ones are dropped).
    pub fn new(keys: Vec<SigningKey>, now: i64) -> Self {
        let keys: Vec<SigningKey> = keys
            .into_iter()
            .filter(|k| k.schedule.is_published(now))
            .collect();
        let jwks: Vec<&serde_json::Map<String, serde_json::Value>> =
            keys.iter().map(|k| k.public_jwk.as_ref()).collect();
        let jwks_json = serde_json::json!({ "keys": jwks }).to_string();
        Self { keys, jwks_json }
    }

    /// The signer for `alg` at `now`: the newest key already active. A key
    /// published ahead of its activation is in the JWKS but does not sign
    /// yet, so relying parties have it cached before they meet it.
    pub fn signing_key(&self, alg: Alg, now: i64) -> Option<&SigningKey> {
        self.keys
            .iter()
            .filter(|k| k.alg == alg && k.schedule.signs_from() <= now)
            .max_by(|a, b| {
                (a.schedule.signs_from(), &b.kid).cmp(&(b.schedule.signs_from(), &a.kid))
            })
    }

    pub fn find(&self, kid: &str, alg: Alg) -> Option<&SigningKey> {
        self.keys.iter().find(|k| k.kid == kid && k.alg == alg)
    }

    pub fn keys(&self) -> &[SigningKey] {
        &self.keys
    }

    pub fn jwks_json(&self) -> &str {
        &self.jwks_json
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwks_has_kid_alg_use_and_no_private_parts() {
        let keys = [Alg::RS256, Alg::ES256]
            .map(|a| SigningKey::load(&StoredKey::generate(a).unwrap()).unwrap());
        let ring = KeyRing::new(keys.into_iter().collect(), 0);
        let jwks: serde_json::Value = serde_json::from_str(ring.jwks_json()).unwrap();
        for key in jwks["keys"].as_array().unwrap() {
            assert!(key["kid"].is_string());
            assert!(key["alg"].is_string());
            assert_eq!(key["use"], "sig");
            assert!(key.get("d").is_none(), "private exponent published");
        }
    }

    #[test]
    fn a_scheduled_key_is_published_before_it_signs() {
        let old = StoredKey::generate(Alg::ES256).unwrap();
        let mut new = StoredKey::generate(Alg::ES256).unwrap();
        new.schedule = KeySchedule {
            created_at: 100,
            activates_at: Some(200),
            retires_at: None,
        };
        let mut old_loaded = SigningKey::load(&old).unwrap();
        old_loaded.schedule.retires_at = Some(500);
        let ring = KeyRing::new(vec![old_loaded, SigningKey::load(&new).unwrap()], 150);
        assert_eq!(ring.keys().len(), 2);
        assert_eq!(ring.signing_key(Alg::ES256, 150).unwrap().kid, old.kid);
        assert_eq!(ring.signing_key(Alg::ES256, 200).unwrap().kid, new.kid);
        let later = KeyRing::new(ring.keys.into_iter().collect(), 500);
        assert_eq!(later.keys().len(), 1, "retired key left the JWKS");
    }

    #[test]
    fn stored_key_debug_hides_private_key() {
        let k = StoredKey::generate(Alg::ES256).unwrap();
        assert!(!format!("{k:?}").contains(&k.private_der_b64));
    }
}
