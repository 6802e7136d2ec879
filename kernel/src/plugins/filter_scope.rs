//! `filter-scope`: a plugin narrows its filters to the accounts that need
//! them, so the rest of the traffic never enters wasm. A blocklist matters
//! only for accounts that have one; carbons only for accounts with a session
//! that enabled them. Kept per plugin and vhost, across versions, and in
//! storage across restarts (`fscope/<vhost>/<plugin>/<bare JID>`): a 2.x
//! plugin declares the scope and the kernel keeps it; a 1.x plugin still
//! asks for it at run time (`restrict`). Since 2.1 a plugin may also watch
//! whatever other servers send (`watch_remote`), kept under [`REMOTE_KEY`].

use std::collections::HashSet;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};

use super::bindings::types;
use crate::storage::ScopedStorage;

/// Watches a scope holds at most; past it the scope is dropped and the
/// filter sees everything again: correct, only slower.
const MAX_WATCHED: usize = 1_000_000;

/// The stored key that says the plugin watches remote senders: no bare JID
/// starts with `@`, so it never names an account.
pub(crate) const REMOTE_KEY: &str = "@remote";

#[derive(Default)]
pub(crate) struct FilterScope {
    restricted: AtomicBool,
    watched: RwLock<HashSet<String>>,
    /// Stanzas from other servers pass whoever they are to.
    remote: AtomicBool,
}

impl FilterScope {
    /// Reads the watched accounts kept in `store`.
    pub fn load(&self, store: &ScopedStorage) -> anyhow::Result<()> {
        let mut after = Vec::new();
        loop {
            let page = store.scan(b"", &after, 1000)?;
            let Some((last, _)) = page.last() else { return Ok(()) };
            after = last.clone();
            for (k, _) in &page {
                match std::str::from_utf8(k) {
                    Ok(REMOTE_KEY) => {
                        self.watch_remote(true);
                    }
                    Ok(jid) => {
                        self.watch(jid, true);
                    }
                    Err(_) => {}
                }
            }
        }
    }

    /// Takes the mode a version declares: a 2.x plugin's description says
    /// whether its filters see watched accounts only; a 1.x plugin keeps
    /// whatever it asked for at run time.
    pub fn follow(&self, description: &types::Description, major: u64) {
        if major >= 2 {
            let watched = description.filter_scope == types::FilterScope::WatchedAccounts;
            self.restricted.store(watched, Ordering::Release);
        }
    }

    pub fn restrict(&self) {
        self.restricted.store(true, Ordering::Release);
    }

    /// False when the scope is full: it then stops restricting.
    pub fn watch(&self, bare_jid: &str, on: bool) -> bool {
        let mut w = self.watched.write().unwrap_or_else(|p| p.into_inner());
        if !on {
            w.remove(bare_jid);
            return true;
        }
        if w.len() >= MAX_WATCHED && !w.contains(bare_jid) {
            self.restricted.store(false, Ordering::Release);
            return false;
        }
        w.insert(bare_jid.to_string());
        true
    }

    /// Starts or stops admitting stanzas from other servers; true when
    /// that changed something.
    pub fn watch_remote(&self, on: bool) -> bool {
        self.remote.swap(on, Ordering::AcqRel) != on
    }

    /// Whether the plugin's filters want a stanza between these bare JIDs.
    #[cfg(test)]
    pub fn admits(&self, from: Option<&str>, to: Option<&str>) -> bool {
        self.admits_from(from, to, || false)
    }

    /// Like [`Self::admits`]; `from_remote` says whether the sender is on
    /// another server, asked only when that decides.
    pub fn admits_from(&self, from: Option<&str>, to: Option<&str>, from_remote: impl FnOnce() -> bool) -> bool {
        if !self.restricted.load(Ordering::Acquire) {
            return true;
        }
        {
            let w = self.watched.read().unwrap_or_else(|p| p.into_inner());
            if from.is_some_and(|f| w.contains(f)) || to.is_some_and(|t| w.contains(t)) {
                return true;
            }
        }
        self.remote.load(Ordering::Acquire) && from_remote()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unrestricted_until_asked() {
        let s = FilterScope::default();
        assert!(s.admits(Some("a@h"), Some("b@h")));
        assert!(s.watch("a@h", true));
        assert!(s.admits(Some("x@h"), None), "watching alone does not restrict");
        s.restrict();
        assert!(s.admits(Some("a@h"), Some("b@h")));
        assert!(s.admits(Some("b@h"), Some("a@h")));
        assert!(!s.admits(Some("b@h"), Some("c@h")));
        assert!(!s.admits(None, None));
        assert!(s.watch("a@h", false));
        assert!(!s.admits(Some("a@h"), Some("b@h")));
    }

    #[test]
    fn remote_senders_pass_only_when_watched() {
        let s = FilterScope::default();
        s.restrict();
        assert!(!s.admits_from(Some("x@remote"), Some("b@h"), || true));
        assert!(s.watch_remote(true));
        assert!(!s.watch_remote(true), "no change the second time");
        assert!(s.admits_from(Some("x@remote"), Some("b@h"), || true));
        assert!(!s.admits_from(Some("a@h"), Some("b@h"), || false), "local traffic stays out");
        let asked = std::cell::Cell::new(false);
        s.watch("b@h", true);
        assert!(s.admits_from(Some("a@h"), Some("b@h"), || {
            asked.set(true);
            false
        }));
        assert!(!asked.get(), "a watched account decides without asking where the sender is");
        assert!(s.watch_remote(false));
        assert!(!s.admits_from(Some("x@remote"), Some("c@h"), || true));
    }
}
