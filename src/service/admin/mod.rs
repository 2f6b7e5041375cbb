//! The admin console's logic: who may use it, and the operations it offers
//! on clients, users, keys and the audit log. Every change is audited with
//! the acting admin.

use super::{Provider, Result, login};
use crate::crypto::password;
use crate::secret::Secret;
use crate::storage::sessions::SessionRecord;
use crate::storage::users::UserRecord;

pub mod clients;
pub mod users;

/// CSRF purpose of every console form.
pub const CSRF_ADMIN: &str = "admin";

/// A signed-in admin, for the duration of one request.
#[derive(Debug, Clone)]
pub struct Admin {
    pub user: UserRecord,
    pub session: SessionRecord,
}

#[derive(Debug)]
pub enum Access {
    Admin(Box<Admin>),
    /// Signed in, but not an admin: 403.
    Forbidden,
    /// Nobody signed in: the login page.
    SignIn,
}

/// Who is asking, judged afresh on every console request.
pub fn access(p: &Provider, cookie: Option<&Secret>) -> Result<Access> {
    let Some(session) = login::current_session(p, cookie)? else {
        return Ok(Access::SignIn);
    };
    let Some(user) = p
        .store
        .user_by_id(&session.user_id)?
        .filter(|u| !u.disabled)
    else {
        return Ok(Access::SignIn);
    };
    if !user.is_admin {
        return Ok(Access::Forbidden);
    }
    Ok(Access::Admin(Box::new(Admin { user, session })))
}

/// Wrong re-entries tolerated within the window before the session ends:
/// someone at an unattended console cannot keep guessing.
const MAX_REAUTH_FAILURES: i64 = 5;
const REAUTH_WINDOW_SECS: i64 = 15 * 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reauth {
    Confirmed,
    Wrong,
    /// Too many wrong attempts: the session was ended.
    SignedOut,
}

/// Checks the admin's password again before a dangerous action (argon2:
/// run it on the hashing threads). Failures are audited; the fifth within
/// fifteen minutes ends the session.
pub fn reauthenticate(p: &Provider, admin: &Admin, presented: &Secret) -> Result<Reauth> {
    let (pw, phc) = (presented.clone(), admin.user.password_hash.clone());
    if super::limits::argon2(move || password::verify(&pw, &phc))? {
        return Ok(Reauth::Confirmed);
    }
    let key = format!("reauthentication by {}", admin.user.id);
    let kind = super::audit::Kind::ReauthenticationFailed;
    super::audit::event(kind)
        .failed()
        .actor(admin.user.id.clone())
        .detail(key.clone())
        .record(p);
    let since = p.now() - REAUTH_WINDOW_SECS;
    let (failures, _) = p.store.count_recent(kind.as_str(), &key, None, since)?;
    if failures >= MAX_REAUTH_FAILURES {
        p.store.delete_session(&admin.session.id)?;
        tracing::warn!(user_id = %admin.user.id, "session ended after repeated wrong password re-entry");
        return Ok(Reauth::SignedOut);
    }
    Ok(Reauth::Wrong)
}

/// Counts for the dashboard.
#[derive(Debug)]
pub struct Dashboard {
    pub users: i64,
    pub clients: i64,
    pub sessions: i64,
    pub logins_24h: i64,
    pub failed_logins_24h: i64,
}

pub fn dashboard(p: &Provider) -> Result<Dashboard> {
    let now = p.now();
    let day_ago = now - 24 * 3600;
    Ok(Dashboard {
        users: p.store.count_users()?,
        clients: p.store.count_clients()?,
        sessions: p.store.count_live_sessions(now)?,
        logins_24h: p
            .store
            .count_audit(super::audit::Kind::LoginSucceeded.as_str(), day_ago)?,
        failed_logins_24h: p
            .store
            .count_audit(super::audit::Kind::LoginFailed.as_str(), day_ago)?,
    })
}
