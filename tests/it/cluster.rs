//! Two real server processes on one PostgreSQL database, as behind a load
//! balancer: every piece of state is shared, so any instance can take any
//! step and a revocation on one holds on the other.

use serde_json::{Value, json};

use crate::support::db::{self, Backend, TestDb};
use crate::support::process::{Instance, cli, field};
use crate::support::{self, Browser, PASSWORD, TestClient, authorize_url_at};

fn basic(client: &TestClient) -> String {
    support::basic_header(&client.id, client.secret.as_deref().unwrap())
}

fn post(
    base: &str,
    path: &str,
    client: &TestClient,
    form: &[(&str, &str)],
) -> reqwest::blocking::Response {
    support::http()
        .post(format!("{base}{path}"))
        .header("Authorization", basic(client))
        .form(form)
        .send()
        .unwrap()
}

fn json(res: reqwest::blocking::Response) -> Value {
    assert_eq!(res.status(), 200);
    res.json().unwrap()
}

#[test]
fn two_instances_share_every_piece_of_state() {
    db::run(Backend::Postgres, || {
        let database = TestDb::new();
        let port_a = support::process::free_port();
        let issuer = format!("http://127.0.0.1:{port_a}");
        // Both start at once against an empty database: migrations and the
        // first signing keys must not race.
        let a = Instance::spawn_at(port_a, &database.url, &issuer);
        let b = Instance::spawn(&database.url, &issuer);
        a.wait_ready();
        b.wait_ready();
        let jwks = |i: &Instance| {
            json(
                support::http()
                    .get(format!("{}/jwks", i.base))
                    .send()
                    .unwrap(),
            )
        };
        assert_eq!(jwks(&a), jwks(&b), "both publish the same keys");
        assert_eq!(jwks(&a)["keys"].as_array().unwrap().len(), 2);

        let out = cli(
            &database.url,
            &["user", "add", "alice", "--password-stdin"],
            Some(&format!("{PASSWORD}\n")),
        );
        assert!(out.status.success());
        let out = cli(
            &database.url,
            &[
                "client",
                "add",
                "--name",
                "App",
                "--first-party",
                "--redirect-uri",
                support::REDIRECT,
            ],
            None,
        );
        let client = TestClient {
            id: field(&out, "client_id"),
            secret: Some(field(&out, "client_secret")),
            redirect: support::REDIRECT.into(),
        };
        let rs_out = cli(
            &database.url,
            &[
                "client",
                "add",
                "--name",
                "RS",
                "--redirect-uri",
                support::REDIRECT,
            ],
            None,
        );
        let rs = TestClient {
            id: field(&rs_out, "client_id"),
            secret: Some(field(&rs_out, "client_secret")),
            redirect: String::new(),
        };

        let tokens = |browser_base: &str, token_base: &str| {
            let (verifier, challenge) = support::pkce();
            let url = authorize_url_at(
                browser_base,
                &client,
                &[
                    ("scope", "openid offline_access"),
                    ("code_challenge", &challenge),
                    ("code_challenge_method", "S256"),
                ],
            );
            let cb = Browser::new().authorize(browser_base, &url, "alice", PASSWORD);
            json(post(
                token_base,
                "/token",
                &client,
                &[
                    ("grant_type", "authorization_code"),
                    (
                        "code",
                        cb.param("code").unwrap_or_else(|| panic!("{}", cb.url)),
                    ),
                    ("redirect_uri", support::REDIRECT),
                    ("code_verifier", &verifier),
                ],
            ))
        };

        // Log in on A, exchange the code on B, refresh on A, revoke on B,
        // introspect on A.
        let first = tokens(&a.base, &b.base);
        let rt = first["refresh_token"].as_str().unwrap();
        let refreshed = json(post(
            &a.base,
            "/token",
            &client,
            &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        ));
        let rt2 = refreshed["refresh_token"].as_str().unwrap();
        assert_eq!(
            post(&b.base, "/revoke", &client, &[("token", rt2)]).status(),
            200
        );
        let at = refreshed["access_token"].as_str().unwrap();
        assert_eq!(
            json(post(&a.base, "/introspect", &rs, &[("token", at)])),
            json!({"active": false})
        );
        assert_eq!(
            json(post(&a.base, "/introspect", &rs, &[("token", rt2)])),
            json!({"active": false})
        );

        // Reuse detected on B revokes the family for A too.
        let second = tokens(&a.base, &b.base);
        let old = second["refresh_token"].as_str().unwrap();
        let next = json(post(
            &a.base,
            "/token",
            &client,
            &[("grant_type", "refresh_token"), ("refresh_token", old)],
        ));
        let res = post(
            &b.base,
            "/token",
            &client,
            &[("grant_type", "refresh_token"), ("refresh_token", old)],
        );
        assert_eq!(res.status(), 400, "reuse on B");
        let current = next["refresh_token"].as_str().unwrap();
        let res = post(
            &a.base,
            "/token",
            &client,
            &[("grant_type", "refresh_token"), ("refresh_token", current)],
        );
        assert_eq!(res.status(), 400, "the family is revoked on A as well");
        drop((a, b));
    });
}
