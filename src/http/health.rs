//! GET /healthz (the process answers) and GET /readyz (the database is
//! reachable and migrated), for load balancers and orchestrators.

use actix_web::HttpResponse;
use actix_web::http::header;
use actix_web::web::{self, Data, ServiceConfig};

use super::blocking;
use crate::service::Provider;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.route("/healthz", web::get().to(get_healthz))
        .route("/readyz", web::get().to(get_readyz));
}

async fn get_healthz() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body("ok\n")
}

async fn get_readyz(p: Data<Provider>, req: actix_web::HttpRequest) -> HttpResponse {
    let ready = blocking(&p, &req, |p| {
        p.store.is_ready().map_err(crate::service::Error::from)
    })
    .await;
    let (status, body) = match ready {
        Ok(true) => (actix_web::http::StatusCode::OK, "ready\n"),
        Ok(false) => (
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            "migrations pending\n",
        ),
        Err(_) => (
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            "database unreachable\n",
        ),
    };
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("text/plain; charset=utf-8")
        .body(body)
}
