//! A plugin's config table checked against the settings its `describe()`
//! declares, like ejabberd's `mod_opt_type`: an unknown key or a value of the
//! wrong type is refused with a message naming the plugin, the key and the
//! fix, at start, in `check-config` and on reload alike. What the plugin's
//! `init` receives is the checked table as JSON, every declared key present.

use anyhow::{anyhow, bail};
use serde_json::{Map, Value};

use super::bindings::types::{IntegerRange, Setting, SettingType};

/// The config as `init` gets it, or what is wrong with it.
/// The caller's context names the vhost and the plugin.
pub(crate) fn check(settings: &[Setting], table: &toml::Table) -> anyhow::Result<String> {
    let given = serde_json::to_value(table).map_err(|e| anyhow!("its config cannot be read as JSON: {e}"))?;
    let Value::Object(given) = given else { bail!("its config is not a table") };
    for key in given.keys() {
        if !settings.iter().any(|s| &s.key == key) {
            let known: Vec<&str> = settings.iter().map(|s| s.key.as_str()).collect();
            let known = if known.is_empty() {
                "it takes no settings".to_string()
            } else {
                format!("its settings are {}", known.join(", "))
            };
            let hint = closest(key, settings).map(|k| format!(" (did you mean {k:?}?)")).unwrap_or_default();
            bail!("unknown setting {key:?}{hint}; {known}");
        }
    }
    let mut out = Map::new();
    for s in settings {
        let value = match given.get(&s.key) {
            Some(v) => value_of(s, v)
                .map_err(|why| anyhow!("setting {:?} {why} (it is {}: {})", s.key, describe_type(&s.type_), s.doc))?,
            None => default_of(s).map_err(|why| anyhow!("setting {:?}: its declared default {why}", s.key))?,
        };
        out.insert(s.key.clone(), value);
    }
    Ok(Value::Object(out).to_string())
}

/// Checks what a plugin declared, so that a bad declaration is the plugin
/// author's error at load, not the operator's later.
pub(crate) fn check_declared(plugin: &str, settings: &[Setting]) -> anyhow::Result<()> {
    let mut seen = std::collections::HashSet::new();
    for s in settings {
        if s.key.is_empty() || !seen.insert(s.key.as_str()) {
            bail!("plugin {plugin} declares the setting {:?} twice or with no name", s.key);
        }
        if let SettingType::Integer(r) | SettingType::ByteSize(r) = &s.type_
            && r.min > r.max
        {
            bail!("plugin {plugin} declares setting {:?} with an empty range {}..={}", s.key, r.min, r.max);
        }
        default_of(s)
            .map_err(|why| anyhow!("plugin {plugin} declares setting {:?} with a default that {why}", s.key))?;
    }
    Ok(())
}

/// A setting's declared default as a checked value, or what is wrong with it.
fn default_of(s: &Setting) -> Result<Value, String> {
    let v: Value = serde_json::from_str(&s.default).map_err(|e| format!("is not JSON: {e}"))?;
    value_of(s, &v)
}

fn describe_type(t: &SettingType) -> String {
    match t {
        SettingType::Boolean => "true or false".into(),
        SettingType::Integer(r) => format!("an integer from {} to {}", r.min, r.max),
        SettingType::Text => "a string".into(),
        SettingType::TextList => "a list of strings".into(),
        SettingType::Choice(c) => {
            format!("one of {}", c.iter().map(|x| format!("{x:?}")).collect::<Vec<_>>().join(", "))
        }
        SettingType::ByteSize(r) => format!("a size from {} to {} bytes, like 65536 or \"64 KiB\"", r.min, r.max),
        SettingType::Any => "any value".into(),
    }
}

fn in_range(n: i64, r: &IntegerRange) -> Result<Value, String> {
    if n < r.min || n > r.max {
        return Err(format!("is {n}, outside {}..={}", r.min, r.max));
    }
    Ok(Value::from(n))
}

fn value_of(s: &Setting, v: &Value) -> Result<Value, String> {
    let wrong = || Err(format!("must be {}, not {v}", describe_type(&s.type_)));
    match &s.type_ {
        SettingType::Any => Ok(v.clone()),
        SettingType::Boolean => {
            if v.is_boolean() {
                Ok(v.clone())
            } else {
                wrong()
            }
        }
        SettingType::Text => {
            if v.is_string() {
                Ok(v.clone())
            } else {
                wrong()
            }
        }
        SettingType::TextList => match v.as_array() {
            Some(items) if items.iter().all(Value::is_string) => Ok(v.clone()),
            _ => wrong(),
        },
        SettingType::Choice(choices) => match v.as_str() {
            Some(c) if choices.iter().any(|x| x == c) => Ok(v.clone()),
            _ => wrong(),
        },
        SettingType::Integer(r) => match v.as_i64() {
            Some(n) => in_range(n, r),
            None => wrong(),
        },
        SettingType::ByteSize(r) => {
            let n = match v {
                Value::Number(n) => n.as_i64(),
                Value::String(text) => parse_size(text),
                _ => None,
            };
            match n {
                Some(n) => in_range(n, r),
                None => wrong(),
            }
        }
    }
}

