//! The plugin's config: `max_messages_per_user` (a positive whole number,
//! default 1000), how many messages one account may have waiting.

use waxwing_sdk::Json;

pub const DEFAULT_MAX_MESSAGES: u64 = 1000;
/// A mailbox, not an archive: past this an account's queue is a store of
/// its own (MAM's job), and delivering it at login would flood the client.
const HIGHEST_MAX_MESSAGES: u64 = 1_000_000;

/// The quota from `config`, or why the config is unusable.
pub fn max_messages(config: &Json) -> Result<u64, String> {
    config.count_setting("max_messages_per_user", DEFAULT_MAX_MESSAGES, HIGHEST_MAX_MESSAGES)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<u64, String> {
        max_messages(&Json::parse(text).unwrap())
    }

    #[test]
    fn default_and_explicit_quota() {
        assert_eq!(read("{}"), Ok(DEFAULT_MAX_MESSAGES));
        assert_eq!(read(r#"{"max_messages_per_user": 2}"#), Ok(2));
    }

    #[test]
    fn bad_quotas_refuse_the_load() {
        for bad in ["0", "-3", "1.5", "\"ten\"", "true", "[]"] {
            assert!(read(&format!("{{\"max_messages_per_user\": {bad}}}")).is_err(), "{bad}");
        }
    }
}
