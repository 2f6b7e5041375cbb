//! grant_type=client_credentials.

use serde_json::Value;

use crate::support::{self, ClientSpec, TestServer, token_request};

crate::both! {
    fn confidential_client_gets_a_token_for_itself() {
    let server = TestServer::start();
    let service = server.add_client(ClientSpec {
        redirect: String::new(),
        grant_types: Some(vec!["client_credentials".into()]),
        scopes: Some("api.read api.write openid".into()),
        ..Default::default()
    });
    let creds = Some((service.id.as_str(), service.secret.as_deref().unwrap()));
    let res = token_request(&server, creds, &[("grant_type", "client_credentials")]);
    assert_eq!(res.status(), 200);
    let body: Value = res.json().unwrap();
    assert_eq!(
        body["scope"], "api.read api.write",
        "user scopes are not for machines"
    );
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
    let (header, claims) = support::jwt_parts(body["access_token"].as_str().unwrap());
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(claims["sub"], service.id.as_str());
    assert_eq!(claims["client_id"], service.id.as_str());

    let res = token_request(
        &server,
        creds,
        &[("grant_type", "client_credentials"), ("scope", "api.read")],
    );
    assert_eq!(res.json::<Value>().unwrap()["scope"], "api.read");
    let res = token_request(
        &server,
        creds,
        &[("grant_type", "client_credentials"), ("scope", "admin")],
    );
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().unwrap()["error"], "invalid_scope");
}
}

crate::both! {
    fn grant_must_be_allowed_for_the_client() {
    let server = TestServer::start();
    let web = server.confidential();
    let res = token_request(
        &server,
        Some((&web.id, web.secret.as_deref().unwrap())),
        &[("grant_type", "client_credentials")],
    );
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().unwrap()["error"], "unauthorized_client");
}
}
