//! The updates on the hot paths, as statements diesel can keep
//! prepared. Diesel never caches an UPDATE built with its query builder (a
//! changeset may change the SQL), so each would be parsed and planned again
//! on every request; these have fixed SQL and only bind values.
//!
//! The conditional ones set a column only where it is still unset, and
//! report through the row count whether this call was the one that did: of
//! racing requests exactly one sees 1.

use diesel::backend::Backend;
use diesel::pg::{Pg, PgConnection};
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Bool, HasSqlType, Nullable, Text};
use diesel::{QueryResult, RunQueryDsl};

use super::audit::AuditRecord;
use super::grants::AccessTokenRecord;
use super::refresh::RefreshRecord;

/// `UPDATE refresh_tokens SET retired_at = $at WHERE token_hash = $hash AND
/// retired_at IS NULL`: retire a refresh token unless it already was.
#[derive(Debug)]
pub(super) struct RetireRefreshToken {
    pub token_hash: String,
    pub at: i64,
}

/// `UPDATE authorization_codes SET used_at = $at WHERE code_hash = $hash
/// AND used_at IS NULL`: use an authorization code unless it already was.
#[derive(Debug)]
pub(super) struct UseCode {
    pub code_hash: String,
    pub at: i64,
}

/// `UPDATE $table SET $column = $value WHERE $key = $key_value`.
fn update_where<'b, DB, ST, V>(
    out: &mut AstPass<'_, 'b, DB>,
    table: &str,
    column: &str,
    value: &'b V,
    key: &str,
    key_value: &'b String,
) -> QueryResult<()>
where
    DB: Backend + HasSqlType<ST> + HasSqlType<Text>,
    V: ToSql<ST, DB>,
    String: ToSql<Text, DB>,
{
    out.push_sql("UPDATE ");
    out.push_identifier(table)?;
    out.push_sql(" SET ");
    out.push_identifier(column)?;
    out.push_sql(" = ");
    out.push_bind_param::<ST, _>(value)?;
    out.push_sql(" WHERE ");
    out.push_identifier(key)?;
    out.push_sql(" = ");
    out.push_bind_param::<Text, _>(key_value)
}

/// [`update_where`], only where `$column` is still NULL.
fn set_once<'b, DB>(
    mut out: AstPass<'_, 'b, DB>,
    table: &str,
    column: &str,
    key: &str,
    at: &'b i64,
    key_value: &'b String,
) -> QueryResult<()>
where
    DB: Backend + HasSqlType<BigInt> + HasSqlType<Text>,
    i64: ToSql<BigInt, DB>,
    String: ToSql<Text, DB>,
{
    update_where::<_, BigInt, _>(&mut out, table, column, at, key, key_value)?;
    out.push_sql(" AND ");
    out.push_identifier(column)?;
    out.push_sql(" IS NULL");
    Ok(())
}

macro_rules! fixed_statement {
    ($ty:ty, $table:literal, $column:literal, $key:literal, $key_field:ident) => {
        impl QueryId for $ty {
            type QueryId = Self;
            const HAS_STATIC_QUERY_ID: bool = true;
        }

        impl<DB> QueryFragment<DB> for $ty
        where
            DB: Backend + HasSqlType<BigInt> + HasSqlType<Text>,
            i64: ToSql<BigInt, DB>,
            String: ToSql<Text, DB>,
        {
            fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
                set_once(out, $table, $column, $key, &self.at, &self.$key_field)
            }
        }

        impl<C> RunQueryDsl<C> for $ty {}
    };
}

fixed_statement!(
    RetireRefreshToken,
    "refresh_tokens",
    "retired_at",
    "token_hash",
    token_hash
);
fixed_statement!(
    UseCode,
    "authorization_codes",
    "used_at",
    "code_hash",
    code_hash
);

/// `UPDATE pending_requests SET authenticated_session_id = $session_id
/// WHERE id = $id`: ties a pending request to the login made for it.
#[derive(Debug)]
pub(super) struct MarkPendingAuthenticated {
    pub id: String,
    pub session_id: String,
}

/// `UPDATE grants SET expires_at = $expires_at WHERE id = $id`: gives a
/// grant the end of the refresh-token family it now has.
#[derive(Debug)]
pub(super) struct SetGrantExpiry {
    pub id: String,
    pub expires_at: Option<i64>,
}

impl QueryId for MarkPendingAuthenticated {
    type QueryId = Self;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<DB> QueryFragment<DB> for MarkPendingAuthenticated
where
    DB: Backend + HasSqlType<Text>,
    String: ToSql<Text, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        let column = "authenticated_session_id";
        let (table, value) = ("pending_requests", &self.session_id);
        update_where::<_, Text, _>(&mut out, table, column, value, "id", &self.id)
    }
}

impl<C> RunQueryDsl<C> for MarkPendingAuthenticated {}

impl QueryId for SetGrantExpiry {
    type QueryId = Self;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<DB> QueryFragment<DB> for SetGrantExpiry
where
    DB: Backend + HasSqlType<Nullable<BigInt>> + HasSqlType<Text>,
    Option<i64>: ToSql<Nullable<BigInt>, DB>,
    String: ToSql<Text, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        let expires_at = &self.expires_at;
        update_where::<_, Nullable<BigInt>, _>(
            &mut out,
            "grants",
            "expires_at",
            expires_at,
            "id",
            &self.id,
        )
    }
}

