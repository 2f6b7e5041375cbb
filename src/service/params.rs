//! Request parameters as OAuth sees them: form-urlencoded pairs in which a
//! repeated parameter is an error (RFC 6749 3.1 and 3.2) and an empty value
//! counts as absent.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use super::OAuthError;

#[derive(Debug, Default, Clone)]
pub struct Params {
    values: HashMap<String, String>,
    repeated: Vec<String>,
    /// A name or value that is not UTF-8 once decoded.
    malformed: bool,
}

impl Params {
    pub fn parse(encoded: &[u8]) -> Self {
        let mut params = Params::default();
        for pair in encoded.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
            let (k, v) = match pair.iter().position(|b| *b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &[][..]),
            };
            let (Some(k), Some(v)) = (decode(k), decode(v)) else {
                params.malformed = true;
                continue;
            };
            if v.is_empty() {
                continue;
            }
            match params.values.entry(k) {
                Entry::Occupied(e) => params.repeated.push(e.key().clone()),
                Entry::Vacant(e) => {
                    e.insert(v);
                }
            }
        }
        params
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    pub fn is_repeated(&self, name: &str) -> bool {
        self.repeated.iter().any(|r| r == name)
    }

    /// invalid_request for undecodable input, or naming the first repeated
    /// parameter.
    pub fn reject_malformed(&self) -> Result<(), OAuthError> {
        if self.malformed {
            return Err(OAuthError::invalid_request("parameters must be UTF-8"));
        }
        match self.repeated.first() {
            Some(name) => Err(OAuthError::invalid_request(format!(
                "parameter {} appears more than once",
                printable(name)
            ))),
            None => Ok(()),
        }
    }

    /// A required parameter, or invalid_request naming it.
    pub fn require(&self, name: &'static str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("missing parameter {name}")))
    }
}

/// application/x-www-form-urlencoded decoding that refuses invalid UTF-8
/// instead of replacing it.
fn decode(raw: &[u8]) -> Option<String> {
    let spaced: Vec<u8> = raw
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    let bytes: Vec<u8> = percent_encoding::percent_decode(&spaced).collect();
    String::from_utf8(bytes).ok()
}

/// A parameter name safe to echo in an error description: RFC 6749 limits
/// error_description to printable ASCII without `"` and `\`.
fn printable(name: &str) -> String {
    name.chars()
        .filter(|c| (' '..='~').contains(c) && *c != '"' && *c != '\\')
        .take(40)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameter_is_detected() {
        let p = Params::parse(b"a=1&b=2&a=3");
        assert_eq!(p.get("a"), Some("1"));
        assert!(p.is_repeated("a"));
        assert!(p.reject_malformed().is_err());
    }

    #[test]
    fn invalid_utf8_is_malformed() {
        assert!(Params::parse(b"state=%FF%FE").reject_malformed().is_err());
        let p = Params::parse(b"a=%C3%A9+x&b=1%2B1");
        assert_eq!(p.get("a"), Some("\u{e9} x"));
        assert_eq!(p.get("b"), Some("1+1"));
    }

    #[test]
    fn empty_values_are_absent() {
        let p = Params::parse(b"a=&b=2");
        assert_eq!(p.get("a"), None);
        assert!(p.reject_malformed().is_ok());
    }

    #[test]
    fn error_text_is_printable_ascii() {
        let p = Params::parse("x%22%0A\u{e9}=1&x%22%0A\u{e9}=2".as_bytes());
        let e = p.reject_malformed().unwrap_err();
        assert!(
            e.description
                .chars()
                .all(|c| (' '..='~').contains(&c) && c != '"')
        );
    }
}
