//! HTML pages (askama templates) and the security headers every page gets.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header;
use askama::Template;

/// No inline script or style, nothing from another host, no framing.
/// `form-action` is left out on purpose: browsers apply it to the redirect
/// chain after a form POST, which ends at the client's redirect URI.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                       base-uri 'none'; frame-ancestors 'none'";

/// Renders a page with the headers every HTML response carries.
pub fn render(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
            .insert_header((header::X_FRAME_OPTIONS, "DENY"))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .insert_header((header::REFERRER_POLICY, "no-referrer"))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            HttpResponse::InternalServerError().body("server error")
        }
    }
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    pub request: &'a str,
    pub return_to: &'a str,
    pub csrf: &'a str,
    pub client_name: Option<&'a str>,
    pub username: &'a str,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentPage<'a> {
    pub request: &'a str,
    pub csrf: &'a str,
    pub client_name: &'a str,
    pub username: &'a str,
    pub scopes: &'a [String],
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub title: &'static str,
    pub message: &'static str,
    pub request_id: Option<String>,
}

impl ErrorPage {
    pub fn new(message: &'static str) -> Self {
        Self {
            title: "Something is wrong with this request",
            message,
            request_id: None,
        }
    }

    pub fn with_request_id(status: StatusCode, request_id: String) -> Self {
        let message = if status == StatusCode::SERVICE_UNAVAILABLE {
            "The service is temporarily unavailable. Please try again in a moment."
        } else {
            "The server could not complete this request."
        };
        Self {
            title: "Server error",
            message,
            request_id: Some(request_id),
        }
    }
}

#[derive(Template)]
#[template(path = "form_post.html")]
pub struct FormPostPage<'a> {
    pub action: &'a str,
    pub fields: &'a [(&'static str, String)],
}

#[derive(Template)]
#[template(path = "signed_in.html")]
pub struct SignedInPage<'a> {
    pub username: &'a str,
}

#[derive(Template)]
#[template(path = "logout_confirm.html")]
pub struct LogoutConfirmPage<'a> {
    pub csrf: &'a str,
    pub client_id: Option<&'a str>,
    pub post_logout_redirect_uri: Option<&'a str>,
    pub state: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "signed_out.html")]
pub struct SignedOutPage;
