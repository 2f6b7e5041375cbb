//! The authorization endpoint's checks: which errors get a page, which
//! redirect, and what they carry.

use crate::support::browser::{hidden, location, unescape};
use crate::support::{
    self, Browser, Callback, ClientSpec, PASSWORD, TestServer, authorize_url, pkce,
};

fn assert_error_page(res: reqwest::blocking::Response) {
    assert_eq!(res.status(), 400);
    assert!(
        location(&res).is_none(),
        "an unverified redirect_uri must never be redirected to"
    );
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
}

fn raw_authorize(server: &TestServer, query: &str) -> reqwest::blocking::Response {
    support::http()
        .get(server.url(&format!("/authorize?{query}")))
        .send()
        .unwrap()
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

crate::both! {
    fn unregistered_redirect_uris_get_an_error_page() {
    let server = TestServer::start();
    let client = server.add_client(ClientSpec {
        redirect: "https://app.example/cb".into(),
        ..Default::default()
    });
    for bad in [
        "https://app.example/c",                   // prefix
        "https://app.example/cb/extra",            // extra path segment
        "https://app.example/cb?x=1",              // added query
        "https://app.example@attacker.example/cb", // userinfo trick
        "https://app.example/cb@attacker.example",
        "http://app.example/cb",  // other scheme
        "https://APP.example/cb", // other case
        "https://app.example/CB",
        "https://app.example/cb#frag",
    ] {
        let q = format!(
            "response_type=code&scope=openid&client_id={}&redirect_uri={}",
            client.id,
            enc(bad)
        );
        let res = raw_authorize(&server, &q);
        assert_error_page(res);
    }
}
}

crate::both! {
    fn unknown_client_and_missing_redirect_uri_get_an_error_page() {
    let server = TestServer::start();
    let client = server.confidential();
    assert_error_page(raw_authorize(
        &server,
        &format!(
            "response_type=code&client_id=nope&redirect_uri={}",
            enc(support::REDIRECT)
        ),
    ));
    assert_error_page(raw_authorize(
        &server,
        &format!("response_type=code&client_id={}", client.id),
    ));
    assert_error_page(raw_authorize(
        &server,
        &format!("response_type=code&redirect_uri={}", enc(support::REDIRECT)),
    ));
    // A repeated client_id or redirect_uri cannot be trusted either.
    let q = format!(
        "response_type=code&client_id={0}&client_id={0}&redirect_uri={1}",
        client.id,
        enc(support::REDIRECT)
    );
    assert_error_page(raw_authorize(&server, &q));
}
}

crate::both! {
    fn loopback_redirect_uri_port_may_vary() {
    let server = TestServer::start();
    let client = server.add_client(ClientSpec {
        redirect: "http://127.0.0.1/cb".into(),
        ..Default::default()
    });
    let ok = format!(
        "response_type=code&scope=openid&client_id={}&redirect_uri={}",
        client.id,
        enc("http://127.0.0.1:53817/cb")
    );
    let res = raw_authorize(&server, &ok);
    assert!(support::is_login_form(res), "port differs: accepted");
    let bad = format!(
        "response_type=code&scope=openid&client_id={}&redirect_uri={}",
        client.id,
        enc("http://127.0.0.1:53817/cb2")
    );
    assert_error_page(raw_authorize(&server, &bad));
    let bad = format!(
        "response_type=code&scope=openid&client_id={}&redirect_uri={}",
        client.id,
        enc("http://localhost:53817/cb")
    );
    assert_error_page(raw_authorize(&server, &bad));
}
}

/// An error after the redirect URI is verified: a redirect carrying error,
/// error_description, state and iss.
fn redirected_error(server: &TestServer, url: &str) -> Callback {
    let res = support::http().get(url).send().unwrap();
    assert_eq!(res.status(), 302);
    let cb = Callback::parse(&location(&res).expect("location"));
    assert!(cb.url.starts_with(support::REDIRECT));
    assert_eq!(cb.param("state"), Some("st-123"));
    assert_eq!(cb.param("iss"), Some(server.base.as_str()));
    assert!(cb.param("error_description").is_some());
    assert!(cb.param("code").is_none());
    cb
}

crate::both! {
    fn pkce_plain_and_malformed_challenges_are_refused() {
    let server = TestServer::start();
    let client = server.confidential();
    let (_, challenge) = pkce();
    for extra in [
        vec![
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "plain"),
        ],
        vec![("code_challenge", challenge.as_str())],
        vec![
            ("code_challenge", "short"),
            ("code_challenge_method", "S256"),
        ],
        vec![("code_challenge_method", "S256")],
    ] {
        let cb = redirected_error(&server, &authorize_url(&server, &client, &extra));
        assert_eq!(cb.param("error"), Some("invalid_request"), "{extra:?}");
    }
}
}

