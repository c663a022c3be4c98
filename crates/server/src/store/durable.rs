//! Making the writer's commits durable on a thread of its own (SQLite only).
//!
//! With `synchronous = FULL` every `COMMIT` waits for an fsync of the WAL on the writer
//! thread, and the writer can start on the next batch only after it: the fsync, and the
//! kernel's work to write the WAL's pages back for it, were a fifth of the writer's time. The
//! writer's direct connection instead commits with `synchronous = NORMAL`, which in WAL mode
//! writes the commit's frames to the WAL file without syncing it, and hands the batch's answers
//! to the [`Syncer`]. The syncer calls `fdatasync` on the WAL file, which makes every frame
//! written so far durable, whichever connection wrote it, and only then answers the batch's
//! callers. Meanwhile the writer already runs the next batch; batches that commit while one
//! fsync runs share the next one.
//!
//! So the rule of product.md §7 holds: nobody hears of a credential before it is on disk. What
//! changes is that other requests may *read* a commit before it is durable (a reader sees a
//! token before its owner receives it, or a grant revoked before the revocation is answered).
//! A crash in between loses the commit exactly as if it had never happened, and nobody has been
//! told it did.
//!
//! Why fsync of our own descriptor is enough: the WAL is one file, and `fdatasync` writes back
//! all of the file's data, whatever descriptor wrote it. The file cannot be replaced under the
//! descriptor: in WAL mode every open connection holds a shared lock on the database file, so
//! while the writer's connection is open no other connection, in this process or another, can
//! delete the WAL on close or leave WAL mode (checked: another process gets "database is
//! locked"). A checkpoint may truncate the file or start it over, but under `NORMAL` it syncs
//! the WAL before it copies pages, and the database file after.

use std::{
    fs::File,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, Ordering},
        mpsc, Arc,
    },
    thread::JoinHandle,
};

use super::StoreError;

/// Called with the batch's fate once it is durable (`None`) or could not be made so.
pub(super) type Completion = Box<dyn FnOnce(Option<&StoreError>) + Send>;

/// One batch's answers, in the order the writer finished it.
pub(super) struct Settled {
    /// Whether the batch committed changes that must reach the disk before anyone hears of
    /// them. A rolled-back batch still goes through the syncer, so that answers stay in order.
    pub needs_sync: bool,
    /// The batch's own failure (rolled back), if any; passed to its completions as it is.
    pub error: Option<StoreError>,
    pub completions: Vec<Completion>,
}

/// The sending side, owned by the writer thread; dropping it lets the syncer finish.
pub(super) struct Syncer {
    queue: mpsc::Sender<Settled>,
    thread: JoinHandle<()>,
    /// fsyncs done so far.
    syncs: Arc<AtomicU64>,
}

impl Syncer {
    /// Starts the syncer for the database at `db_path`, whose WAL file must already exist
    /// (it does once any connection has read the database in WAL mode).
    pub(super) fn spawn(db_path: &Path) -> Result<Self, StoreError> {
        let mut wal = WalFile::open(wal_path(db_path))?;
        let (queue, settled) = mpsc::channel::<Settled>();
        let syncs = Arc::new(AtomicU64::new(0));
        let counted = syncs.clone();
        let thread = std::thread::Builder::new()
            .name("ucoauth-sync".into())
            .spawn(move || {
                // Set by the first failed fsync, and kept: after a failed writeback the kernel
                // may have dropped the pages it could not write and report later fsyncs as
                // successful, so nothing written since can be called durable (PostgreSQL
                // stops for the same reason). Writes answer 503 until the server restarts,
                // and SQLite's recovery then keeps what really reached the disk.
                let mut failed: Option<StoreError> = None;
                while let Ok(first) = settled.recv() {
                    // Everything that settled while the last fsync ran shares this one.
                    let group: Vec<Settled> =
                        std::iter::once(first).chain(settled.try_iter()).collect();
                    if failed.is_none() && group.iter().any(|s| s.needs_sync) {
                        counted.fetch_add(1, Ordering::Relaxed);
                        if let Err(e) = wal.sync() {
                            tracing::error!(
                                error = %e,
                                "fsync of the SQLite WAL failed: no write will succeed until \
                                 the server is restarted"
                            );
                            failed = Some(StoreError::Unavailable(format!(
                                "the database could not make a commit durable (fsync of the \
                                 WAL: {e}); the server must be restarted"
                            )));
                        }
                    }
                    for batch in group {
                        let error = batch.error.as_ref().or(failed.as_ref());
                        for completion in batch.completions {
                            completion(error);
                        }
                    }
                }
            })
            .map_err(|e| StoreError::Unavailable(format!("cannot start the syncer: {e}")))?;
        Ok(Self {
            queue,
            thread,
            syncs,
        })
    }

