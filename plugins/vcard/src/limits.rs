//! The one setting: how large a stored vCard may be.

use waxwing_sdk::Json;

/// Avatars belong in XEP-0084 or XEP-0153 hashes, not inline in a vCard of
/// megabytes; 64 KiB still fits a small inline photo.
pub const DEFAULT_MAX_BYTES: usize = 64 * 1024;

/// `max_bytes` from the config, the default when absent.
pub fn max_bytes(config: &Json) -> Result<usize, String> {
    config.byte_limit("max_bytes", DEFAULT_MAX_BYTES)
}
