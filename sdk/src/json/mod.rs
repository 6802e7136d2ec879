//! A small JSON model for plugin config: the kernel hands `init` the
//! plugin's config table as JSON, and `describe` states setting defaults in
//! it; pulling serde into every plugin would cost more than the whole plugin.

mod parse;
mod write;

use std::fmt;

/// A parsed JSON value. Objects keep their keys in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// The number as written (already checked to be a JSON number): parsing
    /// floats costs a plugin ~15 KB of code and tables, so it waits until a
    /// caller asks for a float.
    Number(String),
    /// A string, unescaped.
    String(String),
    /// An array.
    Array(Vec<Json>),
    /// An object's members in document order.
    Object(Vec<(String, Json)>),
}

/// Why a JSON document could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    /// Byte offset where reading stopped.
    pub offset: usize,
    /// What was wrong there.
    pub message: &'static str,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.message, self.offset)
    }
}

impl std::error::Error for JsonError {}

/// Config comes from the operator, but nesting is still bounded so a hostile
/// document cannot exhaust the plugin's stack.
const MAX_DEPTH: usize = 64;

static NULL: Json = Json::Null;

impl Json {
    /// Reads a JSON document; serializing back is `to_string()`.
    pub fn parse(text: &str) -> Result<Json, JsonError> {
        parse::parse(text)
    }

    /// The member `key` of an object; `Json::Null` when absent or not an object,
    /// so lookups chain: `config.get("a").get("b").as_str()`.
    pub fn get(&self, key: &str) -> &Json {
        match self {
            Json::Object(members) => members.iter().rev().find(|(k, _)| k == key).map_or(&NULL, |(_, v)| v),
            _ => &NULL,
        }
    }

