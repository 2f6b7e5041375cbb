//! /admin/users: list and search with paging, create, edit the profile,
//! reset the password, disable, grant or revoke admin, end sessions and
//! revoke app grants.

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes, Data, Path, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;

use super::{
    Ctx, Nav, admin_or_return, confirm_password, done, enter, enter_confirmed, enter_post,
    fmt_time, form, run,
};
use crate::http::blocking;
use crate::http::error::PageError;
use crate::http::pages;
use crate::secret::Secret;
use crate::service::Provider;
use crate::service::admin::users::{self as service, UserDetail};
use crate::service::params::Params;
use crate::service::users::{NewUser, UserError};
use crate::storage::users::{Profile, UserRecord};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.route("/users", web::get().to(get_users))
        .route("/users", web::post().to(post_create))
        .route("/users/new", web::get().to(get_new))
        .route("/users/{id}", web::get().to(get_user))
        .route("/users/{id}", web::post().to(post_profile))
        .route("/users/{id}/password", web::post().to(post_password))
        .route(
            "/users/{id}/sessions/revoke-all",
            web::post().to(post_revoke_all),
        )
        .route(
            "/users/{id}/sessions/{sid}/revoke",
            web::post().to(post_revoke_session),
        )
        .route(
            "/users/{id}/grants/{client}/revoke",
            web::post().to(post_revoke_grant),
        )
        // Last: the specific two-segment routes above take precedence.
        .route("/users/{id}/{action}", web::post().to(post_toggle));
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage {
    nav: Nav,
    q: String,
    q_encoded: String,
    users: Vec<UserRecord>,
    page: i64,
    more: bool,
}

#[derive(Template)]
#[template(path = "admin/user_new.html")]
struct NewUserPage {
    nav: Nav,
    error: Option<String>,
    username: String,
    name: String,
    email: String,
}

pub struct SessionRow {
    pub id: String,
    pub signed_in: String,
    pub expires: String,
}

pub struct GrantRow {
    pub client_name: String,
    pub client_id: String,
    pub scope: String,
    pub granted: String,
    pub last_used: String,
}

