//! The plugin's config: `max_messages_per_user` (a positive whole number,
//! default 1000), how many messages one account may have waiting.

use waxwing_sdk::Json;

pub const DEFAULT_MAX_MESSAGES: u64 = 1000;

/// The quota from `config`, or why the config is unusable.
pub fn max_messages(config: &Json) -> Result<u64, String> {
    let value = config.get("max_messages_per_user");
    if value.is_null() {
        return Ok(DEFAULT_MAX_MESSAGES);
    }
    match value.as_i64() {
        Some(n) if n >= 1 && value.as_f64() == Some(n as f64) => Ok(n as u64),
        _ => Err("config 'max_messages_per_user' must be a whole number of at least 1".into()),
    }
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
