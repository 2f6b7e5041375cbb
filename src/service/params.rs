//! Request parameters as OAuth sees them: form-urlencoded pairs in which a
//! repeated parameter is an error (RFC 6749 3.1 and 3.2) and an empty value
//! counts as absent.

use std::collections::HashMap;

use super::OAuthError;

#[derive(Debug, Default, Clone)]
pub struct Params {
    values: HashMap<String, String>,
    repeated: Vec<String>,
}

impl Params {
    pub fn parse(encoded: &[u8]) -> Self {
        let mut params = Params::default();
        for (k, v) in form_urlencoded::parse(encoded) {
            if v.is_empty() {
                continue;
            }
            if params.values.contains_key(k.as_ref()) {
                params.repeated.push(k.into_owned());
            } else {
                params.values.insert(k.into_owned(), v.into_owned());
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

    /// invalid_request naming the first repeated parameter, if any.
    pub fn reject_repeated(&self) -> Result<(), OAuthError> {
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
        assert!(p.reject_repeated().is_err());
    }

    #[test]
    fn empty_values_are_absent() {
        let p = Params::parse(b"a=&b=2");
        assert_eq!(p.get("a"), None);
        assert!(p.reject_repeated().is_ok());
    }

    #[test]
    fn error_text_is_printable_ascii() {
        let p = Params::parse("x%22%0A\u{e9}=1&x%22%0A\u{e9}=2".as_bytes());
        let e = p.reject_repeated().unwrap_err();
        assert!(
            e.description
                .chars()
                .all(|c| (' '..='~').contains(&c) && c != '"')
        );
    }
}