impl GrantRow {
    /// For display, from a client's name and its grant.
    pub fn new(client_name: String, g: crate::storage::grants::AppGrant) -> Self {
        Self {
            client_name,
            client_id: g.client_id,
            scope: g.scope,
            granted: fmt_time(g.created_at),
            last_used: fmt_time(g.last_used),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/user.html")]
struct UserPage {
    nav: Nav,
    is_self: bool,
    user: UserRecord,
    sessions: Vec<SessionRow>,
    grants: Vec<GrantRow>,
    error: Option<String>,
}

async fn get_users(p: Data<Provider>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let ctx = admin_or_return!(enter(&p, &req));
    let query = Params::parse(req.query_string().as_bytes());
    let q = query.get("q").unwrap_or_default().to_owned();
    let page = query
        .get("page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0i64)
        .clamp(0, 100_000);
    let search = q.clone();
    let (users, more) = run(&p, &req, &ctx, move |p, _| service::list(p, &search, page)).await?;
    let q_encoded = form_urlencoded::byte_serialize(q.as_bytes()).collect();
    Ok(pages::render(
        StatusCode::OK,
        &UsersPage {
            nav: ctx.nav("users"),
            q,
            q_encoded,
            users,
            page,
            more,
        },
    ))
}

async fn get_new(p: Data<Provider>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let ctx = admin_or_return!(enter(&p, &req));
    let page = NewUserPage {
        nav: ctx.nav("users"),
        error: None,
        username: String::new(),
        name: String::new(),
        email: String::new(),
    };
    Ok(pages::render(StatusCode::OK, &page))
}

fn optional(params: &Params, name: &str) -> Option<String> {
    params
        .get(name)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

async fn post_create(
    p: Data<Provider>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, PageError> {
    let params = form(&body);
    let ctx = admin_or_return!(enter_post(&p, &req, &params));
    let new = NewUser {
        username: params.get("username").unwrap_or_default().trim().to_owned(),
        password: Secret::new(params.get("new_password").unwrap_or_default()),
        email: optional(&params, "email"),
        name: optional(&params, "name"),
        admin: false,
        created_by: None,
    };
    let (username, name, email) = (new.username.clone(), new.name.clone(), new.email.clone());
    let admin = ctx.admin.clone();
    let created = blocking(&p, &req, move |p| {
        Ok::<_, crate::service::Error>(service::create(p, &admin, new))
    })
    .await?;
    match created {
        Ok(id) => Ok(done(&p, &format!("/admin/users/{id}"), "created")),
        Err(UserError::Service(e)) => Err(e.into()),
        Err(e) => {
            let page = NewUserPage {
                nav: ctx.nav("users"),
                error: Some(e.to_string()),
                username,
                name: name.unwrap_or_default(),
                email: email.unwrap_or_default(),
            };
            Ok(pages::render(StatusCode::BAD_REQUEST, &page))
        }
    }
}

async fn get_user(
    p: Data<Provider>,
    req: HttpRequest,
    id: Path<String>,
) -> Result<HttpResponse, PageError> {
    let ctx = admin_or_return!(enter(&p, &req));
    user_page(&p, &req, &ctx, id.into_inner(), None, StatusCode::OK).await
}

async fn user_page(
    p: &Data<Provider>,
    req: &HttpRequest,
    ctx: &Ctx,
    id: String,
    error: Option<String>,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    let Some(detail) = run(p, req, ctx, move |p, _| service::detail(p, &id)).await? else {
        return Err(not_found());
    };
    let UserDetail {
        user,
        sessions,
        grants,
    } = detail;
    let sessions = sessions
        .into_iter()
        .map(|s| SessionRow {
            id: s.id,
            signed_in: fmt_time(s.auth_time),
            expires: fmt_time(s.expires_at),
        })
        .collect();
    let grants = grants
        .into_iter()
        .map(|(name, g)| GrantRow::new(name, g))
        .collect();
    Ok(pages::render(
        status,
        &UserPage {
            nav: ctx.nav("users"),
            is_self: user.id == ctx.admin.user.id,
            user,
            sessions,
            grants,
            error,
        },
    ))
}

async fn post_profile(
    p: Data<Provider>,
    req: HttpRequest,
    id: Path<String>,
    body: Bytes,
) -> Result<HttpResponse, PageError> {
    let params = form(&body);
    let ctx = admin_or_return!(enter_post(&p, &req, &params));
    let id = id.into_inner();
    let profile = Profile {
        name: optional(&params, "name"),
        email: optional(&params, "email"),
        email_verified: params.get("email_verified") == Some("1"),
    };
    let target = id.clone();
    if !run(&p, &req, &ctx, move |p, a| {
        service::update_profile(p, a, &target, &profile)
    })
    .await?
    {
        return Err(not_found());
    }
    Ok(done(&p, &format!("/admin/users/{id}"), "saved"))
}

async fn post_password(
    p: Data<Provider>,
    req: HttpRequest,
    id: Path<String>,
    body: Bytes,
) -> Result<HttpResponse, PageError> {
    let params = form(&body);
    let ctx = admin_or_return!(enter_post(&p, &req, &params));
    let id = id.into_inner();
    let back = format!("/admin/users/{id}");
    // Your own password changes on the account page, with the current one.
    if id == ctx.admin.user.id {
        return Ok(done(&p, &back, "self"));
    }
    admin_or_return!(confirm_password(&p, &req, &ctx, &params, &back));
    let password = Secret::new(params.get("new_password").unwrap_or_default());
    let (admin, target) = (ctx.admin.clone(), id.clone());
    let result = blocking(&p, &req, move |p| {
        Ok::<_, crate::service::Error>(service::reset_password(p, &admin, &target, &password))
    })
    .await?;
    match result {
        Ok(()) => Ok(done(&p, &format!("/admin/users/{id}"), "password")),
        Err(UserError::Service(e)) => Err(e.into()),
        Err(UserError::NotFound(_)) => Err(not_found()),
        Err(e) => {
            user_page(
                &p,
                &req,
                &ctx,
                id,
                Some(e.to_string()),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
    }
}

/// POST /admin/users/{id}/{disable|enable|admin|unadmin}.
async fn post_toggle(
    p: Data<Provider>,
    req: HttpRequest,
    path: Path<(String, String)>,
    body: Bytes,
) -> Result<HttpResponse, PageError> {
    let (id, action) = path.into_inner();
    let what = match action.as_str() {
        "disable" => Toggle::Disable,
        "enable" => Toggle::Enable,
        "admin" => Toggle::GrantAdmin,
        "unadmin" => Toggle::RevokeAdmin,
        _ => return Err(not_found()),
    };
    toggle(p, req, id, body, what).await
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Toggle {
    Disable,
    Enable,
    GrantAdmin,
    RevokeAdmin,
}

async fn toggle(
    p: Data<Provider>,
    req: HttpRequest,
    id: String,
    body: Bytes,
    what: Toggle,
) -> Result<HttpResponse, PageError> {
    let params = form(&body);
    let ctx = admin_or_return!(enter_post(&p, &req, &params));
    let back = format!("/admin/users/{id}");
    // Anything but re-enabling can take access from or give it to someone:
    // it needs the admin's password.
    if what != Toggle::Enable {
        admin_or_return!(confirm_password(&p, &req, &ctx, &params, &back));
    }
    let changed = run(&p, &req, &ctx, move |p, a| match what {
        Toggle::Disable => service::set_disabled(p, a, &id, true),
        Toggle::Enable => service::set_disabled(p, a, &id, false),
        Toggle::GrantAdmin => service::set_admin(p, a, &id, true),
        Toggle::RevokeAdmin => service::set_admin(p, a, &id, false),
    })
    .await?;
    let code = match (changed, what) {
        (false, _) => "self",
        (true, Toggle::Disable) => "disabled",
        (true, Toggle::Enable) => "enabled",
        (true, _) => "admin",
    };
    Ok(done(&p, &back, code))
}

async fn post_revoke_all(
    p: Data<Provider>,
    req: HttpRequest,
    id: Path<String>,
    body: Bytes,
) -> Result<HttpResponse, PageError> {
    let params = form(&body);
    let id = id.into_inner();
    let back = format!("/admin/users/{id}");
    let ctx = admin_or_return!(enter_confirmed(&p, &req, &params, &back));
    run(&p, &req, &ctx, move |p, a| {
        service::revoke_all_sessions(p, a, &id)
    })
    .await?;
    Ok(done(&p, &back, "revoked"))
}

async fn post_revoke_session(
    p: Data<Provider>,
    req: HttpRequest,
    path: Path<(String, String)>,
    body: Bytes,
) -> Result<HttpResponse, PageError> {
    let ctx = admin_or_return!(enter_post(&p, &req, &form(&body)));
    let (id, sid) = path.into_inner();
    let back = format!("/admin/users/{id}");
    run(&p, &req, &ctx, move |p, a| {
        service::revoke_session(p, a, &id, &sid)
    })
    .await?;
    Ok(done(&p, &back, "revoked"))
}

async fn post_revoke_grant(
    p: Data<Provider>,
    req: HttpRequest,
    path: Path<(String, String)>,
    body: Bytes,
) -> Result<HttpResponse, PageError> {
    let ctx = admin_or_return!(enter_post(&p, &req, &form(&body)));
    let (id, client) = path.into_inner();
    let back = format!("/admin/users/{id}");
    run(&p, &req, &ctx, move |p, a| {
        service::revoke_grant(p, &a.user.id, &id, &client)
    })
    .await?;
    Ok(done(&p, &back, "revoked"))
}

fn not_found() -> PageError {
    PageError::Shown {
        status: StatusCode::NOT_FOUND,
        message: "There is no such user.",
    }
}
