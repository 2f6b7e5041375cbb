//! Removal of rows nothing can use any more, so the database does not grow
//! without bound. Run periodically by the server.

use diesel::prelude::*;

use super::schema::{
    access_tokens, authorization_codes, grants, login_sessions, pending_requests, refresh_tokens,
};
use super::{Store, StoreResult};

/// Rows removed by one sweep.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    pub pending_requests: usize,
    pub login_sessions: usize,
    pub access_tokens: usize,
    pub codes: usize,
    pub refresh_tokens: usize,
    pub grants: usize,
}

/// A used or expired code is kept this long so a late replay is still
/// recognised as one.
const CODE_RETENTION_SECS: i64 = 24 * 3600;
/// A grant without refresh tokens is kept this long after it was created,
/// and a revoked or ended family this long after it ended.
const GRANT_RETENTION_SECS: i64 = 24 * 3600;

impl Store {
    pub fn purge_expired(&self, now: i64) -> StoreResult<Purged> {
        let mut conn = self.write_conn()?;
        let conn = &mut *conn;
        let mut purged = Purged {
            pending_requests: diesel::delete(
                pending_requests::table.filter(pending_requests::expires_at.le(now)),
            )
            .execute(conn)?,
            login_sessions: diesel::delete(
                login_sessions::table.filter(login_sessions::expires_at.le(now)),
            )
            .execute(conn)?,
            access_tokens: diesel::delete(
                access_tokens::table.filter(access_tokens::expires_at.le(now)),
            )
            .execute(conn)?,
            codes: diesel::delete(
                authorization_codes::table
                    .filter(authorization_codes::expires_at.le(now - CODE_RETENTION_SECS)),
            )
            .execute(conn)?,
            ..Purged::default()
        };
        let cutoff = now - GRANT_RETENTION_SECS;
        let ended: Vec<String> = grants::table
            .filter(
                grants::revoked_at
                    .le(cutoff)
                    .or(grants::expires_at.le(cutoff))
                    .or(grants::expires_at
                        .is_null()
                        .and(grants::created_at.le(cutoff))),
            )
            .select(grants::id)
            .load(conn)?;
        for chunk in ended.chunks(500) {
            // Keep a grant while an access token of it is still live.
            let busy: Vec<Option<String>> = access_tokens::table
                .filter(access_tokens::grant_id.eq_any(chunk.iter().map(Some)))
                .select(access_tokens::grant_id)
                .distinct()
                .load(conn)?;
            let done: Vec<&String> = chunk
                .iter()
                .filter(|id| !busy.iter().flatten().any(|b| b == *id))
                .collect();
            purged.refresh_tokens += diesel::delete(
                refresh_tokens::table.filter(refresh_tokens::grant_id.eq_any(&done)),
            )
            .execute(conn)?;
            purged.codes += diesel::delete(
                authorization_codes::table.filter(authorization_codes::grant_id.eq_any(&done)),
            )
            .execute(conn)?;
            purged.grants +=
                diesel::delete(grants::table.filter(grants::id.eq_any(&done))).execute(conn)?;
        }
        Ok(purged)
    }
}
