//! `ucoauth merchant ...`.

use clap::{Args, Subcommand};
use serde::Serialize;
use ucoauth_server::admin;

use super::Global;
use crate::output;

#[derive(Debug, Subcommand)]
pub enum MerchantCommand {
    /// Create a merchant account with its first user.
    ///
    /// Example: echo 'a long password' | ucoauth merchant create --merchant-id DEMO
    ///          --name "Demo Company" --login demo --password-stdin
    Create(CreateArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The merchant id (1-32 letters, digits, '_' or '-'), e.g. DEMO.
    #[arg(long)]
    pub merchant_id: String,
    /// The company name shown to applications.
    #[arg(long)]
    pub name: String,
    /// The first user's login.
    #[arg(long)]
    pub login: String,
    /// Read the user's password from standard input (first line), so it stays out of shell
    /// history and process lists.
    #[arg(long, required = true)]
    pub password_stdin: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Created {
    merchant_id: String,
    name: String,
    login: String,
    user_id: String,
}

pub async fn run(global: &Global, cmd: MerchantCommand) -> anyhow::Result<()> {
    match cmd {
        MerchantCommand::Create(args) => create(global, args).await,
    }
}

async fn create(global: &Global, args: CreateArgs) -> anyhow::Result<()> {
    let password = super::read_password_stdin()?;
    let (store, _) = super::open(global).await?;
    let user = admin::create_merchant(
        &store,
        admin::NewMerchant {
            merchant_id: args.merchant_id.clone(),
            name: args.name.clone(),
            login: args.login.clone(),
            password,
        },
        super::now(),
    )
    .await?;
    store.close().await;
    let created = Created {
        merchant_id: args.merchant_id,
        name: args.name,
        login: user.login,
        user_id: user.user_id,
    };
    output::print(args.json, &created, || {
        format!(
            "created merchant {} ({}) with user {}",
            created.merchant_id, created.name, created.login
        )
    })
}
