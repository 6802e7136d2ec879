//! The operator's config for this plugin. The kernel checks every key and
//! type against what [`declare`] states (so a typo like `alow_registration`
//! refuses the load, naming the key); what is left here is what a setting
//! type cannot say: the shape of the `captcha` questions and a non-empty
//! `instructions`.

use waxwing_sdk::{Describe, Json};

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

/// The settings, with their defaults and the bounds the kernel enforces.
pub fn declare(describe: Describe) -> Describe {
    describe
        // Closed unless the operator opens it: an open server is a spam relay's first find.
        .setting_bool("allow_registration", false, "Whether anyone may create an account in band")
        // Longer than any sensible password rule; bounds what a typo can demand.
        .setting_int(
            "min_password_length",
            0,
            1024,
            6,
            "Shortest password accepted, in characters; the kernel's own policy never accepts fewer than 6",
        )
        .setting_any(
            "captcha",
            Json::Array(Vec::new()),
            "XEP-0158 questions, [{question = \"...\", answer = \"...\" or [\"...\"]}]; empty: no CAPTCHA",
        )
        // A day: a challenge older than that is not a human filling in a form.
        .setting_int("captcha_lifetime_seconds", 1, 24 * 3600, 300, "How long a CAPTCHA question stays answerable")
        .setting_text("instructions", DEFAULT_INSTRUCTIONS, "Shown with the registration form")
}

impl Settings {
    /// Reads the checked config; `Err` is the message the operator sees.
    pub fn from_config(config: &Json) -> Result<Settings, String> {
        let instructions = config.require_str("instructions")?;
        if instructions.trim().is_empty() {
            return Err("register config 'instructions' must not be empty".into());
        }
        Ok(Settings {
            allow_registration: config.require_bool("allow_registration")?,
            min_password_length: whole(config, "min_password_length")? as usize,
            captcha: questions(config.get("captcha"))?,
            captcha_lifetime_ms: whole(config, "captcha_lifetime_seconds")?.saturating_mul(1000),
            instructions: instructions.to_string(),
        })
    }
}

/// A declared integer setting; its declared range has no negatives.
fn whole(config: &Json, key: &str) -> Result<u64, String> {
    let n = config.require_i64(key)?;
    u64::try_from(n).map_err(|_| format!("register config '{key}' is negative: {n}"))
}

/// `captcha = [{question = "...", answer = "..."}]`; `answer` may also be a
/// list of accepted answers.
fn questions(value: &Json) -> Result<Vec<Question>, String> {
    let items = value.as_array().ok_or_else(captcha_shape)?;
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
pub mod tests {
    use super::*;

    /// The config as the kernel hands it over: every key, `overrides`
    /// (JSON members, without braces) replacing defaults.
    pub fn config(overrides: &str) -> String {
        let defaults = r#""allow_registration": false, "min_password_length": 6, "captcha": [],
            "captcha_lifetime_seconds": 300, "instructions": "Choose a username and password to register with this server.""#;
        if overrides.is_empty() { format!("{{{defaults}}}") } else { format!("{{{defaults}, {overrides}}}") }
    }

    fn parse(overrides: &str) -> Result<Settings, String> {
        Settings::from_config(&Json::parse(&config(overrides)).unwrap())
    }

    #[test]
    fn the_declared_defaults_are_what_the_kernel_hands_over() {
        let declared = declare(Describe::new("register", "1")).into_wit().settings;
        let defaults = Json::parse(&config("")).unwrap();
        for s in &declared {
            assert_eq!(Json::parse(&s.default).unwrap(), *defaults.get(&s.key), "{}", s.key);
        }
        assert_eq!(defaults.as_object().map(<[_]>::len), Some(declared.len()));
        let s = parse("").unwrap();
        assert!(!s.allow_registration, "registration is closed by default");
        assert_eq!((s.min_password_length, s.captcha_lifetime_ms), (6, 300_000));
        assert!(s.captcha.is_empty());
    }

    #[test]
    fn reads_every_key() {
        let s = parse(
            r#""allow_registration": true, "min_password_length": 10, "captcha_lifetime_seconds": 60,
                "instructions": "Hi", "captcha": [{"question": "2+2?", "answer": " Four "},
                {"question": "Colour of the sky?", "answer": ["blue", "Azure"]}]"#,
        )
        .unwrap();
        assert!(s.allow_registration);
        assert_eq!(s.min_password_length, 10);
        assert_eq!(s.captcha_lifetime_ms, 60_000);
        assert_eq!(s.instructions, "Hi");
        assert_eq!(s.captcha[0], Question { question: "2+2?".into(), answers: vec!["four".into()] });
        assert_eq!(s.captcha[1].answers, ["blue", "azure"]);
    }

    #[test]
    fn what_the_setting_types_cannot_check_is_refused_naming_the_key() {
        for (overrides, key) in [
            (r#""instructions": "  ""#, "instructions"),
            (r#""captcha": {"question": "q", "answer": "a"}"#, "captcha"),
            (r#""captcha": ["q"]"#, "captcha"),
            (r#""captcha": [{"answer": "a"}]"#, "question"),
            (r#""captcha": [{"question": "q"}]"#, "answer"),
            (r#""captcha": [{"question": "q", "answer": "  "}]"#, "answer"),
            (r#""captcha": [{"question": "q", "answer": [1]}]"#, "answer"),
            (r#""captcha": [{"question": "q", "answer": "a", "hint": "h"}]"#, "'hint'"),
        ] {
            let err = parse(overrides).unwrap_err();
            assert!(err.contains(key), "{overrides}: {err}");
        }
    }
}
