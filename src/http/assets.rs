//! Static files compiled into the binary, so pages load nothing from
//! another host.

use actix_web::HttpResponse;
use actix_web::http::header;
use actix_web::web::{self, ServiceConfig};

const STYLE: &str = include_str!("../../static/style.css");
const FORM_POST_JS: &str = include_str!("../../static/form_post.js");
const FAVICON: &str = include_str!("../../static/favicon.svg");

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.route(
        "/static/style.css",
        web::get().to(|| async { asset("text/css; charset=utf-8", STYLE) }),
    )
    .route(
        "/static/favicon.svg",
        web::get().to(|| async { asset("image/svg+xml", FAVICON) }),
    )
    .route(
        "/static/form_post.js",
        web::get().to(|| async { asset("text/javascript; charset=utf-8", FORM_POST_JS) }),
    );
}

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(body)
}
