//! User accounts: creation, password changes and credential checks.

use super::Result;
use super::audit::{self, Kind};
use crate::clock::Clock;
use crate::crypto::{password, random};
use crate::ids::UserId;
use crate::secret::Secret;
use crate::storage::Store;
use crate::storage::users::UserRecord;

#[derive(Debug)]
pub struct NewUser {
    pub username: String,
    pub password: Secret,
    pub email: Option<String>,
    pub name: Option<String>,
    pub admin: bool,
    /// The admin creating the user, for the audit log.
    pub created_by: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("{0}")]
    Invalid(String),
    #[error("no user named {0:?}")]
    NotFound(String),
    #[error("a user named {0:?} already exists")]
    Exists(String),
    #[error(transparent)]
    Service(#[from] super::Error),
}

impl From<crate::storage::StoreError> for UserError {
    fn from(e: crate::storage::StoreError) -> Self {
        UserError::Service(e.into())
    }
}

pub const MIN_PASSWORD_LEN: usize = 8;

fn check_password_policy(password: &Secret) -> std::result::Result<(), UserError> {
    if password.expose().chars().count() < MIN_PASSWORD_LEN {
        return Err(UserError::Invalid(format!(
            "a password needs at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    Ok(())
}

/// Zero-width and direction-changing characters: they make two different
/// usernames look the same on screen.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}')
}

fn check_username(username: &str) -> std::result::Result<(), UserError> {
    let ok = !username.is_empty()
        && username.chars().count() <= 64
        && !username
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || is_invisible(c));
    if ok {
        Ok(())
    } else {
        Err(UserError::Invalid(
            "a username is 1 to 64 characters without spaces, control or invisible characters"
                .into(),
        ))
    }
}

/// Creates a user; hashes the password (slow: call off the async executor).
pub fn add(
    store: &Store,
    clock: &dyn Clock,
    new: NewUser,
) -> std::result::Result<UserId, UserError> {
    check_username(&new.username)?;
    check_password_policy(&new.password)?;
    // Names that differ only in case would look like one person.
    if store.username_taken_ignoring_case(&new.username)? {
        return Err(UserError::Exists(new.username.clone()));
    }
    let pw = new.password.clone();
    let hash = super::limits::argon2(move || password::hash(&pw))?.map_err(super::Error::from)?;
    let now = clock.now();
    let record = UserRecord {
        id: random::id(),
        username: new.username.clone(),
        password_hash: hash,
        email: new.email,
        email_verified: false,
        name: new.name,
        is_admin: new.admin,
        disabled: false,
        created_at: now,
        updated_at: now,
    };
    store.insert_user(&record).map_err(|e| match &e {
        crate::storage::StoreError::Query(q) if crate::storage::is_unique_violation(q) => {
            UserError::Exists(new.username.clone())
        }
        _ => e.into(),
    })?;
    tracing::info!(user_id = %record.id, admin = new.admin, "user created");
    audit::event(Kind::UserCreated)
        .subject(record.id.clone())
        .record_in(store, now);
    Ok(UserId::new(record.id))
}

/// Sets a new password and revokes every session and grant of the user.
pub fn set_password(
    store: &Store,
    clock: &dyn Clock,
    username: &str,
    new_password: &Secret,
) -> std::result::Result<(), UserError> {
    set_password_by(store, clock, username, new_password, None)
}

/// [`set_password`], recording `actor` (an admin, or the user) in the audit log.
pub fn set_password_by(
    store: &Store,
    clock: &dyn Clock,
    username: &str,
    new_password: &Secret,
    actor: Option<&str>,
) -> std::result::Result<(), UserError> {
    check_password_policy(new_password)?;
    let user = store
        .user_by_username(username)?
        .ok_or_else(|| UserError::NotFound(username.to_owned()))?;
    let pw = new_password.clone();
    let hash = super::limits::argon2(move || password::hash(&pw))?.map_err(super::Error::from)?;
    store.set_password(&user.id, &hash, clock.now())?;
    tracing::info!(user_id = %user.id, "password changed; sessions and grants revoked");
    let mut event = audit::event(Kind::PasswordChanged).subject(user.id.clone());
    if let Some(actor) = actor {
        event = event.actor(actor);
    }
    event.record_in(store, clock.now());
    Ok(())
}

/// Disables (ending sessions and revoking tokens) or re-enables a user.
pub fn set_disabled(
    store: &Store,
    clock: &dyn Clock,
    username: &str,
    disabled: bool,
) -> std::result::Result<(), UserError> {
    let user = store
        .user_by_username(username)?
        .ok_or_else(|| UserError::NotFound(username.to_owned()))?;
    store.set_disabled(&user.id, disabled, clock.now())?;
    tracing::info!(user_id = %user.id, disabled, "user status changed");
    let kind = if disabled {
        Kind::UserDisabled
    } else {
        Kind::UserEnabled
    };
    audit::event(kind)
        .subject(user.id.clone())
        .record_in(store, clock.now());
    Ok(())
}

/// The outcome of a credential check. The login page shows the same
/// message for every failure; the audit log tells them apart.
#[derive(Debug)]
pub enum Credentials {
    Valid(Box<UserRecord>),
    /// The user exists but the password is wrong or the account disabled.
    Refused {
        user_id: String,
    },
    UnknownUser,
}

/// Checks a username and password. Unknown users cost the same argon2 work
/// as known ones, and disabled users fail like wrong passwords.
pub fn verify_credentials(store: &Store, username: &str, pw: &Secret) -> Result<Credentials> {
    match store.user_by_username(username)? {
        Some(user) => {
            let (pw, phc) = (pw.clone(), user.password_hash.clone());
            let ok = super::limits::argon2(move || password::verify(&pw, &phc))?;
            if ok && !user.disabled {
                Ok(Credentials::Valid(Box::new(user)))
            } else {
                Ok(Credentials::Refused { user_id: user.id })
            }
        }
        None => {
            let pw = pw.clone();
            super::limits::argon2(move || password::verify_dummy(&pw))?;
            Ok(Credentials::UnknownUser)
        }
    }
}

/// On a first start with no admin, creates `admin` with the given password
/// or a generated one. Returns the generated password so the caller can show
/// it once.
pub fn bootstrap_admin(
    store: &Store,
    clock: &dyn Clock,
    password: Option<Secret>,
) -> std::result::Result<Option<Secret>, UserError> {
    if store.count_admins()? > 0 {
        return Ok(None);
    }
    let generated = password.is_none();
    let password = password.unwrap_or_else(|| Secret::new(random::token(18)));
    let admin = NewUser {
        username: "admin".into(),
        password: password.clone(),
        email: None,
        name: Some("Administrator".into()),
        admin: true,
        created_by: None,
    };
    match add(store, clock, admin) {
        Ok(_) => Ok(generated.then_some(password)),
        // Another instance on the same database created it first.
        Err(UserError::Exists(_)) => Ok(None),
        Err(e) => Err(e),
    }
}
