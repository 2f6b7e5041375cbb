//! The group-commit writer under contention and failure: another writer
//! holding SQLite's lock, and a PostgreSQL COMMIT whose answer is lost.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::{PgConnection, SqliteConnection};

use portcullis::storage::Store;
use portcullis::storage::audit::AuditRecord;
use portcullis::storage::grants::{AccessTokenRecord, GrantRecord};
use portcullis::storage::refresh::{RefreshRecord, RefreshWrite, Rotation};
use portcullis::storage::schema::{audit_events, grants, refresh_tokens};

use crate::support::db::{self, Backend, TestDb};

const SETUP: &str = "
INSERT INTO clients (id, name, secret_hash, first_party, redirect_uris, post_logout_redirect_uris,
  allowed_scopes, grant_types, refresh_without_offline_access, access_token_ttl_secs,
  refresh_absolute_ttl_secs, refresh_idle_ttl_secs, disabled, created_at)
  VALUES ('c', 'C', NULL, FALSE, '[]', '[]', 'openid', '[\"refresh_token\"]', FALSE, NULL, NULL, NULL, FALSE, 0);
INSERT INTO grants (id, client_id, user_id, session_id, scope, auth_time, created_at, expires_at, revoked_at)
  VALUES ('g', 'c', NULL, NULL, 'openid', NULL, 0, NULL, NULL);
INSERT INTO refresh_tokens (token_hash, id, grant_id, client_id, created_at, expires_at, retired_at, grace_used)
  VALUES ('h', 'r', 'g', 'c', 0, 9999999999, NULL, FALSE);
";

static SEQ: AtomicUsize = AtomicUsize::new(0);

fn audit(kind: &str) -> AuditRecord {
    AuditRecord {
        id: format!("a{}", SEQ.fetch_add(1, SeqCst)),
        at: 10,
        kind: kind.into(),
        outcome: "success".into(),
        actor_user_id: None,
        subject_user_id: None,
        client_id: Some("c".into()),
        source_ip: None,
        detail: None,
    }
}

/// What the service's `decide` does, reduced to no grace window: a live
/// token rotates, a retired one revokes its family.
fn decide(
    calls: Arc<AtomicUsize>,
) -> impl FnMut(&RefreshRecord, &GrantRecord) -> (RefreshWrite, &'static str) + Send + 'static {
    move |token: &RefreshRecord, _grant: &GrantRecord| {
        calls.fetch_add(1, SeqCst);
        if token.retired_at.is_some() {
            let write = RefreshWrite::RevokeFamily {
                at: 10,
                audit: audit("refresh_reuse_detected"),
            };
            return (write, "reuse detected, family revoked");
        }
        let n = SEQ.fetch_add(1, SeqCst);
        let rotation = Rotation {
            retire: true,
            successor: RefreshRecord {
                token_hash: format!("h{n}"),
                id: format!("r{n}"),
                grant_id: "g".into(),
                client_id: "c".into(),
                created_at: 10,
                expires_at: 9_999_999_999,
                retired_at: None,
                grace_used: false,
            },
            access: AccessTokenRecord {
                jti: format!("j{n}"),
                grant_id: Some("g".into()),
                client_id: "c".into(),
                expires_at: 9_999_999_999,
                revoked_at: None,
            },
            audit: audit("token_refreshed"),
        };
        (RefreshWrite::Rotate(Box::new(rotation)), "rotated")
    }
}

/// SQLite: while another connection (the CLI, a second process) holds the
/// write lock for 300 ms, both a write-first job and a refresh step, which
/// reads before it writes, wait for it (the writer begins IMMEDIATE).
#[test]
fn sqlite_refresh_waits_for_another_writer() {
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("r.db").display().to_string();
    let store = Store::open(&url, 4, Duration::from_secs(5)).unwrap();
    let mut other = SqliteConnection::establish(&url).unwrap();
    other.batch_execute("PRAGMA busy_timeout = 5000;").unwrap();
    other.batch_execute(SETUP).unwrap();

    // Control: an audit insert (write first) waits for the lock and succeeds.
    other
        .batch_execute(
            "BEGIN IMMEDIATE; INSERT INTO server_secrets (name, value) VALUES ('x1', 'v');",
        )
        .unwrap();
    let s = store.clone();
    let control =
        std::thread::spawn(move || s.insert_audit(audit("control")).map_err(|e| e.to_string()));
    std::thread::sleep(Duration::from_millis(300));
    other.batch_execute("COMMIT").unwrap();
    let control = control.join().unwrap();

    // The refresh step under the same conditions.
    other
        .batch_execute(
            "BEGIN IMMEDIATE; INSERT INTO server_secrets (name, value) VALUES ('x2', 'v');",
        )
        .unwrap();
    let s = store.clone();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let refresh = std::thread::spawn(move || {
        let t = Instant::now();
        let r = s
            .refresh_step("h".into(), decide(c))
            .map_err(|e| e.to_string());
        (r, t.elapsed())
    });
    std::thread::sleep(Duration::from_millis(300));
    other.batch_execute("COMMIT").unwrap();
    let (refresh, took) = refresh.join().unwrap();
    assert!(control.is_ok(), "control: {control:?}");
    assert!(
        refresh.is_ok(),
        "refresh_step failed after {took:?}: {refresh:?}"
    );
}

/// A TCP relay to 127.0.0.1:5432 that, once armed, lets the next COMMIT
/// reach the server and then cuts the client off before the answer: the
/// transaction is committed, the client sees a lost connection.
fn cutting_relay(armed: Arc<AtomicBool>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(server) = TcpStream::connect("127.0.0.1:5432") else {
                continue;
            };
            let cut = Arc::new(AtomicBool::new(false));
            let (mut c_read, mut s_write) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (mut s_read, mut c_write) = (server, client);
            let cut2 = cut.clone();
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                loop {
                    let n = match s_read.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if cut2.load(SeqCst) {
                        break;
                    }
                    if c_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = c_write.shutdown(Shutdown::Both);
            });
            let armed = armed.clone();
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                loop {
                    let n = match c_read.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let chunk = &buf[..n];
                    let commit =
                        chunk.windows(6).any(|w| w == b"COMMIT") && armed.swap(false, SeqCst);
                    if commit {
                        cut.store(true, SeqCst);
                    }
                    if s_write.write_all(chunk).is_err() {
                        break;
                    }
                    if commit {
                        std::thread::sleep(Duration::from_millis(500));
                        let _ = c_read.shutdown(Shutdown::Both);
                        let _ = s_write.shutdown(Shutdown::Both);
                        break;
                    }
                }
            });
        }
    });
    port
}

