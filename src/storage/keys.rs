//! Signing keys and installation-wide secrets.

use diesel::prelude::*;

use super::schema::{server_secrets, signing_keys};
use super::{Conn, Store, StoreError, StoreResult, is_unique_violation};
use crate::crypto::keys::{Alg, KeySchedule, StoredKey};

/// Marks that the first signing keys exist (see `bootstrap_signing_keys`).
const KEYS_MARKER: &str = "signing_keys_initialized";

impl Store {
    /// Every key not yet deleted, newest first, with its schedule.
    pub fn signing_keys(&self) -> StoreResult<Vec<StoredKey>> {
        type Row = (String, String, String, i64, Option<i64>, Option<i64>);
        let rows: Vec<Row> = signing_keys::table
            .filter(signing_keys::active.eq(true))
            .order((signing_keys::created_at.desc(), signing_keys::kid.asc()))
            .select((
                signing_keys::kid,
                signing_keys::alg,
                signing_keys::private_key,
                signing_keys::created_at,
                signing_keys::activates_at,
                signing_keys::retires_at,
            ))
            .load(&mut *self.conn()?)?;
        rows.into_iter()
            .map(
                |(kid, alg, private_der_b64, created_at, activates_at, retires_at)| {
                    let alg = Alg::parse(&alg).ok_or_else(|| {
                        StoreError::Migration(format!("unknown key algorithm {alg}"))
                    })?;
                    let schedule = KeySchedule {
                        created_at,
                        activates_at,
                        retires_at,
                    };
                    Ok(StoredKey {
                        kid,
                        alg,
                        private_der_b64,
                        schedule,
                    })
                },
            )
            .collect()
    }

    /// Stores the first signing keys, unless another instance sharing the
    /// database did so first: a marker row inserted in the same transaction
    /// lets exactly one instance win. `false` when this one lost.
    pub fn bootstrap_signing_keys(&self, keys: &[StoredKey], now: i64) -> StoreResult<bool> {
        let result = self.write_conn()?.transaction(|conn| {
            diesel::insert_into(server_secrets::table)
                .values((
                    server_secrets::name.eq(KEYS_MARKER),
                    server_secrets::value.eq(now.to_string()),
                ))
                .execute(conn)?;
            keys.iter().try_for_each(|key| insert_key(conn, key))
        });
        match result {
            Ok(()) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// One rotation: schedule the retirement of every key not yet scheduled,
    /// and add the new keys (published now, signing from their activation).
    pub fn rotate_signing_keys(&self, new: &[StoredKey], retire_old_at: i64) -> StoreResult<()> {
        Ok(self.write_conn()?.transaction(|conn| {
            diesel::update(signing_keys::table.filter(signing_keys::retires_at.is_null()))
                .set(signing_keys::retires_at.eq(retire_old_at))
                .execute(conn)?;
            new.iter().try_for_each(|key| insert_key(conn, key))
        })?)
    }

    /// Deletes keys retired before `before`: no token they signed is alive.
    pub fn delete_retired_keys(&self, before: i64) -> StoreResult<usize> {
        Ok(
            diesel::delete(signing_keys::table.filter(signing_keys::retires_at.le(before)))
                .execute(&mut *self.write_conn()?)?,
        )
    }

    /// The longest access-token lifetime any client overrides to.
    pub fn longest_client_access_ttl(&self) -> StoreResult<Option<i64>> {
        use super::schema::clients;
        Ok(clients::table
            .select(diesel::dsl::max(clients::access_token_ttl_secs))
            .first(&mut *self.conn()?)?)
    }

    /// The named secret, created from `generate` if absent. When instances
    /// race on first start, the first insert wins and everyone reads it.
    pub fn server_secret(
        &self,
        name: &str,
        generate: impl FnOnce() -> String,
    ) -> StoreResult<String> {
        let mut conn = self.write_conn()?;
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

fn insert_key(conn: &mut Conn, key: &StoredKey) -> diesel::QueryResult<()> {
    diesel::insert_into(signing_keys::table)
        .values((
            signing_keys::kid.eq(&key.kid),
            signing_keys::alg.eq(key.alg.name()),
            signing_keys::private_key.eq(&key.private_der_b64),
            signing_keys::created_at.eq(key.schedule.created_at),
            signing_keys::active.eq(true),
            signing_keys::activates_at.eq(key.schedule.activates_at),
            signing_keys::retires_at.eq(key.schedule.retires_at),
        ))
        .execute(conn)
        .map(|_| ())
}
