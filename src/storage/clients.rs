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
            .execute(&mut *self.conn()?)?;
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
