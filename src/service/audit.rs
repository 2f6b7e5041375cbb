//! Security events for the audit log: who did what, to whom, with which
//! client, from where, and whether it worked. Never a secret.
//!
//! The source address is set per request by the HTTP layer (see
//! [`with_source_ip`]) so that service functions need not thread it through.
//! A failure to record is logged and does not fail the request.

use std::cell::RefCell;

use super::Provider;
use crate::crypto::random;
use crate::storage::Store;
use crate::storage::audit::AuditRecord;

thread_local! {
    static SOURCE_IP: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `f` with `ip` as the source address of any event it records. The
/// previous address is restored even if `f` panics: the thread (an HTTP
/// worker, a pool thread) goes on to serve other requests.
pub fn with_source_ip<R>(ip: Option<String>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<String>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            SOURCE_IP.with(|s| *s.borrow_mut() = previous);
        }
    }
    let _restore = Restore(SOURCE_IP.with(|s| s.replace(ip)));
    f()
}

macro_rules! kinds {
    ($($variant:ident => $name:literal,)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Kind { $($variant,)* }

        impl Kind {
            pub const ALL: &[Kind] = &[$(Kind::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self { $(Kind::$variant => $name,)* }
            }
        }
    };
}

kinds! {
    LoginSucceeded => "login_succeeded",
    LoginFailed => "login_failed",
    Logout => "logout",
    ConsentGiven => "consent_given",
    ConsentDenied => "consent_denied",
    TokenIssued => "token_issued",
    TokenRefreshed => "token_refreshed",
    TokenRevoked => "token_revoked",
    RefreshReuseDetected => "refresh_reuse_detected",
    CodeReplayed => "code_replayed",
    PasswordChanged => "password_changed",
    UserCreated => "user_created",
    UserUpdated => "user_updated",
    UserDisabled => "user_disabled",
    UserEnabled => "user_enabled",
    AdminGranted => "admin_granted",
    AdminRevoked => "admin_revoked",
    SessionRevoked => "session_revoked",
    GrantRevoked => "grant_revoked",
    ClientCreated => "client_created",
    ClientUpdated => "client_updated",
    ClientDisabled => "client_disabled",
    ClientEnabled => "client_enabled",
    ClientDeleted => "client_deleted",
    ClientSecretRotated => "client_secret_rotated",
    KeysRotated => "keys_rotated",
    ReauthenticationFailed => "reauthentication_failed",
}

/// An event being described; `record` stores it.
#[derive(Debug)]
pub struct Event {
    kind: Kind,
    success: bool,
    actor: Option<String>,
    subject: Option<String>,
    client: Option<String>,
    detail: Option<String>,
    source_ip: Option<String>,
}

pub fn event(kind: Kind) -> Event {
    Event {
        kind,
        success: true,
        actor: None,
        subject: None,
        client: None,
        detail: None,
        source_ip: source_ip(),
    }
}

/// The address of the request this thread is serving, for an event built
/// on another thread (the database writer).
pub fn source_ip() -> Option<String> {
    SOURCE_IP.with(|s| s.borrow().clone())
}

impl Event {
    pub fn failed(mut self) -> Self {
        self.success = false;
        self
    }

    /// The user who acted (an admin, or the user themself).
    pub fn actor(mut self, user_id: impl Into<String>) -> Self {
        self.actor = Some(user_id.into());
        self
    }

    /// The user acted upon.
    pub fn subject(mut self, user_id: impl Into<String>) -> Self {
        self.subject = Some(user_id.into());
        self
    }

    /// The user acted upon, if there is one.
    pub fn subject_opt(mut self, user_id: Option<String>) -> Self {
        self.subject = user_id;
        self
    }

    /// Where the request came from, when the event is built off the
    /// request's thread (see [`source_ip`]).
    pub fn source_ip(mut self, ip: Option<String>) -> Self {
        self.source_ip = ip;
        self
    }

    pub fn client(mut self, client_id: impl Into<String>) -> Self {
        self.client = Some(client_id.into());
        self
    }

    /// A short, secret-free note (a family id, a changed field's name).
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn record(self, p: &Provider) {
        self.record_in(&p.store, p.now());
    }

    /// The row, for a caller that writes it in its own transaction (the hot
    /// token paths: one commit instead of two).
    pub fn build(self, now: i64) -> AuditRecord {
        AuditRecord {
            id: random::ordered_id(),
            at: now,
            kind: self.kind.as_str().to_owned(),
            outcome: if self.success { "success" } else { "failure" }.to_owned(),
            actor_user_id: self.actor,
            subject_user_id: self.subject,
            client_id: self.client,
            source_ip: self.source_ip,
            detail: self.detail,
        }
    }

    /// For callers without a provider (the command line).
    pub fn record_in(self, store: &Store, now: i64) {
        let kind = self.kind.as_str();
        let record = self.build(now);
        if let Err(e) = store.insert_audit(record) {
            tracing::warn!(error = %e, kind, "audit event not recorded");
        }
    }
}
