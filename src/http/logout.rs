//! GET and POST /logout (RP-Initiated Logout 1.0 end_session_endpoint) and
//! POST /logout/confirm.

use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes, Data, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse, ResponseError};

use super::error::PageError;
use super::pages::{self, LogoutConfirmPage, SignedOutPage};
use super::{blocking, cookies};
use crate::service::Provider;
use crate::service::logout::{self, LogoutOutcome, LogoutRequest};
use crate::service::params::Params;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(
        web::resource("/logout")
            .route(web::get().to(get_logout))
            .route(web::post().to(post_logout)),
    )
    .route("/logout/confirm", web::post().to(post_confirm));
}

fn request(params: &Params) -> LogoutRequest {
    let get = |name: &str| params.get(name).map(str::to_owned);
    LogoutRequest {
        id_token_hint: get("id_token_hint"),
        client_id: get("client_id"),
        post_logout_redirect_uri: get("post_logout_redirect_uri"),
        state: get("state"),
    }
}

async fn get_logout(p: Data<Provider>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    start(p, &req, Params::parse(req.query_string().as_bytes())).await
}

async fn post_logout(
    p: Data<Provider>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, PageError> {
    start(p, &req, Params::parse(&body)).await
}

async fn start(
    p: Data<Provider>,
    req: &HttpRequest,
    params: Params,
) -> Result<HttpResponse, PageError> {
    let session = cookies::read(req, cookies::SESSION);
    let (browser, is_new) = cookies::browser(req);
    let logout_request = request(&params);
    let bound = browser.clone();
    let outcome = blocking(&p, req, move |p| {
        logout::start(p, logout_request, session.as_ref(), &bound)
    })
    .await?;
    let mut res = respond(&outcome);
    if is_new && matches!(outcome, LogoutOutcome::Confirm { .. }) {
        let max_age = cookies::BROWSER_MAX_AGE;
        cookies::set(
            &mut res,
            &cookies::build(&p.config, cookies::BROWSER, &browser, max_age),
        );
    }
    Ok(res)
}

async fn post_confirm(
    p: Data<Provider>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, PageError> {
    let params = Params::parse(&body);
    let session = cookies::read(&req, cookies::SESSION);
    let browser = cookies::read(&req, cookies::BROWSER);
    let csrf = params.get("csrf").unwrap_or_default().to_owned();
    let logout_request = request(&params);
    let outcome = blocking(&p, &req, move |p| {
        logout::confirm(p, logout_request, session.as_ref(), browser.as_ref(), &csrf)
    })
    .await?;
    Ok(respond(&outcome))
}

fn respond(outcome: &LogoutOutcome) -> HttpResponse {
    let mut res = match outcome {
        LogoutOutcome::Redirect(url) => super::authorize::redirect(StatusCode::SEE_OTHER, url),
        LogoutOutcome::SignedOut => pages::render(StatusCode::OK, &SignedOutPage),
        LogoutOutcome::Confirm { csrf, request } => {
            let page = LogoutConfirmPage {
                csrf,
                client_id: request.client_id.as_deref(),
                post_logout_redirect_uri: request.post_logout_redirect_uri.as_deref(),
                state: request.state.as_deref(),
            };
            return pages::render(StatusCode::OK, &page);
        }
        LogoutOutcome::Invalid(message) => {
            return PageError::bad_request(message).error_response();
        }
    };
    // The session is over: remove its cookie too.
    let mut removal = Cookie::new(cookies::SESSION, "");
    removal.set_path("/");
    removal.make_removal();
    cookies::set(&mut res, &removal);
    res
}
