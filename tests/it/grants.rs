//! grant_type=client_credentials.

use serde_json::Value;

use crate::support::{self, ClientSpec, TestServer, token_request};

crate::both! {
    fn confidential_client_gets_a_token_for_itself() {
    let server = TestServer::start();
    let service = server.add_client(ClientSpec {
        redirect: String::new(),
        grant_types: Some(vec!["client_credentials".into()]),
        scopes: Some("api.read api.write openid".into()),
        ..Default::default()
    });
    let creds = Some((service.id.as_str(), service.secret.as_deref().unwrap()));
    let res = token_request(&server, creds, &[("grant_type", "client_credentials")]);
    assert_eq!(res.status(), 200);
    let body: Value = res.json().unwrap();
    assert_eq!(
        body["scope"], "api.read api.write",
        "user scopes are not for machines"
    );
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
    let (header, claims) = support::jwt_parts(body["access_token"].as_str().unwrap());
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(claims["sub"], service.id.as_str());
    assert_eq!(claims["client_id"], service.id.as_str());

    let res = token_request(
        &server,
        creds,
        &[("grant_type", "client_credentials"), ("scope", "api.read")],
    );
    assert_eq!(res.json::<Value>().unwrap()["scope"], "api.read");
    let res = token_request(
        &server,
        creds,
        &[("grant_type", "client_credentials"), ("scope", "admin")],
    );
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().unwrap()["error"], "invalid_scope");
}
}

crate::both! {
    fn grant_must_be_allowed_for_the_client() {
    let server = TestServer::start();
    let web = server.confidential();
    let res = token_request(
        &server,
        Some((&web.id, web.secret.as_deref().unwrap())),
        &[("grant_type", "client_credentials")],
    );
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().unwrap()["error"], "unauthorized_client");
}
}

/// What a token response says, without the parts that differ per token.
fn outcome(res: reqwest::blocking::Response) -> (u16, String, Option<String>) {
    let status = res.status().as_u16();
    let challenge = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = res.json().unwrap();
    let said = match body.get("error") {
        Some(error) => format!("error {error}: {}", body["error_description"]),
        None => format!(
            "{} {} {}",
            body["token_type"], body["scope"], body["expires_in"]
        ),
    };
    (status, said, challenge)
}

