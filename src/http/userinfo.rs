//! GET and POST /userinfo (OpenID Connect Core 5.3) behind a bearer token
//! taken from the header or, for POST, the form body (RFC 6750 2.1, 2.2);
//! never from the query string.

use actix_web::web::{self, Bytes, Data, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};

use super::error::ApiError;
use super::token::is_form;
use super::{authorization, blocking};
use crate::service::params::Params;
use crate::service::userinfo::{self, BearerError};
use crate::service::{OAuthError, Provider};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(
        web::resource("/userinfo")
            .route(web::get().to(get_userinfo))
            .route(web::post().to(post_userinfo)),
    );
}

async fn get_userinfo(p: Data<Provider>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let token = bearer(&req, None)?;
    answer(p, &req, token).await
}

async fn post_userinfo(
    p: Data<Provider>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let form = is_form(&req).then(|| Params::parse(&body));
    let token = bearer(&req, form.as_ref())?;
    answer(p, &req, token).await
}

async fn answer(
    p: Data<Provider>,
    req: &HttpRequest,
    token: String,
) -> Result<HttpResponse, ApiError> {
    let claims = blocking(&p, req, move |p| userinfo::userinfo(p, &token)).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(claims))
}

/// Exactly one token, from the header or the form body.
fn bearer(req: &HttpRequest, form: Option<&Params>) -> Result<String, ApiError> {
    let in_query = Params::parse(req.query_string().as_bytes())
        .get("access_token")
        .is_some();
    if in_query {
        return Err(BearerError::Rejected(OAuthError::invalid_request(
            "access tokens are not accepted in the query string",
        ))
        .into());
    }
    let header = authorization(req).and_then(|h| {
        let (scheme, token) = h.trim().split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_owned())
    });
    let body = form.and_then(|f| f.get("access_token")).map(str::to_owned);
    match (header, body) {
        (Some(_), Some(_)) => Err(BearerError::Rejected(OAuthError::invalid_request(
            "send the access token in one place only",
        ))
        .into()),
        (Some(t), None) | (None, Some(t)) if !t.is_empty() => Ok(t),
        _ => Err(BearerError::Missing.into()),
    }
}
