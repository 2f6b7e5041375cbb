//! Scope strings (RFC 6749 3.3): space-delimited, order-free sets.

use std::collections::BTreeSet;

/// Scopes this provider understands, with the words the consent page uses.
pub const KNOWN: &[(&str, &str)] = &[
    ("openid", "Sign you in and know who you are"),
    ("profile", "See your name and username"),
    ("email", "See your email address and whether it is verified"),
    (
        "offline_access",
        "Stay signed in to the app when you are away",
    ),
];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope(BTreeSet<String>);

impl Scope {
    pub fn parse(s: &str) -> Self {
        Self(
            s.split(' ')
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.contains(name)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn is_subset(&self, other: &Scope) -> bool {
        self.0.is_subset(&other.0)
    }

    pub fn intersection(&self, other: &Scope) -> Scope {
        Scope(self.0.intersection(&other.0).cloned().collect())
    }

    pub fn union(&self, other: &Scope) -> Scope {
        Scope(self.0.union(&other.0).cloned().collect())
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Plain-language descriptions for the consent page: the scopes we know
    /// in their natural order (signing in first), then any others.
    pub fn descriptions(&self) -> Vec<String> {
        let known = KNOWN
            .iter()
            .filter(|(name, _)| self.contains(name))
            .map(|(_, w)| (*w).to_owned());
        let other = self
            .iter()
            .filter(|s| !KNOWN.iter().any(|(name, _)| name == s))
            .map(|s| format!("Access \"{s}\""));
        known.chain(other).collect()
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for s in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(s)?;
            first = false;
        }
        Ok(())
    }
}

/// RFC 6749 3.3 scope-token syntax: %x21 / %x23-5B / %x5D-7E.
pub fn is_valid_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_normalises_order_and_spaces() {
        assert_eq!(Scope::parse("email  openid").to_string(), "email openid");
    }

    #[test]
    fn subset_and_intersection() {
        let granted = Scope::parse("openid profile");
        assert!(Scope::parse("openid").is_subset(&granted));
        assert!(!Scope::parse("openid email").is_subset(&granted));
        assert_eq!(
            Scope::parse("openid email")
                .intersection(&granted)
                .to_string(),
            "openid"
        );
    }

    #[test]
    fn token_syntax() {
        assert!(is_valid_token("openid"));
        assert!(!is_valid_token("a\"b"));
        assert!(!is_valid_token("a\\b"));
    }
}
