//! GET and POST /authorize, and GET /authorize/continue (where login and
//! consent return to). The flow itself is in `service::authorize`.

use actix_web::http::{StatusCode, header};
use actix_web::web::{self, Bytes, Data, Query, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;

use super::error::PageError;
use super::pages::{self, ErrorPage, FormPostPage};
use super::{blocking, cookies};
use crate::ids::RequestId;
use crate::service::Provider;
use crate::service::authorize::{self, Outcome, ResponseMode};
use crate::service::params::Params;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(
        web::resource("/authorize")
            .route(web::get().to(get_authorize))
            .route(web::post().to(post_authorize)),
    )
    .route("/authorize/continue", web::get().to(get_continue));
}

async fn get_authorize(p: Data<Provider>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    start(p, &req, Params::parse(req.query_string().as_bytes()), false).await
}

/// OpenID Connect Core 3.1.2.1 allows the request as a form POST too.
async fn post_authorize(
    p: Data<Provider>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, PageError> {
    start(p, &req, Params::parse(&body), true).await
}

async fn start(
    p: Data<Provider>,
    req: &HttpRequest,
    params: Params,
    posted: bool,
) -> Result<HttpResponse, PageError> {
    let session = cookies::read(req, cookies::SESSION);
    // A first visit (no session) can often be answered without the
    // database, and then here, without a hand-off to a blocking thread.
    if session.is_none()
        && !posted
        && req.query_string().len() <= authorize::MAX_QUERY_FROM_MEMORY
        && let Some(outcome) = super::inline(req, || {
            Ok::<_, PageError>(authorize::start_from_memory(&p, &params))
        })?
    {
        return Ok(respond(&p, req, outcome, posted));
    }
    let outcome = blocking(&p, req, move |p| {
        authorize::start(p, &params, session.as_ref(), posted)
    })
    .await?;
    Ok(respond(&p, req, outcome, posted))
}

#[derive(Deserialize)]
struct ContinueQuery {
    request: String,
}

async fn get_continue(
    p: Data<Provider>,
    req: HttpRequest,
    q: Query<ContinueQuery>,
) -> Result<HttpResponse, PageError> {
    let session = cookies::read(&req, cookies::SESSION);
    let request = q.into_inner().request;
    let outcome = blocking(&p, &req, move |p| {
        authorize::resume(p, &request, session.as_ref())
    })
    .await?;
    Ok(respond(&p, &req, outcome, false))
}

/// Turns a flow outcome into a browser response. After a POST the redirect
/// is 303 so the browser does not resend the form (RFC 9700 4.12).
pub(super) fn respond(
    p: &Provider,
    req: &HttpRequest,
    outcome: Outcome,
    after_post: bool,
) -> HttpResponse {
    let status = if after_post {
        StatusCode::SEE_OTHER
    } else {
        StatusCode::FOUND
    };
    let to_login =
        |request: &RequestId| redirect(status, &p.url(&format!("/login?request={request}")));
    match outcome {
        Outcome::Page(e) => pages::render(StatusCode::BAD_REQUEST, &ErrorPage::new(e.message())),
        Outcome::Login(request) => to_login(&request),
        // After a POST the browser is sent for the form rather than given
        // it: a cross-site form POST to /authorize carries no SameSite=Lax
        // cookie, so the form here would replace the browser cookie, and a
        // reload would ask to resend the form.
        Outcome::LoginForm(prompt) if after_post => to_login(&prompt.request),
        Outcome::LoginForm(prompt) => super::login::prompt_page(p, req, &prompt),
        Outcome::Consent(request) => {
            redirect(status, &p.url(&format!("/consent?request={request}")))
        }
        Outcome::Respond(r) => match r.mode {
            ResponseMode::Query => redirect(status, &r.location()),
            ResponseMode::FormPost => pages::render(
                StatusCode::OK,
                &FormPostPage {
                    action: &r.redirect_uri,
                    fields: &r.params,
                },
            ),
        },
    }
}

pub(super) fn redirect(status: StatusCode, location: &str) -> HttpResponse {
    // Registered URIs are validated, so this only fails for data that got
    // into the database some other way; it must still never become a 500
    // or a header injection.
    let Ok(value) = header::HeaderValue::from_str(location) else {
        tracing::error!("redirect target is not a valid header value");
        let page = ErrorPage::new("The application's redirect address is not valid.");
        return pages::render(StatusCode::BAD_REQUEST, &page);
    };
    HttpResponse::build(status)
        .insert_header((header::LOCATION, value))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}
