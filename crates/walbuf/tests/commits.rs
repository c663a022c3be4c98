//! The VFS against real SQLite files: commits reach the WAL file whole before `COMMIT`
//! returns, in few writes, and other connections never see a frame that is not there.

mod common;

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc, Mutex,
};

use common::{assert_intact, open_plain, open_through_vfs, rows};

/// The counts are process-wide and tests run in parallel: every test that writes through the
/// VFS holds this while it does, so that one test's counts are its own.
static COUNTED: Mutex<()> = Mutex::new(());

fn take_turn() -> std::sync::MutexGuard<'static, ()> {
    COUNTED.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn a_commit_is_written_in_one_call_and_is_in_the_file_when_commit_returns() {
    let _turn = take_turn();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one.db");
    let conn = open_through_vfs(&path);
    conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
        .unwrap();

    let before = ucoauth_walbuf::counts();
    conn.execute_batch("BEGIN").unwrap();
    for id in 0..80 {
        conn.execute("INSERT INTO t (id, body) VALUES (?1, zeroblob(1000))", [id])
            .unwrap();
    }
    conn.execute_batch("COMMIT").unwrap();
    let after = ucoauth_walbuf::counts();
    let asked = after.wal_writes_asked - before.wal_writes_asked;
    let made = after.wal_writes_made - before.wal_writes_made;
    // About 20 pages: 40 writes asked (header and page of each frame), one made.
    assert!(asked >= 40, "asked {asked}");
    assert_eq!(made, 1, "asked {asked}, made {made}");

    // Copy the files while the connection is still open and has not checkpointed: the copy
    // recovers from the WAL alone, so the commit must be in it.
    let copy = tempfile::tempdir().unwrap();
    let copied = copy.path().join("one.db");
    std::fs::copy(&path, &copied).unwrap();
    std::fs::copy(
        dir.path().join("one.db-wal"),
        copy.path().join("one.db-wal"),
    )
    .unwrap();
    let reopened = open_plain(&copied);
    assert_eq!(rows(&reopened, "t"), 80);
    assert_intact(&reopened);
}