    /// Queues a settled batch; its completions run once the WAL is synced.
    pub(super) fn send(&self, batch: Settled) {
        if let Err(mpsc::SendError(batch)) = self.queue.send(batch) {
            // The thread is gone (it only ends when this sender is dropped, or by a panic in
            // a completion): answer here rather than leave the callers waiting.
            let error = StoreError::Unavailable("the syncer stopped".into());
            for completion in batch.completions {
                completion(Some(&error));
            }
        }
    }

    /// Answers everything queued (after a last fsync) and waits for the thread to end; returns
    /// how many fsyncs it made in all.
    pub(super) fn finish(self) -> u64 {
        drop(self.queue);
        let _ = self.thread.join();
        self.syncs.load(Ordering::Relaxed)
    }
}

fn wal_path(db_path: &Path) -> PathBuf {
    let mut name = db_path.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// The WAL file, opened for syncing only (never written through this descriptor).
struct WalFile(File);

impl WalFile {
    fn open(path: PathBuf) -> Result<Self, StoreError> {
        let file = File::options().write(true).open(&path).map_err(|e| {
            StoreError::Unavailable(format!("cannot open the WAL {}: {e}", path.display()))
        })?;
        Ok(Self(file))
    }

    fn sync(&mut self) -> std::io::Result<()> {
        self.0.sync_data()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{atomic::AtomicUsize, Mutex};

    use super::*;

    /// Completions that note their place in the answer order and the error they got.
    fn recorder(
        log: &Arc<Mutex<Vec<(usize, bool)>>>,
        ids: std::ops::Range<usize>,
    ) -> Vec<Completion> {
        ids.map(|id| {
            let log = log.clone();
            Box::new(move |e: Option<&StoreError>| log.lock().unwrap().push((id, e.is_some())))
                as Completion
        })
        .collect()
    }

    #[test]
    fn answers_come_in_order_and_carry_each_batch_s_own_error() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        std::fs::write(wal_path(&db), b"").unwrap();
        let syncer = Syncer::spawn(&db).unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        for batch in 0..50 {
            let failed = batch % 7 == 3;
            syncer.send(Settled {
                needs_sync: !failed,
                error: failed.then(|| StoreError::Inconsistent("rolled back".into())),
                completions: recorder(&log, batch * 3..batch * 3 + 3),
            });
        }
        // The failed batches needed no fsync, but their answers waited their turn.
        assert!(syncer.finish() >= 1);
        let log = log.lock().unwrap();
        let ids: Vec<usize> = log.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, (0..150).collect::<Vec<_>>());
        for (id, failed) in log.iter() {
            assert_eq!(*failed, (id / 3) % 7 == 3, "answer {id}");
        }
    }

    #[test]
    fn a_missing_wal_is_an_error_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        assert!(Syncer::spawn(&db).is_err());
    }

    #[test]
    fn after_a_failed_fsync_every_answer_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        // fsync of a character device fails (EINVAL): a disk that refuses to sync.
        std::os::unix::fs::symlink("/dev/full", wal_path(&db)).unwrap();
        let syncer = Syncer::spawn(&db).unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        for (batch, needs_sync) in [true, false, true].into_iter().enumerate() {
            syncer.send(Settled {
                needs_sync,
                error: None,
                completions: recorder(&log, batch * 2..batch * 2 + 2),
            });
            // One batch per fsync attempt, so the first fails on its own.
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert_eq!(syncer.finish(), 1, "no fsync is tried once one failed");
        let log = log.lock().unwrap();
        assert_eq!(log.len(), 6);
        assert!(log.iter().all(|(_, failed)| *failed), "{log:?}");
    }

    #[test]
    fn batches_waiting_behind_an_fsync_share_the_next_one() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        std::fs::write(wal_path(&db), vec![0u8; 1 << 20]).unwrap();
        let syncer = Syncer::spawn(&db).unwrap();
        let answered = Arc::new(AtomicUsize::new(0));
        for _ in 0..1000 {
            let answered = answered.clone();
            syncer.send(Settled {
                needs_sync: true,
                error: None,
                completions: vec![Box::new(move |e: Option<&StoreError>| {
                    assert!(e.is_none());
                    answered.fetch_add(1, Ordering::SeqCst);
                })],
            });
        }
        let syncs = syncer.finish();
        assert_eq!(answered.load(Ordering::SeqCst), 1000);
        // Queuing takes microseconds and an fsync far longer, so batches share them.
        assert!((1..500).contains(&syncs), "{syncs} fsyncs for 1000 batches");
    }
}
