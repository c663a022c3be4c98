//! `ucoauth janitor`: one cleanup pass now (the server also runs one every minute).

use clap::Args;
use ucoauth_server::store::janitor::JanitorOptions;

use super::Global;
use crate::output;

#[derive(Debug, Args)]
pub struct JanitorArgs {
    /// Rows deleted per transaction.
    #[arg(long, default_value_t = 2_000)]
    pub batch: i64,
    /// Print the counts as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(global: &Global, args: JanitorArgs) -> anyhow::Result<()> {
    let (store, _) = super::open(global).await?;
    let options = JanitorOptions {
        batch: args.batch.max(1),
        max_batches: usize::MAX,
        ..JanitorOptions::default()
    };
    let report = store.janitor_pass(super::now(), options).await;
    store.close().await;
    let report = report?;
    output::print(args.json, &report, || {
        format!(
            "removed {} codes, {} device codes, {} access tokens, {} refresh tokens, {} sessions, \
             {} revoked grants in {} batches",
            report.authorization_codes,
            report.device_codes,
            report.access_tokens,
            report.refresh_tokens,
            report.browser_sessions,
            report.grants,
            report.batches
        )
    })
}
