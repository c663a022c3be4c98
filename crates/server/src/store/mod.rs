//! Storage: SQLite (embedded default) and PostgreSQL behind one [`Store`]. Queries are written
//! once, with `$1`-style placeholders, and run by `sqlx`'s `Any` driver; the hot paths (token
//! checks, client lookup, code redemption, refresh, revocation) are written against the small
//! `sql::Sql` trait instead, which on SQLite calls SQLite directly (see `sql` and `direct`).
//!
//! # Durability and group commit
//! Every write that hands out or changes a credential is durable before the caller sees `Ok`
//! (product.md §7). On SQLite each commit must reach the WAL file on disk (an fsync); to stay
//! fast, all writes go through one writer thread that runs every waiting write in one
//! transaction (each inside its own savepoint) and commits the batch once: group commit (two
//! transactions when a batch mixes direct and sqlx writes, one per connection). The fsync of the
//! hot-path batches runs on a thread of its own, which answers their callers once it is done,
//! while the writer goes on with the next batch (see `durable`). On
//! PostgreSQL each write is its own READ COMMITTED transaction from the pool, with
//! `synchronous_commit = on` set by the store itself; the hot ones (refreshes and code
//! exchanges that will succeed) and the access-token lookups run many to a statement, as the
//! requests that arrive together (see `one_statement` and `grant_batches`). Many nodes may
//! share one PostgreSQL: every race between them is decided inside the database (see
//! `grants`).
//!
//! # Outages
//! Errors that mean "the database cannot answer right now" (connection lost or refused, pool
//! timeout, server shutting down or starting, statement timeout, serialization failure, SQLite
//! busy) become [`StoreError::Unavailable`], which the HTTP layer answers with 503 and
//! `Retry-After`. The pool reconnects by itself when the database is back.
//!
//! # Adding a query
//! Put it in the module of its aggregate (`merchants`, `applications`, `grants`, `devices`,
//! `keys`, `sessions`, `rate_limits`), write it with `$1`-style placeholders (both engines
//! accept them), use only `TEXT`, `BIGINT` and blob columns (the `Any` driver's common ground),
//! and keep time as epoch milliseconds.
//! Reads take `&AnyPool`; writes take `&mut AnyConnection` and are run through [`Store::write`].
//! A query on a hot path uses `sql::Sql` (`Store::read_via` for reads, `Store::write_tx`
//! for writes), keeps its placeholders in order, and is a `&'static str` so that the direct
//! driver's statement cache keeps it prepared.

pub mod applications;
pub mod audit;
pub mod credentials;
pub mod devices;
mod direct;
mod durable;
mod grant_batches;
pub mod grants;
pub mod janitor;
pub mod keys;
pub mod merchants;
mod one_statement;
pub mod rate_limits;
mod recent;
pub mod resource;
pub mod sessions;
pub(crate) mod sql;
mod writer;

use std::{
    str::FromStr,
    time::{Duration, Instant},
};

use futures_util::future::BoxFuture;
use sqlx::{
    any::{AnyConnectOptions, AnyPoolOptions},
    AnyConnection, AnyPool, ConnectOptions, Connection,
};

use crate::{
    domain::{
        model::{AccessGrant, Application},
        secret::Digest,
    },
    metrics::{PoolUsage, StoreMetrics},
};

/// Which database engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The engine named by a database URL's scheme.
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Self::Postgres)
        } else {
            Err(StoreError::Config(format!(
                "unsupported database URL {:?}: use sqlite://FILE or postgres://USER@HOST/DB",
                redact_url(url)
            )))
        }
    }
}

/// Failures of the storage layer. "Not found" is never an error: lookups return `Ok(None)`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database configuration: {0}")]
    Config(String),
    /// The database cannot be reached right now; worth retrying later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A uniqueness rule was broken; the string names what already exists.
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// A row the database holds cannot be turned into a domain value.
    #[error("inconsistent data in the database: {0}")]
    Inconsistent(String),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// A database error that failed a batch of requests (see `grant_batches`), given to each
    /// of them as its text.
    #[error("database error: {0}")]
    BatchFailed(String),
    /// An error of a SQLite connection called directly (see `direct`).
    #[error("database error: {0}")]
    Sqlite(#[source] rusqlite::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if is_transient(&e) {
            Self::Unavailable(e.to_string())
        } else {
            Self::Database(e)
        }
    }
}