/// PostgreSQL: the COMMIT of a batch succeeds on the server but its answer
/// is lost. The caller gets an error (the outcome is unknown), and the
/// batch is not run again: run again, the one legitimate refresh would see
/// its own rotation as reuse and revoke its own family.
#[test]
fn postgres_commit_with_a_lost_answer_is_not_run_twice() {
    db::run(Backend::Postgres, || {
        let database = TestDb::new();
        let mut direct = PgConnection::establish(&database.url).unwrap();
        let armed = Arc::new(AtomicBool::new(false));
        let port = cutting_relay(armed.clone());
        let relayed = format!(
            "{}?sslmode=disable",
            database
                .url
                .replace("127.0.0.1:5432", &format!("127.0.0.1:{port}"))
        );
        assert_ne!(relayed, format!("{}?sslmode=disable", database.url));
        let store = Store::open(&relayed, 4, Duration::from_secs(5)).unwrap();
        direct.batch_execute(SETUP).unwrap();
        // Warm every writer thread so each holds a connection (the retry
        // only happens on a thread that had one).
        let warm: Vec<_> = (0..16)
            .map(|_| {
                let s = store.clone();
                std::thread::spawn(move || {
                    for _ in 0..10 {
                        s.insert_audit(audit("warm")).unwrap();
                    }
                })
            })
            .collect();
        for h in warm {
            h.join().unwrap();
        }

        armed.store(true, SeqCst);
        let calls = Arc::new(AtomicUsize::new(0));
        let outcome = store
            .refresh_step("h".into(), decide(calls.clone()))
            .map_err(|e| e.to_string());
        let revoked: Option<i64> = grants::table
            .find("g")
            .select(grants::revoked_at)
            .first(&mut direct)
            .unwrap();
        let reuse_rows: i64 = audit_events::table
            .filter(audit_events::kind.eq("refresh_reuse_detected"))
            .count()
            .get_result(&mut direct)
            .unwrap();
        let tokens: i64 = refresh_tokens::table
            .count()
            .get_result(&mut direct)
            .unwrap();
        assert!(!armed.load(SeqCst), "the relay never saw a COMMIT");
        assert_eq!(revoked, None, "a single refresh revoked its own family");
        assert_eq!(reuse_rows, 0, "a false reuse-detected audit row");
        assert_eq!(calls.load(SeqCst), 1, "the job ran again after its commit");
        assert!(
            outcome.is_err(),
            "an unknown outcome reported as {outcome:?}"
        );
        assert_eq!(tokens, 2, "the rotation committed exactly once");
    });
}
