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
        /// Taken by `close` to wait for the task to drain the queue.
        task: std::sync::Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
    },
    /// PostgreSQL: each write gets a pooled connection and its own transaction.
    PerTransaction(AnyPool),
}

impl Writer {
    pub(super) fn spawn_batched(conn: AnyConnection, max_batch: usize) -> Self {
        let (queue, jobs) = mpsc::channel(max_batch.max(1) * 4);
        let task = tokio::spawn(run_batches(conn, jobs, max_batch.max(1)));
        Self::Batched {
            queue,
            task: std::sync::Arc::new(Mutex::new(Some(task))),
        }
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
        if let Self::Batched { task, .. } = self {
            // The queue closes when every `Writer` clone is dropped; here we only wait briefly
            // for work in flight, since the caller is shutting down.
            if let Some(handle) = task.lock().await.take() {
                handle.abort();
                let _ = handle.await;
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

async fn run_one_batch(
    conn: &mut AnyConnection,
    batch: &mut Vec<Job>,
    completions: &mut Vec<Completion>,
) -> Option<StoreError> {
    if let Err(e) = sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await {
        // Nothing ran: every job still has to be answered.
        for job in batch.drain(..) {
            completions.push(answer_without_running(job));
        }
        return Some(e.into());
    }
    for job in batch.drain(..) {
        if let Err(e) = sqlx::query("SAVEPOINT job").execute(&mut *conn).await {
            completions.push(answer_without_running(job));
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            return Some(e.into());
        }
        let (ok, completion) = job(conn).await;
        completions.push(completion);
        let end = if ok { "RELEASE job" } else { "ROLLBACK TO job" };
        let mut ended = sqlx::query(end).execute(&mut *conn).await.map(|_| ());
        if ended.is_ok() && !ok {
            ended = sqlx::query("RELEASE job")
                .execute(&mut *conn)
                .await
                .map(|_| ());
        }
        if let Err(e) = ended {
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            return Some(e.into());
        }
    }
    match sqlx::query("COMMIT").execute(&mut *conn).await {
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
