//! Login sessions and the OpenID Connect request parameters: SSO, prompt,
//! max_age, login_hint; the login and consent forms' CSRF protection.

use crate::support::browser::{hidden, location};
use crate::support::{self, Browser, Callback, ClientSpec, PASSWORD, TestServer, authorize_url};
use portcullis::storage::clients::ClientRecord;

crate::both! {
    fn existing_session_skips_login_for_any_client() {
    let server = TestServer::start();
    server.add_user("alice");
    let a = server.add_client(ClientSpec {
        first_party: true,
        ..Default::default()
    });
    let b = server.add_client(ClientSpec {
        first_party: true,
        ..Default::default()
    });
    let browser = Browser::new();
    browser.authorize(&server.base, &authorize_url(&server, &a, &[]), "alice", PASSWORD);
    let res = browser.get(&authorize_url(&server, &b, &[]));
    let cb = Callback::parse(&location(&res).unwrap());
    assert!(cb.param("code").is_some(), "SSO: straight back with a code");
}
}

crate::both! {
    fn prompt_none_answers_by_redirect() {
    let server = TestServer::start();
    server.add_user("alice");
    server.add_user("bob");
    let client = server.confidential();
    let browser = Browser::new();
    let res = browser.get(&authorize_url(&server, &client, &[("prompt", "none")]));
    assert_eq!(
        Callback::parse(&location(&res).unwrap()).param("error"),
        Some("login_required")
    );

    // Logged in but never consented.
    let res = browser.get(&authorize_url(&server, &client, &[]));
    browser.fill_login(res, "alice", PASSWORD);
    let res = browser.get(&authorize_url(&server, &client, &[("prompt", "none")]));
    let cb = Callback::parse(&location(&res).unwrap());
    assert_eq!(cb.param("error"), Some("consent_required"));
    assert_eq!(cb.param("state"), Some("st-123"));

    // Signed in as alice, the app wants bob: choosing an account is interaction.
    let res = browser.get(&authorize_url(
        &server,
        &client,
        &[("prompt", "none"), ("login_hint", "bob")],
    ));
    assert_eq!(
        Callback::parse(&location(&res).unwrap()).param("error"),
        Some("interaction_required")
    );
}
}

crate::both! {
    fn prompt_login_reauthenticates_and_refreshes_auth_time() {
    let server = TestServer::start();
    server.add_user("alice");
    let client = server.add_client(ClientSpec {
        first_party: true,
        ..Default::default()
    });
    let browser = Browser::new();
    browser.authorize(
        &server.base,
        &authorize_url(&server, &client, &[]),
        "alice",
        PASSWORD,
    );
    server.clock.advance(100);
    // prompt=login shows the login page (fill_login checks it is one).
    let res = browser.get(&authorize_url(&server, &client, &[("prompt", "login")]));
    let res = browser.fill_login(res, "alice", PASSWORD);
    let cb = Callback::parse(&location(&res).unwrap());
    let body = support::exchange(&server, &client, cb.param("code").unwrap(), "");
    let (_, claims) = support::jwt_parts(body["id_token"].as_str().unwrap());
    assert_eq!(claims["auth_time"].as_i64(), Some(server.clock_now()));
}
}

crate::both! {
    fn max_age_forces_fresh_login_and_id_token_has_auth_time() {
    let server = TestServer::start();
    server.add_user("alice");
    let client = server.add_client(ClientSpec {
        first_party: true,
        ..Default::default()
    });
    let browser = Browser::new();
    browser.authorize(
        &server.base,
        &authorize_url(&server, &client, &[]),
        "alice",
        PASSWORD,
    );
    let logged_in_at = server.clock_now();

    server.clock.advance(30);
    let res = browser.get(&authorize_url(&server, &client, &[("max_age", "60")]));
    let cb = Callback::parse(&location(&res).unwrap());
    let body = support::exchange(
        &server,
        &client,
        cb.param("code").expect("young session: code"),
        "",
    );
    let (_, claims) = support::jwt_parts(body["id_token"].as_str().unwrap());
    assert_eq!(claims["auth_time"].as_i64(), Some(logged_in_at));

    server.clock.advance(60);
    let res = browser.get(&authorize_url(&server, &client, &[("max_age", "60")]));
    assert!(
        support::is_login_form(res),
        "old session: log in again"
    );
    let res = browser.get(&authorize_url(
        &server,
        &client,
        &[("max_age", "60"), ("prompt", "none")],
    ));
    assert_eq!(
        Callback::parse(&location(&res).unwrap()).param("error"),
        Some("login_required")
    );
}
}

