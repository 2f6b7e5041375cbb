//! The admin console at /admin: server-rendered pages, every one behind the
//! same check (an admin's login session), every change a POST with a CSRF
//! token, and dangerous changes behind the admin's password.

use actix_web::http::StatusCode;
use actix_web::web::{self, Data, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;

use super::error::PageError;
use super::{blocking, cookies, pages};
use crate::secret::Secret;
use crate::service::Provider;
use crate::service::admin::{self, Access, Admin, CSRF_ADMIN, Reauth};
use crate::service::params::Params;

mod audit;
mod clients;
mod dashboard;
mod keys;
mod users;

pub use users::GrantRow;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(
        web::scope("/admin")
            .configure(dashboard::routes)
            .configure(clients::routes)
            .configure(users::routes)
            .configure(keys::routes)
            .configure(audit::routes),
    );
}

/// What the layout shows on every console page.
pub struct Nav {
    pub username: String,
    pub csrf: String,
    pub section: &'static str,
    pub notice: Option<&'static str>,
}

/// An admin's request: who, and the CSRF token their forms carry.
pub struct Ctx {
    pub admin: Admin,
    pub csrf: String,
    notice: Option<&'static str>,
}

impl Ctx {
    pub fn nav(&self, section: &'static str) -> Nav {
        Nav {
            username: self.admin.user.username.clone(),
            csrf: self.csrf.clone(),
            section,
            notice: self.notice,
        }
    }
}

#[derive(Template)]
#[template(path = "admin/forbidden.html")]
struct ForbiddenPage<'a> {
    username: &'a str,
}

/// Lets an admin in; anyone else gets the login page (nobody signed in) or
/// a 403 page (signed in, not an admin). The login page returns here.
pub async fn enter(
    p: &Data<Provider>,
    req: &HttpRequest,
) -> Result<Result<Ctx, HttpResponse>, PageError> {
    let Some(cookie) = cookies::read(req, cookies::SESSION) else {
        return Ok(Err(to_login(p, req)));
    };
    let lookup = cookie.clone();
    let access = blocking(p, req, move |p| admin::access(p, Some(&lookup))).await?;
    match access {
        Access::Admin(admin) => {
            let csrf = p.csrf.token(CSRF_ADMIN, &cookie, "");
            Ok(Ok(Ctx {
                admin: *admin,
                csrf,
                notice: notice(req),
            }))
        }
        Access::SignIn => Ok(Err(to_login(p, req))),
        Access::Forbidden => {
            let username = username_of(p, req, cookie).await?;
            Ok(Err(pages::render(
                StatusCode::FORBIDDEN,
                &ForbiddenPage {
                    username: &username,
                },
            )))
        }
    }
}

/// [`enter`] for a form submission: also checks the CSRF token.
pub async fn enter_post(
    p: &Data<Provider>,
    req: &HttpRequest,
    params: &Params,
) -> Result<Result<Ctx, HttpResponse>, PageError> {
    let ctx = match enter(p, req).await? {
        Ok(ctx) => ctx,
        Err(res) => return Ok(Err(res)),
    };
    let presented = params.get("csrf").unwrap_or_default();
    if !crate::secret::ct_eq(presented.as_bytes(), ctx.csrf.as_bytes()) {
        return Err(PageError::bad_request(
            "This form has expired or did not come from this console. Reload the page and try again.",
        ));
    }
    Ok(Ok(ctx))
}

async fn username_of(
    p: &Data<Provider>,
    req: &HttpRequest,
    cookie: Secret,
) -> Result<String, PageError> {
    Ok(blocking(p, req, move |p| {
        let session = crate::service::login::current_session(p, Some(&cookie))?;
        let user = match session {
            Some(s) => p.store.user_by_id(&s.user_id)?,
            None => None,
        };
        Ok::<_, crate::service::Error>(user.map(|u| u.username).unwrap_or_default())
    })
    .await?)
}