    /// Whether this is `null` (what [`get`](Self::get) gives for a missing key).
    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Json::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The number as a float, if this is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Number(n) => n.parse().ok(),
            _ => None,
        }
    }

    /// The number, if written as an integer (no fraction or exponent) that fits.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Json::Number(n) => n.parse().ok(),
            _ => None,
        }
    }

    /// A count setting of a config table: `key` as a whole number from 1 to
    /// `max`, `default` when absent; otherwise the message the operator sees,
    /// naming the key.
    pub fn count_setting(&self, key: &str, default: u64, max: u64) -> Result<u64, String> {
        let value = self.get(key);
        if value.is_null() {
            return Ok(default);
        }
        match value.as_i64().and_then(|n| u64::try_from(n).ok()) {
            Some(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(format!("config '{key}' must be a whole number from 1 to {max}")),
        }
    }

    /// A size setting in bytes: like [`count_setting`](Self::count_setting),
    /// up to 16 MiB, far past what a plugin's memory cap lets it hold at once.
    pub fn byte_limit(&self, key: &str, default: usize) -> Result<usize, String> {
        const MAX: u64 = 16 * 1024 * 1024;
        self.count_setting(key, default as u64, MAX).map(|n| n as usize)
    }

    /// The items, if this is an array.
    pub fn as_array(&self) -> Option<&[Json]> {
        match self {
            Json::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The members, if this is an object.
    pub fn as_object(&self) -> Option<&[(String, Json)]> {
        match self {
            Json::Object(members) => Some(members),
            _ => None,
        }
    }

    /// A string or an array of strings, as a list: config keys that take one
    /// value or several. Non-string array members are skipped.
    pub fn as_str_list(&self) -> Vec<String> {
        match self {
            Json::String(s) => vec![s.clone()],
            Json::Array(items) => items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
            _ => Vec::new(),
        }
    }

    /// A declared boolean setting of a config table. The kernel checked the
    /// table against `describe()`'s settings and filled in defaults, so this
    /// fails only when `key` was not declared as a boolean; the message names
    /// the key.
    pub fn require_bool(&self, key: &str) -> Result<bool, String> {
        self.get(key).as_bool().ok_or_else(|| format!("config '{key}' is not a boolean"))
    }

    /// A declared integer or byte-size setting; see
    /// [`require_bool`](Self::require_bool).
    pub fn require_i64(&self, key: &str) -> Result<i64, String> {
        self.get(key).as_i64().ok_or_else(|| format!("config '{key}' is not an integer"))
    }

    /// A declared text or choice setting; see [`require_bool`](Self::require_bool).
    pub fn require_str(&self, key: &str) -> Result<&str, String> {
        self.get(key).as_str().ok_or_else(|| format!("config '{key}' is not a string"))
    }

    /// A declared text-list setting; see [`require_bool`](Self::require_bool).
    pub fn require_str_list(&self, key: &str) -> Result<Vec<String>, String> {
        let items = self.get(key).as_array().ok_or_else(|| format!("config '{key}' is not a list"))?;
        items
            .iter()
            .map(|v| {
                v.as_str().map(str::to_owned).ok_or_else(|| format!("config '{key}' has an item that is not a string"))
            })
            .collect()
    }
}

impl From<bool> for Json {
    fn from(b: bool) -> Json {
        Json::Bool(b)
    }
}

impl From<i64> for Json {
    fn from(n: i64) -> Json {
        Json::Number(n.to_string())
    }
}

impl From<&str> for Json {
    fn from(s: &str) -> Json {
        Json::String(s.to_string())
    }
}

impl From<String> for Json {
    fn from(s: String) -> Json {
        Json::String(s)
    }
}

impl<T: Into<Json>> From<Vec<T>> for Json {
    fn from(items: Vec<T>) -> Json {
        Json::Array(items.into_iter().map(Into::into).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_settings_are_whole_numbers_in_range() {
        let cfg = Json::parse(r#"{"n": 5, "zero": 0, "neg": -1, "frac": 1.5, "text": "5", "big": 11}"#).unwrap();
        assert_eq!(cfg.count_setting("n", 7, 10), Ok(5));
        assert_eq!(cfg.count_setting("absent", 7, 10), Ok(7));
        for bad in ["zero", "neg", "frac", "text", "big"] {
            let err = cfg.count_setting(bad, 7, 10).unwrap_err();
            assert!(err.contains(&format!("'{bad}'")) && err.contains("1 to 10"), "{err}");
        }
        assert_eq!(cfg.byte_limit("n", 64), Ok(5));
        assert_eq!(cfg.byte_limit("absent", 64), Ok(64));
        assert!(Json::parse(r#"{"b": 16777217}"#).unwrap().byte_limit("b", 64).is_err());
    }

    #[test]
    fn reads_a_config_table() {
        let j = Json::parse(
            r#" {"version": "1.2", "show_os": true, "n": -12.5e1, "list": ["a", "b", 3], "o": {"x": null}} "#,
        )
        .unwrap();
        assert_eq!(j.get("version").as_str(), Some("1.2"));
        assert_eq!(j.get("show_os").as_bool(), Some(true));
        assert_eq!(j.get("n").as_f64(), Some(-125.0));
        assert_eq!(j.get("n").as_i64(), None, "exponent form is not an integer literal");
        assert_eq!(Json::parse("-42").unwrap().as_i64(), Some(-42));
        assert_eq!(Json::parse("99999999999999999999").unwrap().as_i64(), None);
        assert_eq!(Json::parse("0.5").unwrap().as_f64(), Some(0.5));
        assert_eq!(j.get("list").as_str_list(), vec!["a".to_string(), "b".to_string()]);
        assert!(j.get("o").get("x").is_null());
        assert!(j.get("missing").get("deeper").is_null());
        assert_eq!(j.get("version").as_str_list(), vec!["1.2".to_string()]);
    }

    #[test]
    fn decodes_escapes_and_surrogates() {
        let j = Json::parse(r#""a\"b\\c\/\n\u00e9\ud83d\ude00""#).unwrap();
        assert_eq!(j.as_str(), Some("a\"b\\c/\né😀"));
        assert!(Json::parse(r#""\ud83d""#).is_err());
        assert!(Json::parse(r#""\udc00""#).is_err());
    }

    #[test]
    fn refuses_malformed_documents() {
        for bad in ["", "{", "[1,]", "{\"a\" 1}", "01", "1.", "-", "tru", "\"a", "[1] 2", "{\"a\":1,}", "\"\u{1}\""] {
            assert!(Json::parse(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn bounds_nesting() {
        let deep = "[".repeat(MAX_DEPTH + 2) + &"]".repeat(MAX_DEPTH + 2);
        assert_eq!(Json::parse(&deep).map_err(|e| e.message), Err("nested too deeply"));
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(Json::parse(&ok).is_ok());
    }

    #[test]
    fn required_settings_name_the_key() {
        let cfg = Json::parse(r#"{"open": true, "max": 10, "name": "x", "list": ["a", "b"], "bad": [1]}"#).unwrap();
        assert_eq!(cfg.require_bool("open"), Ok(true));
        assert_eq!(cfg.require_i64("max"), Ok(10));
        assert_eq!(cfg.require_str("name"), Ok("x"));
        assert_eq!(cfg.require_str_list("list"), Ok(vec!["a".to_string(), "b".to_string()]));
        assert_eq!(cfg.require_bool("max"), Err("config 'max' is not a boolean".to_string()));
        assert!(cfg.require_str_list("bad").unwrap_err().contains("'bad'"));
        assert!(cfg.require_str("absent").unwrap_err().contains("'absent'"));
    }

    #[test]
    fn later_duplicate_keys_win() {
        let j = Json::parse(r#"{"a": 1, "a": 2}"#).unwrap();
        assert_eq!(j.get("a").as_i64(), Some(2));
    }
}
