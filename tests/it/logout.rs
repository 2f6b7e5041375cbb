//! RP-Initiated Logout 1.0 at /logout.

use serde_json::Value;

use crate::support::browser::{hidden, location};
use crate::support::{
    self, Browser, Callback, ClientSpec, PASSWORD, TestClient, TestServer, authorize_url,
};

const AFTER: &str = "https://app.example/signed-out";

/// A browser signed in to `client`, and the ID token it got.
fn signed_in(server: &TestServer, client: &TestClient) -> (Browser, String) {
    let (verifier, challenge) = support::pkce();
    let url = authorize_url(
        server,
        client,
        &[
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let browser = Browser::new();
    let cb = browser.authorize(&server.base, &url, "alice", PASSWORD);
    let body = support::exchange(server, client, cb.param("code").unwrap(), &verifier);
    (browser, body["id_token"].as_str().unwrap().to_owned())
}

fn setup() -> (TestServer, TestClient) {
    let server = TestServer::start();
    server.add_user("alice");
    let client = server.add_client(ClientSpec {
        first_party: true,
        post_logout: vec![AFTER.into()],
        ..Default::default()
    });
    (server, client)
}

fn is_signed_in(server: &TestServer, browser: &Browser, client: &TestClient) -> bool {
    let res = browser.get(&authorize_url(server, client, &[("prompt", "none")]));
    Callback::parse(&location(&res).unwrap())
        .param("code")
        .is_some()
}

fn logout_url(server: &TestServer, params: &[(&str, &str)]) -> String {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        ser.append_pair(k, v);
    }
    server.url(&format!("/logout?{}", ser.finish()))
}

crate::both! {
    fn id_token_hint_ends_the_session_and_redirects_with_state() {
    let (server, client) = setup();
    let (browser, id_token) = signed_in(&server, &client);
    assert!(is_signed_in(&server, &browser, &client));
    // An expired hint is fine: the ID token is long gone when users log out.
    server.clock.advance(3600);
    let url = logout_url(
        &server,
        &[
            ("id_token_hint", &id_token),
            ("post_logout_redirect_uri", AFTER),
            ("state", "s 1"),
        ],
    );
    let res = browser.get(&url);
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res).unwrap(), format!("{AFTER}?state=s+1"));
    assert!(!is_signed_in(&server, &browser, &client));
}
}

crate::both! {
    fn unregistered_post_logout_uri_is_not_followed() {
    let (server, client) = setup();
    let (browser, id_token) = signed_in(&server, &client);
    let url = logout_url(
        &server,
        &[
            ("id_token_hint", &id_token),
            ("post_logout_redirect_uri", "https://evil.example/"),
        ],
    );
    let res = browser.get(&url);
    assert_eq!(res.status(), 200);
    assert!(location(&res).is_none());
    assert!(res.text().unwrap().contains("signed out"));
    assert!(!is_signed_in(&server, &browser, &client));
}
}

crate::both! {
    fn without_a_hint_the_user_confirms() {
    let (server, client) = setup();
    let (browser, _) = signed_in(&server, &client);
    let url = logout_url(
        &server,
        &[
            ("client_id", &client.id),
            ("post_logout_redirect_uri", AFTER),
            ("state", "x"),
        ],
    );
    let res = browser.get(&url);
    assert_eq!(res.status(), 200);
    let html = res.text().unwrap();
    assert!(
        is_signed_in(&server, &browser, &client),
        "nothing happens before confirmation"
    );

    let forged = browser.post(
        &server.url("/logout/confirm"),
        &[("csrf", "forged"), ("client_id", &client.id)],
    );
    assert_eq!(forged.status(), 400);
    assert!(is_signed_in(&server, &browser, &client));

    let res = browser.post(
        &server.url("/logout/confirm"),
        &[
            ("csrf", &hidden(&html, "csrf")),
            ("client_id", &hidden(&html, "client_id")),
            (
                "post_logout_redirect_uri",
                &hidden(&html, "post_logout_redirect_uri"),
            ),
            ("state", &hidden(&html, "state")),
        ],
    );
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res).unwrap(), format!("{AFTER}?state=x"));
    assert!(!is_signed_in(&server, &browser, &client));
}
}

crate::both! {
    fn forged_or_mismatched_hints_are_refused() {
    let (server, client) = setup();
    let other = server.add_client(ClientSpec::default());
    let (browser, id_token) = signed_in(&server, &client);
    let (header, mut claims) = support::jwt_parts(&id_token);
    claims["sub"] = Value::from("someone-else");
    use base64::Engine;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let sig = id_token.rsplit('.').next().unwrap();
    let forged = format!("{}.{}.{}", b64(&header), b64(&claims), sig);
    let res = browser.get(&logout_url(&server, &[("id_token_hint", &forged)]));
    assert_eq!(res.status(), 400);
    let res = browser.get(&logout_url(
        &server,
        &[("id_token_hint", &id_token), ("client_id", &other.id)],
    ));
    assert_eq!(res.status(), 400);
    assert!(is_signed_in(&server, &browser, &client));
}
}

crate::both! {
    fn discovery_advertises_the_new_endpoints() {
    let (server, _) = setup();
    let doc: Value = support::http()
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(doc["end_session_endpoint"], server.url("/logout"));
    assert_eq!(doc["revocation_endpoint"], server.url("/revoke"));
    assert_eq!(doc["introspection_endpoint"], server.url("/introspect"));
    assert!(
        doc["revocation_endpoint_auth_methods_supported"]
            .as_array()
            .is_some()
    );
    let grants = doc["grant_types_supported"].as_array().unwrap();
    assert!(
        grants.contains(&Value::from("refresh_token"))
            && grants.contains(&Value::from("client_credentials"))
    );
}
}
