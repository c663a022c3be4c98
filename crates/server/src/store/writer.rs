//! Runs writes: group commit on SQLite, one transaction per write on PostgreSQL.

use futures_util::future::BoxFuture;
use sqlx::{AnyConnection, AnyPool, Connection};
use tokio::sync::{mpsc, oneshot, Mutex};

use super::{
    durable::{Completion, Settled, Syncer},
    sql::Tx,
    StoreError, WriteFuture,
};

/// A write through sqlx: runs against the writer's sqlx connection, reports whether it succeeded.
type SqlxJob =
    Box<dyn for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, (bool, Completion)> + Send>;
/// A hot-path write through [`Tx`]: on SQLite it runs on the writer's direct connection. It
/// can run more than once: a batch runs its jobs without savepoints, and if one fails, the
/// batch is rolled back and run again with them (see `run_direct_batch`). Only the
/// completion of the run that is kept answers the caller.
type TxJob = Box<dyn for<'c> Fn(Tx<'c>) -> BoxFuture<'c, (bool, Completion)> + Send>;

pub(super) enum Job {
    Sqlx(SqlxJob),
    Tx(TxJob),
}

#[derive(Clone, Debug)]
pub(super) enum Writer {
    /// SQLite: a single thread owns the writing connections and commits in batches.
    Batched {
        queue: mpsc::Sender<Job>,
        /// Taken by `close`: stops the writer thread and waits for it.
        stop: std::sync::Arc<Mutex<Option<Stop>>>,
    },
    /// PostgreSQL: each write gets a pooled connection and its own transaction.
    PerTransaction(AnyPool),
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Sqlx(_) => "Job::Sqlx",
            Self::Tx(_) => "Job::Tx",
        })
    }
}

/// Asks the writer thread to stop, and hears when it has.
#[derive(Debug)]
pub(super) struct Stop {
    ask: oneshot::Sender<()>,
    done: oneshot::Receiver<()>,
}

/// The waiting caller's side of a queued job.
type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// Holds a job's reply until a completion answers it. A job that runs twice makes two
/// completions; only the one of the kept run is ever called. Dropping the job and its
/// completions drops the reply: the caller hears that nothing was written.
type ReplySlot<T> = std::sync::Arc<std::sync::Mutex<Option<Reply<T>>>>;

/// What a job reports to the batch (did it succeed?) and how its caller is answered.
fn settle<T: Send + 'static>(
    result: Result<T, StoreError>,
    reply: ReplySlot<T>,
) -> (bool, Completion) {
    let ok = result.is_ok();
    let completion: Completion = Box::new(move |batch_error| {
        let outcome = match batch_error {
            Some(e) => Err(StoreError::Unavailable(format!("commit failed: {e}"))),
            None => result,
        };
        if let Some(reply) = reply.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = reply.send(outcome);
        }
    });
    (ok, completion)
}

impl Writer {
    /// Starts the writer on a thread of its own with a single-threaded runtime. It owns two
    /// connections to the file: sqlx's, for the writes written with sqlx, and a direct one for
    /// the hot paths (`Tx`), whose statements run right here instead of on sqlx's connection
    /// thread. They take turns, so they never wait for each other's lock.
    pub(super) fn spawn_batched(
        conn: AnyConnection,
        direct: rusqlite::Connection,
        syncer: Syncer,
        max_batch: usize,
    ) -> std::io::Result<Self> {
        let (queue, jobs) = mpsc::channel(max_batch.max(1) * 4);
        let (ask, asked) = oneshot::channel();
        let (finished, done) = oneshot::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("ucoauth-writer".into())
            .spawn(move || {
                runtime.block_on(async {
                    tokio::select! {
                        () = run_batches(conn, direct, &syncer, jobs, max_batch.max(1)) => {}
                        _ = asked => {}
                    }
                });
                // Batches already committed are answered once synced, before `close` returns.
                let _ = syncer.finish();
                let _ = finished.send(());
            })?;
        Ok(Self::Batched {
            queue,
            stop: std::sync::Arc::new(Mutex::new(Some(Stop { ask, done }))),
        })
    }

