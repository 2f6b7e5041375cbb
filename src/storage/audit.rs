//! The audit log of security events.

use diesel::prelude::*;

use super::schema::audit_events;
use super::{Store, StoreResult};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events)]
#[diesel(treat_none_as_default_value = false)]
pub struct AuditRecord {
    pub id: String,
    pub at: i64,
    pub kind: String,
    pub outcome: String,
    pub actor_user_id: Option<String>,
    pub subject_user_id: Option<String>,
    pub client_id: Option<String>,
    pub source_ip: Option<String>,
    pub detail: Option<String>,
}

/// What the audit page filters by; `None` matches everything.
#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    /// Matches the actor or the subject.
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    pub kind: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub limit: i64,
    pub offset: i64,
}

impl Store {
    pub fn insert_audit(&self, record: AuditRecord) -> StoreResult<()> {
        self.write(move |conn| {
            diesel::insert_into(audit_events::table)
                .values(&record)
                .execute(conn)
        })?;
        Ok(())
    }

    /// Newest first.
    pub fn audit_events(&self, f: &AuditFilter) -> StoreResult<Vec<AuditRecord>> {
        let mut q = audit_events::table.into_boxed();
        if let Some(user) = &f.user_id {
            q = q.filter(
                audit_events::subject_user_id
                    .eq(user)
                    .or(audit_events::actor_user_id.eq(user)),
            );
        }
        if let Some(client) = &f.client_id {
            q = q.filter(audit_events::client_id.eq(client));
        }
        if let Some(kind) = &f.kind {
            q = q.filter(audit_events::kind.eq(kind));
        }
        if let Some(since) = f.since {
            q = q.filter(audit_events::at.ge(since));
        }
        if let Some(until) = f.until {
            q = q.filter(audit_events::at.lt(until));
        }
        Ok(q.order((audit_events::at.desc(), audit_events::id.asc()))
            .limit(f.limit)
            .offset(f.offset)
            .select(AuditRecord::as_select())
            .load(&mut *self.conn()?)?)
    }

    pub fn count_audit(&self, kind: &str, since: i64) -> StoreResult<i64> {
        Ok(audit_events::table
            .filter(audit_events::kind.eq(kind))
            .filter(audit_events::at.ge(since))
            .count()
            .get_result(&mut *self.conn()?)?)
    }

    /// Events of `kind` since `since` recorded under `detail`, and those
    /// from `source_ip` (0 without one), counted in one statement: login
    /// throttling asks both before every password check.
    pub fn count_recent(
        &self,
        kind: &str,
        detail: &str,
        source_ip: Option<&str>,
        since: i64,
    ) -> StoreResult<(i64, i64)> {
        use audit_events::dsl as a;
        let recent = || {
            a::audit_events
                .filter(a::kind.eq(kind))
                .filter(a::at.ge(since))
        };
        let by_detail = recent().filter(a::detail.eq(detail)).count();
        let mut conn = self.conn()?;
        let Some(source_ip) = source_ip else {
            return Ok((by_detail.get_result(&mut *conn)?, 0));
        };
        let by_source = recent().filter(a::source_ip.eq(source_ip)).count();
        let (by_detail, by_source): (Option<i64>, Option<i64>) =
            diesel::select((by_detail.single_value(), by_source.single_value()))
                .get_result(&mut *conn)?;
        Ok((by_detail.unwrap_or(0), by_source.unwrap_or(0)))
    }

    pub fn purge_audit(&self, before: i64) -> StoreResult<usize> {
        Ok(
            diesel::delete(audit_events::table.filter(audit_events::at.lt(before)))
                .execute(&mut *self.write_conn()?)?,
        )
    }
}