impl<C> RunQueryDsl<C> for SetGrantExpiry {}

/// A whole rotation in one PostgreSQL statement: retire the presented
/// token unless it already was, and only then insert its successor, the
/// new access token and the audit row. Four round trips become one; on
/// SQLite, in process, separate statements cost nothing comparable.
/// Affects one row (the successor) when this call retired the token,
/// none when another request had.
pub(super) struct RotateOnPostgres<'a> {
    pub token_hash: &'a str,
    pub successor: &'a RefreshRecord,
    pub access: &'a AccessTokenRecord,
    pub audit: &'a AuditRecord,
}

impl QueryId for RotateOnPostgres<'_> {
    type QueryId = RotateOnPostgres<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl QueryFragment<Pg> for RotateOnPostgres<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let (s, a, e) = (self.successor, self.access, self.audit);
        out.push_sql("WITH retired AS (UPDATE refresh_tokens SET retired_at = ");
        out.push_bind_param::<BigInt, _>(&s.created_at)?;
        out.push_sql(" WHERE token_hash = ");
        out.push_bind_param::<Text, _>(self.token_hash)?;
        out.push_sql(
            " AND retired_at IS NULL RETURNING 1), \
             access AS (INSERT INTO access_tokens ",
        );
        out.push_sql(ACCESS_COLUMNS);
        out.push_sql(" SELECT ");
        access_values(&mut out, a)?;
        out.push_sql(
            " FROM retired), \
             audit AS (INSERT INTO audit_events ",
        );
        out.push_sql(AUDIT_COLUMNS);
        out.push_sql(" SELECT ");
        audit_values(&mut out, e)?;
        out.push_sql(
            " FROM retired) \
             INSERT INTO refresh_tokens (token_hash, id, grant_id, client_id, created_at, \
             expires_at, retired_at, grace_used) SELECT ",
        );
        out.push_bind_param::<Text, _>(&s.token_hash)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&s.id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&s.grant_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&s.client_id)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&s.created_at)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&s.expires_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<BigInt>, _>(&s.retired_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Bool, _>(&s.grace_used)?;
        out.push_sql(" FROM retired");
        Ok(())
    }
}

impl RunQueryDsl<PgConnection> for RotateOnPostgres<'_> {}

const ACCESS_COLUMNS: &str = "(jti, grant_id, client_id, expires_at, revoked_at)";
const AUDIT_COLUMNS: &str = "(id, at, kind, outcome, actor_user_id, subject_user_id, \
     client_id, source_ip, detail)";

/// The values of [`ACCESS_COLUMNS`], comma-separated.
fn access_values<'b>(out: &mut AstPass<'_, 'b, Pg>, a: &'b AccessTokenRecord) -> QueryResult<()> {
    out.push_bind_param::<Text, _>(&a.jti)?;
    out.push_sql(", ");
    out.push_bind_param::<Nullable<Text>, _>(&a.grant_id)?;
    out.push_sql(", ");
    out.push_bind_param::<Text, _>(&a.client_id)?;
    out.push_sql(", ");
    out.push_bind_param::<BigInt, _>(&a.expires_at)?;
    out.push_sql(", ");
    out.push_bind_param::<Nullable<BigInt>, _>(&a.revoked_at)
}

/// The values of [`AUDIT_COLUMNS`], comma-separated.
fn audit_values<'b>(out: &mut AstPass<'_, 'b, Pg>, e: &'b AuditRecord) -> QueryResult<()> {
    out.push_bind_param::<Text, _>(&e.id)?;
    out.push_sql(", ");
    out.push_bind_param::<BigInt, _>(&e.at)?;
    out.push_sql(", ");
    out.push_bind_param::<Text, _>(&e.kind)?;
    out.push_sql(", ");
    out.push_bind_param::<Text, _>(&e.outcome)?;
    for field in [
        &e.actor_user_id,
        &e.subject_user_id,
        &e.client_id,
        &e.source_ip,
        &e.detail,
    ] {
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(field)?;
    }
    Ok(())
}

/// An issued access token and its audit row in one PostgreSQL statement:
/// one round trip instead of two for every client_credentials token.
pub(super) struct IssueOnPostgres<'a> {
    pub access: &'a AccessTokenRecord,
    pub audit: &'a AuditRecord,
}

impl QueryId for IssueOnPostgres<'_> {
    type QueryId = IssueOnPostgres<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl QueryFragment<Pg> for IssueOnPostgres<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("WITH access AS (INSERT INTO access_tokens ");
        out.push_sql(ACCESS_COLUMNS);
        out.push_sql(" VALUES (");
        access_values(&mut out, self.access)?;
        out.push_sql(")) INSERT INTO audit_events ");
        out.push_sql(AUDIT_COLUMNS);
        out.push_sql(" VALUES (");
        audit_values(&mut out, self.audit)?;
        out.push_sql(")");
        Ok(())
    }
}

impl RunQueryDsl<PgConnection> for IssueOnPostgres<'_> {}
