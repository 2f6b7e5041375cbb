//! HTTP layer: thin actix-web handlers, one module per endpoint. Each parses
//! the request, calls one service function on the blocking pool, and maps the
//! result; errors become responses in [`error`].

use std::time::Instant;

use actix_web::HttpRequest;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web::{self, Data, ServiceConfig};

use crate::service::Provider;

mod account;
mod admin;
mod assets;
mod authorize;
mod consent;
mod cookies;
mod discovery;
pub mod error;
mod health;
mod introspect;
mod login;
mod logout;
mod pages;
mod revoke;
mod token;
mod userinfo;

/// Largest request body we read; OAuth requests are small.
const MAX_BODY: usize = 64 * 1024;

/// Registers every endpoint.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.app_data(web::PayloadConfig::new(MAX_BODY));
    discovery::routes(cfg);
    authorize::routes(cfg);
    login::routes(cfg);
    consent::routes(cfg);
    token::routes(cfg);
    revoke::routes(cfg);
    introspect::routes(cfg);
    logout::routes(cfg);
    userinfo::routes(cfg);
    assets::routes(cfg);
    health::routes(cfg);
    admin::routes(cfg);
    account::routes(cfg);
}

/// Access log: method, path, status, latency. Never the query string
/// (codes and tokens travel there), cookies or Authorization.
pub async fn access_log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let method = req.method().clone();
    let path = req.path().to_owned();
    let started = Instant::now();
    let res = next.call(req).await?;
    tracing::info!(
        target: "portcullis::access",
        method = %method,
        path = %path,
        status = res.status().as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
    );
    Ok(res)
}

/// Runs blocking service work (database, argon2, signing) off the executor,
/// with the request's source address available to the audit log.
pub(crate) async fn blocking<R, E, F>(
    provider: &Data<Provider>,
    req: &HttpRequest,
    f: F,
) -> Result<R, E>
where
    F: FnOnce(&Provider) -> Result<R, E> + Send + 'static,
    R: Send + 'static,
    E: From<crate::service::Error> + Send + 'static,
{
    let p = provider.clone().into_inner();
    let ip = source_ip(req);
    match web::block(move || crate::service::audit::with_source_ip(ip, || f(&p))).await {
        Ok(result) => result,
        Err(_) => Err(crate::service::Error::TaskFailed.into()),
    }
}

/// Runs quick service work (no database, no slow crypto) here on the
/// executor, with the request's source address available as in
/// [`blocking`]. A panic fails this request with a server error, as it
/// would on the blocking pool, instead of taking the connection down.
pub(crate) fn inline<R, E>(req: &HttpRequest, f: impl FnOnce() -> Result<R, E>) -> Result<R, E>
where
    E: From<crate::service::Error>,
{
    let run =
        std::panic::AssertUnwindSafe(|| crate::service::audit::with_source_ip(source_ip(req), f));
    std::panic::catch_unwind(run).unwrap_or_else(|_| Err(crate::service::Error::TaskFailed.into()))
}

fn source_ip(req: &HttpRequest) -> Option<String> {
    req.peer_addr().map(|a| a.ip().to_string())
}

/// Runs work that hashes a password on the hashing threads (see
/// `service::limits`); a full queue answers 503.
pub(crate) async fn hashing<R, F>(
    provider: &Data<Provider>,
    req: &HttpRequest,
    f: F,
) -> Result<R, error::PageError>
where
    F: FnOnce(&Provider) -> Result<R, crate::service::Error> + Send + 'static,
    R: Send + 'static,
{
    let p = provider.clone().into_inner();
    let ip = source_ip(req);
    let job = move || crate::service::audit::with_source_ip(ip, || f(&p));
    match provider.hash_pool.run(job).await {
        Some(result) => Ok(result?),
        None => {
            tracing::warn!("password hashing queue is full; request refused");
            Err(error::PageError::Shown {
                status: actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                message: "Too many sign-ins at once. Please try again in a moment.",
            })
        }
    }
}

/// The `Authorization` header as a string, if present and ASCII.
fn authorization(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}
