//! `ucoauth token show | refresh | revoke | list`: the tokens `ucoauth connect` saved.

use clap::{Args, Subcommand};
use serde::Serialize;

use super::{store::TokenFile, ClientSecretArgs, ConnectionView, SelectArgs, TokenFileArgs};
use crate::output;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Show a saved connection: server, merchant, scopes, expiry, and the tokens (redacted
    /// unless --reveal).
    #[command(after_help = "EXAMPLES\n  ucoauth token show\n  \
                            ucoauth token show --client-id ID --json\n  \
                            ucoauth token show --reveal --json | jq -r .access_token")]
    Show(ShowArgs),
    /// Trade the refresh token for new tokens now. The new set is saved before it is printed
    /// (the server rotates refresh tokens, so the old one stops working).
    #[command(after_help = "EXAMPLES\n  ucoauth token refresh\n  \
                            ucoauth token refresh --base-url https://auth.example/rest/v2 \
                            --client-id ID --json")]
    Refresh(RefreshArgs),
    /// Revoke the connection at the server (ending the application's authorization for the
    /// merchant) and remove it from the token file.
    #[command(after_help = "EXAMPLES\n  ucoauth token revoke\n  \
                            ucoauth token revoke --client-id ID --json")]
    Revoke(RevokeArgs),
    /// List the saved connections.
    #[command(after_help = "EXAMPLES\n  ucoauth token list\n  \
                            ucoauth token list --token-file ./tokens.json --json")]
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// Print the tokens themselves. Anyone who sees them can act as the application.
    #[arg(long)]
    pub reveal: bool,
    #[command(flatten)]
    pub file: TokenFileArgs,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RefreshArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub secret: ClientSecretArgs,
    /// Print the new tokens themselves.
    #[arg(long)]
    pub reveal: bool,
    #[command(flatten)]
    pub file: TokenFileArgs,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub secret: ClientSecretArgs,
    #[command(flatten)]
    pub file: TokenFileArgs,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub file: TokenFileArgs,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// What `token revoke` prints.
#[derive(Debug, Serialize)]
struct Revoked {
    base_url: String,
    client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    merchant_id: Option<String>,
    /// The server's `successful`: false when it no longer knew the token.
    revoked: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    /// Removed from the token file.
    removed: bool,
    token_file: String,
}

pub async fn run(cmd: TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Show(args) => show(args),
        TokenCommand::Refresh(args) => refresh(args).await,
        TokenCommand::Revoke(args) => revoke(args).await,
        TokenCommand::List(args) => list(args),
    }
}

fn show(args: ShowArgs) -> anyhow::Result<()> {
    let file = TokenFile::locate(args.file.token_file)?;
    let connection = super::selected(&file, &args.select)?;
    let view = ConnectionView::new(&connection, &file, args.reveal);
    output::print(args.json, &view, || view.text())
}

async fn refresh(args: RefreshArgs) -> anyhow::Result<()> {
    let file = TokenFile::locate(args.file.token_file)?;
    let mut lock = file.lock()?;
    let _held = lock.acquire()?;
    let mut connection = super::selected(&file, &args.select)?;
    if connection.tokens.refresh_token.is_none() {
        anyhow::bail!(
            "the saved connection {} has no refresh token; run `ucoauth connect` again",
            connection.label()
        );
    }
    let api = super::api(&connection.base_url, &args.secret)?;
    let source = super::token_source(api, &connection, &file);
    // "Refused" forces a refresh however much time the current token has left; the source
    // saves the new set (through the file) before returning.
    source
        .refresh_rejected(&connection.tokens.access_token)
        .await
        .map_err(|e| super::explain(e, "refreshing the tokens", &connection.base_url))?;
    connection.tokens = source.token_set().await;
    let view = ConnectionView::new(&connection, &file, args.reveal);
    output::print(args.json, &view, || {
        format!("Refreshed and saved.\n{}", view.text())
    })
}

async fn revoke(args: RevokeArgs) -> anyhow::Result<()> {
    let file = TokenFile::locate(args.file.token_file)?;
    let mut lock = file.lock()?;
    let _held = lock.acquire()?;
    let connection = super::selected(&file, &args.select)?;
    let api = super::api(&connection.base_url, &args.secret)?;
    // Either token ends the whole grant; the refresh token is the one that lives longer.
    let token = match &connection.tokens.refresh_token {
        Some(refresh) => refresh.secret(),
        None => connection.tokens.access_token.secret(),
    };
    let answer = api
        .oauth_revoke(&connection.client_id, token)
        .await
        .map_err(|e| super::explain(e, "revoking the tokens", &connection.base_url))?;
    // Revoked now, or already dead at the server: either way the saved tokens are useless.
    let removed = file.remove(&connection.base_url, &connection.client_id)?;
    let result = Revoked {
        base_url: connection.base_url.clone(),
        client_id: connection.client_id.clone(),
        merchant_id: connection.tokens.merchant_id.clone(),
        revoked: answer.successful == Some(true),
        message: answer.message,
        removed,
        token_file: file.path().display().to_string(),
    };
    output::print(args.json, &result, || {
        let merchant = result
            .merchant_id
            .as_deref()
            .map(|m| format!(" for merchant {m}"))
            .unwrap_or_default();
        let what = if result.revoked {
            format!("Revoked the application's authorization{merchant}.")
        } else {
            format!(
                "The server no longer knew these tokens (already revoked or expired){}.",
                result
                    .message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            )
        };
        format!(
            "{what}\nRemoved {} from {}.",
            connection.label(),
            result.token_file
        )
    })
}

fn list(args: ListArgs) -> anyhow::Result<()> {
    let file = TokenFile::locate(args.file.token_file)?;
    let views: Vec<ConnectionView> = file
        .load()?
        .iter()
        .map(|c| ConnectionView::new(c, &file, false))
        .collect();
    output::print(args.json, &views, || {
        if views.is_empty() {
            return format!(
                "no saved connections in {}; make one with `ucoauth connect`",
                file.path().display()
            );
        }
        views
            .iter()
            .map(|v| {
                format!(
                    "{}  {}  merchant {}",
                    v.base_url,
                    v.client_id,
                    v.merchant_id.as_deref().unwrap_or("?")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    })
}
