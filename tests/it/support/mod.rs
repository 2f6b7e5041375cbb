//! Shared test harness: a real server on a free port with its own SQLite
//! database and an injected clock, a cookie-keeping browser that does not
//! follow redirects, and helpers to drive the login and consent pages.

#![allow(dead_code)]

pub mod browser;
pub mod db;
pub mod logs;
pub mod outage;
pub mod process;
pub mod webdriver;

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::mpsc;

use portcullis::clock::ManualClock;
use portcullis::config::Config;
use portcullis::secret::Secret;
use portcullis::server::{self, Signals};
use portcullis::service::Provider;
use portcullis::service::clients::{self, NewClient};
use portcullis::service::users::{self, NewUser};

pub use browser::{Browser, Callback};

pub const PASSWORD: &str = "correct horse battery";
pub const REDIRECT: &str = "http://127.0.0.1:9/callback";

pub struct TestServer {
    pub base: String,
    pub provider: Arc<Provider>,
    pub clock: ManualClock,
    handle: actix_web::dev::ServerHandle,
    _db: Option<db::TestDb>,
}

impl TestServer {
    pub fn start() -> Self {
        Self::start_with(|_| {})
    }

    pub fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        logs::init();
        let test_db = db::TestDb::new();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let mut config = Config::defaults().expect("defaults");
        config.issuer = format!("http://127.0.0.1:{port}");
        config.database.url = test_db.url.clone().into();
        config.server.workers = 1;
        tweak(&mut config);
        let clock = ManualClock::starting_now();
        let provider = server::provider(config, Arc::new(clock.clone())).expect("provider");
        let (tx, rx) = mpsc::channel();
        let app = provider.clone();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let srv = server::build(app, listener, Signals::Ignore).expect("server");
                let _ = tx.send(srv.handle());
                let _ = srv.await;
            })
        });
        let handle = rx.recv().expect("server handle");
        Self {
            base: format!("http://127.0.0.1:{port}"),
            provider,
            clock,
            handle,
            _db: Some(test_db),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Creates a user with [`PASSWORD`]; returns its `sub`.
    pub fn add_user(&self, username: &str) -> String {
        let new = NewUser {
            username: username.into(),
            password: Secret::new(PASSWORD),
            email: Some(format!("{username}@example.com")),
            name: Some(format!("{username} Example")),
            admin: false,
            created_by: None,
        };
        users::add(&self.provider.store, self.provider.clock.as_ref(), new)
            .expect("add user")
            .into_string()
    }

    pub fn add_client(&self, spec: ClientSpec) -> TestClient {
        let new = NewClient {
            id: spec.id.clone(),
            name: spec.name.clone(),
            redirect_uris: if spec.redirect.is_empty() {
                vec![]
            } else {
                vec![spec.redirect.clone()]
            },
            post_logout_redirect_uris: spec.post_logout.clone(),
            public: spec.public,
            first_party: spec.first_party,
            scopes: spec.scopes.clone(),
            secret: spec.secret.clone().map(Secret::new),
            grant_types: spec.grant_types.clone(),
            refresh_without_offline_access: spec.refresh_without_offline_access,
            lifetimes: Default::default(),
            created_by: None,
        };
        let (id, secret) =
            clients::register(&self.provider.store, self.clock_now(), new).expect("client");
        TestClient {
            id: id.into_string(),
            secret: secret.map(|s| s.expose().to_owned()),
            redirect: spec.redirect,
        }
    }

    pub fn confidential(&self) -> TestClient {
        self.add_client(ClientSpec::default())
    }

    /// A confidential client for the client_credentials grant only.
    pub fn machine(&self) -> TestClient {
        self.add_client(ClientSpec::machine())
    }

    /// POST /token with grant_type=client_credentials for `client`, by Basic.
    pub fn client_credentials(&self, client: &TestClient) -> reqwest::blocking::Response {
        let secret = client.secret.as_deref().unwrap_or_default();
        token_request(
            self,
            Some((&client.id, secret)),
            &[("grant_type", "client_credentials")],
        )
    }

    pub fn public(&self) -> TestClient {
        self.add_client(ClientSpec {
            public: true,
            ..ClientSpec::default()
        })
    }

    pub fn clock_now(&self) -> i64 {
        use portcullis::clock::Clock;
        self.clock.now()
    }

    /// Advances the clock by `secs`, then sweeps expired rows.
    pub fn sweep_after(&self, secs: i64) -> portcullis::storage::maintenance::Purged {
        self.clock.advance(secs);
        self.provider.store.purge_expired(self.clock_now()).unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // Sends the stop command now; nobody needs to wait for it.
        drop(self.handle.stop(false));
    }
}

