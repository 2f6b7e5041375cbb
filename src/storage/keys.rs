//! Signing keys and installation-wide secrets.

use diesel::prelude::*;

use super::schema::{server_secrets, signing_keys};
use super::{Store, StoreError, StoreResult, is_unique_violation};
use crate::crypto::keys::{Alg, StoredKey};

/// Marks that the first signing keys exist (see `bootstrap_signing_keys`).
const KEYS_MARKER: &str = "signing_keys_initialized";

impl Store {
    /// Active keys, newest first.
    pub fn signing_keys(&self) -> StoreResult<Vec<StoredKey>> {
        let rows: Vec<(String, String, String)> = signing_keys::table
            .filter(signing_keys::active.eq(true))
            .order((signing_keys::created_at.desc(), signing_keys::kid.asc()))
            .select((
                signing_keys::kid,
                signing_keys::alg,
                signing_keys::private_key,
            ))
            .load(&mut *self.conn()?)?;
        rows.into_iter()
            .map(|(kid, alg, private_der_b64)| {
                let alg = Alg::parse(&alg)
                    .ok_or_else(|| StoreError::Migration(format!("unknown key algorithm {alg}")))?;
                Ok(StoredKey {
                    kid,
                    alg,
                    private_der_b64,
                })
            })
            .collect()
    }

    /// Stores the first signing keys, unless another instance sharing the
    /// database did so first: a marker row inserted in the same transaction
    /// lets exactly one instance win. `false` when this one lost.
    pub fn bootstrap_signing_keys(&self, keys: &[StoredKey], now: i64) -> StoreResult<bool> {
        let result = self.conn()?.transaction(|conn| {
            diesel::insert_into(server_secrets::table)
                .values((
                    server_secrets::name.eq(KEYS_MARKER),
                    server_secrets::value.eq(now.to_string()),
                ))
                .execute(conn)?;
            for key in keys {
                diesel::insert_into(signing_keys::table)
                    .values((
                        signing_keys::kid.eq(&key.kid),
                        signing_keys::alg.eq(key.alg.name()),
                        signing_keys::private_key.eq(&key.private_der_b64),
                        signing_keys::created_at.eq(now),
                        signing_keys::active.eq(true),
                    ))
                    .execute(conn)?;
            }
            Ok::<_, diesel::result::Error>(())
        });
        match result {
            Ok(()) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The named secret, created from `generate` if absent. When instances
    /// race on first start, the first insert wins and everyone reads it.
    pub fn server_secret(
        &self,
        name: &str,
        generate: impl FnOnce() -> String,
    ) -> StoreResult<String> {
        let mut conn = self.conn()?;
        let existing = server_secrets::table
            .find(name)
            .select(server_secrets::value)
            .first::<String>(&mut *conn)
            .optional()?;
        if let Some(value) = existing {
            return Ok(value);
        }
        let insert = diesel::insert_into(server_secrets::table)
            .values((
                server_secrets::name.eq(name),
                server_secrets::value.eq(generate()),
            ))
            .execute(&mut *conn);
        match insert {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(server_secrets::table
            .find(name)
            .select(server_secrets::value)
            .first(&mut *conn)?)
    }
}
