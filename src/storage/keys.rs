//! Signing keys and installation-wide secrets.

use diesel::prelude::*;

use super::schema::{server_secrets, signing_keys};
use super::{Store, StoreError, StoreResult, is_unique_violation};
use crate::crypto::keys::{Alg, StoredKey};

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

    pub fn insert_signing_key(&self, key: &StoredKey, now: i64) -> StoreResult<()> {
        diesel::insert_into(signing_keys::table)
            .values((
                signing_keys::kid.eq(&key.kid),
                signing_keys::alg.eq(key.alg.name()),
                signing_keys::private_key.eq(&key.private_der_b64),
                signing_keys::created_at.eq(now),
                signing_keys::active.eq(true),
            ))
            .execute(&mut *self.conn()?)?;
        Ok(())
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
