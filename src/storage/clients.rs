//! Registered OAuth clients.

use diesel::prelude::*;

use super::schema::clients;
use super::{Store, StoreResult};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = clients)]
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
        Ok(n == 1)
    }

    /// Deletes a client and, through the foreign keys, everything issued to it.
    pub fn delete_client(&self, id: &str) -> StoreResult<bool> {
        Ok(diesel::delete(clients::table.find(id)).execute(&mut *self.write_conn()?)? == 1)
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
