//! POST /introspect (RFC 7662 2): for authenticated confidential clients.

use actix_web::web::{self, Bytes, Data, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};

use super::blocking;
use super::error::ApiError;
use super::token::{client_credentials, form_params};
use crate::service::{Provider, revocation};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(web::resource("/introspect").route(web::post().to(post_introspect)));
}

async fn post_introspect(
    p: Data<Provider>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let params = form_params(&req, &body)?;
    let creds = client_credentials(&req, &params)?;
    let answer = blocking(&p, &req, move |p| {
        revocation::introspect(p, &creds, &params)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(answer))
}
