//! Applications recently read, kept for a second so that the token, revoke and introspection
//! endpoints do not read the same row for every request.
//!
//! Why: on SQLite a read right after any commit starts with an empty page cache (a WAL reader
//! drops its cache when the database has changed), so under token traffic each client lookup
//! re-read its pages and took the file locks again: about a tenth of a refresh's CPU on the
//! request threads (docs/performance.md).
//!
//! What it costs in freshness: changes made through this process (back office, admin API)
//! drop the entry when they return, so the next request reads the new row. Changes made by
//! another process (the CLI on the same database, another node on the same PostgreSQL) show
//! after at most [`TTL`]. Deleting an application needs no cache to take effect: it revokes the
//! application's grants in the same transaction, and every token, code and refresh check
//! reads its grant. What can lag by up to [`TTL`] there is a rotated secret (the old one still
//! accepted) and edited fields (redirect URIs, scopes, PKCE rule). Lookups that find nothing
//! are not kept, so unknown client_ids cannot fill memory.

use std::{
    collections::HashMap,
    sync::RwLock,
    time::{Duration, Instant},
};

use crate::domain::model::Application;

/// How long a read application is served from memory.
pub const TTL: Duration = Duration::from_secs(1);

/// Most applications kept; when full, everything is dropped and refilled by the next reads.
const CAPACITY: usize = 4096;

#[derive(Debug, Default)]
pub(super) struct AppCache {
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<String, (Application, Instant)>,
    /// Bumped by every invalidation; a read that started before one must not be stored.
    generation: u64,
}

impl AppCache {
    /// The application kept for `client_id`, if read less than [`TTL`] ago.
    pub(super) fn get(&self, client_id: &str) -> Option<Application> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let (app, read_at) = inner.entries.get(client_id)?;
        (read_at.elapsed() < TTL).then(|| app.clone())
    }

    /// To be taken before reading the row that [`Self::put`] will store.
    pub(super) fn generation(&self) -> u64 {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .generation
    }

    /// Keeps `app`, read at `read_at` by a read that started at `generation`, unless an
    /// invalidation happened since: the row read may then predate the change.
    pub(super) fn put(&self, generation: u64, read_at: Instant, app: &Application) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if inner.generation != generation {
            return;
        }
        if inner.entries.len() >= CAPACITY && !inner.entries.contains_key(&app.client_id) {
            inner.entries.clear();
        }
        inner
            .entries
            .insert(app.client_id.clone(), (app.clone(), read_at));
    }

    /// Forgets `client_id` when the returned guard drops: held across a change to its row, so
    /// that it runs once the change has committed, failed or been abandoned, and no read that
    /// started before then can store the old row.
    pub(super) fn forget_when_done(&self, client_id: &str) -> Forget<'_> {
        Forget {
            cache: self,
            client_id: client_id.to_owned(),
        }
    }

    /// Forgets `client_id` now.
    fn invalidate(&self, client_id: &str) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        inner.entries.remove(client_id);
        inner.generation += 1;
    }
}

/// See [`AppCache::forget_when_done`].
pub(super) struct Forget<'c> {
    cache: &'c AppCache,
    client_id: String,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.cache.invalidate(&self.client_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::scope::ScopeSet;

    fn app(client_id: &str, name: &str) -> Application {
        Application {
            client_id: client_id.into(),
            owner_merchant_id: None,
            name: name.into(),
            description: String::new(),
            developer_name: String::new(),
            developer_email: String::new(),
            developer_url: String::new(),
            redirect_uris: vec![],
            scopes: ScopeSet::parse("").unwrap(),
            require_secret: false,
            require_pkce: false,
            profile: None,
            secret_hash: vec![1],
            secret_hint: String::new(),
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn an_entry_is_served_until_it_expires() {
        let cache = AppCache::default();
        let g = cache.generation();
        cache.put(g, Instant::now(), &app("a", "one"));
        assert_eq!(cache.get("a").unwrap().name, "one");
        assert!(cache.get("b").is_none());
        let g = cache.generation();
        cache.put(g, Instant::now() - TTL, &app("old", "x"));
        assert!(cache.get("old").is_none(), "read a TTL ago: expired");
    }

    #[test]
    fn a_read_that_started_before_an_invalidation_is_not_kept() {
        let cache = AppCache::default();
        let before = cache.generation();
        drop(cache.forget_when_done("a"));
        cache.put(before, Instant::now(), &app("a", "stale"));
        assert!(cache.get("a").is_none());
        let after = cache.generation();
        cache.put(after, Instant::now(), &app("a", "fresh"));
        assert_eq!(cache.get("a").unwrap().name, "fresh");
        let change = cache.forget_when_done("a");
        assert!(
            cache.get("a").is_some(),
            "forgotten when the change is done"
        );
        drop(change);
        assert!(cache.get("a").is_none());
    }

    #[test]
    fn a_full_cache_starts_over() {
        let cache = AppCache::default();
        for i in 0..CAPACITY {
            cache.put(
                cache.generation(),
                Instant::now(),
                &app(&i.to_string(), "n"),
            );
        }
        assert!(cache.get("0").is_some());
        cache.put(cache.generation(), Instant::now(), &app("new", "n"));
        assert!(cache.get("new").is_some());
        assert!(cache.get("0").is_none());
    }
}
