//! A small relying-party web app on top of portcullis.
//!
//! ```sh
//! cargo run                                   # portcullis on :8080
//! cargo run -q -- client add --name "Example RP" --first-party \
//!     --redirect-uri http://127.0.0.1:3000/callback \
//!     --post-logout-redirect-uri http://127.0.0.1:3000/
//! RP_CLIENT_ID=... RP_CLIENT_SECRET=... cargo run --example relying_party
//! ```
//!
//! `RP_ISSUER` (default `http://127.0.0.1:8080`) names the provider and
//! `RP_PORT` (default 3000) the port this app listens on; register the
//! redirect URI `http://127.0.0.1:RP_PORT/callback` to match.
//!
//! Then open http://127.0.0.1:3000/. Tokens stay on the server, in memory,
//! keyed by a random session cookie; the browser never sees them.

mod rp;

use std::collections::HashMap;
use std::sync::Mutex;

use actix_web::cookie::Cookie;
use actix_web::web::{self, Data, Query};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
use rp::{PendingLogin, RelyingParty, RpError, Tokens};

#[derive(Default)]
struct Session {
    pending: Option<PendingLogin>,
    tokens: Option<Tokens>,
}

struct AppState {
    rp: RelyingParty,
    base: String,
    issuer: String,
    sessions: Mutex<HashMap<String, Session>>,
}

type State = Data<AppState>;

fn session_id(req: &HttpRequest) -> Option<String> {
    req.cookie("rp_session").map(|c| c.value().to_owned())
}

fn page(body: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!doctype html><title>Example RP</title><main>{body}</main>"
        ))
}

fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", to))
        .finish()
}

async fn home(state: State, req: HttpRequest) -> HttpResponse {
    let sessions = state.sessions.lock().unwrap_or_else(|e| e.into_inner());
    match session_id(&req)
        .and_then(|id| sessions.get(&id))
        .and_then(|s| s.tokens.as_ref())
    {
        Some(t) => page(&format!(
            "<p>Signed in (sub {}).</p><p><a href=\"/api\">Call the API</a> · \
             <a href=\"/logout\">Log out</a></p>",
            t.subject
        )),
        None => page("<p><a href=\"/login\">Log in</a></p>"),
    }
}

async fn login(state: State) -> HttpResponse {
    let (url, pending) = state.rp.start_login();
    let id = format!("{:032x}", rand::random::<u128>());
    let mut sessions = state.sessions.lock().unwrap_or_else(|e| e.into_inner());
    sessions.insert(
        id.clone(),
        Session {
            pending: Some(pending),
            tokens: None,
        },
    );
    let mut res = redirect(&url);
    let cookie = Cookie::build("rp_session", id)
        .path("/")
        .http_only(true)
        .finish();
    let _ = res.add_cookie(&cookie);
    res
}

async fn callback(
    state: State,
    req: HttpRequest,
    query: Query<Vec<(String, String)>>,
) -> actix_web::Result<HttpResponse> {
    let Some(id) = session_id(&req) else {
        return Ok(redirect("/"));
    };
    let pending = {
        let mut sessions = state.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.get_mut(&id).and_then(|s| s.pending.take())
    };
    let Some(pending) = pending else {
        return Ok(redirect("/"));
    };
    let app = state.clone();
    let query = query.into_inner();
    let tokens = web::block(move || app.rp.finish_login(pending, &query)).await?;
    match tokens {
        Ok(tokens) => {
            let mut sessions = state.sessions.lock().unwrap_or_else(|e| e.into_inner());
            sessions.entry(id).or_default().tokens = Some(tokens);
            Ok(redirect("/"))
        }
        Err(e) => Ok(page(&format!("<p>Login failed: {e}</p>"))),
    }
}

/// Calls the provider's /userinfo as the protected resource; on an expired
/// access token `rp.call` refreshes and retries once.
async fn api(state: State, req: HttpRequest) -> actix_web::Result<HttpResponse> {
    let Some(id) = session_id(&req) else {
        return Ok(redirect("/"));
    };
    let tokens = {
        let mut sessions = state.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.get_mut(&id).and_then(|s| s.tokens.take())
    };
    let Some(mut tokens) = tokens else {
        return Ok(redirect("/"));
    };
    let app = state.clone();
    let (result, tokens) = web::block(move || {
        let url = format!("{}/userinfo", app.issuer);
        let result = app.rp.call(&mut tokens, &url);
        (result, tokens)
    })
    .await?;
    match result {
        Ok(json) => {
            let mut sessions = state.sessions.lock().unwrap_or_else(|e| e.into_inner());
            sessions.entry(id).or_default().tokens = Some(tokens);
            Ok(page(&format!(
                "<pre>{}</pre><p><a href=\"/\">Back</a></p>",
                escape(&json.to_string())
            )))
        }
        // The provider ended the session: forget the tokens, log out here.
        Err(RpError::LoggedOut) => Ok(page(
            "<p>Your session ended. <a href=\"/login\">Log in</a></p>",
        )),
        Err(e) => Ok(page(&format!(
            "<p>API call failed: {}</p>",
            escape(&e.to_string())
        ))),
    }
}

async fn logout(state: State, req: HttpRequest) -> HttpResponse {
    let tokens = session_id(&req).and_then(|id| {
        let mut sessions = state.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.remove(&id).and_then(|s| s.tokens)
    });
    match tokens.and_then(|t| state.rp.logout_url(&t, &format!("{}/", state.base))) {
        Some(url) => redirect(&url),
        None => redirect("/"),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn main() -> std::io::Result<()> {
    let issuer = std::env::var("RP_ISSUER").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let client_id = std::env::var("RP_CLIENT_ID").expect("set RP_CLIENT_ID");
    let secret = std::env::var("RP_CLIENT_SECRET").ok();
    let port: u16 = std::env::var("RP_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let base = format!("http://127.0.0.1:{port}");
    let redirect_uri = format!("{base}/callback");
    let rp = RelyingParty::discover(&issuer, &client_id, secret.as_deref(), &redirect_uri)
        .unwrap_or_else(|e| panic!("discovery at {issuer} failed: {e}"));
    let state = Data::new(AppState {
        rp,
        base: base.clone(),
        issuer,
        sessions: Mutex::new(HashMap::new()),
    });
    println!("example relying party on {base}/");
    actix_web::rt::System::new().block_on(async move {
        HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .route("/", web::get().to(home))
                .route("/login", web::get().to(login))
                .route("/callback", web::get().to(callback))
                .route("/api", web::get().to(api))
                .route("/logout", web::get().to(logout))
        })
        .bind(("127.0.0.1", port))?
        .run()
        .await
    })
}
