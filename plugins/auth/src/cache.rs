//! What the auth layer remembers between requests for `[auth] cache_seconds`, so that
//! the next request with the same credential costs no db backend call: the caller a
//! session or access token resolves to ([`crate::accounts`], keyed by the token's
//! SHA-256 digest, never the token) and a user's own privilege entries and memberships
//! ([`crate::guard`]).
//!
//! The rules that keep it from weakening authentication:
//! - an entry never outlives the credential's own expiry (each entry carries it);
//! - only what was found is remembered: an unknown or expired token is looked up again
//!   every time, so made-up tokens cannot fill the cache or be remembered as refused;
//! - every change through the auth plugin that could alter an entry forgets it before the
//!   change is answered, and a lookup that was under way while something was forgotten
//!   is used once but not remembered (what it read may predate the change);
//! - at most [`CAPACITY`] entries; beyond that the least used go (a miss, never an error).
//!
//! Changes made around the auth plugin (`daas import`, SQL, another server on the same
//! database) show after `cache_seconds` at the latest.

use std::{
    future::Future,
    hash::Hash,
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

/// Entries per cache at most. A resolved caller is a few hundred bytes, so a full cache
/// is a few MB; ten thousand callers within a few seconds is far beyond this product's
/// sites.
pub const CAPACITY: u64 = 10_000;

#[derive(Clone)]
struct Entry<V> {
    value: V,
    /// The credential's own end, if it has one.
    until: Option<Instant>,
}

/// Each entry lives `ttl`, or less when its credential ends sooner.
struct Lifetime {
    ttl: Duration,
}

impl Lifetime {
    fn left<V>(&self, entry: &Entry<V>, from: Instant) -> Option<Duration> {
        Some(entry.until.map_or(self.ttl, |until| until.saturating_duration_since(from).min(self.ttl)))
    }
}

impl<K, V> moka::Expiry<K, Entry<V>> for Lifetime {
    fn expire_after_create(&self, _: &K, entry: &Entry<V>, created_at: Instant) -> Option<Duration> {
        self.left(entry, created_at)
    }

    // An entry replaced by a newer lookup takes the newer credential's end.
    fn expire_after_update(&self, _: &K, entry: &Entry<V>, updated_at: Instant, _: Option<Duration>) -> Option<Duration> {
        self.left(entry, updated_at)
    }
}

/// A bounded cache whose entries expire after the TTL or their credential's end,
/// whichever comes first. With a zero TTL it remembers nothing.
pub struct Memo<K, V> {
    cache: Option<moka::sync::Cache<K, Entry<V>>>,
    /// Bumped by every forget, before the entries go: a lookup that started before a
    /// change and ends after it sees the bump and is not remembered.
    generation: AtomicU64,
}

impl<K, V> Memo<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// Entries live `ttl` at most; zero: nothing is remembered.
    pub fn new(ttl: Duration) -> Memo<K, V> {
        let cache = (!ttl.is_zero()).then(|| moka::sync::Cache::builder().max_capacity(CAPACITY).expire_after(Lifetime { ttl }).build());
        Memo { cache, generation: AtomicU64::new(0) }
    }

    /// Whether it remembers anything (a non-zero TTL).
    pub fn enabled(&self) -> bool {
        self.cache.is_some()
    }

    /// The remembered value of `key`, or what `load` answers: a value and the end of the
    /// credential it stems from (remembered), or `None` (not remembered).
    pub async fn get_or_load<E>(
        &self,
        key: K,
        load: impl Future<Output = Result<Option<(V, Option<Instant>)>, E>>,
    ) -> Result<Option<V>, E> {
        let Some(cache) = &self.cache else { return Ok(load.await?.map(|(value, _)| value)) };
        if let Some(entry) = cache.get(&key) {
            return Ok(Some(entry.value));
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let Some((value, until)) = load.await? else { return Ok(None) };
        if until.is_none_or(|t| t > Instant::now()) {
            cache.insert(key.clone(), Entry { value: value.clone(), until });
            // Checked after the insert: a forget between the load and here has bumped
            // the generation (undo the insert); one after here removes the entry itself.
            if self.generation.load(Ordering::SeqCst) != generation {
                cache.invalidate(&key);
            }
        }
        Ok(Some(value))
    }

    /// Forget one entry.
    pub fn forget(&self, key: &K) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Some(cache) = &self.cache {
            cache.invalidate(key);
        }
    }

    /// Forget every entry.
    pub fn forget_all(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Some(cache) = &self.cache {
            cache.invalidate_all();
        }
    }
}

