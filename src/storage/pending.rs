//! Validated authorization requests waiting for the user to log in or consent.
//! Kept in the database so any instance can continue the flow.

use diesel::prelude::*;

use super::schema::pending_requests;
use super::{Store, StoreResult};

/// Serializable too: a request that waits only for its login form is
/// sealed into that form instead of stored (`service::authorize::find`).
#[derive(Debug, Clone, Queryable, Selectable, Insertable, serde::Serialize, serde::Deserialize)]
#[diesel(table_name = pending_requests)]
#[diesel(treat_none_as_default_value = false)]
pub struct PendingRecord {
    pub id: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub response_mode: String,
    pub prompt: Option<String>,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    pub authenticated_session_id: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

impl Store {
    pub fn insert_pending(&self, pending: &PendingRecord) -> StoreResult<()> {
        let pending = pending.clone();
        self.write(move |conn| {
            diesel::insert_into(pending_requests::table)
                .values(&pending)
                .execute(conn)
        })?;
        Ok(())
    }

    pub fn pending(&self, id: &str, now: i64) -> StoreResult<Option<PendingRecord>> {
        Ok(pending_requests::table
            .find(id)
            .filter(pending_requests::expires_at.gt(now))
            .select(PendingRecord::as_select())
            .first(&mut *self.conn()?)
            .optional()?)
    }

    /// Removes a finished request; true only for the caller that removed it,
    /// so a double-submitted form cannot finish the same request twice.
    pub fn take_pending(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_owned();
        let n = self
            .write(move |conn| diesel::delete(pending_requests::table.find(&id)).execute(conn))?;
        Ok(n == 1)
    }
}
