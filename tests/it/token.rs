//! The token endpoint's authorization_code grant: client authentication,
//! code binding, PKCE, and RFC 6749 5.2 errors.

use serde_json::Value;

use crate::support::{self, ClientSpec, TestServer, basic_header, obtain_code, token_request};

fn assert_error(res: reqwest::blocking::Response, status: u16, error: &str) -> Value {
    assert_eq!(res.status(), status, "status for {error}");
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().unwrap();
    assert_eq!(body["error"], error, "{body}");
    assert!(
        body["error_description"].is_string(),
        "error_description, not description"
    );
    assert!(body.get("description").is_none());
    body
}

fn code_form<'a>(
    code: &'a str,
    redirect: &'a str,
    verifier: &'a str,
) -> Vec<(&'static str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect),
        ("code_verifier", verifier),
    ]
}

crate::both! {
    fn success_response_shape_and_headers() {
    let server = TestServer::start();
    server.add_user("alice");
    let client = server.confidential();
    let (code, verifier, _) = obtain_code(&server, &client, "alice");
    let res = token_request(
        &server,
        Some((&client.id, client.secret.as_deref().unwrap())),
        &code_form(&code, &client.redirect, &verifier),
    );
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(res.headers()["pragma"], "no-cache");
    let body: Value = res.json().unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 300);
    assert_eq!(body["scope"], "email openid profile");
    assert!(body["id_token"].is_string());
    assert!(body.get("refresh_token").is_none());
}
}

crate::both! {
    fn missing_and_wrong_pkce_verifier() {
    let server = TestServer::start();
    server.add_user("alice");
    let client = server.confidential();
    let creds = (client.id.as_str(), client.secret.as_deref().unwrap());
    let (code, verifier, _) = obtain_code(&server, &client, "alice");
    let res = token_request(
        &server,
        Some(creds),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &client.redirect),
        ],
    );
    assert_error(res, 400, "invalid_grant");
    let wrong = "x".repeat(43);
    assert_error(
        token_request(
            &server,
            Some(creds),
            &code_form(&code, &client.redirect, &wrong),
        ),
        400,
        "invalid_grant",
    );
    // Failed attempts did not burn the code: the real verifier still works.
    let res = token_request(
        &server,
        Some(creds),
        &code_form(&code, &client.redirect, &verifier),
    );
    assert_eq!(res.status(), 200);
}
}

crate::both! {
    fn verifier_for_code_issued_without_challenge_is_rejected() {
    let server = TestServer::start();
    server.add_user("alice");
    let client = server.confidential();
    let url = support::authorize_url(&server, &client, &[]);
    let cb = support::Browser::new().authorize(&server.base, &url, "alice", support::PASSWORD);
    let verifier = "v".repeat(43);
    let res = token_request(
        &server,
        Some((&client.id, client.secret.as_deref().unwrap())),
        &code_form(cb.param("code").unwrap(), &client.redirect, &verifier),
    );
    assert_error(res, 400, "invalid_grant");
}
}

crate::both! {
    fn code_used_twice_fails_and_revokes_first_tokens() {
    let server = TestServer::start();
    server.add_user("alice");
    let client = server.confidential();
    let (code, verifier, _) = obtain_code(&server, &client, "alice");
    let first = support::exchange(&server, &client, &code, &verifier);
    let access = first["access_token"].as_str().unwrap();
    assert_eq!(support::userinfo(&server, access).status(), 200);
    let res = token_request(
        &server,
        Some((&client.id, client.secret.as_deref().unwrap())),
        &code_form(&code, &client.redirect, &verifier),
    );
    assert_error(res, 400, "invalid_grant");
    let res = support::userinfo(&server, access);
    assert_eq!(res.status(), 401, "tokens from the first use are revoked");
}
}

crate::both! {
    fn code_redeemed_by_another_client() {
    let server = TestServer::start();
    server.add_user("alice");
    let client = server.confidential();
    let other = server.confidential();
    let (code, verifier, _) = obtain_code(&server, &client, "alice");
    let res = token_request(
        &server,
        Some((&other.id, other.secret.as_deref().unwrap())),
        &code_form(&code, &other.redirect, &verifier),
    );
    assert_error(res, 400, "invalid_grant");
}
}

crate::both! {
    fn redirect_uri_must_match_the_authorization_request() {
    let server = TestServer::start();
    server.add_user("alice");
    let client = server.confidential();
    let (code, verifier, _) = obtain_code(&server, &client, "alice");
    let res = token_request(
        &server,
        Some((&client.id, client.secret.as_deref().unwrap())),
        &code_form(&code, "http://127.0.0.1:9/other", &verifier),
    );
    assert_error(res, 400, "invalid_grant");
}
}

