//! The one setting: how large one stored element may be.

use waxwing_sdk::Json;

/// Bookmarks and client settings, what clients keep here, are small; 64 KiB
/// leaves room for large bookmark lists without making storage a file store.
pub const DEFAULT_MAX_BYTES: usize = 64 * 1024;

/// `max_bytes` from the config, the default when absent.
pub fn max_bytes(config: &Json) -> Result<usize, String> {
    config.byte_limit("max_bytes", DEFAULT_MAX_BYTES)
}