crate::both! {
    fn public_client_must_use_pkce() {
    let server = TestServer::start();
    let client = server.public();
    let cb = redirected_error(&server, &authorize_url(&server, &client, &[]));
    assert_eq!(cb.param("error"), Some("invalid_request"));
}
}

crate::both! {
    fn repeated_parameter_is_invalid_request() {
    let server = TestServer::start();
    let client = server.confidential();
    let url = authorize_url(&server, &client, &[("nonce", "a"), ("nonce", "b")]);
    assert_eq!(
        redirected_error(&server, &url).param("error"),
        Some("invalid_request")
    );
}
}

crate::both! {
    fn unsupported_response_type() {
    let server = TestServer::start();
    let client = server.confidential();
    let url =
        authorize_url(&server, &client, &[]).replace("response_type=code", "response_type=token");
    assert_eq!(
        redirected_error(&server, &url).param("error"),
        Some("unsupported_response_type")
    );
    let url = authorize_url(&server, &client, &[]).replace("response_type=code&", "");
    assert_eq!(
        redirected_error(&server, &url).param("error"),
        Some("invalid_request")
    );
}
}

crate::both! {
    fn scopes_are_limited_to_those_the_client_is_allowed() {
    let server = TestServer::start();
    server.add_user("alice");
    let client = server.add_client(ClientSpec {
        scopes: Some("openid profile".into()),
        ..Default::default()
    });
    let url = authorize_url(&server, &client, &[("scope", "admin")]);
    assert_eq!(
        redirected_error(&server, &url).param("error"),
        Some("invalid_scope")
    );

    let url = authorize_url(&server, &client, &[("scope", "openid email profile")]);
    let cb = Browser::new().authorize(&server.base, &url, "alice", PASSWORD);
    let code = cb.param("code").unwrap();
    let res = support::token_request(
        &server,
        Some((&client.id, client.secret.as_deref().unwrap())),
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &client.redirect),
        ],
    );
    let body: serde_json::Value = res.json().unwrap();
    assert_eq!(
        body["scope"], "openid profile",
        "email was not allowed, so not granted"
    );
}
}

crate::both! {
    fn request_objects_are_not_supported() {
    let server = TestServer::start();
    let client = server.confidential();
    let url = authorize_url(&server, &client, &[("request", "eyJ.x.y")]);
    assert_eq!(
        redirected_error(&server, &url).param("error"),
        Some("request_not_supported")
    );
}
}

crate::both! {
    fn post_to_authorize_is_accepted() {
    let server = TestServer::start();
    let client = server.confidential();
    let res = support::http()
        .post(server.url("/authorize"))
        .form(&[
            ("response_type", "code"),
            ("client_id", client.id.as_str()),
            ("redirect_uri", support::REDIRECT),
            ("scope", "openid"),
        ])
        .send()
        .unwrap();
    // Sent for the form (a GET, which carries the browser's cookie), not
    // given it in answer to the POST.
    assert_eq!(res.status(), 303);
    assert!(location(&res).unwrap().contains("/login?request="));
}
}

crate::both! {
    fn form_post_response_mode_escapes_values() {
    let server = TestServer::start();
    server.add_user("alice");
    let client = server.add_client(ClientSpec {
        first_party: true,
        ..Default::default()
    });
    let state = "\"><script>alert(1)</script>";
    let url = authorize_url(&server, &client, &[("response_mode", "form_post")])
        .replace("st-123", &enc(state));
    let browser = Browser::new();
    let res = browser.get(&url);
    // The login answers with the auto-submitting form itself, and starts
    // the session in the same response.
    let res = browser.fill_login(res, "alice", PASSWORD);
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("portcullis_session="))
    );
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
    let html = res.text().unwrap();
    assert!(html.contains(&format!("action=\"{}\"", support::REDIRECT)));
    assert!(!html.contains("<script>alert"), "state must be escaped");
    assert_eq!(hidden(&html, "state"), state);
    assert_eq!(hidden(&html, "iss"), server.base);
    assert!(!hidden(&html, "code").is_empty());
    assert!(html.contains("/static/form_post.js"));
}
}

crate::both! {
    fn html_in_client_name_is_escaped_on_login_and_consent_pages() {
    let server = TestServer::start();
    server.add_user("alice");
    let client = server.add_client(ClientSpec {
        name: "<img src=x onerror=alert(1)>".into(),
        ..Default::default()
    });
    let browser = Browser::new();
    let url = authorize_url(&server, &client, &[]);
    // The login form /authorize shows names the client too.
    let html = browser.get(&url).text().unwrap();
    assert!(!html.contains("<img src=x"));
    assert!(unescape(&html).contains("<img src=x onerror=alert(1)>"));
    let res = browser.get(&url);
    let res = browser.fill_login(res, "alice", PASSWORD);
    let consent = location(&res).unwrap();
    assert!(consent.contains("/consent?request="));
    let html = browser.get(&consent).text().unwrap();
    assert!(!html.contains("<img src=x"));
    assert!(
        unescape(&html).contains("<img src=x onerror=alert(1)>"),
        "shown as text"
    );
}
}

