//! RFC 7009 revocation and RFC 7662 introspection.

use serde_json::{Value, json};

use crate::support::{
    self, ClientSpec, TestClient, TestServer, client_post, introspect, refresh,
    tokens_with_refresh, userinfo,
};

fn setup() -> (TestServer, TestClient, TestClient) {
    let server = TestServer::start();
    server.add_user("alice");
    let client = server.add_client(ClientSpec {
        first_party: true,
        ..Default::default()
    });
    let rs = server.add_client(ClientSpec {
        name: "Resource server".into(),
        ..Default::default()
    });
    (server, client, rs)
}

fn revoke(server: &TestServer, client: &TestClient, token: &str, hint: Option<&str>) {
    let mut form = vec![("token", token)];
    if let Some(hint) = hint {
        form.push(("token_type_hint", hint));
    }
    let res = client_post(server, "/revoke", client, &form);
    assert_eq!(res.status(), 200);
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap().to_owned()
}

crate::both! {
    fn revoking_a_refresh_token_revokes_its_family() {
    let (server, client, rs) = setup();
    let first = tokens_with_refresh(&server, &client, "alice");
    let second: Value = refresh(&server, &client, &s(&first, "refresh_token"), &[])
        .json()
        .unwrap();
    // A wrong hint still works.
    revoke(
        &server,
        &client,
        &s(&second, "refresh_token"),
        Some("access_token"),
    );
    let res = refresh(&server, &client, &s(&second, "refresh_token"), &[]);
    assert_eq!(res.status(), 400);
    assert_eq!(userinfo(&server, &s(&second, "access_token")).status(), 401);
    assert_eq!(
        introspect(&server, &rs, &s(&second, "access_token")),
        json!({"active": false})
    );
    assert_eq!(
        introspect(&server, &rs, &s(&second, "refresh_token")),
        json!({"active": false})
    );
    // Revoking again, or something unknown, is still 200.
    revoke(&server, &client, &s(&second, "refresh_token"), None);
    revoke(&server, &client, "pcr_not-a-token", Some("refresh_token"));
    revoke(&server, &client, "garbage", Some("bogus_hint"));
}
}

crate::both! {
    fn revoking_an_access_token_leaves_the_family() {
    let (server, client, rs) = setup();
    let body = tokens_with_refresh(&server, &client, "alice");
    let access = s(&body, "access_token");
    assert_eq!(introspect(&server, &rs, &access)["active"], true);
    revoke(&server, &client, &access, Some("access_token"));
    assert_eq!(
        userinfo(&server, &access).status(),
        401,
        "revoked before its exp"
    );
    assert_eq!(introspect(&server, &rs, &access), json!({"active": false}));
    let res = refresh(&server, &client, &s(&body, "refresh_token"), &[]);
    assert_eq!(res.status(), 200, "the refresh-token family lives on");
}
}

crate::both! {
    fn another_clients_token_is_not_revoked() {
    let (server, client, _) = setup();
    let thief = server.add_client(ClientSpec {
        first_party: true,
        ..Default::default()
    });
    let body = tokens_with_refresh(&server, &client, "alice");
    revoke(&server, &thief, &s(&body, "refresh_token"), None);
    revoke(&server, &thief, &s(&body, "access_token"), None);
    assert_eq!(userinfo(&server, &s(&body, "access_token")).status(), 200);
    assert_eq!(
        refresh(&server, &client, &s(&body, "refresh_token"), &[]).status(),
        200
    );
}
}

crate::both! {
    fn revocation_requires_client_authentication() {
    let (server, client, _) = setup();
    let body = tokens_with_refresh(&server, &client, "alice");
    let res = support::token_request(&server, None, &[]);
    assert_eq!(res.status(), 400);
    let res = support::http()
        .post(server.url("/revoke"))
        .header("Authorization", support::basic_header(&client.id, "wrong"))
        .form(&[("token", s(&body, "refresh_token"))])
        .send()
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(
        refresh(&server, &client, &s(&body, "refresh_token"), &[]).status(),
        200
    );
}
}

crate::both! {
    fn public_client_revokes_with_client_id() {
    let server = TestServer::start();
    server.add_user("alice");
    let client = server.add_client(ClientSpec {
        public: true,
        first_party: true,
        ..Default::default()
    });
    let body = tokens_with_refresh(&server, &client, "alice");
    revoke(&server, &client, &s(&body, "refresh_token"), None);
    assert_eq!(
        refresh(&server, &client, &s(&body, "refresh_token"), &[]).status(),
        400
    );
}
}

