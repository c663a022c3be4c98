//! Fixed-window counters in the `rate_limits` table (rules in `domain::rate_limit`).
//!
//! A counter is bumped inside the same write as the operation it guards, so the count and the
//! operation commit together, and concurrent requests are serialized by the upsert's row lock
//! (PostgreSQL) or the single writer (SQLite): a burst of parallel requests cannot overshoot.

use sqlx::AnyConnection;

use super::StoreError;
use crate::{clock::Millis, domain::rate_limit::Limit};

/// One counter to bump: what is counted, for whom, and the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    pub bucket: String,
    pub limit: Limit,
}

impl Counter {
    pub fn new(kind: &str, key: &str, limit: Limit) -> Self {
        Self {
            bucket: format!("{kind}:{key}"),
            limit,
        }
    }
}

/// A refusal for going over a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooMany {
    /// When the caller may try again, for `Retry-After`.
    pub retry_after_secs: i64,
}

/// Bumps every counter; `Some` if any of them is now over its limit. Windows that have passed
/// are deleted on the way.
pub(crate) async fn hit(
    conn: &mut AnyConnection,
    counters: &[Counter],
    now: Millis,
) -> Result<Option<TooMany>, StoreError> {
    if counters.is_empty() {
        return Ok(None);
    }
    sqlx::query("DELETE FROM rate_limits WHERE expires_at <= $1")
        .bind(now)
        .execute(&mut *conn)
        .await?;
    let mut refusal: Option<TooMany> = None;
    for counter in counters {
        let window = counter.limit.window(now);
        let hits: i64 = sqlx::query_scalar(
            "INSERT INTO rate_limits (bucket, window_start, hits, expires_at) \
             VALUES ($1, $2, 1, $3) \
             ON CONFLICT (bucket, window_start) \
             DO UPDATE SET hits = rate_limits.hits + 1 \
             RETURNING hits",
        )
        .bind(&counter.bucket)
        .bind(window.start)
        .bind(window.end)
        .fetch_one(&mut *conn)
        .await?;
        if counter.limit.exceeded_by(hits) {
            let secs = counter.limit.retry_after_secs(now);
            refusal = Some(TooMany {
                retry_after_secs: refusal.map_or(secs, |r| r.retry_after_secs.max(secs)),
            });
        }
    }
    Ok(refusal)
}

/// Takes back the hits of [`hit`] for an attempt that turned out to be legitimate (a correct
/// user code), so only failures count against a person.
pub(crate) async fn refund(
    conn: &mut AnyConnection,
    counters: &[Counter],
    now: Millis,
) -> Result<(), StoreError> {
    for counter in counters {
        sqlx::query(
            "UPDATE rate_limits SET hits = hits - 1 \
             WHERE bucket = $1 AND window_start = $2 AND hits > 0",
        )
        .bind(&counter.bucket)
        .bind(counter.limit.window(now).start)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
