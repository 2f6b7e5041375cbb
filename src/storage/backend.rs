//! The two databases behind one connection type. The URL decides: a SQLite
//! path or `sqlite://` URL, or `postgres://`. Every query is written once
//! against [`Conn`]; only migrations and connection set-up differ.

use std::path::Path;

use diesel::Connection;
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{Error as PoolError, ManageConnection};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::{StoreError, StoreResult};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// An arbitrary constant naming the PostgreSQL advisory lock that
/// serialises migrations when several instances start at once.
const MIGRATION_LOCK: i64 = 0x706f_7274_6375_6c6c;

#[derive(diesel::MultiConnection)]
pub enum Conn {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Sqlite(String),
    Postgres(String),
}

impl Backend {
    /// Chosen from the URL's scheme, never by trying each driver in turn.
    pub fn from_url(url: &str) -> StoreResult<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Backend::Postgres(url.to_owned()));
        }
        Self::sqlite_from_url(url)
    }

    /// A PostgreSQL URL gets libpq timeouts unless it sets its own: connect
    /// within `connect_secs`, and give up on a connection whose packets go
    /// unacknowledged that long, so a vanished server yields errors (503)
    /// rather than requests that hang.
    pub fn with_timeouts(self, connect_secs: u64) -> StoreResult<Self> {
        let Backend::Postgres(url) = self else {
            return Ok(self);
        };
        let mut parsed = url::Url::parse(&url).map_err(|_| StoreError::UnsupportedUrl)?;
        let present: Vec<String> = parsed.query_pairs().map(|(k, _)| k.into_owned()).collect();
        let defaults = [
            ("connect_timeout", connect_secs.max(1).to_string()),
            ("tcp_user_timeout", (connect_secs.max(1) * 1000).to_string()),
            ("keepalives_idle", "30".to_owned()),
        ];
        for (key, value) in defaults {
            if !present.iter().any(|k| k == key) {
                parsed.query_pairs_mut().append_pair(key, &value);
            }
        }
        Ok(Backend::Postgres(parsed.into()))
    }

    fn sqlite_from_url(url: &str) -> StoreResult<Self> {
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .or_else(|| (!url.contains("://")).then_some(url))
            .ok_or(StoreError::UnsupportedUrl)?;
        Ok(Backend::Sqlite(path.to_owned()))
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Backend::Postgres(_))
    }

    /// One-time preparation before the pool opens.
    pub fn prepare(&self) -> StoreResult<()> {
        let Backend::Sqlite(path) = self else {
            return Ok(());
        };
        restrict_permissions(Path::new(path))
            .map_err(|e| StoreError::Migration(format!("cannot prepare {path}: {e}")))?;
        // WAL (readers never block the writer) is a property of the file; set
        // it once here so pooled connections do not race to change it.
        let mut conn = SqliteConnection::establish(path)
            .map_err(|e| StoreError::Migration(format!("cannot open database: {e}")))?;
        conn.batch_execute("PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL;")?;
        Ok(())
    }
}

/// Settings SQLite needs on every connection: a busy timeout first (so the
/// rest waits instead of failing with SQLITE_BUSY), NORMAL sync (durable
/// across process crashes; with WAL a commit costs no fsync), enforced
/// foreign keys, a larger page cache (16 MiB) so hot pages are not
/// re-read through the kernel, and automatic checkpoints only as a safety
/// net (10,000 pages): a thread of the store's own runs them
/// (`checkpoint`), not the commit that happens to fill the WAL. The net
/// matters when another process writes the same file, since the thread
/// holds only this process's writers back.
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL; \
     PRAGMA foreign_keys = ON; PRAGMA cache_size = -16384; PRAGMA temp_store = MEMORY; \
     PRAGMA wal_autocheckpoint = 10000;";

/// Per-connection limits on PostgreSQL: a statement or a lock wait that
/// runs this long is cancelled (and answered 503) instead of holding a
/// pooled connection and a request forever.
const POSTGRES_SESSION: &str = "SET statement_timeout = '15s'; SET lock_timeout = '5s'; \
     SET idle_in_transaction_session_timeout = '60s';";

/// The r2d2 manager: opens the variant the URL names.
#[derive(Debug)]
pub struct Manager(pub Backend);

