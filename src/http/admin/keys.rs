//! /admin/keys: the signing keys and their rotation.

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes, Data, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;

use super::{Nav, admin_or_return, done, enter, enter_confirmed, fmt_time, form, run};
use crate::http::error::PageError;
use crate::http::pages;
use crate::service::{Provider, keys};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.route("/keys", web::get().to(get_keys))
        .route("/keys/rotate", web::post().to(post_rotate));
}

pub struct KeyRow {
    pub kid: String,
    pub alg: &'static str,
    pub created: String,
    pub signs_from: String,
    pub retires: String,
    pub status: &'static str,
}

#[derive(Template)]
#[template(path = "admin/keys.html")]
struct KeysPage {
    nav: Nav,
    keys: Vec<KeyRow>,
    delay: i64,
}

async fn get_keys(p: Data<Provider>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let ctx = admin_or_return!(enter(&p, &req));
    let (stored, now) = run(&p, &req, &ctx, |p, _| {
        Ok((p.store.signing_keys()?, p.now()))
    })
    .await?;
    let ring = p.keys.ring();
    let keys = stored
        .into_iter()
        .map(|k| {
            let s = k.schedule;
            let signing = ring
                .signing_key(k.alg, now)
                .is_some_and(|cur| cur.kid == k.kid);
            let status = match () {
                _ if signing => "signing",
                _ if s.signs_from() > now => "published, not yet signing",
                _ if !s.is_published(now) => "retired",
                _ => "published, verifying only",
            };
            KeyRow {
                kid: k.kid,
                alg: k.alg.name(),
                created: fmt_time(s.created_at),
                signs_from: fmt_time(s.signs_from()),
                retires: s.retires_at.map(fmt_time).unwrap_or_else(|| "—".into()),
                status,
            }
        })
        .collect();
    let delay = p.config.keys.activation_delay_secs;
    Ok(pages::render(
        StatusCode::OK,
        &KeysPage {
            nav: ctx.nav("keys"),
            keys,
            delay,
        },
    ))
}

async fn post_rotate(
    p: Data<Provider>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, PageError> {
    let params = form(&body);
    let ctx = admin_or_return!(enter_confirmed(&p, &req, &params, "/admin/keys"));
    run(&p, &req, &ctx, |p, a| keys::rotate(p, Some(&a.user.id))).await?;
    Ok(done(&p, "/admin/keys", "keys"))
}
