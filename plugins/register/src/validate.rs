//! What a username and a password must be before the kernel is asked to
//! make an account of them. The kernel applies RFC 7622 nodeprep itself;
//! these checks give the client a precise error for the common mistakes.

use waxwing_sdk::prelude::*;

/// RFC 7622 §3.3.1: a localpart is at most 1023 bytes.
const MAX_LOCALPART_BYTES: usize = 1023;
/// RFC 7622 §3.3.1: characters a localpart may not contain.
const FORBIDDEN_IN_LOCALPART: &[char] = &['"', '&', '\'', '/', ':', '<', '>', '@'];

pub fn username(username: &str) -> Result<(), StanzaError> {
    let why = if username.len() > MAX_LOCALPART_BYTES {
        Some(format!("a username is at most {MAX_LOCALPART_BYTES} bytes"))
    } else if let Some(c) = username.chars().find(|c| FORBIDDEN_IN_LOCALPART.contains(c)) {
        Some(format!("a username cannot contain '{c}'"))
    } else if username.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("a username cannot contain spaces or control characters".to_string())
    } else {
        None
    };
    match why {
        Some(text) => Err(StanzaError::new(Condition::JidMalformed).with_text(text)),
        None => Ok(()),
    }
}

pub fn password(password: &str, min_length: usize) -> Result<(), StanzaError> {
    if password.chars().count() < min_length {
        return Err(StanzaError::new(Condition::NotAcceptable)
            .with_text(format!("the password is too short: use at least {min_length} characters")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_the_kernel_could_prepare_pass() {
        for ok in ["bill", "Bill.Smith", "jürgen", "a_b-c+d", "日本"] {
            assert_eq!(username(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn localpart_breakers_are_jid_malformed() {
        let long = "x".repeat(1024);
        for bad in ["a@b", "a/b", "a b", "a:b", "<a>", "a'b", "a\"b", "a&b", "tab\there", "nl\n", long.as_str()] {
            let err = username(bad).unwrap_err();
            assert_eq!(err.condition, Condition::JidMalformed, "{bad:?}");
            assert!(err.text.is_some());
        }
    }

    #[test]
    fn passwords_are_counted_in_characters() {
        assert!(password("123456", 6).is_ok());
        assert!(password("ééééé", 6).is_err(), "five characters, ten bytes");
        let err = password("short", 6).unwrap_err();
        assert_eq!(err.condition, Condition::NotAcceptable);
        assert!(err.text.as_deref().is_some_and(|t| t.contains("at least 6")));
        assert!(password("", 0).is_ok());
    }
}
