//! Cryptographic building blocks: random tokens and hashes, password
//! hashing, signing keys, JWTs, CSRF tokens and sealed values. No HTTP and
//! no storage here.

pub mod csrf;
pub mod jwt;
pub mod keys;
pub mod password;
pub mod random;
pub mod seal;
