//! The plugin's config: how large a roster may grow. Every listed item
//! costs storage and a line in each roster result, so a user cannot add
//! contacts without bound.

use waxwing_sdk::Json;

/// `max_items` when the operator sets none.
const DEFAULT_MAX_ITEMS: u64 = 1000;
/// Past this a roster result would not fit the kernel's stanza size limit.
const HIGHEST_MAX_ITEMS: u64 = 10_000;

/// Reads `max_items` from the plugin's config table; refuses nonsense.
pub fn max_items_from(config: &Json) -> Result<u64, String> {
    config.count_setting("max_items", DEFAULT_MAX_ITEMS, HIGHEST_MAX_ITEMS)
}

/// The configured limit (checked by `init`, so a bad value cannot get here).
pub fn max_items() -> u64 {
    max_items_from(&waxwing_sdk::config()).unwrap_or(DEFAULT_MAX_ITEMS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_checks_and_defaults_max_items() {
        let parse = |s: &str| max_items_from(&Json::parse(s).unwrap());
        assert_eq!(parse("{}"), Ok(DEFAULT_MAX_ITEMS));
        assert_eq!(parse("{\"max_items\": 50}"), Ok(50));
        for bad in ["{\"max_items\": 0}", "{\"max_items\": -3}", "{\"max_items\": \"many\"}", "{\"max_items\": 10001}"]
        {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
