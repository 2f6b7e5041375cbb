//! /account: change your password, see and revoke the apps with access.

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes, Data, Path, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;

use super::admin::GrantRow;
use super::error::PageError;
use super::{blocking, cookies, pages};
use crate::secret::{Secret, ct_eq};
use crate::service::Provider;
use crate::service::account::{self, CSRF_ACCOUNT, PasswordChange};
use crate::service::admin::users::revoke_grant;
use crate::service::params::Params;
use crate::storage::sessions::SessionRecord;
use crate::storage::users::UserRecord;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.route("/account", web::get().to(get_account))
        .route("/account/password", web::post().to(post_password))
        .route(
            "/account/grants/{client}/revoke",
            web::post().to(post_revoke),
        );
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    username: String,
    is_admin: bool,
    csrf: String,
    notice: Option<&'static str>,
    error: Option<&'static str>,
    grants: Vec<GrantRow>,
}

struct Me {
    user: UserRecord,
    session: SessionRecord,
    cookie: Secret,
}

async fn me(p: &Data<Provider>, req: &HttpRequest) -> Result<Option<Me>, PageError> {
    let Some(cookie) = cookies::read(req, cookies::SESSION) else {
        return Ok(None);
    };
    let lookup = cookie.clone();
    let found = blocking(p, req, move |p| account::current(p, Some(&lookup))).await?;
    Ok(found.map(|(user, session)| Me {
        user,
        session,
        cookie,
    }))
}

fn to_login(p: &Provider) -> HttpResponse {
    super::authorize::redirect(StatusCode::SEE_OTHER, &p.url("/login?return_to=%2Faccount"))
}

async fn get_account(p: Data<Provider>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let Some(me) = me(&p, &req).await? else {
        return Ok(to_login(&p));
    };
    let notice = match Params::parse(req.query_string().as_bytes()).get("done") {
        Some("password") => Some("Password changed. You are signed out everywhere else."),
        Some("revoked") => Some("Access revoked."),
        _ => None,
    };
    page(&p, &req, me, StatusCode::OK, notice, None).await
}

async fn page(
    p: &Data<Provider>,
    req: &HttpRequest,
    me: Me,
    status: StatusCode,
    notice: Option<&'static str>,
    error: Option<&'static str>,
) -> Result<HttpResponse, PageError> {
    let user_id = me.user.id.clone();
    let grants = blocking(p, req, move |p| account::grants(p, &user_id)).await?;
    let grants = grants
        .into_iter()
        .map(|(name, g)| GrantRow::new(name, g))
        .collect();
    let page = AccountPage {
        username: me.user.username,
        is_admin: me.user.is_admin,
        csrf: p.csrf.token(CSRF_ACCOUNT, &me.cookie, ""),
        notice,
        error,
        grants,
    };
    Ok(pages::render(status, &page))
}

fn check_csrf(p: &Provider, me: &Me, params: &Params) -> Result<(), PageError> {
    let expected = p.csrf.token(CSRF_ACCOUNT, &me.cookie, "");
    if ct_eq(
        expected.as_bytes(),
        params.get("csrf").unwrap_or_default().as_bytes(),
    ) {
        Ok(())
    } else {
        Err(PageError::bad_request(
            "This form has expired. Reload the page and try again.",
        ))
    }
}

async fn post_password(
    p: Data<Provider>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, PageError> {
    let Some(me) = me(&p, &req).await? else {
        return Ok(to_login(&p));
    };
    let params = Params::parse(&body);
    check_csrf(&p, &me, &params)?;
    let secret = |name: &str| Secret::new(params.get(name).unwrap_or_default());
    let (current, new, confirm) = (
        secret("current_password"),
        secret("new_password"),
        secret("confirm_password"),
    );
    let session = me.session.clone();
    let outcome = super::hashing(&p, &req, move |p| {
        account::change_password(p, &session, &current, &new, &confirm)
    })
    .await?;
    let error = match outcome {
        PasswordChange::Changed => {
            let to = p.url("/account?done=password");
            return Ok(super::authorize::redirect(StatusCode::SEE_OTHER, &to));
        }
        PasswordChange::WrongCurrent => "Your current password was not accepted.",
        PasswordChange::TooShort => "The new password needs at least 8 characters.",
        PasswordChange::Mismatch => "The two new passwords differ.",
    };
    page(&p, &req, me, StatusCode::BAD_REQUEST, None, Some(error)).await
}

async fn post_revoke(
    p: Data<Provider>,
    req: HttpRequest,
    client: Path<String>,
    body: Bytes,
) -> Result<HttpResponse, PageError> {
    let Some(me) = me(&p, &req).await? else {
        return Ok(to_login(&p));
    };
    check_csrf(&p, &me, &Params::parse(&body))?;
    let (user_id, client) = (me.user.id.clone(), client.into_inner());
    blocking(&p, &req, move |p| {
        revoke_grant(p, &user_id, &user_id, &client)
    })
    .await?;
    Ok(super::authorize::redirect(
        StatusCode::SEE_OTHER,
        &p.url("/account?done=revoked"),
    ))
}
