//! GET and POST /consent: the approve-or-deny page.

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes, Data, Query, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;

use super::authorize::respond;
use super::error::PageError;
use super::pages::{self, ConsentPage};
use super::{blocking, cookies};
use crate::service::Provider;
use crate::service::authorize::Outcome;
use crate::service::consent::{self, ConsentPage as View, DecideOutcome, Decision};
use crate::service::params::Params;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(
        web::resource("/consent")
            .route(web::get().to(get_consent))
            .route(web::post().to(post_consent)),
    );
}

#[derive(Deserialize)]
struct ConsentQuery {
    request: String,
}

async fn get_consent(
    p: Data<Provider>,
    req: HttpRequest,
    q: Query<ConsentQuery>,
) -> Result<HttpResponse, PageError> {
    let session = cookies::read(&req, cookies::SESSION);
    let request = q.into_inner().request;
    let view = blocking(&p, &req, move |p| {
        consent::page(p, &request, session.as_ref())
    })
    .await?;
    Ok(match view {
        View::Show(v) => pages::render(
            StatusCode::OK,
            &ConsentPage {
                request: &v.request,
                csrf: &v.csrf,
                client_name: &v.client_name,
                username: &v.username,
                scopes: &v.scopes,
            },
        ),
        View::Login(request) => respond(&p, &req, Outcome::Login(request), false),
        View::Page(e) => respond(&p, &req, Outcome::Page(e), false),
    })
}

async fn post_consent(
    p: Data<Provider>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, PageError> {
    let params = Params::parse(&body);
    let decision = match params.get("decision") {
        Some("approve") => Decision::Approve,
        Some("deny") => Decision::Deny,
        _ => return Err(PageError::bad_request("The consent form was incomplete.")),
    };
    let request = params.get("request").unwrap_or_default().to_owned();
    let csrf = params.get("csrf").unwrap_or_default().to_owned();
    let session = cookies::read(&req, cookies::SESSION);
    let outcome = blocking(&p, &req, move |p| {
        consent::decide(p, &request, session.as_ref(), &csrf, decision)
    })
    .await?;
    match outcome {
        DecideOutcome::Done(outcome) => Ok(respond(&p, &req, outcome, true)),
        DecideOutcome::BadCsrf => Err(PageError::bad_request(
            "This form has expired or did not come from this site. Go back to the application and try again.",
        )),
    }
}
