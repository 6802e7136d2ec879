//! Config settings a plugin declares: the kernel checks the operator's table
//! against them, fills in defaults and names the key when a value is wrong,
//! so `init` no longer validates types and ranges itself.

use super::Describe;
use crate::bindings::waxwing::plugin::types as wit;
use crate::json::Json;
use crate::{IntegerRange, SettingType};

impl Describe {
    /// A setting of any type, its default as JSON. The typed methods below
    /// cover every [`SettingType`]; this is for building them in a loop.
    pub fn setting(mut self, key: &str, setting_type: SettingType, default: Json, doc: &str) -> Self {
        debug_assert!(
            !key.is_empty() && !self.0.settings.iter().any(|s| s.key == key),
            "setting {key:?} is empty or declared twice"
        );
        self.0.settings.push(wit::Setting {
            key: key.to_string(),
            type_: setting_type,
            default: default.to_string(),
            doc: doc.to_string(),
        });
        self
    }

    /// `true` or `false`.
    pub fn setting_bool(self, key: &str, default: bool, doc: &str) -> Self {
        self.setting(key, SettingType::Boolean, default.into(), doc)
    }

    /// An integer from `min` to `max`, inclusive.
    pub fn setting_int(self, key: &str, min: i64, max: i64, default: i64, doc: &str) -> Self {
        debug_assert!((min..=max).contains(&default), "setting {key:?}: default {default} outside {min}..={max}");
        self.setting(key, SettingType::Integer(IntegerRange { min, max }), default.into(), doc)
    }

    /// A size in bytes from `min` to `max`: the operator may write an integer
    /// or a string like "64 KiB"; `init` receives the integer.
    pub fn setting_bytes(self, key: &str, min: i64, max: i64, default: i64, doc: &str) -> Self {
        debug_assert!((min..=max).contains(&default), "setting {key:?}: default {default} outside {min}..={max}");
        self.setting(key, SettingType::ByteSize(IntegerRange { min, max }), default.into(), doc)
    }

    /// A string.
    pub fn setting_text(self, key: &str, default: &str, doc: &str) -> Self {
        self.setting(key, SettingType::Text, default.into(), doc)
    }

    /// A list of strings.
    pub fn setting_text_list(self, key: &str, default: &[&str], doc: &str) -> Self {
        self.setting(key, SettingType::TextList, default.to_vec().into(), doc)
    }

    /// One of `choices`.
    pub fn setting_choice(self, key: &str, choices: &[&str], default: &str, doc: &str) -> Self {
        debug_assert!(choices.contains(&default), "setting {key:?}: default {default:?} is not one of {choices:?}");
        let choices = choices.iter().map(|c| c.to_string()).collect();
        self.setting(key, SettingType::Choice(choices), default.into(), doc)
    }

    /// Any JSON value: the plugin checks it itself in `init` (tables,
    /// lists of tables).
    pub fn setting_any(self, key: &str, default: Json, doc: &str) -> Self {
        self.setting(key, SettingType::Any, default, doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_type_with_its_default_as_json() {
        let d = Describe::new("register", "1.0.0")
            .setting_bool("allow_registration", false, "Whether anyone may create an account")
            .setting_int("min_password_length", 1, 1024, 6, "Shortest password accepted")
            .setting_bytes("quota", 1024, 1 << 24, 65536, "Bytes stored per account")
            .setting_text("instructions", "Choose a \"name\"", "Shown above the form")
            .setting_text_list("reserved", &["admin", "root"], "Usernames nobody may take")
            .setting_choice("mode", &["open", "closed"], "closed", "Who may register")
            .setting_any("captcha", Json::Array(Vec::new()), "Questions: [{question, answer}]")
            .into_wit();
        let s = &d.settings;
        assert_eq!(s.len(), 7);
        assert_eq!(
            (s[0].key.as_str(), &s[0].type_, s[0].default.as_str()),
            ("allow_registration", &SettingType::Boolean, "false")
        );
        assert_eq!(s[1].type_, SettingType::Integer(IntegerRange { min: 1, max: 1024 }));
        assert_eq!(s[1].default, "6");
        assert_eq!(s[2].type_, SettingType::ByteSize(IntegerRange { min: 1024, max: 1 << 24 }));
        assert_eq!(s[3].default, r#""Choose a \"name\"""#);
        assert_eq!((&s[4].type_, s[4].default.as_str()), (&SettingType::TextList, r#"["admin","root"]"#));
        assert_eq!(s[5].type_, SettingType::Choice(vec!["open".into(), "closed".into()]));
        assert_eq!(s[5].default, r#""closed""#);
        assert_eq!((&s[6].type_, s[6].default.as_str()), (&SettingType::Any, "[]"));
        assert_eq!(s[6].doc, "Questions: [{question, answer}]");
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "declared twice")]
    fn a_key_declared_twice_is_a_bug() {
        let _ = Describe::new("p", "1").setting_bool("a", true, "").setting_bool("a", false, "");
    }
}