/// The `Instant` of a wall-clock time (now, when it has passed).
pub fn instant_of(at: chrono::DateTime<chrono::Utc>) -> Instant {
    Instant::now() + (at - chrono::Utc::now()).to_std().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use futures::executor::block_on;

    use super::*;

    async fn load(calls: &AtomicUsize, value: Option<u32>, until: Option<Instant>) -> Result<Option<(u32, Option<Instant>)>, ()> {
        calls.fetch_add(1, Ordering::SeqCst);
        Ok(value.map(|v| (v, until)))
    }

    #[test]
    fn found_values_are_remembered_until_forgotten_and_misses_never() {
        let m = Memo::<&str, u32>::new(Duration::from_secs(3600));
        let calls = AtomicUsize::new(0);
        assert_eq!(block_on(m.get_or_load("a", load(&calls, Some(1), None))), Ok(Some(1)));
        assert_eq!(block_on(m.get_or_load("a", load(&calls, Some(2), None))), Ok(Some(1)), "remembered");
        assert_eq!(calls.swap(0, Ordering::SeqCst), 1);
        for _ in 0..2 {
            assert_eq!(block_on(m.get_or_load("b", load(&calls, None, None))), Ok(None));
        }
        assert_eq!(calls.swap(0, Ordering::SeqCst), 2, "a miss is asked again");
        m.forget(&"a");
        assert_eq!(block_on(m.get_or_load("a", load(&calls, Some(3), None))), Ok(Some(3)));
        m.forget_all();
        assert_eq!(block_on(m.get_or_load("a", load(&calls, Some(4), None))), Ok(Some(4)));
        assert_eq!(calls.swap(0, Ordering::SeqCst), 2);
    }

    #[test]
    fn an_entry_ends_with_its_credential_and_a_zero_ttl_remembers_nothing() {
        let m = Memo::<&str, u32>::new(Duration::from_secs(3600));
        let calls = AtomicUsize::new(0);
        let soon = Instant::now() + Duration::from_millis(50);
        block_on(m.get_or_load("a", load(&calls, Some(1), Some(soon)))).unwrap();
        block_on(m.get_or_load("a", load(&calls, Some(1), Some(soon)))).unwrap();
        assert_eq!(calls.swap(0, Ordering::SeqCst), 1);
        std::thread::sleep(Duration::from_millis(80));
        block_on(m.get_or_load("a", load(&calls, Some(1), None))).unwrap();
        assert_eq!(calls.swap(0, Ordering::SeqCst), 1, "read again once the credential ended");

        let off = Memo::<&str, u32>::new(Duration::ZERO);
        assert!(!off.enabled());
        for _ in 0..2 {
            assert_eq!(block_on(off.get_or_load("a", load(&calls, Some(1), None))), Ok(Some(1)));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_lookup_overtaken_by_a_forget_is_not_remembered() {
        let m = Memo::<&str, u32>::new(Duration::from_secs(3600));
        let calls = AtomicUsize::new(0);
        // The change (and its forget) lands while the lookup is reading.
        let racing = async {
            m.forget(&"a");
            Ok::<_, ()>(Some((1, None)))
        };
        assert_eq!(block_on(m.get_or_load("a", racing)), Ok(Some(1)), "used once");
        assert_eq!(block_on(m.get_or_load("a", load(&calls, Some(2), None))), Ok(Some(2)), "but read again");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
