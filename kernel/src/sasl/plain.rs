//! PLAIN (RFC 4616): `authzid NUL authcid NUL passwd` in one message. Only
//! ever offered over TLS; the password is checked against the SHA-256 SCRAM
//! credentials, so PLAIN needs no stored password either.

use super::{SaslFailure, Step, authzid_allowed};
use crate::accounts::{Accounts, prep};

/// `domain` is already canonical.
pub(super) fn authenticate(accounts: &Accounts, domain: &str, msg: &[u8]) -> Step {
    let Ok(msg) = std::str::from_utf8(msg) else {
        return Step::fail(SaslFailure::MalformedRequest, "not UTF-8");
    };
    let mut parts = msg.split('\0');
    let (Some(authzid), Some(authcid), Some(password), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Step::fail(SaslFailure::MalformedRequest, "expected authzid, authcid and password separated by NUL");
    };
    if authcid.is_empty() || password.is_empty() {
        return Step::fail(SaslFailure::MalformedRequest, "empty username or password");
    }
    let Ok(username) = prep::username(authcid) else {
        return Step::Failure(SaslFailure::NotAuthorized, None);
    };
    if !authzid.is_empty() && !authzid_allowed(authzid, &username, domain) {
        return Step::Failure(SaslFailure::InvalidAuthzid, None);
    }
    match accounts.verify_password(domain, &username, password) {
        Ok(true) => Step::Success { username, additional_data: None },
        Ok(false) => Step::Failure(SaslFailure::NotAuthorized, None),
        Err(e) => {
            tracing::warn!("sasl: checking {username}@{domain}: {e}");
            Step::Failure(SaslFailure::TemporaryAuthFailure, None)
        }
    }
}
