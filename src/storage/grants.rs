//! Grants (what one authorization produced), their authorization codes and
//! the access tokens issued from them.

use diesel::prelude::*;

use super::schema::{access_tokens, authorization_codes, grants};
use super::sessions::SessionStart;
use super::{Conn, Store, StoreResult};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = grants)]
#[diesel(treat_none_as_default_value = false)]
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
#[diesel(treat_none_as_default_value = false)]
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
#[diesel(treat_none_as_default_value = false)]
pub struct AccessTokenRecord {
    pub jti: String,
    pub grant_id: Option<String>,
    pub client_id: String,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

impl Store {
    /// Writes a grant and its code in one transaction, with the login that
    /// led to them if there is one (the session then starts in the same
    /// commit). With `pending_id`, only if that stored request is still
    /// there: it is removed in the same transaction; false, with nothing
    /// written, means another caller finished it first (a double-submitted
    /// form gets one code, not two).
    pub fn issue_code(
        &self,
        pending_id: Option<&str>,
        grant: &GrantRecord,
        code: &CodeRecord,
        login: Option<&SessionStart>,
    ) -> StoreResult<bool> {
        use super::schema::pending_requests;
        let pending_id = pending_id.map(str::to_owned);
        let (grant, code, login) = (grant.clone(), code.clone(), login.cloned());
        self.write(move |conn| {
            if let Some(id) = &pending_id {
                let taken = diesel::delete(pending_requests::table.find(id)).execute(conn)?;
                if taken == 0 {
                    return Ok(false);
                }
            }
            if let Some(login) = &login {
                super::sessions::start_session_in(conn, login)?;
            }
            diesel::insert_into(grants::table)
                .values(&grant)
                .execute(conn)?;
            diesel::insert_into(authorization_codes::table)
                .values(&code)
                .execute(conn)?;
            Ok(true)
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
        let grant_id = grant_id.to_owned();
        self.write(move |conn| revoke_grant_in(conn, &grant_id, now))
    }

    /// Records an issued access token, and its audit event in the same
    /// transaction.
    pub fn insert_access_token(
        &self,
        token: AccessTokenRecord,
        audit: Option<super::audit::AuditRecord>,
    ) -> StoreResult<()> {
        self.write(access_token_job(token, audit))
    }

    /// [`Store::insert_access_token`] for an async caller.
    pub fn insert_access_token_async(
        &self,
        token: AccessTokenRecord,
        audit: Option<super::audit::AuditRecord>,
    ) -> impl std::future::Future<Output = StoreResult<()>> + use<> {
        self.write_async(access_token_job(token, audit))
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
        .execute(&mut *self.write_conn()?)?;
        Ok(())
    }

    /// For an access token we issued that is neither revoked nor expired,
    /// whose grant is not revoked and whose client is not disabled: whether
    /// it was issued for a user (it belongs to a grant). `None` otherwise.
    pub fn active_access_token(&self, jti: &str, now: i64) -> StoreResult<Option<bool>> {
        use super::schema::clients;
        // The grant is checked too, so a token can never outlive a revoked
        // grant whatever order concurrent writes land in.
        let row: Option<Option<String>> = access_tokens::table
            .left_join(grants::table)
            .inner_join(clients::table.on(clients::id.eq(access_tokens::client_id)))
            .filter(access_tokens::jti.eq(jti))
            .filter(access_tokens::revoked_at.is_null())
            .filter(access_tokens::expires_at.gt(now))
            .filter(grants::revoked_at.is_null())
            .filter(clients::disabled.eq(false))
            .select(access_tokens::grant_id)
            .first(&mut *self.conn()?)
            .optional()?;
        Ok(row.map(|grant| grant.is_some()))
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

/// A client's standing access to a user's account: its live refresh-token
/// families, summed up.
#[derive(Debug, Clone)]
pub struct AppGrant {
    pub client_id: String,
    pub scope: String,
    pub created_at: i64,
    pub last_used: i64,
}

impl Store {
    /// Clients holding a live refresh-token family of the user.
    pub fn app_grants(&self, user_id: &str, now: i64) -> StoreResult<Vec<AppGrant>> {
        use super::schema::refresh_tokens;
        let rows: Vec<(String, String, i64, Option<i64>)> = grants::table
            .left_join(refresh_tokens::table)
            .filter(grants::user_id.eq(user_id))
            .filter(grants::revoked_at.is_null())
            .filter(grants::expires_at.gt(now))
            .group_by((
                grants::id,
                grants::client_id,
                grants::scope,
                grants::created_at,
            ))
            .select((
                grants::client_id,
                grants::scope,
                grants::created_at,
                diesel::dsl::max(refresh_tokens::created_at.nullable()),
            ))
            .load(&mut *self.conn()?)?;
        let mut out: Vec<AppGrant> = Vec::new();
        for (client_id, scope, created_at, last) in rows {
            let last_used = last.unwrap_or(created_at);
            match out.iter_mut().find(|g| g.client_id == client_id) {
                Some(g) => {
                    g.created_at = g.created_at.min(created_at);
                    g.last_used = g.last_used.max(last_used);
                    for s in scope.split(' ') {
                        if !g.scope.split(' ').any(|x| x == s) {
                            g.scope = format!("{} {s}", g.scope);
                        }
                    }
                }
                None => out.push(AppGrant {
                    client_id,
                    scope,
                    created_at,
                    last_used,
                }),
            }
        }
        Ok(out)
    }

    /// Revokes every grant of the user to the client and forgets the
    /// consent, so the app must ask again.
    pub fn revoke_app_grant(&self, user_id: &str, client_id: &str, now: i64) -> StoreResult<usize> {
        use super::schema::consents;
        self.write_conn()?.transaction(|conn| {
            let ids: Vec<String> = grants::table
                .filter(grants::user_id.eq(user_id))
                .filter(grants::client_id.eq(client_id))
                .filter(grants::revoked_at.is_null())
                .select(grants::id)
                .load(conn)?;
            for id in &ids {
                revoke_grant_in(conn, id, now)?;
            }
            diesel::delete(consents::table.find((user_id, client_id))).execute(conn)?;
            Ok(ids.len())
        })
    }
}

/// The statements of an issued access token and its audit event.
fn access_token_job(
    token: AccessTokenRecord,
    audit: Option<super::audit::AuditRecord>,
) -> impl FnMut(&mut Conn) -> QueryResult<()> + Send + 'static {
    move |conn| insert_access_token_in(conn, &token, audit.as_ref())
}

/// Records an issued access token and its audit event, in the caller's
/// transaction; on PostgreSQL in one statement (one round trip, not two).
pub(super) fn insert_access_token_in(
    conn: &mut Conn,
    token: &AccessTokenRecord,
    audit: Option<&super::audit::AuditRecord>,
) -> QueryResult<()> {
    use super::schema::audit_events;
    if let (Conn::Postgresql(pg), Some(audit)) = (&mut *conn, audit) {
        let issue = super::conditional::IssueOnPostgres {
            access: token,
            audit,
        };
        return issue.execute(pg).map(drop);
    }
    diesel::insert_into(access_tokens::table)
        .values(token)
        .execute(conn)?;
    if let Some(audit) = audit {
        diesel::insert_into(audit_events::table)
            .values(audit)
            .execute(conn)?;
    }
    Ok(())
}
