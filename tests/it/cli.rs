//! The operator command line, run as the real binary against a database it
//! shares with a running server.

use std::process::{Command, Output};

use crate::support::browser::location;
use crate::support::process::cli as portcullis;
use crate::support::{self, Browser, Callback, ClientSpec, TestServer, authorize_url};

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn client_add_and_list() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cli.db").display().to_string();
    let out = portcullis(
        &db,
        &[
            "client",
            "add",
            "--name",
            "Shop",
            "--redirect-uri",
            "https://shop.example/cb",
        ],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let secret_line = text
        .lines()
        .find(|l| l.starts_with("client_secret: pcs_"))
        .expect("secret shown once");
    assert!(secret_line.len() > "client_secret: pcs_".len() + 40);

    let out = portcullis(
        &db,
        &[
            "client",
            "add",
            "--name",
            "Mobile",
            "--public",
            "--id",
            "mobile",
            "--redirect-uri",
            "http://127.0.0.1/cb",
        ],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("client_id: mobile"));

    let out = portcullis(&db, &["client", "list"], None);
    let list = stdout(&out);
    assert!(
        list.contains("Shop\tconfidential") && list.contains("mobile\tMobile\tpublic"),
        "{list}"
    );
    assert!(!list.contains("pcs_"), "list never shows secrets");

    let out = portcullis(
        &db,
        &[
            "client",
            "add",
            "--name",
            "Bad",
            "--redirect-uri",
            "http://evil.example/cb",
        ],
        None,
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("https"), "{}", stderr(&out));
}

#[test]
fn user_add_needs_password_on_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cli.db").display().to_string();
    let out = portcullis(&db, &["user", "add", "dave"], None);
    assert!(!out.status.success(), "--password-stdin is required");
    let out = portcullis(
        &db,
        &["user", "add", "dave", "--password-stdin"],
        Some("short\n"),
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("at least 8"));
    let out = portcullis(
        &db,
        &[
            "user",
            "add",
            "dave",
            "--email",
            "d@example.com",
            "--password-stdin",
        ],
        Some("long enough password\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = portcullis(
        &db,
        &["user", "add", "dave", "--password-stdin"],
        Some("long enough password\n"),
    );
    assert!(stderr(&out).contains("already exists"));
}

#[test]
fn unknown_config_key_is_rejected_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cli.db").display().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["--database-url", &db, "client", "list"])
        .env("PORTCULLIS_TOKENS__ACCESS_TOKEN_TTL", "5")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("access_token_ttl"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn set_password_ends_sessions_and_revokes_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db").display().to_string();
    let server = TestServer::start_with(|c| c.database.url = db.clone().into());
    server.add_user("alice");
    let client = server.add_client(ClientSpec {
        first_party: true,
        ..Default::default()
    });
    let (code, verifier, browser) = support::obtain_code(&server, &client, "alice");
    let token = support::exchange(&server, &client, &code, &verifier)["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(support::userinfo(&server, &token).status(), 200);

    let out = portcullis(
        &db,
        &["user", "set-password", "alice", "--password-stdin"],
        Some("a brand new password\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));

    assert_eq!(
        support::userinfo(&server, &token).status(),
        401,
        "token revoked"
    );
    let res = browser.get(&authorize_url(&server, &client, &[("prompt", "none")]));
    assert_eq!(
        Callback::parse(&location(&res).unwrap()).param("error"),
        Some("login_required"),
        "session ended"
    );
    // The new password works, the old does not.
    let cb = Browser::new().authorize(
        &server.base,
        &authorize_url(&server, &client, &[]),
        "alice",
        "a brand new password",
    );
    assert!(cb.param("code").is_some());
}
