//! String preparation, so that one account has exactly one spelling in the
//! store whichever way a client or an operator types it.

use super::AccountError;

/// RFC 7622 nodeprep (via `jid`), the form a username is stored and compared in.
pub fn username(raw: &str) -> Result<String, AccountError> {
    match jid::NodePart::new(raw) {
        Ok(node) => Ok(node.as_str().to_owned()),
        Err(e) => Err(AccountError::InvalidUsername(format!("{raw:?}: {e}"))),
    }
}

/// RFC 4013 SASLprep; an empty password is refused because SCRAM and PLAIN
/// cannot tell it from a missing one.
pub fn password(raw: &str) -> Result<String, AccountError> {
    let prepared = stringprep::saslprep(raw).map_err(|e| AccountError::InvalidPassword(e.to_string()))?;
    if prepared.is_empty() {
        return Err(AccountError::InvalidPassword("the password is empty".into()));
    }
    Ok(prepared.into_owned())
}

/// The canonical host name. A domain is a key segment (`acct/<domain>/`), so
/// anything that could reach into another domain's keys is refused even if
/// the IDNA rules would let it through.
pub fn domain(raw: &str) -> Result<String, AccountError> {
    let invalid = |why: String| AccountError::InvalidUsername(format!("the domain {raw:?} is not usable: {why}"));
    if raw.contains(['/', '@', '\0']) {
        return Err(invalid("it contains '/', '@' or NUL".into()));
    }
    match jid::DomainPart::new(raw) {
        Ok(d) if d.as_str().contains(['/', '@', '\0']) => Err(invalid("it maps to a name with '/' or '@'".into())),
        Ok(d) => Ok(d.as_str().to_owned()),
        Err(e) => Err(invalid(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_nodeprepped() {
        assert_eq!(username("Juliet").unwrap(), "juliet");
        assert_eq!(username("ΣΑΣ").unwrap(), "σασ");
        for bad in ["", "a@b", "a/b", "a b", "a:b", "a<b", &"x".repeat(1024)] {
            let err = username(bad).unwrap_err();
            assert!(matches!(err, AccountError::InvalidUsername(ref m) if !m.is_empty()), "{bad:?} gave {err:?}");
        }
    }

    #[test]
    fn passwords_are_saslprepped() {
        assert_eq!(password("pencil").unwrap(), "pencil");
        // RFC 4013 §3 examples: non-ASCII space maps to space, soft hyphen to nothing, NFKC.
        assert_eq!(password("a\u{00A0}b").unwrap(), "a b");
        assert_eq!(password("I\u{00AD}X").unwrap(), "IX");
        assert_eq!(password("\u{2168}").unwrap(), "IX");
        for bad in ["", "\u{00AD}", "a\u{0007}b", "a\u{0000}"] {
            assert!(matches!(password(bad), Err(AccountError::InvalidPassword(_))), "{bad:?}");
        }
    }

    #[test]
    fn domains_are_canonical() {
        assert_eq!(domain("Example.COM").unwrap(), "example.com");
        assert_eq!(domain("example.com.").unwrap(), "example.com");
        for bad in ["", "a/b", "a@b", "a b", "a\0b"] {
            assert!(matches!(domain(bad), Err(AccountError::InvalidUsername(_))), "{bad:?}");
        }
    }
}
