//! Persistence: the only module that speaks diesel. Every function here is
//! synchronous; callers run them on the blocking pool.
//!
//! Records bind `None` as NULL (`treat_none_as_default_value = false`)
//! rather than writing DEFAULT: the statement text then never depends on
//! the values, so diesel prepares each insert once per connection instead
//! of on every call.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use diesel::Connection;
use diesel::connection::SimpleConnection;
use diesel::r2d2::{Pool, PooledConnection};

pub mod audit;
mod backend;
mod checkpoint;
pub mod clients;
mod conditional;
pub mod consents;
pub mod grants;
pub mod keys;
pub mod maintenance;
pub mod pending;
pub mod refresh;
pub mod schema;
pub mod sessions;
pub mod users;
mod writer;

pub use backend::Backend;
pub(crate) use backend::Conn;
use backend::Manager;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database unavailable: {0}")]
    Unavailable(#[from] diesel::r2d2::PoolError),
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("database migration failed: {0}")]
    Migration(String),
    #[error("unsupported database URL; use a SQLite path, sqlite:// or postgres:// URL")]
    UnsupportedUrl,
    /// A group-commit write failed as a whole (see `writer`).
    #[error("database write failed: {message}")]
    Write { unavailable: bool, message: String },
}

pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    /// The database is away or overloaded rather than the request wrong:
    /// no connection, a connection lost mid-query, or a statement or lock
    /// timeout. Answered 503, worth retrying.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unavailable(_) => true,
            StoreError::Write { unavailable, .. } => *unavailable,
            StoreError::Query(e) => query_unavailable(e),
            _ => false,
        }
    }
}

/// See [`StoreError::is_unavailable`]; for a query error still in diesel's
/// hands (the writer classifies a job's error before keeping it).
pub(crate) fn query_unavailable(e: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    let Error::DatabaseError(kind, info) = e else {
        return false;
    };
    matches!(
        kind,
        DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand
    ) || info.message().contains("statement timeout")
        || info.message().contains("lock timeout")
        // SQLite's busy_timeout ran out: another writer held on.
        || info.message().contains("database is locked")
}

