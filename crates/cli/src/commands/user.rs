//! `ucoauth user ...`: merchant users (who can sign in to the consent screen and back office).

use clap::{Args, Subcommand};
use serde_json::json;
use ucoauth_server::admin::{
    self, merchants,
    views::{iso8601, UserView},
    Paging, Within,
};

use super::Global;
use crate::output;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user to a merchant; the password is read from standard input.
    #[command(
        after_help = "EXAMPLES\n  echo 'a long password' | ucoauth user add --merchant-id DEMO \
        --login alice --password-stdin"
    )]
    Add(AddArgs),
    /// List a merchant's users.
    #[command(after_help = "EXAMPLES\n  ucoauth user list --merchant-id DEMO --json")]
    List(ListArgs),
    /// Remove a user and sign them out everywhere (not the merchant's last user).
    #[command(after_help = "EXAMPLES\n  ucoauth user remove alice")]
    Remove(LoginArgs),
    /// Set a user's password (read from standard input) and sign them out everywhere.
    #[command(
        after_help = "EXAMPLES\n  echo 'a new long password' | ucoauth user passwd alice --password-stdin"
    )]
    Passwd(PasswdArgs),
}

#[derive(Debug, Args)]
pub struct AddArgs {
    #[arg(long)]
    pub merchant_id: String,
    #[arg(long)]
    pub login: String,
    /// Read the password from standard input (first line), so it stays out of shell history
    /// and process lists.
    #[arg(long, required = true)]
    pub password_stdin: bool,
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
pub struct LoginArgs {
    /// The user's login.
    pub login: String,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PasswdArgs {
    /// The user's login.
    pub login: String,
    /// Read the new password from standard input (first line).
    #[arg(long, required = true)]
    pub password_stdin: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(global: &Global, cmd: UserCommand) -> anyhow::Result<()> {
    // Read the password before opening the database, so a missing one fails fast.
    let password = match &cmd {
        UserCommand::Add(_) | UserCommand::Passwd(_) => Some(super::read_password_stdin()?),
        _ => None,
    };
    let (store, _) = super::open(global).await?;
    let result = run_with(&store, cmd, password.unwrap_or_default()).await;
    store.close().await;
    result
}

async fn run_with(
    store: &ucoauth_server::store::Store,
    cmd: UserCommand,
    password: String,
) -> anyhow::Result<()> {
    let any = Within::AnyMerchant;
    let operator = &ucoauth_server::domain::audit::Actor::operator();
    match cmd {
        UserCommand::Add(args) => {
            let now = super::now();
            let user = admin::add_user(
                store,
                operator,
                &args.merchant_id,
                &args.login,
                password,
                now,
            )
            .await?;
            let view = UserView {
                created_dts: Some(iso8601(now)),
                ..UserView::from(user)
            };
            output::print(args.json, &view, || {
                format!("added user {} to merchant {}", view.login, view.merchant_id)
            })
        }
        UserCommand::List(args) => {
            let listed = admin::list_users(store, &args.merchant_id, Paging::all()).await?;
            let views: Vec<UserView> = listed.items.into_iter().map(UserView::from).collect();
            output::print(args.json, &views, || {
                if views.is_empty() {
                    return format!("merchant {} has no users", args.merchant_id);
                }
                views
                    .iter()
                    .map(|u| format!("{}  {}", u.user_id, u.login))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        UserCommand::Remove(args) => {
            let user = merchants::get_user_by_login(store, any, &args.login).await?;
            admin::remove_user(store, any, operator, &user.user_id, None, super::now()).await?;
            output::print(
                args.json,
                &json!({"login": user.login, "user_id": user.user_id, "removed": true}),
                || format!("removed user {}; their sessions ended", user.login),
            )
        }
        UserCommand::Passwd(args) => {
            let user = merchants::get_user_by_login(store, any, &args.login).await?;
            admin::change_password(
                store,
                any,
                operator,
                &user.user_id,
                password,
                None,
                super::now(),
            )
            .await?;
            output::print(
                args.json,
                &json!({"login": user.login, "user_id": user.user_id, "password_changed": true}),
                || {
                    format!(
                        "changed the password of {}; their sessions ended",
                        user.login
                    )
                },
            )
        }
    }
}
