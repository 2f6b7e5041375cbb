//! RP-Initiated Logout 1.0: end the browser's login session and, when the
//! client is identified and the URI registered, send the browser back.

use serde_json::Value;

use super::audit::{self, Kind};
use super::clients::Client;
use super::{Provider, Result, login};
use crate::crypto::jwt;
use crate::crypto::keys::Alg;
use crate::secret::Secret;

pub const CSRF_LOGOUT: &str = "logout";

#[derive(Debug, Default, Clone)]
pub struct LogoutRequest {
    pub id_token_hint: Option<String>,
    pub client_id: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
}

#[derive(Debug)]
pub enum LogoutOutcome {
    /// Session ended; back to the client.
    Redirect(String),
    /// Session ended (or there was none); no verified place to return to.
    SignedOut,
    /// Ask the user first: nothing proves the request came from the client
    /// the user signed in to.
    Confirm {
        csrf: String,
        request: LogoutRequest,
    },
    /// The request is malformed (a forged hint, a mismatched client).
    Invalid(&'static str),
}

/// What a valid id_token_hint tells us. Expired hints are accepted: the
/// user is logging out of a session whose ID token may be long gone.
struct Hint {
    client_id: String,
    sub: String,
}

fn parse_hint(p: &Provider, token: &str) -> Option<Hint> {
    let claims = jwt::verify(&p.keys.ring(), token, "JWT", &[Alg::RS256, Alg::ES256]).ok()?;
    if claims.get("iss").and_then(Value::as_str) != Some(p.config.issuer.as_str()) {
        return None;
    }
    let client_id = match claims.get("aud")? {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.first()?.as_str()?.to_owned(),
        _ => return None,
    };
    let sub = claims.get("sub")?.as_str()?.to_owned();
    Some(Hint { client_id, sub })
}

/// GET or POST /logout.
pub fn start(
    p: &Provider,
    req: LogoutRequest,
    session: Option<&Secret>,
    browser: &Secret,
) -> Result<LogoutOutcome> {
    let hint = match &req.id_token_hint {
        Some(token) => match parse_hint(p, token) {
            Some(hint) => Some(hint),
            None => {
                return Ok(LogoutOutcome::Invalid(
                    "The id_token_hint is not one we issued.",
                ));
            }
        },
        None => None,
    };
    let mismatch = matches!((&hint, &req.client_id), (Some(h), Some(c)) if &h.client_id != c);
    if mismatch {
        return Ok(LogoutOutcome::Invalid(
            "client_id does not match the id_token_hint.",
        ));
    }
    let current = login::current_session(p, session)?;
    let hinted_user_is_signed_in = match (&hint, &current) {
        (Some(h), Some(s)) => h.sub == s.user_id,
        (Some(_), None) => true,
        (None, _) => false,
    };
    if current.is_none() || hinted_user_is_signed_in {
        let client_id = hint.map(|h| h.client_id).or(req.client_id.clone());
        return finish(
            p,
            current.map(|s| (s.id, s.user_id)),
            client_id.as_deref(),
            &req,
        );
    }
    let binding = session.unwrap_or(browser);
    let csrf = p.csrf.token(CSRF_LOGOUT, binding, "");
    Ok(LogoutOutcome::Confirm { csrf, request: req })
}

/// POST /logout/confirm: the user pressed "Sign out".
pub fn confirm(
    p: &Provider,
    req: LogoutRequest,
    session: Option<&Secret>,
    browser: Option<&Secret>,
    csrf: &str,
) -> Result<LogoutOutcome> {
    let Some(binding) = session.or(browser) else {
        return Ok(LogoutOutcome::Invalid(
            "This form has expired. Please try again.",
        ));
    };
    if !p.csrf.check(CSRF_LOGOUT, binding, "", csrf) {
        return Ok(LogoutOutcome::Invalid(
            "This form has expired. Please try again.",
        ));
    }
    let current = login::current_session(p, session)?;
    let client_id = req.client_id.clone();
    finish(
        p,
        current.map(|s| (s.id, s.user_id)),
        client_id.as_deref(),
        &req,
    )
}

fn finish(
    p: &Provider,
    session: Option<(String, String)>,
    client_id: Option<&str>,
    req: &LogoutRequest,
) -> Result<LogoutOutcome> {
    if let Some((id, user_id)) = session {
        p.store.delete_session(&id)?;
        tracing::info!(client_id, "login session ended by logout");
        let mut event = audit::event(Kind::Logout).subject(user_id);
        if let Some(client_id) = client_id {
            event = event.client(client_id);
        }
        event.record(p);
    }
    let client = match client_id {
        Some(id) => p
            .store
            .client(id)?
            .map(Client::from_record)
            .filter(|c| !c.disabled),
        None => None,
    };
    let target = req.post_logout_redirect_uri.as_deref().filter(|uri| {
        client
            .as_ref()
            .is_some_and(|c| c.post_logout_redirect_uris.iter().any(|r| r == uri))
    });
    let Some(target) = target else {
        return Ok(LogoutOutcome::SignedOut);
    };
    let mut url = target.to_owned();
    if let Some(state) = &req.state {
        let sep = if url.contains('?') { '&' } else { '?' };
        let encoded: String = form_urlencoded::byte_serialize(state.as_bytes()).collect();
        url.push_str(&format!("{sep}state={encoded}"));
    }
    Ok(LogoutOutcome::Redirect(url))
}
