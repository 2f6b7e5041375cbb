//! The authorization endpoint (RFC 6749 4.1.1-4.1.2, RFC 7636, RFC 9207,
//! OpenID Connect Core 3.1.2): validate the request, then decide whether the
//! user must log in, must consent, or gets a code.

mod request;

use super::clients::{Client, GRANT_AUTHORIZATION_CODE};
use super::params::Params;
use super::scope::{self, Scope};
use super::{ErrorCode, OAuthError, Provider, Result, login};
use crate::crypto::{random, seal};
use crate::ids::RequestId;
use crate::secret::Secret;
use crate::storage::grants::{CodeRecord, GrantRecord};
use crate::storage::pending::PendingRecord;
use crate::storage::sessions::{SessionRecord, SessionStart};
use request::{Prompt, prompt_flags, validate, verify_client};

/// Longest value we keep for free-form parameters (state, nonce, hints).
const MAX_PARAM_LEN: usize = 2048;

/// Errors that must not redirect: the client or its redirect URI is not
/// verified, so the browser gets an error page instead (RFC 6749 4.1.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageError {
    MissingClientId,
    UnknownClient,
    MissingRedirectUri,
    UnregisteredRedirectUri,
    RepeatedParameter,
    RequestExpired,
}

impl PageError {
    pub fn message(self) -> &'static str {
        match self {
            Self::MissingClientId => "The request does not say which application is asking.",
            Self::UnknownClient => "The application that sent you here is not registered.",
            Self::MissingRedirectUri => "The request has no redirect_uri.",
            Self::UnregisteredRedirectUri => {
                "The redirect_uri is not registered for this application, so you are not \
                 sent back to it."
            }
            Self::RepeatedParameter => "client_id or redirect_uri appears more than once.",
            Self::RequestExpired => {
                "This sign-in request has expired or was already used. Go back to the \
                 application and start again."
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    Query,
    FormPost,
}

impl ResponseMode {
    fn as_str(self) -> &'static str {
        match self {
            Self::Query => "query",
            Self::FormPost => "form_post",
        }
    }

    fn parse(s: &str) -> Self {
        if s == "form_post" {
            Self::FormPost
        } else {
            Self::Query
        }
    }
}

/// An authorization response for the client: success or error, delivered to
/// a verified redirect URI.
#[derive(Debug)]
pub struct ClientResponse {
    pub redirect_uri: String,
    pub mode: ResponseMode,
    pub params: Vec<(&'static str, String)>,
}

impl ClientResponse {
    /// The redirect URI with the parameters appended to its query.
    pub fn location(&self) -> String {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.params {
            ser.append_pair(k, v);
        }
        let sep = if self.redirect_uri.contains('?') {
            '&'
        } else {
            '?'
        };
        format!("{}{sep}{}", self.redirect_uri, ser.finish())
    }
}

#[derive(Debug)]
pub enum Outcome {
    Page(PageError),
    /// The login page for this request, reached by redirect.
    Login(RequestId),
    /// The login page for this request, shown in this very response: what
    /// it names is at hand, so the browser need not be sent for it.
    LoginForm(LoginPrompt),
    Consent(RequestId),
    Respond(ClientResponse),
}

/// What the login page shows for a pending request.
#[derive(Debug)]
pub struct LoginPrompt {
    /// How the form names the request: a stored one's id, or the request
    /// itself, sealed (see [`find`]).
    pub request: RequestId,
    pub client_name: String,
    pub login_hint: Option<String>,
}

/// Where and how errors and results go once the redirect URI is verified.
struct Target {
    redirect_uri: String,
    mode: ResponseMode,
    state: Option<String>,
}

impl Target {
    fn from_pending(p: &PendingRecord) -> Self {
        Self {
            redirect_uri: p.redirect_uri.clone(),
            mode: ResponseMode::parse(&p.response_mode),
            state: p.state.clone(),
        }
    }

