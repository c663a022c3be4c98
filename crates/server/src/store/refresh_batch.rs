//! Refreshes on PostgreSQL, run set-based in batches.
//!
//! A refresh is eight round trips when it runs alone (`BEGIN`, the grant's lock, the read, the
//! update, two inserts, the audit row, `COMMIT`), and on a machine shared with PostgreSQL most
//! of its cost is per statement: the server's protocol work and PostgreSQL's, and the wake-ups
//! in between (docs/performance.md). So refreshes that arrive together run together, in one
//! transaction of five statements whatever their number (a lone refresh too): lock every grant
//! concerned (in `grant_id` order, so that batches on several nodes do not deadlock; if one
//! ever did, PostgreSQL would abort it and its refreshes would run alone), read every token's
//! state, judge each refresh with the same rules as a lone one (`grants::judge_refresh`), and
//! write all the rotations with one statement that takes its rows from a JSON parameter.
//!
//! Only plain rotations are written set-based. A refresh that the rules refuse is answered
//! from the state the batch read, which is a valid serial order. The rare others (a reused
//! token, a retry within the grace window, a second refresh of a grant the batch already
//! rotates) run afterwards, alone, as they would without batching; so does the whole batch if
//! its transaction fails. Nobody is answered before the batch commits.

use std::collections::{HashMap, HashSet};

use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::metrics::StoreMetrics;

use super::{
    grants::{self, Answer, Refresh, RefreshRow, RefreshVerdict},
    sql::Tx,
    StoreError,
};

/// Refreshes per batch, at most.
const MAX_BATCH: usize = 64;
/// Batches running at once. While they run, the next requests gather in the queue. Most of a
/// batch's time is waiting (five round trips and the commit's fsync), so several overlap: in
/// the benchmark at concurrency 32, 8 carried about a third more refreshes than 2.
const BATCHES_IN_FLIGHT: usize = 8;

type Reply = oneshot::Sender<Result<Answer, StoreError>>;

/// The requests' side: queues a refresh and waits for its answer.
#[derive(Clone, Debug)]
pub(super) struct RefreshBatcher {
    queue: mpsc::Sender<(Refresh, Reply)>,
}

impl RefreshBatcher {
    /// Starts the task that gathers refreshes into batches. It ends when every handle is gone.
    pub(super) fn spawn(pool: AnyPool, metrics: StoreMetrics) -> Self {
        let (queue, requests) = mpsc::channel(MAX_BATCH * BATCHES_IN_FLIGHT * 2);
        tokio::spawn(gather(pool, metrics, requests));
        Self { queue }
    }

    pub(super) async fn refresh(&self, req: Refresh) -> Result<Answer, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((req, reply))
            .await
            .map_err(|_| StoreError::Unavailable("the store is shut down".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the refresh was not run".into()))?
    }
}

async fn gather(
    pool: AnyPool,
    metrics: StoreMetrics,
    mut requests: mpsc::Receiver<(Refresh, Reply)>,
) {
    let running = std::sync::Arc::new(Semaphore::new(BATCHES_IN_FLIGHT));
    loop {
        // Wait for a free slot first: requests that arrive meanwhile join the next batch.
        let Ok(slot) = running.clone().acquire_owned().await else {
            return;
        };
        let mut batch = Vec::new();
        if requests.recv_many(&mut batch, MAX_BATCH).await == 0 {
            return;
        }
        let (pool, metrics) = (pool.clone(), metrics.clone());
        tokio::spawn(async move {
            run(&pool, &metrics, batch).await;
            drop(slot);
        });
    }
}

/// Runs one batch and answers each of its callers. A batch of one goes the same way: five
/// statements instead of eight.
async fn run(pool: &AnyPool, metrics: &StoreMetrics, batch: Vec<(Refresh, Reply)>) {
    let requests: Vec<&Refresh> = batch.iter().map(|(req, _)| req).collect();
    let alone: Vec<(Refresh, Reply)> = match together(pool, &requests).await {
        Ok(outcomes) => {
            metrics.refreshes_batched(outcomes.iter().flatten().count() as u64);
            let mut alone = Vec::new();
            for ((req, reply), outcome) in batch.into_iter().zip(outcomes) {
                match outcome {
                    Some(answer) => {
                        let _ = reply.send(Ok(answer));
                    }
                    None => alone.push((req, reply)),
                }
            }
            alone
        }
        Err(e) => {
            // Nothing of the batch was kept; each refresh gets its own chance.
            tracing::warn!(error = %e, "a batch of refreshes failed; running them one by one");
            batch
        }
    };
    for (req, reply) in alone {
        let _ = reply.send(one(pool, req).await);
    }
}

/// A refresh in a transaction of its own, as without batching.
async fn one(pool: &AnyPool, req: Refresh) -> Result<Answer, StoreError> {
    let mut tx = pool.begin().await?;
    let answer = grants::refresh(&mut Tx::Sqlx(&mut tx), req).await?;
    tx.commit().await?;
    Ok(answer)
}

/// A rotation to write: the request, the row it read, and the scopes of its new pair.
struct Rotation<'a> {
    req: &'a Refresh,
    row: &'a RefreshRow,
    /// The new access token's scopes, as stored.
    scopes: String,
}

