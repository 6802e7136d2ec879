//! `filter-scope`: the watched set, for a test to read back.

use crate::bindings::waxwing::plugin::types::HostError;
use crate::testing::state::with;

pub(crate) fn watch(bare_jid: &str, on: bool) -> Result<(), HostError> {
    let bare = ::jid::BareJid::new(bare_jid)
        .map_err(|e| HostError::Invalid(format!("{bare_jid:?} is not a bare JID: {e}")))?;
    with(|s| {
        if bare.domain().as_str() != s.domain {
            return Err(HostError::Invalid(format!("{bare_jid:?} is not on {}", s.domain)));
        }
        let jid = bare.to_string();
        if on {
            s.watched.insert(jid);
        } else {
            s.watched.remove(&jid);
        }
        Ok(())
    })
}

pub(crate) fn watch_remote(on: bool) -> Result<(), HostError> {
    with(|s| s.watches_remote = on);
    Ok(())
}
