//! Cookie names and attributes. Both cookies are HttpOnly and SameSite=Lax
//! (Lax so the session survives the top-level redirect back from a client),
//! and Secure whenever the issuer is https.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time::Duration};

use crate::config::Config;
use crate::crypto::random;
use crate::secret::Secret;

/// The login session's secret.
pub const SESSION: &str = "portcullis_session";
/// A random per-browser value the login form's CSRF token is bound to.
pub const BROWSER: &str = "portcullis_browser";

pub fn read(req: &HttpRequest, name: &str) -> Option<Secret> {
    req.cookie(name)
        .map(|c| Secret::new(c.value()))
        .filter(|s| !s.is_empty())
}

pub fn build(
    config: &Config,
    name: &'static str,
    value: &Secret,
    max_age_secs: i64,
) -> Cookie<'static> {
    Cookie::build(name, value.expose().to_owned())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(config.issuer_is_https())
        .max_age(Duration::seconds(max_age_secs))
        .finish()
}

/// The browser binding cookie, created when absent. The flag says whether
/// it is new and must be set on the response.
pub fn browser(req: &HttpRequest) -> (Secret, bool) {
    match read(req, BROWSER) {
        Some(b) => (b, false),
        None => (Secret::new(random::token(32)), true),
    }
}

/// A year: the browser cookie carries no authority of its own.
pub const BROWSER_MAX_AGE: i64 = 365 * 24 * 3600;

/// Adds a cookie to a response. A cookie built by [`build`] always encodes
/// as a header value, so the error case cannot occur.
pub fn set(res: &mut actix_web::HttpResponse, cookie: &Cookie<'_>) {
    if res.add_cookie(cookie).is_err() {
        tracing::error!(cookie = cookie.name(), "cookie could not be encoded");
    }
}
