//! Refresh tokens and the atomic steps of their life: issue with a code,
//! rotate, detect reuse.

use diesel::prelude::*;

use super::audit::AuditRecord;
use super::grants::{AccessTokenRecord, GrantRecord};
use super::schema::{access_tokens, audit_events, authorization_codes, grants, refresh_tokens};
use super::{Store, StoreResult};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshRecord {
    /// SHA-256 of the token; the token itself is never stored.
    pub token_hash: String,
    /// A public id for introspection (`jti`) and logs.
    pub id: String,
    pub grant_id: String,
    pub client_id: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub retired_at: Option<i64>,
    /// The one extra use the grace window allows has been spent.
    pub grace_used: bool,
}

/// What a code redemption writes, all or nothing.
#[derive(Debug)]
pub struct CodeRedemption {
    pub code_hash: String,
    pub grant_id: String,
    pub access: AccessTokenRecord,
    pub refresh: Option<RefreshRecord>,
    /// The family's absolute end when a refresh token is issued.
    pub family_expires_at: Option<i64>,
    /// Written in the same transaction.
    pub audit: Option<AuditRecord>,
}

/// What one rotation step writes, all or nothing.
#[derive(Debug)]
pub struct Rotation {
    /// The token to retire; `None` for a grace-window use of a token
    /// already retired.
    pub old: Option<String>,
    pub successor: RefreshRecord,
    pub access: AccessTokenRecord,
    pub audit: Option<AuditRecord>,
}

impl Store {
    /// Marks the code used and records the tokens issued for it, in one
    /// transaction. `false` when the code was already used: of any number of
    /// racing redemptions exactly one wins (a conditional update).
    pub fn redeem_code(&self, r: CodeRedemption, now: i64) -> StoreResult<bool> {
        self.write(move |conn| {
            let won = diesel::update(
                authorization_codes::table
                    .filter(authorization_codes::code_hash.eq(&r.code_hash))
                    .filter(authorization_codes::used_at.is_null()),
            )
            .set(authorization_codes::used_at.eq(now))
            .execute(conn)?
                == 1;
            if !won {
                return Ok::<_, diesel::result::Error>(false);
            }
            diesel::insert_into(access_tokens::table)
                .values(&r.access)
                .execute(conn)?;
            if let Some(audit) = &r.audit {
                diesel::insert_into(audit_events::table)
                    .values(audit)
                    .execute(conn)?;
            }
            if let Some(refresh) = &r.refresh {
                diesel::insert_into(refresh_tokens::table)
                    .values(refresh)
                    .execute(conn)?;
                diesel::update(grants::table.find(&r.grant_id))
                    .set(grants::expires_at.eq(r.family_expires_at))
                    .execute(conn)?;
            }
            Ok(true)
        })
    }

    pub fn refresh_token_with_grant(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<(RefreshRecord, GrantRecord)>> {
        Ok(refresh_tokens::table
            .inner_join(grants::table)
            .filter(refresh_tokens::token_hash.eq(token_hash))
            .select((RefreshRecord::as_select(), GrantRecord::as_select()))
            .first(&mut *self.conn()?)
            .optional()?)
    }

    /// One rotation step: retire the old token (unless the step has none,
    /// for the grace window), store its successor and the new access token.
    /// `false` when the old token was already retired, i.e. another request
    /// rotated it first.
    pub fn rotate_refresh_token(&self, r: Rotation, now: i64) -> StoreResult<bool> {
        self.write(move |conn| {
            if let Some(old) = &r.old {
                let retired = diesel::update(
                    refresh_tokens::table
                        .filter(refresh_tokens::token_hash.eq(old))
                        .filter(refresh_tokens::retired_at.is_null()),
                )
                .set(refresh_tokens::retired_at.eq(now))
                .execute(conn)?;
                if retired == 0 {
                    return Ok(false);
                }
            }
            diesel::insert_into(refresh_tokens::table)
                .values(&r.successor)
                .execute(conn)?;
            diesel::insert_into(access_tokens::table)
                .values(&r.access)
                .execute(conn)?;
            if let Some(audit) = &r.audit {
                diesel::insert_into(audit_events::table)
                    .values(audit)
                    .execute(conn)?;
            }
            Ok(true)
        })
    }

    /// Spends a retired token's single grace-window use. Conditional, so of
    /// racing requests exactly one gets `true`.
    pub fn claim_grace_use(&self, token_hash: &str) -> StoreResult<bool> {
        let token_hash = token_hash.to_owned();
        let n = self.write(move |conn| {
            diesel::update(
                refresh_tokens::table
                    .filter(refresh_tokens::token_hash.eq(&token_hash))
                    .filter(refresh_tokens::grace_used.eq(false)),
            )
            .set(refresh_tokens::grace_used.eq(true))
            .execute(conn)
        })?;
        Ok(n == 1)
    }

    /// When a refresh token was retired, read after a lost rotation race.
    pub fn refresh_token_retired_at(&self, token_hash: &str) -> StoreResult<Option<i64>> {
        Ok(refresh_tokens::table
            .find(token_hash)
            .select(refresh_tokens::retired_at)
            .first::<Option<i64>>(&mut *self.conn()?)
            .optional()?
            .flatten())
    }
}
