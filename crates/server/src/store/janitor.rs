//! The janitor: removes what can never be used again, in bounded batches.
//!
//! What goes, and why it is safe:
//! - codes, access tokens, refresh tokens and sessions whose `expires_at` passed more than
//!   `margin_ms` ago: an expired credential is refused whether or not its row exists. Consumed
//!   refresh tokens of live grants stay until they expire, so presenting a rotated-out token
//!   is still detected as reuse (and revokes the grant) for as long as it could have worked.
//! - device codes likewise, once expired: a late poll gets `expired_token` either way.
//! - grants revoked more than `revoked_retention_ms` ago, with the codes and device codes still
//!   attached. Their access and refresh tokens are not looked up by grant (the token tables
//!   have no index by grant, see the `token_tables_unindexed_by_grant` migration): every token
//!   lookup joins its grant, so they are refused from the revocation on, and they go when they
//!   expire like every other token.
//!
//! Each batch is one short write (a few thousand rows at most), so the writer is never held
//! long and a pass over a huge backlog interleaves with live traffic.

use super::{Store, StoreError};
use crate::clock::Millis;

/// How the janitor trims.
#[derive(Debug, Clone, Copy)]
pub struct JanitorOptions {
    /// Rows deleted per write.
    pub batch: i64,
    /// Expired rows are kept this long past expiry.
    pub margin_ms: Millis,
    /// Revoked grants are kept this long (for the merchant's view and investigations).
    pub revoked_retention_ms: Millis,
    /// Most batches in one pass; the rest waits for the next pass.
    pub max_batches: usize,
}

impl Default for JanitorOptions {
    fn default() -> Self {
        Self {
            batch: 2_000,
            margin_ms: 3_600_000,
            revoked_retention_ms: 7 * 24 * 3_600_000,
            max_batches: 1_000,
        }
    }
}

/// What one pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct JanitorReport {
    pub authorization_codes: u64,
    pub device_codes: u64,
    pub access_tokens: u64,
    pub refresh_tokens: u64,
    pub browser_sessions: u64,
    pub grants: u64,
    /// Writes (transactions) the pass used.
    pub batches: u64,
}

impl Store {
    /// One janitor pass at time `now`.
    pub async fn janitor_pass(
        &self,
        now: Millis,
        options: JanitorOptions,
    ) -> Result<JanitorReport, StoreError> {
        // It deletes only expired or long-revoked rows, which no kept lookup can stand for;
        // forgetting the lookups anyway costs one re-read each, once a pass.
        let _deleted = self.access.forget_all_when_done();
        let mut report = JanitorReport::default();
        let mut budget = options.max_batches;
        // `(table, key column, where the count goes)`.
        let expired = [
            (
                "authorization_codes",
                "code_hash",
                &mut report.authorization_codes,
            ),
            ("device_codes", "device_code_hash", &mut report.device_codes),
            ("access_tokens", "token_hash", &mut report.access_tokens),
            ("refresh_tokens", "token_hash", &mut report.refresh_tokens),
            (
                "browser_sessions",
                "session_hash",
                &mut report.browser_sessions,
            ),
        ];
        for (table, key, removed) in expired {
            let sql = format!(
                "DELETE FROM {table} WHERE {key} IN \
                 (SELECT {key} FROM {table} WHERE expires_at < $1 LIMIT $2)"
            );
            *removed += self
                .delete_in_batches(
                    &sql,
                    now - options.margin_ms,
                    options.batch,
                    &mut budget,
                    &mut report.batches,
                )
                .await?;
        }
        // Old revoked grants: first the rows whose foreign keys still point at them, then the
        // grants.
        let cutoff = now - options.revoked_retention_ms;
        let old_grants = "SELECT grant_id FROM grants WHERE revoked_at < $1";
        let attached = [
            (
                "authorization_codes",
                "code_hash",
                &mut report.authorization_codes,
            ),
            ("device_codes", "device_code_hash", &mut report.device_codes),
        ];
        for (table, key, removed) in attached {
            let sql = format!(
                "DELETE FROM {table} WHERE {key} IN \
                 (SELECT {key} FROM {table} WHERE grant_id IN ({old_grants}) LIMIT $2)"
            );
            *removed += self
                .delete_in_batches(
                    &sql,
                    cutoff,
                    options.batch,
                    &mut budget,
                    &mut report.batches,
                )
                .await?;
        }
        let sql = "DELETE FROM grants WHERE grant_id IN \
                   (SELECT grant_id FROM grants WHERE revoked_at < $1 LIMIT $2)";
        report.grants = self
            .delete_in_batches(sql, cutoff, options.batch, &mut budget, &mut report.batches)
            .await?;
        Ok(report)
    }

    async fn delete_in_batches(
        &self,
        sql: &str,
        cutoff: Millis,
        batch: i64,
        budget: &mut usize,
        batches: &mut u64,
    ) -> Result<u64, StoreError> {
        let mut total = 0;
        while *budget > 0 {
            *budget -= 1;
            *batches += 1;
            let sql = sql.to_owned();
            let removed = self
                .write(move |conn| {
                    Box::pin(async move {
                        let done = sqlx::query(&sql)
                            .bind(cutoff)
                            .bind(batch)
                            .execute(conn)
                            .await?;
                        Ok(done.rows_affected())
                    })
                })
                .await?;
            total += removed;
            if removed < u64::try_from(batch).unwrap_or(u64::MAX) {
                break;
            }
        }
        Ok(total)
    }
}
