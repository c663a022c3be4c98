//! `ucoauth me`: which merchant a saved connection is connected to (`GET /oauth/me`).

use clap::Args;

use super::{store::TokenFile, ClientSecretArgs, SelectArgs, TokenFileArgs};
use crate::output;

#[derive(Debug, Args)]
pub struct MeArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// Needed only if the access token must be refreshed and the application requires its
    /// secret.
    #[command(flatten)]
    pub secret: ClientSecretArgs,
    #[command(flatten)]
    pub file: TokenFileArgs,
    /// Print the server's answer as JSON (UltraCart's OauthMeResponse).
    #[arg(long)]
    pub json: bool,
}

/// Asks `/oauth/me` with the saved access token, refreshing it first when it is about to
/// expire, or once when the server refuses it before its time (the refreshed set is saved
/// before it is used).
pub async fn run(args: MeArgs) -> anyhow::Result<()> {
    let file = TokenFile::locate(args.file.token_file)?;
    let mut lock = file.lock()?;
    let _held = lock.acquire()?;
    let connection = super::selected(&file, &args.select)?;
    let base_url = connection.base_url.as_str();
    let api = super::api(base_url, &args.secret)?;
    let source = super::token_source(api.clone(), &connection, &file);
    let doing = "asking /oauth/me";
    let token = source
        .access_token()
        .await
        .map_err(|e| super::explain(e, "refreshing the expiring tokens", base_url))?;
    let me = match api.with_access_token(token.clone())?.oauth_me().await {
        Ok(me) => me,
        Err(e)
            if e.status().map(|s| s.as_u16()) == Some(401)
                && connection.tokens.refresh_token.is_some() =>
        {
            let token = source.refresh_rejected(&token).await.map_err(|refresh| {
                super::explain(refresh, "refreshing the refused access token", base_url)
            })?;
            api.with_access_token(token)?
                .oauth_me()
                .await
                .map_err(|e| super::explain(e, doing, base_url))?
        }
        Err(e) => return Err(super::explain(e, doing, base_url)),
    };
    output::print(args.json, &me, || {
        let merchant = match (&me.merchant_id, &me.merchant_name) {
            (Some(id), Some(name)) => format!("merchant {id} ({name})"),
            (Some(id), None) => format!("merchant {id}"),
            _ => "a merchant the server did not name".to_owned(),
        };
        let app = me
            .application_name
            .as_deref()
            .map(|a| format!(" as application \"{a}\""))
            .unwrap_or_default();
        format!(
            "Connected to {merchant}{app} at {base_url}.\nScopes: {}",
            me.scopes.as_deref().unwrap_or_default().join(" ")
        )
    })
}
