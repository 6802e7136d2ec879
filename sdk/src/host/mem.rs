//! An ephemeral map shared by this plugin's instances on this host
//! (capability `mem`): it survives a hot swap, not a restart. Presence
//! caches, rate counters, occupants. Writes take effect at once.

use super::{lift, sys};
use crate::error::HostError;

/// The value under `key`, if any.
pub fn get(key: &str) -> Result<Option<Vec<u8>>, HostError> {
    lift(sys::mem::get(key))
}

/// Sets `key` to `value`.
pub fn put(key: &str, value: impl AsRef<[u8]>) -> Result<(), HostError> {
    lift(sys::mem::put(key, value.as_ref()))
}

/// Removes `key`; absent is fine.
pub fn delete(key: &str) -> Result<(), HostError> {
    lift(sys::mem::delete(key))
}

/// Adds `delta` to the little-endian i64 counter under `key` (missing
/// counts as 0) and returns the new value.
pub fn incr(key: &str, delta: i64) -> Result<i64, HostError> {
    lift(sys::mem::incr(key, delta))
}

/// Sets `key` to `value` only if it is absent; says whether it did. A lock
/// or a "first one wins" marker.
pub fn put_if_absent(key: &str, value: impl AsRef<[u8]>) -> Result<bool, HostError> {
    lift(sys::mem::put_if_absent(key, value.as_ref()))
}

/// Sets `key` to `new` (`None`: deletes it) only if its value is now
/// `expected` (`None`: absent); says whether it did. Like
/// [`crate::kv::compare_and_swap`], on the map.
pub fn compare_and_swap(key: &str, expected: Option<&[u8]>, new: Option<&[u8]>) -> Result<bool, HostError> {
    lift(sys::mem::compare_and_swap(key, expected, new))
}
