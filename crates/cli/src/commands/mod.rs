//! The command tree.

mod app;
mod audit;
mod client;
mod completions;
mod config;
mod grant;
mod janitor;
mod key;
mod merchant;
mod serve;
mod user;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::settings::{FileConfig, Given, Resolved, Secret, Sources};

/// ucoauth — an UltraCart-compatible OAuth 2 authorization server.
///
/// Start a server with `ucoauth serve`, add a merchant with `ucoauth merchant create`, register
/// an application with `ucoauth app create`, then send a browser to
/// /rest/v2/oauth/authorize?response_type=code&client_id=...&state=... on the server.
/// The same operations are in the back office (sign in at / on the server) and its JSON API
/// (/admin/api/v1).
#[derive(Debug, Parser)]
#[command(
    name = "ucoauth",
    version,
    propagate_version = true,
    long_about = LONG_ABOUT,
    after_long_help = AFTER_LONG_HELP,
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

const LONG_ABOUT: &str = "\
ucoauth — an UltraCart-compatible OAuth 2 authorization server.

It serves UltraCart's REST API v2 OAuth endpoints (/rest/v2/oauth/authorize, token, revoke, me),
plus token introspection (RFC 7662), server metadata (RFC 8414), /healthz, /readyz and /metrics.
UltraCart's official SDKs, pointed at http(s)://HOST:PORT/rest/v2, work unchanged.

SETTINGS
Every setting can come from a flag, an environment variable, or the TOML file named by
--config (or UCOAUTH_CONFIG). Precedence: flag > environment > file > built-in default.
The names match: `access_token_ttl` in the file, --access-token-ttl as a flag,
UCOAUTH_ACCESS_TOKEN_TTL in the environment. `ucoauth config check` validates them all and
prints the effective values and where each came from (secrets redacted).";

const AFTER_LONG_HELP: &str = "\
EXAMPLES
  Start a server on the default address (creates ucoauth.db and its key file):
    ucoauth serve

  A merchant with a user, and an application (the secret is printed once):
    echo 'correct horse battery' | ucoauth merchant create --merchant-id DEMO \\
        --name 'Demo Company' --login demo --password-stdin
    ucoauth app create --name 'My App' --redirect-uri https://app.example/callback \\
        --scope item_read --json

  Connect this terminal to a server as an application, then ask who it is connected to:
    ucoauth connect --base-url https://auth.example/rest/v2 --client-id ID --device
    ucoauth me

  Check a configuration file before a deploy:
    ucoauth --config /etc/ucoauth.toml config check

  Shell completions:
    ucoauth completions bash > /etc/bash_completion.d/ucoauth

ENVIRONMENT
  UCOAUTH_CONFIG, UCOAUTH_DATABASE, UCOAUTH_PEPPER, UCOAUTH_PREVIOUS_PEPPERS (comma-separated),
  and for serve: UCOAUTH_BIND, UCOAUTH_PUBLIC_URL, UCOAUTH_PROFILE, UCOAUTH_LOG_FORMAT,
  UCOAUTH_CODE_TTL, UCOAUTH_ACCESS_TOKEN_TTL, UCOAUTH_REFRESH_TOKEN_TTL, UCOAUTH_REFRESH_GRACE,
  UCOAUTH_SESSION_TTL. UCOAUTH_LOG sets the log filter (e.g. debug, or ucoauth_server=debug).

EXIT STATUS
  0 on success; 1 with a one-line message on standard error otherwise.";

const SERVE_LONG_ABOUT: &str = "\
Run the authorization server (creates and migrates the database if needed).

Listens on --bind and prints the URL. Serves the UltraCart OAuth API under /rest/v2, the sign-in
and consent pages, /.well-known/oauth-authorization-server, /healthz (the process is up),
/readyz (the database answers; 503 otherwise) and /metrics (Prometheus). On SIGINT or SIGTERM it
stops accepting connections, finishes the requests in flight, then exits.

Every response carries an x-request-id (the caller's, if it sent a plain one of at most 64
characters, else a new UUID), and every log line written for the request carries it too.
Logs go to standard error as text, or as JSON lines with --log-format json; the filter is
UCOAUTH_LOG (default info). Tokens, codes, secrets and query strings are never logged.

Settings: flag > environment > --config file > default; see `ucoauth config check --help`.";

const SERVE_EXAMPLES: &str = "\
EXAMPLES
  ucoauth serve
  ucoauth serve --bind 0.0.0.0:8080 --public-url https://auth.example.com --profile strict
  UCOAUTH_DATABASE=postgres://ucoauth@db/ucoauth UCOAUTH_PEPPER=$(cat /run/secrets/pepper) \\
      ucoauth serve --log-format json
  ucoauth --config /etc/ucoauth.toml serve

