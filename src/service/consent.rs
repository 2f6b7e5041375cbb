//! The consent step: show what the client asks for, remember the decision per
//! user, client and scopes.

use super::audit::{self, Kind};
use super::authorize::{self, Outcome, PageError};
use super::scope::Scope;
use super::{Provider, Result, login};
use crate::ids::RequestId;
use crate::secret::Secret;

pub const CSRF_CONSENT: &str = "consent";

#[derive(Debug)]
pub struct ConsentView {
    pub request: String,
    pub client_name: String,
    /// Who is signed in, so the user can tell and switch accounts.
    pub username: String,
    pub scopes: Vec<String>,
    pub csrf: String,
}

#[derive(Debug)]
pub enum ConsentPage {
    Show(ConsentView),
    Login(RequestId),
    Page(PageError),
}

/// What the consent page shows; the CSRF token is bound to the login
/// session's cookie secret and to this request.
pub fn page(p: &Provider, request: &str, cookie: Option<&Secret>) -> Result<ConsentPage> {
    let Some(pending) = p.store.pending(request, p.now())? else {
        return Ok(ConsentPage::Page(PageError::RequestExpired));
    };
    let (Some(cookie), Some(session)) = (cookie, login::current_session(p, cookie)?) else {
        return Ok(ConsentPage::Login(RequestId::new(pending.id)));
    };
    let username = p
        .store
        .user_by_id(&session.user_id)?
        .map(|u| u.username)
        .unwrap_or_default();
    if let Some(page) = authorize::no_longer_valid(p, &pending)? {
        return Ok(ConsentPage::Page(page));
    }
    let Some(client) = p.store.client(&pending.client_id)? else {
        return Ok(ConsentPage::Page(PageError::UnknownClient));
    };
    Ok(ConsentPage::Show(ConsentView {
        csrf: p.csrf.token(CSRF_CONSENT, cookie, &pending.id),
        request: pending.id,
        client_name: client.name,
        username,
        scopes: Scope::parse(&pending.scope).descriptions(),
    }))
}

#[derive(Debug)]
pub enum Decision {
    Approve,
    Deny,
}

#[derive(Debug)]
pub enum DecideOutcome {
    Done(Outcome),
    BadCsrf,
}

pub fn decide(
    p: &Provider,
    request: &str,
    cookie: Option<&Secret>,
    csrf: &str,
    decision: Decision,
) -> Result<DecideOutcome> {
    let Some(pending) = p.store.pending(request, p.now())? else {
        return Ok(DecideOutcome::Done(Outcome::Page(
            PageError::RequestExpired,
        )));
    };
    let Some(cookie) = cookie else {
        return Ok(DecideOutcome::BadCsrf);
    };
    if !p.csrf.check(CSRF_CONSENT, cookie, &pending.id, csrf) {
        return Ok(DecideOutcome::BadCsrf);
    }
    let Some(session) = login::current_session(p, Some(cookie))? else {
        return Ok(DecideOutcome::Done(Outcome::Login(RequestId::new(
            pending.id,
        ))));
    };
    // Neither answered nor recorded for a client that has since been
    // disabled or changed: a denial would go to its redirect URI.
    if let Some(page) = authorize::no_longer_valid(p, &pending)? {
        return Ok(DecideOutcome::Done(Outcome::Page(page)));
    }
    match decision {
        Decision::Deny => {
            tracing::info!(client_id = %pending.client_id, user_id = %session.user_id, "consent denied");
            audit::event(Kind::ConsentDenied)
                .subject(session.user_id.clone())
                .client(pending.client_id.clone())
                .record(p);
            Ok(DecideOutcome::Done(authorize::deny(p, &pending)?))
        }
        Decision::Approve => {
            // Added to what was consented before, never replacing it.
            let requested = Scope::parse(&pending.scope);
            let scope = p.store.save_consent(
                &session.user_id,
                &pending.client_id,
                p.now(),
                |previous| match previous {
                    Some(previous) => requested.union(&Scope::parse(previous)).to_string(),
                    None => requested.to_string(),
                },
            )?;
            tracing::info!(client_id = %pending.client_id, user_id = %session.user_id, "consent given");
            audit::event(Kind::ConsentGiven)
                .subject(session.user_id.clone())
                .client(pending.client_id.clone())
                .detail(scope)
                .record(p);
            Ok(DecideOutcome::Done(authorize::resume_after_consent(
                p,
                &pending.id,
                cookie,
            )?))
        }
    }
}
