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
