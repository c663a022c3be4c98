//! Background upkeep while the server runs.

use std::{sync::Arc, time::Duration};

use crate::{
    clock::Clock,
    store::{janitor::JanitorOptions, Store},
};

/// Runs a janitor pass every `every`, until the returned handle is aborted. Failures are
/// logged and retried at the next tick; the server keeps serving either way.
pub fn spawn_janitor(
    store: Store,
    clock: Arc<dyn Clock>,
    every: Duration,
    options: JanitorOptions,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            match store.janitor_pass(clock.now(), options).await {
                Ok(report) => tracing::debug!(?report, "janitor pass"),
                Err(e) => {
                    tracing::warn!(error = %e, "janitor pass failed; retrying at the next tick")
                }
            }
        }
    })
}