/// Runs the batch in one transaction. Each request's answer, once committed, or `None` for
/// those that must run alone afterwards.
async fn together(
    pool: &AnyPool,
    requests: &[&Refresh],
) -> Result<Vec<Option<Answer>>, StoreError> {
    let presented = serde_json::Value::from(
        requests
            .iter()
            .map(|req| hex::encode(&req.refresh_hash[..]))
            .collect::<Vec<_>>(),
    )
    .to_string();
    let mut tx = pool.begin().await?;
    // The locks first, then the read: in READ COMMITTED each statement sees what was committed
    // before it began, so the read sees the last change of every grant it has locked.
    //
    // Both statements are written so that PostgreSQL reaches every row through its primary
    // key whatever its statistics say: in a lateral subquery that `OFFSET 0` keeps from being
    // merged into a join. Joined plainly, a table it has not analyzed yet (a new database
    // filling up) looks small enough to scan whole, and in the benchmark that made these the
    // slowest statements of the refresh. The grants are locked one by one in `grant_id`
    // order, as the nested loop over the sorted keys visits them.
    sqlx::query(
        "SELECT g.grant_id FROM ( \
             SELECT DISTINCT grant_id FROM refresh_tokens WHERE token_hash = ANY(ARRAY( \
                 SELECT decode(h, 'hex') FROM json_array_elements_text($1::json) AS h)) \
             ORDER BY grant_id) k \
         CROSS JOIN LATERAL (SELECT grant_id FROM grants WHERE grant_id = k.grant_id \
             OFFSET 0 FOR NO KEY UPDATE) g",
    )
    .bind(&presented)
    .fetch_all(&mut *tx)
    .await?;
    // The columns of `refresh_row_select`, in its order; `OFFSET 0` keeps each lateral
    // subquery a lookup by key for every token found.
    let rows = sqlx::query(
        "SELECT r.expires_at, r.consumed_at, r.retired_at, r.successor_hash, \
                s.consumed_at, s.retired_at, \
                g.client_id, g.merchant_id, g.scopes, g.revoked_at, r.grant_id, r.token_hash \
         FROM refresh_tokens r \
         CROSS JOIN LATERAL (SELECT client_id, merchant_id, scopes, revoked_at FROM grants \
             WHERE grant_id = r.grant_id OFFSET 0) g \
         LEFT JOIN LATERAL (SELECT consumed_at, retired_at FROM refresh_tokens \
             WHERE token_hash = r.successor_hash OFFSET 0) s ON true \
         WHERE r.token_hash = ANY(ARRAY( \
             SELECT decode(h, 'hex') FROM json_array_elements_text($1::json) AS h))",
    )
    .bind(&presented)
    .fetch_all(&mut *tx)
    .await?;
    let mut found: HashMap<Vec<u8>, RefreshRow> = HashMap::with_capacity(rows.len());
    for row in &rows {
        use super::sql::Columns;
        found.insert(row.blob(11)?, RefreshRow::read(row)?);
    }

    let mut outcomes: Vec<Option<Answer>> = Vec::with_capacity(requests.len());
    let mut rotations: Vec<Rotation> = Vec::new();
    let mut rotated_grants: HashSet<&str> = HashSet::new();
    for req in requests {
        let row = found.get(&req.refresh_hash[..]);
        match grants::judge_refresh(row, req) {
            RefreshVerdict::Refused(e) => outcomes.push(Some((Err(e), None))),
            RefreshVerdict::Rotate(scopes) => {
                let row = row.expect("a rotation has a row");
                if rotated_grants.insert(row.grant_id()) {
                    outcomes.push(Some(grants::issued(row, scopes.clone())));
                    rotations.push(Rotation {
                        req,
                        row,
                        scopes: scopes.to_wire(),
                    });
                } else {
                    // The state it read is about to change: it runs after this batch.
                    outcomes.push(None);
                }
            }
            RefreshVerdict::Reuse | RefreshVerdict::GraceRetry(_) => outcomes.push(None),
        }
    }
    if !rotations.is_empty() {
        write_rotations(&mut tx, &rotations).await?;
    }
    tx.commit().await?;
    Ok(outcomes)
}

