//! The self-service account page: a user changes their own password and
//! sees and revokes the apps holding access to their account.

use super::audit::{self, Kind};
use super::users::{Credentials, MIN_PASSWORD_LEN};
use super::{Provider, Result, login};
use crate::crypto::password;
use crate::secret::Secret;
use crate::storage::grants::AppGrant;
use crate::storage::sessions::SessionRecord;
use crate::storage::users::UserRecord;

pub const CSRF_ACCOUNT: &str = "account";

/// The signed-in user and their session, or `None` for nobody.
pub fn current(
    p: &Provider,
    cookie: Option<&Secret>,
) -> Result<Option<(UserRecord, SessionRecord)>> {
    let Some(session) = login::current_session(p, cookie)? else {
        return Ok(None);
    };
    let user = p
        .store
        .user_by_id(&session.user_id)?
        .filter(|u| !u.disabled);
    Ok(user.map(|u| (u, session)))
}

pub fn grants(p: &Provider, user_id: &str) -> Result<Vec<(String, AppGrant)>> {
    super::admin::users::named_grants(p, user_id)
}

#[derive(Debug, PartialEq, Eq)]
pub enum PasswordChange {
    Changed,
    WrongCurrent,
    TooShort,
    Mismatch,
}

/// Checks the current password (argon2: off the executor, under the hash
/// limiter), sets the new one, revokes every refresh token and every other
/// session of the user. This session stays signed in.
pub fn change_password(
    p: &Provider,
    session: &SessionRecord,
    current: &Secret,
    new: &Secret,
    confirm: &Secret,
) -> Result<PasswordChange> {
    if new != confirm {
        return Ok(PasswordChange::Mismatch);
    }
    if new.expose().chars().count() < MIN_PASSWORD_LEN {
        return Ok(PasswordChange::TooShort);
    }
    let Some(user) = p.store.user_by_id(&session.user_id)? else {
        return Ok(PasswordChange::WrongCurrent);
    };
    if !matches!(
        super::users::verify_credentials(&p.store, &user.username, current)?,
        Credentials::Valid(_)
    ) {
        audit::event(Kind::PasswordChanged)
            .failed()
            .actor(user.id.clone())
            .subject(user.id.clone())
            .record(p);
        return Ok(PasswordChange::WrongCurrent);
    }
    let new = new.clone();
    let hash = super::limits::argon2(move || password::hash(&new))??;
    p.store
        .set_password_keeping_session(&user.id, &hash, &session.id, p.now())?;
    tracing::info!(user_id = %user.id, "password changed by the user; other sessions and tokens revoked");
    audit::event(Kind::PasswordChanged)
        .actor(user.id.clone())
        .subject(user.id)
        .record(p);
    Ok(PasswordChange::Changed)
}
