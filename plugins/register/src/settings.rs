//! The operator's config for this plugin, read strictly: a key that is not
//! known, or a value of the wrong shape, refuses the load with a message that
//! names the key, because a typo in a security setting (`alow_registration`)
//! must not silently leave registration open.

use waxwing_sdk::Json;

/// Every key the config table may hold.
const KEYS: &[&str] =
    &["allow_registration", "min_password_length", "captcha", "captcha_lifetime_seconds", "instructions"];

const DEFAULT_MIN_PASSWORD_LENGTH: usize = 6;
const DEFAULT_CAPTCHA_LIFETIME_SECONDS: u64 = 300;
/// A day: a challenge older than that is not a human filling in a form.
const MAX_CAPTCHA_LIFETIME_SECONDS: u64 = 24 * 3600;
/// Longer than any sensible password rule; bounds what a typo can demand.
const MAX_MIN_PASSWORD_LENGTH: usize = 1024;
const DEFAULT_INSTRUCTIONS: &str = "Choose a username and password to register with this server.";

/// One XEP-0158 question with the answers that pass it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub question: String,
    /// Normalised with [`crate::captcha::normalise`].
    pub answers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The per-vhost switch for creating accounts; password changes and
    /// cancellation work either way.
    pub allow_registration: bool,
    /// In characters, not bytes: that is what a user counts.
    pub min_password_length: usize,
    /// Empty: no CAPTCHA.
    pub captcha: Vec<Question>,
    pub captcha_lifetime_ms: u64,
    pub instructions: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            // Closed unless the operator opens it: an open server is a
            // spam relay's first find.
            allow_registration: false,
            min_password_length: DEFAULT_MIN_PASSWORD_LENGTH,
            captcha: Vec::new(),
            captcha_lifetime_ms: DEFAULT_CAPTCHA_LIFETIME_SECONDS * 1000,
            instructions: DEFAULT_INSTRUCTIONS.to_string(),
        }
    }
}

impl Settings {
    /// Reads the plugin's config table; `Err` is the message the operator sees.
    pub fn parse(config: &Json) -> Result<Settings, String> {
        let members = match config {
            Json::Null => return Ok(Settings::default()),
            Json::Object(members) => members,
            _ => return Err("the register plugin's config must be a table".into()),
        };
        if let Some((key, _)) = members.iter().find(|(k, _)| !KEYS.contains(&k.as_str())) {
            return Err(format!("unknown register config key '{key}'; allowed keys: {}", KEYS.join(", ")));
        }
        let mut settings = Settings::default();
        match config.get("allow_registration") {
            Json::Null => {}
            Json::Bool(b) => settings.allow_registration = *b,
            _ => return Err("register config 'allow_registration' must be true or false".into()),
        }
        if let Some(n) = optional_count(config, "min_password_length", MAX_MIN_PASSWORD_LENGTH as u64)? {
            settings.min_password_length = n as usize;
        }
        if let Some(n) = optional_count(config, "captcha_lifetime_seconds", MAX_CAPTCHA_LIFETIME_SECONDS)? {
            if n == 0 {
                return Err("register config 'captcha_lifetime_seconds' must be at least 1".into());
            }
            settings.captcha_lifetime_ms = n * 1000;
        }
        match config.get("instructions") {
            Json::Null => {}
            Json::String(s) if !s.trim().is_empty() => settings.instructions = s.clone(),
            _ => return Err("register config 'instructions' must be a non-empty string".into()),
        }
        settings.captcha = questions(config.get("captcha"))?;
        Ok(settings)
    }
}

/// A whole number from 0 to `max`, or `None` when the key is absent.
fn optional_count(config: &Json, key: &str, max: u64) -> Result<Option<u64>, String> {
    let value = config.get(key);
    if value.is_null() {
        return Ok(None);
    }
    match value.as_i64() {
        Some(n) if (0..=max as i64).contains(&n) => Ok(Some(n as u64)),
        _ => Err(format!("register config '{key}' must be a whole number from 0 to {max}")),
    }
}

/// `captcha = [{question = "...", answer = "..."}]`; `answer` may also be a
/// list of accepted answers.
fn questions(value: &Json) -> Result<Vec<Question>, String> {
    let items = match value {
        Json::Null => return Ok(Vec::new()),
        Json::Array(items) => items,
        _ => return Err(captcha_shape()),
    };
    items.iter().enumerate().map(|(i, item)| question(i, item)).collect()
}

