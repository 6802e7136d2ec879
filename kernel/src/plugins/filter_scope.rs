//! `filter-scope`: a plugin narrows its filters to the accounts that need
//! them, so the rest of the traffic never enters wasm. A blocklist matters
//! only for accounts that have one; carbons only for accounts with a session
//! that enabled them. Kept per plugin and vhost, across versions, and in
//! storage across restarts (`fscope/<vhost>/<plugin>/<bare JID>`): a 2.x
//! plugin declares the scope and the kernel keeps it; a 1.x plugin still
//! asks for it at run time (`restrict`).

use std::collections::HashSet;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};

use super::bindings::types;
use crate::storage::ScopedStorage;

/// Watches a scope holds at most; past it the scope is dropped and the
/// filter sees everything again: correct, only slower.
const MAX_WATCHED: usize = 1_000_000;

#[derive(Default)]
pub(crate) struct FilterScope {
    restricted: AtomicBool,
    watched: RwLock<HashSet<String>>,
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
                if let Ok(jid) = std::str::from_utf8(k) {
                    self.watch(jid, true);
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

    /// Whether the plugin's filters want a stanza between these bare JIDs.
    pub fn admits(&self, from: Option<&str>, to: Option<&str>) -> bool {
        if !self.restricted.load(Ordering::Acquire) {
            return true;
        }
        let w = self.watched.read().unwrap_or_else(|p| p.into_inner());
        from.is_some_and(|f| w.contains(f)) || to.is_some_and(|t| w.contains(t))
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
}
