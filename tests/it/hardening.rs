//! Regression tests for problems found by probing the running server, each
//! named for what it pins.

use std::os::unix::fs::PermissionsExt;

use serde_json::Value;

use crate::support::browser::{hidden, location};
use crate::support::{self, Browser, Callback, ClientSpec, PASSWORD, TestServer, authorize_url};

#[test]
fn database_and_its_directory_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let db_dir = dir.path().join("new-data");
    let db = db_dir.join("portcullis.db").display().to_string();
    let _server = TestServer::start_with(|c| c.database.url = db.clone().into());
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&db_dir), 0o700);
    assert_eq!(mode(std::path::Path::new(&db)), 0o600);
    let wal = format!("{db}-wal");
    if std::path::Path::new(&wal).exists() {
        assert_eq!(mode(std::path::Path::new(&wal)), 0o600);
    }
}

crate::both! {
    fn replaying_a_code_as_another_client_revokes_nothing() {
    let server = TestServer::start();
    server.add_user("alice");
    let victim = server.confidential();
    let public = server.public();
    let (code, verifier, _) = support::obtain_code(&server, &victim, "alice");
    let body = support::exchange(&server, &victim, &code, &verifier);
    let access = body["access_token"].as_str().unwrap();
    let res = support::token_request(
        &server,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &victim.redirect),
            ("client_id", &public.id),
            ("code_verifier", &verifier),
        ],
    );
    assert_eq!(res.status(), 400);
    assert_eq!(
        support::userinfo(&server, access).status(),
        200,
        "the victim keeps its tokens"
    );
}
}

crate::both! {
    fn max_age_is_satisfied_by_the_login_of_this_request() {
    let server = TestServer::start();
    server.add_user("alice");
    let client = server.confidential();
    let browser = Browser::new();
    let res = browser.get(&authorize_url(&server, &client, &[("max_age", "0")]));
    let res = browser.fill_login(res, "alice", PASSWORD);
    let consent = location(&res).unwrap();
    assert!(consent.contains("/consent?request="), "{consent}");
    server.clock.advance(30); // reading the consent page
    let res = browser.approve_consent(&consent, "approve");
    let cb = Callback::parse(&location(&res).unwrap());
    assert!(
        cb.param("code").is_some(),
        "not sent back to the login page: {}",
        cb.url
    );
}
}

crate::both! {
    fn registered_loopback_port_is_exact() {
    let server = TestServer::start();
    let client = server.add_client(ClientSpec {
        redirect: "http://127.0.0.1:19090/cb".into(),
        ..Default::default()
    });
    let url = |uri: &str| {
        let uri: String = form_urlencoded::byte_serialize(uri.as_bytes()).collect();
        server.url(&format!(
            "/authorize?response_type=code&scope=openid&client_id={}&redirect_uri={uri}",
            client.id
        ))
    };
    assert!(support::is_login_form(
        support::http()
            .get(url("http://127.0.0.1:19090/cb"))
            .send()
            .unwrap()
    ));
    for other in [
        "http://127.0.0.1:19091/cb",
        "http://127.0.0.1/cb",
        "http://127.0.0.1:0/cb",
    ] {
        let res = support::http().get(url(other)).send().unwrap();
        assert_eq!(res.status(), 400, "{other}");
        assert!(location(&res).is_none());
    }
}
}

crate::both! {
    fn framework_errors_keep_our_form() {
    let server = TestServer::start();
    for path in [
        "/consent",
        "/authorize/continue",
        "/consent?request=a&request=b",
        "/nowhere",
    ] {
        let res = support::http().get(server.url(path)).send().unwrap();
        assert!(res.status().is_client_error(), "{path}");
        assert!(
            res.headers().contains_key("content-security-policy"),
            "{path}: an error page"
        );
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
    }
    let big = "x".repeat(100 * 1024);
    let res = support::http()
        .post(server.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("grant_type=authorization_code&code={big}"))
        .send()
        .unwrap();
    assert_eq!(res.status(), 413);
    let body: Value = res.json().unwrap();
    assert_eq!(body["error"], "invalid_request");
    let res = support::http().get(server.url("/token")).send().unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.json::<Value>().unwrap()["error"], "invalid_request");
}
}

crate::both! {
    fn invalid_utf8_and_oversized_state_are_refused_without_echo() {
    let server = TestServer::start();
    let client = server.confidential();
    let base = authorize_url(&server, &client, &[]);
    for (state, echoed) in [("%FF%FE", None), (&*"s".repeat(3000), None)] {
        let url = base.replace("state=st-123", &format!("state={state}"));
        let res = support::http().get(&url).send().unwrap();
        assert_eq!(res.status(), 302);
        let cb = Callback::parse(&location(&res).unwrap());
        assert_eq!(cb.param("error"), Some("invalid_request"));
        assert_eq!(cb.param("state"), echoed);
    }
}
}