/// Consumes every presented token and issues the new pairs, with their audit events, in one
/// statement. The `= ANY` on the update makes it find the tokens by key even while the table
/// has no statistics (see `together`). Under the locks every update applies; if one did not, the batch is refused
/// whole, as a lone refresh refuses itself (`grants::refresh`).
async fn write_rotations(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    rotations: &[Rotation<'_>],
) -> Result<(), StoreError> {
    let rows: Vec<serde_json::Value> = rotations
        .iter()
        .map(|r| {
            let event = grants::refreshed_event(r.row, r.req);
            serde_json::json!({
                "presented_hex": hex::encode(&r.req.refresh_hash[..]),
                "access_hex": hex::encode(&r.req.tokens.access_hash[..]),
                "refresh_hex": hex::encode(&r.req.tokens.refresh_hash[..]),
                "grant_id": r.row.grant_id(),
                "scopes": r.scopes,
                "at": r.req.now,
                "access_expires_at": r.req.tokens.access_expires_at,
                "refresh_expires_at": r.req.tokens.refresh_expires_at,
                "kind": event.kind.map_or("unknown", |k| k.as_str()),
                "merchant_id": event.merchant_id,
                "client_id": event.client_id,
                "event_grant_id": event.grant_id,
                "user_id": event.user_id,
                "client_ip": event.client_ip,
                "detail": event.detail,
            })
        })
        .collect();
    let consumed: i64 = sqlx::query_scalar(
        "WITH x AS ( \
             SELECT * FROM json_to_recordset($1::json) AS x( \
                 presented_hex TEXT, access_hex TEXT, refresh_hex TEXT, grant_id TEXT, \
                 scopes TEXT, at BIGINT, access_expires_at BIGINT, refresh_expires_at BIGINT, \
                 kind TEXT, merchant_id TEXT, client_id TEXT, event_grant_id TEXT, \
                 user_id TEXT, client_ip TEXT, detail TEXT)), \
         consumed AS ( \
             UPDATE refresh_tokens r SET consumed_at = x.at, \
                 successor_hash = decode(x.refresh_hex, 'hex') \
             FROM x WHERE r.token_hash = decode(x.presented_hex, 'hex') \
                 AND r.token_hash = ANY(ARRAY(SELECT decode(presented_hex, 'hex') FROM x)) \
                 AND r.consumed_at IS NULL AND r.retired_at IS NULL \
             RETURNING 1), \
         new_access AS ( \
             INSERT INTO access_tokens (token_hash, grant_id, scopes, created_at, expires_at) \
             SELECT decode(access_hex, 'hex'), grant_id, scopes, at, access_expires_at FROM x), \
         new_refresh AS ( \
             INSERT INTO refresh_tokens (token_hash, grant_id, created_at, expires_at) \
             SELECT decode(refresh_hex, 'hex'), grant_id, at, refresh_expires_at FROM x), \
         audit AS ( \
             INSERT INTO audit_events \
                 (at, kind, merchant_id, client_id, grant_id, user_id, client_ip, detail) \
             SELECT at, kind, merchant_id, client_id, event_grant_id, user_id, client_ip, \
                 detail FROM x) \
         SELECT count(*) FROM consumed",
    )
    .bind(serde_json::Value::from(rows).to_string())
    .fetch_one(&mut **tx)
    .await?;
    if consumed != rotations.len() as i64 {
        return Err(StoreError::Inconsistent(format!(
            "{} of {} refresh tokens changed while their grants were locked",
            rotations.len() as i64 - consumed,
            rotations.len()
        )));
    }
    Ok(())
}
