//! /admin/audit: security events, filtered by user, client, kind and time.

use actix_web::http::StatusCode;
use actix_web::web::{self, Data, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;

use super::{Nav, admin_or_return, enter, fmt_time, run};
use crate::http::error::PageError;
use crate::http::pages;
use crate::service::Provider;
use crate::service::audit::Kind;
use crate::service::params::Params;
use crate::storage::audit::AuditFilter;

const PAGE: i64 = 100;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.route("/audit", web::get().to(get_audit));
}

pub struct EventRow {
    pub at: String,
    pub kind: String,
    pub outcome: String,
    pub actor_user_id: Option<String>,
    pub actor_name: Option<String>,
    pub subject_user_id: Option<String>,
    pub subject_name: Option<String>,
    pub client_id: Option<String>,
    pub source_ip: Option<String>,
    pub detail: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    nav: Nav,
    events: Vec<EventRow>,
    kinds: Vec<&'static str>,
    f_user: String,
    f_client: String,
    f_kind: String,
    f_hours: String,
    more: bool,
    next_link: String,
}

async fn get_audit(p: Data<Provider>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let ctx = admin_or_return!(enter(&p, &req));
    let q = Params::parse(req.query_string().as_bytes());
    let text = |name: &str| q.get(name).map(str::trim).unwrap_or_default().to_owned();
    let (f_user, f_client, f_kind, f_hours) =
        (text("user"), text("client"), text("kind"), text("hours"));
    // Clamped: the arithmetic below must not overflow on silly input.
    let page = q
        .get("page")
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0)
        .clamp(0, 100_000);
    let hours = f_hours
        .parse::<i64>()
        .ok()
        .filter(|h| *h > 0)
        .map(|h| h.min(24 * 366 * 10));
    let some = |s: &String| (!s.is_empty()).then(|| s.clone());
    let filter = AuditFilter {
        user_id: None,
        client_id: some(&f_client),
        kind: some(&f_kind),
        since: hours.map(|h| p.now() - h * 3600),
        until: None,
        limit: PAGE + 1,
        offset: page * PAGE,
    };
    let user = f_user.clone();
    let records = run(&p, &req, &ctx, move |p, _| {
        // The user filter takes a username or a user id.
        let mut filter = filter;
        if !user.is_empty() {
            let by_name = p.store.user_by_username(&user)?.map(|u| u.id);
            filter.user_id = Some(by_name.unwrap_or(user));
        }
        let records = p.store.audit_events(&filter)?;
        // Names for the ids on this page, looked up once each.
        let mut names = std::collections::HashMap::new();
        for id in records
            .iter()
            .flat_map(|r| [&r.actor_user_id, &r.subject_user_id])
            .flatten()
        {
            if !names.contains_key(id) {
                let name = p.store.user_by_id(id)?.map(|u| u.username);
                names.insert(id.clone(), name.unwrap_or_else(|| "(deleted user)".into()));
            }
        }
        Ok((records, names))
    })
    .await?;
    let (mut records, names) = records;
    let name_of = |id: &Option<String>| id.as_ref().and_then(|i| names.get(i).cloned());
    let more = records.len() as i64 > PAGE;
    records.truncate(PAGE as usize);
    let events = records
        .into_iter()
        .map(|r| EventRow {
            at: fmt_time(r.at),
            kind: r.kind,
            outcome: r.outcome,
            actor_name: name_of(&r.actor_user_id),
            subject_name: name_of(&r.subject_user_id),
            actor_user_id: r.actor_user_id,
            subject_user_id: r.subject_user_id,
            client_id: r.client_id,
            source_ip: r.source_ip,
            detail: r.detail,
        })
        .collect();
    let next_link = {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        ser.append_pair("user", &f_user)
            .append_pair("client", &f_client)
            .append_pair("kind", &f_kind)
            .append_pair("hours", &f_hours)
            .append_pair("page", &(page + 1).to_string());
        format!("/admin/audit?{}", ser.finish())
    };
    let kinds = Kind::ALL.iter().map(|k| k.as_str()).collect();
    let page = AuditPage {
        nav: ctx.nav("audit"),
        events,
        kinds,
        f_user,
        f_client,
        f_kind,
        f_hours,
        more,
        next_link,
    };
    Ok(pages::render(StatusCode::OK, &page))
}
