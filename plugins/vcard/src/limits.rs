//! The one setting: how large a stored vCard may be.

use waxwing_sdk::Json;

/// Avatars belong in XEP-0084 or XEP-0153 hashes, not inline in a vCard of
/// megabytes; 64 KiB still fits a small inline photo.
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
