//! Typed configuration, layered: `config/default.toml` (compiled in) ->
//! optional file -> `PORTCULLIS_*` environment -> command-line flags.
//! Unknown keys are rejected so a misspelt setting cannot be silently ignored.

use std::fmt;
use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::crypto::keys::Alg;

const DEFAULTS: &str = include_str!("../config/default.toml");

/// Environment variables with our prefix that are not configuration keys.
const NON_CONFIG_ENV: &[&str] = &["config", "admin_password"];

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub issuer: String,
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub tokens: TokenConfig,
    pub session: SessionConfig,
    pub keys: KeysConfig,
    pub audit: AuditConfig,
    pub log: LogConfig,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KeysConfig {
    pub activation_delay_secs: i64,
    pub reload_interval_secs: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    pub retention_days: i64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub bind: String,
    pub workers: usize,
    pub shutdown_timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    pub url: DatabaseUrl,
    pub pool_size: u32,
    pub connect_timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    pub authorization_code_ttl_secs: i64,
    pub access_token_ttl_secs: i64,
    pub id_token_ttl_secs: i64,
    pub access_token_alg: Alg,
    pub id_token_alg: Alg,
    pub refresh_token_absolute_ttl_secs: i64,
    pub refresh_token_idle_ttl_secs: i64,
    pub refresh_token_reuse_grace_secs: i64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    pub ttl_secs: i64,
    pub pending_request_ttl_secs: i64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub filter: String,
}

/// Values given on the command line; `None` leaves the lower layers alone.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerOverrides>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<DatabaseOverrides>,
}

#[derive(Debug, Default, Serialize)]
pub struct ServerOverrides {
    pub bind: String,
}

impl DatabaseConfig {
    /// The URL for logs, without any password.
    pub fn display_url(&self) -> String {
        self.url.redacted()
    }
}

/// A database URL. It may carry a password, so `Debug` shows it redacted
/// and reading the real value takes an explicit [`DatabaseUrl::expose`].
#[derive(Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn redacted(&self) -> String {
        redact_url(&self.0)
    }
}

impl From<String> for DatabaseUrl {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({:?})", self.redacted())
    }
}

#[derive(Debug, Default, Serialize)]
pub struct DatabaseOverrides {
    pub url: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Built-in defaults only; the base for tests.
    pub fn defaults() -> Result<Self, ConfigError> {
        Self::from_figment(Figment::from(Toml::string(DEFAULTS)))
    }

