//! CSRF tokens: an HMAC over what the form is bound to (the browser or the
//! login session, and the pending authorization request). Stateless, and
//! valid on every instance because the key lives in the database.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::secret::{Secret, ct_eq};

/// The MAC key, loaded once at start.
#[derive(Clone)]
pub struct CsrfKey(Secret);

impl std::fmt::Debug for CsrfKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CsrfKey([redacted])")
    }
}

impl CsrfKey {
    pub fn new(key: Secret) -> Self {
        Self(key)
    }

    /// The token for a form with this purpose, bound to `binding` (a browser
    /// or session secret) and `request` (the pending request id).
    pub fn token(&self, purpose: &str, binding: &Secret, request: &str) -> String {
        let mut mac = match Hmac::<Sha256>::new_from_slice(self.0.expose().as_bytes()) {
            Ok(mac) => mac,
            // HMAC accepts keys of any length.
            Err(_) => unreachable!("HMAC-SHA256 takes any key length"),
        };
        for part in [purpose, binding.expose(), request] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    pub fn check(&self, purpose: &str, binding: &Secret, request: &str, presented: &str) -> bool {
        ct_eq(
            self.token(purpose, binding, request).as_bytes(),
            presented.as_bytes(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_bound_to_every_part() {
        let key = CsrfKey::new(Secret::new("k"));
        let b = Secret::new("browser");
        let t = key.token("login", &b, "req1");
        assert!(key.check("login", &b, "req1", &t));
        assert!(!key.check("consent", &b, "req1", &t));
        assert!(!key.check("login", &Secret::new("other"), "req1", &t));
        assert!(!key.check("login", &b, "req2", &t));
        assert!(!key.check("login", &b, "req1", ""));
    }
}