crate::both! {
    fn expired_code_is_invalid_grant() {
    let server = TestServer::start();
    server.add_user("alice");
    let client = server.confidential();
    let (code, verifier, _) = obtain_code(&server, &client, "alice");
    server.clock.advance(61);
    let res = token_request(
        &server,
        Some((&client.id, client.secret.as_deref().unwrap())),
        &code_form(&code, &client.redirect, &verifier),
    );
    assert_error(res, 400, "invalid_grant");
}
}

crate::both! {
    fn wrong_secret_is_invalid_client_with_basic_challenge() {
    let server = TestServer::start();
    server.add_user("alice");
    let client = server.confidential();
    let (code, verifier, _) = obtain_code(&server, &client, "alice");
    let res = token_request(
        &server,
        Some((&client.id, "pcs_wrong")),
        &code_form(&code, &client.redirect, &verifier),
    );
    assert_eq!(
        res.headers()["www-authenticate"].to_str().unwrap(),
        "Basic realm=\"portcullis\""
    );
    assert_error(res, 401, "invalid_client");
    // Same through the body.
    let mut form = code_form(&code, &client.redirect, &verifier);
    form.extend([
        ("client_id", client.id.as_str()),
        ("client_secret", "pcs_wrong"),
    ]);
    assert_error(token_request(&server, None, &form), 401, "invalid_client");
    // A confidential client that does not authenticate at all.
    let mut form = code_form(&code, &client.redirect, &verifier);
    form.push(("client_id", client.id.as_str()));
    assert_error(token_request(&server, None, &form), 401, "invalid_client");
    // Still redeemable by the right credentials.
    support::exchange(&server, &client, &code, &verifier);
}
}

crate::both! {
    fn secret_with_reserved_characters_works_through_basic() {
    let server = TestServer::start();
    server.add_user("alice");
    let client = server.add_client(ClientSpec {
        id: Some("app.one~x".into()),
        secret: Some("s3cr+t/with=reserved+chars/and/length==".into()),
        ..Default::default()
    });
    let (code, verifier, _) = obtain_code(&server, &client, "alice");
    // basic_header form-urlencodes both parts, as RFC 6749 2.3.1 requires.
    let res = token_request(
        &server,
        Some((&client.id, client.secret.as_deref().unwrap())),
        &code_form(&code, &client.redirect, &verifier),
    );
    assert_eq!(res.status(), 200);
}
}

crate::both! {
    fn public_client_cannot_present_a_secret_or_skip_pkce_binding() {
    let server = TestServer::start();
    server.add_user("alice");
    let client = server.public();
    let (code, verifier, _) = obtain_code(&server, &client, "alice");
    let res = token_request(
        &server,
        Some((&client.id, "anything")),
        &code_form(&code, &client.redirect, &verifier),
    );
    assert_error(res, 401, "invalid_client");
    let mut form = code_form(&code, &client.redirect, &verifier);
    form.push(("client_id", client.id.as_str()));
    let res = token_request(&server, None, &form);
    assert_eq!(res.status(), 200);
}
}

crate::both! {
    fn malformed_requests() {
    let server = TestServer::start();
    let client = server.confidential();
    let creds = Some((client.id.as_str(), client.secret.as_deref().unwrap()));
    assert_error(
        token_request(&server, creds, &[("code", "x")]),
        400,
        "invalid_request",
    );
    assert_error(
        token_request(&server, creds, &[("grant_type", "password")]),
        400,
        "unsupported_grant_type",
    );
    assert_error(
        token_request(
            &server,
            creds,
            &[
                ("grant_type", "authorization_code"),
                ("grant_type", "authorization_code"),
                ("code", "x"),
            ],
        ),
        400,
        "invalid_request",
    );
    assert_error(
        token_request(
            &server,
            creds,
            &[
                ("grant_type", "authorization_code"),
                ("code", "x"),
                ("redirect_uri", support::REDIRECT),
            ],
        ),
        400,
        "invalid_grant",
    );
    // Two authentication methods at once.
    let mut form = vec![("grant_type", "authorization_code"), ("code", "x")];
    form.push(("client_secret", client.secret.as_deref().unwrap()));
    assert_error(token_request(&server, creds, &form), 400, "invalid_request");
    // Not a form body.
    let res = support::http()
        .post(server.url("/token"))
        .header(
            "Authorization",
            basic_header(&client.id, client.secret.as_deref().unwrap()),
        )
        .json(&serde_json::json!({"grant_type": "authorization_code"}))
        .send()
        .unwrap();
    assert_error(res, 400, "invalid_request");
    // Garbage Basic header.
    let res = support::http()
        .post(server.url("/token"))
        .header("Authorization", "Basic !!!not-base64")
        .form(&[("grant_type", "authorization_code")])
        .send()
        .unwrap();
    assert_error(res, 401, "invalid_client");
}
}
