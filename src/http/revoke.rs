//! POST /revoke (RFC 7009 2): 200 with an empty body for every token the
//! client may name, known or not.

use actix_web::web::{self, Bytes, Data, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};

use super::blocking;
use super::error::ApiError;
use super::token::{client_credentials, form_params};
use crate::service::{Provider, revocation};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(web::resource("/revoke").route(web::post().to(post_revoke)));
}

async fn post_revoke(
    p: Data<Provider>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let params = form_params(&req, &body)?;
    let creds = client_credentials(&req, &params)?;
    blocking(&p, &req, move |p| revocation::revoke(p, &creds, &params)).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .finish())
}