crate::both! {
    fn a_visit_that_never_logs_in_stores_nothing() {
    let server = TestServer::start();
    let client = server.confidential();
    let page = Browser::new().get(&authorize_url(
        &server,
        &client,
        &[("nonce", "nonce-not-for-the-page")],
    ));
    assert_eq!(page.status(), 200);
    let html = page.text().unwrap();
    // The request travels in the form, sealed: nothing in it is readable.
    let request = hidden(&html, "request");
    assert!(request.starts_with("sealed."), "{request}");
    assert!(!html.contains("nonce-not-for-the-page"));
    // And nothing was written: a sweep long after finds no request to end.
    let purged = server.sweep_after(2 * support::DAY);
    assert_eq!(purged.pending_requests, 0, "{purged:?}");
}
}

crate::both! {
    fn a_sealed_request_opens_only_unaltered_and_in_time() {
    let server = TestServer::start();
    let client = server.confidential();
    let browser = Browser::new();
    let html = browser.html(&authorize_url(&server, &client, &[]));
    let request = hidden(&html, "request");
    let resume = |r: &str| browser.get(&server.url(&format!("/authorize/continue?request={r}")));
    // As issued it names the request: with no session, the login form.
    assert!(support::is_login_form(resume(&request)));
    // One character changed: an error page, never a redirect.
    let mut altered = request.clone().into_bytes();
    let i = altered.len() - 5;
    altered[i] = if altered[i] == b'A' { b'B' } else { b'A' };
    assert_error_page(resume(std::str::from_utf8(&altered).unwrap()));
    // Past the request's lifetime, the same.
    let ttl = server.provider.config.session.pending_request_ttl_secs;
    server.clock.advance(ttl + 1);
    assert_error_page(resume(&request));
}
}

crate::both! {
    fn answers_from_memory_are_the_full_answers() {
    // Once the client is cached, /authorize answers a browser without a
    // session on the async executor, without the database: the answers
    // must be the ones the full path gives.
    let server = TestServer::start();
    let client = server.confidential();
    let browser = Browser::new();
    assert!(support::is_login_form(
        browser.get(&authorize_url(&server, &client, &[]))
    ));
    let id = enc(&client.id);
    let redirect = enc(support::REDIRECT);
    // Unverified redirect_uri or repeated client_id: a page, not a redirect.
    assert_error_page(raw_authorize(
        &server,
        &format!("response_type=code&client_id={id}&redirect_uri=http%3A%2F%2Fevil.example%2Fcb&scope=openid"),
    ));
    assert_error_page(raw_authorize(
        &server,
        &format!("response_type=code&client_id={id}&client_id={id}&redirect_uri={redirect}&scope=openid"),
    ));
    // Verified redirect_uri: errors go back to the client, with state and iss.
    for (params, error) in [
        ("response_type=code&scope=openid&prompt=none", "login_required"),
        ("response_type=token&scope=openid", "unsupported_response_type"),
        ("response_type=code&scope=unknown", "invalid_scope"),
    ] {
        let query = format!("client_id={id}&redirect_uri={redirect}&state=s1&{params}");
        let res = raw_authorize(&server, &query);
        assert_eq!(res.status(), 302, "{params}");
        let back = Callback::parse(&location(&res).unwrap());
        assert_eq!(back.param("error"), Some(error), "{params}");
        assert_eq!(back.param("state"), Some("s1"));
        assert!(back.param("iss").is_some());
    }
    // And a request that goes on still gets its form.
    assert!(support::is_login_form(
        browser.get(&authorize_url(&server, &client, &[]))
    ));
}
}

crate::both! {
    fn a_request_too_long_to_seal_is_stored() {
    // Sealed values may travel in URLs: a request near the parameter
    // limits is stored instead, and works the same.
    let server = TestServer::start();
    server.add_user("alice");
    let client = server.add_client(ClientSpec {
        first_party: true,
        ..Default::default()
    });
    let long = "n".repeat(2000);
    let url = authorize_url(&server, &client, &[("nonce", &long), ("login_hint", &long)]);
    let browser = Browser::new();
    let page = browser.get(&url);
    assert_eq!(page.status(), 200);
    let html = page.text().unwrap();
    let request = hidden(&html, "request");
    assert!(!request.starts_with("sealed.") && request.len() < 64, "{request}");
    let res = browser.post(
        &server.url("/login"),
        &[
            ("request", request.as_str()),
            ("csrf", &hidden(&html, "csrf")),
            ("username", "alice"),
            ("password", PASSWORD),
        ],
    );
    let back = Callback::parse(&location(&res).unwrap());
    assert!(back.param("code").is_some());
    assert_eq!(back.param("state"), Some("st-123"));
}
}
