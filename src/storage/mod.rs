//! Persistence: the only module that speaks diesel. Every function here is
//! synchronous; callers run them on the blocking pool.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub mod clients;
pub mod consents;
pub mod grants;
pub mod keys;
pub mod maintenance;
pub mod pending;
pub mod refresh;
pub mod schema;
pub mod sessions;
pub mod users;

pub(crate) type Conn = SqliteConnection;
type Manager = ConnectionManager<Conn>;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database unavailable: {0}")]
    Unavailable(#[from] diesel::r2d2::PoolError),
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("database migration failed: {0}")]
    Migration(String),
    #[error("unsupported database URL; use a SQLite path or sqlite:// URL")]
    UnsupportedUrl,
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Settings SQLite needs on every connection: a busy timeout first (so the
/// rest waits instead of failing with SQLITE_BUSY), NORMAL sync (durable
/// across process crashes; with WAL a commit costs no fsync), and enforced
/// foreign keys. WAL itself is a property of the file, set once in `open`.
#[derive(Debug)]
struct SqlitePragmas;

impl CustomizeConnection<Conn, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut Conn) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(
            "PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
        )
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// Switches the file to WAL (readers never block the writer) before the pool
/// opens its connections, so they do not race to change the journal mode.
fn enable_wal(path: &str) -> StoreResult<()> {
    use diesel::Connection;
    let mut conn = Conn::establish(path)
        .map_err(|e| StoreError::Migration(format!("cannot open database: {e}")))?;
    conn.batch_execute("PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL;")?;
    Ok(())
}

/// A connection pool over the configured database.
#[derive(Clone)]
pub struct Store {
    pool: Pool<Manager>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the pool and applies pending migrations.
    pub fn open(url: &str, pool_size: u32, timeout: Duration) -> StoreResult<Self> {
        let path = sqlite_path(url).ok_or(StoreError::UnsupportedUrl)?;
        restrict_permissions(std::path::Path::new(path))
            .map_err(|e| StoreError::Migration(format!("cannot prepare {path}: {e}")))?;
        enable_wal(path)?;
        let pool = Pool::builder()
            .max_size(pool_size)
            .connection_timeout(timeout)
            .connection_customizer(Box::new(SqlitePragmas))
            .build(Manager::new(path))
            .map_err(|e| StoreError::Migration(format!("cannot open database: {e}")))?;
        let store = Self { pool };
        store.migrate()?;
        Ok(store)
    }

    pub fn migrate(&self) -> StoreResult<()> {
        let mut conn = self.conn()?;
        conn.run_pending_migrations(SQLITE_MIGRATIONS)
            .map_err(|e| StoreError::Migration(e.to_string()))?;
        Ok(())
    }

    pub(crate) fn conn(&self) -> StoreResult<PooledConnection<Manager>> {
        Ok(self.pool.get()?)
    }
}

/// The database holds the private signing keys: create its directory and
/// file readable by the owner only, and tighten an existing file. SQLite gives
/// the -wal and -shm files the main file's permissions.
fn restrict_permissions(path: &std::path::Path) -> std::io::Result<()> {
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

/// The file path of a SQLite URL: `sqlite://path`, `sqlite:path` or a bare path.
fn sqlite_path(url: &str) -> Option<&str> {
    if let Some(rest) = url.strip_prefix("sqlite://") {
        return Some(rest);
    }
    if let Some(rest) = url.strip_prefix("sqlite:") {
        return Some(rest);
    }
    if url.contains("://") { None } else { Some(url) }
}

/// A unique-constraint violation, which several callers treat as "already there".
pub(crate) fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls() {
        assert_eq!(sqlite_path("sqlite://data/x.db"), Some("data/x.db"));
        assert_eq!(sqlite_path("sqlite:///abs/x.db"), Some("/abs/x.db"));
        assert_eq!(sqlite_path("./x.db"), Some("./x.db"));
        assert_eq!(sqlite_path("postgres://u@h/db"), None);
    }
}
