//! `ucoauth merchant ...`.

use clap::{Args, Subcommand};
use serde::Serialize;
use ucoauth_server::admin;

use super::Global;
use crate::output;

#[derive(Debug, Subcommand)]
pub enum MerchantCommand {
    /// Create a merchant account with its first user.
    #[command(
        long_about = "Create a merchant account with its first user.\n\n\
            The user signs in on the consent screen with --login and the password read from \
            standard input (the first line), which keeps it out of shell history and process \
            lists. Passwords are stored as argon2id hashes.",
        after_long_help = "EXAMPLES\n  \
            echo 'a long password' | ucoauth merchant create --merchant-id DEMO \\\n      \
            --name 'Demo Company' --login demo --password-stdin\n  \
            ucoauth merchant create --merchant-id ACME --name 'Acme' --login ops \\\n      \
            --password-stdin --json < password.txt"
    )]
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
