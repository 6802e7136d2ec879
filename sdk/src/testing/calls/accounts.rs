//! `accounts` over a map of usernames to passwords, with the kernel's
//! nodeprep and its refusals.

use crate::Capability;
use crate::bindings::waxwing::plugin::types::HostError;
use crate::testing::state::{State, with};

/// RFC 7622 nodeprep, the form the kernel stores a username in.
pub(crate) fn username(raw: &str) -> Result<String, HostError> {
    ::jid::NodePart::new(raw)
        .map(|n| n.as_str().to_string())
        .map_err(|e| HostError::Invalid(format!("invalid username {raw:?}: {e}")))
}

fn checked<R>(raw: &str, f: impl FnOnce(&mut State, String) -> Result<R, HostError>) -> Result<R, HostError> {
    with(|s| {
        s.need(Capability::Accounts)?;
        let user = username(raw)?;
        f(s, user)
    })
}

fn password(raw: &str) -> Result<String, HostError> {
    if raw.is_empty() {
        return Err(HostError::Invalid("unacceptable password: the password is empty".into()));
    }
    Ok(raw.to_string())
}

fn not_found() -> HostError {
    HostError::Invalid("no such account".into())
}

pub(crate) fn exists(username: &str) -> Result<bool, HostError> {
    checked(username, |s, user| Ok(s.accounts.contains_key(&user)))
}

pub(crate) fn create(username: &str, pass: &str) -> Result<(), HostError> {
    let pass = password(pass)?;
    checked(username, |s, user| {
        if s.accounts.contains_key(&user) {
            return Err(HostError::Invalid("the account already exists".into()));
        }
        s.accounts.insert(user, pass);
        Ok(())
    })
}

pub(crate) fn set_password(username: &str, pass: &str) -> Result<(), HostError> {
    let pass = password(pass)?;
    checked(username, |s, user| match s.accounts.get_mut(&user) {
        Some(p) => {
            *p = pass;
            Ok(())
        }
        None => Err(not_found()),
    })
}

pub(crate) fn delete(username: &str) -> Result<(), HostError> {
    checked(username, |s, user| s.accounts.remove(&user).map(|_| ()).ok_or_else(not_found))
}

pub(crate) fn list(start_after: &str, limit: u32) -> Result<Vec<String>, HostError> {
    with(|s| {
        s.need(Capability::Accounts)?;
        let after = |u: &&String| start_after.is_empty() || u.as_str() > start_after;
        Ok(s.accounts.keys().filter(after).take(limit.min(1000) as usize).cloned().collect())
    })
}

pub(crate) fn count() -> Result<u64, HostError> {
    with(|s| {
        s.need(Capability::Accounts)?;
        Ok(s.accounts.len() as u64)
    })
}

/// Ends a session the test set up; it is gone from `sessions` afterwards.
pub(crate) fn end_session(full_jid: &str, _reason: &str) -> Result<bool, HostError> {
    with(|s| {
        s.need(Capability::Accounts)?;
        if !full_jid.contains('/') {
            return Err(HostError::Invalid(format!("{full_jid:?} is not a full JID")));
        }
        let before = s.sessions.len();
        s.sessions.retain(|x| x.jid != full_jid);
        Ok(s.sessions.len() < before)
    })
}

/// Disabled accounts are kept apart; disabling ends the account's sessions.
pub(crate) fn set_disabled(username: &str, disabled: bool) -> Result<(), HostError> {
    checked(username, |s, user| {
        if !s.accounts.contains_key(&user) {
            return Err(not_found());
        }
        if disabled {
            let prefix = format!("{user}@{}/", s.domain);
            s.sessions.retain(|x| !x.jid.starts_with(&prefix));
            s.disabled.insert(user);
        } else {
            s.disabled.remove(&user);
        }
        Ok(())
    })
}

pub(crate) fn is_disabled(username: &str) -> Result<bool, HostError> {
    checked(username, |s, user| Ok(s.disabled.contains(&user)))
}
