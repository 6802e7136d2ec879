//! The password policy: one rule for every way an account is made or its
//! password changed (the CLI, the admin socket, in-band registration and the
//! admin and RPC plugins all reach [`super::Accounts::create`] and
//! [`super::Accounts::set_password`], which apply it).
//!
//! Passwords carried over from another server (XEP-0227 import) are not
//! held to it: those accounts exist already, and imported SCRAM credentials
//! could not be checked anyway.

use super::AccountError;
use super::prep;

/// The shortest password accepted, in characters of its SASLprep form (a
/// password's characters, not its bytes: "ééééé" is five). The register
/// plugin's default `min_password_length` is the same; it may ask for more.
pub const MIN_PASSWORD_CHARS: usize = 6;

/// SASLprep (RFC 4013) and the policy: the prepared password, or why not,
/// in words an operator or a client can act on.
pub fn new_password(raw: &str) -> Result<String, AccountError> {
    let prepared = prep::password(raw)?;
    let n = prepared.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(AccountError::InvalidPassword(format!(
            "too short ({n} characters): use at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    Ok(prepared)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_passwords_are_refused_with_the_rule() {
        assert_eq!(new_password("secret").unwrap(), "secret");
        assert_eq!(new_password("ééééé!").unwrap(), "ééééé!", "counted in characters");
        // The last is six characters typed, five once SASLprep drops the soft hyphen.
        for bad in ["x", "12345", "ééééé", "I\u{00AD}X123"] {
            let err = new_password(bad).unwrap_err().to_string();
            assert!(err.starts_with("unacceptable password: too short"), "{bad:?}: {err}");
            assert!(err.contains("at least 6 characters"), "{err}");
        }
        // SASLprep's refusals come first, with their own reason.
        assert!(matches!(new_password(""), Err(AccountError::InvalidPassword(m)) if m.contains("empty")));
        assert!(matches!(new_password("abc\u{0007}defg"), Err(AccountError::InvalidPassword(_))));
    }
}
