//! One-shot plugin timers on the server's tokio runtime. They belong to the
//! plugin on its vhost, not to a version, so a hot swap keeps them; removing
//! the plugin cancels them.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::task::AbortHandle;

use super::bindings::types::HostError;
use super::plugin::PluginEntry;

/// Pending timers one plugin may hold on one vhost.
pub(crate) const MAX_TIMERS: usize = 10_000;
/// A year: longer is a mistake, and a timer does not survive a restart anyway.
pub(crate) const MAX_DELAY_MS: u64 = 366 * 24 * 3600 * 1000;
pub(crate) const MAX_DATA_BYTES: usize = 64 * 1024;

#[derive(Default)]
pub(crate) struct Timers {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    live: HashMap<u64, AbortHandle>,
}

impl Timers {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Inserts and removals are single operations; a poisoned map is intact.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Schedules `handle-event(timer-fired, data)` on `entry` after `delay_ms`.
    pub fn set(&self, entry: Weak<PluginEntry>, delay_ms: u64, data: String) -> Result<u64, HostError> {
        if delay_ms > MAX_DELAY_MS {
            return Err(HostError::Invalid(format!(
                "delay {delay_ms} ms is longer than the maximum {MAX_DELAY_MS} ms"
            )));
        }
        if data.len() > MAX_DATA_BYTES {
            return Err(HostError::Invalid(format!(
                "timer data is {} bytes; the maximum is {MAX_DATA_BYTES}",
                data.len()
            )));
        }
        let rt = tokio::runtime::Handle::try_current().map_err(|_| {
            HostError::Internal("timers need the server's async runtime, and this call is not running on it".into())
        })?;
        // Held across the spawn so that a zero-delay timer cannot fire (and
        // remove itself) before it is recorded.
        let mut inner = self.lock();
        if inner.live.len() >= MAX_TIMERS {
            return Err(HostError::Quota(format!("{MAX_TIMERS} timers are already pending")));
        }
        inner.next_id += 1;
        let id = inner.next_id;
        let task = rt.spawn(async move {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            let Some(entry) = entry.upgrade() else { return };
            if entry.shared.timers.take(id) {
                entry.fire_timer(id, &data);
            }
        });
        inner.live.insert(id, task.abort_handle());
        Ok(id)
    }

    /// Cancelling a timer that already fired (or never existed) is not an
    /// error: the plugin cannot know which won the race.
    pub fn cancel(&self, id: u64) {
        if let Some(t) = self.lock().live.remove(&id) {
            t.abort();
        }
    }

    /// Removes a timer about to fire; false if it was cancelled meanwhile.
    fn take(&self, id: u64) -> bool {
        self.lock().live.remove(&id).is_some()
    }

    pub fn cancel_all(&self) {
        for (_, t) in self.lock().live.drain() {
            t.abort();
        }
    }

    #[cfg(test)]
    pub fn pending(&self) -> usize {
        self.lock().live.len()
    }
}

impl Drop for Timers {
    fn drop(&mut self) {
        self.cancel_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_without_a_runtime_and_checks_arguments() {
        let t = Timers::default();
        assert!(matches!(t.set(Weak::new(), 10, String::new()), Err(HostError::Internal(_))));
        assert!(matches!(t.set(Weak::new(), MAX_DELAY_MS + 1, String::new()), Err(HostError::Invalid(_))));
        assert!(matches!(t.set(Weak::new(), 1, "x".repeat(MAX_DATA_BYTES + 1)), Err(HostError::Invalid(_))));
    }

    #[test]
    fn cancel_stops_a_pending_timer() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        rt.block_on(async {
            let t = Timers::default();
            let id = t.set(Weak::new(), 60_000, "later".into()).unwrap();
            assert_eq!(t.pending(), 1);
            t.cancel(id);
            t.cancel(id);
            assert_eq!(t.pending(), 0);
            let _ = t.set(Weak::new(), 60_000, String::new()).unwrap();
            t.cancel_all();
            assert_eq!(t.pending(), 0);
        });
    }
}
