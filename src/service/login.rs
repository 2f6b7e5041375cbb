//! Browser login: credential checks and server-side login sessions. The
//! cookie holds a random secret; only its SHA-256 is stored.

use super::audit::{self, Kind};
use super::users::Credentials;
use super::{Provider, Result};
use crate::crypto::random;
use crate::secret::Secret;
use crate::storage::pending::PendingRecord;
use crate::storage::sessions::{SessionRecord, SessionStart};
use crate::storage::users::UserRecord;

/// CSRF purpose strings, so a token minted for one form fits no other.
pub const CSRF_LOGIN: &str = "login";

/// What the login page shows for a pending request.
#[derive(Debug)]
pub struct LoginContext {
    pub client_name: Option<String>,
    pub login_hint: Option<String>,
}

/// The live session behind a session cookie, if any.
pub fn current_session(p: &Provider, cookie: Option<&Secret>) -> Result<Option<SessionRecord>> {
    let Some(cookie) = cookie else {
        return Ok(None);
    };
    Ok(p.store
        .live_session(&random::sha256_hex(cookie.expose()), p.now())?)
}

/// The pending request a login form belongs to; `None` when it is unknown or
/// expired. An empty id is a direct visit to the login page.
pub fn pending_for_login(p: &Provider, request: &str) -> Result<Option<(PendingRecord, String)>> {
    if request.is_empty() {
        return Ok(None);
    }
    let Some(pending) = super::authorize::find(p, request)? else {
        return Ok(None);
    };
    let client_name = p
        .store
        .client_cached(&pending.client_id)?
        .map(|c| c.name.clone())
        .unwrap_or_default();
    Ok(Some((pending, client_name)))
}

pub fn context(p: &Provider, request: &str) -> Result<LoginContext> {
    Ok(match pending_for_login(p, request)? {
        Some((pending, client_name)) => LoginContext {
            client_name: Some(client_name),
            login_hint: pending.login_hint,
        },
        None => LoginContext {
            client_name: None,
            login_hint: None,
        },
    })
}

pub enum LoginOutcome {
    /// Logged in: the new session cookie secret, and for a login that
    /// belongs to an authorization request, where that request goes next.
    Success {
        cookie: Secret,
        user: UserRecord,
        next: Option<Box<super::authorize::Outcome>>,
        /// Where /authorize/continue picks the request up when `next` is
        /// `None`; empty for a login without a request.
        resume: String,
    },
    BadCredentials,
    BadCsrf,
    /// Too many recent failures for this username or address.
    Throttled,
}

/// Failed logins allowed per username (whether or not it exists, so the
/// limit reveals nothing) and per source address within the window; beyond
/// that, attempts are refused without checking the password. Counted from
/// the audit log, so every instance sharing the database agrees.
const MAX_FAILURES_PER_NAME: i64 = 10;
const MAX_FAILURES_PER_ADDRESS: i64 = 100;
pub const THROTTLE_WINDOW_SECS: i64 = 15 * 60;

/// What failed logins are counted under: a digest of the username as typed,
/// so the audit log never shows what someone typed (it may be a password).
fn throttle_key(username: &str) -> String {
    format!(
        "attempt {}",
        &random::sha256_hex(&username.to_lowercase())[..16]
    )
}

fn throttled(p: &Provider, form: &LoginForm) -> Result<bool> {
    let since = p.now() - THROTTLE_WINDOW_SECS;
    let kind = Kind::LoginFailed.as_str();
    let key = throttle_key(&form.username);
    let (by_name, by_address) =
        p.store
            .count_recent(kind, &key, form.source_ip.as_deref(), since)?;
    Ok(by_name >= MAX_FAILURES_PER_NAME || by_address >= MAX_FAILURES_PER_ADDRESS)
}

#[derive(Debug)]
pub struct LoginForm {
    pub request: String,
    pub username: String,
    pub password: Secret,
    pub csrf: String,
    /// The client's address, for the log.
    pub source_ip: Option<String>,
}