ROTATING THE PEPPER
  Start with the new pepper and list the old one; tokens issued before keep working:
    UCOAUTH_PEPPER=<new> UCOAUTH_PREVIOUS_PEPPERS=<old> ucoauth serve
  Drop the old pepper once --refresh-token-ttl has passed (and every client secret hashed with
  it has been rotated). Sign-in sessions made before the rotation keep working as well.";

const CONNECT_EXAMPLES: &str = "\
EXAMPLES
  Register http://127.0.0.1:8765/callback for the application once, then:
    ucoauth connect --base-url http://127.0.0.1:8080/rest/v2 --client-id ID \\
        --redirect-port 8765 --scope item_read
  Without a browser on this machine (RFC 8628 device flow):
    ucoauth connect --device --base-url https://auth.example/rest/v2 --client-id ID
  For scripts (instructions still go to standard error):
    ucoauth connect --device --base-url https://auth.example/rest/v2 --client-id ID --json";

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// TOML configuration file. Its keys are the settings' names in snake_case (e.g.
    /// database, pepper, previous_peppers, bind, public_url, profile, log_format, code_ttl,
    /// access_token_ttl, refresh_token_ttl, refresh_grace, session_ttl, no_rate_limits,
    /// login_per_ip_per_minute, device_verify_per_ip, ...). Flags and environment
    /// variables override it; unknown keys are errors.
    #[arg(long, global = true, env = "UCOAUTH_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Database URL: sqlite://FILE (created on first use) or postgres://USER@HOST/DB.
    /// [default: sqlite://ucoauth.db]
    #[arg(long, global = true, env = "UCOAUTH_DATABASE", value_name = "URL")]
    pub database: Option<String>,
    /// Key for credential hashes, as hex (at least 32 characters). Defaults to the file
    /// <database file>.pepper beside a SQLite database, created on first use. Required with
    /// PostgreSQL, and the same on every node.
    #[arg(
        long,
        global = true,
        env = "UCOAUTH_PEPPER",
        hide_env_values = true,
        value_name = "HEX"
    )]
    pub pepper: Option<Secret>,
    /// A pepper replaced by rotation (repeat, or comma-separate in the environment; at most 3).
    /// Credentials hashed with it keep working; new ones use --pepper. Keep it listed until the
    /// longest-lived credential it hashed has expired (refresh tokens: --refresh-token-ttl).
    #[arg(
        long = "previous-pepper",
        global = true,
        env = "UCOAUTH_PREVIOUS_PEPPERS",
        value_delimiter = ',',
        hide_env_values = true,
        value_name = "HEX"
    )]
    pub previous_peppers: Vec<Secret>,
    /// The configuration file's contents, loaded after parsing.
    #[arg(skip)]
    pub file: Option<FileConfig>,
    /// Where each flag/environment value came from, recorded after parsing.
    #[arg(skip)]
    pub sources: Sources,
}

impl Global {
    /// Reads the configuration file, if one is named.
    pub fn load_file(&mut self) -> anyhow::Result<()> {
        if let Some(path) = &self.config {
            self.file = Some(FileConfig::load(path)?);
        }
        Ok(())
    }

