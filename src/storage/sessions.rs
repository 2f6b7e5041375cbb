//! Browser login sessions. Only the SHA-256 of the cookie secret is stored.

use diesel::prelude::*;

use super::audit::AuditRecord;
use super::schema::{login_sessions, users};
use super::{Conn, Store, StoreResult};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = login_sessions)]
#[diesel(treat_none_as_default_value = false)]
pub struct SessionRecord {
    pub id: String,
    pub secret_hash: String,
    pub user_id: String,
    pub auth_time: i64,
    pub created_at: i64,
    pub expires_at: i64,
}

/// What a successful login writes (see [`Store::start_session`]).
#[derive(Debug, Clone)]
pub struct SessionStart {
    /// The session the browser had before, ended by this login.
    pub replaces: Option<String>,
    pub session: SessionRecord,
    pub audit: AuditRecord,
    /// The authorization request the login was for.
    pub pending_id: Option<String>,
}

/// [`Store::start_session`] inside the caller's transaction.
pub(super) fn start_session_in(conn: &mut Conn, login: &SessionStart) -> QueryResult<()> {
    use super::conditional::MarkPendingAuthenticated;
    use super::schema::audit_events;
    if let Some(old) = &login.replaces {
        diesel::delete(login_sessions::table.find(old)).execute(conn)?;
    }
    diesel::insert_into(login_sessions::table)
        .values(&login.session)
        .execute(conn)?;
    diesel::insert_into(audit_events::table)
        .values(&login.audit)
        .execute(conn)?;
    if let Some(pending) = &login.pending_id {
        MarkPendingAuthenticated {
            id: pending.clone(),
            session_id: login.session.id.clone(),
        }
        .execute(conn)?;
    }
    Ok(())
}

impl Store {
    /// A login, in one transaction: the browser's previous session (if
    /// any) ends, the new one starts, the event is recorded, and the
    /// pending authorization request (if any) is tied to the new session.
    pub fn start_session(&self, login: SessionStart) -> StoreResult<()> {
        self.write(move |conn| start_session_in(conn, &login))
    }

    /// The live session for a cookie secret hash, if its user is still enabled.
    pub fn live_session(&self, secret_hash: &str, now: i64) -> StoreResult<Option<SessionRecord>> {
        Ok(login_sessions::table
            .inner_join(users::table)
            .filter(login_sessions::secret_hash.eq(secret_hash))
            .filter(login_sessions::expires_at.gt(now))
            .filter(users::disabled.eq(false))
            .select(SessionRecord::as_select())
            .first(&mut *self.conn()?)
            .optional()?)
    }

    pub fn delete_session(&self, id: &str) -> StoreResult<()> {
        let id = id.to_owned();
        self.write(move |conn| diesel::delete(login_sessions::table.find(&id)).execute(conn))?;
        Ok(())
    }
}

impl Store {
    /// A user's live sessions, newest first.
    pub fn user_sessions(&self, user_id: &str, now: i64) -> StoreResult<Vec<SessionRecord>> {
        Ok(login_sessions::table
            .filter(login_sessions::user_id.eq(user_id))
            .filter(login_sessions::expires_at.gt(now))
            .order(login_sessions::created_at.desc())
            .select(SessionRecord::as_select())
            .load(&mut *self.conn()?)?)
    }

    /// Ends one session of this user; false if it was not theirs.
    pub fn delete_user_session(&self, user_id: &str, session_id: &str) -> StoreResult<bool> {
        let n = diesel::delete(
            login_sessions::table
                .filter(login_sessions::id.eq(session_id))
                .filter(login_sessions::user_id.eq(user_id)),
        )
        .execute(&mut *self.write_conn()?)?;
        Ok(n == 1)
    }

    pub fn delete_user_sessions(&self, user_id: &str) -> StoreResult<usize> {
        Ok(
            diesel::delete(login_sessions::table.filter(login_sessions::user_id.eq(user_id)))
                .execute(&mut *self.write_conn()?)?,
        )
    }

    pub fn count_live_sessions(&self, now: i64) -> StoreResult<i64> {
        Ok(login_sessions::table
            .filter(login_sessions::expires_at.gt(now))
            .count()
            .get_result(&mut *self.conn()?)?)
    }
}
