//! The command line: `serve` (the default), `migrate`, and the operator
//! commands for users and clients. Results go to stdout, logs to stderr.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, DatabaseOverrides, Overrides, ServerOverrides};
use crate::secret::Secret;
use crate::server;
use crate::service::clients::{self, Client, ClientLifetimes, NewClient};
use crate::service::users::{self, NewUser};

/// Environment variable holding the first admin's password, read once.
pub const ADMIN_PASSWORD_ENV: &str = "PORTCULLIS_ADMIN_PASSWORD";

#[derive(Debug, Parser)]
#[command(
    name = "portcullis",
    version,
    about = "An OpenID Connect identity provider"
)]
pub struct Cli {
    /// A TOML config file layered over the defaults.
    #[arg(long, global = true, env = "PORTCULLIS_CONFIG")]
    config: Option<PathBuf>,
    /// Database URL (overrides database.url).
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Issuer URL (overrides issuer).
    #[arg(long, global = true)]
    issuer: Option<String>,
    /// Listen address (overrides server.bind).
    #[arg(long, global = true)]
    bind: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage OAuth clients.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// List signing keys with their schedule.
    List,
    /// Publish new keys now; they sign after keys.activation_delay_secs.
    Rotate,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user; the password is read from standard input.
    Add {
        username: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Set a user's password (ends their sessions and revokes their tokens).
    SetPassword {
        username: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Disable a user: no login, sessions ended, tokens revoked.
    Disable { username: String },
    /// Enable a disabled user again.
    Enable { username: String },
    /// Give a user the admin role (for example to recover console access).
    GrantAdmin { username: String },
}

#[derive(Debug, Subcommand)]
enum ClientCommand {
    /// Register a client; prints its id and, if confidential, its secret once.
    Add(ClientAddArgs),
    /// List registered clients.
    List,
}

#[derive(Debug, Args)]
struct ClientAddArgs {
    #[arg(long)]
    name: String,
    /// Where codes may be sent; needed unless the client only uses
    /// client_credentials.
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
    #[arg(long = "post-logout-redirect-uri")]
    post_logout_redirect_uris: Vec<String>,
    /// A public client (no secret; must use PKCE).
    #[arg(long)]
    public: bool,
    /// Skip the consent page for this client.
    #[arg(long)]
    first_party: bool,
    /// Choose the client id instead of generating one.
    #[arg(long)]
    id: Option<String>,
    /// Allowed scopes, space-separated (default: openid profile email offline_access).
    #[arg(long)]
    scope: Option<String>,
    /// Read the secret from standard input instead of generating one.
    #[arg(long)]
    secret_stdin: bool,
    /// Allowed grant types (repeatable; default: authorization_code and
    /// refresh_token). client_credentials needs no redirect URI.
    #[arg(long = "grant-type")]
    grant_types: Vec<String>,
    /// First-party only: issue refresh tokens without the offline_access scope.
    #[arg(long)]
    refresh_without_offline_access: bool,
    /// Access token lifetime in seconds (default: tokens.access_token_ttl_secs).
    #[arg(long)]
    access_token_ttl: Option<i64>,
    /// Refresh-token family lifetime in seconds.
    #[arg(long)]
    refresh_absolute_ttl: Option<i64>,
    /// Refresh-token idle lifetime in seconds.
    #[arg(long)]
    refresh_idle_ttl: Option<i64>,
}

/// Runs the command line; the binary's `main`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    let overrides = Overrides {
        issuer: cli.issuer.clone(),
        server: cli.bind.clone().map(|bind| ServerOverrides { bind }),
        database: cli
            .database_url
            .clone()
            .map(|url| DatabaseOverrides { url }),
    };
    let config = Config::load(cli.config.as_deref(), &overrides).map_err(|e| e.to_string())?;
    let command = cli.command.unwrap_or(Command::Serve);
    // Commands print their results on stdout; their logs stay quiet unless
    // asked for, so the output is what a script reads.
    let filter = match (&command, config.log.filter.as_str()) {
        (Command::Serve, f) => f.to_owned(),
        (_, "info") => "warn".to_owned(),
        (_, f) => f.to_owned(),
    };
    server::init_tracing(&filter);
    match command {
        Command::Serve => serve(config),
        Command::Migrate => {
            server::open_store(&config).map_err(|e| e.to_string())?;
            println!("database is up to date");
            Ok(())
        }
        Command::User(cmd) => user(config, cmd),
        Command::Client(cmd) => client(config, cmd),
        Command::Keys(cmd) => keys(config, cmd),
    }
}

fn serve(config: Config) -> Result<(), String> {
    let listener = std::net::TcpListener::bind(&config.server.bind)
        .map_err(|e| format!("cannot listen on {}: {e}", config.server.bind))?;
    let provider = server::provider(config, Arc::new(SystemClock)).map_err(|e| e.to_string())?;
    let admin_password = std::env::var(ADMIN_PASSWORD_ENV).ok().map(Secret::new);
    match users::bootstrap_admin(&provider.store, &SystemClock, admin_password) {
        // On stdout, not in the log stream: it is shown to the operator once.
        Ok(Some(generated)) => println!(
            "\n  Created the first admin user.\n  username: admin\n  password: {}\n  \
             This is shown once; change it with `portcullis user set-password admin --password-stdin`.\n",
            generated.expose()
        ),
        Ok(None) => {}
        Err(e) => return Err(e.to_string()),
    }
    tracing::info!(
        listen = %provider.config.server.bind,
        issuer = %provider.config.issuer,
        database = %provider.config.database.display_url(),
        "portcullis is serving"
    );
    server::spawn_maintenance(provider.clone());
    let reload = std::time::Duration::from_secs(provider.config.keys.reload_interval_secs.max(1));
    crate::service::keys::spawn_reloader(provider.clone(), reload);
    let server =
        server::build(provider, listener, server::Signals::Handle).map_err(|e| e.to_string())?;
    actix_web::rt::System::new()
        .block_on(server)
        .map_err(|e| e.to_string())
}

