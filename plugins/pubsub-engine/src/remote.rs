//! PEP's recipients on other servers (XEP-0163 §4.3 across
//! server-to-server): the remote full JIDs that told an account their
//! available presence and see the account's presence. Unlike local sessions
//! the kernel cannot list them, so the PEP plugin keeps them here, in its
//! `mem`, from the presence its filter sees (`pep/src/remote.rs`), and
//! [`crate::notify`] reads them when an item is published.
//!
//! One list per account (`remote/<account>`: full JIDs, oldest first, at
//! most [`MAX_PER_ACCOUNT`]; past it the oldest goes). A JID leaves it on
//! unavailable or error presence, or available presence that no longer
//! asks for anything; the list holds no secrets and nothing durable, so a
//! restart simply starts it again from the next presence (the account's
//! probes bring it back when it logs in).

use waxwing_sdk::mem;
use waxwing_sdk::prelude::*;

/// Remote full JIDs kept for one account.
pub const MAX_PER_ACCOUNT: usize = 256;

fn key(account: &str) -> String {
    format!("remote/{account}")
}

/// The remote full JIDs kept for `account`, oldest first.
pub fn sessions(account: &str) -> Result<Vec<String>, HostError> {
    mem::lines(&key(account))
}

/// Applies `change` to the list of `account` (see [`mem::update_lines`]);
/// a prepared JID holds no line break, so one per line.
fn update<T>(account: &str, change: impl Fn(&mut Vec<String>) -> Option<T>) -> Result<Option<T>, HostError> {
    mem::update_lines(&key(account), change)
}

/// Keeps `full_jid` for `account`; returns the JIDs that made room for it
/// (the oldest, past the bound), for the caller to forget what it kept
/// about them.
pub fn add(account: &str, full_jid: &str) -> Result<Vec<String>, HostError> {
    let dropped = update(account, |list| {
        if list.iter().any(|j| j == full_jid) {
            return None;
        }
        list.push(full_jid.to_owned());
        let excess = list.len().saturating_sub(MAX_PER_ACCOUNT);
        Some(list.drain(..excess).collect::<Vec<_>>())
    })?;
    Ok(dropped.unwrap_or_default())
}

/// `full_jid` is gone for `account`; true if it was kept.
pub fn remove(account: &str, full_jid: &str) -> Result<bool, HostError> {
    let removed = update(account, |list| {
        let before = list.len();
        list.retain(|j| j != full_jid);
        (list.len() != before).then_some(())
    })?;
    Ok(removed.is_some())
}

/// Forgets every remote JID of `account` (deleted); returns them.
pub fn remove_all(account: &str) -> Result<Vec<String>, HostError> {
    mem::take_lines(&key(account))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bounded_list_per_account_oldest_out_first() {
        let jid = |i: usize| format!("u{i}@remote.example/r");
        for i in 0..MAX_PER_ACCOUNT {
            assert!(add("a@example.org", &jid(i)).unwrap().is_empty());
        }
        assert!(add("a@example.org", &jid(3)).unwrap().is_empty(), "kept once");
        assert_eq!(add("a@example.org", &jid(MAX_PER_ACCOUNT)).unwrap(), [jid(0)]);
        let kept = sessions("a@example.org").unwrap();
        assert_eq!(kept.len(), MAX_PER_ACCOUNT);
        assert_eq!((kept.first(), kept.last()), (Some(&jid(1)), Some(&jid(MAX_PER_ACCOUNT))));
        assert!(sessions("b@example.org").unwrap().is_empty(), "per account");

        assert!(remove("a@example.org", &jid(5)).unwrap());
        assert!(!remove("a@example.org", &jid(5)).unwrap());
        assert_eq!(remove_all("a@example.org").unwrap().len(), MAX_PER_ACCOUNT - 1);
        assert!(waxwing_sdk::testing::FakeHost::mem_entries().is_empty(), "nothing left behind");
    }
}
