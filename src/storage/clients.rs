//! Registered OAuth clients.

use diesel::prelude::*;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::schema::clients;
use super::{Store, StoreResult};

/// How stale a cached client may be. Short enough that disabling a client
/// or rotating its secret on one instance takes effect everywhere almost at
/// once; long enough that a busy client is read from the database about
/// once a second instead of on every request.
pub const CLIENT_CACHE_TTL: Duration = Duration::from_secs(1);

/// Bounds the cache: ids come from requests, so its size must not depend
/// on what callers send. Only clients that exist are cached.
const CLIENT_CACHE_MAX: usize = 4096;

/// Recently read clients (see [`Store::client_cached`]).
#[derive(Default)]
pub(crate) struct ClientCache {
    entries: RwLock<HashMap<String, (Instant, Arc<ClientRecord>)>>,
    /// Bumped by every change: a row read before a change made here is
    /// not cached after it.
    generation: AtomicU64,
}

impl ClientCache {
    fn get(&self, id: &str) -> Option<Arc<ClientRecord>> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries
            .get(id)
            .filter(|(read_at, _)| read_at.elapsed() < CLIENT_CACHE_TTL)
            .map(|(_, record)| record.clone())
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Caches a row read when the generation was `read_in`, unless a change
    /// has been made here since.
    fn put(&self, record: Arc<ClientRecord>, read_in: u64) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if self.generation() != read_in {
            return;
        }
        if entries.len() >= CLIENT_CACHE_MAX {
            entries.retain(|_, (read_at, _)| read_at.elapsed() < CLIENT_CACHE_TTL);
            if entries.len() >= CLIENT_CACHE_MAX {
                entries.clear();
            }
        }
        entries.insert(record.id.clone(), (Instant::now(), record));
    }

    fn forget(&self, id: &str) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.remove(id);
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = clients)]
#[diesel(treat_none_as_default_value = false)]
pub struct ClientRecord {
    pub id: String,
    pub name: String,
    /// Hex SHA-256 of the secret; `None` marks a public client.
    pub secret_hash: Option<String>,
    pub first_party: bool,
    /// JSON array of strings.
    pub redirect_uris: String,
    /// JSON array of strings.
    pub post_logout_redirect_uris: String,
    pub allowed_scopes: String,
    pub grant_types: String,
    pub refresh_without_offline_access: bool,
    pub access_token_ttl_secs: Option<i64>,
    pub refresh_absolute_ttl_secs: Option<i64>,
    pub refresh_idle_ttl_secs: Option<i64>,
    pub disabled: bool,
    pub created_at: i64,
}

impl Store {
    pub fn insert_client(&self, client: &ClientRecord) -> StoreResult<()> {
        diesel::insert_into(clients::table)
            .values(client)
            .execute(&mut *self.write_conn()?)?;
        Ok(())
    }

    /// The client as of at most [`CLIENT_CACHE_TTL`] ago: for client
    /// authentication, which every token, introspection and revocation
    /// request does. Changes made through this instance are seen at once;
    /// changes made through another instance within the TTL.
    pub fn client_cached(&self, id: &str) -> StoreResult<Option<Arc<ClientRecord>>> {
        if let Some(hit) = self.client_cache.get(id) {
            return Ok(Some(hit));
        }
        let generation = self.client_cache.generation();
        let Some(record) = self.client(id)? else {
            // Unknown ids are not cached: anyone can send them.
            return Ok(None);
        };
        let record = Arc::new(record);
        self.client_cache.put(record.clone(), generation);
        Ok(Some(record))
    }

    /// The client if the cache holds it, without touching the database.
    pub fn client_if_cached(&self, id: &str) -> Option<Arc<ClientRecord>> {
        self.client_cache.get(id)
    }

    pub fn client(&self, id: &str) -> StoreResult<Option<ClientRecord>> {
        Ok(clients::table
            .find(id)
            .select(ClientRecord::as_select())
            .first(&mut *self.conn()?)
            .optional()?)
    }

