//! SQLite connections called directly (rusqlite), for the hot paths of [`super::sql`].
//!
//! The writer thread owns one such connection next to its sqlx one (see `writer`). Reads take
//! a connection from [`Readers`] and run on the caller's thread: a token check is a few
//! indexed lookups in SQLite's page cache, microseconds, cheaper than handing the query to
//! another thread and back. In WAL mode readers never wait for the writer; the one case where a
//! reader meets SQLITE_BUSY (the WAL being restarted at that instant) waits on that worker
//! thread until the restart is done, at most the 5 s busy timeout.

use std::{
    path::{Path, PathBuf},
    sync::Mutex,
    time::Duration,
};

use rusqlite::{Connection, OpenFlags};

use super::{
    sql::{Arg, Columns, PoolSql, Sql},
    Backend, StoreError,
};

/// Statements cached per connection: comfortably more than the hot paths use.
const STATEMENT_CACHE: usize = 64;

/// Opens a connection with the settings every connection of the store uses (the same as
/// `SQLITE_PRAGMAS`). The file exists and is migrated by then; WAL mode is a property of the
/// file, set by the migration connection.
pub(super) fn open(path: &Path) -> Result<Connection, StoreError> {
    configure(Connection::open_with_flags(path, FLAGS)?)
}

/// Opens the writer's connection: as [`open`], through the VFS that writes each commit's WAL
/// frames in one system call (`ucoauth_walbuf`; the writer is the one connection that
/// appends to the WAL on the hot paths).
pub(super) fn open_writer(path: &Path) -> Result<Connection, StoreError> {
    let vfs = ucoauth_walbuf::register()
        .map_err(|e| StoreError::Unavailable(format!("cannot set up the writer's VFS: {e}")))?;
    configure(Connection::open_with_flags_and_vfs(path, FLAGS, vfs)?)
}

const FLAGS: OpenFlags = OpenFlags::SQLITE_OPEN_READ_WRITE.union(OpenFlags::SQLITE_OPEN_NO_MUTEX);

fn configure(conn: Connection) -> Result<Connection, StoreError> {
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.execute_batch(concat!(
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; ",
        // Keeps the sub-journal (the pages a savepoint or a statement may have to restore) in
        // memory: on a file it cost a write() per page changed, about a tenth of a refresh.
        // It holds only the pages one job of a batch changes.
        "PRAGMA temp_store = MEMORY;"
    ))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// How often the checkpointer copies the WAL back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(20);

/// Copies committed pages from the WAL into the database file on a thread of its own, with
/// `PASSIVE` checkpoints that never block the writer or readers, so that the writer's own
/// checkpoint (after the commit that takes the WAL past its limit) finds little left to copy.
/// A passive checkpoint cannot restart a WAL that keeps growing; the writer's checkpoint does.
#[derive(Debug)]
pub(super) struct Checkpointer {
    stop: Mutex<Option<std::sync::mpsc::Sender<()>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Checkpointer {
    pub(super) fn spawn(path: &Path) -> Result<Self, StoreError> {
        let conn = open(path)?;
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("ucoauth-checkpoint".into())
            .spawn(move || loop {
                match stopped.recv_timeout(CHECKPOINT_EVERY) {
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
                // Busy or failed: the next round, or the writer's own checkpoint, catches up.
                if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)") {
                    tracing::debug!(error = %e, "background checkpoint skipped");
                }
            })
            .map_err(|e| StoreError::Unavailable(format!("cannot start the checkpointer: {e}")))?;
        Ok(Self {
            stop: Mutex::new(Some(stop)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Stops the thread and waits for it (at most one checkpoint's time).
    pub(super) fn close(&self) {
        drop(self.stop.lock().unwrap_or_else(|e| e.into_inner()).take());
        if let Some(thread) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = thread.join();
        }
    }
}

/// What a SQLite store runs beside its writer: the direct readers and the checkpointer.
#[derive(Debug)]
pub(super) struct Direct {
    pub readers: Readers,
    pub checkpointer: Checkpointer,
}

impl Direct {
    pub(super) fn close(&self) {
        self.readers.close();
        self.checkpointer.close();
    }
}

/// Reader connections, opened on demand and kept for reuse (up to `keep`).
#[derive(Debug)]
pub(super) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    keep: usize,
}

impl Readers {
    pub(super) fn new(path: PathBuf, keep: usize) -> Self {
        Self {
            path,
            idle: Mutex::new(Vec::new()),
            keep: keep.max(1),
        }
    }

    /// A connection for one read; it goes back to the pool when dropped.
    pub(super) fn get(&self) -> Result<Reader<'_>, StoreError> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => open(&self.path)?,
        };
        Ok(Reader {
            readers: self,
            conn: Some(conn),
        })
    }

    /// Closes the idle connections (the store is closing).
    pub(super) fn close(&self) {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// A borrowed reader connection.
pub(super) struct Reader<'r> {
    readers: &'r Readers,
    conn: Option<Connection>,
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            let mut idle = self.readers.idle.lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() < self.readers.keep {
                idle.push(conn);
            }
        }
    }
}

impl Reader<'_> {
    fn conn(&mut self) -> &mut Connection {
        self.conn.as_mut().expect("present until dropped")
    }
}