    /// Runs a write given sqlx's connection.
    pub(super) async fn run<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut AnyConnection) -> WriteFuture<'c, T> + Send + 'static,
    {
        match self {
            Self::Batched { queue, .. } => {
                submit(queue, |reply| {
                    Job::Sqlx(Box::new(move |conn| {
                        Box::pin(async move { settle(op(conn).await, reply) })
                    }))
                })
                .await
            }
            Self::PerTransaction(pool) => {
                let mut tx = pool.begin().await?;
                let value = op(&mut tx).await?;
                tx.commit().await?;
                Ok(value)
            }
        }
    }

    /// Runs a write given a [`Tx`]: the direct connection on SQLite, sqlx's on PostgreSQL.
    /// `op` may be called more than once (see [`TxJob`]); each call starts afresh.
    pub(super) async fn run_tx<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> Fn(Tx<'c>) -> WriteFuture<'c, T> + Send + 'static,
    {
        match self {
            Self::Batched { queue, .. } => {
                submit(queue, |reply| {
                    Job::Tx(Box::new(move |tx| {
                        let (run, reply) = (op(tx), reply.clone());
                        Box::pin(async move { settle(run.await, reply) })
                    }))
                })
                .await
            }
            Self::PerTransaction(pool) => {
                let mut tx = pool.begin().await?;
                let value = op(Tx::Sqlx(&mut tx)).await?;
                tx.commit().await?;
                Ok(value)
            }
        }
    }

    pub(super) async fn close(&self) {
        if let Self::Batched { stop, .. } = self {
            // The queue closes only when every `Writer` clone is dropped, so the thread is told
            // to stop. A batch cut short is rolled back and its callers get 503: not written.
            if let Some(Stop { ask, done }) = stop.lock().await.take() {
                let _ = ask.send(());
                let _ = done.await;
            }
        }
    }
}

/// Queues the job `make` builds around the reply channel, and waits for the answer.
async fn submit<T>(
    queue: &mpsc::Sender<Job>,
    make: impl FnOnce(ReplySlot<T>) -> Job,
) -> Result<T, StoreError> {
    let (reply, answer) = oneshot::channel();
    queue
        .send(make(std::sync::Arc::new(std::sync::Mutex::new(Some(
            reply,
        )))))
        .await
        .map_err(|_| StoreError::Unavailable("the store is shut down".into()))?;
    answer
        .await
        .map_err(|_| StoreError::Unavailable("the database writer stopped".into()))?
}

/// The writer: takes every job waiting and commits them in at most two transactions, one per
/// connection. Every job of a batch was waiting at the same time and none has been answered,
/// so running the direct ones first is as valid a serial order as any.
async fn run_batches(
    mut conn: AnyConnection,
    mut direct: rusqlite::Connection,
    syncer: &Syncer,
    mut jobs: mpsc::Receiver<Job>,
    max_batch: usize,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(max_batch);
    let mut sqlx_jobs: Vec<SqlxJob> = Vec::new();
    let mut tx_jobs: Vec<TxJob> = Vec::new();
    let mut completions: Vec<Completion> = Vec::with_capacity(max_batch);
    while jobs.recv_many(&mut batch, max_batch).await > 0 {
        for job in batch.drain(..) {
            match job {
                Job::Sqlx(job) => sqlx_jobs.push(job),
                Job::Tx(job) => tx_jobs.push(job),
            }
        }
        // The direct connection commits without an fsync (see `durable`): its answers wait
        // for the syncer. The sqlx connection's commit syncs by itself, but its answers take
        // the same queue so that callers hear of batches in the order they committed.
        if !tx_jobs.is_empty() {
            let error = run_direct_batch(&mut direct, &mut tx_jobs, &mut completions).await;
            hand_over(syncer, error.is_none(), error, &mut completions);
        }
        if !sqlx_jobs.is_empty() {
            let error = run_one_batch(&mut conn, &mut sqlx_jobs, &mut completions).await;
            hand_over(syncer, false, error, &mut completions);
        }
    }
    let _ = conn.close().await;
}

/// Answers the callers of a batch once its commit (or rollback) is known.
/// Passes a finished batch's answers to the syncer, which gives them out once durable.
fn hand_over(
    syncer: &Syncer,
    needs_sync: bool,
    error: Option<StoreError>,
    completions: &mut Vec<Completion>,
) {
    if let Some(e) = &error {
        tracing::error!(error = %e, "group commit failed; the batch was rolled back");
    }
    syncer.send(Settled {
        needs_sync,
        error,
        completions: std::mem::take(completions),
    });
}

/// Runs one batch of hot-path jobs in one transaction on the direct connection.
///
/// First without savepoints: a savepoint makes SQLite copy every page a job changes into its
/// sub-journal, which was 2.8 % of the server's samples during refresh (docs/performance.md).
/// Jobs almost never fail (a refused request is an answer, not a failure), so when one does,
/// the whole transaction is rolled back and the batch runs again in the careful way: each job
/// inside a savepoint of its own, so the failed one leaves nothing behind and the others are
/// kept. Nothing has been answered by then, and every job starts afresh, so the second run is
/// as valid a serial order as the first would have been.
async fn run_direct_batch(
    conn: &mut rusqlite::Connection,
    batch: &mut Vec<TxJob>,
    completions: &mut Vec<Completion>,
) -> Option<StoreError> {
    if batch.len() > 1 {
        match run_unguarded(conn, batch, completions).await {
            Ok(true) => {
                batch.clear();
                return None;
            }
            Ok(false) => completions.clear(),
            Err(e) => {
                // Dropping the jobs drops their replies: their callers hear that nothing was
                // written (503). Completions already made answer with the batch's error.
                batch.clear();
                return Some(e);
            }
        }
    }
    run_guarded(conn, batch, completions).await
}

