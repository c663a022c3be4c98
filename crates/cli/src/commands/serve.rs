//! `ucoauth serve`.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use clap::Args;
use ucoauth_server::{clock::SystemClock, config::ServerConfig, store::StoreOptions, AppState};

use super::Global;
use crate::settings::{Given, LogFormat};

/// The server's own settings. None has a clap default, so that a value from the configuration
/// file can tell itself apart from "not given"; the defaults are applied in `settings`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on. [default: 127.0.0.1:8080]
    #[arg(long, env = "UCOAUTH_BIND", value_name = "HOST:PORT")]
    pub bind: Option<String>,
    /// The URL clients and browsers reach this server at: the issuer, and the base of every
    /// URL in the metadata document. [default: http://<bound address>]
    #[arg(long, env = "UCOAUTH_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// compat: behave like UltraCart so its SDKs work unchanged; strict: OAuth 2.1 / RFC 9700
    /// (PKCE S256 and client secrets required). [default: compat]
    #[arg(long, env = "UCOAUTH_PROFILE", value_name = "compat|strict")]
    pub profile: Option<String>,
    /// Log format: text (for people) or json (one object per line). [default: text]
    #[arg(long, env = "UCOAUTH_LOG_FORMAT", value_name = "text|json")]
    pub log_format: Option<String>,
    /// Lifetime of an authorization code (1s..10m). [default: 60s]
    #[arg(long, env = "UCOAUTH_CODE_TTL", value_name = "DURATION")]
    pub code_ttl: Option<String>,
    /// Lifetime of an access token (1m..24h); sent as `expires_in`. [default: 1h]
    #[arg(long, env = "UCOAUTH_ACCESS_TOKEN_TTL", value_name = "DURATION")]
    pub access_token_ttl: Option<String>,
    /// Lifetime of a refresh token (1m..366d). [default: 30d]
    #[arg(long, env = "UCOAUTH_REFRESH_TOKEN_TTL", value_name = "DURATION")]
    pub refresh_token_ttl: Option<String>,
    /// How long after a rotation the previous refresh token may be retried once (0..5m);
    /// any other reuse revokes the grant. [default: 10s]
    #[arg(long, env = "UCOAUTH_REFRESH_GRACE", value_name = "DURATION")]
    pub refresh_grace: Option<String>,
    /// Lifetime of a merchant's sign-in session on the pages (1m..30d). [default: 12h]
    #[arg(long, env = "UCOAUTH_SESSION_TTL", value_name = "DURATION")]
    pub session_ttl: Option<String>,
    /// Turn the in-memory rate limits off (sign-in, token and revoke limits are on by
    /// default; the device flow's database-backed limits stay on). For load tests on loopback;
    /// never in production.
    #[arg(long, env = "UCOAUTH_NO_RATE_LIMITS")]
    pub no_rate_limits: bool,
    /// Sign-in attempts per client IP per minute, on each node; 0: no limit. [default: 30]
    #[arg(long, env = "UCOAUTH_LOGIN_PER_IP_PER_MINUTE", value_name = "COUNT")]
    pub login_per_ip_per_minute: Option<u32>,
    /// Failed sign-ins per account per minute before the account waits out the minute, on
    /// each node; 0: no limit. [default: 5]
    #[arg(
        long,
        env = "UCOAUTH_LOGIN_FAILURES_PER_ACCOUNT_PER_MINUTE",
        value_name = "COUNT"
    )]
    pub login_failures_per_account_per_minute: Option<u32>,
    /// Token and revoke requests per application per second, on each node; 0: no limit.
    /// [default: 2000]
    #[arg(
        long,
        env = "UCOAUTH_TOKEN_PER_CLIENT_PER_SECOND",
        value_name = "COUNT"
    )]
    pub token_per_client_per_second: Option<u32>,
    /// Failed token and revoke requests per client IP per minute, on each node; 0: no limit.
    /// [default: 120]
    #[arg(
        long,
        env = "UCOAUTH_TOKEN_FAILURES_PER_IP_PER_MINUTE",
        value_name = "COUNT"
    )]
    pub token_failures_per_ip_per_minute: Option<u32>,
    /// Failed user-code entries per browser session on the device page, shared by all nodes
    /// (database-backed). [default: 10/15m]
    #[arg(
        long,
        env = "UCOAUTH_DEVICE_VERIFY_PER_SESSION",
        value_name = "COUNT/DURATION"
    )]
    pub device_verify_per_session: Option<String>,
    /// Failed user-code entries per client IP, shared by all nodes. [default: 50/15m]
    #[arg(
        long,
        env = "UCOAUTH_DEVICE_VERIFY_PER_IP",
        value_name = "COUNT/DURATION"
    )]
    pub device_verify_per_ip: Option<String>,
    /// Device authorization requests per client IP, shared by all nodes. [default: 30/1m]
    #[arg(
        long,
        env = "UCOAUTH_DEVICE_AUTHORIZE_PER_IP",
        value_name = "COUNT/DURATION"
    )]
    pub device_authorize_per_ip: Option<String>,
    /// Device-code polls of the token endpoint per client IP, shared by all nodes (beyond
    /// slow_down). [default: 300/1m]
    #[arg(
        long,
        env = "UCOAUTH_DEVICE_POLL_PER_IP",
        value_name = "COUNT/DURATION"
    )]
    pub device_poll_per_ip: Option<String>,
    /// Most database connections this node opens. With N nodes on one PostgreSQL, keep
    /// N × this below the server's max_connections. (Flag or environment only.)
    #[arg(long, env = "UCOAUTH_DB_MAX_CONNECTIONS", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_max_connections: u32,
    /// How long a request waits for a database connection (reconnecting included) before it is
    /// answered 503 with Retry-After, in milliseconds. (Flag or environment only.)
    #[arg(long, env = "UCOAUTH_DB_ACQUIRE_TIMEOUT_MS", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub db_acquire_timeout_ms: u64,
    /// PostgreSQL: the longest one statement may run (lock waits included) before it is
    /// cancelled and the request answered 503, in milliseconds; 0 leaves the server's setting.
    /// Not used with SQLite. (Flag or environment only.)
    #[arg(long, env = "UCOAUTH_DB_STATEMENT_TIMEOUT_MS", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    pub db_statement_timeout_ms: u64,
    /// How long a valid access token's check (/oauth/me, introspection, API calls) is served
    /// from memory, in milliseconds; 0: every check reads the database. A revocation made
    /// through this node takes effect at once; one made through another node, or by the CLI
    /// on the same database, takes effect here within this time. (Flag or environment only.)
    #[arg(long, env = "UCOAUTH_ACCESS_CACHE_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub access_cache_ms: u64,
}

