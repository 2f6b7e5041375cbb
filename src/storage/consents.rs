//! Remembered consent decisions, one row per user and client.

use diesel::prelude::*;

use super::schema::consents;
use super::{Store, StoreError, StoreResult};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = consents)]
pub struct ConsentRecord {
    pub scope: String,
    pub updated_at: i64,
}

impl Store {
    pub fn consent(&self, user_id: &str, client_id: &str) -> StoreResult<Option<ConsentRecord>> {
        Ok(consents::table
            .find((user_id, client_id))
            .select(ConsentRecord::as_select())
            .first(&mut *self.conn()?)
            .optional()?)
    }

    /// Records the consented scope set. Written as update-then-insert rather
    /// than a dialect-specific upsert so it runs unchanged on every backend.
    /// Two approvals at once (a double click) can both find no row on
    /// PostgreSQL and both insert; the loser then finds the winner's row
    /// and updates it.
    pub fn save_consent(
        &self,
        user_id: &str,
        client_id: &str,
        scope: &str,
        now: i64,
    ) -> StoreResult<()> {
        let save = || {
            self.write_conn()?.transaction(|conn| {
                let n = diesel::update(consents::table.find((user_id, client_id)))
                    .set((consents::scope.eq(scope), consents::updated_at.eq(now)))
                    .execute(conn)?;
                if n == 0 {
                    diesel::insert_into(consents::table)
                        .values((
                            consents::user_id.eq(user_id),
                            consents::client_id.eq(client_id),
                            consents::scope.eq(scope),
                            consents::updated_at.eq(now),
                        ))
                        .execute(conn)?;
                }
                Ok(())
            })
        };
        match save() {
            Err(StoreError::Query(e)) if super::is_unique_violation(&e) => save(),
            done => done,
        }
    }
}
