//! Identifier newtypes, so a user id cannot be passed where a client id is
//! expected.

use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// An OAuth client identifier (public, appears in URLs and tokens).
    ClientId
);
id_type!(
    /// A user's stable subject identifier (`sub`).
    UserId
);
id_type!(
    /// The public id of a login session (`sid`); not the cookie secret.
    SessionId
);
id_type!(
    /// A pending authorization request waiting for login or consent.
    RequestId
);
id_type!(
    /// One authorization's family of code and tokens.
    GrantId
);
