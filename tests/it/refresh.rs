//! Refresh tokens: issue, rotation, reuse detection, expiry, scope, client
//! binding, and revocation on password change.

use std::sync::{Arc, Barrier};

use serde_json::Value;

use crate::support::{
    self, ClientSpec, DAY, TestClient, TestServer, introspect, refresh, tokens_with_refresh,
    userinfo,
};

fn first_party(server: &TestServer) -> TestClient {
    server.add_client(ClientSpec {
        first_party: true,
        ..Default::default()
    })
}

fn ok_json(res: reqwest::blocking::Response) -> Value {
    assert_eq!(res.status(), 200);
    res.json().unwrap()
}

fn assert_invalid_grant(res: reqwest::blocking::Response) {
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().unwrap()["error"], "invalid_grant");
}

fn rt(body: &Value) -> String {
    body["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned()
}

crate::both! {
    fn issued_only_with_offline_access_or_first_party_setting() {
    let server = TestServer::start();
    server.add_user("alice");
    let client = first_party(&server);
    let code = support::obtain_code(&server, &client, "alice");
    let body = support::exchange(&server, &client, &code.0, &code.1);
    assert!(
        body.get("refresh_token").is_none(),
        "no offline_access, no refresh token"
    );

    let body = tokens_with_refresh(&server, &client, "alice");
    let token = rt(&body);
    assert!(
        token.starts_with("pcr_") && token.len() >= 4 + 43,
        "256 bits with a prefix"
    );
    assert!(!body["access_token"].as_str().unwrap().contains(&token));

    let implied = server.add_client(ClientSpec {
        first_party: true,
        refresh_without_offline_access: true,
        ..Default::default()
    });
    let code = support::obtain_code(&server, &implied, "alice");
    assert!(support::exchange(&server, &implied, &code.0, &code.1)["refresh_token"].is_string());

    let no_grant = server.add_client(ClientSpec {
        first_party: true,
        grant_types: Some(vec!["authorization_code".into()]),
        ..Default::default()
    });
    assert!(
        tokens_with_refresh(&server, &no_grant, "alice")
            .get("refresh_token")
            .is_none()
    );
}
}

crate::both! {
    fn rotation_returns_new_tokens_and_a_fresh_id_token() {
    let server = TestServer::start();
    let sub = server.add_user("alice");
    let client = first_party(&server);
    let first = tokens_with_refresh(&server, &client, "alice");
    let (_, first_id) = support::jwt_parts(first["id_token"].as_str().unwrap());
    server.clock.advance(120);

    let second = ok_json(refresh(&server, &client, &rt(&first), &[]));
    assert_ne!(rt(&second), rt(&first));
    assert_eq!(second["token_type"], "Bearer");
    assert_eq!(second["expires_in"], 300);
    assert_eq!(second["scope"], "offline_access openid profile");
    assert_eq!(
        userinfo(&server, second["access_token"].as_str().unwrap()).status(),
        200
    );
    let (_, id) = support::jwt_parts(second["id_token"].as_str().unwrap());
    assert_eq!(id["sub"], sub.as_str());
    assert_eq!(id["sid"], first_id["sid"]);
    assert_eq!(id["auth_time"], first_id["auth_time"]);
    assert_eq!(
        id["iat"].as_i64().unwrap(),
        first_id["iat"].as_i64().unwrap() + 120
    );
    assert!(id.get("nonce").is_none(), "no nonce on refresh");

    // The successor works, and so on down the chain.
    let third = ok_json(refresh(&server, &client, &rt(&second), &[]));
    assert!(third["refresh_token"].is_string());
}
}

crate::both! {
    fn reuse_of_a_retired_token_revokes_the_family() {
    let server = TestServer::start();
    server.add_user("alice");
    let client = first_party(&server);
    let first = tokens_with_refresh(&server, &client, "alice");
    let second = ok_json(refresh(&server, &client, &rt(&first), &[]));
    let access = second["access_token"].as_str().unwrap();
    assert_eq!(userinfo(&server, access).status(), 200);

    assert_invalid_grant(refresh(&server, &client, &rt(&first), &[]));
    assert_invalid_grant(refresh(&server, &client, &rt(&second), &[]));
    assert_eq!(
        userinfo(&server, access).status(),
        401,
        "access tokens of the family revoked"
    );
    assert_eq!(
        userinfo(&server, first["access_token"].as_str().unwrap()).status(),
        401
    );
    let logs = support::logs::captured();
    assert!(logs.lines().any(|l| l.contains("WARN")
        && l.contains("refresh token reuse detected")
        && l.contains(&client.id)));
}
}

crate::both! {
    fn parallel_refreshes_with_one_token_give_exactly_one_success() {
    let server = TestServer::start();
    server.add_user("alice");
    let client = first_party(&server);
    let token = rt(&tokens_with_refresh(&server, &client, "alice"));
    const N: usize = 24;
    let barrier = Arc::new(Barrier::new(N));
    let server = Arc::new(server);
    let handles: Vec<_> = (0..N)
        .map(|_| {
            let (server, client, token, barrier) = (
                server.clone(),
                client.clone(),
                token.clone(),
                barrier.clone(),
            );
            std::thread::spawn(move || {
                barrier.wait();
                refresh(&server, &client, &token, &[]).status().as_u16()
            })
        })
        .collect();
    let statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 400).count(),
        N - 1,
        "{statuses:?}"
    );
}
}

