//! The command tree.

mod app;
mod audit;
mod grant;
mod janitor;
mod key;
mod merchant;
mod serve;
mod user;

use clap::{Args, Parser, Subcommand};

/// ucoauth — an UltraCart-compatible OAuth 2 authorization server.
///
/// Start a server with `ucoauth serve`, add a merchant with `ucoauth merchant create`, register
/// an application with `ucoauth app create`, then send a browser to
/// /rest/v2/oauth/authorize?response_type=code&client_id=...&state=... on the server.
/// The same operations are in the back office (sign in at / on the server) and its JSON API
/// (/admin/api/v1).
#[derive(Debug, Parser)]
#[command(name = "ucoauth", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// Database URL: sqlite://FILE (created on first use) or postgres://USER@HOST/DB.
    #[arg(
        long,
        global = true,
        env = "UCOAUTH_DATABASE",
        default_value = "sqlite://ucoauth.db"
    )]
    pub database: String,
    /// Key for credential hashes, as hex (at least 32 characters). Defaults to the file
    /// <database file>.pepper beside a SQLite database, created on first use. Required with
    /// PostgreSQL, and the same on every node.
    #[arg(long, global = true, env = "UCOAUTH_PEPPER", hide_env_values = true)]
    pub pepper: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the authorization server (creates and migrates the database if needed).
    Serve(serve::ServeArgs),
    /// Manage merchant accounts.
    #[command(subcommand)]
    Merchant(merchant::MerchantCommand),
    /// Manage developer applications (OAuth clients).
    #[command(subcommand)]
    App(app::AppCommand),
    /// Read the audit trail (consents, codes, refreshes, revocations, sign-ins), newest first.
    Audit(audit::AuditArgs),
    /// Remove expired codes, tokens and sessions, and long-revoked grants, now.
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
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(&cli.global, args).await,
        Command::Merchant(cmd) => merchant::run(&cli.global, cmd).await,
        Command::App(cmd) => app::run(&cli.global, cmd).await,
        Command::Audit(args) => audit::run(&cli.global, args).await,
        Command::Janitor(args) => janitor::run(&cli.global, args).await,
        Command::Grant(cmd) => grant::run(&cli.global, cmd).await,
        Command::Key(cmd) => key::run(&cli.global, cmd).await,
        Command::User(cmd) => user::run(&cli.global, cmd).await,
    }
}

/// Opens the store and the pepper named by the global options, with default pool settings.
pub async fn open(
    global: &Global,
) -> anyhow::Result<(
    ucoauth_server::store::Store,
    ucoauth_server::domain::secret::Pepper,
)> {
    open_with(global, Default::default()).await
}

/// Opens the store and the pepper named by the global options.
pub async fn open_with(
    global: &Global,
    options: ucoauth_server::store::StoreOptions,
) -> anyhow::Result<(
    ucoauth_server::store::Store,
    ucoauth_server::domain::secret::Pepper,
)> {
    use anyhow::Context;
    let pepper = ucoauth_server::config::load_pepper(&global.database, global.pepper.as_deref())?;
    let store = ucoauth_server::store::Store::open(&global.database, options)
        .await
        .with_context(|| {
            format!(
                "cannot open the database {}",
                ucoauth_server::store::redact_url(&global.database)
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
