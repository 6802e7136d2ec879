//! Idle plugin instances across every version, and the sweep that lets go of
//! the ones nobody has used for a while.
//!
//! A live instance holds slots of the pooling allocator (`engine.rs`) and the
//! touched pages of its linear memory. A thousand tenants with the eighteen
//! default plugins are eighteen thousand versions: far more than the pool has
//! slots, and far more than the two cores can keep busy. So an instance
//! unused for [`IDLE_FOR`] is dropped by a sweep on a thread of its own, and
//! when the pool is full all the same, every idle instance of every version
//! is dropped before a call gives up (`instance_pool.rs`).

use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

/// How long an idle instance is kept. A tenant in use calls most of its
/// plugins much more often than this (each login, presence, roster fetch or
/// client ping), so its instances stay warm; one nobody uses gives its slots
/// and memory back within about a minute. Instantiating again costs tens of
/// microseconds plus the plugin's `init`, paid at most once a minute per
/// plugin; keeping an instance costs a pool slot and its resident pages for
/// as long as it is kept.
pub(crate) const IDLE_FOR: Duration = Duration::from_secs(60);

/// How often the sweep looks: an instance stays at most `IDLE_FOR` plus this
/// after its last call. Each look walks every version once, microseconds for
/// thousands.
pub(crate) const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// A version's idle instances as the registry sees them, whatever they hold.
pub(crate) trait IdlePool: Send + Sync {
    /// Drops the instances idle since `cutoff` or earlier; returns how many.
    fn drop_idle_since(&self, cutoff: Instant) -> usize;
}

/// One version's idle instances, each with the time it was given back.
pub(crate) struct Idle<T> {
    items: Mutex<Vec<(T, Instant)>>,
}

impl<T> Default for Idle<T> {
    fn default() -> Self {
        Idle { items: Mutex::new(Vec::new()) }
    }
}

impl<T: Send> Idle<T> {
    fn lock(&self) -> MutexGuard<'_, Vec<(T, Instant)>> {
        // Push, pop and retain only: a poisoned pool is still a valid pool.
        self.items.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The instance given back last: the warmest, and the one the sweep
    /// would take last.
    pub fn pop(&self) -> Option<T> {
        self.lock().pop().map(|(t, _)| t)
    }

    /// Keeps `item` unless `cap` are already idle; what is not kept is
    /// returned, so that it drops after the lock is let go of.
    pub fn give_back(&self, item: T, cap: usize) -> Option<T> {
        let mut items = self.lock();
        if items.len() < cap {
            items.push((item, Instant::now()));
            None
        } else {
            Some(item)
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().len()
    }
}

impl<T: Send> IdlePool for Idle<T> {
    fn drop_idle_since(&self, cutoff: Instant) -> usize {
        // Taken out under the lock, dropped after: dropping a store unmaps
        // and resets memory, and calls on this version should not wait on it.
        let stale: Vec<(T, Instant)> = {
            let mut items = self.lock();
            // Given back in time order, so the stale ones are a prefix.
            let n = items.partition_point(|(_, since)| *since <= cutoff);
            items.drain(..n).collect()
        };
        stale.len()
    }
}

/// Every version's idle pool, held weakly: a version that is dropped (a hot
/// swap, a vhost removed) leaves only a dead entry, pruned as they pile up.
pub(crate) struct IdleRegistry {
    pools: Mutex<Registered>,
    idle_for: Duration,
}

struct Registered {
    pools: Vec<Weak<dyn IdlePool>>,
    /// The length at which dead entries are pruned next: twice what was
    /// alive at the last pruning, so registering stays amortised O(1).
    prune_at: usize,
}

impl IdleRegistry {
    pub fn new(idle_for: Duration) -> Arc<IdleRegistry> {
        Arc::new(IdleRegistry { pools: Mutex::new(Registered { pools: Vec::new(), prune_at: 64 }), idle_for })
    }

    fn lock(&self) -> MutexGuard<'_, Registered> {
        // A list of weak references holds no invariant a panic could break.
        self.pools.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn register(&self, pool: Weak<dyn IdlePool>) {
        let mut r = self.lock();
        r.pools.push(pool);
        if r.pools.len() >= r.prune_at {
            r.pools.retain(|p| p.strong_count() > 0);
            r.prune_at = (2 * r.pools.len()).max(64);
        }
    }

    /// The pools still alive; the registry's lock is let go of before any of
    /// them is touched, so a call that makes room never waits on a sweep.
    fn alive(&self) -> Vec<Arc<dyn IdlePool>> {
        let mut r = self.lock();
        r.pools.retain(|p| p.strong_count() > 0);
        r.prune_at = (2 * r.pools.len()).max(64);
        r.pools.iter().filter_map(Weak::upgrade).collect()
    }

