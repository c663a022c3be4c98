//! `ucoauth app ...`.

use anyhow::bail;
use clap::{Args, Subcommand};
use serde::Serialize;
use ucoauth_server::{
    admin,
    domain::{model::Application, profile::Profile},
};

use super::Global;
use crate::output;

#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Register a developer application and print its client_id and client_secret.
    #[command(
        long_about = "Register a developer application and print its client_id and client_secret.\n\n\
            The secret is shown only this once; the database keeps only a keyed hash of it. The \
            application's permissions (--scope) are what merchants see on the consent screen; \
            tokens never carry more. With --resource-server the application may also call the \
            introspection endpoint (RFC 7662) to check tokens presented to an API it serves.",
        after_long_help = "EXAMPLES\n  \
            ucoauth app create --name 'My App' --redirect-uri https://app.example/callback \\\n      \
            --scope item_read --scope order_read --json\n\n  \
            A resource server (an API that checks tokens through introspection):\n  \
            ucoauth app create --name 'Item API' --redirect-uri https://127.0.0.1/unused \\\n      \
            --scope item_read --resource-server --json"
    )]
    Create(CreateArgs),
    /// List registered applications.
    #[command(
        after_long_help = "EXAMPLES\n  ucoauth app list\n  ucoauth app list --json | jq -r '.[].client_id'"
    )]
    List(ListArgs),
    /// Show one application.
    #[command(
        after_long_help = "EXAMPLES\n  ucoauth app show 5e31ce86e17f02015a35257c47151544 --json"
    )]
    Show(ShowArgs),
    /// Allow or forbid an application to introspect tokens (be a resource server).
    #[command(
        long_about = "Allow or forbid an application to introspect tokens (be a resource server).\n\n\
            POST /rest/v2/oauth/introspect answers only applications with this permission, \
            authenticated with their client_id and client_secret (RFC 7662 §2.1 and §4).",
        after_long_help = "EXAMPLES\n  \
            ucoauth app resource-server 5e31ce86e17f02015a35257c47151544 --allow\n  \
            ucoauth app resource-server 5e31ce86e17f02015a35257c47151544 --deny"
    )]
    ResourceServer(ResourceServerArgs),
}

#[derive(Debug, Args)]
pub struct ResourceServerArgs {
    pub client_id: String,
    /// Give the permission.
    #[arg(long, conflicts_with = "deny", required_unless_present = "deny")]
    pub allow: bool,
    /// Take the permission away.
    #[arg(long)]
    pub deny: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Application name shown on the consent screen.
    #[arg(long)]
    pub name: String,
    /// A redirect URI (repeat for several). https, or http on a loopback host.
    #[arg(long = "redirect-uri", required = true)]
    pub redirect_uris: Vec<String>,
    /// A permission (repeat for several), e.g. item_read.
    #[arg(long = "scope", required = true)]
    pub scopes: Vec<String>,
    #[arg(long, default_value = "")]
    pub description: String,
    #[arg(long, default_value = "")]
    pub developer_name: String,
    #[arg(long, default_value = "")]
    pub developer_email: String,
    #[arg(long, default_value = "")]
    pub developer_url: String,
    /// Require the client secret at the token and revoke endpoints.
    #[arg(long)]
    pub require_secret: bool,
    /// Require PKCE on every authorization request.
    #[arg(long)]
    pub require_pkce: bool,
    /// Override the server profile for this application (compat or strict).
    #[arg(long)]
    pub profile: Option<Profile>,
    /// The merchant that owns the application (its developer account).
    #[arg(long)]
    pub merchant_id: Option<String>,
    /// Allow the application to call the introspection endpoint (a resource server).
    #[arg(long)]
    pub resource_server: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    pub client_id: String,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// An application as printed (never the secret's hash).
#[derive(Serialize)]
struct AppView {
    client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
    client_secret_hint: String,
    name: String,
    description: String,
    developer_name: String,
    developer_email: String,
    developer_url: String,
    redirect_uris: Vec<String>,
    scopes: Vec<String>,
    require_secret: bool,
    require_pkce: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    profile: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    merchant_id: Option<String>,
    /// Shown by `create` and `show` (looked up separately).
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_server: Option<bool>,
}

impl AppView {
    fn new(app: Application, client_secret: Option<String>) -> Self {
        Self {
            client_id: app.client_id,
            client_secret,
            client_secret_hint: app.secret_hint,
            name: app.name,
            description: app.description,
            developer_name: app.developer_name,
            developer_email: app.developer_email,
            developer_url: app.developer_url,
            redirect_uris: app.redirect_uris,
            scopes: app.scopes.names().to_vec(),
            require_secret: app.require_secret,
            require_pkce: app.require_pkce,
            profile: app.profile.map(|p| p.to_string()),
            merchant_id: app.owner_merchant_id,
            resource_server: None,
        }
    }