/// "65536", "64 KiB", "10MB", "1 GiB": binary (KiB) and decimal (kB) units.
pub(crate) fn parse_size(text: &str) -> Option<i64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: i64 = digits.parse().ok()?;
    let factor: i64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1000,
        "kib" | "k" => 1 << 10,
        "mb" => 1_000_000,
        "mib" | "m" => 1 << 20,
        "gb" => 1_000_000_000,
        "gib" | "g" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(factor)
}

/// A declared key one edit away from `key` (a typo), for the error message.
fn closest<'a>(key: &str, settings: &'a [Setting]) -> Option<&'a str> {
    settings.iter().map(|s| s.key.as_str()).find(|k| edit_distance(k, key) <= 2)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(key: &str, t: SettingType, default: &str) -> Setting {
        Setting { key: key.into(), type_: t, default: default.into(), doc: format!("the {key}") }
    }

    fn settings() -> Vec<Setting> {
        vec![
            setting("open", SettingType::Boolean, "false"),
            setting("max", SettingType::Integer(IntegerRange { min: 1, max: 100 }), "10"),
            setting("quota", SettingType::ByteSize(IntegerRange { min: 0, max: 1 << 30 }), "\"1 MiB\""),
            setting("mode", SettingType::Choice(vec!["a".into(), "b".into()]), "\"a\""),
            setting("names", SettingType::TextList, "[]"),
        ]
    }

    fn table(toml: &str) -> toml::Table {
        toml.parse().unwrap()
    }

    #[test]
    fn defaults_fill_in_and_values_are_normalised() {
        let out = check(&settings(), &table("open = true\nquota = \"64 KiB\"")).unwrap();
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["open"], true);
        assert_eq!(v["max"], 10);
        assert_eq!(v["quota"], 65536);
        assert_eq!(v["mode"], "a");
        assert_eq!(v["names"], serde_json::json!([]));
    }

    #[test]
    fn errors_name_the_key_and_the_fix() {
        // The plugin's name comes from the caller's context (vhost, plugin).
        let err = check(&settings(), &table("opne = true")).unwrap_err().to_string();
        assert!(err.contains("\"opne\"") && err.contains("did you mean \"open\""), "{err}");
        let err = check(&settings(), &table("max = 1000")).unwrap_err().to_string();
        assert!(err.contains("\"max\"") && err.contains("outside 1..=100"), "{err}");
        let err = check(&settings(), &table("open = \"yes\"")).unwrap_err().to_string();
        assert!(err.contains("must be true or false"), "{err}");
        let err = check(&settings(), &table("mode = \"c\"")).unwrap_err().to_string();
        assert!(err.contains("one of \"a\", \"b\""), "{err}");
        let err = check(&settings(), &table("names = [1]")).unwrap_err().to_string();
        assert!(err.contains("a list of strings"), "{err}");
        let err = check(&settings(), &table("quota = \"lots\"")).unwrap_err().to_string();
        assert!(err.contains("\"64 KiB\""), "{err}");
        let err = check(&[], &table("x = 1")).unwrap_err().to_string();
        assert!(err.contains("takes no settings"), "{err}");
    }

    #[test]
    fn bad_declarations_are_the_authors_error() {
        assert!(check_declared("p", &settings()).is_ok());
        let twice = vec![setting("a", SettingType::Boolean, "true"), setting("a", SettingType::Boolean, "true")];
        assert!(check_declared("p", &twice).is_err());
        let bad_default = vec![setting("a", SettingType::Boolean, "1")];
        assert!(check_declared("p", &bad_default).unwrap_err().to_string().contains("default"));
        let empty = vec![setting("n", SettingType::Integer(IntegerRange { min: 5, max: 1 }), "5")];
        assert!(check_declared("p", &empty).is_err());
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("65536"), Some(65536));
        assert_eq!(parse_size("64 KiB"), Some(65536));
        assert_eq!(parse_size("10MB"), Some(10_000_000));
        assert_eq!(parse_size("1 GiB"), Some(1 << 30));
        assert_eq!(parse_size("1 parsec"), None);
        assert_eq!(parse_size(""), None);
    }
}
