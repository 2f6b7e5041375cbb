//! portcullis: an OpenID Connect identity provider.
//!
//! Layers: [`http`] (actix-web handlers) -> [`service`] (OAuth 2.0 and
//! OpenID Connect flow logic) -> [`storage`] (diesel), with [`crypto`] for
//! keys, tokens and hashing. [`config`] and [`cli`] sit at the edge.

// Two audited exceptions, both system calls without a safe wrapper in std:
// lowering the hashing threads' CPU priority (service::limits) and asking
// for huge pages for the argon2 memory (crypto::password).
#![deny(unsafe_code)]

pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod http;
pub mod ids;
pub mod secret;
pub mod server;
pub mod service;
pub mod storage;
