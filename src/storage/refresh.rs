//! Refresh tokens and the atomic steps of their life: issue with a code,
//! rotate, detect reuse.

use diesel::prelude::*;

use super::audit::AuditRecord;
use super::conditional::{RetireRefreshToken, RotateOnPostgres, SetGrantExpiry, UseCode};
use super::grants::{AccessTokenRecord, GrantRecord, insert_access_token_in};
use super::schema::{audit_events, grants, refresh_tokens};
use super::{Conn, Store, StoreResult};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens)]
#[diesel(treat_none_as_default_value = false)]
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

/// What a refresh request writes, decided by the caller from the presented
/// token's record and its grant (see [`Store::refresh_step`]).
#[derive(Debug)]
pub enum RefreshWrite {
    /// Nothing: the request is refused as it stands.
    Nothing,
    /// Rotate the presented token.
    Rotate(Box<Rotation>),
    /// A retired token came back: revoke the whole family.
    RevokeFamily { at: i64, audit: AuditRecord },
}

/// Retire the presented token (or, when `retire` is false, spend the one
/// extra use the grace window allows a retired token), and record its
/// successor and the new access token.
#[derive(Debug, Clone)]
pub struct Rotation {
    pub retire: bool,
    pub successor: RefreshRecord,
    pub access: AccessTokenRecord,
    pub audit: AuditRecord,
}

impl Store {
    /// Marks the code used and records the tokens issued for it, in one
    /// transaction. `false` when the code was already used: of any number of
    /// racing redemptions exactly one wins (a conditional update).
    pub fn redeem_code(&self, r: CodeRedemption, now: i64) -> StoreResult<bool> {
        self.write(move |conn| {
            let won = UseCode {
                code_hash: r.code_hash.clone(),
                at: now,
            }
            .execute(conn)?
                == 1;
            if !won {
                return Ok::<_, diesel::result::Error>(false);
            }
            insert_access_token_in(conn, &r.access, r.audit.as_ref())?;
            if let Some(refresh) = &r.refresh {
                diesel::insert_into(refresh_tokens::table)
                    .values(refresh)
                    .execute(conn)?;
                SetGrantExpiry {
                    id: r.grant_id.clone(),
                    expires_at: r.family_expires_at,
                }
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

    /// One refresh request, start to end, in a single writer transaction:
    /// finds the presented token and its grant, lets `decide` choose what to
    /// write, and writes it. `None` for an unknown token.
    ///
    /// The retirement and the grace use are conditional updates, so two
    /// requests presenting the same token, even on different instances,
    /// cannot both rotate it: the one that finds its update already done
    /// reads the record again and decides anew (which then sees reuse).
    pub fn refresh_step<R, D>(&self, token_hash: String, mut decide: D) -> StoreResult<Option<R>>
    where
        D: FnMut(&RefreshRecord, &GrantRecord) -> (RefreshWrite, R) + Send + 'static,
        R: Send + 'static,
    {
        self.write(move |conn| {
            // Each lost race changes the record for good (retired, grace
            // spent), so this ends within three rounds.
            for _ in 0..3 {
                let Some((token, grant)) = refresh_tokens::table
                    .inner_join(grants::table)
                    .filter(refresh_tokens::token_hash.eq(&token_hash))
                    .select((RefreshRecord::as_select(), GrantRecord::as_select()))
                    .first(conn)
                    .optional()?
                else {
                    return Ok(None);
                };
                let (write, result) = decide(&token, &grant);
                match write {
                    RefreshWrite::Nothing => {}
                    RefreshWrite::Rotate(rotation) => {
                        let Rotation {
                            retire,
                            successor,
                            access,
                            audit,
                        } = *rotation;
                        if retire && let Conn::Postgresql(pg) = conn {
                            let rotate = RotateOnPostgres {
                                token_hash: &token_hash,
                                successor: &successor,
                                access: &access,
                                audit: &audit,
                            };
                            if rotate.execute(pg)? == 0 {
                                continue;
                            }
                            return Ok(Some(result));
                        }
                        let won = match retire {
                            true => RetireRefreshToken {
                                token_hash: token_hash.clone(),
                                at: successor.created_at,
                            }
                            .execute(conn)?,
                            false => diesel::update(
                                refresh_tokens::table
                                    .filter(refresh_tokens::token_hash.eq(&token_hash))
                                    .filter(refresh_tokens::grace_used.eq(false)),
                            )
                            .set(refresh_tokens::grace_used.eq(true))
                            .execute(conn)?,
                        } == 1;
                        if !won {
                            continue;
                        }
                        diesel::insert_into(refresh_tokens::table)
                            .values(&successor)
                            .execute(conn)?;
                        insert_access_token_in(conn, &access, Some(&audit))?;
                    }
                    RefreshWrite::RevokeFamily { at, audit } => {
                        super::grants::revoke_grant_in(conn, &grant.id, at)?;
                        diesel::insert_into(audit_events::table)
                            .values(&audit)
                            .execute(conn)?;
                    }
                }
                return Ok(Some(result));
            }
            Err(diesel::result::Error::RollbackTransaction)
        })
    }
}