    fn respond(&self, p: &Provider, mut params: Vec<(&'static str, String)>) -> Outcome {
        if let Some(state) = &self.state {
            params.push(("state", state.clone()));
        }
        // RFC 9207: the issuer identifies who answered, against mix-up attacks.
        params.push(("iss", p.config.issuer.clone()));
        Outcome::Respond(ClientResponse {
            redirect_uri: self.redirect_uri.clone(),
            mode: self.mode,
            params,
        })
    }

    fn error(&self, p: &Provider, e: OAuthError) -> Outcome {
        tracing::debug!(
            error = e.code.as_str(),
            "authorization request answered with error"
        );
        self.respond(
            p,
            vec![
                ("error", e.code.as_str().to_owned()),
                ("error_description", e.description.into_owned()),
            ],
        )
    }
}

/// Entry point for GET and POST /authorize.
///
/// A validated request is written to the database only once a later step
/// must find it there: the consent page, or the login page after a POST
/// (reached by a redirect whose URL names it). The login form shown in
/// answer to a GET carries the request itself, sealed (see [`find`]), so a
/// visit that never logs in writes nothing, and a login needs no row
/// written, marked and deleted again.
pub fn start(
    p: &Provider,
    params: &Params,
    session: Option<&Secret>,
    posted: bool,
) -> Result<Outcome> {
    let (client, redirect_uri) = match verify_client(params, |id| live_client(p, id))? {
        Ok(found) => found,
        Err(page) => return Ok(Outcome::Page(page)),
    };
    start_with(p, client, redirect_uri, params, session, posted)
}

/// [`start`] for a browser without a session (a GET), when it can be
/// answered from memory: the client is in the cache, and such a request
/// needs no other read and no write. The caller then need not leave the
/// async executor. `None` when only the database can answer.
pub fn start_from_memory(p: &Provider, params: &Params) -> Option<Outcome> {
    let mut in_memory = true;
    let verified = verify_client(params, |id| {
        let cached = p.store.client_if_cached(id);
        in_memory = cached.is_some();
        Ok(cached
            .map(|record| Client::from_record((*record).clone()))
            .filter(|c| !c.disabled))
    });
    let (client, redirect_uri) = match verified {
        // An unknown or disabled client is left to the full path, so its
        // answer comes from the database.
        Ok(Ok(found)) if in_memory => found,
        Ok(Err(page)) if in_memory && !matches!(page, PageError::UnknownClient) => {
            return Some(Outcome::Page(page));
        }
        _ => return None,
    };
    start_with(p, client, redirect_uri, params, None, false).ok()
}

fn start_with(
    p: &Provider,
    client: Client,
    redirect_uri: String,
    params: &Params,
    session: Option<&Secret>,
    posted: bool,
) -> Result<Outcome> {
    let target = Target {
        redirect_uri,
        mode: params
            .get("response_mode")
            .map_or(ResponseMode::Query, ResponseMode::parse),
        // An oversized state is refused below and not echoed back.
        state: params
            .get("state")
            .filter(|s| s.len() <= MAX_PARAM_LEN)
            .map(str::to_owned),
    };
    let pending = match validate(p, &client, params, &target) {
        Ok(pending) => pending,
        Err(e) => return Ok(target.error(p, e)),
    };
    let request = Request {
        record: pending,
        stored: posted,
    };
    if request.stored {
        p.store.insert_pending(&request.record)?;
    }
    let session = login::current_session(p, session)?;
    decide(p, &client, &request, session, false, &mut None)
}

/// Authenticated with every sealed request, so a value sealed for another
/// purpose never opens as one.
const SEALED_REQUEST: &str = "authorization request";

/// The authorization request a form field or URL names: the id of a
/// stored one, or a sealed one (one that names an expired or unknown
/// request, or that does not open, finds nothing).
///
/// A sealed request can be presented more than once while it is valid,
/// where a stored one is used up by its code. Presenting it again is no
/// more than the browser could do by repeating its visit to /authorize:
/// each time the user logs in anew or a live session answers.
pub fn find(p: &Provider, request: &str) -> Result<Option<PendingRecord>> {
    if !seal::is_sealed(request) {
        return Ok(p.store.pending(request, p.now())?);
    }
    let record = p
        .request_seal
        .open(SEALED_REQUEST, request)
        .and_then(|json| serde_json::from_slice::<PendingRecord>(&json).ok())
        .filter(|r| r.expires_at > p.now());
    Ok(record)
}

/// Whether a request named by a form or URL is stored (see [`find`]).
pub fn is_stored(request: &str) -> bool {
    !seal::is_sealed(request)
}

/// A validated request, and whether it is in the database.
struct Request {
    record: PendingRecord,
    stored: bool,
}

impl Request {
    /// How forms and URLs name it: see [`reference`].
    fn reference(&self, p: &Provider) -> Result<RequestId> {
        if self.stored {
            return Ok(RequestId::new(self.record.id.clone()));
        }
        reference(p, &self.record)
    }
}

/// Longest request (as JSON) that is sealed rather than stored: a sealed
/// value may end up in a URL, and proxies commonly refuse headers and URLs
/// of more than a few kilobytes. Ordinary requests are a few hundred bytes.
const MAX_SEALED_JSON: usize = 3 * 1024;

/// Longest query string [`start_from_memory`] takes: its request is then
/// sure to be sealed, never stored (JSON at most doubles what the query
/// carries: `%01` becomes `\u0001`), and nothing is written from the
/// async executor.
pub const MAX_QUERY_FROM_MEMORY: usize = 1024;

/// How forms and URLs name a request that is not stored: sealed, or, when
/// too long for that, stored under an id of its own.
fn reference(p: &Provider, record: &PendingRecord) -> Result<RequestId> {
    let json = match serde_json::to_vec(record) {
        Ok(json) => json,
        // Plain strings and numbers always serialize.
        Err(_) => unreachable!("a pending request serializes"),
    };
    if json.len() <= MAX_SEALED_JSON {
        return Ok(RequestId::new(p.request_seal.seal(SEALED_REQUEST, &json)));
    }
    store_copy(p, record.clone())
}

/// Stores a request that was not stored, under an id of its own: the
/// sealed value it came from may come back (a form sent twice) and be
/// stored again.
fn store_copy(p: &Provider, mut record: PendingRecord) -> Result<RequestId> {
    record.id = random::id();
    p.store.insert_pending(&record)?;
    Ok(RequestId::new(record.id))
}

/// Where /authorize/continue picks up a request after a login whose
/// request could not be taken further at once: a stored request by its id
/// (the row records the login). Any other is stored now, with the login
/// noted, so a request demanding a fresh login does not ask for another,
/// and the code it leads to uses it up (a sealed value noting the login
/// could be replayed until it expires). If that write fails too, the
/// sealed request as it came: the user is then asked to log in again if
/// the request demands a fresh login.
pub fn reference_after_login(
    p: &Provider,
    request: &str,
    mut pending: PendingRecord,
    session_id: &str,
) -> String {
    if is_stored(request) {
        return request.to_owned();
    }
    pending.authenticated_session_id = Some(session_id.to_owned());
    match store_copy(p, pending) {
        Ok(id) => id.into_string(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot store the request to continue after login");
            request.to_owned()
        }
    }
}

/// Why a stored request can no longer go on, if it cannot: its client is
/// gone or disabled, or changed so that the request is no longer one it
/// may make (see [`no_longer_allowed`]). For the consent page, before the
/// user's decision is recorded or answered.
pub fn no_longer_valid(p: &Provider, pending: &PendingRecord) -> Result<Option<PageError>> {
    Ok(client_for(p, pending)?.err())
}

/// The client of a request validated earlier, if the request may still go
/// on: the error page otherwise (see [`no_longer_valid`]).
fn client_for(
    p: &Provider,
    pending: &PendingRecord,
) -> Result<std::result::Result<Client, PageError>> {
    let Some(client) = live_client(p, &pending.client_id)? else {
        return Ok(Err(PageError::UnknownClient));
    };
    Ok(match no_longer_allowed(&client, pending) {
        Some(page) => Err(page),
        None => Ok(client),
    })
}

/// Whether a request validated earlier (stored, or sealed: a sealed one can
/// come back until it expires) is still one the client may make, after an
/// administrator changed the client meanwhile. An error page when not: a
/// redirect URI no longer registered must not be redirected to, and the
/// rest asks the application to start again.
fn no_longer_allowed(client: &Client, pending: &PendingRecord) -> Option<PageError> {
    if client
        .matching_redirect_uri(&pending.redirect_uri)
        .is_none()
    {
        return Some(PageError::UnregisteredRedirectUri);
    }
    let allowed = client.allows_grant(GRANT_AUTHORIZATION_CODE)
        && (pending.code_challenge.is_some() || !client.is_public())
        && Scope::parse(&pending.scope).is_subset(&client.allowed_scopes);
    (!allowed).then_some(PageError::RequestExpired)
}

/// Continues a request from /authorize/continue.
pub fn resume(p: &Provider, request: &str, session: Option<&Secret>) -> Result<Outcome> {
    resume_with(p, request, session, false)
}

/// Continues the request a login was made for, with the session it has
/// just started: neither is read back from the database. When that ends
/// in a code, the login is written in the code's transaction, and
/// `unwritten` is left empty; otherwise the caller still has it to write.
pub fn after_login(
    p: &Provider,
    mut pending: PendingRecord,
    stored: bool,
    unwritten: &mut Option<SessionStart>,
) -> Result<Outcome> {
    let Some(session) = unwritten.as_ref().map(|l| l.session.clone()) else {
        return Err(super::Error::TaskFailed);
    };
    let client = match client_for(p, &pending)? {
        Ok(client) => client,
        Err(page) => return Ok(Outcome::Page(page)),
    };
    // The login satisfies prompt=login and max_age for this request (for
    // a stored request the row says the same since the login).
    pending.authenticated_session_id = Some(session.id.clone());
    let request = Request {
        record: pending,
        stored,
    };
    decide(p, &client, &request, Some(session), false, unwritten)
}

/// After the user approved the consent page for this very request.
pub(super) fn resume_after_consent(
    p: &Provider,
    request: &str,
    session: &Secret,
) -> Result<Outcome> {
    resume_with(p, request, Some(session), true)
}

fn resume_with(
    p: &Provider,
    request: &str,
    session: Option<&Secret>,
    consented: bool,
) -> Result<Outcome> {
    // Consent is only ever asked for a stored request.
    let found = if consented {
        p.store.pending(request, p.now())?
    } else {
        find(p, request)?
    };
    let Some(pending) = found else {
        return Ok(Outcome::Page(PageError::RequestExpired));
    };
    let client = match client_for(p, &pending)? {
        Ok(client) => client,
        Err(page) => return Ok(Outcome::Page(page)),
    };
    let request = Request {
        record: pending,
        stored: consented || is_stored(request),
    };
    let session = login::current_session(p, session)?;
    decide(p, &client, &request, session, consented, &mut None)
}

/// Ends a pending request with access_denied (the user said no).
pub(super) fn deny(p: &Provider, pending: &PendingRecord) -> Result<Outcome> {
    if !p.store.take_pending(&pending.id)? {
        return Ok(Outcome::Page(PageError::RequestExpired));
    }
    let e = OAuthError::new(ErrorCode::AccessDenied, "the user denied the request");
    Ok(Target::from_pending(pending).error(p, e))
}

/// The client as of at most a second ago (see `Store::client_cached`).
fn live_client(p: &Provider, id: &str) -> Result<Option<Client>> {
    Ok(p.store
        .client_cached(id)?
        .map(|record| Client::from_record((*record).clone()))
        .filter(|c| !c.disabled))
}

/// Decides the next step for a validated request, given the browser's
/// live session if any. `consented` is true right after the user approved
/// this request on the consent page. `unwritten` is a login not yet
/// written, for the code's transaction (see [`after_login`]).
fn decide(
    p: &Provider,
    client: &Client,
    request: &Request,
    session: Option<SessionRecord>,
    consented: bool,
    unwritten: &mut Option<SessionStart>,
) -> Result<Outcome> {
    let pending = &request.record;
    let target = Target::from_pending(pending);
    let prompt = prompt_flags(pending.prompt.as_deref()).unwrap_or_default();
    let login = || {
        Ok(Outcome::LoginForm(LoginPrompt {
            request: request.reference(p)?,
            client_name: client.name.clone(),
            login_hint: pending.login_hint.clone(),
        }))
    };
    let session = match session {
        Some(s) => match login_needed(p, pending, prompt, &s)? {
            None => s,
            Some(code) if prompt.none => return finish_with_error(p, request, &target, code),
            Some(_) => return login(),
        },
        None if prompt.none => {
            return finish_with_error(p, request, &target, ErrorCode::LoginRequired);
        }
        None => return login(),
    };
    if !consented && consent_needed(p, client, pending, prompt, &session)? {
        if prompt.none {
            return finish_with_error(p, request, &target, ErrorCode::ConsentRequired);
        }
        // The consent page finds its request in the database.
        let id = if request.stored {
            RequestId::new(pending.id.clone())
        } else {
            store_copy(p, pending.clone())?
        };
        return Ok(Outcome::Consent(id));
    }
    issue_code(p, request, &session, &target, unwritten)
}

/// Why the existing session is not enough, if it is not: the error code
/// prompt=none would answer with.
fn login_needed(
    p: &Provider,
    pending: &PendingRecord,
    prompt: Prompt,
    session: &SessionRecord,
) -> Result<Option<ErrorCode>> {
    // A login that happened during this request satisfies prompt=login,
    // max_age and a mismatched hint; without this the user would be sent
    // back to the login page after taking time on the consent page.
    let fresh = pending.authenticated_session_id.as_deref() == Some(session.id.as_str());
    if fresh {
        return Ok(None);
    }
    if prompt.login {
        return Ok(Some(ErrorCode::LoginRequired));
    }
    if pending
        .max_age
        .is_some_and(|max| p.now() - session.auth_time > max)
    {
        return Ok(Some(ErrorCode::LoginRequired));
    }
    if let Some(hint) = &pending.login_hint {
        let user = p.store.user_by_id(&session.user_id)?;
        if user.is_none_or(|u| &u.username != hint) {
            // Another account is signed in: choosing is an interaction.
            return Ok(Some(ErrorCode::InteractionRequired));
        }
    }
    Ok(None)
}

fn consent_needed(
    p: &Provider,
    client: &Client,
    pending: &PendingRecord,
    prompt: Prompt,
    session: &SessionRecord,
) -> Result<bool> {
    // prompt=consent asks even when consent is on record or the client is
    // first-party; the approval itself arrives as `consented` in `proceed`.
    if prompt.consent {
        return Ok(true);
    }
    if client.first_party {
        return Ok(false);
    }
    let consent = p.store.consent(&session.user_id, client.id.as_str())?;
    let requested = Scope::parse(&pending.scope);
    Ok(consent.is_none_or(|c| !requested.is_subset(&Scope::parse(&c.scope))))
}

fn finish_with_error(
    p: &Provider,
    request: &Request,
    target: &Target,
    code: ErrorCode,
) -> Result<Outcome> {
    if request.stored && !p.store.take_pending(&request.record.id)? {
        return Ok(Outcome::Page(PageError::RequestExpired));
    }
    let description = match code {
        ErrorCode::LoginRequired => "the user must log in",
        ErrorCode::ConsentRequired => "the user must consent",
        _ => "the user must interact with the login page",
    };
    Ok(target.error(p, OAuthError::new(code, description)))
}

/// Creates the grant and its single-use code, and answers the client.
fn issue_code(
    p: &Provider,
    request: &Request,
    session: &SessionRecord,
    target: &Target,
    unwritten: &mut Option<SessionStart>,
) -> Result<Outcome> {
    let pending = &request.record;
    let now = p.now();
    let code = Secret::new(random::prefixed_secret("pcc_"));
    let grant = GrantRecord {
        id: random::ordered_id(),
        client_id: pending.client_id.clone(),
        user_id: Some(session.user_id.clone()),
        session_id: Some(session.id.clone()),
        scope: pending.scope.clone(),
        auth_time: Some(session.auth_time),
        created_at: now,
        expires_at: None,
        revoked_at: None,
    };
    let record = CodeRecord {
        code_hash: random::sha256_hex(code.expose()),
        grant_id: grant.id.clone(),
        redirect_uri: pending.redirect_uri.clone(),
        nonce: pending.nonce.clone(),
        code_challenge: pending.code_challenge.clone(),
        expires_at: now + p.config.tokens.authorization_code_ttl_secs,
        used_at: None,
    };
    // A stored request is removed in the same transaction: a double submit
    // gets one code, the other caller finds the request gone.
    let stored = request.stored.then_some(pending.id.as_str());
    if !p
        .store
        .issue_code(stored, &grant, &record, unwritten.as_ref())?
    {
        return Ok(Outcome::Page(PageError::RequestExpired));
    }
    *unwritten = None;
    tracing::info!(client_id = %grant.client_id, user_id = %session.user_id, "authorization code issued");
    Ok(target.respond(p, vec![("code", code.expose().to_owned())]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_appends_to_existing_query() {
        let r = ClientResponse {
            redirect_uri: "https://a.example/cb?x=1".into(),
            mode: ResponseMode::Query,
            params: vec![("state", "a b&c".into())],
        };
        assert_eq!(r.location(), "https://a.example/cb?x=1&state=a+b%26c");
    }
}
