//! /userinfo as a bearer-protected resource (RFC 6750): what an expired,
//! tampered, unsigned or missing token gets.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::support::{self, ClientSpec, TestServer, access_token, userinfo};

fn challenge(res: &reqwest::blocking::Response) -> String {
    res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned()
}

fn assert_invalid_token(res: reqwest::blocking::Response) {
    assert_eq!(res.status(), 401);
    let c = challenge(&res);
    assert!(c.starts_with("Bearer "), "{c}");
    assert!(c.contains("error=\"invalid_token\""), "{c}");
    assert!(c.contains("error_description=\""), "{c}");
}

crate::both! {
    fn no_token_gets_a_bare_bearer_challenge() {
    let server = TestServer::start();
    let res = support::http().get(server.url("/userinfo")).send().unwrap();
    assert_eq!(res.status(), 401);
    let c = challenge(&res);
    assert!(c.starts_with("Bearer") && !c.contains("error="), "{c}");
}
}

crate::both! {
    fn claims_follow_scopes_and_post_body_works() {
    let server = TestServer::start();
    let sub = server.add_user("alice");
    let client = server.add_client(ClientSpec {
        first_party: true,
        ..Default::default()
    });
    let token = access_token(&server, &client, "alice");
    let body: serde_json::Value = userinfo(&server, &token).json().unwrap();
    assert_eq!(body["sub"], sub.as_str());
    assert_eq!(body["preferred_username"], "alice");
    assert_eq!(body["email_verified"], false);

    let res = support::http()
        .post(server.url("/userinfo"))
        .form(&[("access_token", token.as_str())])
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);

    let res = support::http()
        .get(server.url(&format!("/userinfo?access_token={token}")))
        .send()
        .unwrap();
    assert_eq!(res.status(), 400, "never from the query string");
}
}

crate::both! {
    fn token_without_openid_scope_is_insufficient_scope() {
    let server = TestServer::start();
    server.add_user("alice");
    let client = server.add_client(ClientSpec {
        first_party: true,
        ..Default::default()
    });
    let (verifier, challenge_value) = support::pkce();
    let url = support::authorize_url(
        &server,
        &client,
        &[
            ("scope", "profile"),
            ("code_challenge", &challenge_value),
            ("code_challenge_method", "S256"),
        ],
    );
    let cb = support::Browser::new().authorize(&server.base, &url, "alice", support::PASSWORD);
    let body = support::exchange(&server, &client, cb.param("code").unwrap(), &verifier);
    assert!(body.get("id_token").is_none(), "no openid, no ID token");
    let res = userinfo(&server, body["access_token"].as_str().unwrap());
    assert_eq!(res.status(), 403);
    assert!(challenge(&res).contains("error=\"insufficient_scope\""));
}
}

crate::both! {
    fn expired_token_is_invalid_token() {
    let server = TestServer::start();
    server.add_user("alice");
    let client = server.add_client(ClientSpec {
        first_party: true,
        ..Default::default()
    });
    let token = access_token(&server, &client, "alice");
    assert_eq!(userinfo(&server, &token).status(), 200);
    server.clock.advance(301);
    assert_invalid_token(userinfo(&server, &token));
}
}

crate::both! {
    fn tampered_and_unsigned_tokens_are_invalid_token() {
    let server = TestServer::start();
    server.add_user("alice");
    server.add_user("mallory");
    let client = server.add_client(ClientSpec {
        first_party: true,
        ..Default::default()
    });
    let token = access_token(&server, &client, "alice");
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let (header, mut claims) = support::jwt_parts(&token);

    // Claims changed, signature kept.
    claims["sub"] = "someone-else".into();
    let forged_claims = URL_SAFE_NO_PAD.encode(claims.to_string());
    assert_invalid_token(userinfo(
        &server,
        &format!("{}.{}.{}", parts[0], forged_claims, parts[2]),
    ));

    // alg none, no signature.
    let mut none_header = header.clone();
    none_header["alg"] = "none".into();
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(none_header.to_string()),
        parts[1]
    );
    assert_invalid_token(userinfo(&server, &none));

    // HS256 keyed with the public key's bytes (algorithm confusion).
    let mut hs_header = header.clone();
    hs_header["alg"] = "HS256".into();
    parts[0] = URL_SAFE_NO_PAD.encode(hs_header.to_string());
    assert_invalid_token(userinfo(&server, &parts.join(".")));

    // An ID token is not an access token (typ differs).
    let (code, verifier, _) = support::obtain_code(&server, &client, "mallory");
    let body = support::exchange(&server, &client, &code, &verifier);
    assert_invalid_token(userinfo(&server, body["id_token"].as_str().unwrap()));

    assert_invalid_token(userinfo(&server, "not-a-jwt"));
}
}
