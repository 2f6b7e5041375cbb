//! Random identifiers and secrets from the operating system's CSPRNG, and the
//! SHA-256 fingerprints under which secrets are stored.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use rand::TryRngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};

/// `bytes` random bytes, base64url without padding.
pub fn token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    fill(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// Fills `buf` with random bytes.
pub fn fill(buf: &mut [u8]) {
    OsRng.unwrap_err().fill_bytes(buf);
}

/// A 256-bit secret with a recognisable prefix, so that secret scanners can
/// find one that leaked (`pcs_` client secret, `pcc_` code, ...).
pub fn prefixed_secret(prefix: &str) -> String {
    format!("{prefix}{}", token(32))
}

/// An identifier that need not be secret but must not be guessable.
pub fn id() -> String {
    token(16)
}

/// A unique identifier that sorts by creation time: 48 bits of Unix
/// milliseconds, then 80 random bits, as 32 lowercase hex digits. For the
/// rows written on every token request (access-token `jti`, refresh-token
/// ids, grants, audit events): their index entries then land next to each
/// other instead of on a random page of the index, so a commit writes a
/// few pages rather than one per row. Reveals the creation time, which the
/// rows carry anyway; not for anything that must be unguessable alone.
pub fn ordered_id() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    ordered_id_at(millis)
}

fn ordered_id_at(millis: u64) -> String {
    let mut random = [0u8; 10];
    OsRng.unwrap_err().fill_bytes(&mut random);
    let mut out = format!("{:012x}", millis & 0xffff_ffff_ffff);
    for b in random {
        out.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        out.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
    }
    out
}

/// 128 random bits as lowercase hex: safe on command lines and in URLs.
pub fn hex_id() -> String {
    let mut buf = [0u8; 16];
    OsRng.unwrap_err().fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex SHA-256, the storage form of high-entropy secrets. A slow KDF would
/// add nothing for 256-bit random values and would cost throughput.
pub fn sha256_hex(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// base64url(SHA-256(value)), as PKCE S256 and `at_hash` use it.
pub fn sha256_b64url(value: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(value))
}

/// The left half of SHA-256, base64url: `at_hash` for RS256/ES256
/// (OpenID Connect Core 3.1.3.6).
pub fn left_half_hash(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_and_distinct() {
        let a = prefixed_secret("pcs_");
        assert!(a.starts_with("pcs_"));
        assert_eq!(a.len(), 4 + 43);
        assert_ne!(a, prefixed_secret("pcs_"));
    }

    #[test]
    fn ordered_ids_sort_by_time_and_differ() {
        // One millisecond apart, whatever the random part.
        for _ in 0..100 {
            assert!(ordered_id_at(1_764_806_400_000) < ordered_id_at(1_764_806_400_001));
        }
        let a = ordered_id();
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(ordered_id(), ordered_id());
    }

    #[test]
    fn pkce_s256_matches_rfc7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(
            sha256_b64url(verifier.as_bytes()),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
