//! The one place errors become HTTP responses: RFC 6749 5.2 JSON for the
//! token endpoint, RFC 6750 3 challenges for bearer-protected endpoints, and
//! HTML error pages for the browser. Server faults are logged under a request
//! id; clients see only that id.

use actix_web::body::MessageBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use super::pages::{self, ErrorPage};
use crate::crypto::random;
use crate::service::userinfo::BearerError;
use crate::service::{self, ErrorCode, OAuthError};
use crate::storage::StoreError;

/// Errors of JSON endpoints (token, userinfo).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Service(#[from] service::Error),
    /// A bearer-protected request refused: `None` when no token was sent.
    #[error("bearer token refused")]
    Bearer(Option<OAuthError>),
}

impl From<OAuthError> for ApiError {
    fn from(e: OAuthError) -> Self {
        ApiError::Service(e.into())
    }
}

impl From<BearerError> for ApiError {
    fn from(e: BearerError) -> Self {
        match e {
            BearerError::Missing => ApiError::Bearer(None),
            BearerError::Rejected(e) => ApiError::Bearer(Some(e)),
            BearerError::Internal(e) => ApiError::Service(e),
        }
    }
}

/// Errors of browser endpoints.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("{message}")]
    Shown {
        status: StatusCode,
        message: &'static str,
    },
    #[error("{0}")]
    Service(#[from] service::Error),
}

impl PageError {
    pub fn bad_request(message: &'static str) -> Self {
        PageError::Shown {
            status: StatusCode::BAD_REQUEST,
            message,
        }
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        PageError::Service(e.into())
    }
}

/// Logs a server fault under a fresh id and says whether the database is
/// away (503) rather than broken (500).
fn server_fault(e: &service::Error) -> (StatusCode, String) {
    let request_id = random::token(8);
    if let service::Error::Store(store) = e
        && store.is_unavailable()
    {
        // The store logs an outage once; one line per request would flood.
        tracing::debug!(request_id = %request_id, error = %store, "request failed: database unavailable");
        return (StatusCode::SERVICE_UNAVAILABLE, request_id);
    }

    tracing::error!(request_id = %request_id, error = %e, "request failed");
    (StatusCode::INTERNAL_SERVER_ERROR, request_id)
}

fn oauth_json(status: StatusCode, e: &OAuthError) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(json!({ "error": e.code.as_str(), "error_description": e.description }))
}

/// A 503 says when to come back (RFC 9110 10.2.3).
fn with_retry_after(mut res: HttpResponse) -> HttpResponse {
    if res.status() == StatusCode::SERVICE_UNAVAILABLE {
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    res
}

/// A quoted-string safe value for WWW-Authenticate parameters.
fn quoted(s: &str) -> String {
    s.chars()
        .filter(|c| (' '..='~').contains(c) && *c != '"' && *c != '\\')
        .collect()
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.error_response().status()
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Service(service::Error::OAuth(e)) => match e.code {
                // RFC 6749 5.2: 401 with a challenge naming the scheme we take.
                ErrorCode::InvalidClient => {
                    let mut res = oauth_json(StatusCode::UNAUTHORIZED, e);
                    res.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Basic realm=\"portcullis\""),
                    );
                    res
                }
                _ => oauth_json(StatusCode::BAD_REQUEST, e),
            },
            ApiError::Service(other) => {
                let (status, request_id) = server_fault(other);
                let code = if status == StatusCode::SERVICE_UNAVAILABLE {
                    ErrorCode::TemporarilyUnavailable
                } else {
                    ErrorCode::ServerError
                };
                let e = OAuthError::new(code, format!("server error (request id {request_id})"));
                with_retry_after(oauth_json(status, &e))
            }
            ApiError::Bearer(e) => bearer_response(e.as_ref()),
        }
    }
}

/// RFC 6750 3 and 3.1.
fn bearer_response(e: Option<&OAuthError>) -> HttpResponse {
    let Some(e) = e else {
        return HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"portcullis\""))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish();
    };
    let status = match e.code {
        ErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
        ErrorCode::InvalidRequest => StatusCode::BAD_REQUEST,
        _ => StatusCode::UNAUTHORIZED,
    };
    let challenge = format!(
        "Bearer realm=\"portcullis\", error=\"{}\", error_description=\"{}\"",
        e.code.as_str(),
        quoted(&e.description)
    );
    let mut res = oauth_json(status, e);
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    }
    res
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.error_response().status()
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            PageError::Shown { status, message } => {
                pages::render(*status, &ErrorPage::new(message))
            }
            PageError::Service(e) => {
                let (status, request_id) = server_fault(e);
                let page = ErrorPage::with_request_id(status, request_id);
                with_retry_after(pages::render(status, &page))
            }
        }
    }
}

/// Errors the framework produces before a handler runs (an unreadable query,
/// a body over the limit, an unknown path, a wrong method) get the same form
/// as ours: RFC 6749 JSON on the API endpoints, an error page elsewhere.
/// Responses we built ourselves pass through untouched.
pub fn framework_errors<B: MessageBody + 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(replace_framework_error)
}

const API_PATHS: &[&str] = &["/token", "/revoke", "/introspect", "/userinfo"];
/// Plain-text probes for load balancers keep their own bodies.
const PROBE_PATHS: &[&str] = &["/healthz", "/readyz"];

fn replace_framework_error<B>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let headers = res.headers();
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let ours = is_json
        || headers.contains_key(header::CONTENT_SECURITY_POLICY)
        || headers.contains_key(header::WWW_AUTHENTICATE);
    if ours || PROBE_PATHS.contains(&res.request().path()) {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let message = match status {
        StatusCode::NOT_FOUND => "There is nothing here.",
        StatusCode::METHOD_NOT_ALLOWED => "This address does not accept that method.",
        StatusCode::PAYLOAD_TOO_LARGE => "The request is too large.",
        s if s.is_server_error() => "The server could not complete this request.",
        _ => "The request could not be read.",
    };
    let replacement = if API_PATHS.contains(&res.request().path()) {
        let code = if status.is_server_error() {
            ErrorCode::ServerError
        } else {
            ErrorCode::InvalidRequest
        };
        oauth_json(status, &OAuthError::new(code, message))
    } else {
        pages::render(status, &ErrorPage::new(message))
    };
    let (req, _) = res.into_parts();
    let res = ServiceResponse::new(req, replacement).map_into_right_body();
    Ok(ErrorHandlerResponse::Response(res))
}
