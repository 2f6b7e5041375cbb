//! User accounts.

use diesel::prelude::*;

use super::schema::{grants, login_sessions, users};
use super::{Conn, Store, StoreResult};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
#[diesel(treat_none_as_default_value = false)]
pub struct UserRecord {
    pub id: String,
    pub username: String,
    /// argon2id PHC string; never leaves the service layer.
    pub password_hash: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub is_admin: bool,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);

impl Store {
    /// Whether a username equal but for letter case exists.
    pub fn username_taken_ignoring_case(&self, username: &str) -> StoreResult<bool> {
        let n: i64 = users::table
            .filter(lower(users::username).eq(username.to_lowercase()))
            .count()
            .get_result(&mut *self.conn()?)?;
        Ok(n > 0)
    }

    pub fn insert_user(&self, user: &UserRecord) -> StoreResult<()> {
        diesel::insert_into(users::table)
            .values(user)
            .execute(&mut *self.write_conn()?)?;
        Ok(())
    }

    pub fn user_by_username(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        Ok(users::table
            .filter(users::username.eq(username))
            .select(UserRecord::as_select())
            .first(&mut *self.conn()?)
            .optional()?)
    }

    pub fn user_by_id(&self, id: &str) -> StoreResult<Option<UserRecord>> {
        Ok(users::table
            .find(id)
            .select(UserRecord::as_select())
            .first(&mut *self.conn()?)
            .optional()?)
    }

    pub fn count_admins(&self) -> StoreResult<i64> {
        Ok(users::table
            .filter(users::is_admin.eq(true))
            .count()
            .get_result(&mut *self.conn()?)?)
    }

    /// Sets a new password hash and, in the same transaction, ends every login
    /// session and revokes every grant of the user, so no session or token
    /// obtained with the old password survives. Returns false for no such user.
    pub fn set_password(&self, user_id: &str, hash: &str, now: i64) -> StoreResult<bool> {
        self.write_conn()?.transaction(|conn| {
            let updated = diesel::update(users::table.find(user_id))
                .set((users::password_hash.eq(hash), users::updated_at.eq(now)))
                .execute(conn)?;
            if updated == 0 {
                return Ok(false);
            }
            revoke_everything_in(conn, user_id, now)?;
            Ok(true)
        })
    }

    /// Disables or enables a user. Disabling ends the user's sessions and
    /// revokes their grants in the same transaction.
    pub fn set_disabled(&self, user_id: &str, disabled: bool, now: i64) -> StoreResult<bool> {
        self.write_conn()?.transaction(|conn| {
            if disabled && !another_admin_remains(conn, user_id)? {
                return Ok(false);
            }
            let updated = diesel::update(users::table.find(user_id))
                .set((users::disabled.eq(disabled), users::updated_at.eq(now)))
                .execute(conn)?;
            if updated == 0 {
                return Ok(false);
            }
            if disabled {
                revoke_everything_in(conn, user_id, now)?;
            }
            Ok(true)
        })
    }
}

/// Whether an enabled admin other than `user_id` exists (always true when
/// `user_id` is not an admin). On PostgreSQL a transaction-scoped advisory
/// lock serialises these checks; SQLite has one writer at a time anyway.
fn another_admin_remains(conn: &mut Conn, user_id: &str) -> QueryResult<bool> {
    use diesel::connection::SimpleConnection;
    if let Conn::Postgresql(pg) = conn {
        pg.batch_execute("SELECT pg_advisory_xact_lock(7365727669636531)")?;
    }
    let is_admin: bool = users::table
        .find(user_id)
        .select(users::is_admin)
        .first(conn)
        .optional()?
        .unwrap_or(false);
    if !is_admin {
        return Ok(true);
    }
    let others: i64 = users::table
        .filter(users::is_admin.eq(true))
        .filter(users::disabled.eq(false))
        .filter(users::id.ne(user_id))
        .count()
        .get_result(conn)?;
    Ok(others > 0)
}

/// Ends every login session and revokes every grant (with its refresh tokens
/// and access tokens) of a user, inside the caller's transaction.
fn revoke_everything_in(conn: &mut Conn, user_id: &str, now: i64) -> QueryResult<()> {
    diesel::delete(login_sessions::table.filter(login_sessions::user_id.eq(user_id)))
        .execute(conn)?;
    revoke_grants_in(conn, user_id, now)
}

/// Revokes every live grant of a user, inside the caller's transaction.
fn revoke_grants_in(conn: &mut Conn, user_id: &str, now: i64) -> QueryResult<()> {
    let user_grants: Vec<String> = grants::table
        .filter(grants::user_id.eq(user_id))
        .filter(grants::revoked_at.is_null())
        .select(grants::id)
        .load(conn)?;
    for grant in user_grants {
        super::grants::revoke_grant_in(conn, &grant, now)?;
    }
    Ok(())
}

/// Editable profile claims.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: Option<String>,
    pub email: Option<String>,
    pub email_verified: bool,
}

impl Store {
    /// A page of users whose username, name or email contains `needle`.
    pub fn search_users(
        &self,
        needle: &str,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<UserRecord>> {
        let pattern = format!("%{}%", super::clients::escape_like(needle));
        Ok(users::table
            .filter(
                users::username
                    .like(&pattern)
                    .escape('\\')
                    .or(users::name.like(&pattern).escape('\\'))
                    .or(users::email.like(&pattern).escape('\\')),
            )
            .order(users::username.asc())
            .limit(limit)
            .offset(offset)
            .select(UserRecord::as_select())
            .load(&mut *self.conn()?)?)
    }

    pub fn count_users(&self) -> StoreResult<i64> {
        Ok(users::table.count().get_result(&mut *self.conn()?)?)
    }

    pub fn update_profile(&self, user_id: &str, profile: &Profile, now: i64) -> StoreResult<bool> {
        let n = diesel::update(users::table.find(user_id))
            .set((
                users::name.eq(&profile.name),
                users::email.eq(&profile.email),
                users::email_verified.eq(profile.email_verified),
                users::updated_at.eq(now),
            ))
            .execute(&mut *self.write_conn()?)?;
        Ok(n == 1)
    }

    /// Grants or revokes the admin role. Revoking (or disabling, see
    /// `set_disabled`) never leaves the installation without an enabled
    /// admin: the check and the change are one step under a lock, so two
    /// admins removing each other at once cannot both succeed.
    pub fn set_admin(&self, user_id: &str, admin: bool, now: i64) -> StoreResult<bool> {
        self.write_conn()?.transaction(|conn| {
            if !admin && !another_admin_remains(conn, user_id)? {
                return Ok(false);
            }
            let n = diesel::update(users::table.find(user_id))
                .set((users::is_admin.eq(admin), users::updated_at.eq(now)))
                .execute(conn)?;
            Ok(n == 1)
        })
    }

    /// A user's own password change: the new hash, and in the same
    /// transaction every grant revoked and every other login session ended;
    /// the session the change was made in stays.
    pub fn set_password_keeping_session(
        &self,
        user_id: &str,
        hash: &str,
        keep: &str,
        now: i64,
    ) -> StoreResult<bool> {
        self.write_conn()?.transaction(|conn| {
            let updated = diesel::update(users::table.find(user_id))
                .set((users::password_hash.eq(hash), users::updated_at.eq(now)))
                .execute(conn)?;
            if updated == 0 {
                return Ok(false);
            }
            revoke_grants_in(conn, user_id, now)?;
            diesel::delete(
                login_sessions::table
                    .filter(login_sessions::user_id.eq(user_id))
                    .filter(login_sessions::id.ne(keep)),
            )
            .execute(conn)?;
            Ok(true)
        })
    }
}
