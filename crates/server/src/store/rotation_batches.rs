//! PostgreSQL: refreshes that arrive together rotate in one statement (group commit).
//!
//! A refresh's fast path (see `one_statement`) is one statement, but on PostgreSQL most of a
//! statement's cost does not depend on its rows: the wake-ups and loopback exchange of a round
//! trip, starting the executor for five table changes, and the commit's WAL flush. So the
//! refreshes waiting at any moment go into one statement together. A few tasks take turns at
//! the queue: each takes whatever is waiting (up to [`MAX_BATCH`]), runs it, and answers each
//! refresh; while they run, the next refreshes gather for the next one. With nothing else
//! waiting, a batch is one refresh and nothing waits for company.
//!
//! Each refresh in a batch is judged alone, by the conditions of the one-refresh fast path; a
//! refresh they refuse gets no row and goes to the general path, as does every refresh of a
//! batch whose statement failed (it changed nothing: one statement is one transaction).

use std::sync::Arc;

use serde::Serialize;
use sqlx::{any::AnyRow, AnyPool, Row};
use tokio::sync::{mpsc, oneshot, Mutex};

use super::{
    grants::{parse_scopes, Issued, Refresh},
    StoreError,
};
use crate::domain::audit::AuditKind;

/// Most refreshes in one statement.
pub(crate) const MAX_BATCH: usize = 32;

/// Rotates every live refresh token of a batch: `$1` the batch as a JSON array of [`Item`]s,
/// `$2` the audit kind. Returns, for each item it rotated, the item's `k` with the grant,
/// merchant and scopes; nothing for the others.
///
/// Per item, the conditions are those under which `domain::refresh::decide` says `Rotate` and
/// the general path issues: the token is neither consumed nor retired nor expired, its grant is
/// not revoked and belongs to the item's client. The grants' rows are locked (`FOR NO KEY
/// UPDATE`, as the general path's `lock_grant_of_refresh_token`), in `grant_id` order so that
/// two batches never wait on each other crosswise, and refreshes and revocations of one grant
/// still queue; a refresh that waited re-checks its conditions on the rows the other committed
/// (READ COMMITTED re-evaluates an `UPDATE`'s conditions on the newest version), so a token
/// consumed meanwhile is left alone and the general path finds the reuse. A token presented
/// twice in one batch is updated once; the other item gets no row and the general path then
/// sees it used, as it would have one after the other. The access token takes the grant's
/// stored scopes, which the store always writes in the form `ScopeSet::to_wire` gives, as the
/// general path does; the `INSERT` into `access_tokens` fires the trigger that keeps the
/// grant's `last_used_at`.
///
/// Every table is reached by primary key whatever the statistics (see the plan test): the
/// tokens through lateral lookups (`OFFSET 0` keeps the planner from turning them into a join
/// it could plan as a scan) and `= ANY(ARRAY(...))`, the grants through `= ANY(ARRAY(...))`.
/// The grants' revocation is filtered after the lock, not in the locking scan: plans made
/// before statistics take `revoked_at IS NULL` for rare and walk every live grant through its
/// index instead (the plan test caught that); the row the lock returns is the newest version,
/// so a revocation committed while the batch waited is seen.
pub(crate) const ROTATE_LIVE_BATCH: &str = "\
WITH p AS ( \
    SELECT * FROM json_to_recordset($1::json) AS p(k int, presented text, client_id text, \
        now bigint, successor text, access text, access_expires bigint, \
        refresh_expires bigint, client_ip text) \
), f AS ( \
    SELECT p.*, decode(p.presented, 'hex') AS presented_hash, t.grant_id \
    FROM p, LATERAL (SELECT grant_id FROM refresh_tokens \
                     WHERE token_hash = decode(p.presented, 'hex') OFFSET 0) t \
), g AS ( \
    SELECT l.* FROM (SELECT DISTINCT grant_id FROM f ORDER BY grant_id) o, \
    LATERAL (SELECT grant_id, merchant_id, client_id, scopes, revoked_at FROM grants \
             WHERE grant_id = o.grant_id OFFSET 0 FOR NO KEY UPDATE) l \
), u AS ( \
    UPDATE refresh_tokens r SET consumed_at = f.now, successor_hash = decode(f.successor, 'hex') \
    FROM f JOIN g ON g.grant_id = f.grant_id AND g.client_id = f.client_id \
        AND g.revoked_at IS NULL \
    WHERE r.token_hash = ANY(ARRAY(SELECT presented_hash FROM f)) \
      AND r.token_hash = f.presented_hash \
      AND r.consumed_at IS NULL AND r.retired_at IS NULL AND r.expires_at > f.now \
    RETURNING f.k, f.now, f.successor, f.access, f.access_expires, f.refresh_expires, \
        f.client_ip, g.grant_id, g.merchant_id, g.client_id, g.scopes \
), a AS ( \
    INSERT INTO access_tokens (token_hash, grant_id, scopes, created_at, expires_at) \
    SELECT decode(access, 'hex'), grant_id, scopes, now, access_expires FROM u \
), n AS ( \
    INSERT INTO refresh_tokens (token_hash, grant_id, created_at, expires_at) \
    SELECT decode(successor, 'hex'), grant_id, now, refresh_expires FROM u \
), e AS ( \
    INSERT INTO audit_events (at, kind, merchant_id, client_id, grant_id, client_ip) \
    SELECT now, $2, merchant_id, client_id, grant_id, client_ip FROM u \
) \
SELECT k, grant_id, merchant_id, scopes FROM u";

