//! Start-up: open the store, build the provider, bind and run the server.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::middleware::{Condition, DefaultHeaders, from_fn};
use actix_web::web::Data;
use actix_web::{App, HttpServer};

use crate::clock::SharedClock;
use crate::config::Config;
use crate::service::{self, Provider};
use crate::storage::Store;

/// Opens (and migrates) the configured database.
pub fn open_store(config: &Config) -> Result<Store, crate::storage::StoreError> {
    Store::open(
        config.database.url.expose(),
        config.database.pool_size,
        Duration::from_secs(config.database.connect_timeout_secs),
    )
}

/// Store, keys and CSRF key: everything but the socket.
pub fn provider(config: Config, clock: SharedClock) -> Result<Arc<Provider>, service::Error> {
    let store = open_store(&config)?;
    Provider::new(config, store, clock)
}

/// Sent on every response when the issuer is https (RFC 6797).
const HSTS: (&str, &str) = ("Strict-Transport-Security", "max-age=31536000");

/// How the server handles process signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signals {
    /// Stop gracefully on SIGINT/SIGTERM (the binary).
    Handle,
    /// Leave signals alone (tests run many servers in one process).
    Ignore,
}

/// An actix server on an already bound listener.
pub fn build(
    provider: Arc<Provider>,
    listener: TcpListener,
    signals: Signals,
) -> std::io::Result<actix_web::dev::Server> {
    let workers = match provider.config.server.workers {
        0 => std::thread::available_parallelism().map_or(2, usize::from),
        n => n,
    };
    let blocking_threads = (provider.config.database.pool_size as usize).max(4);
    let https = provider.config.issuer_is_https();
    let provider_shutdown = provider.config.server.shutdown_timeout_secs;
    let data = Data::from(provider);
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .configure(crate::http::configure)
            .wrap(crate::http::error::framework_errors())
            .wrap(Condition::new(https, DefaultHeaders::new().add(HSTS)))
            .wrap(from_fn(crate::http::access_log))
    })
    .workers(workers)
    // Blocking work is database work: more threads than connections only
    // queue on the pool, and every extra thread is another context switch.
    .worker_max_blocking_threads(blocking_threads)
    .shutdown_timeout(provider_shutdown)
    .listen(listener)?;
    if signals == Signals::Ignore {
        server = server.disable_signals();
    }
    Ok(server.run())
}

/// Installs the tracing subscriber (stderr, filter from config or RUST_LOG).
pub fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .try_init();
}

/// How often expired rows are swept away.
const SWEEP_INTERVAL: Duration = Duration::from_secs(600);

/// Starts the periodic sweep of expired rows on its own thread (it is
/// blocking database work). Several instances may all sweep: the deletes
/// are idempotent.
pub fn spawn_maintenance(provider: Arc<Provider>) {
    let spawned = std::thread::Builder::new()
        .name("maintenance".into())
        .spawn(move || {
            loop {
                std::thread::sleep(SWEEP_INTERVAL);
                match provider.store.purge_expired(provider.now()) {
                    Ok(purged) => tracing::debug!(?purged, "expired rows removed"),
                    Err(e) => tracing::warn!(error = %e, "sweeping expired rows failed"),
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the maintenance thread");
    }
}
