//! Grants (what one authorization produced), their authorization codes and
//! the access tokens issued from them.

use diesel::prelude::*;

use super::schema::{access_tokens, authorization_codes, grants};
use super::{Conn, Store, StoreResult};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = grants)]
pub struct GrantRecord {
    pub id: String,
    pub client_id: String,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub scope: String,
    pub auth_time: Option<i64>,
    pub created_at: i64,
    /// Absolute end of the refresh-token family, if it has one.
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = authorization_codes)]
pub struct CodeRecord {
    /// SHA-256 of the code; the code itself is never stored.
    pub code_hash: String,
    pub grant_id: String,
    pub redirect_uri: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = access_tokens)]
pub struct AccessTokenRecord {
    pub jti: String,
    pub grant_id: Option<String>,
    pub client_id: String,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

impl Store {
    pub fn insert_grant_with_code(
        &self,
        grant: &GrantRecord,
        code: &CodeRecord,
    ) -> StoreResult<()> {
        self.conn()?.transaction(|conn| {
            diesel::insert_into(grants::table)
                .values(grant)
                .execute(conn)?;
            diesel::insert_into(authorization_codes::table)
                .values(code)
                .execute(conn)?;
            Ok(())
        })
    }

    pub fn code_with_grant(
        &self,
        code_hash: &str,
    ) -> StoreResult<Option<(CodeRecord, GrantRecord)>> {
        Ok(authorization_codes::table
            .inner_join(grants::table)
            .filter(authorization_codes::code_hash.eq(code_hash))
            .select((CodeRecord::as_select(), GrantRecord::as_select()))
            .first(&mut *self.conn()?)
            .optional()?)
    }

    pub fn revoke_grant(&self, grant_id: &str, now: i64) -> StoreResult<()> {
        Ok(self
            .conn()?
            .transaction(|conn| revoke_grant_in(conn, grant_id, now))?)
    }

    pub fn insert_access_token(&self, token: &AccessTokenRecord) -> StoreResult<()> {
        diesel::insert_into(access_tokens::table)
            .values(token)
            .execute(&mut *self.conn()?)?;
        Ok(())
    }

    pub fn access_token(&self, jti: &str) -> StoreResult<Option<AccessTokenRecord>> {
        Ok(access_tokens::table
            .find(jti)
            .select(AccessTokenRecord::as_select())
            .first(&mut *self.conn()?)
            .optional()?)
    }

    pub fn revoke_access_token(&self, jti: &str, now: i64) -> StoreResult<()> {
        diesel::update(
            access_tokens::table
                .find(jti)
                .filter(access_tokens::revoked_at.is_null()),
        )
        .set(access_tokens::revoked_at.eq(now))
        .execute(&mut *self.conn()?)?;
        Ok(())
    }

    /// Whether an access token we issued is neither revoked nor expired.
    pub fn access_token_active(&self, jti: &str, now: i64) -> StoreResult<bool> {
        // The grant is checked too, so a token can never outlive a revoked
        // grant whatever order concurrent writes land in.
        let n: i64 = access_tokens::table
            .left_join(grants::table)
            .filter(access_tokens::jti.eq(jti))
            .filter(access_tokens::revoked_at.is_null())
            .filter(access_tokens::expires_at.gt(now))
            .filter(grants::revoked_at.is_null())
            .count()
            .get_result(&mut *self.conn()?)?;
        Ok(n > 0)
    }
}

/// Revokes a grant and every access token issued from it, inside the
/// caller's transaction.
pub(crate) fn revoke_grant_in(conn: &mut Conn, grant_id: &str, now: i64) -> QueryResult<()> {
    diesel::update(
        grants::table
            .find(grant_id)
            .filter(grants::revoked_at.is_null()),
    )
    .set(grants::revoked_at.eq(now))
    .execute(conn)?;
    diesel::update(
        access_tokens::table
            .filter(access_tokens::grant_id.eq(grant_id))
            .filter(access_tokens::revoked_at.is_null()),
    )
    .set(access_tokens::revoked_at.eq(now))
    .execute(conn)?;
    Ok(())
}
