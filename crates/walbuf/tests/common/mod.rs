//! What the VFS's test binaries share: opening connections and checking a database.

// Each test binary includes this module and uses its own part of it.
#![allow(dead_code)]

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

/// A connection through the VFS, in WAL mode, committing without a sync (as the server's
/// writer does).
pub fn open_through_vfs(path: &Path) -> Connection {
    let vfs = ucoauth_walbuf::register().unwrap();
    let conn = Connection::open_with_flags_and_vfs(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        vfs,
    )
    .unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
        .unwrap();
    conn
}

/// A connection through SQLite's default VFS.
pub fn open_plain(path: &Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    conn
}

/// The number of rows in `table`.
pub fn rows(conn: &Connection, table: &str) -> i64 {
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

/// SQLite's `integrity_check` finds nothing wrong.
pub fn assert_intact(conn: &Connection) {
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}
