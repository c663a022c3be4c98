//! Runs writes: group commit on SQLite, one transaction per write on PostgreSQL.

use futures_util::future::BoxFuture;
use sqlx::{AnyConnection, AnyPool, Connection};
use tokio::sync::{mpsc, oneshot, Mutex};

use super::{StoreError, WriteFuture};

/// Hands the outcome to the waiting caller once the batch's fate is known.
type Completion = Box<dyn FnOnce(Option<&StoreError>) + Send>;
/// One queued write: runs against the writer connection, reports whether it succeeded.
type Job =
    Box<dyn for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, (bool, Completion)> + Send>;

#[derive(Clone, Debug)]
pub(super) enum Writer {
    /// SQLite: a single task owns the only writing connection and commits in batches.
    Batched {
        queue: mpsc::Sender<Job>,
        /// Taken by `close`: stops the writer thread and waits for it.
        stop: std::sync::Arc<Mutex<Option<Stop>>>,
    },
    /// PostgreSQL: each write gets a pooled connection and its own transaction.
    PerTransaction(AnyPool),
}

/// Asks the writer thread to stop, and hears when it has.
#[derive(Debug)]
pub(super) struct Stop {
    ask: oneshot::Sender<()>,
    done: oneshot::Receiver<()>,
}

impl Writer {
    /// Starts the writer on a thread of its own with a single-threaded runtime. Every statement
    /// is a round trip to SQLite's thread; on the server's shared runtime the writer's wake-up
    /// after each one would queue behind the HTTP tasks, and a batch is a chain of such
    /// round trips. Alone on its thread, it runs as soon as each answer arrives.
    pub(super) fn spawn_batched(conn: AnyConnection, max_batch: usize) -> std::io::Result<Self> {
        let (queue, jobs) = mpsc::channel(max_batch.max(1) * 4);
        let (ask, asked) = oneshot::channel();
        let (finished, done) = oneshot::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("ucoauth-writer".into())
            .spawn(move || {
                runtime.block_on(async move {
                    tokio::select! {
                        () = run_batches(conn, jobs, max_batch.max(1)) => {}
                        _ = asked => {}
                    }
                });
                let _ = finished.send(());
            })?;
        Ok(Self::Batched {
            queue,
            stop: std::sync::Arc::new(Mutex::new(Some(Stop { ask, done }))),
        })
    }

    pub(super) async fn run<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut AnyConnection) -> WriteFuture<'c, T> + Send + 'static,
    {
        match self {
            Self::Batched { queue, .. } => {
                let (reply, answer) = oneshot::channel();
                let job: Job = Box::new(move |conn| {
                    Box::pin(async move {
                        let result = op(conn).await;
                        let ok = result.is_ok();
                        let completion: Completion = Box::new(move |batch_error| {
                            let outcome = match batch_error {
                                Some(e) => {
                                    Err(StoreError::Unavailable(format!("commit failed: {e}")))
                                }
                                None => result,
                            };
                            let _ = reply.send(outcome);
                        });
                        (ok, completion)
                    })
                });
                queue
                    .send(job)
                    .await
                    .map_err(|_| StoreError::Unavailable("the store is shut down".into()))?;
                answer
                    .await
                    .map_err(|_| StoreError::Unavailable("the database writer stopped".into()))?
            }
            Self::PerTransaction(pool) => {
                let mut tx = pool.begin().await?;
                let value = op(&mut tx).await?;
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

/// The writer task: takes every job waiting, runs each in a savepoint, commits once.
async fn run_batches(mut conn: AnyConnection, mut jobs: mpsc::Receiver<Job>, max_batch: usize) {
    let mut batch: Vec<Job> = Vec::with_capacity(max_batch);
    let mut completions: Vec<Completion> = Vec::with_capacity(max_batch);
    while jobs.recv_many(&mut batch, max_batch).await > 0 {
        let error = run_one_batch(&mut conn, &mut batch, &mut completions).await;
        if let Some(e) = &error {
            tracing::error!(error = %e, "group commit failed; the batch was rolled back");
        }
        for completion in completions.drain(..) {
            completion(error.as_ref());
        }
    }
    let _ = conn.close().await;
}

/// Runs one batch in one transaction. Every statement here is a round trip to SQLite's thread,
/// and those round trips are most of a write's cost, so the batch spends as few as it can: a
/// lone job needs no savepoint (its failure rolls the whole transaction back), and otherwise
/// the end of one job's savepoint and the start of the next go in one round trip. Each
/// savepoint is released before the next opens: SQLite keeps the pages a savepoint may restore
/// in a sub-journal that spills to a file past 64 KiB, and it empties only when no savepoint
/// is open.
async fn run_one_batch(
    conn: &mut AnyConnection,
    batch: &mut Vec<Job>,
    completions: &mut Vec<Completion>,
) -> Option<StoreError> {
    if batch.len() == 1 {
        let job = batch.pop().expect("one job");
        if let Err(e) = sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await {
            completions.push(answer_without_running(job));
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
            completions.push(answer_without_running(job));
            // The jobs not run yet are dropped with the iterator: their callers hear that the
            // writer stopped (503), which is true, since nothing of the batch is kept.
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

/// A completion for a job that never ran because the batch could not start.
fn answer_without_running(job: Job) -> Completion {
    // The job owns the reply channel; dropping it makes the caller see "writer stopped",
    // which maps to 503. That is the honest answer: nothing was written.
    drop(job);
    Box::new(|_| {})
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::{Store, StoreOptions};
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

    /// Inserts `n`, then fails when `n` is odd: a failed job must leave nothing behind.
    async fn insert(store: &Store, n: i64) -> Result<(), StoreError> {
        store
            .write(move |conn| {
                Box::pin(async move {
                    sqlx::query("INSERT INTO scratch (n) VALUES ($1)")
                        .bind(n)
                        .execute(&mut *conn)
                        .await?;
                    if n % 2 == 1 {
                        return Err(StoreError::Inconsistent(format!("job {n} fails")));
                    }
                    Ok(())
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
        insert(&store, 4).await.unwrap();
        assert_eq!(stored(&store).await, vec![2, 4]);
        store.close().await;
    }

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
