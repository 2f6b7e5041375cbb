//! /admin/clients: list, create, edit, disable, rotate the secret, delete.

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes, Data, Path, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;

use super::{Ctx, Nav, admin_or_return, done, enter, enter_confirmed, enter_post, form, run};
use crate::http::error::PageError;
use crate::http::pages;
use crate::service::Provider;
use crate::service::admin::clients::{self as service, ClientForm, Saved};
use crate::service::clients::{ALL_GRANTS, Client, ClientLifetimes};
use crate::service::params::Params;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.route("/clients", web::get().to(get_clients))
        .route("/clients", web::post().to(post_create))
        .route("/clients/new", web::get().to(get_new))
        .route("/clients/{id}", web::get().to(get_client))
        .route("/clients/{id}", web::post().to(post_update))
        .route("/clients/{id}/disable", web::post().to(post_disable))
        .route("/clients/{id}/enable", web::post().to(post_enable))
        .route("/clients/{id}/secret", web::post().to(post_secret))
        .route("/clients/{id}/delete", web::post().to(post_delete));
}

#[derive(Template)]
#[template(path = "admin/clients.html")]
struct ClientsPage {
    nav: Nav,
    q: String,
    clients: Vec<Client>,
}

#[derive(Template)]
#[template(path = "admin/client_form.html")]
struct ClientFormPage {
    nav: Nav,
    id: Option<String>,
    action: String,
    disabled: bool,
    problems: Vec<String>,
    form: ClientForm,
    redirect_uris: String,
    post_logout: String,
    grant_choices: &'static [&'static str],
    ttl_access: String,
    ttl_absolute: String,
    ttl_idle: String,
}

#[derive(Template)]
#[template(path = "admin/secret.html")]
struct SecretPage {
    nav: Nav,
    id: String,
    secret: String,
}

async fn get_clients(p: Data<Provider>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let ctx = admin_or_return!(enter(&p, &req));
    let q = Params::parse(req.query_string().as_bytes())
        .get("q")
        .unwrap_or_default()
        .to_owned();
    let search = q.clone();
    let clients = run(&p, &req, &ctx, move |p, _| service::list(p, &search)).await?;
    Ok(pages::render(
        StatusCode::OK,
        &ClientsPage {
            nav: ctx.nav("clients"),
            q,
            clients,
        },
    ))
}

async fn get_new(p: Data<Provider>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let ctx = admin_or_return!(enter(&p, &req));
    let blank = ClientForm {
        scopes: "openid profile email offline_access".into(),
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        ..ClientForm::default()
    };
    Ok(form_page(
        &ctx,
        None,
        false,
        blank,
        Vec::new(),
        StatusCode::OK,
    ))
}

