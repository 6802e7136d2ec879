//! The one setting: how large one stored element may be.

use waxwing_sdk::Json;

/// Bookmarks and client settings, what clients keep here, are small; 64 KiB
/// leaves room for large bookmark lists without making storage a file store.
pub const DEFAULT_MAX_BYTES: usize = 64 * 1024;

/// Beyond any sensible size for this store; bounds what a typo can allow.
const HIGHEST_MAX_BYTES: u64 = 16 * 1024 * 1024;

/// `max_bytes` from the config, the default when absent.
pub fn max_bytes(config: &Json) -> Result<usize, String> {
    config.count_setting("max_bytes", DEFAULT_MAX_BYTES as u64, HIGHEST_MAX_BYTES).map(|n| n as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_max_bytes() {
        let cfg = |s: &str| Json::parse(s).unwrap();
        assert_eq!(max_bytes(&cfg("{}")), Ok(DEFAULT_MAX_BYTES));
        assert_eq!(max_bytes(&cfg(r#"{"max_bytes": 100}"#)), Ok(100));
        for bad in [r#"{"max_bytes": 0}"#, r#"{"max_bytes": -1}"#, r#"{"max_bytes": "1k"}"#, r#"{"max_bytes": 1.5}"#] {
            assert!(max_bytes(&cfg(bad)).is_err(), "{bad}");
        }
    }
}
