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

    /// Records a consent: `merge` gets the scope already consented to (if
    /// any) and returns the scope to store, which is returned. The row is
    /// read, merged and written conditionally (unchanged since the read),
    /// and the whole step repeated when another approval changed it in
    /// between, so two approvals at once (a double click, two tabs with
    /// different scopes) both count on every backend. Plain statements
    /// rather than a dialect-specific upsert.
    pub fn save_consent(
        &self,
        user_id: &str,
        client_id: &str,
        now: i64,
        merge: impl Fn(Option<&str>) -> String,
    ) -> StoreResult<String> {
        let mut conn = self.write_conn()?;
        let row = || consents::table.find((user_id, client_id));
        // Each retry means another approval committed meanwhile, so this
        // ends; the bound only keeps a pathological storm finite.
        for _ in 0..64 {
            let previous: Option<String> =
                row().select(consents::scope).first(&mut *conn).optional()?;
            let scope = merge(previous.as_deref());
            let written = match &previous {
                Some(previous) => {
                    diesel::update(row().filter(consents::scope.eq(previous)))
                        .set((consents::scope.eq(&scope), consents::updated_at.eq(now)))
                        .execute(&mut *conn)?
                        == 1
                }
                None => {
                    let inserted = diesel::insert_into(consents::table)
                        .values((
                            consents::user_id.eq(user_id),
                            consents::client_id.eq(client_id),
                            consents::scope.eq(&scope),
                            consents::updated_at.eq(now),
                        ))
                        .execute(&mut *conn);
                    match inserted {
                        Ok(_) => true,
                        Err(e) if super::is_unique_violation(&e) => false,
                        Err(e) => return Err(e.into()),
                    }
                }
            };
            if written {
                return Ok(scope);
            }
        }
        Err(StoreError::Write {
            unavailable: true,
            message: "the consent kept changing; try again".into(),
        })
    }
}
