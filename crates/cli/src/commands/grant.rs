//! `ucoauth grant ...`: the applications merchants authorized (their grants).

use clap::{Args, Subcommand};
use serde_json::json;
use ucoauth_server::admin::{self, views::GrantView, Paging, Within};

use super::Global;
use crate::output;

#[derive(Debug, Subcommand)]
pub enum GrantCommand {
    /// List a merchant's live authorizations (its Authorized Applications).
    #[command(after_help = "EXAMPLES\n  ucoauth grant list --merchant-id DEMO --json")]
    List(ListArgs),
    /// Revoke an authorization: its tokens stop working at once, and within a second on a
    /// server running on the same database (its --access-cache-ms).
    #[command(after_help = "EXAMPLES\n  ucoauth grant revoke 3f2a9c0e1b7d4e5f8a6b2c1d0e9f8a7b")]
    Revoke(RevokeArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// The merchant whose authorizations to list, e.g. DEMO.
    #[arg(long)]
    pub merchant_id: String,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The grant_id (see `ucoauth grant list`).
    pub grant_id: String,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(global: &Global, cmd: GrantCommand) -> anyhow::Result<()> {
    let (store, _) = super::open(global).await?;
    let result = match cmd {
        GrantCommand::List(args) => {
            match admin::list_grants(&store, &args.merchant_id, Paging::all()).await {
                Ok(listed) => {
                    let views: Vec<GrantView> =
                        listed.items.into_iter().map(GrantView::from).collect();
                    output::print(args.json, &views, || {
                        if views.is_empty() {
                            return format!(
                                "merchant {} has no live authorizations",
                                args.merchant_id
                            );
                        }
                        views
                            .iter()
                            .map(|g| {
                                format!(
                                    "{}  {}  [{}]  authorized {}  last used {}",
                                    g.grant_id,
                                    g.application_name,
                                    g.scopes.join(" "),
                                    g.created_dts,
                                    g.last_used_dts.as_deref().unwrap_or("never")
                                )
                            })
                            .collect::<Vec<_>>()
                            .join("\n")
                    })
                }
                Err(e) => Err(e.into()),
            }
        }
        GrantCommand::Revoke(args) => {
            let operator = ucoauth_server::domain::audit::Actor::operator();
            match admin::revoke_grant(
                &store,
                Within::AnyMerchant,
                &operator,
                &args.grant_id,
                super::now(),
            )
            .await
            {
                Ok(()) => output::print(
                    args.json,
                    &json!({"grant_id": args.grant_id, "revoked": true}),
                    || format!("revoked {}; its tokens no longer work", args.grant_id),
                ),
                Err(e) => Err(e.into()),
            }
        }
    };
    store.close().await;
    result
}
