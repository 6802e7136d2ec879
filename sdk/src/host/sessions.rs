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

/// Full JIDs of every session on this host, in order, after `start_after`
/// (unless ""), at most `limit`; [`online_all`] pages through them all.
pub fn online(start_after: &str, limit: u32) -> Result<Vec<String>, HostError> {
    lift(sys::sessions::online(start_after, limit))
}

/// Every session's full JID on this host.
pub fn online_all() -> Result<Vec<String>, HostError> {
    super::paging::all_names(online)
}

/// How many sessions this host has.
pub fn online_count() -> Result<u64, HostError> {
    lift(sys::sessions::online_count())
}