crate::both! {
    fn cached_clients_are_answered_like_uncached_ones() {
    // A client_credentials request from a cached client with ES256 access
    // tokens is answered without a blocking thread; with RS256 it always
    // takes the blocking path. Every answer must be the same on both.
    let quick = TestServer::start();
    let slow = TestServer::start_with(|c| {
        c.tokens.access_token_alg = portcullis::crypto::keys::Alg::RS256;
    });
    let answers = |server: &TestServer| {
        let spec = |grant_types: &[&str], public| ClientSpec {
            redirect: if grant_types == ["client_credentials"] {
                String::new()
            } else {
                support::REDIRECT.into()
            },
            public,
            grant_types: Some(grant_types.iter().map(|g| g.to_string()).collect()),
            scopes: Some("api.read api.write".into()),
            ..Default::default()
        };
        let service = server.add_client(spec(&["client_credentials"], false));
        let web = server.add_client(spec(&["authorization_code"], false));
        let public = server.add_client(spec(&["authorization_code"], true));
        let secret = service.secret.as_deref().unwrap();
        let good = Some((service.id.as_str(), secret));
        let cc = [("grant_type", "client_credentials")];
        let mut seen = Vec::new();
        for round in ["uncached", "cached"] {
            let mut said = |what: &str, res| seen.push((round, what.to_owned(), outcome(res)));
            said("ok", token_request(server, good, &cc));
            said("scope", token_request(server, good, &[cc[0], ("scope", "api.write")]));
            said("bad scope", token_request(server, good, &[cc[0], ("scope", "admin")]));
            said("wrong secret", token_request(server, Some((&service.id, "nope")), &cc));
            let posted = [cc[0], ("client_id", &service.id), ("client_secret", "nope")];
            said("wrong posted secret", token_request(server, None, &posted));
            said("twice", token_request(server, good, &[cc[0], cc[0]]));
            said("no grant", token_request(server, good, &[("scope", "api.read")]));
            let web_creds = Some((web.id.as_str(), web.secret.as_deref().unwrap()));
            said("not allowed", token_request(server, web_creds, &cc));
            let as_public = [cc[0], ("client_id", public.id.as_str())];
            said("public", token_request(server, None, &as_public));
            said("unknown", token_request(server, Some(("nobody", "x")), &cc));
        }
        // And the same audit trail: what was issued, to whom, from where.
        let filter = portcullis::storage::audit::AuditFilter {
            user_id: None,
            client_id: Some(service.id.clone()),
            kind: None,
            since: None,
            until: None,
            limit: 100,
            offset: 0,
        };
        let mut trail: Vec<_> = server
            .provider
            .store
            .audit_events(&filter)
            .unwrap()
            .into_iter()
            .map(|e| (e.kind, e.outcome, e.detail, e.source_ip))
            .collect();
        trail.sort();
        (seen, trail)
    };
    let ((fast, fast_trail), (blocking, blocking_trail)) = (answers(&quick), answers(&slow));
    assert_eq!(fast, blocking);
    assert_eq!(fast_trail, blocking_trail);
    let issued = fast_trail.iter().filter(|e| e.0 == "token_issued").count();
    assert_eq!(issued, 4, "two tokens issued per round");
    let ok = &fast.iter().find(|(round, what, _)| *round == "cached" && what == "ok").unwrap().2;
    assert_eq!(ok.0, 200);
    assert!(ok.1.starts_with("\"Bearer\" \"api.read api.write\""), "{}", ok.1);
    let wrong = &fast.iter().find(|(round, what, _)| *round == "cached" && what == "wrong secret").unwrap().2;
    assert_eq!(wrong.0, 401);
    assert!(wrong.1.starts_with("error \"invalid_client\""), "{}", wrong.1);
    assert!(wrong.2.as_deref().is_some_and(|c| c.starts_with("Basic")));
}
}

crate::both! {
    fn a_token_is_recorded_before_it_is_answered() {
    let server = TestServer::start();
    let service = server.add_client(ClientSpec {
        scopes: Some("api.read".into()),
        ..ClientSpec::machine()
    });
    for _ in 0..20 {
        let res = server.client_credentials(&service);
        assert_eq!(res.status(), 200);
        let token = res.json::<Value>().unwrap()["access_token"].as_str().unwrap().to_owned();
        let jti = support::jwt_parts(&token).1["jti"].as_str().unwrap().to_owned();
        // Read straight from the database: the row is there as soon as the
        // answer is.
        let row = server.provider.store.access_token(&jti).unwrap();
        assert!(row.is_some_and(|r| r.client_id == service.id && r.revoked_at.is_none()));
        assert_eq!(support::introspect(&server, &service, &token)["active"], true);
    }
    // Each issue is audited, with the grant and the caller's address.
    let filter = portcullis::storage::audit::AuditFilter {
        user_id: None,
        client_id: Some(service.id.clone()),
        kind: Some("token_issued".into()),
        since: None,
        until: None,
        limit: 100,
        offset: 0,
    };
    let events = server.provider.store.audit_events(&filter).unwrap();
    assert_eq!(events.len(), 20);
    assert!(events.iter().all(|e| e.detail.as_deref() == Some("client_credentials")
        && e.source_ip.as_deref() == Some("127.0.0.1")
        && e.outcome == "success"));
}
}

crate::both! {
    fn a_client_deleted_elsewhere_is_refused_not_an_error() {
    // Another instance deletes the client while this one still has it
    // cached (for up to a second): the token cannot be recorded, and the
    // answer is invalid_client, not a server error.
    let server = TestServer::start();
    let service = server.machine();
    assert_eq!(server.client_credentials(&service).status(), 200);
    let url = server.provider.config.database.url.expose().to_owned();
    let other = portcullis::storage::Store::open(&url, 2, std::time::Duration::from_secs(5)).unwrap();
    assert!(other.delete_client(&service.id).unwrap());
    let res = server.client_credentials(&service);
    assert_eq!(res.status(), 401);
    assert_eq!(res.json::<Value>().unwrap()["error"], "invalid_client");
}
}
