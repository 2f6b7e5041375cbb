//! Client management from the console.

use super::Admin;
use crate::crypto::random;
use crate::secret::Secret;
use crate::service::audit::{self, Kind};
use crate::service::clients::{
    self, ALL_GRANTS, Client, ClientLifetimes, GRANT_AUTHORIZATION_CODE, NewClient, RegisterError,
    validate_redirect_uri,
};
use crate::service::scope::Scope;
use crate::service::{Provider, Result};

/// The client form as submitted.
#[derive(Debug, Clone, Default)]
pub struct ClientForm {
    pub name: String,
    pub public: bool,
    pub first_party: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub scopes: String,
    pub grant_types: Vec<String>,
    pub refresh_without_offline_access: bool,
    pub lifetimes: ClientLifetimes,
}

impl ClientForm {
    pub fn from_client(c: &Client) -> Self {
        Self {
            name: c.name.clone(),
            public: c.is_public(),
            first_party: c.first_party,
            redirect_uris: c.redirect_uris.clone(),
            post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
            scopes: c.allowed_scopes.to_string(),
            grant_types: c.grant_types.clone(),
            refresh_without_offline_access: c.refresh_without_offline_access,
            lifetimes: ClientLifetimes {
                access_token: c.access_token_ttl,
                refresh_absolute: c.refresh_absolute_ttl,
                refresh_idle: c.refresh_idle_ttl,
            },
        }
    }

    /// Every problem at once, each saying what is wrong.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.name.trim().is_empty() {
            out.push("The name is required.".to_owned());
        }
        for uri in self
            .redirect_uris
            .iter()
            .chain(&self.post_logout_redirect_uris)
        {
            if let Err(e) = validate_redirect_uri(uri) {
                out.push(e);
            }
        }
        if self
            .grant_types
            .iter()
            .any(|g| g == GRANT_AUTHORIZATION_CODE)
            && self.redirect_uris.is_empty()
        {
            out.push("A client using authorization_code needs a redirect URI.".to_owned());
        }
        if let Some(g) = self
            .grant_types
            .iter()
            .find(|g| !ALL_GRANTS.contains(&g.as_str()))
        {
            out.push(format!("Unknown grant type {g:?}."));
        }
        out
    }
}

pub enum Saved {
    /// Created or updated; a secret when one was generated (shown once).
    Ok {
        id: String,
        secret: Option<Secret>,
    },
    Invalid(Vec<String>),
}

pub fn create(p: &Provider, admin: &Admin, form: ClientForm) -> Result<Saved> {
    let problems = form.problems();
    if !problems.is_empty() {
        return Ok(Saved::Invalid(problems));
    }
    let new = NewClient {
        id: None,
        name: form.name,
        redirect_uris: form.redirect_uris,
        post_logout_redirect_uris: form.post_logout_redirect_uris,
        public: form.public,
        first_party: form.first_party,
        scopes: Some(form.scopes),
        secret: None,
        grant_types: Some(form.grant_types),
        refresh_without_offline_access: form.refresh_without_offline_access,
        lifetimes: form.lifetimes,
        created_by: Some(admin.user.id.clone()),
    };
    match clients::register(&p.store, p.now(), new) {
        Ok((id, secret)) => Ok(Saved::Ok {
            id: id.into_string(),
            secret,
        }),
        Err(RegisterError::Invalid(m)) => Ok(Saved::Invalid(vec![m])),
        Err(RegisterError::Service(e)) => Err(e),
    }
}

pub fn update(p: &Provider, admin: &Admin, id: &str, form: ClientForm) -> Result<Option<Saved>> {
    let Some(mut record) = p.store.client(id)? else {
        return Ok(None);
    };
    let problems = form.problems();
    if !problems.is_empty() {
        return Ok(Some(Saved::Invalid(problems)));
    }
    // Switching type: a public client loses its secret; a newly confidential
    // one gets a fresh secret, shown once.
    let mut secret = None;
    match (form.public, record.secret_hash.is_some()) {
        (true, true) => record.secret_hash = None,
        (false, false) => {
            let s = Secret::new(random::prefixed_secret("pcs_"));
            record.secret_hash = Some(random::sha256_hex(s.expose()));
            secret = Some(s);
        }
        _ => {}
    }
    record.name = form.name.trim().to_owned();
    record.first_party = form.first_party;
    record.redirect_uris = serde_json::to_string(&form.redirect_uris).unwrap_or_default();
    record.post_logout_redirect_uris =
        serde_json::to_string(&form.post_logout_redirect_uris).unwrap_or_default();
    record.allowed_scopes = Scope::parse(&form.scopes).to_string();
    record.grant_types = form.grant_types.join(" ");
    record.refresh_without_offline_access = form.refresh_without_offline_access && form.first_party;
    record.access_token_ttl_secs = form.lifetimes.access_token;
    record.refresh_absolute_ttl_secs = form.lifetimes.refresh_absolute;
    record.refresh_idle_ttl_secs = form.lifetimes.refresh_idle;
    p.store.update_client(&record)?;
    audit::event(Kind::ClientUpdated)
        .actor(admin.user.id.clone())
        .client(id)
        .record(p);
    if secret.is_some() {
        let event = audit::event(Kind::ClientSecretRotated).actor(admin.user.id.clone());
        event.client(id).detail("now confidential").record(p);
    }
    Ok(Some(Saved::Ok {
        id: record.id,
        secret,
    }))
}

pub fn set_disabled(p: &Provider, admin: &Admin, id: &str, disabled: bool) -> Result<bool> {
    let Some(mut record) = p.store.client(id)? else {
        return Ok(false);
    };
    record.disabled = disabled;
    p.store.update_client(&record)?;
    let kind = if disabled {
        Kind::ClientDisabled
    } else {
        Kind::ClientEnabled
    };
    audit::event(kind)
        .actor(admin.user.id.clone())
        .client(id)
        .record(p);
    Ok(true)
}

/// A new secret for a confidential client; the old one stops working now.
pub fn rotate_secret(p: &Provider, admin: &Admin, id: &str) -> Result<Option<Secret>> {
    let Some(mut record) = p.store.client(id)? else {
        return Ok(None);
    };
    if record.secret_hash.is_none() {
        return Ok(None);
    }
    let secret = Secret::new(random::prefixed_secret("pcs_"));
    record.secret_hash = Some(random::sha256_hex(secret.expose()));
    p.store.update_client(&record)?;
    audit::event(Kind::ClientSecretRotated)
        .actor(admin.user.id.clone())
        .client(id)
        .record(p);
    Ok(Some(secret))
}

pub fn delete(p: &Provider, admin: &Admin, id: &str) -> Result<bool> {
    let deleted = p.store.delete_client(id)?;
    if deleted {
        audit::event(Kind::ClientDeleted)
            .actor(admin.user.id.clone())
            .client(id)
            .record(p);
    }
    Ok(deleted)
}

pub fn list(p: &Provider, search: &str) -> Result<Vec<Client>> {
    Ok(p.store
        .search_clients(search)?
        .into_iter()
        .map(Client::from_record)
        .collect())
}

pub fn get(p: &Provider, id: &str) -> Result<Option<Client>> {
    Ok(p.store.client(id)?.map(Client::from_record))
}
