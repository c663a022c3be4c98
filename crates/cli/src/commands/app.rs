//! `ucoauth app ...`: developer applications (OAuth clients).

use anyhow::bail;
use clap::{Args, Subcommand};
use serde_json::json;
use ucoauth_server::{
    admin::{self, views::ApplicationView, ApplicationChanges, Paging, Within},
    domain::{audit::Actor, profile::Profile},
};

use super::Global;
use crate::output;

#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Register a developer application and print its client_id and client_secret.
    ///
    /// The secret is shown only this once.
    #[command(after_help = "EXAMPLES\n  ucoauth app create --name \"My App\" \
        --redirect-uri https://app.example/callback --scope item_read --scope order_read --json")]
    Create(CreateArgs),
    /// List registered applications.
    #[command(
        after_help = "EXAMPLES\n  ucoauth app list\n  ucoauth app list --merchant-id DEMO --json"
    )]
    List(ListArgs),
    /// Show one application.
    #[command(after_help = "EXAMPLES\n  ucoauth app show 5e31ce86e17f02015a35257c47151544")]
    Show(ShowArgs),
    /// Change an application: only the options given change.
    ///
    /// --redirect-uri and --scope replace the whole list when given.
    #[command(
        after_help = "EXAMPLES\n  ucoauth app update CLIENT_ID --name \"My App 2\"\n  \
        ucoauth app update CLIENT_ID --redirect-uri https://app.example/cb \
        --redirect-uri http://127.0.0.1:9000/cb\n  \
        ucoauth app update CLIENT_ID --scope item_read --require-pkce true --json"
    )]
    Update(UpdateArgs),
    /// Replace an application's client secret and print the new one (shown only this once).
    ///
    /// The old secret stops working at once.
    #[command(after_help = "EXAMPLES\n  ucoauth app rotate-secret CLIENT_ID --json")]
    RotateSecret(IdArgs),
    /// Delete an application. Every authorization merchants gave it is revoked, so all its
    /// tokens stop working at once (within a second on a server running on the same database:
    /// its --access-cache-ms).
    #[command(after_help = "EXAMPLES\n  ucoauth app delete CLIENT_ID --yes")]
    Delete(DeleteArgs),
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
    /// The merchant that owns the application (its developer account); it then appears on
    /// that merchant's Developer Applications page.
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
    /// Only the applications this merchant owns.
    #[arg(long)]
    pub merchant_id: Option<String>,
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

