//! Operations: a database outage answered with 503 and recovered from
//! without a restart, readiness, and graceful shutdown on SIGTERM.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::db::{self, Backend};
use crate::support::outage::Proxy;
use crate::support::process::Instance;
use crate::support::{self, ClientSpec, TestServer, userinfo};

fn until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

fn outage_lines() -> usize {
    support::logs::captured()
        .lines()
        .filter(|l| l.contains("database unreachable"))
        .count()
}

#[test]
fn database_outage_gives_503_and_service_resumes() {
    db::run(Backend::Postgres, || {
        let base = url::Url::parse(&db::pg_base_url().unwrap()).unwrap();
        let target = format!(
            "{}:{}",
            base.host_str().unwrap(),
            base.port().unwrap_or(5432)
        );
        let proxy = Proxy::start(target);
        let server = TestServer::start_with(|c| {
            let mut url = url::Url::parse(c.database.url.expose()).unwrap();
            url.set_host(Some("127.0.0.1")).unwrap();
            url.set_port(Some(proxy.port)).unwrap();
            c.database.url = url.to_string().into();
            c.database.connect_timeout_secs = 1;
        });
        server.add_user("alice");
        let client = server.add_client(ClientSpec {
            first_party: true,
            ..Default::default()
        });
        let token = support::access_token(&server, &client, "alice");
        assert_eq!(userinfo(&server, &token).status(), 200);
        // A cached client's client_credentials grant commits from an async
        // task; an outage must answer it too.
        let service = server.machine();
        let machine = || server.client_credentials(&service);
        assert_eq!(machine().status(), 200);
        let before = outage_lines();

        proxy.cut();
        // First, while the client is still cached (a second), so the
        // request takes the path that commits from the HTTP worker.
        let res = machine();
        assert_eq!(res.status(), 503);
        assert_eq!(
            res.json::<Value>().unwrap()["error"],
            "temporarily_unavailable"
        );
        for _ in 0..3 {
            let res = userinfo(&server, &token);
            assert_eq!(res.status(), 503);
            assert_eq!(
                res.json::<Value>().unwrap()["error"],
                "temporarily_unavailable"
            );
        }
        let res = support::token_request(
            &server,
            Some((&client.id, client.secret.as_deref().unwrap())),
            &[
                ("grant_type", "authorization_code"),
                ("code", "x"),
                ("redirect_uri", support::REDIRECT),
            ],
        );
        assert_eq!(res.status(), 503);
        let page = support::http()
            .get(support::authorize_url(&server, &client, &[]))
            .send()
            .unwrap();
        assert_eq!(page.status(), 503);
        assert!(
            page.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let ready = support::http().get(server.url("/readyz")).send().unwrap();
        assert_eq!(ready.status(), 503);
        assert_eq!(ready.text().unwrap(), "database unreachable\n");
        assert_eq!(
            support::http()
                .get(server.url("/healthz"))
                .send()
                .unwrap()
                .status(),
            200
        );
        assert_eq!(
            outage_lines() - before,
            1,
            "the outage is logged once, not per request"
        );

        proxy.restore();
        until("service to resume", || {
            userinfo(&server, &token).status() == 200
        });
        until("token issue to resume", || machine().status() == 200);
        assert_eq!(
            support::http()
                .get(server.url("/readyz"))
                .send()
                .unwrap()
                .status(),
            200
        );
        assert!(support::logs::captured().contains("database reachable again"));
    });
}

#[test]
fn connections_ended_by_the_database_are_replaced() {
    db::run(Backend::Postgres, || {
        use diesel::{Connection, RunQueryDsl};
        let server = TestServer::start();
        server.add_user("alice");
        let client = server.add_client(ClientSpec {
            first_party: true,
            ..Default::default()
        });
        let service = server.machine();
        let token = support::access_token(&server, &client, "alice");
        let machine = || server.client_credentials(&service).status();
        for _ in 0..4 {
            assert_eq!(userinfo(&server, &token).status(), 200);
            assert_eq!(machine(), 200);
        }
        // What a failover or an administrator's pg_terminate_backend does:
        // every session on the database ends under the server, which keeps
        // running without an outage anyone could see.
        let url = server.provider.config.database.url.expose().to_owned();
        let mut admin = diesel::PgConnection::establish(&url).unwrap();
        let ended = diesel::sql_query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .execute(&mut admin)
        .unwrap();
        assert!(ended >= 2, "pooled and writer connections were open");
        // A dead pooled connection is found by its check (once it has gone
        // a second unchecked) or by the one request it fails, and replaced;
        // the writers reconnect when BEGIN fails. Either way it must not
        // stay in the pool.
        until("reads to work again", || {
            userinfo(&server, &token).status() == 200
        });
        until("writes to work again", || machine() == 200);
        for _ in 0..4 {
            assert_eq!(userinfo(&server, &token).status(), 200);
            assert_eq!(machine(), 200);
        }
    });
}

#[test]
fn readyz_reports_a_migrated_database() {
    let server = TestServer::start();
    let res = support::http().get(server.url("/readyz")).send().unwrap();
    assert_eq!(res.status(), 200);
}

#[test]
fn sigterm_stops_the_server_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.db").display().to_string();
    let mut instance = Instance::spawn(&db, "http://127.0.0.1:8080");
    instance.wait_ready();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &instance.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(exit) = instance.child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "clean exit: {exit:?}");
    assert!(
        support::http()
            .get(format!("{}/healthz", instance.base))
            .send()
            .is_err(),
        "no longer accepting"
    );
}

#[test]
fn a_held_lock_gives_503_not_a_hung_request() {
    db::run(Backend::Postgres, || {
        use diesel::Connection;
        use diesel::connection::SimpleConnection;
        let server = TestServer::start();
        server.add_user("alice");
        let client = server.add_client(ClientSpec {
            first_party: true,
            ..Default::default()
        });
        let family = support::tokens_with_refresh(&server, &client, "alice");
        let url = server.provider.config.database.url.expose().to_owned();
        let mut blocker = diesel::pg::PgConnection::establish(&url).unwrap();
        blocker
            .batch_execute("BEGIN; LOCK TABLE refresh_tokens IN ACCESS EXCLUSIVE MODE;")
            .unwrap();
        let started = Instant::now();
        let res = support::refresh(
            &server,
            &client,
            family["refresh_token"].as_str().unwrap(),
            &[],
        );
        assert_eq!(res.status(), 503, "lock_timeout answers 503");
        assert!(started.elapsed() < Duration::from_secs(15));
        blocker.batch_execute("ROLLBACK;").unwrap();
        let res = support::refresh(
            &server,
            &client,
            family["refresh_token"].as_str().unwrap(),
            &[],
        );
        assert_eq!(
            res.status(),
            200,
            "the token was not burnt by the failed attempt"
        );
    });
}
