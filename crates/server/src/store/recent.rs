//! Rows recently read, served from memory for a short time: applications (by client_id) and
//! access-token lookups (by the token's digest).
//!
//! Why: on SQLite every read takes the WAL's file locks, and a read right after any commit
//! starts with an empty page cache (a WAL reader drops its cache when the database has
//! changed); on PostgreSQL every read is a round trip. The same application is read by every
//! token request of its client, and the same access token by every API call of its holder.
//!
//! What it costs in freshness: a change made through this process drops the entries it may
//! have made stale once it finishes ([`Recent::forget_when_done`],
//! [`Recent::forget_all_when_done`]), and a read that started before such a change cannot
//! store what it read (a generation counter), so this process never serves a row older than
//! its own last change. A change made by another process (the CLI on the same SQLite file,
//! another node on the same PostgreSQL) shows after at most the cache's time to live. Lookups
//! that find nothing are not kept, so unknown keys cannot fill memory.
//!
//! One case within this process takes the same bound: a change whose request is abandoned
//! (the client went away) drops its guard at once, but its write, already handed to the
//! writer or to a batch, may still commit after that; a read made in between can then be
//! kept, for at most the time to live.

use std::{
    borrow::Borrow,
    collections::HashMap,
    hash::Hash,
    sync::RwLock,
    time::{Duration, Instant},
};

/// Rows read less than `ttl` ago, at most `capacity` of them; when full, everything is dropped
/// and refilled by the next reads (simpler than an LRU, and a full cache is rare).
#[derive(Debug)]
pub(super) struct Recent<K, V> {
    inner: RwLock<Inner<K, V>>,
    ttl: Duration,
    capacity: usize,
}

#[derive(Debug)]
struct Inner<K, V> {
    entries: HashMap<K, (V, Instant)>,
    /// Bumped by every invalidation; a read that started before one must not be stored.
    generation: u64,
}

impl<K: Hash + Eq, V: Clone> Recent<K, V> {
    /// A cache keeping rows for `ttl`; a zero `ttl` keeps nothing.
    pub(super) fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            inner: RwLock::new(Inner {
                entries: HashMap::new(),
                generation: 0,
            }),
            ttl,
            capacity: capacity.max(1),
        }
    }

    /// The row kept for `key`, if read less than the time to live ago.
    pub(super) fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if self.ttl.is_zero() {
            return None;
        }
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let (value, read_at) = inner.entries.get(key)?;
        (read_at.elapsed() < self.ttl).then(|| value.clone())
    }

    /// To be taken before reading the row that [`Self::put`] will store.
    pub(super) fn generation(&self) -> u64 {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .generation
    }

    /// Keeps `value`, read at `read_at` by a read that started at `generation`, unless an
    /// invalidation happened since: the row read may then predate the change.
    pub(super) fn put(&self, generation: u64, read_at: Instant, key: K, value: V) {
        if self.ttl.is_zero() {
            return;
        }
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if inner.generation != generation {
            return;
        }
        if inner.entries.len() >= self.capacity && !inner.entries.contains_key(&key) {
            inner.entries.clear();
        }
        inner.entries.insert(key, (value, read_at));
    }

    /// Forgets `key` when the returned guard drops: held across a change to its row, so that
    /// it runs once the change has committed, failed or been abandoned, and no read that
    /// started before then can store the old row.
    pub(super) fn forget_when_done(&self, key: K) -> Forget<'_, K, V> {
        Forget {
            cache: self,
            key: Some(key),
            armed: true,
        }
    }

    /// Forgets every row when the returned guard drops, unless [`Forget::disarm`]ed: held
    /// across a change that may make any of them stale (a grant's revocation).
    pub(super) fn forget_all_when_done(&self) -> Forget<'_, K, V> {
        Forget {
            cache: self,
            key: None,
            armed: true,
        }
    }

    fn invalidate(&self, key: Option<&K>) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        match key {
            Some(key) => {
                inner.entries.remove(key);
            }
            None => inner.entries.clear(),
        }
        inner.generation += 1;
    }
}

/// See [`Recent::forget_when_done`] and [`Recent::forget_all_when_done`].
pub(super) struct Forget<'c, K: Hash + Eq, V: Clone> {
    cache: &'c Recent<K, V>,
    /// `None`: every row.
    key: Option<K>,
    armed: bool,
}

impl<K: Hash + Eq, V: Clone> Forget<'_, K, V> {
    /// The change turned out to leave every kept row true: nothing to forget.
    pub(super) fn disarm(mut self) {
        self.armed = false;
    }
}

impl<K: Hash + Eq, V: Clone> Drop for Forget<'_, K, V> {
    fn drop(&mut self) {
        if self.armed {
            self.cache.invalidate(self.key.as_ref());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(1);

    fn cache() -> Recent<String, &'static str> {
        Recent::new(TTL, 4)
    }

    fn put(cache: &Recent<String, &'static str>, key: &str, value: &'static str) {
        cache.put(cache.generation(), Instant::now(), key.into(), value);
    }

    #[test]
    fn an_entry_is_served_until_it_expires() {
        let cache = cache();
        put(&cache, "a", "one");
        assert_eq!(cache.get("a"), Some("one"));
        assert_eq!(cache.get("b"), None);
        cache.put(cache.generation(), Instant::now() - TTL, "old".into(), "x");
        assert_eq!(cache.get("old"), None, "read a TTL ago: expired");
    }

    #[test]
    fn a_zero_time_to_live_keeps_nothing() {
        let cache = Recent::new(Duration::ZERO, 4);
        cache.put(cache.generation(), Instant::now(), "a".to_owned(), 1);
        assert_eq!(cache.get("a"), None);
    }

    #[test]
    fn a_read_that_started_before_an_invalidation_is_not_kept() {
        let cache = cache();
        let before = cache.generation();
        drop(cache.forget_when_done("a".into()));
        cache.put(before, Instant::now(), "a".into(), "stale");
        assert_eq!(cache.get("a"), None);
        put(&cache, "a", "fresh");
        assert_eq!(cache.get("a"), Some("fresh"));
        let change = cache.forget_when_done("a".into());
        assert_eq!(
            cache.get("a"),
            Some("fresh"),
            "forgotten when the change is done"
        );
        drop(change);
        assert_eq!(cache.get("a"), None);
    }

    #[test]
    fn forgetting_all_drops_every_row_and_stale_reads_unless_disarmed() {
        let cache = cache();
        put(&cache, "a", "1");
        put(&cache, "b", "2");
        let before = cache.generation();
        cache.forget_all_when_done().disarm();
        assert_eq!(
            cache.get("a"),
            Some("1"),
            "a disarmed guard forgets nothing"
        );
        assert_eq!(cache.generation(), before);
        drop(cache.forget_all_when_done());
        assert_eq!((cache.get("a"), cache.get("b")), (None, None));
        cache.put(before, Instant::now(), "a".into(), "stale");
        assert_eq!(cache.get("a"), None, "read before the change: not kept");
    }

    #[test]
    fn a_full_cache_starts_over() {
        let cache = cache();
        for key in ["0", "1", "2", "3"] {
            put(&cache, key, "n");
        }
        assert_eq!(cache.get("0"), Some("n"));
        put(&cache, "3", "again");
        assert_eq!(
            cache.get("0"),
            Some("n"),
            "replacing a key does not empty it"
        );
        put(&cache, "new", "n");
        assert_eq!(cache.get("new"), Some("n"));
        assert_eq!(cache.get("0"), None);
    }
}