    /// Every setting, merged and validated; `serve` adds the server's own flags.
    pub fn resolve(&self, serve: Option<&serve::ServeArgs>) -> anyhow::Result<Resolved> {
        let mut given = Given {
            database: self.database.clone(),
            pepper: self.pepper.clone(),
            previous_peppers: self.previous_peppers.clone(),
            ..Default::default()
        };
        if let Some(args) = serve {
            args.fill(&mut given);
        }
        let file = match (&self.config, &self.file) {
            (Some(path), Some(f)) => Some((path.as_path(), f)),
            _ => None,
        };
        Resolved::resolve(given, &self.sources, file)
            .map_err(|e| anyhow::Error::new(e).context("invalid settings"))
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the authorization server (creates and migrates the database if needed).
    #[command(long_about = SERVE_LONG_ABOUT, after_long_help = SERVE_EXAMPLES)]
    Serve(serve::ServeArgs),
    /// Manage merchant accounts.
    #[command(subcommand)]
    Merchant(merchant::MerchantCommand),
    /// Manage developer applications (OAuth clients) and resource servers.
    #[command(subcommand)]
    App(app::AppCommand),
    /// Read the audit trail (consents, codes, refreshes, revocations, sign-ins), newest first.
    #[command(
        after_help = "EXAMPLES\n  ucoauth audit --merchant-id DEMO --limit 20\n  \
                            ucoauth audit --kind refresh.reuse_detected --json"
    )]
    Audit(audit::AuditArgs),
    /// Remove expired codes, tokens and sessions, and long-revoked grants, now.
    #[command(after_help = "EXAMPLES\n  ucoauth janitor\n  ucoauth janitor --batch 500 --json")]
    Janitor(janitor::JanitorArgs),
    /// Look at and revoke the applications merchants authorized.
    #[command(subcommand)]
    Grant(grant::GrantCommand),
    /// Manage merchants' simple API keys (x-ultracart-simple-key).
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Manage merchant users (add, remove, change password).
    #[command(subcommand)]
    User(user::UserCommand),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::CompletionsArgs),
    #[command(after_help = CONNECT_EXAMPLES)]
    Connect(client::connect::ConnectArgs),
    /// Show, refresh, revoke or list the tokens `ucoauth connect` saved.
    #[command(
        subcommand,
        after_help = "EXAMPLES\n  ucoauth token show\n  ucoauth token refresh --json\n  \
                      ucoauth token revoke --client-id ID\n  ucoauth token list"
    )]
    Token(client::token::TokenCommand),
    /// Ask the server which merchant a saved connection is connected to (GET /oauth/me).
    #[command(
        after_help = "EXAMPLES\n  ucoauth me\n  ucoauth me --client-id ID --json\n  \
                      ucoauth me --base-url https://auth.example/rest/v2 --client-id ID"
    )]
    Me(client::me::MeArgs),
}

pub async fn run(mut cli: Cli) -> anyhow::Result<()> {
    // The client commands talk to a server over HTTP: no database, pepper or server settings.
    match cli.command {
        Command::Connect(args) => return client::connect::run(args).await,
        Command::Token(cmd) => return client::token::run(cmd).await,
        Command::Me(args) => return client::me::run(args).await,
        command => cli.command = command,
    }
    let loaded = cli.global.load_file();
    // `config check` reports an unreadable file as one of its problems; the rest stop here.
    if let Command::Config(cmd) = cli.command {
        return config::run(&cli.global, cmd, loaded.err());
    }
    loaded?;
    match cli.command {
        Command::Serve(args) => serve::run(&cli.global, args).await,
        Command::Merchant(cmd) => merchant::run(&cli.global, cmd).await,
        Command::App(cmd) => app::run(&cli.global, cmd).await,
        Command::Audit(args) => audit::run(&cli.global, args).await,
        Command::Janitor(args) => janitor::run(&cli.global, args).await,
        Command::Grant(cmd) => grant::run(&cli.global, cmd).await,
        Command::Key(cmd) => key::run(&cli.global, cmd).await,
        Command::User(cmd) => user::run(&cli.global, cmd).await,
        Command::Config(_) => unreachable!("handled above"),
        Command::Completions(args) => completions::run(&args),
        Command::Connect(_) | Command::Token(_) | Command::Me(_) => {
            unreachable!("handled above")
        }
    }
}

/// Opens the store and the pepper named by the global options, with default pool settings.
pub async fn open(
    global: &Global,
) -> anyhow::Result<(
    ucoauth_server::store::Store,
    ucoauth_server::domain::secret::Pepper,
)> {
    open_with(&global.resolve(None)?, Default::default()).await
}

/// Opens the store (with `options`) and the current pepper of `settings`.
pub async fn open_with(
    settings: &Resolved,
    options: ucoauth_server::store::StoreOptions,
) -> anyhow::Result<(
    ucoauth_server::store::Store,
    ucoauth_server::domain::secret::Pepper,
)> {
    use anyhow::Context;
    let database = &settings.database.value;
    let pepper = ucoauth_server::config::load_pepper(
        database,
        settings.pepper.value.as_ref().map(|s| s.0.as_str()),
    )?;
    let store = ucoauth_server::store::Store::open(database, options)
        .await
        .with_context(|| {
            format!(
                "cannot open the database {}",
                ucoauth_server::store::redact_url(database)
            )
        })?;
    Ok((store, pepper))
}

/// The current time in epoch milliseconds.
pub fn now() -> i64 {
    use ucoauth_server::clock::Clock;
    ucoauth_server::clock::SystemClock.now()
}

/// The first line of standard input, for `--password-stdin`.
pub fn read_password_stdin() -> anyhow::Result<String> {
    use anyhow::Context;
    use std::io::Read;
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .context("cannot read the password from standard input")?;
    let password = input.lines().next().unwrap_or_default().to_owned();
    if password.is_empty() {
        anyhow::bail!(
            "no password on standard input; pipe it in, e.g. echo 'a long password' | ucoauth ... --password-stdin"
        );
    }
    Ok(password)
}
