//! GET and POST /login: the username and password form.

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes, Data, Query, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;

use super::error::PageError;
use super::pages::{self, LoginPage, SignedInPage};
use super::{blocking, cookies};
use crate::secret::Secret;
use crate::service::Provider;
use crate::service::authorize::PageError as FlowPage;
use crate::service::login::{self, CSRF_LOGIN, LoginForm, LoginOutcome};
use crate::service::params::Params;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(web::resource("/login").route(web::get().to(get_login)).route(web::post().to(post_login)));
}

#[derive(Deserialize)]
struct LoginQuery {
    #[serde(default)]
    request: String,
}

async fn get_login(p: Data<Provider>, req: HttpRequest, q: Query<LoginQuery>) -> Result<HttpResponse, PageError> {
    let request = q.into_inner().request;
    let lookup = request.clone();
    let context = blocking(&p, move |p| login::context(p, &lookup)).await?;
    if !request.is_empty() && context.client_name.is_none() {
        return Err(PageError::bad_request(FlowPage::RequestExpired.message()));
    }
    let username = context.login_hint.unwrap_or_default();
    Ok(form_page(&p, &req, StatusCode::OK, &request, context.client_name.as_deref(), &username, None))
}

async fn post_login(p: Data<Provider>, req: HttpRequest, body: Bytes) -> Result<HttpResponse, PageError> {
    let params = Params::parse(&body);
    let form = LoginForm {
        request: params.get("request").unwrap_or_default().to_owned(),
        username: params.get("username").unwrap_or_default().to_owned(),
        password: Secret::new(params.get("password").unwrap_or_default()),
        csrf: params.get("csrf").unwrap_or_default().to_owned(),
    };
    let Some(browser) = cookies::read(&req, cookies::BROWSER) else {
        return Ok(retry(&p, &req, &form, "This form has expired. Please sign in again.").await?);
    };
    let old_session = cookies::read(&req, cookies::SESSION);
    let (request, username) = (form.request.clone(), form.username.clone());
    let outcome = blocking(&p, move |p| login::login(p, &form, &browser, old_session.as_ref())).await?;
    let form = LoginForm { request, username, password: Secret::new(""), csrf: String::new() };
    match outcome {
        LoginOutcome::Success { cookie, user } => {
            let session = cookies::build(&p.config, cookies::SESSION, &cookie, p.config.session.ttl_secs);
            let mut res = if form.request.is_empty() {
                pages::render(StatusCode::OK, &SignedInPage { username: &user.username })
            } else {
                let next = p.url(&format!("/authorize/continue?request={}", form.request));
                super::authorize::redirect(StatusCode::SEE_OTHER, &next)
            };
            res.add_cookie(&session).map_err(|_| PageError::bad_request("cookie"))?;
            Ok(res)
        }
        // One message for unknown user and wrong password.
        LoginOutcome::BadCredentials => retry(&p, &req, &form, "Incorrect username or password.").await,
        LoginOutcome::BadCsrf => retry(&p, &req, &form, "This form has expired. Please sign in again.").await,
    }
}

/// The form again, with a message and a fresh CSRF token.
async fn retry(p: &Data<Provider>, req: &HttpRequest, form: &LoginForm, message: &'static str) -> Result<HttpResponse, PageError> {
    let request = form.request.clone();
    let context = blocking(p, move |p| login::context(p, &request)).await?;
    if !form.request.is_empty() && context.client_name.is_none() {
        return Err(PageError::bad_request(FlowPage::RequestExpired.message()));
    }
    let status = if message.starts_with("Incorrect") { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    Ok(form_page(p, req, status, &form.request, context.client_name.as_deref(), &form.username, Some(message)))
}

fn form_page(
    p: &Provider,
    req: &HttpRequest,
    status: StatusCode,
    request: &str,
    client_name: Option<&str>,
    username: &str,
    error: Option<&str>,
) -> HttpResponse {
    let (browser, is_new) = cookies::browser(req);
    let csrf = p.csrf.token(CSRF_LOGIN, &browser, request);
    let page = LoginPage { request, csrf: &csrf, client_name, username, error };
    let mut res = pages::render(status, &page);
    if is_new {
        let cookie = cookies::build(&p.config, cookies::BROWSER, &browser, cookies::BROWSER_MAX_AGE);
        // A cookie we built ourselves always encodes.
        let _ = res.add_cookie(&cookie);
    }
    res
}