/// Runs every job of the batch in one transaction, no savepoints. `Ok(true)`: committed.
/// `Ok(false)`: a job failed, and everything was rolled back. `Err`: the transaction itself
/// failed (begin or commit), and nothing of the batch is kept.
async fn run_unguarded(
    conn: &mut rusqlite::Connection,
    batch: &[TxJob],
    completions: &mut Vec<Completion>,
) -> Result<bool, StoreError> {
    step(conn, "BEGIN IMMEDIATE")?;
    for job in batch {
        let (ok, completion) = job(Tx::Direct(conn)).await;
        if !ok {
            if !conn.is_autocommit() {
                step(conn, "ROLLBACK")?;
            }
            return Ok(false);
        }
        completions.push(completion);
    }
    step(conn, "COMMIT").map_err(|e| abandon(conn, e))?;
    Ok(true)
}

/// Runs the batch with each job of several inside a savepoint, released before the next
/// opens: SQLite keeps the pages an open savepoint may restore in a sub-journal that spills to
/// a file past 64 KiB. A lone job needs no savepoint: its failure rolls the whole transaction
/// back.
async fn run_guarded(
    conn: &mut rusqlite::Connection,
    batch: &mut Vec<TxJob>,
    completions: &mut Vec<Completion>,
) -> Option<StoreError> {
    let lone = batch.len() == 1;
    if let Err(e) = step(conn, "BEGIN IMMEDIATE") {
        // Dropping the jobs drops their reply channels: the callers hear that nothing was
        // written (503).
        batch.clear();
        return Some(e);
    }
    let mut last_ok = true;
    let mut jobs = batch.drain(..);
    for job in jobs.by_ref() {
        if !lone {
            if let Err(e) = step(conn, "SAVEPOINT job") {
                return Some(abandon(conn, e));
            }
        }
        let (ok, completion) = job(Tx::Direct(conn)).await;
        completions.push(completion);
        last_ok = ok;
        if lone {
            break;
        }
        let end = if ok {
            step(conn, "RELEASE job")
        } else {
            step(conn, "ROLLBACK TO job").and_then(|()| step(conn, "RELEASE job"))
        };
        if let Err(e) = end {
            return Some(abandon(conn, e));
        }
    }
    drop(jobs);
    if lone && !last_ok {
        // The job's own error is its answer; nothing of it is kept.
        return step(conn, "ROLLBACK").err();
    }
    match step(conn, "COMMIT") {
        Ok(()) => None,
        Err(e) => Some(abandon(conn, e)),
    }
}

/// Runs one transaction-control statement on the direct connection (cached: parsed once).
fn step(conn: &rusqlite::Connection, sql: &str) -> Result<(), StoreError> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// Rolls the whole batch back after `e`; nothing of it is kept.
fn abandon(conn: &rusqlite::Connection, e: StoreError) -> StoreError {
    if !conn.is_autocommit() {
        let _ = step(conn, "ROLLBACK");
    }
    e
}

/// Runs one batch of sqlx jobs in one transaction. Every statement here is a round trip to
/// SQLite's thread, so the batch spends as few as it can: a lone job needs no savepoint (its
/// failure rolls the whole transaction back), and otherwise the end of one job's savepoint and
/// the start of the next go in one round trip. Each savepoint is released before the next
/// opens (see `run_direct_batch`).
async fn run_one_batch(
    conn: &mut AnyConnection,
    batch: &mut Vec<SqlxJob>,
    completions: &mut Vec<Completion>,
) -> Option<StoreError> {
    if batch.len() == 1 {
        let job = batch.pop().expect("one job");
        if let Err(e) = sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await {
            // Dropping the job drops its reply channel: its caller hears nothing was written.
            drop(job);
            return Some(e.into());
        }
        let (ok, completion) = job(conn).await;
        completions.push(completion);
        if !ok {
            // The job's own error is its answer; nothing of it is kept.
            return sqlx::query("ROLLBACK")
                .execute(&mut *conn)
                .await
                .err()
                .map(Into::into);
        }
        return finish(conn, "COMMIT").await;
    }
    let mut previous_ok = None;
    for job in batch.drain(..) {
        let between = match previous_ok {
            None => "BEGIN IMMEDIATE; SAVEPOINT job",
            Some(true) => "RELEASE job; SAVEPOINT job",
            Some(false) => "ROLLBACK TO job; RELEASE job; SAVEPOINT job",
        };
        if let Err(e) = sqlx::raw_sql(between).execute(&mut *conn).await {
            // This job and the ones not run yet are dropped: their callers hear that the
            // writer stopped (503), which is true, since nothing of the batch is kept.
            drop(job);
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            return Some(e.into());
        }
        let (ok, completion) = job(conn).await;
        completions.push(completion);
        previous_ok = Some(ok);
    }
    match previous_ok {
        Some(false) => finish(conn, "ROLLBACK TO job; RELEASE job; COMMIT").await,
        _ => finish(conn, "RELEASE job; COMMIT").await,
    }
}