crate::both! {
    fn prompt_consent_asks_again_and_consent_is_remembered() {
    let server = TestServer::start();
    server.add_user("alice");
    let client = server.confidential();
    let browser = Browser::new();
    browser.authorize(
        &server.base,
        &authorize_url(&server, &client, &[]),
        "alice",
        PASSWORD,
    );
    // Remembered: same scopes go straight through.
    let res = browser.get(&authorize_url(&server, &client, &[]));
    assert!(
        Callback::parse(&location(&res).unwrap())
            .param("code")
            .is_some()
    );
    // A narrower request is covered by the earlier consent.
    let res = browser.get(&authorize_url(&server, &client, &[("scope", "openid")]));
    assert!(
        Callback::parse(&location(&res).unwrap())
            .param("code")
            .is_some()
    );
    // More scopes than consented: ask.
    let res = browser.get(&authorize_url(
        &server,
        &client,
        &[("scope", "openid offline_access")],
    ));
    assert!(location(&res).unwrap().contains("/consent?request="));
    // prompt=consent: ask even though covered.
    let res = browser.get(&authorize_url(&server, &client, &[("prompt", "consent")]));
    assert!(location(&res).unwrap().contains("/consent?request="));
}
}

crate::both! {
    fn first_party_client_skips_consent() {
    let server = TestServer::start();
    server.add_user("alice");
    let client = server.add_client(ClientSpec {
        first_party: true,
        ..Default::default()
    });
    let browser = Browser::new();
    let res = browser.get(&authorize_url(&server, &client, &[]));
    let res = browser.fill_login(res, "alice", PASSWORD);
    assert!(
        Callback::parse(&location(&res).unwrap())
            .param("code")
            .is_some()
    );
}
}

crate::both! {
    fn deny_redirects_with_access_denied() {
    let server = TestServer::start();
    server.add_user("alice");
    let client = server.confidential();
    let browser = Browser::new();
    let res = browser.get(&authorize_url(&server, &client, &[]));
    let res = browser.fill_login(res, "alice", PASSWORD);
    let consent = location(&res).unwrap();
    let res = browser.approve_consent(&consent, "deny");
    assert_eq!(res.status(), 303);
    let cb = Callback::parse(&location(&res).unwrap());
    assert_eq!(cb.param("error"), Some("access_denied"));
    assert_eq!(cb.param("iss"), Some(server.base.as_str()));
}
}

crate::both! {
    fn login_hint_prefills_username() {
    let server = TestServer::start();
    let client = server.confidential();
    let browser = Browser::new();
    let res = browser.get(&authorize_url(
        &server,
        &client,
        &[("login_hint", "carol\"<b>")],
    ));
    let html = res.text().unwrap();
    assert!(!html.contains("carol\"<b>"), "escaped");
    assert_eq!(hidden(&html, "username"), "carol\"<b>");
}
}

