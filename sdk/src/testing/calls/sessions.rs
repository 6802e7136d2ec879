//! `sessions` over the sessions and accounts a test set up.

use super::account_jid;
use crate::Capability;
use crate::bindings::waxwing::plugin::sessions::SessionInfo;
use crate::bindings::waxwing::plugin::types::HostError;
use crate::jid::bare;
use crate::testing::state::with;

pub(crate) fn of(bare_jid: &str) -> Result<Vec<SessionInfo>, HostError> {
    with(|s| {
        s.need(Capability::Sessions)?;
        let jid = account_jid(bare_jid, &s.domain)?;
        Ok(s.sessions.iter().filter(|x| bare(&x.jid) == jid.as_str()).cloned().collect())
    })
}

pub(crate) fn account_exists(bare_jid: &str) -> Result<bool, HostError> {
    with(|s| {
        s.need(Capability::Sessions)?;
        let jid = account_jid(bare_jid, &s.domain)?;
        Ok(jid.node().is_some_and(|n| s.accounts.contains_key(n.as_str())))
    })
}

pub(crate) fn online(start_after: &str, limit: u32) -> Result<Vec<String>, HostError> {
    with(|s| {
        s.need(Capability::Sessions)?;
        let mut all: Vec<String> = s.sessions.iter().map(|x| x.jid.clone()).collect();
        all.sort();
        Ok(all
            .into_iter()
            .filter(|j| start_after.is_empty() || j.as_str() > start_after)
            .take(limit as usize)
            .collect())
    })
}

pub(crate) fn online_count() -> Result<u64, HostError> {
    with(|s| {
        s.need(Capability::Sessions)?;
        Ok(s.sessions.len() as u64)
    })
}
