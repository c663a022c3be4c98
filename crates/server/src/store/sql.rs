//! Statements written once, run by two drivers.
//!
//! The hot paths (token checks, code redemption, refresh, revocation) are written against the
//! small [`Sql`] trait: "fetch at most one row" and "execute". It has two implementations:
//! - sqlx (`AnyConnection`, or the pool for reads): PostgreSQL, where sqlx is the right tool;
//! - `rusqlite::Connection`: SQLite, called directly on the thread that runs the request or
//!   the write batch. sqlx runs each SQLite connection on a thread of its own and ships every
//!   statement to it over a channel (two thread hand-offs per statement), which was most of a
//!   refresh's cost; a direct call is a function call. See docs/performance.md.
//!
//! Both run the same SQL text, with `$1`-style placeholders. SQLite reads `$1` as a named
//! parameter numbered by first appearance, so a statement run directly must use its
//! placeholders in order (`$1` before `$2`); debug builds check this on every prepare.

use sqlx::{any::AnyRow, AnyConnection, AnyPool, Row};

use super::{Backend, StoreError};

/// A bound value. Borrowed, so binding costs no copy.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arg<'a> {
    Int(i64),
    Text(&'a str),
    OptText(Option<&'a str>),
    Blob(&'a [u8]),
}

/// Reads one column of a result row, whichever driver produced it.
pub(crate) trait Columns {
    fn text(&self, i: usize) -> Result<String, StoreError>;
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError>;
    fn int(&self, i: usize) -> Result<i64, StoreError>;
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError>;
    fn blob(&self, i: usize) -> Result<Vec<u8>, StoreError>;
    fn opt_blob(&self, i: usize) -> Result<Option<Vec<u8>>, StoreError>;
}

/// The two operations the hot paths need. `map` turns the row into a value while the row is
/// still borrowed from the driver.
pub(crate) trait Sql: Send {
    /// The engine behind the connection, for the few statements that differ.
    fn backend(&self) -> Backend;

    async fn fetch_row<T, F>(
        &mut self,
        sql: &'static str,
        args: &[Arg<'_>],
        map: F,
    ) -> Result<Option<T>, StoreError>
    where
        T: Send,
        F: FnOnce(&dyn Columns) -> Result<T, StoreError> + Send;

    /// Runs a statement; the number of rows it changed.
    async fn exec(&mut self, sql: &'static str, args: &[Arg<'_>]) -> Result<u64, StoreError>;
}

// ---- sqlx ----------------------------------------------------------------------------------

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

fn bind_all<'q>(mut query: AnyQuery<'q>, args: &[Arg<'q>]) -> AnyQuery<'q> {
    for arg in args {
        query = match *arg {
            Arg::Int(v) => query.bind(v),
            Arg::Text(v) => query.bind(v),
            Arg::OptText(v) => query.bind(v),
            Arg::Blob(v) => query.bind(v),
        };
    }
    query
}

/// `fetch_row` through any sqlx executor (a connection or the pool).
async fn sqlx_fetch_row<'e, T, F>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    sql: &'static str,
    args: &[Arg<'_>],
    map: F,
) -> Result<Option<T>, StoreError>
where
    F: FnOnce(&dyn Columns) -> Result<T, StoreError>,
{
    let row = bind_all(sqlx::query(sql), args)
        .fetch_optional(executor)
        .await?;
    row.as_ref().map(|r| map(r)).transpose()
}

/// `exec` through any sqlx executor.
async fn sqlx_exec<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    sql: &'static str,
    args: &[Arg<'_>],
) -> Result<u64, StoreError> {
    let done = bind_all(sqlx::query(sql), args).execute(executor).await?;
    Ok(done.rows_affected())
}

impl Sql for AnyConnection {
    fn backend(&self) -> Backend {
        if AnyConnection::backend_name(self) == <sqlx::Postgres as sqlx::Database>::NAME {
            Backend::Postgres
        } else {
            Backend::Sqlite
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
        sqlx_fetch_row(&mut *self, sql, args, map).await
    }

    async fn exec(&mut self, sql: &'static str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        sqlx_exec(&mut *self, sql, args).await
    }
}

/// Reads through the sqlx pool (PostgreSQL).
pub(crate) struct PoolSql<'p> {
    pub pool: &'p AnyPool,
    pub backend: Backend,
}

impl Sql for PoolSql<'_> {
    fn backend(&self) -> Backend {
        self.backend
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
        sqlx_fetch_row(self.pool, sql, args, map).await
    }

    async fn exec(&mut self, sql: &'static str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        sqlx_exec(self.pool, sql, args).await
    }
}

/// Implements [`Columns`] for a driver's row type through its typed getter.
macro_rules! columns_through {
    ($row:ty, $get:ident) => {
        impl Columns for $row {
            fn text(&self, i: usize) -> Result<String, StoreError> {
                Ok(self.$get(i)?)
            }
            fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
                Ok(self.$get(i)?)
            }
            fn int(&self, i: usize) -> Result<i64, StoreError> {
                Ok(self.$get(i)?)
            }
            fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
                Ok(self.$get(i)?)
            }
            fn blob(&self, i: usize) -> Result<Vec<u8>, StoreError> {
                Ok(self.$get(i)?)
            }
            fn opt_blob(&self, i: usize) -> Result<Option<Vec<u8>>, StoreError> {
                Ok(self.$get(i)?)
            }
        }
    };
}