crate::both! {
    fn introspection_of_active_tokens() {
    let (server, client, rs) = setup();
    let body = tokens_with_refresh(&server, &client, "alice");
    let sub = server
        .provider
        .store
        .user_by_username("alice")
        .unwrap()
        .unwrap()
        .id;
    let at = introspect(&server, &rs, &s(&body, "access_token"));
    assert_eq!(at["active"], true);
    assert_eq!(at["token_type"], "Bearer");
    assert_eq!(at["client_id"], client.id.as_str());
    assert_eq!(at["username"], "alice");
    assert_eq!(at["sub"], sub.as_str());
    assert_eq!(at["iss"], server.base.as_str());
    assert_eq!(at["scope"], "offline_access openid profile");
    for field in ["aud", "exp", "iat", "jti"] {
        assert!(!at[field].is_null(), "{field}");
    }
    let rt = introspect(&server, &client, &s(&body, "refresh_token"));
    assert_eq!(rt["active"], true);
    assert_eq!(rt["token_type"], "refresh_token");
    assert_eq!(rt["client_id"], client.id.as_str());
}
}

crate::both! {
    fn introspection_answers_inactive_for_anything_not_active() {
    let (server, client, rs) = setup();
    let body = tokens_with_refresh(&server, &client, "alice");
    for token in ["", "garbage", "a.b.c", "pcr_unknown"] {
        let res = client_post(&server, "/introspect", &rs, &[("token", token)]);
        if token.is_empty() {
            assert_eq!(res.status(), 400, "missing token is invalid_request");
        } else {
            assert_eq!(res.json::<Value>().unwrap(), json!({"active": false}));
        }
    }
    server.clock.advance(301);
    assert_eq!(
        introspect(&server, &rs, &s(&body, "access_token")),
        json!({"active": false})
    );
    // A rotated-away refresh token is inactive too.
    let second: Value = refresh(&server, &client, &s(&body, "refresh_token"), &[])
        .json()
        .unwrap();
    assert_eq!(
        introspect(&server, &rs, &s(&body, "refresh_token")),
        json!({"active": false})
    );
    assert_eq!(
        introspect(&server, &client, &s(&second, "refresh_token"))["active"],
        true
    );
}
}

crate::both! {
    fn only_authenticated_confidential_clients_may_introspect() {
    let (server, client, _) = setup();
    let public = server.add_client(ClientSpec {
        public: true,
        ..Default::default()
    });
    let body = tokens_with_refresh(&server, &client, "alice");
    let token = s(&body, "access_token");
    let res = client_post(&server, "/introspect", &public, &[("token", &token)]);
    assert_eq!(res.status(), 401);
    let res = support::http()
        .post(server.url("/introspect"))
        .form(&[("token", &token)])
        .send()
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers().contains_key("www-authenticate"));
    let res = support::http()
        .post(server.url("/introspect"))
        .header("Authorization", support::basic_header(&client.id, "wrong"))
        .form(&[("token", &token)])
        .send()
        .unwrap();
    assert_eq!(res.status(), 401);
}
}

crate::both! {
    fn introspection_shares_only_what_was_consented() {
    let server = TestServer::start();
    server.add_user("alice");
    let third_party = server.add_client(ClientSpec::default());
    let rs = server.add_client(ClientSpec { name: "RS".into(), ..Default::default() });
    // openid only: no profile consent, so no username anywhere.
    let (verifier, challenge) = support::pkce();
    let url = support::authorize_url(
        &server,
        &third_party,
        &[("scope", "openid offline_access"), ("code_challenge", &challenge), ("code_challenge_method", "S256")],
    );
    let cb = support::Browser::new().authorize(&server.base, &url, "alice", support::PASSWORD);
    let body = support::exchange(&server, &third_party, cb.param("code").unwrap(), &verifier);
    let at = introspect(&server, &rs, &s(&body, "access_token"));
    assert_eq!(at["active"], true);
    assert!(at.get("username").is_none(), "{at}");
    // Refresh tokens are their client's business only.
    assert_eq!(introspect(&server, &rs, &s(&body, "refresh_token")), json!({"active": false}));
    let own = introspect(&server, &third_party, &s(&body, "refresh_token"));
    assert_eq!(own["active"], true);
    assert!(own.get("username").is_none());
}
}

crate::both! {
    fn client_tokens_never_name_a_user() {
    let server = TestServer::start();
    let sub = server.add_user("alice");
    let new = portcullis::service::clients::NewClient {
        id: Some(sub.clone()),
        name: "Impostor".into(),
        redirect_uris: vec![],
        post_logout_redirect_uris: vec![],
        public: false,
        first_party: false,
        scopes: Some("api.read".into()),
        secret: None,
        grant_types: Some(vec!["client_credentials".into()]),
        refresh_without_offline_access: false,
        lifetimes: Default::default(),
        created_by: None,
    };
    let taken = portcullis::service::clients::register(&server.provider.store, server.clock_now(), new);
    assert!(taken.is_err(), "a client id equal to a user's sub is refused");
}
}