    /// All layers, as the binary uses them.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULTS));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError::Invalid(format!(
                    "config file {} does not exist",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file(file));
        }
        let env = Env::prefixed("PORTCULLIS_")
            .split("__")
            .ignore(NON_CONFIG_ENV);
        figment = figment.merge(env).merge(Serialized::defaults(overrides));
        Self::from_figment(figment)
    }

    fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let config: Config = figment.extract().map_err(Box::new)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks that only a human can get wrong, with messages that say how to
    /// fix them.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let issuer = Url::parse(&self.issuer).map_err(|e| {
            ConfigError::Invalid(format!(
                "issuer {:?} is not an absolute URL ({e}); set it to the public base URL, \
                 e.g. https://login.example.com",
                self.issuer
            ))
        })?;
        if issuer.path() != "/" {
            return Err(ConfigError::Invalid(format!(
                "issuer {} has a path; portcullis serves its endpoints at the root of the \
                 host, so use the bare origin (e.g. https://login.example.com)",
                self.issuer
            )));
        }
        if issuer.query().is_some() || issuer.fragment().is_some() {
            return Err(ConfigError::Invalid(
                "issuer must not have a query or fragment (OpenID Connect Discovery 3)".into(),
            ));
        }
        if issuer.scheme() != "https" && !is_loopback_host(&issuer) {
            return Err(ConfigError::Invalid(format!(
                "issuer {} must use https unless its host is a loopback address",
                self.issuer
            )));
        }
        let ttls = [
            (
                "tokens.authorization_code_ttl_secs",
                self.tokens.authorization_code_ttl_secs,
            ),
            (
                "tokens.access_token_ttl_secs",
                self.tokens.access_token_ttl_secs,
            ),
            ("tokens.id_token_ttl_secs", self.tokens.id_token_ttl_secs),
            (
                "tokens.refresh_token_absolute_ttl_secs",
                self.tokens.refresh_token_absolute_ttl_secs,
            ),
            (
                "tokens.refresh_token_idle_ttl_secs",
                self.tokens.refresh_token_idle_ttl_secs,
            ),
            ("session.ttl_secs", self.session.ttl_secs),
            (
                "session.pending_request_ttl_secs",
                self.session.pending_request_ttl_secs,
            ),
        ];
        for (name, value) in ttls {
            if value <= 0 {
                return Err(ConfigError::Invalid(format!(
                    "{name} must be a positive number of seconds"
                )));
            }
        }
        if self.tokens.refresh_token_reuse_grace_secs < 0 {
            return Err(ConfigError::Invalid(
                "tokens.refresh_token_reuse_grace_secs must be 0 (strict) or more".into(),
            ));
        }
        let db = self.database.url.expose();
        if db.starts_with("postgres") && Url::parse(db).is_err() {
            return Err(ConfigError::Invalid(
                "database.url is not a valid postgres:// URL (percent-encode special characters \
                 in the password)"
                    .into(),
            ));
        }
        if self.database.pool_size == 0 {
            return Err(ConfigError::Invalid(
                "database.pool_size must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// The issuer without a trailing slash, for building endpoint URLs.
    pub fn issuer_base(&self) -> &str {
        self.issuer.trim_end_matches('/')
    }

    pub fn issuer_is_https(&self) -> bool {
        self.issuer.starts_with("https://")
    }
}

fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_load_and_validate() {
        let c = Config::defaults().unwrap();
        assert_eq!(c.issuer, "http://127.0.0.1:8080");
        assert_eq!(c.tokens.authorization_code_ttl_secs, 60);
        assert_eq!(c.tokens.access_token_ttl_secs, 300);
    }

    #[test]
    fn unknown_key_is_rejected_by_name() {
        let f = Figment::from(Toml::string(DEFAULTS)).merge(Toml::string("[server]\nbnd = \"x\""));
        let err = Config::from_figment(f).unwrap_err().to_string();
        assert!(err.contains("bnd"), "{err}");
    }

    #[test]
    fn plain_http_issuer_on_public_host_is_rejected() {
        let f = Figment::from(Toml::string(DEFAULTS))
            .merge(Toml::string("issuer = \"http://login.example.com\""));
        let err = Config::from_figment(f).unwrap_err().to_string();
        assert!(err.contains("https"), "{err}");
    }
}

/// A database URL safe for logs: a password in the user information or in
/// the query (`password=`) is replaced. A URL that does not parse is not
/// shown at all, since nobody can say where its password is.
pub fn redact_url(url: &str) -> String {
    if !url.contains("://") {
        return url.to_owned(); // a SQLite path
    }
    let Ok(mut parsed) = Url::parse(url) else {
        return "(unparseable database URL)".to_owned();
    };
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("REDACTED"));
    }
    let pairs: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
    if pairs.iter().any(|(k, _)| k == "password") {
        let mut q = parsed.query_pairs_mut();
        q.clear();
        for (k, v) in &pairs {
            q.append_pair(k, if k == "password" { "REDACTED" } else { v });
        }
    }
    parsed.to_string()
}

#[cfg(test)]
mod redact_tests {
    use super::redact_url;

    #[test]
    fn password_is_hidden() {
        let shown = redact_url("postgres://app:s3cret@db.internal/portcullis");
        assert!(!shown.contains("s3cret"), "{shown}");
        let shown = redact_url("postgres://app@db/x?sslmode=require&password=q3cret");
        assert!(
            !shown.contains("q3cret") && shown.contains("sslmode=require"),
            "{shown}"
        );
        assert!(!redact_url("postgres://app:p#w@db:5x/x").contains("p#w"));
        let url = super::DatabaseUrl::from("postgres://app:s3cret@db/x".to_owned());
        assert!(!format!("{url:?}").contains("s3cret"));
        assert_eq!(redact_url("sqlite://data/p.db"), "sqlite://data/p.db");
    }
}
