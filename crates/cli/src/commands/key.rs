//! `ucoauth key ...`: merchants' simple API keys (`x-ultracart-simple-key`).

use clap::{Args, Subcommand};
use serde_json::json;
use ucoauth_server::admin::{self, views::KeyView, NewKey, Paging, Within};

use super::Global;
use crate::output;

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create a simple API key for a merchant and print it (shown only this once).
    #[command(
        after_help = "EXAMPLES\n  ucoauth key create --merchant-id DEMO --name \"nightly export\" \
        --scope order_read --scope item_read --json"
    )]
    Create(CreateArgs),
    /// List a merchant's live keys (their last characters only).
    #[command(after_help = "EXAMPLES\n  ucoauth key list --merchant-id DEMO")]
    List(ListArgs),
    /// Revoke a key; it stops working at once.
    #[command(after_help = "EXAMPLES\n  ucoauth key revoke 9b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e")]
    Revoke(RevokeArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The merchant the key acts for, e.g. DEMO.
    #[arg(long)]
    pub merchant_id: String,
    /// What the key is for.
    #[arg(long)]
    pub name: String,
    /// A permission (repeat for several), e.g. order_read.
    #[arg(long = "scope", required = true)]
    pub scopes: Vec<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(long)]
    pub merchant_id: String,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The key_id (see `ucoauth key list`).
    pub key_id: String,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(global: &Global, cmd: KeyCommand) -> anyhow::Result<()> {
    let (store, pepper) = super::open(global).await?;
    let result = match cmd {
        KeyCommand::Create(args) => {
            let created = admin::create_key(
                &store,
                &pepper,
                NewKey {
                    merchant_id: args.merchant_id,
                    name: args.name,
                    scopes: args.scopes,
                    created_by: None,
                },
                None,
                &ucoauth_server::domain::audit::Actor::operator(),
                super::now(),
            )
            .await;
            match created {
                Ok(c) => {
                    let view = KeyView::new(c.key, Some(c.secret));
                    output::print(args.json, &view, || {
                        format!(
                            "key_id:  {}\nname:    {}\nscopes:  {}\nkey:     {}\n(the key is shown only now; send it as x-ultracart-simple-key)",
                            view.key_id,
                            view.name,
                            view.scopes.join(" "),
                            view.key.as_deref().unwrap_or_default()
                        )
                    })
                }
                Err(e) => Err(e.into()),
            }
        }
        KeyCommand::List(args) => {
            match admin::list_keys(&store, &args.merchant_id, Paging::all()).await {
                Ok(listed) => {
                    let views: Vec<KeyView> = listed
                        .items
                        .into_iter()
                        .map(|k| KeyView::new(k, None))
                        .collect();
                    output::print(args.json, &views, || {
                        if views.is_empty() {
                            return format!("merchant {} has no API keys", args.merchant_id);
                        }
                        views
                            .iter()
                            .map(|k| {
                                format!(
                                    "{}  {}  {}  [{}]",
                                    k.key_id,
                                    k.key_hint,
                                    k.name,
                                    k.scopes.join(" ")
                                )
                            })
                            .collect::<Vec<_>>()
                            .join("\n")
                    })
                }
                Err(e) => Err(e.into()),
            }
        }
        KeyCommand::Revoke(args) => {
            let revoked = admin::revoke_key(
                &store,
                Within::AnyMerchant,
                &ucoauth_server::domain::audit::Actor::operator(),
                &args.key_id,
                super::now(),
            )
            .await;
            match revoked {
                Ok(()) => output::print(
                    args.json,
                    &json!({"key_id": args.key_id, "revoked": true}),
                    || format!("revoked key {}", args.key_id),
                ),
                Err(e) => Err(e.into()),
            }
        }
    };
    store.close().await;
    result
}