crate::both! {
    fn session_cookie_is_protected_and_renewed_at_every_login() {
    let server = TestServer::start();
    server.add_user("alice");
    let client = server.add_client(ClientSpec {
        first_party: true,
        ..Default::default()
    });
    let browser = Browser::new();
    let mut cookies = Vec::new();
    for _ in 0..2 {
        let res = browser.get(&authorize_url(&server, &client, &[("prompt", "login")]));
        let res = browser.fill_login(res, "alice", PASSWORD);
        assert_eq!(res.status(), 303);
        let set_cookie = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .find(|c| c.starts_with("portcullis_session="))
            .expect("session cookie set");
        assert!(set_cookie.contains("HttpOnly"));
        assert!(set_cookie.contains("SameSite=Lax"));
        assert!(
            !set_cookie.contains("Secure"),
            "http issuer: no Secure flag"
        );
        cookies.push(set_cookie.split(';').next().unwrap().to_owned());
    }
    assert_ne!(cookies[0], cookies[1], "a new session id at every login");
}
}

crate::both! {
    fn secure_cookie_when_issuer_is_https() {
    let server = TestServer::start_with(|c| c.issuer = "https://127.0.0.1".into());
    server.add_user("alice");
    let client = server.confidential();
    let browser = Browser::new();
    let page = browser.get(&authorize_url(&server, &client, &[]));
    let set_cookie = page.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set_cookie.contains("Secure"), "{set_cookie}");
}
}

