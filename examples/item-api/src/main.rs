//! `item-api`: run the example resource server against a ucoauth server.

use std::time::Duration;

use clap::Parser;
use ucoauth_example_item_api::{router, Catalogue};
use ucoauth_guard::{Guard, IntrospectionVerifier};

/// Example resource server: UltraCart's GET /rest/v2/item/items (scope item_read) and
/// PUT /rest/v2/item/items/{id} (scope item_write), protected by ucoauth-guard.
///
/// It checks each bearer token with the ucoauth server's introspection endpoint, as a resource
/// server registered there as an application. Set one up with:
///
///   ucoauth app create --name "Item API" --redirect-uri https://127.0.0.1/unused
///       --scope item_read --resource-server --json
///
/// then run:
///
///   ITEM_API_CLIENT_ID=... ITEM_API_CLIENT_SECRET=... item-api --ucoauth-url http://127.0.0.1:8080
///
/// and call it with a token from the OAuth flow:
///
///   curl -H "Authorization: Bearer ACCESS_TOKEN" http://127.0.0.1:8081/rest/v2/item/items
#[derive(Debug, Parser)]
#[command(name = "item-api", version, verbatim_doc_comment)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "ITEM_API_BIND", default_value = "127.0.0.1:8081")]
    bind: String,
    /// Base URL of the ucoauth server.
    #[arg(long, env = "UCOAUTH_URL", default_value = "http://127.0.0.1:8080")]
    ucoauth_url: String,
    /// This resource server's client_id at the ucoauth server.
    #[arg(long, env = "ITEM_API_CLIENT_ID")]
    client_id: String,
    /// This resource server's client secret (prefer the environment variable).
    #[arg(long, env = "ITEM_API_CLIENT_SECRET", hide_env_values = true)]
    client_secret: String,
    /// Seconds an introspection answer is reused. A revoked token can be accepted for up to
    /// this long; 0 asks on every request.
    #[arg(long, env = "ITEM_API_CACHE_TTL", default_value_t = 10)]
    cache_ttl: u64,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let introspect = format!(
        "{}/rest/v2/oauth/introspect",
        args.ucoauth_url.trim_end_matches('/')
    );
    let verifier = IntrospectionVerifier::new(&introspect, &args.client_id, &args.client_secret)
        .with_cache(Duration::from_secs(args.cache_ttl), 10_000);
    let app = router(
        Guard::new(verifier).with_realm("item-api"),
        Catalogue::demo(),
    );
    let listener = match tokio::net::TcpListener::bind(&args.bind).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", args.bind);
            return std::process::ExitCode::FAILURE;
        }
    };
    println!(
        "item-api listening on http://{} (tokens checked at {introspect})",
        listener
            .local_addr()
            .map_or(args.bind.clone(), |a| a.to_string())
    );
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
    {
        eprintln!("error: {e}");
        return std::process::ExitCode::FAILURE;
    }
    std::process::ExitCode::SUCCESS
}
