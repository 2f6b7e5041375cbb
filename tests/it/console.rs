//! The admin console and the account page, over HTTP: who may reach what,
//! CSRF on every form, password re-entry for dangerous actions, and the
//! audit trail each action leaves.

use serde_json::Value;

use crate::support::browser::{hidden, location};
use crate::support::{self, Browser, ClientSpec, PASSWORD, TestServer};

const ADMIN_PASSWORD: &str = "the admin's own password";

fn add_admin(server: &TestServer) -> String {
    let new = portcullis::service::users::NewUser {
        username: "root".into(),
        password: portcullis::secret::Secret::new(ADMIN_PASSWORD),
        email: None,
        name: Some("Root".into()),
        admin: true,
        created_by: None,
    };
    portcullis::service::users::add(&server.provider.store, server.provider.clock.as_ref(), new)
        .unwrap()
        .into_string()
}

/// A browser signed in through the normal login page, sent there by the console.
fn signed_in(server: &TestServer, username: &str, password: &str, start: &str) -> Browser {
    let browser = Browser::new();
    let res = browser.get(&server.url(start));
    assert_eq!(res.status(), 303, "{start} sends nobody to the login page");
    let login = location(&res).unwrap();
    assert!(login.contains("/login?return_to="), "{login}");
    let res = browser.submit_login(&login, username, password);
    assert_eq!(res.status(), 303);
    assert_eq!(
        location(&res).unwrap(),
        server.url(start),
        "back where we started"
    );
    browser
}

fn csrf(browser: &Browser, server: &TestServer, page: &str) -> String {
    let res = browser.get(&server.url(page));
    assert_eq!(res.status(), 200, "{page}");
    hidden(&res.text().unwrap(), "csrf")
}

