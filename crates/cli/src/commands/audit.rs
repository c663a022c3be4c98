//! `ucoauth audit`: read the audit trail, newest first.

use clap::Args;
use ucoauth_server::store::audit::AuditFilter;

use super::Global;
use crate::output;

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only events of this merchant.
    #[arg(long)]
    pub merchant_id: Option<String>,
    /// Only events of this kind, e.g. grant.revoked or login.failed.
    #[arg(long)]
    pub kind: Option<String>,
    /// How many events to show.
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
    /// Skip this many of the newest events first.
    #[arg(long, default_value_t = 0)]
    pub offset: i64,
    /// Print the events as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(global: &Global, args: AuditArgs) -> anyhow::Result<()> {
    let (store, _) = super::open(global).await?;
    let filter = AuditFilter {
        merchant_id: args.merchant_id,
        kind: args.kind,
        since: None,
    };
    let events = store
        .list_audit(&filter, args.offset.max(0), args.limit.clamp(1, 10_000))
        .await;
    store.close().await;
    let events = events?;
    output::print(args.json, &events, || {
        if events.is_empty() {
            return "no audit events match".to_owned();
        }
        events
            .iter()
            .map(|e| {
                format!(
                    "{:>8}  {}  {:<26} merchant={} client={} grant={} ip={}{}",
                    e.event_id,
                    e.at,
                    e.kind,
                    e.merchant_id.as_deref().unwrap_or("-"),
                    e.client_id.as_deref().unwrap_or("-"),
                    e.grant_id.as_deref().unwrap_or("-"),
                    e.client_ip.as_deref().unwrap_or("-"),
                    e.detail
                        .as_deref()
                        .map(|d| format!(" {d}"))
                        .unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    })
}
