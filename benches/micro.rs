//! Micro-benchmarks of the hot pieces: JWT signing and verification per
//! algorithm, refresh-token hashing, sealing a request, and one store transaction of a refresh
//! rotation. Run with `cargo bench --bench micro` (or scripts/bench.sh).

use std::time::Duration;

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use portcullis::crypto::jwt;
use portcullis::crypto::keys::{Alg, KeyRing, SigningKey, StoredKey};
use portcullis::crypto::random;
use portcullis::crypto::seal::SealKey;
use portcullis::secret::Secret;
use portcullis::service::audit;
use portcullis::storage::Store;
use portcullis::storage::grants::{AccessTokenRecord, CodeRecord, GrantRecord};
use portcullis::storage::pending::PendingRecord;
use portcullis::storage::refresh::{CodeRedemption, RefreshRecord, RefreshWrite, Rotation};
use serde_json::json;

fn ring() -> KeyRing {
    let keys = [Alg::RS256, Alg::ES256]
        .map(|a| SigningKey::load(&StoredKey::generate(a).unwrap()).unwrap());
    KeyRing::new(keys.into_iter().collect(), 0)
}

fn claims() -> serde_json::Map<String, serde_json::Value> {
    json!({
        "iss": "https://login.example.com", "sub": "user-1", "aud": "https://login.example.com",
        "exp": 2_000_000_000i64, "iat": 1_700_000_000i64, "jti": "abc",
        "client_id": "client-1", "scope": "openid profile offline_access",
    })
    .as_object()
    .cloned()
    .unwrap()
}

fn jwt_benches(c: &mut Criterion) {
    let ring = ring();
    for alg in [Alg::ES256, Alg::RS256] {
        c.bench_function(&format!("jwt sign {}", alg.name()), |b| {
            b.iter(|| jwt::sign(&ring, alg, "at+jwt", black_box(claims())).unwrap())
        });
        let token = jwt::sign(&ring, alg, "at+jwt", claims()).unwrap();
        c.bench_function(&format!("jwt verify {}", alg.name()), |b| {
            b.iter(|| {
                jwt::verify(
                    &ring,
                    black_box(&token),
                    "at+jwt",
                    &[Alg::ES256, Alg::RS256],
                )
                .unwrap()
            })
        });
    }
}

fn hashing(c: &mut Criterion) {
    let token = random::prefixed_secret("pcr_");
    c.bench_function("refresh token sha256", |b| {
        b.iter(|| random::sha256_hex(black_box(&token)))
    });
    c.bench_function("refresh token generate", |b| {
        b.iter(|| random::prefixed_secret("pcr_"))
    });
}

/// Sealing an authorization request into its login form and opening it
/// again from the form (a typical request's JSON: about 300 bytes).
fn sealing(c: &mut Criterion) {
    let key = SealKey::derive(&Secret::new(random::token(32)), "bench");
    let request = vec![b'x'; 300];
    c.bench_function("seal request", |b| {
        b.iter(|| key.seal("authorize", black_box(&request)))
    });
    let sealed = key.seal("authorize", &request);
    c.bench_function("open sealed request", |b| {
        b.iter(|| key.open("authorize", black_box(&sealed)).unwrap())
    });
}

/// One rotation: retire the old token, insert its successor and the new
/// access token, in one transaction.
fn store_rotation(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let url = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| dir.path().join("bench.db").display().to_string());
    let store = Store::open(&url, 4, Duration::from_secs(5)).unwrap();
    let client = portcullis::service::clients::NewClient {
        id: Some(format!("bench-{}", random::hex_id())),
        name: "bench".into(),
        redirect_uris: vec!["https://app.example/cb".into()],
        post_logout_redirect_uris: vec![],
        public: false,
        first_party: true,
        scopes: None,
        secret: None,
        grant_types: None,
        refresh_without_offline_access: false,
        lifetimes: Default::default(),
        created_by: None,
    };
    let (client_id, _) = portcullis::service::clients::register(&store, 0, client).unwrap();
    let grant = GrantRecord {
        id: random::id(),
        client_id: client_id.to_string(),
        user_id: None,
        session_id: None,
        scope: "openid offline_access".into(),
        auth_time: None,
        created_at: 0,
        expires_at: Some(i64::MAX),
        revoked_at: None,
    };
    let code = CodeRecord {
        code_hash: random::id(),
        grant_id: grant.id.clone(),
        redirect_uri: "https://app.example/cb".into(),
        nonce: None,
        code_challenge: None,
        expires_at: 0,
        used_at: None,
    };
    // The grant comes from a finished authorization request, as in the
    // server.
    let pending = PendingRecord {
        id: random::id(),
        client_id: client_id.to_string(),
        redirect_uri: code.redirect_uri.clone(),
        scope: grant.scope.clone(),
        state: None,
        nonce: None,
        code_challenge: None,
        response_mode: "query".into(),
        prompt: None,
        max_age: None,
        login_hint: None,
        authenticated_session_id: None,
        created_at: 0,
        expires_at: i64::MAX,
    };
    store.insert_pending(&pending).unwrap();
    assert!(
        store
            .issue_code(Some(&pending.id), &grant, &code, None)
            .unwrap()
    );
    let record = |hash: String| RefreshRecord {
        token_hash: hash,
        id: random::id(),
        grant_id: grant.id.clone(),
        client_id: client_id.to_string(),
        created_at: 0,
        expires_at: i64::MAX,
        retired_at: None,
        grace_used: false,
    };
    let access = || AccessTokenRecord {
        jti: random::id(),
        grant_id: Some(grant.id.clone()),
        client_id: client_id.to_string(),
        expires_at: i64::MAX,
        revoked_at: None,
    };
    let first = random::id();
    let redemption = CodeRedemption {
        code_hash: code.code_hash.clone(),
        grant_id: grant.id.clone(),
        access: access(),
        refresh: Some(record(first.clone())),
        family_expires_at: Some(i64::MAX),
        audit: None,
    };
    assert!(store.redeem_code(redemption, 0).unwrap());
    let mut current = first;
    c.bench_function("store refresh rotation", |b| {
        b.iter(|| {
            let next = random::id();
            let (successor, access) = (record(next.clone()), access());
            let audit = audit::event(audit::Kind::TokenRefreshed).build(1);
            let rotated = store
                .refresh_step(current.clone(), move |_, _| {
                    let write = RefreshWrite::Rotate(Box::new(Rotation {
                        retire: true,
                        successor: successor.clone(),
                        access: access.clone(),
                        audit: audit.clone(),
                    }));
                    (write, ())
                })
                .unwrap();
            assert!(rotated.is_some());
            current = next;
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = jwt_benches, hashing, sealing, store_rotation
}
criterion_main!(benches);