fn post(
    browser: &Browser,
    server: &TestServer,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::blocking::Response {
    browser.post(&server.url(path), form)
}

struct Fixture {
    server: TestServer,
    admin_id: String,
    user_id: String,
    client_id: String,
}

fn fixture() -> Fixture {
    let server = TestServer::start();
    let admin_id = add_admin(&server);
    let user_id = server.add_user("alice");
    let client_id = server.confidential().id;
    Fixture {
        server,
        admin_id,
        user_id,
        client_id,
    }
}

fn get_routes(f: &Fixture) -> Vec<String> {
    [
        "/admin",
        "/admin/clients",
        "/admin/clients?q=Test",
        "/admin/clients/new",
        "/admin/clients/{c}",
        "/admin/users",
        "/admin/users?q=al&page=0",
        "/admin/users/new",
        "/admin/users/{u}",
        "/admin/keys",
        "/admin/audit",
        "/admin/audit?kind=login_failed&hours=24",
    ]
    .iter()
    .map(|r| r.replace("{c}", &f.client_id).replace("{u}", &f.user_id))
    .collect()
}

fn post_routes(f: &Fixture) -> Vec<String> {
    [
        "/admin/clients",
        "/admin/clients/{c}",
        "/admin/clients/{c}/disable",
        "/admin/clients/{c}/enable",
        "/admin/clients/{c}/secret",
        "/admin/clients/{c}/delete",
        "/admin/users",
        "/admin/users/{u}",
        "/admin/users/{u}/password",
        "/admin/users/{u}/disable",
        "/admin/users/{u}/enable",
        "/admin/users/{u}/admin",
        "/admin/users/{u}/unadmin",
        "/admin/users/{u}/sessions/revoke-all",
        "/admin/users/{u}/sessions/nosuch/revoke",
        "/admin/users/{u}/grants/{c}/revoke",
        "/admin/keys/rotate",
    ]
    .iter()
    .map(|r| r.replace("{c}", &f.client_id).replace("{u}", &f.user_id))
    .collect()
}

crate::both! {
    fn every_console_route_checks_who_is_asking() {
    let f = fixture();
    let server = &f.server;
    let nobody = Browser::new();
    for route in get_routes(&f).iter().chain(post_routes(&f).iter()) {
        let res = if get_routes(&f).contains(route) { nobody.get(&server.url(route)) } else { nobody.post(&server.url(route), &[]) };
        assert_eq!(res.status(), 303, "nobody: {route}");
        assert!(location(&res).unwrap().contains("/login?return_to=%2Fadmin"), "nobody: {route}");
    }
    let user = signed_in(server, "alice", PASSWORD, "/account");
    for route in get_routes(&f) {
        let res = user.get(&server.url(&route));
        assert_eq!(res.status(), 403, "plain user: {route}");
        assert!(res.text().unwrap().contains("not an administrator"));
    }
    for route in post_routes(&f) {
        assert_eq!(user.post(&server.url(&route), &[]).status(), 403, "plain user: {route}");
    }
    let admin = signed_in(server, "root", ADMIN_PASSWORD, "/admin");
    for route in get_routes(&f) {
        let res = admin.get(&server.url(&route));
        assert_eq!(res.status(), 200, "admin: {route}");
        assert!(res.headers()["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    }
    // Every form refuses a missing or wrong CSRF token, and changes nothing.
    for route in post_routes(&f) {
        for token in ["", "forged"] {
            let res = admin.post(&server.url(&route), &[("csrf", token), ("password", ADMIN_PASSWORD)]);
            assert_eq!(res.status(), 400, "CSRF: {route}");
        }
    }
    assert!(server.provider.store.client(&f.client_id).unwrap().is_some(), "nothing was deleted");
    let _ = f.admin_id;
}
}

crate::both! {
    fn clients_are_created_validated_rotated_and_deleted() {
    let f = fixture();
    let server = &f.server;
    let admin = signed_in(server, "root", ADMIN_PASSWORD, "/admin");
    let token = csrf(&admin, server, "/admin/clients/new");
    let base = [("csrf", token.as_str()), ("name", "Shop"), ("type", "confidential"), ("scopes", "openid profile"), ("grant_type", "authorization_code"), ("grant_type", "refresh_token"), ("password", ADMIN_PASSWORD)];
    for (bad, why) in [
        ("shop.example/cb", "absolute"),
        ("http://shop.example/cb", "https"),
        ("https://shop.example/cb#x", "fragment"),
        ("https://user@shop.example/cb", "user information"),
        ("https://*.shop.example/cb", "wildcard"),
    ] {
        let mut form = base.to_vec();
        form.push(("redirect_uris", bad));
        let res = post(&admin, server, "/admin/clients", &form);
        assert_eq!(res.status(), 400, "{bad}");
        let html = res.text().unwrap();
        assert!(html.contains(why), "{bad}: message says what is wrong");
    }
    let mut form = base.to_vec();
    form.push(("redirect_uris", "https://shop.example/cb"));
    let res = post(&admin, server, "/admin/clients", &form);
    assert_eq!(res.status(), 200);
    let html = res.text().unwrap();
    let secret = html.split("id=\"client-secret\">").nth(1).unwrap().split('<').next().unwrap().to_owned();
    assert!(secret.starts_with("pcs_"));
    let client = server.provider.store.search_clients("Shop").unwrap().pop().unwrap();
    assert!(client.grant_types.contains("refresh_token"));

    // Rotating shows a new secret once; the old one stops working.
    let token = csrf(&admin, server, &format!("/admin/clients/{}", client.id));
    let res = post(&admin, server, &format!("/admin/clients/{}/secret", client.id), &[("csrf", &token), ("password", ADMIN_PASSWORD)]);
    let html = res.text().unwrap();
    let rotated = html.split("id=\"client-secret\">").nth(1).unwrap().split('<').next().unwrap().to_owned();
    assert_ne!(rotated, secret);
    let cc = |s: &str| support::token_request(server, Some((&client.id, s)), &[("grant_type", "client_credentials")]).status();
    assert_eq!(cc(&secret), 401, "old secret refused");
    assert_eq!(cc(&rotated), 400, "new secret authenticates (the grant itself is not allowed)");

    // Deleting needs the admin's password.
    let path = format!("/admin/clients/{}/delete", client.id);
    let res = post(&admin, server, &path, &[("csrf", &token), ("password", "wrong")]);
    assert!(location(&res).unwrap().ends_with("done=wrong-password"));
    assert!(server.provider.store.client(&client.id).unwrap().is_some());
    let res = post(&admin, server, &path, &[("csrf", &token), ("password", ADMIN_PASSWORD)]);
    assert!(location(&res).unwrap().ends_with("done=deleted"));
    assert!(server.provider.store.client(&client.id).unwrap().is_none());
}
}

crate::both! {
    fn password_reset_revokes_sessions_and_tokens() {
    let f = fixture();
    let server = &f.server;
    let client = server.add_client(ClientSpec { first_party: true, ..Default::default() });
    let family = support::tokens_with_refresh(server, &client, "alice");
    let user_browser = signed_in(server, "alice", PASSWORD, "/account");
    let admin = signed_in(server, "root", ADMIN_PASSWORD, "/admin");
    let page = format!("/admin/users/{}", f.user_id);
    let html = admin.get(&server.url(&page)).text().unwrap();
    assert!(html.contains(&client.id), "the app grant is listed");
    let token = hidden(&html, "csrf");
    let res = post(&admin, server, &format!("{page}/password"), &[("csrf", &token), ("new_password", "a fresh password 123"), ("password", ADMIN_PASSWORD)]);
    assert!(location(&res).unwrap().ends_with("done=password"));
    let rt = family["refresh_token"].as_str().unwrap();
    assert_eq!(support::refresh(server, &client, rt, &[]).status(), 400);
    assert_eq!(user_browser.get(&server.url("/account")).status(), 303, "her session ended");
}
}

crate::both! {
    fn account_page_changes_password_and_keeps_this_session() {
    let f = fixture();
    let server = &f.server;
    let client = server.add_client(ClientSpec { first_party: true, ..Default::default() });
    let family = support::tokens_with_refresh(server, &client, "alice");
    let other = signed_in(server, "alice", PASSWORD, "/account");
    let me = signed_in(server, "alice", PASSWORD, "/account");
    let html = me.get(&server.url("/account")).text().unwrap();
    assert!(html.contains("Test App"), "apps with access are listed");
    let token = hidden(&html, "csrf");
    let wrong = post(&me, server, "/account/password", &[("csrf", &token), ("current_password", "nope"), ("new_password", "new password 456"), ("confirm_password", "new password 456")]);
    assert_eq!(wrong.status(), 400);
    let res = post(&me, server, "/account/password", &[("csrf", &token), ("current_password", PASSWORD), ("new_password", "new password 456"), ("confirm_password", "new password 456")]);
    assert_eq!(res.status(), 303);
    assert_eq!(me.get(&server.url("/account")).status(), 200, "still signed in here");
    assert_eq!(other.get(&server.url("/account")).status(), 303, "signed out elsewhere");
    let rt = family["refresh_token"].as_str().unwrap();
    assert_eq!(support::refresh(server, &client, rt, &[]).status(), 400, "refresh tokens revoked");
    let forged = post(&me, server, "/account/password", &[("csrf", "x"), ("current_password", "new password 456"), ("new_password", "another one 789"), ("confirm_password", "another one 789")]);
    assert_eq!(forged.status(), 400);
}
}

crate::both! {
    fn users_can_revoke_an_apps_access() {
    let f = fixture();
    let server = &f.server;
    let client = server.add_client(ClientSpec { first_party: true, ..Default::default() });
    let family = support::tokens_with_refresh(server, &client, "alice");
    let me = signed_in(server, "alice", PASSWORD, "/account");
    let token = csrf(&me, server, "/account");
    let res = post(&me, server, &format!("/account/grants/{}/revoke", client.id), &[("csrf", &token)]);
    assert_eq!(res.status(), 303);
    let rt = family["refresh_token"].as_str().unwrap();
    assert_eq!(support::refresh(server, &client, rt, &[]).status(), 400);
}
}

crate::both! {
    fn key_rotation_publishes_first_signs_later_retires_last() {
    let f = fixture();
    let server = &f.server;
    let client = server.add_client(ClientSpec { first_party: true, ..Default::default() });
    let jwks = || -> Vec<String> {
        let v: Value = support::http().get(server.url("/jwks")).send().unwrap().json().unwrap();
        v["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
    };
    let old = jwks();
    let kid_of = |t: &str| support::jwt_parts(t).0["kid"].as_str().unwrap().to_owned();
    let before = support::access_token(server, &client, "alice");
    let admin = signed_in(server, "root", ADMIN_PASSWORD, "/admin");
    let token = csrf(&admin, server, "/admin/keys");
    let res = post(&admin, server, "/admin/keys/rotate", &[("csrf", &token), ("password", "wrong")]);
    assert!(location(&res).unwrap().ends_with("done=wrong-password"));
    assert_eq!(jwks().len(), 2);
    post(&admin, server, "/admin/keys/rotate", &[("csrf", &token), ("password", ADMIN_PASSWORD)]);
    let published = jwks();
    assert_eq!(published.len(), 4, "new keys published at once");
    let during = support::access_token(server, &client, "alice");
    assert_eq!(kid_of(&during), kid_of(&before), "old key still signs during the delay");

    server.clock.advance(3600);
    let after = support::access_token(server, &client, "alice");
    assert!(!old.contains(&kid_of(&after)), "new key signs after the delay");
    assert_eq!(support::userinfo(server, &during).status(), 401, "expired by now");

    server.clock.advance(400);
    portcullis::service::keys::reload(&server.provider).unwrap();
    let remaining = jwks();
    assert_eq!(remaining.len(), 2, "old keys retired once their tokens expired");
    assert!(remaining.iter().all(|k| !old.contains(k)));
    let latest = support::access_token(server, &client, "alice");
    assert!(remaining.contains(&kid_of(&latest)));
    assert_eq!(support::userinfo(server, &latest).status(), 200);
    let _ = after;
}
}

crate::both! {
    fn the_audit_log_records_each_kind_of_event() {
    let f = fixture();
    let server = &f.server;
    let client = server.add_client(ClientSpec { first_party: true, ..Default::default() });
    // Login failure and success, consent, issue, refresh, reuse, revoke.
    let b = Browser::new();
    let res = b.get(&support::authorize_url(server, &client, &[]));
    b.fill_login(res, "alice", "wrong password");
    let consenting = server.confidential();
    support::obtain_code(server, &consenting, "alice");
    let family = support::tokens_with_refresh(server, &client, "alice");
    let rt = family["refresh_token"].as_str().unwrap();
    let next: Value = support::refresh(server, &client, rt, &[]).json().unwrap();
    support::refresh(server, &client, rt, &[]);
    let other = support::tokens_with_refresh(server, &client, "alice");
    support::client_post(server, "/revoke", &client, &[("token", other["refresh_token"].as_str().unwrap())]);
    let _ = next;
    // Admin changes.
    let admin = signed_in(server, "root", ADMIN_PASSWORD, "/admin");
    // One token serves every console form of this session.
    let token = csrf(&admin, server, "/admin/keys");
    let user = format!("/admin/users/{}", f.user_id);
    post(&admin, server, &format!("{user}/password"), &[("csrf", &token), ("new_password", "brand new password"), ("password", ADMIN_PASSWORD)]);
    post(&admin, server, &format!("{user}/disable"), &[("csrf", &token), ("password", ADMIN_PASSWORD)]);
    post(&admin, server, &format!("/admin/clients/{}/secret", f.client_id), &[("csrf", &token), ("password", ADMIN_PASSWORD)]);
    post(&admin, server, "/admin/keys/rotate", &[("csrf", &token), ("password", "a wrong guess")]);
    post(&admin, server, "/admin/keys/rotate", &[("csrf", &token), ("password", ADMIN_PASSWORD)]);

    let kinds = [
        "login_failed", "login_succeeded", "consent_given", "token_issued", "token_refreshed",
        "refresh_reuse_detected", "token_revoked", "password_changed", "user_disabled",
        "client_secret_rotated", "keys_rotated", "user_created", "client_created",
        "reauthentication_failed",
    ];
    for kind in kinds {
        let filter = portcullis::storage::audit::AuditFilter { kind: Some(kind.into()), limit: 10, ..Default::default() };
        let events = server.provider.store.audit_events(&filter).unwrap();
        assert!(!events.is_empty(), "no {kind} event");
        for e in &events {
            let text = format!("{e:?}");
            for secret in [PASSWORD, ADMIN_PASSWORD, rt, "brand new password"] {
                assert!(!text.contains(secret), "{kind} event holds a secret");
            }
        }
    }
    let filter = portcullis::storage::audit::AuditFilter { kind: Some("password_changed".into()), limit: 10, ..Default::default() };
    let reset = &server.provider.store.audit_events(&filter).unwrap()[0];
    assert_eq!(reset.actor_user_id.as_deref(), Some(f.admin_id.as_str()), "the admin is the actor");
    assert_eq!(reset.subject_user_id.as_deref(), Some(f.user_id.as_str()));
    assert_eq!(reset.source_ip.as_deref(), Some("127.0.0.1"));
    // The console shows and filters them.
    let html = admin.get(&server.url(&format!("/admin/audit?kind=password_changed&user={}", f.user_id))).text().unwrap();
    assert!(html.contains("password_changed") && !html.contains("login_failed</td>"));
    let by_name = admin.get(&server.url("/admin/audit?kind=password_changed&user=alice")).text().unwrap();
    assert!(by_name.contains(&f.user_id), "the user filter takes a username too");
}
}

crate::both! {
    fn dangerous_changes_need_the_admins_password() {
    let f = fixture();
    let server = &f.server;
    let admin = signed_in(server, "root", ADMIN_PASSWORD, "/admin");
    let token = csrf(&admin, server, "/admin/keys");
    let user = format!("/admin/users/{}", f.user_id);
    let client = format!("/admin/clients/{}", f.client_id);
    for (path, extra) in [
        (format!("{user}/password"), vec![("new_password", "stolen session pw 1")]),
        (format!("{user}/disable"), vec![]),
        (format!("{user}/admin"), vec![]),
        (format!("{client}/secret"), vec![]),
        (client.clone(), vec![("name", "Hijacked"), ("type", "confidential"), ("redirect_uris", "https://evil.example/cb"), ("grant_type", "authorization_code"), ("first_party", "1")]),
        ("/admin/clients".to_owned(), vec![("name", "Evil"), ("type", "confidential"), ("redirect_uris", "https://evil.example/cb"), ("grant_type", "authorization_code"), ("first_party", "1")]),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, case)| {
        // Five wrong re-entries in 15 minutes end the session; stay under it.
        if i == 4 {
            server.clock.advance(16 * 60);
        }
        case
    }) {
        let mut form = vec![("csrf", token.as_str()), ("password", "not the password")];
        form.extend(extra);
        let res = post(&admin, server, &path, &form);
        assert!(location(&res).unwrap().ends_with("done=wrong-password"), "{path}");
    }
    let stored = server.provider.store.client(&f.client_id).unwrap().unwrap();
    assert!(!stored.redirect_uris.contains("evil"), "client unchanged");
    assert!(server.provider.store.search_clients("Evil").unwrap().is_empty(), "nothing created");
    let alice = server.provider.store.user_by_id(&f.user_id).unwrap().unwrap();
    assert!(!alice.disabled && !alice.is_admin);
    // An admin's own password changes on the account page only.
    let me = format!("/admin/users/{}", f.admin_id);
    let res = post(&admin, server, &format!("{me}/password"), &[("csrf", &token), ("new_password", "whatever pw 123"), ("password", ADMIN_PASSWORD)]);
    assert!(location(&res).unwrap().ends_with("done=self"));
}
}

crate::both! {
    fn the_last_admin_cannot_be_removed() {
    let f = fixture();
    let server = &f.server;
    let store = &server.provider.store;
    let now = server.clock_now();
    // Two admins: each may remove the other, but not both.
    assert!(store.set_admin(&f.user_id, true, now).unwrap());
    assert!(store.set_admin(&f.user_id, false, now).unwrap(), "one of two may go");
    assert!(!store.set_admin(&f.admin_id, false, now).unwrap(), "the last one stays");
    assert!(!store.set_disabled(&f.admin_id, true, now).unwrap(), "and cannot be disabled");
}
}

crate::both! {
    fn disabling_a_client_stops_its_access_tokens() {
    let f = fixture();
    let server = &f.server;
    let client = server.add_client(ClientSpec { first_party: true, ..Default::default() });
    let token = support::access_token(server, &client, "alice");
    assert_eq!(support::userinfo(server, &token).status(), 200);
    let mut record = server.provider.store.client(&client.id).unwrap().unwrap();
    record.disabled = true;
    server.provider.store.update_client(&record).unwrap();
    assert_eq!(support::userinfo(server, &token).status(), 401);
}
}

crate::both! {
    fn usernames_that_look_alike_are_refused() {
    let f = fixture();
    let server = &f.server;
    for name in ["Alice", "ALICE", "al\u{200b}ice", "alice\u{202e}", "ali ce"] {
        let new = portcullis::service::users::NewUser {
            username: name.into(),
            password: portcullis::secret::Secret::new(PASSWORD),
            email: None,
            name: None,
            admin: false,
            created_by: None,
        };
        let added = portcullis::service::users::add(&server.provider.store, server.provider.clock.as_ref(), new);
        assert!(added.is_err(), "{name:?} was accepted");
    }
}
}

crate::both! {
    fn repeated_wrong_reentry_ends_the_session() {
    let f = fixture();
    let server = &f.server;
    let admin = signed_in(server, "root", ADMIN_PASSWORD, "/admin");
    let token = csrf(&admin, server, "/admin/keys");
    for _ in 0..4 {
        let res = post(&admin, server, "/admin/keys/rotate", &[("csrf", &token), ("password", "guess")]);
        assert!(location(&res).unwrap().ends_with("done=wrong-password"));
    }
    let res = post(&admin, server, "/admin/keys/rotate", &[("csrf", &token), ("password", "guess")]);
    assert_eq!(res.status(), 403);
    assert!(res.text().unwrap().contains("signed out"));
    assert_eq!(admin.get(&server.url("/admin")).status(), 303, "back to the login page");
}
}