    /// Drops every instance idle for `idle_for` at `now`; returns how many.
    pub fn sweep(&self, now: Instant) -> usize {
        // None only within `idle_for` of the clock's origin (boot, on
        // Linux): nothing can have been idle that long yet.
        let Some(cutoff) = now.checked_sub(self.idle_for) else { return 0 };
        self.alive().iter().map(|p| p.drop_idle_since(cutoff)).sum()
    }

    /// Drops every idle instance of every version, to make room in a full
    /// pool; returns how many.
    pub fn drop_all(&self) -> usize {
        let now = Instant::now();
        self.alive().iter().map(|p| p.drop_idle_since(now)).sum()
    }

    /// Sweeps every `every` on a thread of its own: dropping stores unmaps
    /// memory, never work for a tokio worker (`blocking.rs`). The thread ends
    /// with the registry.
    pub fn start_sweeper(self: &Arc<Self>, every: Duration) -> std::io::Result<()> {
        let registry = Arc::downgrade(self);
        std::thread::Builder::new().name("wasm-idle-sweep".into()).spawn(move || {
            loop {
                std::thread::sleep(every);
                let Some(r) = registry.upgrade() else { return };
                let dropped = r.sweep(Instant::now());
                if dropped > 0 {
                    give_back_freed_heap();
                    tracing::debug!(dropped, "idle plugin instances dropped");
                }
            }
        })?;
        Ok(())
    }
}

/// Returns the heap pages that dropped stores freed to the system. glibc
/// keeps freed memory in its arenas for reuse, so without this the RSS of a
/// server stays at its peak however many instances the sweep dropped
/// (measured, `bench/tenants.py`: a thousand tenants a minute after one login
/// each, 335 MiB without, 272 MiB with). On this thread, and only after a
/// sweep that dropped something.
fn give_back_freed_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own arenas, under their locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Counts its drops, so a test sees what the registry let go of.
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn the_sweep_drops_what_was_idle_long_enough_and_keeps_the_rest() {
        let dropped = Arc::new(AtomicUsize::new(0));
        let registry = IdleRegistry::new(Duration::from_secs(60));
        let pool = Arc::new(Idle::default());
        registry.register(Arc::downgrade(&pool) as Weak<dyn IdlePool>);
        assert!(pool.give_back(Counted(dropped.clone()), 4).is_none());
        assert!(pool.give_back(Counted(dropped.clone()), 4).is_none());
        assert_eq!(registry.sweep(Instant::now()), 0, "nothing idle for a minute yet");
        assert_eq!(pool.len(), 2);
        assert_eq!(registry.sweep(Instant::now() + Duration::from_secs(61)), 2);
        assert_eq!((pool.len(), dropped.load(Ordering::SeqCst)), (0, 2));
    }

    #[test]
    fn drop_all_empties_every_live_pool_and_dead_ones_are_pruned() {
        let dropped = Arc::new(AtomicUsize::new(0));
        let registry = IdleRegistry::new(Duration::from_secs(60));
        let mut pools: Vec<Arc<Idle<Counted>>> = (0..200).map(|_| Arc::new(Idle::default())).collect();
        for p in &pools {
            registry.register(Arc::downgrade(p) as Weak<dyn IdlePool>);
            assert!(p.give_back(Counted(dropped.clone()), 1).is_none());
            assert!(p.give_back(Counted(dropped.clone()), 1).is_some(), "over the cap");
        }
        assert_eq!(dropped.load(Ordering::SeqCst), 200, "what was over the cap was handed back and dropped");
        // A version dropped (hot swap, vhost removed) drops its instances with it.
        pools.truncate(50);
        assert_eq!(dropped.load(Ordering::SeqCst), 350);
        assert_eq!(registry.drop_all(), 50);
        assert!(pools.iter().all(|p| p.len() == 0));
        assert_eq!(dropped.load(Ordering::SeqCst), 400);
        assert_eq!(registry.lock().pools.len(), 50, "dead entries pruned");
    }

    #[test]
    fn the_sweeper_thread_sweeps() {
        let dropped = Arc::new(AtomicUsize::new(0));
        let registry = IdleRegistry::new(Duration::from_millis(20));
        registry.start_sweeper(Duration::from_millis(10)).unwrap();
        let pool = Arc::new(Idle::default());
        registry.register(Arc::downgrade(&pool) as Weak<dyn IdlePool>);
        assert!(pool.give_back(Counted(dropped.clone()), 1).is_none());
        let deadline = Instant::now() + Duration::from_secs(10);
        while pool.len() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!((pool.len(), dropped.load(Ordering::SeqCst)), (0, 1));
    }
}
