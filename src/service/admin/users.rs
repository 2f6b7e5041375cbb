//! User management from the console.

use super::Admin;
use crate::secret::Secret;
use crate::service::audit::{self, Kind};
use crate::service::users::{self, NewUser, UserError};
use crate::service::{Provider, Result};
use crate::storage::grants::AppGrant;
use crate::storage::sessions::SessionRecord;
use crate::storage::users::{Profile, UserRecord};

pub const PAGE_SIZE: i64 = 25;

/// A page of users, and whether another follows.
pub fn list(p: &Provider, search: &str, page: i64) -> Result<(Vec<UserRecord>, bool)> {
    let page = page.max(0);
    let mut users = p
        .store
        .search_users(search, PAGE_SIZE + 1, page * PAGE_SIZE)?;
    let more = users.len() as i64 > PAGE_SIZE;
    users.truncate(PAGE_SIZE as usize);
    Ok((users, more))
}

/// One user with their sessions and app grants (client id, name, grant).
pub struct UserDetail {
    pub user: UserRecord,
    pub sessions: Vec<SessionRecord>,
    pub grants: Vec<(String, AppGrant)>,
}

pub fn detail(p: &Provider, id: &str) -> Result<Option<UserDetail>> {
    let Some(user) = p.store.user_by_id(id)? else {
        return Ok(None);
    };
    let now = p.now();
    let sessions = p.store.user_sessions(id, now)?;
    let grants = named_grants(p, id)?;
    Ok(Some(UserDetail {
        user,
        sessions,
        grants,
    }))
}

/// The user's app grants with each client's display name.
pub fn named_grants(p: &Provider, user_id: &str) -> Result<Vec<(String, AppGrant)>> {
    let grants = p.store.app_grants(user_id, p.now())?;
    grants
        .into_iter()
        .map(|g| {
            let name = p
                .store
                .client(&g.client_id)?
                .map(|c| c.name)
                .unwrap_or_default();
            Ok((name, g))
        })
        .collect()
}

pub fn create(p: &Provider, admin: &Admin, new: NewUser) -> std::result::Result<String, UserError> {
    let new = NewUser {
        created_by: Some(admin.user.id.clone()),
        ..new
    };
    Ok(users::add(&p.store, p.clock.as_ref(), new)?.into_string())
}

pub fn update_profile(p: &Provider, admin: &Admin, id: &str, profile: &Profile) -> Result<bool> {
    let ok = p.store.update_profile(id, profile, p.now())?;
    if ok {
        audit::event(Kind::UserUpdated)
            .actor(admin.user.id.clone())
            .subject(id)
            .record(p);
    }
    Ok(ok)
}

/// Sets a new password: every session and token of the user is revoked.
pub fn reset_password(
    p: &Provider,
    admin: &Admin,
    id: &str,
    password: &Secret,
) -> std::result::Result<(), UserError> {
    let user = p
        .store
        .user_by_id(id)?
        .ok_or_else(|| UserError::NotFound(id.to_owned()))?;
    let actor = Some(admin.user.id.as_str());
    users::set_password_by(&p.store, p.clock.as_ref(), &user.username, password, actor)
}

pub fn set_disabled(p: &Provider, admin: &Admin, id: &str, disabled: bool) -> Result<bool> {
    if disabled && id == admin.user.id {
        return Ok(false);
    }
    let ok = p.store.set_disabled(id, disabled, p.now())?;
    if ok {
        let kind = if disabled {
            Kind::UserDisabled
        } else {
            Kind::UserEnabled
        };
        audit::event(kind)
            .actor(admin.user.id.clone())
            .subject(id)
            .record(p);
    }
    Ok(ok)
}

/// Grants or revokes the admin role. An admin cannot remove their own role,
/// so the console always keeps someone who can use it.
pub fn set_admin(p: &Provider, admin: &Admin, id: &str, grant: bool) -> Result<bool> {
    if !grant && id == admin.user.id {
        return Ok(false);
    }
    let ok = p.store.set_admin(id, grant, p.now())?;
    if ok {
        let kind = if grant {
            Kind::AdminGranted
        } else {
            Kind::AdminRevoked
        };
        audit::event(kind)
            .actor(admin.user.id.clone())
            .subject(id)
            .record(p);
    }
    Ok(ok)
}

pub fn revoke_session(p: &Provider, admin: &Admin, id: &str, session_id: &str) -> Result<bool> {
    let ok = p.store.delete_user_session(id, session_id)?;
    if ok {
        audit::event(Kind::SessionRevoked)
            .actor(admin.user.id.clone())
            .subject(id)
            .record(p);
    }
    Ok(ok)
}

pub fn revoke_all_sessions(p: &Provider, admin: &Admin, id: &str) -> Result<usize> {
    if p.store.user_by_id(id)?.is_none() {
        return Ok(0);
    }
    let n = p.store.delete_user_sessions(id)?;
    audit::event(Kind::SessionRevoked)
        .actor(admin.user.id.clone())
        .subject(id)
        .detail(format!("all ({n})"))
        .record(p);
    Ok(n)
}

/// Revokes a client's access to the user (families, tokens and consent).
pub fn revoke_grant(p: &Provider, actor: &str, user_id: &str, client_id: &str) -> Result<usize> {
    let n = p.store.revoke_app_grant(user_id, client_id, p.now())?;
    // Only what happened is recorded: a request naming nothing is no event.
    if n == 0 {
        return Ok(0);
    }
    audit::event(Kind::GrantRevoked)
        .actor(actor)
        .subject(user_id)
        .client(client_id)
        .record(p);
    Ok(n)
}
