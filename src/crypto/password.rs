//! Password hashing with argon2id at the OWASP-recommended parameters
//! (19 MiB, two passes, one lane). Callers run these off the async executor.

use std::sync::OnceLock;

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};

use crate::secret::Secret;

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed")]
pub struct HashError;

fn argon2() -> Argon2<'static> {
    // Parameters are constants known to be valid.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A PHC string (`$argon2id$v=19$...`) for the password.
pub fn hash(password: &Secret) -> Result<String, HashError> {
    argon2()
        .hash_password(password.expose().as_bytes())
        .map(|h| h.to_string())
        .map_err(|_| HashError)
}

/// Checks a password against a stored PHC string.
pub fn verify(password: &Secret, phc: &str) -> bool {
    argon2()
        .verify_password(password.expose().as_bytes(), phc)
        .is_ok()
}

/// Spends the same work as [`verify`] for a user that does not exist, so
/// response time does not reveal which usernames are registered.
pub fn verify_dummy(password: &Secret) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let phc = DUMMY
        .get_or_init(|| hash(&Secret::new(crate::crypto::random::token(16))).unwrap_or_default());
    let _ = verify(password, phc);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let pw = Secret::new("correct horse");
        let phc = hash(&pw).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify(&pw, &phc));
        assert!(!verify(&Secret::new("wrong"), &phc));
        assert!(!verify(&pw, "not a phc string"));
    }
}
