//! Integration tests: every test starts the real server on its own port with
//! its own database, and talks HTTP to it.

mod authorize;
mod browser;
mod cli;
mod cluster;
mod console;
mod discovery;
mod flow;
mod grants;
mod hardening;
mod logout;
mod operations;
mod refresh;
mod relying_party;
mod revocation;
mod session;
mod support;
mod token;
mod userinfo;
mod writer;
