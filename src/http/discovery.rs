//! GET /.well-known/openid-configuration (OpenID Connect Discovery 4),
//! /.well-known/oauth-authorization-server (RFC 8414 3) and /jwks (RFC 7517).
//! All three are serialized once at start.

use actix_web::HttpResponse;
use actix_web::http::header;
use actix_web::web::{self, Data, ServiceConfig};

use crate::service::Provider;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.route(
        "/.well-known/openid-configuration",
        web::get().to(get_discovery),
    )
    .route(
        "/.well-known/oauth-authorization-server",
        web::get().to(get_discovery),
    )
    .route("/jwks", web::get().to(get_jwks));
}

async fn get_discovery(p: Data<Provider>) -> HttpResponse {
    json(&p.discovery_json, "application/json")
}

async fn get_jwks(p: Data<Provider>) -> HttpResponse {
    let ring = p.keys.ring();
    json(ring.jwks_json(), "application/jwk-set+json")
}

fn json(body: &str, content_type: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        // Short enough that a published key rotation reaches clients soon.
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .body(body.to_owned())
}
