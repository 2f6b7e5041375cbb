//! GET /admin: counts at a glance.

use actix_web::http::StatusCode;
use actix_web::web::{self, Data, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;

use super::{Nav, admin_or_return, enter, run};
use crate::http::error::PageError;
use crate::http::pages;
use crate::service::Provider;
use crate::service::admin::{self, Dashboard};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.route("", web::get().to(get_dashboard))
        .route("/", web::get().to(get_dashboard));
}

#[derive(Template)]
#[template(path = "admin/dashboard.html")]
struct DashboardPage {
    nav: Nav,
    stats: Dashboard,
}

async fn get_dashboard(p: Data<Provider>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let ctx = admin_or_return!(enter(&p, &req));
    let stats = run(&p, &req, &ctx, |p, _| admin::dashboard(p)).await?;
    Ok(pages::render(
        StatusCode::OK,
        &DashboardPage {
            nav: ctx.nav("dashboard"),
            stats,
        },
    ))
}
