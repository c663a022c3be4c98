//! `ucoauth serve`.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use clap::Args;
use ucoauth_server::{
    clock::SystemClock, config::ServerConfig, domain::profile::Profile, store::StoreOptions,
    AppState,
};

use super::Global;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "UCOAUTH_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// The URL clients and browsers reach this server at (the issuer). Defaults to
    /// http://<bind address>.
    #[arg(long, env = "UCOAUTH_PUBLIC_URL")]
    pub public_url: Option<url::Url>,
    /// compat: behave like UltraCart so its SDKs work unchanged; strict: OAuth 2.1 / RFC 9700
    /// (PKCE S256 and client secrets required).
    #[arg(long, env = "UCOAUTH_PROFILE", default_value = "compat")]
    pub profile: Profile,
    /// Turn rate limits off (sign-in, token and revoke limits are on by default). For load
    /// tests on loopback; never in production.
    #[arg(long, env = "UCOAUTH_NO_RATE_LIMITS")]
    pub no_rate_limits: bool,
    /// Most database connections this node opens. With N nodes on one PostgreSQL, keep
    /// N × this below the server's max_connections.
    #[arg(long, env = "UCOAUTH_DB_MAX_CONNECTIONS", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_max_connections: u32,
    /// How long a request waits for a database connection (reconnecting included) before it is
    /// answered 503 with Retry-After, in milliseconds.
    #[arg(long, env = "UCOAUTH_DB_ACQUIRE_TIMEOUT_MS", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub db_acquire_timeout_ms: u64,
    /// PostgreSQL: the longest one statement may run (lock waits included) before it is
    /// cancelled and the request answered 503, in milliseconds; 0 leaves the server's setting.
    /// Not used with SQLite.
    #[arg(long, env = "UCOAUTH_DB_STATEMENT_TIMEOUT_MS", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    pub db_statement_timeout_ms: u64,
    /// Log format: text or json.
    #[arg(long, env = "UCOAUTH_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
}

pub async fn run(global: &Global, args: ServeArgs) -> anyhow::Result<()> {
    init_logging(&args.log_format);
    let options = StoreOptions {
        max_connections: args.db_max_connections,
        acquire_timeout: Duration::from_millis(args.db_acquire_timeout_ms),
        statement_timeout: (args.db_statement_timeout_ms > 0)
            .then(|| Duration::from_millis(args.db_statement_timeout_ms)),
        ..StoreOptions::default()
    };
    let (store, pepper) = super::open_with(global, options).await?;
    let listener = tokio::net::TcpListener::bind(&args.bind)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}; is another server using it? (choose another with --bind)",
                args.bind
            )
        })?;
    let local = listener.local_addr()?;
    let public_url = match args.public_url {
        Some(url) => url,
        None => url::Url::parse(&format!("http://{local}"))?,
    };
    let mut config = ServerConfig::new(public_url.clone(), pepper);
    config.profile = args.profile;
    config.rate_limits.enabled = !args.no_rate_limits;
    let clock = Arc::new(SystemClock);
    let state = AppState::new(store.clone(), config, clock.clone());
    let janitor = ucoauth_server::maintenance::spawn_janitor(
        store.clone(),
        clock,
        std::time::Duration::from_secs(60),
        Default::default(),
    );
    println!(
        "ucoauth listening on http://{local} (public URL {public_url}, profile {})",
        args.profile
    );
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
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("UCOAUTH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: log files and collectors get plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}