#[derive(Debug, Clone)]
pub struct ClientSpec {
    pub id: Option<String>,
    pub name: String,
    pub redirect: String,
    pub public: bool,
    pub first_party: bool,
    pub scopes: Option<String>,
    pub secret: Option<String>,
    pub grant_types: Option<Vec<String>>,
    pub refresh_without_offline_access: bool,
    pub post_logout: Vec<String>,
}

impl ClientSpec {
    /// A client that acts for itself: no redirect URI, client_credentials only.
    pub fn machine() -> Self {
        Self {
            redirect: String::new(),
            grant_types: Some(vec!["client_credentials".into()]),
            ..Self::default()
        }
    }
}

impl Default for ClientSpec {
    fn default() -> Self {
        Self {
            id: None,
            name: "Test App".into(),
            redirect: REDIRECT.into(),
            public: false,
            first_party: false,
            scopes: None,
            secret: None,
            grant_types: None,
            refresh_without_offline_access: false,
            post_logout: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct TestClient {
    pub id: String,
    pub secret: Option<String>,
    pub redirect: String,
}

/// An HTTP client for API calls: no cookies, no redirects followed.
pub fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

/// A PKCE pair (verifier, S256 challenge).
pub fn pkce() -> (String, String) {
    let verifier = portcullis::crypto::random::token(32);
    let challenge = portcullis::crypto::random::sha256_b64url(verifier.as_bytes());
    (verifier, challenge)
}

/// `/authorize?...` for the client with these extra parameters.
pub fn authorize_url(server: &TestServer, client: &TestClient, extra: &[(&str, &str)]) -> String {
    authorize_url_at(&server.base, client, extra)
}

/// [`authorize_url`] for a server known only by its base URL.
pub fn authorize_url_at(base: &str, client: &TestClient, extra: &[(&str, &str)]) -> String {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    ser.append_pair("response_type", "code")
        .append_pair("client_id", &client.id)
        .append_pair("redirect_uri", &client.redirect)
        .append_pair("state", "st-123");
    if !extra.iter().any(|(k, _)| *k == "scope") {
        ser.append_pair("scope", "openid profile email");
    }
    for (k, v) in extra {
        ser.append_pair(k, v);
    }
    format!("{base}/authorize?{}", ser.finish())
}

/// Whether `res` is the login form for an authorization request (what
/// /authorize shows when the user must log in).
pub fn is_login_form(res: reqwest::blocking::Response) -> bool {
    res.status() == 200
        && res.text().is_ok_and(|html| {
            html.contains("action=\"/login\"") && html.contains("name=\"request\"")
        })
}

/// Runs login (and consent when asked) for `username`; returns the code,
/// the PKCE verifier and the browser (which now holds a session).
pub fn obtain_code(
    server: &TestServer,
    client: &TestClient,
    username: &str,
) -> (String, String, Browser) {
    let (verifier, challenge) = pkce();
    let url = authorize_url(
        server,
        client,
        &[
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("nonce", "n-1"),
        ],
    );
    let browser = Browser::new();
    let callback = browser.authorize(&server.base, &url, username, PASSWORD);
    (
        callback.param("code").expect("code").to_owned(),
        verifier,
        browser,
    )
}

/// POST /token with form parameters and optional Basic credentials.
pub fn token_request(
    server: &TestServer,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> reqwest::blocking::Response {
    let mut req = http().post(server.url("/token")).form(form);
    if let Some((id, secret)) = basic {
        req = req.header("Authorization", basic_header(id, secret));
    }
    req.send().expect("token request")
}

/// RFC 6749 2.3.1: each part form-urlencoded, then base64.
pub fn basic_header(id: &str, secret: &str) -> String {
    use base64::Engine;
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let raw = format!("{}:{}", enc(id), enc(secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// Exchanges a code for a confidential client with Basic auth.
pub fn exchange(
    server: &TestServer,
    client: &TestClient,
    code: &str,
    verifier: &str,
) -> serde_json::Value {
    let res = token_request(
        server,
        Some((&client.id, client.secret.as_deref().unwrap_or_default())),
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &client.redirect),
            ("code_verifier", verifier),
        ],
    );
    assert_eq!(res.status(), 200, "token exchange failed");
    res.json().expect("json")
}

/// A fresh access token for `username` through the whole browser flow.
pub fn access_token(server: &TestServer, client: &TestClient, username: &str) -> String {
    let (code, verifier, _) = obtain_code(server, client, username);
    exchange(server, client, &code, &verifier)["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

pub fn userinfo(server: &TestServer, token: &str) -> reqwest::blocking::Response {
    http()
        .get(server.url("/userinfo"))
        .bearer_auth(token)
        .send()
        .expect("userinfo")
}

/// The JSON claims of a JWT, without verifying it (tests verify separately).
pub fn jwt_parts(jwt: &str) -> (serde_json::Value, serde_json::Value) {
    use base64::Engine;
    let dec = |s: &str| {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .expect("b64");
        serde_json::from_slice::<serde_json::Value>(&bytes).expect("json")
    };
    let mut it = jwt.split('.');
    let header = dec(it.next().expect("header"));
    let claims = dec(it.next().expect("claims"));
    (header, claims)
}

/// An authorization with offline_access for a first-party client (no
/// consent page); returns the token response.
pub fn tokens_with_refresh(
    server: &TestServer,
    client: &TestClient,
    username: &str,
) -> serde_json::Value {
    let (verifier, challenge) = pkce();
    let url = authorize_url(
        server,
        client,
        &[
            ("scope", "openid profile offline_access"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("nonce", "n-1"),
        ],
    );
    let cb = Browser::new().authorize(&server.base, &url, username, PASSWORD);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", cb.param("code").expect("code")),
        ("redirect_uri", client.redirect.as_str()),
        ("code_verifier", verifier.as_str()),
        ("client_id", client.id.as_str()),
    ];
    let res = match &client.secret {
        Some(secret) => token_request(server, Some((&client.id, secret)), &form[..4]),
        None => token_request(server, None, &form),
    };
    assert_eq!(res.status(), 200);
    res.json().expect("json")
}

/// grant_type=refresh_token for the client (Basic for confidential clients,
/// client_id in the body for public ones).
pub fn refresh(
    server: &TestServer,
    client: &TestClient,
    refresh_token: &str,
    extra: &[(&str, &str)],
) -> reqwest::blocking::Response {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    form.extend_from_slice(extra);
    match &client.secret {
        Some(secret) => token_request(server, Some((&client.id, secret)), &form),
        None => {
            form.push(("client_id", &client.id));
            token_request(server, None, &form)
        }
    }
}

/// POST to /introspect or /revoke with Basic credentials.
pub fn client_post(
    server: &TestServer,
    path: &str,
    client: &TestClient,
    form: &[(&str, &str)],
) -> reqwest::blocking::Response {
    let mut req = http().post(server.url(path)).form(form);
    match &client.secret {
        Some(secret) => req = req.header("Authorization", basic_header(&client.id, secret)),
        None => {
            let mut with_id = form.to_vec();
            with_id.push(("client_id", &client.id));
            req = http().post(server.url(path)).form(&with_id);
        }
    }
    req.send().expect("request")
}

pub fn introspect(server: &TestServer, rs: &TestClient, token: &str) -> serde_json::Value {
    let res = client_post(server, "/introspect", rs, &[("token", token)]);
    assert_eq!(res.status(), 200);
    res.json().expect("json")
}

pub const DAY: i64 = 24 * 3600;