crate::both! {
    fn access_token_dated_in_the_future_is_refused() {
    let server = TestServer::start();
    let sub = server.add_user("alice");
    let now = server.clock_now();
    let claims = serde_json::json!({
        "iss": server.base, "sub": sub, "aud": server.base, "exp": now + 7200,
        "iat": now + 3600, "jti": "future", "client_id": "x", "scope": "openid",
    });
    let token = portcullis::crypto::jwt::sign(
        &server.provider.keys.ring(),
        portcullis::crypto::keys::Alg::ES256,
        "at+jwt",
        claims.as_object().unwrap().clone(),
    )
    .unwrap();
    assert_eq!(support::userinfo(&server, &token).status(), 401);
}
}

crate::both! {
    fn https_issuer_sends_hsts() {
    let server = TestServer::start_with(|c| c.issuer = "https://127.0.0.1".into());
    let res = support::http().get(server.url("/jwks")).send().unwrap();
    assert_eq!(
        res.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    let plain = TestServer::start();
    let res = support::http().get(plain.url("/jwks")).send().unwrap();
    assert!(!res.headers().contains_key("strict-transport-security"));
}
}

crate::both! {
    fn consent_page_names_the_account_and_orders_scopes() {
    let server = TestServer::start();
    server.add_user("alice");
    let client = server.confidential();
    let browser = Browser::new();
    let res = browser.get(&authorize_url(
        &server,
        &client,
        &[("scope", "email openid profile")],
    ));
    let res = browser.fill_login(res, "alice", PASSWORD);
    let consent = location(&res).unwrap();
    let html = browser.get(&consent).text().unwrap();
    assert!(html.contains("Signed in as <strong>alice</strong>"));
    let sign_in = html.find("Sign you in").unwrap();
    let email = html.find("email address").unwrap();
    assert!(sign_in < email, "openid first");
    assert_eq!(
        browser.get(&server.url("/static/favicon.svg")).status(),
        200
    );
}
}

crate::both! {
    fn expired_rows_are_swept_and_live_ones_kept() {
    let server = TestServer::start();
    server.add_user("alice");
    let client = server.add_client(ClientSpec {
        first_party: true,
        ..Default::default()
    });
    // A pending request nobody finishes (a POSTed request is stored; a GET
    // one travels sealed in its login form), a session, a grant with a code
    // and an access token, and a refresh-token family.
    let posted = support::http()
        .post(server.url("/authorize"))
        .form(&[
            ("response_type", "code"),
            ("client_id", client.id.as_str()),
            ("redirect_uri", client.redirect.as_str()),
            ("scope", "openid"),
        ])
        .send()
        .unwrap();
    assert_eq!(posted.status(), 303);
    support::access_token(&server, &client, "alice");
    let family = support::tokens_with_refresh(&server, &client, "alice");

    let purged = server.sweep_after(2 * support::DAY);
    assert!(purged.pending_requests >= 1, "{purged:?}");
    assert!(purged.login_sessions >= 1, "{purged:?}");
    assert!(purged.access_tokens >= 2, "{purged:?}");
    assert!(purged.grants >= 1, "{purged:?}");
    // The family lives 30 days: it survived the sweep.
    let rt = family["refresh_token"].as_str().unwrap();
    assert_eq!(support::refresh(&server, &client, rt, &[]).status(), 200);
}
}

/// Polls a future once; its output if it was ready.
async fn futures_poll_once<F: std::future::Future + Unpin>(mut f: F) -> Option<F::Output> {
    std::future::poll_fn(|cx| {
        std::task::Poll::Ready(match std::pin::Pin::new(&mut f).poll(cx) {
            std::task::Poll::Ready(v) => Some(v),
            std::task::Poll::Pending => None,
        })
    })
    .await
}

#[test]
fn hash_pool_refuses_when_its_queue_is_full() {
    use portcullis::service::limits::{HashPool, LOGIN_THREADS_PER_CORE};
    use std::sync::mpsc;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let pool = std::sync::Arc::new(HashPool::new(1, 1, std::time::Duration::from_secs(5)));
        // With one core the pool has LOGIN_THREADS_PER_CORE login threads:
        // as many jobs occupy them, one fills the queue. Each job is
        // submitted once the one before it has started, so the one-place
        // queue is free for it.
        let (started, has_started) = mpsc::channel::<()>();
        let mut releases = Vec::new();
        let mut busy = Vec::new();
        for _ in 0..LOGIN_THREADS_PER_CORE {
            let (release, wait) = mpsc::channel::<()>();
            releases.push(release);
            let (p, started) = (pool.clone(), started.clone());
            busy.push(tokio::spawn(async move {
                p.run(move || {
                    started.send(()).unwrap();
                    wait.recv().is_ok()
                })
                .await
            }));
            // Polled, not waited on: the spawned task needs this thread.
            while has_started.try_recv().is_err() {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
        }
        let p = pool.clone();
        let (sent, was_sent) = tokio::sync::oneshot::channel::<()>();
        let queued = tokio::spawn(async move {
            let answer = p.run(|| 2);
            // `run` queues its job when first polled.
            let mut answer = std::pin::pin!(answer);
            let first = futures_poll_once(answer.as_mut()).await;
            let _ = sent.send(());
            match first {
                Some(v) => v,
                None => answer.await,
            }
        });
        was_sent.await.unwrap();
        assert!(
            pool.run(|| 3).await.is_none(),
            "a full queue is refused at once"
        );
        for release in releases {
            release.send(()).unwrap();
        }
        for b in busy {
            assert_eq!(b.await.unwrap(), Some(true));
        }
        assert_eq!(queued.await.unwrap(), Some(2));
        assert_eq!(pool.run(|| 4).await, Some(4));
    });
}