columns_through!(AnyRow, try_get);
columns_through!(rusqlite::Row<'_>, get);

// ---- SQLite, directly ----------------------------------------------------------------------

impl rusqlite::ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match *self {
            Arg::Int(v) => ValueRef::Integer(v),
            Arg::Text(v) => ValueRef::Text(v.as_bytes()),
            Arg::OptText(None) => ValueRef::Null,
            Arg::OptText(Some(v)) => ValueRef::Text(v.as_bytes()),
            Arg::Blob(v) => ValueRef::Blob(v),
        }))
    }
}

/// Prepares `sql` through the connection's statement cache and binds `args` to `$1`, `$2`, ….
fn prepare<'c>(
    conn: &'c rusqlite::Connection,
    sql: &str,
    args: &[Arg<'_>],
) -> Result<rusqlite::CachedStatement<'c>, StoreError> {
    let mut statement = conn.prepare_cached(sql)?;
    debug_assert_eq!(statement.parameter_count(), args.len(), "{sql}");
    for (i, arg) in args.iter().enumerate() {
        debug_assert_eq!(
            statement.parameter_name(i + 1),
            Some(format!("${}", i + 1).as_str()),
            "placeholders must appear in order: {sql}"
        );
        statement.raw_bind_parameter(i + 1, arg)?;
    }
    Ok(statement)
}

impl Sql for rusqlite::Connection {
    fn backend(&self) -> Backend {
        Backend::Sqlite
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
        let mut statement = prepare(self, sql, args)?;
        let mut rows = statement.raw_query();
        match rows.next()? {
            Some(row) => map(row).map(Some),
            None => Ok(None),
        }
    }

    async fn exec(&mut self, sql: &'static str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        let mut statement = prepare(self, sql, args)?;
        Ok(statement.raw_execute()? as u64)
    }
}

// ---- Either --------------------------------------------------------------------------------

/// The connection a hot-path write runs on: the SQLite writer's own, or a PostgreSQL
/// transaction's.
pub(crate) enum Tx<'c> {
    Direct(&'c mut rusqlite::Connection),
    Sqlx(&'c mut AnyConnection),
}

impl Sql for Tx<'_> {
    fn backend(&self) -> Backend {
        match self {
            Self::Direct(c) => c.backend(),
            Self::Sqlx(c) => c.backend(),
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
            Self::Direct(c) => c.fetch_row(sql, args, map).await,
            Self::Sqlx(c) => c.fetch_row(sql, args, map).await,
        }
    }

    async fn exec(&mut self, sql: &'static str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        match self {
            Self::Direct(c) => c.exec(sql, args).await,
            Self::Sqlx(c) => c.exec(sql, args).await,
        }
    }
}
