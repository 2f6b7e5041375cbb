//! Discovery documents and JWKS.

use serde_json::Value;

use crate::support::{self, TestServer};

fn get_json(server: &TestServer, path: &str) -> Value {
    let res = support::http().get(server.url(path)).send().unwrap();
    assert_eq!(res.status(), 200, "{path}");
    res.json().unwrap()
}

crate::both! {
    fn openid_configuration_lists_what_we_do() {
    let server = TestServer::start();
    let doc = get_json(&server, "/.well-known/openid-configuration");
    assert_eq!(doc["issuer"], server.base.as_str());
    for (field, path) in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/token"),
        ("userinfo_endpoint", "/userinfo"),
        ("jwks_uri", "/jwks"),
    ] {
        assert_eq!(doc[field], server.url(path), "{field}");
    }
    assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        doc["subject_types_supported"],
        serde_json::json!(["public"])
    );
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(doc["id_token_signing_alg_values_supported"][0], "RS256");
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    for field in [
        "response_modes_supported",
        "grant_types_supported",
        "token_endpoint_auth_methods_supported",
        "scopes_supported",
        "claims_supported",
    ] {
        assert!(
            doc[field].as_array().is_some_and(|a| !a.is_empty()),
            "{field}"
        );
    }
    let rfc8414 = get_json(&server, "/.well-known/oauth-authorization-server");
    assert_eq!(doc, rfc8414);
}
}

crate::both! {
    fn jwks_publishes_public_keys_only() {
    let server = TestServer::start();
    let jwks = get_json(&server, "/jwks");
    let keys = jwks["keys"].as_array().unwrap();
    let mut algs: Vec<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    algs.sort_unstable();
    assert_eq!(algs, ["ES256", "RS256"]);
    for key in keys {
        for field in ["kid", "kty", "alg", "use"] {
            assert!(key[field].is_string(), "{field}");
        }
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(
                key.get(private).is_none(),
                "private member {private} published"
            );
        }
    }
}
}

#[test]
fn keys_survive_a_restart_on_the_same_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("keys.db").display().to_string();
    let first = TestServer::start_with(|c| c.database.url = url.clone().into());
    let jwks_first = get_json(&first, "/jwks");
    drop(first);
    let second = TestServer::start_with(|c| c.database.url = url.clone().into());
    assert_eq!(get_json(&second, "/jwks"), jwks_first);
}