crate::both! {
    fn a_consent_posted_twice_issues_one_code() {
    let server = TestServer::start();
    server.add_user("alice");
    let client = server.confidential();
    let browser = Browser::new();
    let res = browser.get(&authorize_url(&server, &client, &[]));
    let res = browser.fill_login(res, "alice", PASSWORD);
    let consent = location(&res).unwrap();
    let page = browser.get(&consent).text().unwrap();
    let (request, csrf) = (hidden(&page, "request"), hidden(&page, "csrf"));
    let form = [
        ("request", request.as_str()),
        ("csrf", csrf.as_str()),
        ("decision", "approve"),
    ];
    // The same form twice at once (a double click): one code, and an
    // error page for the other.
    let answers: Vec<_> = std::thread::scope(|scope| {
        let post = || scope.spawn(|| browser.post(&server.url("/consent"), &form));
        let (a, b) = (post(), post());
        vec![a.join().unwrap(), b.join().unwrap()]
    });
    let codes = answers
        .iter()
        .filter_map(location)
        .filter(|l| Callback::parse(l).param("code").is_some())
        .count();
    assert_eq!(codes, 1);
    assert!(answers.iter().any(|r| r.status().is_client_error()));
}
}

crate::both! {
    fn a_pending_request_yields_one_grant() {
    use portcullis::storage::grants::{CodeRecord, GrantRecord};
    use portcullis::storage::pending::PendingRecord;
    let server = TestServer::start();
    let client = server.confidential();
    let store = &server.provider.store;
    let now = server.clock_now();
    let pending = PendingRecord {
        id: "pending-1".into(),
        client_id: client.id.clone(),
        redirect_uri: client.redirect.clone(),
        scope: "openid".into(),
        state: None,
        nonce: None,
        code_challenge: None,
        response_mode: "query".into(),
        prompt: None,
        max_age: None,
        login_hint: None,
        authenticated_session_id: None,
        created_at: now,
        expires_at: now + 600,
    };
    store.insert_pending(&pending).unwrap();
    let issue = |n: &str| {
        let grant = GrantRecord {
            id: format!("grant-{n}"),
            client_id: client.id.clone(),
            user_id: None,
            session_id: None,
            scope: "openid".into(),
            auth_time: None,
            created_at: now,
            expires_at: None,
            revoked_at: None,
        };
        let code = CodeRecord {
            code_hash: format!("code-{n}"),
            grant_id: grant.id.clone(),
            redirect_uri: client.redirect.clone(),
            nonce: None,
            code_challenge: None,
            expires_at: now + 60,
            used_at: None,
        };
        store.issue_code(Some(&pending.id), &grant, &code, None).unwrap()
    };
    assert!(issue("a"));
    assert!(!issue("b"), "the request is used up");
    assert!(store.code_with_grant("code-a").unwrap().is_some());
    assert!(store.code_with_grant("code-b").unwrap().is_none(), "nothing written");
}
}

crate::both! {
    fn consents_saved_at_once_all_count() {
    // Eight approvals at once, each for a scope of its own (tabs, double
    // clicks): every one succeeds and none is lost.
    let server = TestServer::start();
    let user = server.add_user("alice");
    let client = server.confidential();
    let store = &server.provider.store;
    let now = server.clock_now();
    let barrier = std::sync::Barrier::new(8);
    std::thread::scope(|scope| {
        let saves: Vec<_> = (0..8)
            .map(|i| {
                let (barrier, user, client) = (&barrier, &user, &client);
                scope.spawn(move || {
                    barrier.wait();
                    store.save_consent(user, &client.id, now, |previous| {
                        let mine = format!("s{i}");
                        match previous {
                            Some(previous) => format!("{previous} {mine}"),
                            None => mine,
                        }
                    })
                })
            })
            .collect();
        for save in saves {
            save.join().unwrap().unwrap();
        }
    });
    let saved = store.consent(&user, &client.id).unwrap().unwrap().scope;
    let mut scopes: Vec<_> = saved.split(' ').collect();
    scopes.sort_unstable();
    assert_eq!(scopes, ["s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7"]);
}
}
