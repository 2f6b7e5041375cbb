//! The conditional updates on the hot paths, as statements diesel can keep
//! prepared. Diesel never caches an UPDATE built with its query builder (a
//! changeset may change the SQL), so each would be parsed and planned again
//! on every request; these have fixed SQL and only bind values.
//!
//! Each sets a column only where it is still unset, and reports through the
//! row count whether this call was the one that did: of racing requests
//! exactly one sees 1.

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, HasSqlType, Text};
use diesel::{QueryResult, RunQueryDsl};

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
    out.push_sql("UPDATE ");
    out.push_identifier(table)?;
    out.push_sql(" SET ");
    out.push_identifier(column)?;
    out.push_sql(" = ");
    out.push_bind_param::<BigInt, _>(at)?;
    out.push_sql(" WHERE ");
    out.push_identifier(key)?;
    out.push_sql(" = ");
    out.push_bind_param::<Text, _>(key_value)?;
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