/// Test support: the plan PostgreSQL keeps for `sql` prepared as `name` on `conn`, executed
/// with `args` (SQL literals); under `plan_cache_mode = force_generic_plan`, the generic one.
#[cfg(test)]
pub(crate) async fn generic_plan(
    conn: &mut AnyConnection,
    name: &str,
    sql: &str,
    args: &str,
) -> String {
    use sqlx::Row;
    sqlx::query(&format!("PREPARE {name} AS {sql}"))
        .execute(&mut *conn)
        .await
        .unwrap();
    let rows = sqlx::query(&format!("EXPLAIN EXECUTE {name}({args})"))
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    let lines: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    lines.join("\n")
}

/// Whether `e` says "the database cannot serve this right now" rather than "this request is
/// wrong": the caller answers 503 with `Retry-After` instead of 500.
fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let code = db.code();
            let code = code.as_deref().unwrap_or("");
            if db
                .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                .is_some()
            {
                transient_sqlstate(code)
            } else if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                transient_sqlite_code(code)
            } else {
                false
            }
        }
        _ => false,
    }
}

/// PostgreSQL SQLSTATEs that mean "retry later": connection exceptions (class 08), operator
/// intervention such as a server shutting down or starting up and statement timeouts (class
/// 57), insufficient resources such as too many connections (class 53), serialization failures
/// and deadlocks (40001, 40P01), lock timeouts (55P03), and writes sent to a read-only standby
/// after a failover (25006).
fn transient_sqlstate(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("57")
        || code.starts_with("53")
        || matches!(code, "40001" | "40P01" | "55P03" | "25006")
}

/// SQLite result codes that mean "retry later": BUSY and LOCKED, in their primary or extended
/// forms (the primary code is the low byte of an extended one), i.e. the busy timeout ran out.
fn transient_sqlite_code(code: &str) -> bool {
    code.parse::<u32>().is_ok_and(|n| matches!(n & 0xff, 5 | 6))
}

impl StoreError {
    /// Maps a unique-constraint violation to [`StoreError::Conflict`] naming `what`.
    pub(crate) fn on_unique(e: sqlx::Error, what: &'static str) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Conflict(what),
            _ => e.into(),
        }
    }
}

/// A future that runs a write against a connection inside the store's transaction.
pub type WriteFuture<'c, T> = BoxFuture<'c, Result<T, StoreError>>;

/// Settings for opening a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Most connections this process opens: for reads, and on PostgreSQL for writes too. With
    /// N nodes on one PostgreSQL, N × this must stay below the server's `max_connections`.
    pub max_connections: u32,
    /// How long a request waits for a connection (including reconnecting to a database that
    /// went away) before it is answered 503 "unavailable".
    pub acquire_timeout: Duration,
    /// PostgreSQL: the longest one statement may run, lock waits included, before the server
    /// cancels it (`statement_timeout`; the request is answered 503). `None`: the server's
    /// setting. SQLite has no statement timeout; its writer waits for locks up to 5 s.
    pub statement_timeout: Option<Duration>,
    /// Most writes committed together in one SQLite transaction.
    pub max_batch: usize,
    /// How long a valid access token's lookup is served from memory. Revoking it through this
    /// process takes effect at once; through another node or process, within this bound.
    /// Zero: every check reads the database.
    pub access_cache_ttl: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Some(Duration::from_secs(5)),
            max_batch: 256,
            access_cache_ttl: ACCESS_CACHE_TTL,
        }
    }
}