/// One refresh of a batch, as [`ROTATE_LIVE_BATCH`] reads it (hashes in hex: JSON has no
/// bytes, and sqlx's `Any` driver binds no arrays).
#[derive(Serialize)]
struct Item<'a> {
    k: usize,
    presented: String,
    client_id: &'a str,
    now: i64,
    successor: String,
    access: String,
    access_expires: i64,
    refresh_expires: i64,
    client_ip: Option<&'a str>,
}

/// What became of one refresh of a batch: `Ok(None)` if the general path must decide.
type Outcome = Result<Option<Issued>, StoreError>;

/// A refresh waiting for its batch, and where to send what became of it.
struct Job {
    req: Refresh,
    done: oneshot::Sender<Outcome>,
}

/// The queue of refreshes for the batching tasks. Cheap to clone.
#[derive(Clone)]
pub(crate) struct RotationBatches {
    queue: mpsc::UnboundedSender<Job>,
}

impl std::fmt::Debug for RotationBatches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RotationBatches")
    }
}

impl RotationBatches {
    /// Starts `tasks` batching tasks on `pool`; they stop when the last handle is dropped.
    pub(crate) fn spawn(pool: AnyPool, tasks: usize) -> Self {
        let (queue, waiting) = mpsc::unbounded_channel();
        let waiting = Arc::new(Mutex::new(waiting));
        for _ in 0..tasks.max(1) {
            tokio::spawn(run_batches(pool.clone(), waiting.clone()));
        }
        Self { queue }
    }

    /// Rotates `req`'s token in the next batch: `Some` if it did (committed, durable), `None`
    /// if the general path must decide.
    pub(crate) async fn rotate(&self, req: Refresh) -> Outcome {
        let (done, outcome) = oneshot::channel();
        if self.queue.send(Job { req, done }).is_err() {
            return Ok(None);
        }
        outcome.await.unwrap_or(Ok(None))
    }
}

/// One batching task: take the waiting refreshes, rotate them, answer; again.
async fn run_batches(pool: AnyPool, waiting: Arc<Mutex<mpsc::UnboundedReceiver<Job>>>) {
    loop {
        let mut jobs = Vec::new();
        {
            // The lock is held while waiting for the first job, so one task at a time
            // gathers; the others are running their batches meanwhile.
            let mut waiting = waiting.lock().await;
            let Some(first) = waiting.recv().await else {
                return;
            };
            jobs.push(first);
            while jobs.len() < MAX_BATCH {
                match waiting.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
        }
        let reqs: Vec<&Refresh> = jobs.iter().map(|j| &j.req).collect();
        let outcomes = rotate_batch(&pool, &reqs).await;
        for (job, outcome) in jobs.into_iter().zip(outcomes) {
            let _ = job.done.send(outcome);
        }
    }
}

/// Runs [`ROTATE_LIVE_BATCH`] for `reqs`: what became of each, in order.
///
/// If the statement fails, it changed nothing (one statement, one transaction) and every
/// refresh goes to the general path, which either succeeds (the failure was this statement's
/// alone) or reports the database's trouble itself. Should the failure be a lost answer to a
/// statement that did commit, the general path finds each token just rotated with its
/// successor unused: the grace-window retry, answered with a fresh pair.
pub(crate) async fn rotate_batch(pool: &AnyPool, reqs: &[&Refresh]) -> Vec<Outcome> {
    let items: Vec<Item<'_>> = reqs
        .iter()
        .enumerate()
        .map(|(k, req)| Item {
            k,
            presented: hex::encode(req.refresh_hash),
            client_id: &req.client_id,
            now: req.now,
            successor: hex::encode(req.tokens.refresh_hash),
            access: hex::encode(req.tokens.access_hash),
            access_expires: req.tokens.access_expires_at,
            refresh_expires: req.tokens.refresh_expires_at,
            client_ip: req.origin.client_ip.as_deref(),
        })
        .collect();
    let mut outcomes: Vec<Outcome> = reqs.iter().map(|_| Ok(None)).collect();
    let Ok(batch) = serde_json::to_string(&items) else {
        return outcomes;
    };
    let rows = match sqlx::query(ROTATE_LIVE_BATCH)
        .bind(batch)
        .bind(AuditKind::TokenRefreshed.as_str())
        .fetch_all(pool)
        .await
    {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!(error = %e, refreshes = reqs.len(), "a batch of refreshes failed");
            return outcomes;
        }
    };
    // From here the batch is committed: a row that cannot be read must not send its refresh
    // to the general path, which would take the rotation it cannot see answered for reuse.
    let mut unreadable = false;
    for row in rows {
        let slot = row
            .try_get::<i32, _>(0)
            .ok()
            .and_then(|k| usize::try_from(k).ok())
            .and_then(|k| outcomes.get_mut(k));
        let Some(slot) = slot else {
            unreadable = true;
            continue;
        };
        *slot = issued_from_row(&row).map(Some);
    }
    if unreadable {
        for outcome in &mut outcomes {
            if matches!(outcome, Ok(None)) {
                *outcome = Err(StoreError::Inconsistent(
                    "a batch of refreshes answered a row it did not ask for".into(),
                ));
            }
        }
    }
    outcomes
}

/// The columns `k, grant_id, merchant_id, scopes` of [`ROTATE_LIVE_BATCH`]'s rows.
fn issued_from_row(row: &AnyRow) -> Result<Issued, StoreError> {
    let grant_id: String = row.try_get(1)?;
    Ok(Issued {
        merchant_id: row.try_get(2)?,
        scopes: parse_scopes(&grant_id, &row.try_get::<String, _>(3)?)?,
        grant_id,
    })
}
