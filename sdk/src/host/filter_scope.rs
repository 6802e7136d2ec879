//! The accounts this plugin's filters see, when it declared
//! [`crate::FilterScope::WatchedAccounts`]: only stanzas from or to a watched
//! account enter its filter (and, with [`watch_remote`], every stanza from
//! another server), the rest of the traffic never enters wasm. The kernel
//! keeps the set per plugin and host, across hot swaps and restarts.
//! Always available.

use super::{lift, sys};
use crate::error::HostError;

/// Starts (`on`) or stops watching an account of this host (bare JID).
pub fn watch(bare_jid: &str, on: bool) -> Result<(), HostError> {
    lift(sys::filter_scope::watch(bare_jid, on))
}

/// Also admits (`on`), or stops admitting, every stanza from a domain this
/// server does not serve itself: what other servers send, whoever it is
/// to. With no account watched, the filters see remote traffic only (remote
/// contacts' presence, say) and none of the local traffic. Kept like
/// [`watch`]; calling it again with the same value writes nothing, so
/// `init` may call it. Needs a 2.1 kernel.
pub fn watch_remote(on: bool) -> Result<(), HostError> {
    lift(sys::filter_scope::watch_remote(on))
}
