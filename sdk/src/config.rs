//! The plugin's config, kept for handlers to read after `init`.
//!
//! The kernel calls `init` on every instance before it serves, so the config
//! is per-instance scratch like the rest of linear memory: it never has to
//! survive a recycle or a swap.

use std::cell::RefCell;
use std::rc::Rc;

use crate::json::Json;

thread_local! {
    static CONFIG: RefCell<Rc<Json>> = RefCell::new(Rc::new(Json::Object(Vec::new())));
}

/// The config `init` received (an empty object before `init`, or when the
/// operator gave none).
pub fn config() -> Rc<Json> {
    CONFIG.with(|c| c.borrow().clone())
}

pub(crate) fn set(config: Json) {
    CONFIG.with(|c| *c.borrow_mut() = Rc::new(config));
}

/// What `init` does with its argument: reads it, keeps it for handlers, then
/// hands it to the plugin's own `init`.
pub(crate) fn load<R>(text: &str, init: impl FnOnce(&Json) -> Result<R, String>) -> Result<R, String> {
    set(parse(text)?);
    init(&config())
}

/// Reads the JSON `init` was given: empty means no config at all.
pub(crate) fn parse(text: &str) -> Result<Json, String> {
    if text.trim().is_empty() {
        return Ok(Json::Object(Vec::new()));
    }
    Json::parse(text).map_err(|e| format!("plugin config is not valid JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_is_an_empty_object() {
        assert_eq!(parse("  ").unwrap(), Json::Object(Vec::new()));
        assert!(parse("{").unwrap_err().contains("not valid JSON"));
    }

    #[test]
    fn load_keeps_the_config_before_init_sees_it() {
        let seen = load(r#"{"k": 1}"#, |c| Ok(c.get("k").as_i64())).unwrap();
        assert_eq!(seen, Some(1));
        assert_eq!(config().get("k").as_i64(), Some(1));
        assert!(load("[", |_| Ok(())).unwrap_err().contains("not valid JSON"));
    }

    #[test]
    fn set_replaces_what_handlers_see() {
        set(parse(r#"{"a": "b"}"#).unwrap());
        assert_eq!(config().get("a").as_str(), Some("b"));
        set(parse("{}").unwrap());
        assert!(config().get("a").is_null());
    }
}
