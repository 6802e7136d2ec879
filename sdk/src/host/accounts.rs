//! Account management (capability `accounts`, which an operator grants only
//! by name). Usernames are the node part; the kernel prepares them.

use super::{lift, sys};
use crate::error::HostError;

/// Whether the account `username` exists on this host.
pub fn exists(username: &str) -> Result<bool, HostError> {
    lift(sys::accounts::exists(username))
}

/// Creates an account; subscribers hear `user-created`.
pub fn create(username: &str, password: &str) -> Result<(), HostError> {
    lift(sys::accounts::create(username, password))
}

/// Replaces an account's password.
pub fn set_password(username: &str, password: &str) -> Result<(), HostError> {
    lift(sys::accounts::set_password(username, password))
}

/// Deletes an account. Once the call's replies are sent, its sessions are
/// closed and subscribers hear `user-deleted`.
pub fn delete(username: &str) -> Result<(), HostError> {
    lift(sys::accounts::delete(username))
}

/// Usernames of this host, in order, after `start_after` (unless ""), at
/// most `limit` (1000 at most).
pub fn list(start_after: &str, limit: u32) -> Result<Vec<String>, HostError> {
    lift(sys::accounts::list(start_after, limit))
}

/// How many accounts this host has.
pub fn count() -> Result<u64, HostError> {
    lift(sys::accounts::count())
}

/// Closes the session of `full_jid` (of this host) with `policy-violation`
/// and `reason`; false when there is none.
pub fn end_session(full_jid: &str, reason: &str) -> Result<bool, HostError> {
    lift(sys::accounts::end_session(full_jid, reason))
}

/// Disables an account (its sessions are closed; logging in fails with
/// SASL `account-disabled`) or enables it again.
pub fn set_disabled(username: &str, disabled: bool) -> Result<(), HostError> {
    lift(sys::accounts::set_disabled(username, disabled))
}

/// Whether an account is disabled.
pub fn is_disabled(username: &str) -> Result<bool, HostError> {
    lift(sys::accounts::is_disabled(username))
}

/// Every username of this host, in order, paged through [`list`].
pub fn list_all() -> Result<Vec<String>, HostError> {
    super::paging::all_names(list)
}
