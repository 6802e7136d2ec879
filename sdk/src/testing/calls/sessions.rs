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