/// Where a hot-path read runs: a direct SQLite reader or the sqlx pool.
pub(super) enum ReadVia<'a> {
    Direct(Reader<'a>),
    Pool(PoolSql<'a>),
}

impl Sql for ReadVia<'_> {
    fn backend(&self) -> Backend {
        match self {
            Self::Direct(_) => Backend::Sqlite,
            Self::Pool(p) => p.backend(),
        }
    }

    async fn fetch_row<T, F>(
        &mut self,
        sql: &'static str,
        args: &[Arg<'_>],
        map: F,
    ) -> Result<Option<T>, StoreError>
    where
        T: Send,
        F: FnOnce(&dyn Columns) -> Result<T, StoreError> + Send,
    {
        match self {
            Self::Direct(r) => r.conn().fetch_row(sql, args, map).await,
            Self::Pool(p) => p.fetch_row(sql, args, map).await,
        }
    }

    async fn exec(&mut self, sql: &'static str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        match self {
            Self::Direct(r) => r.conn().exec(sql, args).await,
            Self::Pool(p) => p.exec(sql, args).await,
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked};
        match e.sqlite_error_code() {
            Some(DatabaseBusy | DatabaseLocked) => Self::Unavailable(e.to_string()),
            _ => Self::Sqlite(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn both_drivers_read_and_write_the_same_rows_through_the_same_sql() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.db");
        let url = format!("sqlite://{}", path.display());
        let store = super::super::Store::open(&url, Default::default())
            .await
            .unwrap();
        let mut conn = open(&path).unwrap();
        conn.execute_batch("CREATE TABLE t (a BIGINT, b TEXT, c BLOB)")
            .unwrap();
        const INSERT: &str = "INSERT INTO t (a, b, c) VALUES ($1, $2, $3)";
        const SELECT: &str = "SELECT a, b, c FROM t WHERE a = $1";
        let args = [Arg::Int(7), Arg::OptText(None), Arg::Blob(b"\x00\xff")];
        let n = Sql::exec(&mut conn, INSERT, &args).await.unwrap();
        assert_eq!(n, 1);
        let read = |row: &dyn Columns| Ok((row.int(0)?, row.opt_text(1)?, row.blob(2)?));
        let direct = conn.fetch_row(SELECT, &[Arg::Int(7)], read).await.unwrap();
        let mut pool = PoolSql {
            pool: store.pool(),
            backend: Backend::Sqlite,
        };
        let pooled = pool.fetch_row(SELECT, &[Arg::Int(7)], read).await.unwrap();
        assert_eq!(direct, Some((7, None, vec![0, 255])));
        assert_eq!(direct, pooled);
        let missing = conn.fetch_row(SELECT, &[Arg::Int(8)], read).await.unwrap();
        assert_eq!(missing, None);
        store.close().await;
    }

    #[test]
    #[should_panic(expected = "placeholders must appear in order")]
    #[cfg(debug_assertions)]
    fn placeholders_out_of_order_are_caught_in_debug_builds() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("p.db")).unwrap();
        conn.execute_batch("CREATE TABLE t (a BIGINT, b BIGINT)")
            .unwrap();
        let args = [Arg::Int(1), Arg::Int(2)];
        let run = Sql::exec(&mut conn, "INSERT INTO t (a, b) VALUES ($2, $1)", &args);
        let _ = futures_util::FutureExt::now_or_never(run);
    }
}