crate::both! {
    fn grace_window_accepts_a_just_retired_token_from_the_same_client() {
    let server = TestServer::start_with(|c| c.tokens.refresh_token_reuse_grace_secs = 5);
    server.add_user("alice");
    let client = first_party(&server);
    let first = tokens_with_refresh(&server, &client, "alice");
    let second = ok_json(refresh(&server, &client, &rt(&first), &[]));
    server.clock.advance(3);
    let sibling = ok_json(refresh(&server, &client, &rt(&first), &[]));
    assert_ne!(rt(&sibling), rt(&second));
    // Both successors keep working.
    ok_json(refresh(&server, &client, &rt(&second), &[]));
    ok_json(refresh(&server, &client, &rt(&sibling), &[]));
    // Past the window it is reuse again.
    server.clock.advance(3);
    assert_invalid_grant(refresh(&server, &client, &rt(&first), &[]));
}
}

crate::both! {
    fn grace_window_allows_one_extra_use_only() {
    let server = TestServer::start_with(|c| c.tokens.refresh_token_reuse_grace_secs = 5);
    server.add_user("alice");
    let client = first_party(&server);
    let first = tokens_with_refresh(&server, &client, "alice");
    let second = ok_json(refresh(&server, &client, &rt(&first), &[]));
    let sibling = ok_json(refresh(&server, &client, &rt(&first), &[]));
    // A third presentation inside the window is reuse: the family is gone,
    // so a thief cannot keep a branch of it.
    assert_invalid_grant(refresh(&server, &client, &rt(&first), &[]));
    assert_invalid_grant(refresh(&server, &client, &rt(&second), &[]));
    assert_invalid_grant(refresh(&server, &client, &rt(&sibling), &[]));
}
}

crate::both! {
    fn idle_and_absolute_lifetimes() {
    let server = TestServer::start();
    server.add_user("alice");
    let client = first_party(&server);
    let idle = rt(&tokens_with_refresh(&server, &client, "alice"));
    server.clock.advance(14 * DAY + 1);
    assert_invalid_grant(refresh(&server, &client, &idle, &[]));

    let mut token = rt(&tokens_with_refresh(&server, &client, "alice"));
    for _ in 0..2 {
        server.clock.advance(13 * DAY);
        token = rt(&ok_json(refresh(&server, &client, &token, &[])));
    }
    server.clock.advance(4 * DAY + 1);
    assert_invalid_grant(refresh(&server, &client, &token, &[]));
}
}

crate::both! {
    fn per_client_lifetimes_override_the_defaults() {
    let server = TestServer::start();
    server.add_user("alice");
    let new = portcullis::service::clients::NewClient {
        id: Some("short-lived".into()),
        name: "Short".into(),
        redirect_uris: vec![support::REDIRECT.into()],
        post_logout_redirect_uris: vec![],
        public: false,
        first_party: true,
        scopes: None,
        secret: None,
        grant_types: None,
        refresh_without_offline_access: false,
        lifetimes: portcullis::service::clients::ClientLifetimes {
            access_token: Some(60),
            refresh_absolute: None,
            refresh_idle: Some(100),
        },
        created_by: None,
    };
    let (id, secret) =
        portcullis::service::clients::register(&server.provider.store, server.clock_now(), new)
            .unwrap();
    let client = TestClient {
        id: id.into_string(),
        secret: secret.map(|s| s.expose().to_owned()),
        redirect: support::REDIRECT.into(),
    };
    let body = tokens_with_refresh(&server, &client, "alice");
    assert_eq!(body["expires_in"], 60);
    server.clock.advance(101);
    assert_invalid_grant(refresh(&server, &client, &rt(&body), &[]));
}
}