    fn text(&self) -> String {
        let mut out = format!(
            "client_id:      {}\nname:           {}\nredirect URIs:  {}\nscopes:         {}\nrequire secret: {}\nrequire PKCE:   {}\n",
            self.client_id,
            self.name,
            self.redirect_uris.join(", "),
            self.scopes.join(" "),
            self.require_secret,
            self.require_pkce
        );
        if let Some(rs) = self.resource_server {
            out.push_str(&format!("resource server: {rs}\n"));
        }
        match &self.client_secret {
            Some(secret) => out.push_str(&format!(
                "client_secret:  {secret}\n(the secret is shown only now; store it safely)"
            )),
            None => out.push_str(&format!(
                "client_secret:  {} (hidden)",
                self.client_secret_hint
            )),
        }
        out
    }
}

pub async fn run(global: &Global, cmd: AppCommand) -> anyhow::Result<()> {
    let (store, pepper) = super::open(global).await?;
    let result = match cmd {
        AppCommand::Create(args) => {
            let created = admin::create_application(
                &store,
                &pepper,
                admin::NewApplication {
                    name: args.name,
                    description: args.description,
                    developer_name: args.developer_name,
                    developer_email: args.developer_email,
                    developer_url: args.developer_url,
                    redirect_uris: args.redirect_uris,
                    scopes: args.scopes,
                    require_secret: args.require_secret,
                    require_pkce: args.require_pkce,
                    profile: args.profile,
                    owner_merchant_id: args.merchant_id,
                },
                super::now(),
            )
            .await;
            match created {
                Ok(c) => {
                    let client_id = c.application.client_id.clone();
                    let mut view = AppView::new(c.application, Some(c.client_secret));
                    if args.resource_server {
                        store
                            .set_resource_server(client_id, true, super::now())
                            .await?;
                    }
                    view.resource_server = Some(args.resource_server);
                    output::print(args.json, &view, || view.text())
                }
                Err(e) => Err(e.into()),
            }
        }
        AppCommand::List(args) => {
            let (apps, _total) = store.list_applications(0, i64::MAX).await?;
            let views: Vec<AppView> = apps.into_iter().map(|a| AppView::new(a, None)).collect();
            output::print(args.json, &views, || {
                if views.is_empty() {
                    return "no applications yet; register one with `ucoauth app create`".into();
                }
                views
                    .iter()
                    .map(|v| format!("{}  {}", v.client_id, v.name))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        AppCommand::Show(args) => match store.find_application(&args.client_id).await? {
            Some(app) => {
                let mut view = AppView::new(app, None);
                view.resource_server = Some(store.is_resource_server(&args.client_id).await?);
                output::print(args.json, &view, || view.text())
            }
            None => {
                store.close().await;
                bail!(
                    "no application with client_id {}; list them with `ucoauth app list`",
                    args.client_id
                )
            }
        },
        AppCommand::ResourceServer(args) => {
            let allowed = args.allow;
            let found = store
                .set_resource_server(args.client_id.clone(), allowed, super::now())
                .await?;
            if !found {
                store.close().await;
                bail!(
                    "no application with client_id {}; list them with `ucoauth app list`",
                    args.client_id
                );
            }
            #[derive(Serialize)]
            struct Changed {
                client_id: String,
                resource_server: bool,
            }
            let changed = Changed {
                client_id: args.client_id,
                resource_server: allowed,
            };
            output::print(args.json, &changed, || {
                if allowed {
                    format!("{} may now introspect tokens", changed.client_id)
                } else {
                    format!("{} may no longer introspect tokens", changed.client_id)
                }
            })
        }
    };
    store.close().await;
    result
}