fn read_stdin_line(what: &str) -> Result<Secret, String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the {what} from standard input: {e}"))?;
    let value = line.trim_end_matches(['\r', '\n']).to_owned();
    if value.is_empty() {
        return Err(format!("no {what} on standard input"));
    }
    Ok(Secret::new(value))
}

fn user(config: Config, cmd: UserCommand) -> Result<(), String> {
    let store = server::open_store(&config).map_err(|e| e.to_string())?;
    match cmd {
        UserCommand::Add {
            username,
            email,
            name,
            admin,
            password_stdin: _,
        } => {
            let password = read_stdin_line("password")?;
            let new = NewUser {
                username: username.clone(),
                password,
                email,
                name,
                admin,
                created_by: None,
            };
            let id = users::add(&store, &SystemClock, new).map_err(|e| e.to_string())?;
            println!("created user {username} (sub {id})");
        }
        UserCommand::SetPassword {
            username,
            password_stdin: _,
        } => {
            let password = read_stdin_line("password")?;
            users::set_password(&store, &SystemClock, &username, &password)
                .map_err(|e| e.to_string())?;
            println!("password changed for {username}; their sessions and tokens are revoked");
        }
        UserCommand::Disable { username } => {
            users::set_disabled(&store, &SystemClock, &username, true)
                .map_err(|e| e.to_string())?;
            println!("{username} is disabled; their sessions and tokens are revoked");
        }
        UserCommand::GrantAdmin { username } => {
            let user = store
                .user_by_username(&username)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no user named {username:?}"))?;
            store
                .set_admin(&user.id, true, SystemClock.now())
                .map_err(|e| e.to_string())?;
            crate::service::audit::event(crate::service::audit::Kind::AdminGranted)
                .subject(user.id)
                .detail("command line")
                .record_in(&store, SystemClock.now());
            println!("{username} is now an admin");
        }
        UserCommand::Enable { username } => {
            users::set_disabled(&store, &SystemClock, &username, false)
                .map_err(|e| e.to_string())?;
            println!("{username} is enabled");
        }
    }
    Ok(())
}

fn client(config: Config, cmd: ClientCommand) -> Result<(), String> {
    let store = server::open_store(&config).map_err(|e| e.to_string())?;
    match cmd {
        ClientCommand::Add(args) => {
            let secret = if args.secret_stdin {
                Some(read_stdin_line("client secret")?)
            } else {
                None
            };
            let new = NewClient {
                id: args.id,
                name: args.name,
                redirect_uris: args.redirect_uris,
                post_logout_redirect_uris: args.post_logout_redirect_uris,
                public: args.public,
                first_party: args.first_party,
                scopes: args.scope,
                secret,
                grant_types: (!args.grant_types.is_empty()).then_some(args.grant_types),
                refresh_without_offline_access: args.refresh_without_offline_access,
                lifetimes: ClientLifetimes {
                    access_token: args.access_token_ttl,
                    refresh_absolute: args.refresh_absolute_ttl,
                    refresh_idle: args.refresh_idle_ttl,
                },
                created_by: None,
            };
            let generated = new.secret.is_none();
            let (id, secret) =
                clients::register(&store, SystemClock.now(), new).map_err(|e| e.to_string())?;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "client_id: {id}");
            match secret {
                Some(s) if generated => {
                    let _ = writeln!(out, "client_secret: {}", s.expose());
                    let _ = writeln!(out, "(the secret is shown only now; it is stored hashed)");
                }
                Some(_) => {
                    let _ = writeln!(out, "client_secret: (as given on standard input)");
                }
                None => {
                    let _ = writeln!(out, "public client: no secret; it must use PKCE");
                }
            }
        }
        ClientCommand::List => {
            let clients = store.list_clients().map_err(|e| e.to_string())?;
            let mut out = std::io::stdout().lock();
            for record in clients {
                let c = Client::from_record(record);
                let kind = if c.is_public() {
                    "public"
                } else {
                    "confidential"
                };
                let _ = writeln!(
                    out,
                    "{}\t{}\t{kind}{}\t{}",
                    c.id,
                    c.name,
                    if c.first_party { ",first-party" } else { "" },
                    c.redirect_uris.join(" ")
                );
            }
        }
    }
    Ok(())
}

fn keys(config: Config, cmd: KeysCommand) -> Result<(), String> {
    let provider = server::provider(config, Arc::new(SystemClock)).map_err(|e| e.to_string())?;
    if let KeysCommand::Rotate = cmd {
        let kids = crate::service::keys::rotate(&provider, None).map_err(|e| e.to_string())?;
        println!(
            "published {}; they sign from {} seconds from now",
            kids.join(", "),
            provider.config.keys.activation_delay_secs
        );
    }
    let mut out = std::io::stdout().lock();
    for key in provider.store.signing_keys().map_err(|e| e.to_string())? {
        let s = key.schedule;
        let _ = writeln!(
            out,
            "{}\t{}\tcreated {}\tsigns from {}\tretires {}",
            key.kid,
            key.alg.name(),
            s.created_at,
            s.signs_from(),
            s.retires_at.map_or("-".to_owned(), |r| r.to_string())
        );
    }
    Ok(())
}
