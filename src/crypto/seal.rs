//! Sealed values: encrypted and authenticated (AES-256-GCM) by the server
//! for itself, so that something it must get back from the browser (an
//! authorization request waiting for its login form) need not be written to
//! the database first. The browser can neither read nor change what is
//! sealed. Valid on every instance: the key lives in the database.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use openssl::cipher::{Cipher, CipherRef};
use openssl::cipher_ctx::CipherCtx;
use openssl::error::ErrorStack;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::secret::Secret;

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Marks a sealed value, so it cannot be mistaken for an id.
pub const PREFIX: &str = "sealed.";

/// The AES-256-GCM key, loaded once at start.
pub struct SealKey {
    key: Zeroizing<[u8; 32]>,
    /// OpenSSL's AES-256-GCM, looked up once. Named by its static handle,
    /// OpenSSL 3 looks the implementation up again on every use: most of
    /// what sealing a request cost (3.0 µs a seal, measured with
    /// `benches/micro.rs`), and more with the caches cold, as they are
    /// between two argon2id computations.
    cipher: Option<Cipher>,
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey([redacted])")
    }
}

impl SealKey {
    /// The key for one purpose, derived from a stored server secret (an
    /// HKDF-Expand step: HMAC over the purpose), so that no two uses share
    /// a key.
    pub fn derive(secret: &Secret, purpose: &str) -> Self {
        let mut mac = match Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC-SHA256 takes any key length"),
        };
        mac.update(purpose.as_bytes());
        mac.update(&[1]);
        Self {
            key: Zeroizing::new(mac.finalize().into_bytes().into()),
            cipher: Cipher::fetch(None, "AES-256-GCM", None).ok(),
        }
    }

    fn cipher(&self) -> &CipherRef {
        self.cipher.as_deref().unwrap_or(Cipher::aes_256_gcm())
    }

    /// The ciphertext of `plaintext`, and its tag in `tag`.
    fn encrypt(
        &self,
        nonce: &[u8],
        context: &[u8],
        plaintext: &[u8],
        tag: &mut [u8],
    ) -> Result<Vec<u8>, ErrorStack> {
        let mut ctx = CipherCtx::new()?;
        ctx.encrypt_init(Some(self.cipher()), Some(&self.key[..]), Some(nonce))?;
        ctx.cipher_update(context, None)?;
        let mut out = Vec::with_capacity(plaintext.len());
        ctx.cipher_update_vec(plaintext, &mut out)?;
        ctx.cipher_final_vec(&mut out)?;
        ctx.tag(tag)?;
        Ok(out)
    }

    /// The plaintext, if `tag` proves it unaltered.
    fn decrypt(
        &self,
        nonce: &[u8],
        context: &[u8],
        ciphertext: &[u8],
        tag: &[u8],
    ) -> Result<Vec<u8>, ErrorStack> {
        let mut ctx = CipherCtx::new()?;
        ctx.decrypt_init(Some(self.cipher()), Some(&self.key[..]), Some(nonce))?;
        ctx.cipher_update(context, None)?;
        let mut out = Vec::with_capacity(ciphertext.len());
        ctx.cipher_update_vec(ciphertext, &mut out)?;
        ctx.set_tag(tag)?;
        ctx.cipher_final_vec(&mut out)?;
        Ok(out)
    }

    /// `PREFIX` and the base64url of nonce, ciphertext and tag. `context`
    /// is authenticated, not encrypted: a value sealed for one context does
    /// not open in another.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        crate::crypto::random::fill(&mut nonce);
        let mut tag = [0u8; TAG_LEN];
        let Ok(ciphertext) = self.encrypt(&nonce, context.as_bytes(), plaintext, &mut tag) else {
            // Only a broken OpenSSL gets here; an unopenable value then
            // shows the user an expired form instead of failing the page.
            tracing::error!("sealing failed");
            return PREFIX.to_owned();
        };
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len() + TAG_LEN);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out.extend_from_slice(&tag);
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(out))
    }

    /// The plaintext of a value this key sealed for `context`; `None` for
    /// anything else, altered or not.
    pub fn open(&self, context: &str, sealed: &str) -> Option<Vec<u8>> {
        let raw = URL_SAFE_NO_PAD.decode(sealed.strip_prefix(PREFIX)?).ok()?;
        if raw.len() < NONCE_LEN + TAG_LEN {
            return None;
        }
        let (nonce, rest) = raw.split_at(NONCE_LEN);
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
        self.decrypt(nonce, context.as_bytes(), ciphertext, tag)
            .ok()
    }
}

/// Whether a value is sealed (it may still fail to open).
pub fn is_sealed(value: &str) -> bool {
    value.starts_with(PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(secret: &str) -> SealKey {
        SealKey::derive(&Secret::new(secret), "test")
    }

    #[test]
    fn opens_only_what_it_sealed_for_the_same_context() {
        let k = key("s");
        let sealed = k.seal("ctx", b"hello");
        assert!(is_sealed(&sealed));
        assert!(!sealed.contains("hello"));
        assert_eq!(k.open("ctx", &sealed).as_deref(), Some(&b"hello"[..]));
        assert_eq!(k.open("other", &sealed), None);
        assert_eq!(key("t").open("ctx", &sealed), None);
        assert_eq!(
            SealKey::derive(&Secret::new("s"), "other purpose").open("ctx", &sealed),
            None
        );
        // Two seals of the same text differ (fresh nonce).
        assert_ne!(k.seal("ctx", b"hello"), sealed);
    }

    #[test]
    fn altered_or_malformed_values_do_not_open() {
        let k = key("s");
        let sealed = k.seal("ctx", b"hello");
        let body = sealed.strip_prefix(PREFIX).unwrap();
        for i in [0, body.len() / 2, body.len() - 1] {
            let mut bytes = body.as_bytes().to_vec();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let altered = format!("{PREFIX}{}", String::from_utf8(bytes).unwrap());
            assert_eq!(k.open("ctx", &altered), None, "byte {i}");
        }
        for bad in ["", PREFIX, "sealed.!!", "sealed.AAAA", body] {
            assert_eq!(k.open("ctx", bad), None, "{bad}");
        }
    }
}