impl ServeArgs {
    /// Adds the values given by flag or environment to `given`.
    pub fn fill(&self, given: &mut Given) {
        given.bind.clone_from(&self.bind);
        given.public_url.clone_from(&self.public_url);
        given.profile.clone_from(&self.profile);
        given.log_format.clone_from(&self.log_format);
        given.code_ttl.clone_from(&self.code_ttl);
        given.access_token_ttl.clone_from(&self.access_token_ttl);
        given.refresh_token_ttl.clone_from(&self.refresh_token_ttl);
        given.refresh_grace.clone_from(&self.refresh_grace);
        given.session_ttl.clone_from(&self.session_ttl);
        // A bool flag cannot say "not given": only "off" overrides the file.
        given.no_rate_limits = self.no_rate_limits.then_some(true);
        given.login_per_ip_per_minute = self.login_per_ip_per_minute;
        given.login_failures_per_account_per_minute = self.login_failures_per_account_per_minute;
        given.token_per_client_per_second = self.token_per_client_per_second;
        given.token_failures_per_ip_per_minute = self.token_failures_per_ip_per_minute;
        given
            .device_verify_per_session
            .clone_from(&self.device_verify_per_session);
        given
            .device_verify_per_ip
            .clone_from(&self.device_verify_per_ip);
        given
            .device_authorize_per_ip
            .clone_from(&self.device_authorize_per_ip);
        given
            .device_poll_per_ip
            .clone_from(&self.device_poll_per_ip);
    }
}

pub async fn run(global: &Global, args: ServeArgs) -> anyhow::Result<()> {
    let settings = global.resolve(Some(&args))?;
    init_logging(settings.log_format.value);
    for warning in &settings.warnings {
        tracing::warn!("{warning}");
    }
    let options = StoreOptions {
        max_connections: args.db_max_connections,
        acquire_timeout: Duration::from_millis(args.db_acquire_timeout_ms),
        statement_timeout: (args.db_statement_timeout_ms > 0)
            .then(|| Duration::from_millis(args.db_statement_timeout_ms)),
        access_cache_ttl: Duration::from_millis(args.access_cache_ms),
        ..StoreOptions::default()
    };
    let (store, pepper) = super::open_with(&settings, options).await?;
    let bind = &settings.bind.value;
    let listener = tokio::net::TcpListener::bind(bind).await.with_context(|| {
        format!("cannot listen on {bind}; is another server using it? (choose another with --bind)")
    })?;
    let local = listener.local_addr()?;
    let public_url = match &settings.public_url.value {
        Some(url) => url.clone(),
        None => url::Url::parse(&format!("http://{local}"))?,
    };
    let mut config = ServerConfig::new(public_url.clone(), pepper);
    settings.apply(&mut config);
    let profile = config.profile;
    let clock = Arc::new(SystemClock);
    let state = AppState::new(store.clone(), config, clock.clone());
    let janitor = ucoauth_server::maintenance::spawn_janitor(
        store.clone(),
        clock,
        Duration::from_secs(60),
        Default::default(),
    );
    println!("ucoauth listening on http://{local} (public URL {public_url}, profile {profile})");
    tracing::info!(%local, "listening");
    ucoauth_server::serve(listener, state, shutdown_signal()).await?;
    janitor.abort();
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("UCOAUTH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: log files and collectors get plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