async fn post_create(
    p: Data<Provider>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, PageError> {
    let params = form(&body);
    let ctx = admin_or_return!(enter_confirmed(&p, &req, &params, "/admin/clients/new"));
    let submitted = parse_form(&body);
    let again = submitted.clone();
    match run(&p, &req, &ctx, move |p, a| service::create(p, a, submitted)).await? {
        Saved::Ok {
            id,
            secret: Some(secret),
        } => Ok(secret_page(&ctx, id, secret.expose())),
        Saved::Ok { id, secret: None } => Ok(done(&p, &format!("/admin/clients/{id}"), "created")),
        Saved::Invalid(problems) => Ok(form_page(
            &ctx,
            None,
            false,
            again,
            problems,
            StatusCode::BAD_REQUEST,
        )),
    }
}

async fn get_client(
    p: Data<Provider>,
    req: HttpRequest,
    id: Path<String>,
) -> Result<HttpResponse, PageError> {
    let ctx = admin_or_return!(enter(&p, &req));
    let id = id.into_inner();
    let lookup = id.clone();
    let Some(client) = run(&p, &req, &ctx, move |p, _| service::get(p, &lookup)).await? else {
        return Err(not_found());
    };
    let form = ClientForm::from_client(&client);
    Ok(form_page(
        &ctx,
        Some(id),
        client.disabled,
        form,
        Vec::new(),
        StatusCode::OK,
    ))
}

async fn post_update(
    p: Data<Provider>,
    req: HttpRequest,
    id: Path<String>,
    body: Bytes,
) -> Result<HttpResponse, PageError> {
    let params = form(&body);
    let id = id.into_inner();
    // Redirect URIs, type and first-party decide who receives codes.
    let back = format!("/admin/clients/{id}");
    let ctx = admin_or_return!(enter_confirmed(&p, &req, &params, &back));
    let submitted = parse_form(&body);
    let (again, target) = (submitted.clone(), id.clone());
    let saved = run(&p, &req, &ctx, move |p, a| {
        service::update(p, a, &target, submitted)
    })
    .await?;
    match saved {
        None => Err(not_found()),
        Some(Saved::Ok {
            id,
            secret: Some(secret),
        }) => Ok(secret_page(&ctx, id, secret.expose())),
        Some(Saved::Ok { id, secret: None }) => {
            Ok(done(&p, &format!("/admin/clients/{id}"), "saved"))
        }
        Some(Saved::Invalid(problems)) => Ok(form_page(
            &ctx,
            Some(id),
            false,
            again,
            problems,
            StatusCode::BAD_REQUEST,
        )),
    }
}

async fn post_disable(
    p: Data<Provider>,
    req: HttpRequest,
    id: Path<String>,
    body: Bytes,
) -> Result<HttpResponse, PageError> {
    set_disabled(p, req, id.into_inner(), body, true).await
}

async fn post_enable(
    p: Data<Provider>,
    req: HttpRequest,
    id: Path<String>,
    body: Bytes,
) -> Result<HttpResponse, PageError> {
    set_disabled(p, req, id.into_inner(), body, false).await
}

async fn set_disabled(
    p: Data<Provider>,
    req: HttpRequest,
    id: String,
    body: Bytes,
    disabled: bool,
) -> Result<HttpResponse, PageError> {
    let ctx = admin_or_return!(enter_post(&p, &req, &form(&body)));
    let target = id.clone();
    if !run(&p, &req, &ctx, move |p, a| {
        service::set_disabled(p, a, &target, disabled)
    })
    .await?
    {
        return Err(not_found());
    }
    Ok(done(
        &p,
        &format!("/admin/clients/{id}"),
        if disabled { "disabled" } else { "enabled" },
    ))
}

async fn post_secret(
    p: Data<Provider>,
    req: HttpRequest,
    id: Path<String>,
    body: Bytes,
) -> Result<HttpResponse, PageError> {
    let params = form(&body);
    let id = id.into_inner();
    let back = format!("/admin/clients/{id}");
    let ctx = admin_or_return!(enter_confirmed(&p, &req, &params, &back));
    let target = id.clone();
    match run(&p, &req, &ctx, move |p, a| {
        service::rotate_secret(p, a, &target)
    })
    .await?
    {
        Some(secret) => Ok(secret_page(&ctx, id, secret.expose())),
        None => Err(not_found()),
    }
}

async fn post_delete(
    p: Data<Provider>,
    req: HttpRequest,
    id: Path<String>,
    body: Bytes,
) -> Result<HttpResponse, PageError> {
    let params = form(&body);
    let id = id.into_inner();
    let back = format!("/admin/clients/{id}");
    let ctx = admin_or_return!(enter_confirmed(&p, &req, &params, &back));
    let target = id.clone();
    if !run(&p, &req, &ctx, move |p, a| service::delete(p, a, &target)).await? {
        return Err(not_found());
    }
    Ok(done(&p, "/admin/clients", "deleted"))
}

fn not_found() -> PageError {
    PageError::Shown {
        status: StatusCode::NOT_FOUND,
        message: "There is no such client.",
    }
}

fn secret_page(ctx: &Ctx, id: String, secret: &str) -> HttpResponse {
    let page = SecretPage {
        nav: ctx.nav("clients"),
        id,
        secret: secret.to_owned(),
    };
    pages::render(StatusCode::OK, &page)
}

fn form_page(
    ctx: &Ctx,
    id: Option<String>,
    disabled: bool,
    form: ClientForm,
    problems: Vec<String>,
    status: StatusCode,
) -> HttpResponse {
    let secs = |v: Option<i64>| v.map(|s| s.to_string()).unwrap_or_default();
    let action = match &id {
        Some(id) => format!("/admin/clients/{id}"),
        None => "/admin/clients".to_owned(),
    };
    let page = ClientFormPage {
        nav: ctx.nav("clients"),
        action,
        disabled,
        problems,
        redirect_uris: form.redirect_uris.join("\n"),
        post_logout: form.post_logout_redirect_uris.join("\n"),
        grant_choices: ALL_GRANTS,
        ttl_access: secs(form.lifetimes.access_token),
        ttl_absolute: secs(form.lifetimes.refresh_absolute),
        ttl_idle: secs(form.lifetimes.refresh_idle),
        id,
        form,
    };
    pages::render(status, &page)
}

/// The client form; repeated fields (grant types) are read in full.
fn parse_form(body: &[u8]) -> ClientForm {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    let one = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    };
    let lines = |name: &str| {
        one(name)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let secs = |name: &str| one(name).parse::<i64>().ok();
    ClientForm {
        name: one("name"),
        public: one("type") == "public",
        first_party: one("first_party") == "1",
        redirect_uris: lines("redirect_uris"),
        post_logout_redirect_uris: lines("post_logout_redirect_uris"),
        scopes: one("scopes"),
        grant_types: pairs
            .iter()
            .filter(|(k, _)| k == "grant_type")
            .map(|(_, v)| v.clone())
            .collect(),
        refresh_without_offline_access: one("refresh_without_offline_access") == "1",
        lifetimes: ClientLifetimes {
            access_token: secs("access_token_ttl"),
            refresh_absolute: secs("refresh_absolute_ttl"),
            refresh_idle: secs("refresh_idle_ttl"),
        },
    }
}