    pub fn list_clients(&self) -> StoreResult<Vec<ClientRecord>> {
        Ok(clients::table
            .order(clients::created_at.asc())
            .select(ClientRecord::as_select())
            .load(&mut *self.conn()?)?)
    }
}

impl Store {
    /// Clients whose id or name contains `needle` (all when empty).
    pub fn search_clients(&self, needle: &str) -> StoreResult<Vec<ClientRecord>> {
        let pattern = format!("%{}%", escape_like(needle));
        Ok(clients::table
            .filter(
                clients::name
                    .like(&pattern)
                    .escape('\\')
                    .or(clients::id.like(&pattern).escape('\\')),
            )
            .order(clients::name.asc())
            .select(ClientRecord::as_select())
            .load(&mut *self.conn()?)?)
    }

    /// Replaces every editable field (the secret hash included).
    pub fn update_client(&self, client: &ClientRecord) -> StoreResult<bool> {
        self.client_cache.forget(&client.id);
        let n = diesel::update(clients::table.find(&client.id))
            .set((
                clients::name.eq(&client.name),
                clients::secret_hash.eq(&client.secret_hash),
                clients::first_party.eq(client.first_party),
                clients::redirect_uris.eq(&client.redirect_uris),
                clients::post_logout_redirect_uris.eq(&client.post_logout_redirect_uris),
                clients::allowed_scopes.eq(&client.allowed_scopes),
                clients::grant_types.eq(&client.grant_types),
                clients::refresh_without_offline_access.eq(client.refresh_without_offline_access),
                clients::access_token_ttl_secs.eq(client.access_token_ttl_secs),
                clients::refresh_absolute_ttl_secs.eq(client.refresh_absolute_ttl_secs),
                clients::refresh_idle_ttl_secs.eq(client.refresh_idle_ttl_secs),
                clients::disabled.eq(client.disabled),
            ))
            .execute(&mut *self.write_conn()?)?;
        // Again after the commit: a read that began before it must not
        // cache the old row (see `ClientCache::put`).
        self.client_cache.forget(&client.id);
        Ok(n == 1)
    }

    /// Deletes a client and, through the foreign keys, everything issued to it.
    pub fn delete_client(&self, id: &str) -> StoreResult<bool> {
        let n = diesel::delete(clients::table.find(id)).execute(&mut *self.write_conn()?)?;
        self.client_cache.forget(id);
        Ok(n == 1)
    }

    pub fn count_clients(&self) -> StoreResult<i64> {
        Ok(clients::table.count().get_result(&mut *self.conn()?)?)
    }
}

/// Escapes LIKE wildcards so a search matches them literally.
pub(crate) fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str) -> Arc<ClientRecord> {
        Arc::new(ClientRecord {
            id: "c".into(),
            name: name.into(),
            secret_hash: None,
            first_party: false,
            redirect_uris: "[]".into(),
            post_logout_redirect_uris: "[]".into(),
            allowed_scopes: "openid".into(),
            grant_types: "[]".into(),
            refresh_without_offline_access: false,
            access_token_ttl_secs: None,
            refresh_absolute_ttl_secs: None,
            refresh_idle_ttl_secs: None,
            disabled: false,
            created_at: 0,
        })
    }

    /// A row read before a change made here is not cached after it, so a
    /// disabled client or rotated secret takes effect on this instance at once.
    #[test]
    fn a_row_read_before_a_change_is_not_cached() {
        let cache = ClientCache::default();
        let read_in = cache.generation();
        cache.forget("c"); // the change commits while the old row is in flight
        cache.put(record("old"), read_in);
        assert!(cache.get("c").is_none());
        let read_in = cache.generation();
        cache.put(record("new"), read_in);
        assert_eq!(cache.get("c").unwrap().name, "new");
    }
}