/// How long an application read is served from memory (changes made elsewhere show within it).
const APP_CACHE_TTL: Duration = Duration::from_secs(1);
/// Most applications kept.
const APP_CACHE_CAPACITY: usize = 4096;
/// The default of [`StoreOptions::access_cache_ttl`].
const ACCESS_CACHE_TTL: Duration = Duration::from_secs(1);
/// Most access-token lookups kept (about 1 KiB each with the map's overhead: 8 MiB at most).
const ACCESS_CACHE_CAPACITY: usize = 8192;

/// The database behind the server. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
    pool: AnyPool,
    /// SQLite: connections for direct reads on the hot paths (see `direct`).
    sqlite: Option<std::sync::Arc<direct::Direct>>,
    writer: writer::Writer,
    /// Counts protocol events after they commit, and times store operations.
    metrics: StoreMetrics,
    /// Applications recently read, by client_id (see `recent`).
    apps: std::sync::Arc<recent::Recent<String, Application>>,
    /// Access-token lookups recently made, by the token's digest (see `recent`).
    access: std::sync::Arc<recent::Recent<Digest, AccessGrant>>,
    /// PostgreSQL: refreshes, code redemptions and access-token lookups that run together
    /// (see `grant_batches`).
    batches: Option<GrantBatches>,
}

/// PostgreSQL: the queues of the batched fast paths (see `grant_batches`).
#[derive(Clone, Debug)]
struct GrantBatches {
    refreshes: grant_batches::Batches<grants::Refresh>,
    redemptions: grant_batches::Batches<grants::CodeRedemption>,
    lookups: grant_batches::Batches<grant_batches::AccessLookup>,
    revocations: grant_batches::Batches<grants::TokenRevocation>,
}

const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = FULL; \
     PRAGMA foreign_keys = ON; \
     PRAGMA busy_timeout = 5000;";

/// WAL pages after which a commit of the writer copies the WAL back into the database file
/// (SQLite's default is 1 000). Pages written by many batches between two checkpoints (the
/// ends of the append-only tables and indexes, the grants rows) are copied once per
/// checkpoint, so a larger WAL costs fewer writes per request: about 12 % less server CPU per
/// refresh than the default, measured with `ucoauth-bench`. The WAL file grows to about
/// 32 MiB between checkpoints.
const WAL_CHECKPOINT_PAGES: u32 = 8_000;

/// Session settings for every PostgreSQL connection of the pool (plus `statement_timeout` from
/// [`StoreOptions`]). `synchronous_commit = on` is set here rather than trusted from the
/// server's configuration: a 200 means the change is on disk (product.md §7), whatever the
/// database's default. The isolation level is pinned for the same reason: the race handling in
/// `grants` is written for READ COMMITTED (conditional updates decide, losers re-read).
const POSTGRES_SETTINGS: [&str; 3] = [
    "SET synchronous_commit = on",
    "SET default_transaction_isolation = 'read committed'",
    "SET application_name = 'ucoauth'",
];