crate::both! {
    fn wrong_password_and_unknown_user_look_the_same() {
    let server = TestServer::start();
    server.add_user("alice");
    let client = server.confidential();
    let mut bodies = Vec::new();
    for (user, pw) in [("alice", "wrong password"), ("nobody", PASSWORD)] {
        let browser = Browser::new();
        let res = browser.get(&authorize_url(&server, &client, &[]));
        let res = browser.fill_login(res, user, pw);
        assert_eq!(res.status(), 200);
        assert!(
            res.headers()
                .get("set-cookie")
                .is_none_or(|c| !c.to_str().unwrap().contains("portcullis_session"))
        );
        let html = res.text().unwrap();
        assert!(html.contains("Incorrect username or password."));
        bodies.push(html.replace(user, "USER"));
    }
    // Same page apart from the echoed username, the request id and the CSRF token.
    let strip = |h: &str| {
        h.lines()
            .filter(|l| !l.contains("name=\"csrf\"") && !l.contains("name=\"request\""))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(strip(&bodies[0]), strip(&bodies[1]));
}
}

crate::both! {
    fn username_echoed_after_failed_login_is_escaped() {
    let server = TestServer::start();
    let client = server.confidential();
    let browser = Browser::new();
    let res = browser.get(&authorize_url(&server, &client, &[]));
    let res = browser.fill_login(
        res,
        "\"><script>x()</script>",
        "whatever1",
    );
    let html = res.text().unwrap();
    assert!(!html.contains("<script>x()"));
    assert_eq!(hidden(&html, "username"), "\"><script>x()</script>");
}
}

crate::both! {
    fn login_with_wrong_or_missing_csrf_is_refused() {
    let server = TestServer::start();
    server.add_user("alice");
    let client = server.confidential();
    let browser = Browser::new();
    let html = browser.html(&authorize_url(&server, &client, &[]));
    let request = hidden(&html, "request");
    let login = server.url(&format!("/login?request={request}"));
    for csrf in ["", "forged-token"] {
        let res = browser.post(
            &server.url("/login"),
            &[
                ("request", &request),
                ("csrf", csrf),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
        );
        assert_eq!(res.status(), 400);
        assert!(
            res.headers()
                .get_all("set-cookie")
                .iter()
                .all(|c| !c.to_str().unwrap().starts_with("portcullis_session"))
        );
    }
    // A token taken from another browser does not fit this one.
    let other = Browser::new();
    let other_csrf = hidden(&other.get(&login).text().unwrap(), "csrf");
    let res = browser.post(
        &server.url("/login"),
        &[
            ("request", &request),
            ("csrf", &other_csrf),
            ("username", "alice"),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(res.status(), 400);
}
}

crate::both! {
    fn consent_with_wrong_csrf_is_refused() {
    let server = TestServer::start();
    server.add_user("alice");
    let client = server.confidential();
    let browser = Browser::new();
    let res = browser.get(&authorize_url(&server, &client, &[]));
    let res = browser.fill_login(res, "alice", PASSWORD);
    let consent = location(&res).unwrap();
    let html = browser.get(&consent).text().unwrap();
    let request = hidden(&html, "request");
    for csrf in ["", "forged"] {
        let res = browser.post(
            &server.url("/consent"),
            &[
                ("request", &request),
                ("csrf", csrf),
                ("decision", "approve"),
            ],
        );
        assert_eq!(res.status(), 400);
        assert!(location(&res).is_none());
    }
    // The real token still works afterwards: nothing was consumed.
    let res = browser.approve_consent(&consent, "approve");
    assert!(
        Callback::parse(&location(&res).unwrap())
            .param("code")
            .is_some()
    );
}
}

crate::both! {
    fn html_pages_carry_security_headers() {
    let server = TestServer::start();
    let client = server.confidential();
    let browser = Browser::new();
    let page = browser.get(&authorize_url(&server, &client, &[]));
    let error = browser.get(&server.url("/authorize?client_id=unknown"));
    for res in [page, error] {
        let h = res.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"));
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["cache-control"], "no-store");
    }
    let css = browser.get(&server.url("/static/style.css"));
    assert_eq!(css.status(), 200);
    assert!(
        css.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
}
}

/// A login from a fresh browser, through the form /authorize shows.
fn login_attempt(
    server: &TestServer,
    client: &support::TestClient,
    user: &str,
    password: &str,
) -> reqwest::blocking::Response {
    let browser = Browser::new();
    let res = browser.get(&authorize_url(server, client, &[]));
    browser.fill_login(res, user, password)
}

crate::both! {
    fn repeated_failures_throttle_a_username_whether_or_not_it_exists() {
    let server = TestServer::start();
    server.add_user("alice");
    let client = server.confidential();
    let attempt = |user: &str, pw: &str| login_attempt(&server, &client, user, pw);
    for _ in 0..10 {
        assert_eq!(attempt("alice", "wrong password").status(), 200);
        assert_eq!(attempt("nobody-here", "wrong password").status(), 200);
    }
    for user in ["alice", "nobody-here"] {
        let res = attempt(user, PASSWORD);
        assert_eq!(res.status(), 429, "{user}: the same answer either way");
        assert!(res.text().unwrap().contains("Too many failed sign-ins"));
    }
    server.clock.advance(portcullis::service::login::THROTTLE_WINDOW_SECS + 1);
    let res = attempt("alice", PASSWORD);
    assert_eq!(res.status(), 303, "the window has passed");
}
}

crate::both! {
    fn repeated_failures_from_one_address_throttle_every_username() {
    // Names counted apart, the address counts them all: a hundred failures
    // from here, each under another name, and even a right password for a
    // name never tried is refused.
    let server = TestServer::start();
    server.add_user("alice");
    let client = server.confidential();
    let attempt = |user: &str, pw: &str| login_attempt(&server, &client, user, pw);
    for i in 0..100 {
        assert_eq!(attempt(&format!("guess-{i}"), "wrong").status(), 200, "{i}");
    }
    let res = attempt("alice", PASSWORD);
    assert_eq!(res.status(), 429);
    server.clock.advance(portcullis::service::login::THROTTLE_WINDOW_SECS + 1);
    assert_eq!(attempt("alice", PASSWORD).status(), 303, "the window has passed");
}
}

crate::both! {
    fn login_post_takes_the_request_one_step_further() {
    let server = TestServer::start();
    server.add_user("alice");
    let first = server.add_client(ClientSpec {
        first_party: true,
        ..Default::default()
    });
    let third = server.add_client(ClientSpec::default());
    let login_page = |client| {
        let browser = Browser::new();
        let res = browser.get(&authorize_url(&server, client, &[]));
        (browser, res)
    };

    // First party: the login answers the client itself, as
    // /authorize/continue would, with the code, state and issuer.
    let (browser, page) = login_page(&first);
    let res = browser.fill_login(page, "alice", PASSWORD);
    assert_eq!(res.status(), 303);
    assert!(
        res.headers()
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("portcullis_session=")),
        "the session starts in the same response"
    );
    let cb = Callback::parse(&location(&res).unwrap());
    assert!(cb.url.starts_with(&first.redirect), "{}", cb.url);
    assert_eq!(cb.param("state"), Some("st-123"));
    assert_eq!(cb.param("iss"), Some(server.base.as_str()));
    let body = support::exchange(&server, &first, cb.param("code").unwrap(), "");
    assert!(body["id_token"].is_string());

    // Third party without consent on record: on to the consent page.
    let (browser, page) = login_page(&third);
    let res = browser.fill_login(page, "alice", PASSWORD);
    assert_eq!(res.status(), 303);
    let consent = location(&res).unwrap();
    assert!(consent.contains("/consent?request="), "{consent}");
    let res = browser.approve_consent(&consent, "approve");
    let cb = Callback::parse(&location(&res).unwrap());
    assert!(cb.param("code").is_some());

    // A wrong password still shows the form again, with no redirect.
    let (browser, page) = login_page(&first);
    let res = browser.fill_login(page, "alice", "not the password");
    assert_eq!(res.status(), 200);
    assert!(location(&res).is_none());

    // The client disabled while the user was on the form: an error page,
    // never a redirect to it; the sign-in itself still counts.
    let (browser, page) = login_page(&first);
    let mut record = server.provider.store.client(&first.id).unwrap().unwrap();
    record.disabled = true;
    server.provider.store.update_client(&record).unwrap();
    let res = browser.fill_login(page, "alice", PASSWORD);
    assert_eq!(res.status(), 400);
    assert!(location(&res).is_none());
    assert!(
        res.headers()
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("portcullis_session="))
    );
}
}

/// Posts the login form in `html` as `alice`.
fn post_login_form(
    server: &TestServer,
    browser: &Browser,
    html: &str,
) -> reqwest::blocking::Response {
    browser.post(
        &server.url("/login"),
        &[
            ("request", &hidden(html, "request")),
            ("csrf", &hidden(html, "csrf")),
            ("username", "alice"),
            ("password", PASSWORD),
        ],
    )
}

crate::both! {
    fn a_sealed_form_sent_twice_reaches_consent_both_times() {
    // A double click, or Back and send again: the same sealed request
    // comes back, for a client that needs consent. With prompt=login the
    // second login must not be asked for a third.
    let server = TestServer::start();
    server.add_user("alice");
    let client = server.confidential();
    for prompt in [None, Some("login")] {
        let browser = Browser::new();
        let extra: Vec<_> = prompt.iter().map(|p| ("prompt", *p)).collect();
        let html = browser.html(&authorize_url(&server, &client, &extra));
        for round in 0..2 {
            let res = post_login_form(&server, &browser, &html);
            assert_eq!(res.status(), 303, "{prompt:?} {round}");
            let next = location(&res).unwrap();
            assert!(next.contains("/consent?request="), "{prompt:?} {round}: {next}");
            let page = browser.get(&next);
            assert_eq!(page.status(), 200, "{prompt:?} {round}");
            assert!(page.text().unwrap().contains("name=\"decision\""));
        }
    }
}
}

crate::both! {
    fn a_waiting_request_follows_changes_to_its_client() {
    // A request sealed into a login form comes back after an administrator
    // changed the client: it is held to the client as it is now.
    let server = TestServer::start();
    server.add_user("alice");
    let client = server.add_client(ClientSpec {
        first_party: true,
        ..Default::default()
    });
    let store = &server.provider.store;
    let original = store.client(&client.id).unwrap().unwrap();
    let change = |f: &dyn Fn(&mut ClientRecord)| {
        let mut record = original.clone();
        f(&mut record);
        assert!(store.update_client(&record).unwrap());
    };
    type Edit<'a> = &'a dyn Fn(&mut ClientRecord);
    let cases: [(Edit, &str); 3] = [
        // Its redirect URI replaced: an error page, never the old URI.
        (&|c| c.redirect_uris = r#"["https://new.example/cb"]"#.into(), "redirect_uri"),
        // Made public: a request without PKCE is no longer one it may make.
        (&|c| c.secret_hash = None, "expired"),
        // A scope taken away.
        (&|c| c.allowed_scopes = "openid".into(), "expired"),
    ];
    for (edit, says) in cases {
        change(&|_| {});
        let browser = Browser::new();
        let html = browser.html(&authorize_url(&server, &client, &[]));
        change(edit);
        let res = post_login_form(&server, &browser, &html);
        assert_eq!(res.status(), 400, "{says}");
        assert!(location(&res).is_none(), "{says}");
        assert!(res.text().unwrap().contains(says), "{says}");
    }
}
}

crate::both! {
    fn a_client_made_public_redeems_no_code_without_pkce() {
    // A code issued without a challenge to a confidential client, which is
    // then made public: without its secret nobody may redeem it.
    let server = TestServer::start();
    server.add_user("alice");
    let client = server.add_client(ClientSpec {
        first_party: true,
        ..Default::default()
    });
    let callback = Browser::new().authorize(
        &server.base,
        &authorize_url(&server, &client, &[]),
        "alice",
        PASSWORD,
    );
    let code = callback.param("code").unwrap().to_owned();
    let store = &server.provider.store;
    let mut record = store.client(&client.id).unwrap().unwrap();
    record.secret_hash = None;
    assert!(store.update_client(&record).unwrap());
    let res = support::token_request(
        &server,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &client.redirect),
            ("client_id", &client.id),
        ],
    );
    assert_eq!(res.status(), 400);
    let body: serde_json::Value = res.json().unwrap();
    assert_eq!(body["error"], "invalid_grant");
}
}

crate::both! {
    fn consent_and_continue_follow_changes_to_the_client() {
    // A request on the consent page, and one sealed in a login form, when
    // an administrator then disables the client or replaces its redirect
    // URI: neither a denial nor an approval nor /authorize/continue may
    // send the browser to the old URI, and no consent is recorded.
    type Edit<'a> = &'a dyn Fn(&mut ClientRecord);
    let edits: [Edit; 2] = [
        &|c| c.redirect_uris = r#"["https://new.example/cb"]"#.into(),
        &|c| c.disabled = true,
    ];
    for (i, edit) in edits.into_iter().enumerate() {
        let server = TestServer::start();
        server.add_user("alice");
        let first = server.add_client(ClientSpec {
            first_party: true,
            ..Default::default()
        });
        let third = server.confidential();
        let store = &server.provider.store;
        let browser = Browser::new();
        let sealed = hidden(
            &browser.html(&authorize_url(&server, &first, &[])),
            "request",
        );
        let res = browser.fill_login(browser.get(&authorize_url(&server, &third, &[])), "alice", PASSWORD);
        let consent = browser.get(&location(&res).unwrap()).text().unwrap();
        for client in [&first, &third] {
            let mut record = store.client(&client.id).unwrap().unwrap();
            edit(&mut record);
            assert!(store.update_client(&record).unwrap());
        }
        let resumed = browser.get(&server.url(&format!("/authorize/continue?request={sealed}")));
        assert_eq!(resumed.status(), 400, "{i}: continue");
        for decision in ["deny", "approve"] {
            let res = browser.post(
                &server.url("/consent"),
                &[
                    ("request", &hidden(&consent, "request")),
                    ("csrf", &hidden(&consent, "csrf")),
                    ("decision", decision),
                ],
            );
            assert_eq!(res.status(), 400, "{i}: {decision}");
            assert!(location(&res).is_none(), "{i}: {decision}");
        }
        let user = store.user_by_username("alice").unwrap().unwrap();
        assert!(store.consent(&user.id, &third.id).unwrap().is_none(), "{i}");
    }
}
}
