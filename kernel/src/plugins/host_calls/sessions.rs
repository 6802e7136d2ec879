//! `sessions` and `disco`: the kernel's view of this host's accounts and
//! sessions, and what its plugins declared.

use jid::Jid;

use super::super::bindings::waxwing::plugin::{disco, sessions};
use crate::plugins::SessionInfo;
use crate::plugins::bindings::types::{Capability, HostError};
use crate::plugins::store::StoreData;

fn to_wit_session(s: SessionInfo) -> sessions::SessionInfo {
    sessions::SessionInfo { jid: s.jid, priority: s.priority, available: s.available, presence: s.presence }
}

impl StoreData {
    /// `bare_jid` as an account of this host, or why it is not one.
    fn local_account(&self, bare_jid: &str) -> Result<Jid, HostError> {
        let jid = Jid::new(bare_jid).map_err(|e| HostError::Invalid(format!("{bare_jid:?} is not a JID: {e}")))?;
        if !jid.is_bare() || jid.node().is_none() {
            return Err(HostError::Invalid(format!("{bare_jid:?} is not a bare JID of an account (user@domain)")));
        }
        if jid.domain().as_str() != self.shared.domain {
            return Err(HostError::Invalid(format!("{bare_jid:?} is not on {}", self.shared.domain)));
        }
        Ok(jid)
    }

    pub(crate) fn sessions_of(&self, bare_jid: &str) -> Result<Vec<SessionInfo>, HostError> {
        self.need(Capability::Sessions)?;
        let jid = self.local_account(bare_jid)?;
        let kernel =
            self.shared.kernel.get().ok_or_else(|| self.internal("sessions.of", "the router is not attached"))?;
        Ok(kernel.sessions_of(jid.as_str()))
    }

    pub(crate) fn host_info(&self) -> disco::HostInfo {
        (**self.shared.host_info.load()).clone()
    }
}

impl sessions::Host for StoreData {
    fn of(&mut self, bare_jid: String) -> Result<Vec<sessions::SessionInfo>, HostError> {
        Ok(self.sessions_of(&bare_jid)?.into_iter().map(to_wit_session).collect())
    }

    fn online(&mut self, start_after: String, limit: u32) -> Result<Vec<String>, HostError> {
        self.need(Capability::Sessions)?;
        let kernel = self.shared.kernel.get().ok_or_else(|| self.internal("sessions.online", "no router"))?;
        Ok(page(kernel.online(&self.shared.domain), &start_after, limit))
    }

    fn online_count(&mut self) -> Result<u64, HostError> {
        self.need(Capability::Sessions)?;
        let kernel = self.shared.kernel.get().ok_or_else(|| self.internal("sessions.online-count", "no router"))?;
        Ok(kernel.online(&self.shared.domain).len() as u64)
    }

    fn account_exists(&mut self, bare_jid: String) -> Result<bool, HostError> {
        self.need(Capability::Sessions)?;
        let jid = self.local_account(&bare_jid)?;
        let node = jid.node().map(|n| n.as_str()).unwrap_or_default();
        self.shared.accounts.exists(&self.shared.domain, node).map_err(|e| self.internal("account lookup", e))
    }
}

/// The entries of a sorted list after `start_after`, at most `limit` (and
/// never more than a scan gives).
pub(super) fn page(sorted: Vec<String>, start_after: &str, limit: u32) -> Vec<String> {
    let from = if start_after.is_empty() { 0 } else { sorted.partition_point(|s| s.as_str() <= start_after) };
    sorted.into_iter().skip(from).take(limit.min(super::MAX_SCAN_LIMIT) as usize).collect()
}

impl disco::Host for StoreData {
    fn host(&mut self) -> Result<disco::HostInfo, HostError> {
        self.need(Capability::Disco)?;
        Ok(self.host_info())
    }
}