/// Ends the transaction with `sql`; if that fails, nothing of the batch is kept.
async fn finish(conn: &mut AnyConnection, sql: &'static str) -> Option<StoreError> {
    match sqlx::raw_sql(sql).execute(&mut *conn).await {
        Ok(_) => None,
        Err(e) => {
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            Some(e.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::{
        sql::{Arg, Sql},
        Store, StoreOptions,
    };
    use super::*;

    async fn scratch_store(dir: &tempfile::TempDir) -> Store {
        let url = format!("sqlite://{}", dir.path().join("w.db").display());
        let store = Store::open(&url, StoreOptions::default()).await.unwrap();
        store
            .write(|conn| {
                Box::pin(async move {
                    sqlx::query("CREATE TABLE scratch (n INTEGER NOT NULL)")
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            })
            .await
            .unwrap();
        store
    }

    /// Inserts `n`, then fails when `n` is odd: a failed job must leave nothing behind. Jobs
    /// with `n % 4 >= 2` run on the direct connection (`write_tx`), the others through sqlx,
    /// so batches mix both kinds.
    async fn insert(store: &Store, n: i64) -> Result<(), StoreError> {
        let outcome = move || {
            if n % 2 == 1 {
                Err(StoreError::Inconsistent(format!("job {n} fails")))
            } else {
                Ok(())
            }
        };
        if n % 4 >= 2 {
            return store
                .write_tx(move |mut tx| {
                    Box::pin(async move {
                        tx.exec("INSERT INTO scratch (n) VALUES ($1)", &[Arg::Int(n)])
                            .await?;
                        outcome()
                    })
                })
                .await;
        }
        store
            .write(move |conn| {
                Box::pin(async move {
                    sqlx::query("INSERT INTO scratch (n) VALUES ($1)")
                        .bind(n)
                        .execute(&mut *conn)
                        .await?;
                    outcome()
                })
            })
            .await
    }

    async fn stored(store: &Store) -> Vec<i64> {
        sqlx::query_scalar("SELECT n FROM scratch ORDER BY n")
            .fetch_all(store.pool())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_lone_failed_write_is_rolled_back_and_answered_with_its_own_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = scratch_store(&dir).await;
        insert(&store, 2).await.unwrap();
        let e = insert(&store, 3).await.unwrap_err();
        assert!(matches!(e, StoreError::Inconsistent(m) if m == "job 3 fails"));
        let e = insert(&store, 1).await.unwrap_err();
        assert!(matches!(e, StoreError::Inconsistent(m) if m == "job 1 fails"));
        insert(&store, 4).await.unwrap();
        assert_eq!(stored(&store).await, vec![2, 4]);
        store.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batches_without_a_failure_run_each_job_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(scratch_store(&dir).await);
        let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let tasks: Vec<_> = (0..200)
            .map(|n| {
                let (store, runs) = (store.clone(), runs.clone());
                tokio::spawn(async move {
                    store
                        .write_tx(move |mut tx| {
                            runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            Box::pin(async move {
                                tx.exec("INSERT INTO scratch (n) VALUES ($1)", &[Arg::Int(n)])
                                    .await?;
                                Ok(())
                            })
                        })
                        .await
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 200);
        assert_eq!(stored(&store).await, (0..200).collect::<Vec<i64>>());
        store.close().await;
    }

    /// A failing job sends its batch back to run with savepoints: the others are committed
    /// once each (a duplicate would show in `stored`), and the failed one leaves nothing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failed_writes_in_a_batch_leave_the_others_committed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(scratch_store(&dir).await);
        // 200 concurrent writes land in a few large batches; half of them fail.
        let tasks: Vec<_> = (0..200)
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move { (n, insert(&store, n).await) })
            })
            .collect();
        for task in tasks {
            let (n, result) = task.await.unwrap();
            assert_eq!(result.is_ok(), n % 2 == 0, "job {n}: {result:?}");
        }
        let even: Vec<i64> = (0..200).filter(|n| n % 2 == 0).collect();
        assert_eq!(stored(&store).await, even);
        store.close().await;
    }
}
