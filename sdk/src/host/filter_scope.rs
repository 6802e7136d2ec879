//! The accounts this plugin's filters see, when it declared
//! [`crate::FilterScope::WatchedAccounts`]: only stanzas from or to a watched
//! account enter its filter, the rest of the traffic never enters wasm. The
//! kernel keeps the set per plugin and host, across hot swaps and restarts.
//! Always available.

use super::{lift, sys};
use crate::error::HostError;

/// Starts (`on`) or stops watching an account of this host (bare JID).
pub fn watch(bare_jid: &str, on: bool) -> Result<(), HostError> {
    lift(sys::filter_scope::watch(bare_jid, on))
}
