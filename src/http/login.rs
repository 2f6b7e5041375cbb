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
use crate::service::authorize::{LoginPrompt, PageError as FlowPage};
use crate::service::login::{self, CSRF_LOGIN, LoginForm, LoginOutcome};
use crate::service::params::Params;

const BAD_CREDENTIALS: &str = "Incorrect username or password.";
const FORM_EXPIRED: &str = "This form has expired. Please sign in again.";

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(
        web::resource("/login")
            .route(web::get().to(get_login))
            .route(web::post().to(post_login)),
    );
}

#[derive(Deserialize)]
struct LoginQuery {
    #[serde(default)]
    request: String,
    #[serde(default)]
    return_to: String,
}

/// Where a direct login (no authorization request) may return to: our own
/// console and account pages only, never another host.
fn safe_return_to(path: &str) -> &str {
    let ours = ["/admin", "/account"].iter().any(|p| {
        path == *p || path.starts_with(&format!("{p}/")) || path.starts_with(&format!("{p}?"))
    });
    let plain = !path.contains("//") && !path.contains('\\') && !path.chars().any(char::is_control);
    if ours && plain { path } else { "" }
}

async fn get_login(
    p: Data<Provider>,
    req: HttpRequest,
    q: Query<LoginQuery>,
) -> Result<HttpResponse, PageError> {
    let q = q.into_inner();
    let target = Target {
        request: q.request,
        return_to: safe_return_to(&q.return_to).to_owned(),
    };
    show_form(&p, &req, target, None, StatusCode::OK, None).await
}

async fn post_login(
    p: Data<Provider>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, PageError> {
    let params = Params::parse(&body);
    let request = params.get("request").unwrap_or_default().to_owned();
    let return_to = safe_return_to(params.get("return_to").unwrap_or_default()).to_owned();
    let target = Target {
        request: request.clone(),
        return_to: return_to.clone(),
    };
    let username = params.get("username").unwrap_or_default().to_owned();
    let Some(browser) = cookies::read(&req, cookies::BROWSER) else {
        let status = StatusCode::BAD_REQUEST;
        return show_form(
            &p,
            &req,
            target.clone(),
            Some(username),
            status,
            Some(FORM_EXPIRED),
        )
        .await;
    };
    let form = LoginForm {
        request: request.clone(),
        username: username.clone(),
        password: Secret::new(params.get("password").unwrap_or_default()),
        csrf: params.get("csrf").unwrap_or_default().to_owned(),
        source_ip: req.peer_addr().map(|a| a.ip().to_string()),
    };
    let old_session = cookies::read(&req, cookies::SESSION);
    let outcome = super::hashing(&p, &req, move |p| {
        login::login(p, &form, &browser, old_session.as_ref())
    })
    .await?;
    match outcome {
        LoginOutcome::Success {
            cookie,
            user,
            next,
            resume,
        } => {
            let mut res = if let Some(next) = next {
                super::authorize::respond(&p, &req, *next, true)
            } else if !resume.is_empty() {
                let next = p.url(&format!("/authorize/continue?request={resume}"));
                super::authorize::redirect(StatusCode::SEE_OTHER, &next)
            } else if !return_to.is_empty() {
                super::authorize::redirect(StatusCode::SEE_OTHER, &p.url(&return_to))
            } else {
                pages::render(
                    StatusCode::OK,
                    &SignedInPage {
                        username: &user.username,
                    },
                )
            };
            let ttl = p.config.session.ttl_secs;
            let cookie = cookies::build(&p.config, cookies::SESSION, &cookie, ttl);
            cookies::set(&mut res, &cookie);
            Ok(res)
        }
        // One message for unknown user and wrong password.
        LoginOutcome::BadCredentials => {
            let status = StatusCode::OK;
            show_form(
                &p,
                &req,
                target.clone(),
                Some(username),
                status,
                Some(BAD_CREDENTIALS),
            )
            .await
        }
        LoginOutcome::Throttled => {
            let status = StatusCode::TOO_MANY_REQUESTS;
            let message = "Too many failed sign-ins. Please wait a few minutes and try again.";
            show_form(
                &p,
                &req,
                target.clone(),
                Some(username),
                status,
                Some(message),
            )
            .await
        }
        LoginOutcome::BadCsrf => {
            let status = StatusCode::BAD_REQUEST;
            show_form(
                &p,
                &req,
                target.clone(),
                Some(username),
                status,
                Some(FORM_EXPIRED),
            )
            .await
        }
    }
}

/// The login form for `request` (empty for a direct visit), with a fresh
/// CSRF token bound to this browser. `username` defaults to the login_hint.
/// Which flow a login form belongs to: an authorization request, or a
/// direct visit that returns to a console or account page.
#[derive(Clone)]
struct Target {
    request: String,
    return_to: String,
}

async fn show_form(
    p: &Data<Provider>,
    req: &HttpRequest,
    target: Target,
    username: Option<String>,
    status: StatusCode,
    error: Option<&str>,
) -> Result<HttpResponse, PageError> {
    let lookup = target.request.clone();
    let context = blocking(p, req, move |p| login::context(p, &lookup)).await?;
    if !target.request.is_empty() && context.client_name.is_none() {
        return Err(PageError::bad_request(FlowPage::RequestExpired.message()));
    }
    let username = username.or(context.login_hint).unwrap_or_default();
    let form = Form {
        target: &target,
        client_name: context.client_name.as_deref(),
        username: &username,
    };
    Ok(render_form(p, req, &form, status, error))
}

/// What a login form shows besides the message.
struct Form<'a> {
    target: &'a Target,
    client_name: Option<&'a str>,
    username: &'a str,
}

/// The login form for an authorization request that /authorize (or
/// /authorize/continue) has just looked up, in that response.
pub(super) fn prompt_page(p: &Provider, req: &HttpRequest, prompt: &LoginPrompt) -> HttpResponse {
    let target = Target {
        request: prompt.request.to_string(),
        return_to: String::new(),
    };
    let form = Form {
        target: &target,
        client_name: Some(&prompt.client_name),
        username: prompt.login_hint.as_deref().unwrap_or_default(),
    };
    render_form(p, req, &form, StatusCode::OK, None)
}

/// The page itself, with a fresh CSRF token bound to this browser (whose
/// cookie is set here if it has none yet).
fn render_form(
    p: &Provider,
    req: &HttpRequest,
    form: &Form<'_>,
    status: StatusCode,
    error: Option<&str>,
) -> HttpResponse {
    let Target { request, return_to } = form.target;
    let (browser, is_new) = cookies::browser(req);
    let csrf = p.csrf.token(CSRF_LOGIN, &browser, request);
    let page = LoginPage {
        request,
        return_to,
        csrf: &csrf,
        client_name: form.client_name,
        username: form.username,
        error,
    };
    let mut res = pages::render(status, &page);
    if is_new {
        let max_age = cookies::BROWSER_MAX_AGE;
        cookies::set(
            &mut res,
            &cookies::build(&p.config, cookies::BROWSER, &browser, max_age),
        );
    }
    res
}