fn to_login(p: &Provider, req: &HttpRequest) -> HttpResponse {
    // Only the path: it is ours, and a query could carry anything. A form
    // post cannot be replayed by a redirect, so it returns to the console.
    let path = if req.method() == actix_web::http::Method::GET {
        req.path()
    } else {
        "/admin"
    };
    let back: String = form_urlencoded::byte_serialize(path.as_bytes()).collect();
    super::authorize::redirect(
        StatusCode::SEE_OTHER,
        &p.url(&format!("/login?return_to={back}")),
    )
}

/// The admin's password again, for a dangerous action.
async fn reauthenticate(
    p: &Data<Provider>,
    req: &HttpRequest,
    ctx: &Ctx,
    params: &Params,
) -> Result<bool, PageError> {
    let presented = Secret::new(params.get("password").unwrap_or_default());
    let admin = ctx.admin.clone();
    let outcome = super::hashing(p, req, move |p| {
        admin::reauthenticate(p, &admin, &presented)
    });
    match outcome.await? {
        Reauth::Confirmed => Ok(true),
        Reauth::Wrong => Ok(false),
        Reauth::SignedOut => Err(PageError::Shown {
            status: StatusCode::FORBIDDEN,
            message: "Too many wrong passwords: you have been signed out. Sign in again.",
        }),
    }
}

/// Redirect after a change, with a notice code the next page shows.
pub fn done(p: &Provider, path: &str, code: &str) -> HttpResponse {
    super::authorize::redirect(
        StatusCode::SEE_OTHER,
        &p.url(&format!("{path}?done={code}")),
    )
}

/// Notices come from a fixed list: nothing from the URL is echoed.
fn notice(req: &HttpRequest) -> Option<&'static str> {
    let params = Params::parse(req.query_string().as_bytes());
    Some(match params.get("done")? {
        "saved" => "Saved.",
        "created" => "Created.",
        "deleted" => "Deleted.",
        "disabled" => "Disabled.",
        "enabled" => "Enabled.",
        "password" => "Password changed; the user's sessions and tokens are revoked.",
        "revoked" => "Revoked.",
        "admin" => "Admin role changed.",
        "keys" => "New signing keys published.",
        "wrong-password" => "Your password was not accepted; nothing was changed.",
        "self" => "You cannot do that to your own account.",
        _ => return None,
    })
}

/// Times in the console: UTC, to the minute.
pub fn fmt_time(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// Reads the form body; the console's forms are all urlencoded.
pub fn form(body: &[u8]) -> Params {
    Params::parse(body)
}

/// Runs a console operation on the blocking pool with the admin's context.
pub async fn run<R, F>(
    p: &Data<Provider>,
    req: &HttpRequest,
    ctx: &Ctx,
    f: F,
) -> Result<R, PageError>
where
    F: FnOnce(&Provider, &Admin) -> Result<R, crate::service::Error> + Send + 'static,
    R: Send + 'static,
{
    let admin = ctx.admin.clone();
    Ok(blocking(p, req, move |p| f(p, &admin)).await?)
}

/// The admin's password for a dangerous action; `Err` carries the
/// redirect back to `back` with the "wrong password" notice.
pub async fn confirm_password(
    p: &Data<Provider>,
    req: &HttpRequest,
    ctx: &Ctx,
    params: &Params,
    back: &str,
) -> Result<Result<(), HttpResponse>, PageError> {
    if reauthenticate(p, req, ctx, params).await? {
        Ok(Ok(()))
    } else {
        Ok(Err(done(p, back, "wrong-password")))
    }
}

/// [`enter_post`] for a dangerous change: also the admin's password, or
/// back to `back` with the "wrong password" notice.
pub async fn enter_confirmed(
    p: &Data<Provider>,
    req: &HttpRequest,
    params: &Params,
    back: &str,
) -> Result<Result<Ctx, HttpResponse>, PageError> {
    let ctx = match enter_post(p, req, params).await? {
        Ok(ctx) => ctx,
        Err(res) => return Ok(Err(res)),
    };
    Ok(confirm_password(p, req, &ctx, params, back)
        .await?
        .map(|()| ctx))
}

/// Unwraps [`enter`]'s outcome inside a handler.
macro_rules! admin_or_return {
    ($entered:expr) => {
        match $entered.await? {
            Ok(ctx) => ctx,
            Err(response) => return Ok(response),
        }
    };
}
pub(crate) use admin_or_return;