impl Store {
    /// Opens (creating a SQLite file if needed) and migrates the database at `url`.
    pub async fn open(url: &str, options: StoreOptions) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let connect = AnyConnectOptions::from_str(&with_create_mode(url, backend))
            .map_err(|e| StoreError::Config(e.to_string()))?
            .disable_statement_logging();
        let mut pool_options = AnyPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout);
        pool_options = match backend {
            // A SQLite connection is a local file and does not go stale, so the pool need not
            // ping it before every use (a ping is one more round trip to its thread).
            Backend::Sqlite => {
                pool_options
                    .test_before_acquire(false)
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            sqlx::query(SQLITE_PRAGMAS).execute(&mut *conn).await?;
                            Ok(())
                        })
                    })
            }
            Backend::Postgres => {
                // "0" is PostgreSQL's "no timeout".
                let timeout_ms = options
                    .statement_timeout
                    .map_or(0, |t| t.as_millis().clamp(1, i32::MAX as u128))
                    .to_string();
                pool_options.after_connect(move |conn, _meta| {
                    let timeout_ms = timeout_ms.clone();
                    Box::pin(async move {
                        for setting in POSTGRES_SETTINGS {
                            sqlx::query(setting).execute(&mut *conn).await?;
                        }
                        sqlx::query("SELECT set_config('statement_timeout', $1, false)")
                            .bind(timeout_ms)
                            .execute(&mut *conn)
                            .await?;
                        Ok(())
                    })
                })
            }
        };

        // Migrations run on a dedicated connection before anything else touches the database.
        let mut admin = AnyConnection::connect_with(&connect).await?;
        if backend == Backend::Sqlite {
            sqlx::query(SQLITE_PRAGMAS).execute(&mut admin).await?;
            sqlx::migrate!("./migrations/sqlite")
                .run(&mut admin)
                .await?;
        } else {
            sqlx::migrate!("./migrations/postgres")
                .run(&mut admin)
                .await?;
        }

        let pool = pool_options.connect_with(connect).await?;
        let (writer, sqlite) = match backend {
            // SQLite: the migration connection becomes the writer's sqlx connection, next to a
            // direct one for the hot paths.
            Backend::Sqlite => {
                let path = sqlite_path(url)?;
                let direct = direct::open_writer(&path)?;
                direct.pragma_update(None, "wal_autocheckpoint", WAL_CHECKPOINT_PAGES)?;
                // Its commits are made durable by the syncer, off the writer thread.
                direct.pragma_update(None, "synchronous", "NORMAL")?;
                let syncer = durable::Syncer::spawn(&path)?;
                sqlx::query(&format!(
                    "PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}"
                ))
                .execute(&mut admin)
                .await?;
                let writer =
                    writer::Writer::spawn_batched(admin, direct, syncer, options.max_batch)
                        .map_err(|e| {
                            StoreError::Unavailable(format!("cannot start the writer: {e}"))
                        })?;
                let checkpointer = direct::Checkpointer::spawn(&path)?;
                let readers = direct::Readers::new(path, options.max_connections as usize);
                let direct = direct::Direct {
                    readers,
                    checkpointer,
                };
                (writer, Some(std::sync::Arc::new(direct)))
            }
            Backend::Postgres => {
                admin.close().await?;
                (writer::Writer::PerTransaction(pool.clone()), None)
            }
        };
        // Each kind of batch gets a quarter of the pool at most, revocations (rarer) one
        // connection, so that the other statements always find connections.
        let batches = (backend == Backend::Postgres).then(|| {
            let tasks = (options.max_connections as usize / 4).max(1);
            GrantBatches {
                refreshes: grant_batches::Batches::spawn(pool.clone(), tasks),
                redemptions: grant_batches::Batches::spawn(pool.clone(), tasks),
                lookups: grant_batches::Batches::spawn(pool.clone(), tasks),
                revocations: grant_batches::Batches::spawn(pool.clone(), 1),
            }
        });
        Ok(Self {
            backend,
            pool,
            sqlite,
            writer,
            batches,
            metrics: StoreMetrics::default(),
            apps: std::sync::Arc::new(recent::Recent::new(APP_CACHE_TTL, APP_CACHE_CAPACITY)),
            access: std::sync::Arc::new(recent::Recent::new(
                options.access_cache_ttl,
                ACCESS_CACHE_CAPACITY,
            )),
        })
    }

    /// This store's counters and latency histograms.
    pub fn metrics(&self) -> &StoreMetrics {
        &self.metrics
    }

    /// How busy the connection pool is right now.
    pub fn pool_usage(&self) -> PoolUsage {
        PoolUsage {
            size: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
            max: self.pool.options().get_max_connections(),
        }
    }

    /// Runs a read, recording its latency as `operation`.
    pub(crate) async fn timed<T>(
        &self,
        operation: &'static str,
        read: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let result = read.await;
        self.metrics.observe(operation, started.elapsed());
        result
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool for reads.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Runs `op` in a transaction and returns once its effects are durable. If `op` fails, none
    /// of its writes happen (and, on SQLite, other writes batched with it are unaffected).
    pub async fn write<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut AnyConnection) -> WriteFuture<'c, T> + Send + 'static,
    {
        let started = Instant::now();
        let result = self.writer.run(op).await;
        self.metrics.observe("write", started.elapsed());
        result
    }

    /// Runs a hot-path write (written against `sql::Sql`) like [`Store::write`]; on SQLite its
    /// statements run directly on the writer thread. `op` may run more than once, each time
    /// in a fresh transaction of which only the last is kept (see `writer`), so it must not
    /// act outside the database.
    pub(crate) async fn write_tx<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> Fn(sql::Tx<'c>) -> WriteFuture<'c, T> + Send + 'static,
    {
        let started = Instant::now();
        let result = self.writer.run_tx(op).await;
        self.metrics.observe("write", started.elapsed());
        result
    }

    /// Where a hot-path read runs: a direct SQLite reader, or the pool.
    fn read_via(&self) -> Result<direct::ReadVia<'_>, StoreError> {
        Ok(match &self.sqlite {
            Some(sqlite) => direct::ReadVia::Direct(sqlite.readers.get()?),
            None => direct::ReadVia::Pool(sql::PoolSql {
                pool: &self.pool,
                backend: self.backend,
            }),
        })
    }

    /// Whether the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.timed("ping", async {
            sqlx::query("SELECT 1").execute(&self.pool).await?;
            Ok(())
        })
        .await
    }

    /// Closes the pool and stops the writer after the writes already queued.
    pub async fn close(&self) {
        self.writer.close().await;
        if let Some(sqlite) = &self.sqlite {
            sqlite.close();
        }
        self.pool.close().await;
    }
}

