//! POST /token (RFC 6749 3.2). Answers are JSON, never cached.

use actix_web::http::header::{self, ContentType};
use actix_web::web::{self, Bytes, Data, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};

use super::error::ApiError;
use super::{authorization, blocking, inline};
use crate::service::clients::ClientCredentials;
use crate::service::params::Params;
use crate::service::{OAuthError, Provider, token};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(web::resource("/token").route(web::post().to(post_token)));
}

async fn post_token(
    p: Data<Provider>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let params = form_params(&req, &body)?;
    let creds = client_credentials(&req, &params)?;
    let quick = inline(&req, || {
        Ok::<_, ApiError>(token::exchange_without_blocking(&p, &creds, &params))
    })?;
    let response = match quick {
        Some(committed) => committed.await?,
        None => blocking(&p, &req, move |p| token::exchange(p, &creds, &params)).await?,
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .insert_header(ContentType::json())
        .body(serde_json::to_string(&response).unwrap_or_default()))
}

/// The form body of a client-authenticated endpoint (RFC 6749 3.2 requires
/// application/x-www-form-urlencoded).
pub(super) fn form_params(req: &HttpRequest, body: &Bytes) -> Result<Params, ApiError> {
    if !is_form(req) {
        let e = OAuthError::invalid_request("the body must be application/x-www-form-urlencoded");
        return Err(e.into());
    }
    Ok(Params::parse(body))
}

pub(super) fn client_credentials(
    req: &HttpRequest,
    params: &Params,
) -> Result<ClientCredentials, ApiError> {
    Ok(ClientCredentials::from_request(authorization(req), params)?)
}

pub(super) fn is_form(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}
