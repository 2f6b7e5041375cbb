//! End to end in real headless Chromium: an admin signs in through the
//! login page, creates a client, rotates its secret, resets a user's
//! password, and finds both in the audit log. Screenshots go to
//! `test-artifacts/`. Skips, saying so, where no browser is installed.

use std::io::Write;

use crate::support::webdriver::Driver;
use crate::support::{PASSWORD, TestServer};

const ADMIN_PASSWORD: &str = "console admin password";

#[test]
fn admin_console_in_a_real_browser() {
    let Some(browser) = Driver::start() else {
        let _ = writeln!(
            std::io::stderr(),
            "\nNOTE: browser test SKIPPED: chromium and chromium-driver are not installed \
             (apt-get install chromium chromium-driver).\n"
        );
        return;
    };
    let server = TestServer::start();
    let new = portcullis::service::users::NewUser {
        username: "root".into(),
        password: portcullis::secret::Secret::new(ADMIN_PASSWORD),
        email: None,
        name: None,
        admin: true,
        created_by: None,
    };
    portcullis::service::users::add(&server.provider.store, server.provider.clock.as_ref(), new)
        .unwrap();
    let alice = server.add_user("alice");

    // Nobody signed in: the console sends us to the login page and back.
    browser.goto(&server.url("/admin"));
    assert!(
        browser.url().contains("/login?return_to="),
        "{}",
        browser.url()
    );
    browser.screenshot("01-login");
    browser.fill("#username", "root");
    browser.fill("#password", ADMIN_PASSWORD);
    browser.click("button[type=submit]");
    browser.wait_for("the dashboard", |b| b.url() == server.url("/admin"));
    assert!(browser.source().contains("Dashboard"));
    browser.screenshot("02-dashboard");

    // Create a client; its secret is shown once.
    browser.goto(&server.url("/admin/clients/new"));
    browser.fill("#name", "Browser Shop");
    browser.fill("#redirect_uris", "https://shop.example/callback");
    browser.fill("#save_password", ADMIN_PASSWORD);
    browser.screenshot("03-new-client");
    browser.click("form.stack button[type=submit]");
    browser.wait_for("the secret page", |b| b.source().contains("client-secret"));
    let first = browser.text("#client-secret");
    assert!(first.starts_with("pcs_"), "{first}");
    browser.screenshot("04-client-secret");

    // Rotate it from the client's page.
    browser.click("main a[href^='/admin/clients/']");
    browser.wait_for("the client page", |b| b.source().contains("Rotate secret"));
    browser.fill("#rs_password", ADMIN_PASSWORD);
    browser.click("form[action$='/secret'] button");
    browser.wait_for("the new secret", |b| b.source().contains("client-secret"));
    let second = browser.text("#client-secret");
    assert!(second.starts_with("pcs_") && second != first);

    // Reset alice's password.
    browser.goto(&server.url("/admin/users"));
    browser.click(&format!("a[href='/admin/users/{alice}']"));
    browser.wait_for("alice's page", |b| b.source().contains("Reset password"));
    browser.fill("#new_password", "a password set by the admin");
    browser.fill("#rp_password", ADMIN_PASSWORD);
    browser.click("form[action$='/password'] button");
    browser.wait_for("the notice", |b| b.source().contains("Password changed"));
    browser.screenshot("05-user");

    // The audit log lists both.
    browser.goto(&server.url("/admin/audit"));
    let audit = browser.source();
    assert!(
        audit.contains("client_secret_rotated"),
        "rotation in the audit log"
    );
    assert!(audit.contains("password_changed"), "reset in the audit log");
    browser.screenshot("06-audit-desktop");
    browser.resize(390, 844);
    browser.screenshot("07-audit-phone");
    browser.goto(&server.url("/admin"));
    browser.screenshot("08-dashboard-phone");

    // And alice's old password no longer works, the new one does.
    let check = portcullis::service::users::verify_credentials(
        &server.provider.store,
        "alice",
        &portcullis::secret::Secret::new(PASSWORD),
    )
    .unwrap();
    assert!(!matches!(
        check,
        portcullis::service::users::Credentials::Valid(_)
    ));
}