crate::both! {
    fn scope_may_only_narrow() {
    let server = TestServer::start();
    server.add_user("alice");
    let client = first_party(&server);
    let first = tokens_with_refresh(&server, &client, "alice");
    let res = refresh(&server, &client, &rt(&first), &[("scope", "openid email")]);
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().unwrap()["error"], "invalid_scope");
    let narrow = ok_json(refresh(
        &server,
        &client,
        &rt(&first),
        &[("scope", "openid")],
    ));
    assert_eq!(narrow["scope"], "openid");
    let (_, claims) = support::jwt_parts(narrow["access_token"].as_str().unwrap());
    assert_eq!(claims["scope"], "openid");
    // The refresh token still carries the whole grant.
    let wide = ok_json(refresh(&server, &client, &rt(&narrow), &[]));
    assert_eq!(wide["scope"], "offline_access openid profile");
}
}

crate::both! {
    fn only_the_owning_client_can_refresh() {
    let server = TestServer::start();
    server.add_user("alice");
    let client = first_party(&server);
    let other = first_party(&server);
    let token = rt(&tokens_with_refresh(&server, &client, "alice"));
    assert_invalid_grant(refresh(&server, &other, &token, &[]));
    // Unauthenticated use by a confidential client's token.
    let res = support::token_request(
        &server,
        None,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &token),
            ("client_id", &client.id),
        ],
    );
    assert_eq!(res.status(), 401);
    // client_secret_post works too, and the owner was not harmed.
    let res = support::token_request(
        &server,
        None,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &token),
            ("client_id", &client.id),
            ("client_secret", client.secret.as_deref().unwrap()),
        ],
    );
    assert_eq!(res.status(), 200);
}
}

crate::both! {
    fn public_client_refreshes_with_client_id() {
    let server = TestServer::start();
    server.add_user("alice");
    let client = server.add_client(ClientSpec {
        public: true,
        first_party: true,
        ..Default::default()
    });
    let body = tokens_with_refresh(&server, &client, "alice");
    ok_json(refresh(&server, &client, &rt(&body), &[]));
}
}

crate::both! {
    fn password_change_and_disabling_revoke_every_family() {
    let server = TestServer::start();
    server.add_user("alice");
    server.add_user("bob");
    let client = first_party(&server);
    let rs = server.add_client(ClientSpec::default());
    let alice = tokens_with_refresh(&server, &client, "alice");
    let bob = tokens_with_refresh(&server, &client, "bob");
    let clock = server.provider.clock.clone();
    portcullis::service::users::set_password(
        &server.provider.store,
        clock.as_ref(),
        "alice",
        &portcullis::secret::Secret::new("another long password"),
    )
    .unwrap();
    assert_invalid_grant(refresh(&server, &client, &rt(&alice), &[]));
    assert_eq!(
        introspect(&server, &rs, alice["access_token"].as_str().unwrap()),
        serde_json::json!({"active": false})
    );
    assert_eq!(
        introspect(&server, &rs, &rt(&alice)),
        serde_json::json!({"active": false})
    );

    portcullis::service::users::set_disabled(&server.provider.store, clock.as_ref(), "bob", true)
        .unwrap();
    assert_invalid_grant(refresh(&server, &client, &rt(&bob), &[]));
    assert_eq!(
        userinfo(&server, bob["access_token"].as_str().unwrap()).status(),
        401
    );
}
}

crate::both! {
    fn tokens_never_carry_password_material() {
    let server = TestServer::start();
    server.add_user("alice");
    let client = first_party(&server);
    let body = tokens_with_refresh(&server, &client, "alice");
    let hash = server
        .provider
        .store
        .user_by_username("alice")
        .unwrap()
        .unwrap()
        .password_hash;
    let salt_and_hash = hash.rsplit('$').take(2).collect::<Vec<_>>();
    for token in [
        &body["access_token"],
        &body["id_token"],
        &body["refresh_token"],
    ] {
        let token = token.as_str().unwrap();
        let decoded: String = token
            .split('.')
            .filter_map(|part| {
                use base64::Engine;
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(part)
                    .ok()
            })
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .collect();
        for piece in &salt_and_hash {
            assert!(!token.contains(piece) && !decoded.contains(piece));
        }
        assert!(!decoded.contains("argon2"));
    }
}
}
