//! The kernel's live view of the accounts and client sessions on this host
//! (capability `sessions`).

use super::{lift, sys};
use crate::error::HostError;

pub use crate::bindings::waxwing::plugin::sessions::SessionInfo;

/// The online sessions of the account `bare_jid` (user@this-host).
pub fn of(bare_jid: &str) -> Result<Vec<SessionInfo>, HostError> {
    lift(sys::sessions::of(bare_jid))
}

/// Whether the account `bare_jid` exists on this host.
pub fn account_exists(bare_jid: &str) -> Result<bool, HostError> {
    lift(sys::sessions::account_exists(bare_jid))
}
