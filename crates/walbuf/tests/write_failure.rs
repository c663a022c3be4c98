//! A write that fails makes the commit fail, as without the VFS: the gathered frames are
//! written inside the commit's last `xWrite`, whose error SQLite sees.
//!
//! A binary of its own: it lowers this process's file-size limit (`RLIMIT_FSIZE`), so that
//! the kernel refuses to extend the WAL (EFBIG), which would disturb any other test.

mod common;

use common::{assert_intact, open_through_vfs, rows};
use rusqlite::Connection;

#[test]
fn a_commit_whose_frames_cannot_be_written_fails_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.db");
    let conn = open_through_vfs(&path);
    conn.execute_batch(
        "PRAGMA wal_autocheckpoint = 0;
         CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB NOT NULL);
         INSERT INTO t (id, body) VALUES (0, zeroblob(100));",
    )
    .unwrap();
    let wal = dir.path().join("full.db-wal");
    let size = std::fs::metadata(&wal).unwrap().len();

    // From here the WAL may grow by 64 KiB at most; writing past that fails with EFBIG
    // (SIGXFSZ ignored, else the kernel would end the process instead).
    let limit = libc::rlimit {
        rlim_cur: size + 64 * 1024,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: plain system calls on this process; no memory is shared with them.
    unsafe {
        assert_ne!(libc::signal(libc::SIGXFSZ, libc::SIG_IGN), libc::SIG_ERR);
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
    }

    // About 30 pages: more than the limit lets through.
    conn.execute_batch("BEGIN").unwrap();
    for id in 1..=100 {
        conn.execute("INSERT INTO t (id, body) VALUES (?1, zeroblob(1000))", [id])
            .unwrap();
    }
    let commit = conn.execute_batch("COMMIT");
    assert!(commit.is_err(), "the commit reported success: {commit:?}");
    let _ = conn.execute_batch("ROLLBACK");

    // SAFETY: as above.
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    unsafe {
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &unlimited), 0);
    }
    // Nothing of the failed commit is visible, to this connection or another.
    let other = Connection::open(&path).unwrap();
    for c in [&conn, &other] {
        assert_eq!(rows(c, "t"), 1);
    }
    // And the connection writes again once the disk has room.
    conn.execute("INSERT INTO t (id, body) VALUES (1, zeroblob(10))", [])
        .unwrap();
    assert_eq!(rows(&other, "t"), 2);
    assert_intact(&other);
}
