//! The example relying party's logic (examples/relying_party/rp.rs) against
//! the real server: log in, survive access-token expiry by silent refresh,
//! be logged out when the user's password changes.

#[path = "../../examples/relying_party/rp.rs"]
#[allow(dead_code)]
mod rp;

use rp::{RelyingParty, RpError};

use crate::support::{Browser, ClientSpec, PASSWORD, TestServer};

crate::both! {
    fn login_silent_refresh_and_logout_on_password_change() {
    let server = TestServer::start();
    server.add_user("alice");
    let client = server.add_client(ClientSpec::default());
    let rp = RelyingParty::discover(
        &server.base,
        &client.id,
        client.secret.as_deref(),
        &client.redirect,
    )
    .expect("discovery");

    let (url, pending) = rp.start_login();
    let callback = Browser::new().authorize(&server.base, &url, "alice", PASSWORD);
    let query: Vec<(String, String)> = callback.params.into_iter().collect();
    let mut tokens = rp.finish_login(pending, &query).expect("login");
    assert!(
        tokens.refresh_token.is_some(),
        "offline_access was requested and consented"
    );

    let resource = server.url("/userinfo");
    let me = rp.call(&mut tokens, &resource).expect("resource");
    assert_eq!(me["preferred_username"], "alice");

    // The access token expires; the next call refreshes silently.
    let before = tokens.access_token.secret().clone();
    let refresh_before = tokens.refresh_token.as_ref().unwrap().secret().clone();
    server.clock.advance(301);
    let me = rp.call(&mut tokens, &resource).expect("silent refresh");
    assert_eq!(me["preferred_username"], "alice");
    assert_ne!(tokens.access_token.secret(), &before);
    assert_ne!(
        tokens.refresh_token.as_ref().unwrap().secret(),
        &refresh_before,
        "rotated"
    );

    // The password changes elsewhere: the app learns it on its next call.
    let clock = server.provider.clock.clone();
    portcullis::service::users::set_password(
        &server.provider.store,
        clock.as_ref(),
        "alice",
        &portcullis::secret::Secret::new("another long password"),
    )
    .unwrap();
    assert!(matches!(
        rp.call(&mut tokens, &resource),
        Err(RpError::LoggedOut)
    ));
}
}

crate::both! {
    fn logout_url_ends_the_provider_session() {
    let server = TestServer::start();
    server.add_user("alice");
    let after = "https://app.example/bye";
    let client = server.add_client(ClientSpec {
        post_logout: vec![after.into()],
        ..Default::default()
    });
    let rp = RelyingParty::discover(
        &server.base,
        &client.id,
        client.secret.as_deref(),
        &client.redirect,
    )
    .expect("discovery");
    let (url, pending) = rp.start_login();
    let browser = Browser::new();
    let callback = browser.authorize(&server.base, &url, "alice", PASSWORD);
    let query: Vec<(String, String)> = callback.params.into_iter().collect();
    let tokens = rp.finish_login(pending, &query).expect("login");
    let logout = rp.logout_url(&tokens, after).expect("end_session_endpoint");
    let res = browser.get(&logout);
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], after);
}
}