impl ManageConnection for Manager {
    type Connection = Conn;
    type Error = PoolError;

    fn connect(&self) -> Result<Conn, PoolError> {
        match &self.0 {
            Backend::Sqlite(path) => {
                let mut conn =
                    SqliteConnection::establish(path).map_err(PoolError::ConnectionError)?;
                conn.batch_execute(SQLITE_PRAGMAS)
                    .map_err(PoolError::QueryError)?;
                Ok(Conn::Sqlite(conn))
            }
            Backend::Postgres(url) => {
                let mut conn = PgConnection::establish(url).map_err(PoolError::ConnectionError)?;
                conn.batch_execute(POSTGRES_SESSION)
                    .map_err(PoolError::QueryError)?;
                Ok(Conn::Postgresql(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut Conn) -> Result<(), PoolError> {
        conn.batch_execute("SELECT 1")
            .map_err(PoolError::QueryError)
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        // A connection left in a broken transaction is dropped, not reused.
        diesel::r2d2::R2D2Connection::is_broken(conn)
    }
}

/// Applies pending migrations for whichever backend this is. On PostgreSQL
/// an advisory lock keeps instances that start together from racing.
pub fn migrate(conn: &mut Conn) -> StoreResult<()> {
    let failed = |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Migration(e.to_string());
    match conn {
        Conn::Sqlite(c) => {
            c.run_pending_migrations(SQLITE_MIGRATIONS)
                .map_err(failed)?;
        }
        Conn::Postgresql(c) => {
            c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
            let result = c
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|_| ())
                .map_err(failed);
            c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))?;
            result?;
        }
    }
    Ok(())
}

/// Whether every migration this binary knows has been applied.
pub fn migrations_current(conn: &mut Conn) -> StoreResult<bool> {
    let failed = |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Migration(e.to_string());
    let pending = match conn {
        Conn::Sqlite(c) => c.has_pending_migration(SQLITE_MIGRATIONS).map_err(failed)?,
        Conn::Postgresql(c) => c
            .has_pending_migration(POSTGRES_MIGRATIONS)
            .map_err(failed)?,
    };
    Ok(!pending)
}

/// The database holds the private signing keys: create its directory and
/// file readable by the owner only, and tighten an existing file. SQLite gives
/// the -wal and -shm files the main file's permissions.
fn restrict_permissions(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    if path.as_os_str() == ":memory:" {
        return Ok(());
    }
    if let Some(dir) = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.exists())
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    let mode = std::fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!(path = %path.display(), "database file was readable by others; set to 0600");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_from_url() {
        assert_eq!(
            Backend::from_url("sqlite://data/x.db").unwrap(),
            Backend::Sqlite("data/x.db".into())
        );
        assert_eq!(
            Backend::from_url("sqlite:///abs/x.db").unwrap(),
            Backend::Sqlite("/abs/x.db".into())
        );
        assert_eq!(
            Backend::from_url("./x.db").unwrap(),
            Backend::Sqlite("./x.db".into())
        );
        assert!(
            Backend::from_url("postgres://u@h/db")
                .unwrap()
                .is_postgres()
        );
        assert!(
            Backend::from_url("postgresql://u@h/db")
                .unwrap()
                .is_postgres()
        );
        assert!(Backend::from_url("mysql://u@h/db").is_err());
    }

    /// `.cargo/config.toml` builds the bundled SQLite with the query planner
    /// stability guarantee; without it every `.first()` query is parsed
    /// again on each run (see there). A build that lost the flag fails here.
    #[test]
    fn sqlite_is_built_with_a_stable_query_planner() {
        use diesel::connection::Connection;
        use diesel::prelude::*;

        #[derive(QueryableByName)]
        struct CompileOption {
            #[diesel(sql_type = diesel::sql_types::Text)]
            compile_options: String,
        }
        let mut conn = diesel::SqliteConnection::establish(":memory:").unwrap();
        let options = diesel::sql_query("PRAGMA compile_options")
            .load::<CompileOption>(&mut conn)
            .unwrap();
        assert!(
            options.iter().any(|o| o.compile_options == "ENABLE_QPSG"),
            "bundled SQLite built without SQLITE_ENABLE_QPSG"
        );
    }
}