/// A connection pool over the configured database.
#[derive(Clone)]
pub struct Store {
    pool: Pool<Manager>,
    backend_is_postgres: bool,
    /// SQLite takes one writer at a time. Writers of this process queue on
    /// this lock (a futex wake-up) instead of meeting SQLITE_BUSY and
    /// sleeping in SQLite's busy handler, which starved throughput.
    sqlite_writer: Option<Arc<Mutex<()>>>,
    /// Set while the database is unreachable, so an outage is logged once
    /// when it starts and once when it ends, not for every request.
    outage: Arc<AtomicBool>,
    /// Group commit for the hot write paths; `None` inside the writer
    /// threads themselves.
    writer: Option<Arc<writer::Writer>>,
    /// Clients recently read for authentication.
    client_cache: Arc<clients::ClientCache>,
    /// SQLite: the thread that checkpoints the WAL (see `checkpoint`);
    /// it stops when the last clone of the store is gone.
    #[cfg_attr(
        not(test),
        allow(
            dead_code,
            reason = "held so that the thread lives as long as the store"
        )
    )]
    checkpointer: Option<Arc<checkpoint::Checkpointer>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the pool and applies pending migrations.
    pub fn open(url: &str, pool_size: u32, timeout: Duration) -> StoreResult<Self> {
        let backend = Backend::from_url(url)?.with_timeouts(timeout.as_secs())?;
        backend.prepare()?;
        let sqlite_writer = (!backend.is_postgres()).then(|| Arc::new(Mutex::new(())));
        let checkpointer = match (&backend, &sqlite_writer) {
            (Backend::Sqlite(path), Some(writers)) => Some(Arc::new(
                checkpoint::Checkpointer::start(path, writers.clone())
                    .map_err(|e| StoreError::Migration(format!("cannot start checkpoints: {e}")))?,
            )),
            _ => None,
        };
        let backend_is_postgres = backend.is_postgres();
        let pool = Pool::builder()
            .max_size(pool_size)
            .connection_timeout(timeout)
            // Failures are logged once per outage by `conn`, not per attempt.
            .error_handler(Box::new(diesel::r2d2::NopErrorHandler))
            // Checking on every checkout costs a round trip per request;
            // `conn` checks PostgreSQL connections that have not been
            // checked for a while instead. SQLite connections cannot die.
            .test_on_check_out(false)
            .build(Manager(backend.clone()))
            .map_err(|e| StoreError::Migration(format!("cannot open database: {e}")))?;
        let mut store = Self {
            pool,
            backend_is_postgres,
            sqlite_writer,
            outage: Arc::new(AtomicBool::new(false)),
            writer: None,
            client_cache: Arc::default(),
            checkpointer,
        };
        store.migrate()?;
        // SQLite has one writer at a time, so one thread; PostgreSQL takes
        // concurrent transactions, and a second writer overlaps one batch's
        // round trips with the next.
        let writers = if backend_is_postgres { 4 } else { 1 };
        let writer = writer::Writer::start(store.clone(), Manager(backend), writers)
            .map_err(|e| StoreError::Migration(format!("cannot start the writer: {e}")))?;
        store.writer = Some(Arc::new(writer));
        Ok(store)
    }

    /// Runs `f` in a transaction of the group-commit writer and returns its
    /// result once committed (see `writer`). For the hot write paths. `f`
    /// owns what it writes and may run more than once (after a rollback), so
    /// it must do nothing but its statements.
    pub(crate) fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: FnMut(&mut Conn) -> Result<T, diesel::result::Error> + Send + 'static,
        T: Send + 'static,
    {
        match &self.writer {
            Some(writer) => writer.write(f),
            None => Ok(self.write_conn()?.transaction(f)?),
        }
    }

    /// [`Store::write`] for async callers: the write is queued at once and
    /// the future resolves when it has committed, with no thread blocked
    /// meanwhile. Only the writer threads' own store lacks a writer; there
    /// the transaction runs before this returns.
    pub(crate) fn write_async<T, F>(
        &self,
        f: F,
    ) -> impl std::future::Future<Output = StoreResult<T>> + use<T, F>
    where
        F: FnMut(&mut Conn) -> Result<T, diesel::result::Error> + Send + 'static,
        T: Send + 'static,
    {
        let queued = match &self.writer {
            Some(writer) => Ok(writer.write_async(f)),
            None => Err(self.write(f)),
        };
        async move {
            match queued {
                Ok(commit) => commit.await,
                Err(done) => done,
            }
        }
    }

    /// SQLite: checkpoints the WAL now and reports what that did; `None`
    /// on PostgreSQL.
    #[cfg(test)]
    fn checkpoint_now(&self) -> Option<diesel::QueryResult<checkpoint::Checkpoint>> {
        self.checkpointer.as_ref()?.now()
    }

    pub fn migrate(&self) -> StoreResult<()> {
        backend::migrate(&mut *self.conn()?)
    }

    /// Reachable and fully migrated: what /readyz reports.
    pub fn is_ready(&self) -> StoreResult<bool> {
        backend::migrations_current(&mut *self.conn()?)
    }

    pub fn is_postgres(&self) -> bool {
        self.backend_is_postgres
    }

    /// A connection for a statement or transaction that writes.
    pub(crate) fn write_conn(&self) -> StoreResult<WriteConn<'_>> {
        let guard = self.sqlite_write_lock();
        Ok(WriteConn {
            conn: self.conn()?,
            _guard: guard,
        })
    }

    /// This process's turn to write, on SQLite.
    fn sqlite_write_lock(&self) -> Option<MutexGuard<'_, ()>> {
        self.sqlite_writer
            .as_ref()
            .map(|lock| lock.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub(crate) fn conn(&self) -> StoreResult<PooledConnection<Manager>> {
        // A PostgreSQL connection dies with its server (a restart, a
        // failover, an idle timeout) and libpq does not reconnect. One
        // that has not been checked for `TRUST_FOR` gets a `SELECT 1`
        // first; a dead one is discarded and the next one tried, until the
        // pool opens a new connection or reports the outage. One that dies
        // within `TRUST_FOR` of its check fails the request that uses it,
        // and only that one: diesel marks a lost connection broken and the
        // pool drops it. A busy server pays one check per connection per
        // `TRUST_FOR` instead of one per request.
        const TRUST_FOR: Duration = Duration::from_secs(1);
        let mut dead = 0;
        loop {
            let mut conn = match self.pool.get() {
                Ok(conn) => conn,
                Err(e) => {
                    self.unreachable(&e);
                    return Err(e.into());
                }
            };
            if self.backend_is_postgres {
                let checked = PooledConnection::extensions(&conn).get::<CheckedAt>();
                if checked.is_none_or(|at| at.0.elapsed() >= TRUST_FOR) {
                    if let Err(e) = conn.batch_execute("SELECT 1") {
                        discard(&mut conn);
                        dead += 1;
                        // More dead ones than the pool holds: even fresh
                        // connections fail, so the database is away.
                        if dead > self.pool.max_size() {
                            self.unreachable(&e);
                            return Err(e.into());
                        }
                        continue;
                    }
                    PooledConnection::extensions_mut(&mut conn).insert(CheckedAt(Instant::now()));
                } else {
                    // Trusted, not checked: it says nothing about whether
                    // an outage has ended.
                    return Ok(conn);
                }
            }
            self.reachable();
            return Ok(conn);
        }
    }

    /// A connection was made: ends an outage, logging that once.
    fn reachable(&self) {
        if self.outage.swap(false, Ordering::Relaxed) {
            tracing::info!("database reachable again");
        }
    }

    /// A connection could not be made: starts an outage, logging it once.
    fn unreachable(&self, e: &dyn std::fmt::Display) {
        if !self.outage.swap(true, Ordering::Relaxed) {
            tracing::error!(error = %e, "database unreachable; answering 503 until it is back");
        }
    }
}

/// When a pooled PostgreSQL connection last answered a check.
struct CheckedAt(Instant);

/// Marks a pooled connection broken, so the pool closes it when it comes
/// back instead of handing it out again.
fn discard(conn: &mut Conn) {
    use diesel::connection::TransactionManager;
    <Conn as Connection>::TransactionManager::transaction_manager_status_mut(conn).set_in_error();
}

/// A pooled connection holding the writer lock (SQLite) while it lives.
pub(crate) struct WriteConn<'a> {
    conn: PooledConnection<Manager>,
    _guard: Option<MutexGuard<'a, ()>>,
}

impl std::ops::Deref for WriteConn<'_> {
    type Target = Conn;

    fn deref(&self) -> &Conn {
        &self.conn
    }
}

impl std::ops::DerefMut for WriteConn<'_> {
    fn deref_mut(&mut self) -> &mut Conn {
        &mut self.conn
    }
}

impl StoreError {
    /// A row referred to another that is gone: a client or user deleted
    /// (by another instance, within its cache window) while a request for
    /// it was under way.
    pub fn is_foreign_key_violation(&self) -> bool {
        matches!(
            self,
            StoreError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::ForeignKeyViolation,
                _
            ))
        )
    }
}

/// A unique-constraint violation, which several callers treat as "already there".
pub(crate) fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}
