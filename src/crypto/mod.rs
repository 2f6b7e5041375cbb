//! Cryptographic building blocks: random tokens and hashes, password
//! hashing, signing keys, JWTs and CSRF tokens. No HTTP and no storage here.

pub mod csrf;
pub mod jwt;
pub mod keys;
pub mod password;
pub mod random;
