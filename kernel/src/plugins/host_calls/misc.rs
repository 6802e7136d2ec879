//! The small interfaces: `timers`, `jid`, `host`, `filter-scope`.

use ring::rand::{SecureRandom as _, SystemRandom};

use super::super::bindings::waxwing::plugin::{filter_scope, host, jid as wit_jid, timers};
use super::{MAX_LOG_BYTES, MAX_RANDOM_BYTES};
use crate::plugins::bindings::types::{Capability, HostError};
use crate::plugins::filter_scope::REMOTE_KEY;
use crate::plugins::store::StoreData;

impl timers::Host for StoreData {
    fn set(&mut self, delay_ms: u64, data: String) -> Result<u64, HostError> {
        self.need(Capability::Timers)?;
        let entry = self.shared.entry.get().cloned().unwrap_or_default();
        if entry.strong_count() == 0 {
            // Only while a plugin's first version loads: nothing could receive the event.
            return Err(HostError::Internal("timers cannot be set before the plugin has loaded".into()));
        }
        self.shared.timers.set(entry, delay_ms, data)
    }

    fn cancel(&mut self, id: u64) -> Result<(), HostError> {
        self.need(Capability::Timers)?;
        self.shared.timers.cancel(id);
        Ok(())
    }
}

/// JIDs as the kernel prepares them (RFC 7622 through the `jid` crate), so
/// plugins compare addresses exactly as routing does.
impl wit_jid::Host for StoreData {
    fn prep(&mut self, jid: String) -> Result<String, String> {
        jid::Jid::new(&jid).map(|j| j.to_string()).map_err(|e| format!("{jid:?} is not a JID: {e}"))
    }

    fn parts(&mut self, jid: String) -> Result<wit_jid::JidParts, String> {
        let j = jid::Jid::new(&jid).map_err(|e| format!("{jid:?} is not a JID: {e}"))?;
        Ok(wit_jid::JidParts {
            node: j.node().map(|n| n.to_string()),
            domain: j.domain().to_string(),
            resource: j.resource().map(|r| r.to_string()),
        })
    }
}

impl StoreData {
    pub(crate) fn watch(&mut self, bare_jid: &str, on: bool) -> Result<(), HostError> {
        let bare = jid::BareJid::new(bare_jid)
            .map_err(|e| HostError::Invalid(format!("{bare_jid:?} is not a bare JID: {e}")))?;
        if bare.domain().as_str() != self.shared.domain {
            return Err(HostError::Invalid(format!("{bare_jid:?} is not on {}", self.shared.domain)));
        }
        if !self.shared.filter_scope.watch(bare.as_str(), on) {
            return Err(HostError::Quota("the filter scope is full; the filter now sees every stanza".into()));
        }
        // Kept with the call's other writes, so a restart finds the same scope.
        let key = self.shared.filter_scope_store.full(bare.as_str().as_bytes());
        self.write(vec![(key, on.then(Vec::new))])
    }

    /// Since 2.1. Written only when it changes: a plugin may say so in
    /// every `init`.
    pub(crate) fn watch_remote(&mut self, on: bool) -> Result<(), HostError> {
        if !self.shared.filter_scope.watch_remote(on) {
            return Ok(());
        }
        let key = self.shared.filter_scope_store.full(REMOTE_KEY.as_bytes());
        self.write(vec![(key, on.then(Vec::new))])
    }
}

impl filter_scope::Host for StoreData {
    fn watch(&mut self, bare_jid: String, on: bool) -> Result<(), HostError> {
        StoreData::watch(self, &bare_jid, on)
    }

    fn watch_remote(&mut self, on: bool) -> Result<(), HostError> {
        StoreData::watch_remote(self, on)
    }
}

impl host::Host for StoreData {
    fn log(&mut self, level: host::Level, message: String) {
        let mut end = message.len().min(MAX_LOG_BYTES);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let (plugin, domain, msg) = (&self.shared.name, &self.shared.domain, &message[..end]);
        match level {
            host::Level::Trace => tracing::trace!(plugin = %plugin, domain = %domain, "{msg}"),
            host::Level::Debug => tracing::debug!(plugin = %plugin, domain = %domain, "{msg}"),
            host::Level::Info => tracing::info!(plugin = %plugin, domain = %domain, "{msg}"),
            host::Level::Warn => tracing::warn!(plugin = %plugin, domain = %domain, "{msg}"),
            host::Level::Error => tracing::error!(plugin = %plugin, domain = %domain, "{msg}"),
        }
    }

    fn now_ms(&mut self) -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
    }

    /// More than the maximum yields the maximum. Should the system's source
    /// ever fail, the list is empty: short, never predictable.
    fn random(&mut self, len: u32) -> Vec<u8> {
        let mut buf = vec![0u8; len.min(MAX_RANDOM_BYTES) as usize];
        match SystemRandom::new().fill(&mut buf) {
            Ok(()) => buf,
            Err(_) => {
                tracing::error!(plugin = %self.shared.name, "the system random source failed");
                Vec::new()
            }
        }
    }

    fn domain(&mut self) -> String {
        self.shared.domain.clone()
    }

    fn is_admin(&mut self, jid: String) -> bool {
        self.vhost().is_some_and(|v| v.is_admin(&jid))
    }
}