/// For SQLite, asks the driver to create the file if it is missing.
fn with_create_mode(url: &str, backend: Backend) -> String {
    if backend == Backend::Sqlite && !url.contains("mode=") && !url.contains(":memory:") {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}mode=rwc")
    } else {
        url.to_owned()
    }
}

/// The file a SQLite URL names. The direct connections need it; an in-memory database would
/// be a different one on each connection, so it is refused.
fn sqlite_path(url: &str) -> Result<std::path::PathBuf, StoreError> {
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)
        .map_err(|e| StoreError::Config(e.to_string()))?;
    let path = options.get_filename();
    if path.as_os_str().is_empty() || path.to_string_lossy().contains(":memory:") {
        return Err(StoreError::Config(
            "an in-memory SQLite database cannot be shared by the server's connections: \
             use sqlite://FILE"
                .into(),
        ));
    }
    Ok(path.to_owned())
}

/// A database URL with any password replaced, for messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("REDACTED"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Converts a stored 0/1 into a bool.
pub(crate) fn flag(value: i64) -> bool {
    value != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_engines_have_the_same_migrations() {
        let versions = |m: sqlx::migrate::Migrator| {
            m.iter()
                .map(|m| (m.version, m.description.to_string()))
                .collect::<Vec<_>>()
        };
        let sqlite = versions(sqlx::migrate!("./migrations/sqlite"));
        let postgres = versions(sqlx::migrate!("./migrations/postgres"));
        assert!(!sqlite.is_empty());
        assert_eq!(sqlite, postgres);
    }

    #[test]
    fn retryable_postgres_states_are_told_from_real_errors() {
        for code in [
            "08006", "57P01", "57P03", "57014", "53300", "40001", "40P01", "55P03",
        ] {
            assert!(transient_sqlstate(code), "{code}");
        }
        // unique_violation, undefined_table, syntax_error: bugs or bad input, not outages.
        for code in ["23505", "42P01", "42601"] {
            assert!(!transient_sqlstate(code), "{code}");
        }
    }

    #[test]
    fn sqlite_busy_and_locked_are_retryable_in_every_form() {
        // SQLITE_BUSY, SQLITE_BUSY_SNAPSHOT, SQLITE_LOCKED, SQLITE_LOCKED_SHAREDCACHE.
        for code in ["5", "517", "6", "262"] {
            assert!(transient_sqlite_code(code), "{code}");
        }
        // SQLITE_CONSTRAINT_UNIQUE, SQLITE_CORRUPT.
        for code in ["2067", "11"] {
            assert!(!transient_sqlite_code(code), "{code}");
        }
    }
}
