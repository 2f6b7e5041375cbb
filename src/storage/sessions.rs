//! Browser login sessions. Only the SHA-256 of the cookie secret is stored.

use diesel::prelude::*;

use super::schema::{login_sessions, users};
use super::{Store, StoreResult};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = login_sessions)]
pub struct SessionRecord {
    pub id: String,
    pub secret_hash: String,
    pub user_id: String,
    pub auth_time: i64,
    pub created_at: i64,
    pub expires_at: i64,
}

impl Store {
    pub fn insert_session(&self, session: &SessionRecord) -> StoreResult<()> {
        diesel::insert_into(login_sessions::table)
            .values(session)
            .execute(&mut *self.conn()?)?;
        Ok(())
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
        diesel::delete(login_sessions::table.find(id)).execute(&mut *self.conn()?)?;
        Ok(())
    }
}