#[test]
fn a_failed_transaction_and_a_spilled_one_leave_the_database_whole() {
    let _turn = take_turn();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spill.db");
    let conn = open_through_vfs(&path);
    // A tiny page cache makes a large transaction spill pages into the WAL before its commit,
    // and read them back from there.
    conn.execute_batch(
        "PRAGMA cache_size = 8; CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB NOT NULL)",
    )
    .unwrap();
    // 2 000 rows of 700 bytes: about 500 pages, far more than the cache holds.
    let insert_rows = || {
        conn.execute_batch("BEGIN").unwrap();
        for id in 0..2_000 {
            conn.execute(
                "INSERT INTO t (id, body) VALUES (?1, randomblob(700))",
                [id],
            )
            .unwrap();
        }
    };
    let before = ucoauth_walbuf::counts();
    insert_rows();
    conn.execute_batch("ROLLBACK").unwrap();
    insert_rows();
    // Rows changed again after their pages were spilled: those frames are overwritten in
    // place, and SQLite rewrites the checksums of the frames after them at commit.
    conn.execute("UPDATE t SET body = randomblob(10) WHERE id % 3 = 0", [])
        .unwrap();
    conn.execute_batch("COMMIT").unwrap();
    let after = ucoauth_walbuf::counts();
    // Writes into frames already written go straight to the file, so the barrier finds
    // nothing gathered: every failure was reported to the statement that caused it.
    assert_eq!(after.wal_writes_at_barrier, before.wal_writes_at_barrier);

    let other = open_plain(&path);
    let (count, short): (i64, i64) = other
        .query_row("SELECT count(*), sum(length(body) = 10) FROM t", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((count, short), (2_000, 667));
    assert_intact(&other);
    drop(other);
    drop(conn);
    // The last connection closed: the WAL was checkpointed into the database file, removed.
    assert!(!dir.path().join("spill.db-wal").exists());
    assert_eq!(rows(&open_plain(&path), "t"), 2_000);
}

/// Transfers between accounts through the VFS, while plain connections read and checkpoint:
/// every read sees the total unchanged and a consistent count of transfers.
#[test]
fn readers_and_checkpoints_on_other_connections_see_only_whole_commits() {
    let _turn = take_turn();
    const ACCOUNTS: i64 = 50;
    const TRANSFERS: i64 = 3_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bank.db");
    let writer = open_through_vfs(&path);
    writer
        .execute_batch(
            "CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);
             CREATE TABLE transfers (id INTEGER PRIMARY KEY, amount INTEGER NOT NULL,
                                     note BLOB NOT NULL);
             PRAGMA wal_autocheckpoint = 100;",
        )
        .unwrap();
    for id in 0..ACCOUNTS {
        writer
            .execute("INSERT INTO accounts (id, balance) VALUES (?1, 1000)", [id])
            .unwrap();
    }

    let done = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..2 {
        let (path, done) = (path.clone(), done.clone());
        readers.push(std::thread::spawn(move || {
            let conn = open_plain(&path);
            let mut reads = 0u64;
            while !done.load(Ordering::Relaxed) {
                let tx = conn.unchecked_transaction().unwrap();
                let total: i64 = tx
                    .query_row("SELECT sum(balance) FROM accounts", [], |r| r.get(0))
                    .unwrap();
                let (count, moved): (i64, i64) = tx
                    .query_row(
                        "SELECT count(*), coalesce(sum(amount), 0) FROM transfers",
                        [],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .unwrap();
                let first: i64 = tx
                    .query_row("SELECT balance FROM accounts WHERE id = 0", [], |r| {
                        r.get(0)
                    })
                    .unwrap();
                tx.finish().unwrap();
                assert_eq!(total, ACCOUNTS * 1000, "a read saw half a transfer");
                // Every transfer moves `amount` out of account 0.
                assert_eq!(first, 1000 - moved, "after {count} transfers");
                reads += 1;
            }
            reads
        }));
    }
    let checkpointer = {
        let (path, done) = (path.clone(), done.clone());
        std::thread::spawn(move || {
            let conn = open_plain(&path);
            while !done.load(Ordering::Relaxed) {
                conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)")
                    .unwrap();
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        })
    };

    let before = ucoauth_walbuf::counts();
    for n in 1..=TRANSFERS {
        let to = 1 + n % (ACCOUNTS - 1);
        let tx = writer.unchecked_transaction().unwrap();
        tx.execute("UPDATE accounts SET balance = balance - 1 WHERE id = 0", [])
            .unwrap();
        tx.execute(
            "UPDATE accounts SET balance = balance + 1 WHERE id = ?1",
            [to],
        )
        .unwrap();
        // Notes of varying size: commits of one to several pages.
        tx.execute(
            "INSERT INTO transfers (amount, note) VALUES (1, zeroblob(?1))",
            [(n % 7) * 900],
        )
        .unwrap();
        if n % 10 == 0 {
            tx.rollback().unwrap();
        } else {
            tx.commit().unwrap();
        }
    }
    done.store(true, Ordering::Relaxed);
    let reads: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    checkpointer.join().unwrap();
    assert!(reads > 0);
    let after = ucoauth_walbuf::counts();
    let asked = after.wal_writes_asked - before.wal_writes_asked;
    let made = after.wal_writes_made - before.wal_writes_made;
    // A commit of one to three pages asks for two to six writes, and makes one.
    assert!(made * 2 <= asked, "asked {asked}, made {made}");
    assert_eq!(after.wal_writes_at_barrier, before.wal_writes_at_barrier);

    // The readers held the WAL all along, so it never started over. Now it does: the next
    // commit writes from the WAL's start again, over old frames, and is still gathered.
    writer
        .execute_batch("PRAGMA wal_checkpoint(RESTART)")
        .unwrap();
    let wal_path = dir.path().join("bank.db-wal");
    let wal_before = std::fs::metadata(&wal_path).unwrap().len();
    let before = ucoauth_walbuf::counts();
    for _ in 0..100 {
        writer
            .execute(
                "INSERT INTO transfers (amount, note) VALUES (0, zeroblob(5000))",
                [],
            )
            .unwrap();
    }
    let after = ucoauth_walbuf::counts();
    let asked = after.wal_writes_asked - before.wal_writes_asked;
    let made = after.wal_writes_made - before.wal_writes_made;
    assert!(
        made * 4 <= asked,
        "after the restart: asked {asked}, made {made}"
    );
    // Written over the old frames from the start, not appended: the file did not grow.
    assert_eq!(std::fs::metadata(&wal_path).unwrap().len(), wal_before);

    assert_intact(&writer);
    assert_eq!(rows(&writer, "transfers"), TRANSFERS - TRANSFERS / 10 + 100);
}