#[derive(Debug, Args)]
pub struct IdArgs {
    /// The application's client_id.
    pub client_id: String,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The application's client_id.
    pub client_id: String,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
    #[arg(long)]
    pub developer_name: Option<String>,
    #[arg(long)]
    pub developer_email: Option<String>,
    #[arg(long)]
    pub developer_url: Option<String>,
    /// A redirect URI (repeat for several); replaces every registered one.
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,
    /// A permission (repeat for several); replaces the current permissions.
    #[arg(long = "scope")]
    pub scopes: Vec<String>,
    /// Require the client secret (true or false).
    #[arg(long)]
    pub require_secret: Option<bool>,
    /// Require PKCE (true or false).
    #[arg(long)]
    pub require_pkce: Option<bool>,
    /// compat, strict, or "server" to follow the server's profile.
    #[arg(long)]
    pub profile: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The application's client_id.
    pub client_id: String,
    /// Confirm the deletion (without it, nothing is deleted and the command says what would be).
    #[arg(long)]
    pub yes: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The text form of an application.
fn text(view: &ApplicationView) -> String {
    let mut out = format!(
        "client_id:      {}\nname:           {}\nredirect URIs:  {}\nscopes:         {}\nrequire secret: {}\nrequire PKCE:   {}\n",
        view.client_id,
        view.name,
        view.redirect_uris.join(", "),
        view.scopes.join(" "),
        view.require_secret,
        view.require_pkce
    );
    if let Some(m) = &view.merchant_id {
        out.push_str(&format!("merchant:       {m}\n"));
    }
    match &view.client_secret {
        Some(secret) => out.push_str(&format!(
            "client_secret:  {secret}\n(the secret is shown only now; store it safely)"
        )),
        None => out.push_str(&format!(
            "client_secret:  {} (hidden)",
            view.client_secret_hint
        )),
    }
    out
}

pub async fn run(global: &Global, cmd: AppCommand) -> anyhow::Result<()> {
    let (store, pepper) = super::open(global).await?;
    let result = run_with(&store, &pepper, cmd).await;
    store.close().await;
    result
}

async fn run_with(
    store: &ucoauth_server::store::Store,
    pepper: &ucoauth_server::domain::secret::Pepper,
    cmd: AppCommand,
) -> anyhow::Result<()> {
    let any = Within::AnyMerchant;
    let operator = &Actor::operator();
    match cmd {
        AppCommand::Create(args) => {
            let created = admin::create_application(
                store,
                pepper,
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
                operator,
                super::now(),
            )
            .await?;
            if args.resource_server {
                store
                    .set_resource_server(created.application.client_id.clone(), true, super::now())
                    .await?;
            }
            let view = ApplicationView::new(created.application, Some(created.client_secret));
            let mut value = serde_json::to_value(&view)?;
            value["resource_server"] = json!(args.resource_server);
            output::print(args.json, &value, || {
                format!("{}\nresource server: {}", text(&view), args.resource_server)
            })
        }
        AppCommand::List(args) => {
            let within = match &args.merchant_id {
                Some(m) => Within::Merchant(m),
                None => any,
            };
            let listed = admin::list_applications(store, within, Paging::all()).await?;
            let views: Vec<ApplicationView> = listed
                .items
                .into_iter()
                .map(|a| ApplicationView::new(a, None))
                .collect();
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
        AppCommand::Show(args) => {
            let app = admin::get_application(store, any, &args.client_id)
                .await
                .map_err(hint_list)?;
            let resource_server = store.is_resource_server(&app.client_id).await?;
            let view = ApplicationView::new(app, None);
            let mut value = serde_json::to_value(&view)?;
            value["resource_server"] = json!(resource_server);
            output::print(args.json, &value, || {
                format!("{}\nresource server: {resource_server}", text(&view))
            })
        }
        AppCommand::Update(args) => {
            let profile = match args.profile.as_deref() {
                None => None,
                Some("server") => Some(None),
                Some(p) => match p.parse::<Profile>() {
                    Ok(p) => Some(Some(p)),
                    Err(_) => bail!("--profile must be compat, strict or server"),
                },
            };
            let changes = ApplicationChanges {
                name: args.name,
                description: args.description,
                developer_name: args.developer_name,
                developer_email: args.developer_email,
                developer_url: args.developer_url,
                redirect_uris: (!args.redirect_uris.is_empty()).then_some(args.redirect_uris),
                scopes: (!args.scopes.is_empty()).then_some(args.scopes),
                require_secret: args.require_secret,
                require_pkce: args.require_pkce,
                profile,
            };
            let app = admin::update_application(
                store,
                any,
                operator,
                &args.client_id,
                changes,
                super::now(),
            )
            .await
            .map_err(hint_list)?;
            let view = ApplicationView::new(app, None);
            output::print(args.json, &view, || format!("updated\n{}", text(&view)))
        }
        AppCommand::RotateSecret(args) => {
            let rotated =
                admin::rotate_secret(store, pepper, any, operator, &args.client_id, super::now())
                    .await
                    .map_err(hint_list)?;
            let view = ApplicationView::new(rotated.application, Some(rotated.client_secret));
            output::print(args.json, &view, || {
                format!("the previous secret no longer works\n{}", text(&view))
            })
        }
        AppCommand::Delete(args) => {
            let app = admin::get_application(store, any, &args.client_id)
                .await
                .map_err(hint_list)?;
            if !args.yes {
                let grants = store.count_live_grants(&app.client_id).await?;
                bail!(
                    "deleting {} ({}) would revoke {grants} live authorization(s); run again with --yes to confirm",
                    app.name,
                    app.client_id
                );
            }
            let revoked =
                admin::delete_application(store, any, operator, &app.client_id, super::now())
                    .await?;
            let body =
                json!({"client_id": app.client_id, "deleted": true, "revoked_grants": revoked});
            output::print(args.json, &body, || {
                format!(
                    "deleted {} ({}); revoked {revoked} authorization(s)",
                    app.name, app.client_id
                )
            })
        }
        AppCommand::ResourceServer(args) => {
            let app = admin::get_application(store, any, &args.client_id)
                .await
                .map_err(hint_list)?;
            store
                .set_resource_server(app.client_id.clone(), args.allow, super::now())
                .await?;
            let body = json!({"client_id": app.client_id, "resource_server": args.allow});
            output::print(args.json, &body, || {
                if args.allow {
                    format!("{} may now introspect tokens", app.client_id)
                } else {
                    format!("{} may no longer introspect tokens", app.client_id)
                }
            })
        }
    }
}

/// Adds where to find client_ids to a "not found".
fn hint_list(e: admin::AdminError) -> anyhow::Error {
    match e {
        admin::AdminError::NotFound(m) => {
            anyhow::anyhow!("{m}; list the applications with `ucoauth app list`")
        }
        other => other.into(),
    }
}