/// Checks the form and the credentials (argon2: call off the async
/// executor) and starts a fresh session. Any session the browser already had
/// is ended, so a session id is never carried across a login (fixation).
pub fn login(
    p: &Provider,
    form: &LoginForm,
    browser: &Secret,
    old_session: Option<&Secret>,
) -> Result<LoginOutcome> {
    if !p.csrf.check(CSRF_LOGIN, browser, &form.request, &form.csrf) {
        return Ok(LoginOutcome::BadCsrf);
    }
    let pending = pending_for_login(p, &form.request)?.map(|(pending, _)| pending);
    let stored = super::authorize::is_stored(&form.request);
    let client_id = pending.as_ref().map(|r| r.client_id.clone());
    if throttled(p, form)? {
        tracing::warn!(
            ip = form.source_ip.as_deref(),
            "login throttled after repeated failures"
        );
        return Ok(LoginOutcome::Throttled);
    }
    let user = match super::users::verify_credentials(&p.store, &form.username, &form.password)? {
        Credentials::Valid(user) => *user,
        refused => {
            tracing::info!(
                client_id = client_id.as_deref(),
                ip = form.source_ip.as_deref(),
                "login failed"
            );
            let mut event = audit::event(Kind::LoginFailed)
                .failed()
                .detail(throttle_key(&form.username));
            if let Credentials::Refused { user_id } = refused {
                event = event.subject(user_id);
            }
            if let Some(client_id) = &client_id {
                event = event.client(client_id.clone());
            }
            event.record(p);
            return Ok(LoginOutcome::BadCredentials);
        }
    };
    let replaces = current_session(p, old_session)?.map(|old| old.id);
    let cookie = Secret::new(random::prefixed_secret("pss_"));
    let now = p.now();
    let session = SessionRecord {
        id: random::id(),
        secret_hash: random::sha256_hex(cookie.expose()),
        user_id: user.id.clone(),
        auth_time: now,
        created_at: now,
        expires_at: now + p.config.session.ttl_secs,
    };
    let mut event = audit::event(Kind::LoginSucceeded).subject(user.id.clone());
    if let Some(client_id) = &client_id {
        event = event.client(client_id.clone());
    }
    let session_id = session.id.clone();
    let mut login = Some(SessionStart {
        replaces,
        session,
        audit: event.build(now),
        // A stored request notes which login satisfied it.
        pending_id: pending
            .as_ref()
            .filter(|_| stored)
            .map(|pending| pending.id.clone()),
    });
    // Continuing the request first lets a login that ends in a code write
    // session and code in one transaction.
    // Not when the request has already been answered (a 503 after too
    // long in the queue): that would use up the authorization request for
    // nobody, and a retry of the form would find it gone.
    let (mut next, mut resume) = (None, String::new());
    if let Some(pending) = pending.filter(|_| !super::limits::caller_gone()) {
        next = continue_request(p, pending.clone(), stored, &mut login);
        if next.is_none() {
            resume =
                super::authorize::reference_after_login(p, &form.request, pending, &session_id);
        }
    }
    if let Some(login) = login {
        p.store.start_session(login)?;
    }
    tracing::info!(
        user_id = %user.id,
        client_id = client_id.as_deref(),
        ip = form.source_ip.as_deref(),
        "login succeeded"
    );
    Ok(LoginOutcome::Success {
        cookie,
        user,
        next,
        resume,
    })
}

/// Takes the authorization request a login belongs to one step further
/// (consent, or the answer to the client), as the browser's visit to
/// /authorize/continue would, and in the same request: a round trip and a
/// thread hand-off fewer per login, and the request and session at hand
/// are not read back. When it ends in a code, `login` is written with the
/// code and taken. `None` when that step fails: the session is started all
/// the same, and the browser is sent to /authorize/continue to try again
/// (see `authorize::reference_after_login`).
fn continue_request(
    p: &Provider,
    pending: PendingRecord,
    stored: bool,
    login: &mut Option<SessionStart>,
) -> Option<Box<super::authorize::Outcome>> {
    super::authorize::after_login(p, pending, stored, login)
        .inspect_err(|e| tracing::warn!(error = %e, "continuing after login failed"))
        .ok()
        .map(Box::new)
}
