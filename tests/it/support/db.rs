//! Which database a test runs on. Tests written with [`both!`] run twice:
//! on SQLite, and on PostgreSQL when `TEST_DATABASE_URL` names a
//! server (each test then gets its own database, dropped afterwards).

use std::cell::Cell;
use std::io::Write;
use std::sync::Once;

use diesel::{Connection, RunQueryDsl, pg::PgConnection};
use tempfile::TempDir;

pub const PG_ENV: &str = "TEST_DATABASE_URL";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

thread_local! {
    static BACKEND: Cell<Backend> = const { Cell::new(Backend::Sqlite) };
}

pub fn current() -> Backend {
    BACKEND.with(Cell::get)
}

pub fn pg_base_url() -> Option<String> {
    std::env::var(PG_ENV).ok().filter(|u| !u.is_empty())
}

/// Runs `body` on `backend`, or says plainly that the PostgreSQL half is
/// skipped. The notice bypasses the test harness's output capture on
/// purpose, so it shows in a normal `cargo test` run.
pub fn run(backend: Backend, body: fn()) {
    if backend == Backend::Postgres && pg_base_url().is_none() {
        skipped_notice();
        return;
    }
    BACKEND.with(|b| b.set(backend));
    body();
}

pub fn skipped_notice() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "\nNOTE: PostgreSQL tests SKIPPED: {PG_ENV} is not set \
             (e.g. {PG_ENV}=postgres://postgres@127.0.0.1:5432/test).\n"
        );
    });
}

/// A database for one test server: a SQLite file in a temporary directory,
/// or a fresh PostgreSQL database dropped when this is dropped.
pub struct TestDb {
    pub url: String,
    pg: Option<(String, String)>,
    _dir: TempDir,
}

impl TestDb {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        match current() {
            Backend::Sqlite => {
                let url = dir.path().join("portcullis.db").display().to_string();
                Self {
                    url,
                    pg: None,
                    _dir: dir,
                }
            }
            Backend::Postgres => {
                let base = pg_base_url().expect("PostgreSQL URL");
                let name = format!("pc_test_{}", portcullis::crypto::random::hex_id());
                let mut admin = PgConnection::establish(&base).expect("connect to PostgreSQL");
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .expect("create db");
                let url = with_database(&base, &name);
                Self {
                    url,
                    pg: Some((base, name)),
                    _dir: dir,
                }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((base, name)) = &self.pg else { return };
        if let Ok(mut admin) = PgConnection::establish(base) {
            let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            let _ = diesel::sql_query(drop).execute(&mut admin);
        }
    }
}

/// `base` with its database name replaced.
pub fn with_database(base: &str, name: &str) -> String {
    let (without_query, query) = match base.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (base, None),
    };
    let prefix = match without_query.rfind('/') {
        Some(i) if i > "postgres://".len() => &without_query[..i],
        _ => without_query,
    };
    match query {
        Some(q) => format!("{prefix}/{name}?{q}"),
        None => format!("{prefix}/{name}"),
    }
}

/// Declares tests that run on both backends: `both! { fn name() { ... } }`
/// becomes `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! both {
    ($(fn $name:ident() $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn body() $body

            #[test]
            fn sqlite() {
                $crate::support::db::run($crate::support::db::Backend::Sqlite, body)
            }

            #[test]
            fn postgres() {
                $crate::support::db::run($crate::support::db::Backend::Postgres, body)
            }
        }
    )*};
}