fn question(index: usize, item: &Json) -> Result<Question, String> {
    let members = item.as_object().ok_or_else(captcha_shape)?;
    if let Some((key, _)) = members.iter().find(|(k, _)| k != "question" && k != "answer") {
        return Err(format!(
            "unknown key '{key}' in register config 'captcha' entry {index}; allowed keys: question, answer"
        ));
    }
    let question = match item.get("question").as_str() {
        Some(q) if !q.trim().is_empty() => q.to_string(),
        _ => return Err(format!("register config 'captcha' entry {index} needs a non-empty 'question' string")),
    };
    let raw_answers = match item.get("answer") {
        Json::String(s) => vec![s.as_str()],
        Json::Array(list) if list.iter().all(|a| a.as_str().is_some()) => {
            list.iter().filter_map(Json::as_str).collect()
        }
        _ => Vec::new(),
    };
    let answers: Vec<String> = raw_answers.iter().map(|a| crate::captcha::normalise(a)).collect();
    if answers.is_empty() || answers.iter().any(String::is_empty) {
        return Err(format!(
            "register config 'captcha' entry {index} needs an 'answer': a non-empty string or a list of them"
        ));
    }
    Ok(Question { question, answers })
}

fn captcha_shape() -> String {
    "register config 'captcha' must be a list of tables like {question = \"...\", answer = \"...\"}".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Settings, String> {
        Settings::parse(&Json::parse(json).unwrap())
    }

    #[test]
    fn no_config_means_open_registration_without_captcha() {
        let s = parse("{}").unwrap();
        assert_eq!(s, Settings::default());
        assert!(!s.allow_registration, "registration is closed by default");
        assert_eq!(s.min_password_length, 6);
        assert!(s.captcha.is_empty());
        assert_eq!(Settings::parse(&Json::Null).unwrap(), Settings::default());
    }

    #[test]
    fn reads_every_key() {
        let s = parse(
            r#"{"allow_registration": false, "min_password_length": 10, "captcha_lifetime_seconds": 60,
                "instructions": "Hi", "captcha": [{"question": "2+2?", "answer": " Four "},
                {"question": "Colour of the sky?", "answer": ["blue", "Azure"]}]}"#,
        )
        .unwrap();
        assert!(!s.allow_registration);
        assert_eq!(s.min_password_length, 10);
        assert_eq!(s.captcha_lifetime_ms, 60_000);
        assert_eq!(s.instructions, "Hi");
        assert_eq!(s.captcha[0], Question { question: "2+2?".into(), answers: vec!["four".into()] });
        assert_eq!(s.captcha[1].answers, ["blue", "azure"]);
    }

    #[test]
    fn unknown_keys_are_named_with_the_allowed_ones() {
        let err = parse(r#"{"alow_registration": false}"#).unwrap_err();
        assert!(
            err.contains("'alow_registration'") && err.contains("allow_registration, min_password_length"),
            "{err}"
        );
        let err = parse(r#"{"captcha": [{"question": "q", "answer": "a", "hint": "h"}]}"#).unwrap_err();
        assert!(err.contains("'hint'") && err.contains("question, answer"), "{err}");
    }

    #[test]
    fn mistyped_values_are_refused_naming_the_key() {
        for (json, key) in [
            (r#"{"allow_registration": "no"}"#, "allow_registration"),
            (r#"{"min_password_length": -1}"#, "min_password_length"),
            (r#"{"min_password_length": 6.5}"#, "min_password_length"),
            (r#"{"min_password_length": "6"}"#, "min_password_length"),
            (r#"{"captcha_lifetime_seconds": 0}"#, "captcha_lifetime_seconds"),
            (r#"{"captcha_lifetime_seconds": 100000}"#, "captcha_lifetime_seconds"),
            (r#"{"instructions": ""}"#, "instructions"),
            (r#"{"captcha": {"question": "q", "answer": "a"}}"#, "captcha"),
            (r#"{"captcha": ["q"]}"#, "captcha"),
            (r#"{"captcha": [{"answer": "a"}]}"#, "question"),
            (r#"{"captcha": [{"question": "q"}]}"#, "answer"),
            (r#"{"captcha": [{"question": "q", "answer": "  "}]}"#, "answer"),
            (r#"{"captcha": [{"question": "q", "answer": [1]}]}"#, "answer"),
        ] {
            let err = parse(json).unwrap_err();
            assert!(err.contains(key), "{json}: {err}");
        }
        assert!(Settings::parse(&Json::Bool(true)).is_err());
    }
}
