//! Where blocklists live, and the markers that keep the filter cheap.
//!
//! - `kv` `item/<account>/<jid>` (empty value): one key per blocked JID.
//!   One key per item rather than one value per list because `kv` has no
//!   compare-and-swap: two resources of an account blocking at once would
//!   each rewrite a whole list and lose the other's item.
//! - `mem` `has/<account>`: present while the account's list is (or may
//!   be) non-empty. Every stanza passes the filter; for an account without
//!   this marker it costs one `mem` read and no `kv` read. Erring towards
//!   present is safe (the filter then reads `kv`); absent with items stored
//!   would let blocked stanzas through, so it is set after items are
//!   written and re-checked after it is removed.
//! - `mem` `markers-loaded`: `mem` does not survive a restart, so the first
//!   filter call after one rebuilds every `has/` marker from `kv`.
//! - `mem` `interested/<full jid>`: the resource asked for the blocklist
//!   and gets pushes (§3.2); removed when the session ends.

use waxwing_sdk::kv::{self, Op};
use waxwing_sdk::{HostError, filter_scope, mem};

use crate::items;

const ITEM_PREFIX: &str = "item/";
const MARKERS_LOADED: &str = "markers-loaded";
/// The kernel's limit on a `kv` or `mem` key, in bytes.
const MAX_KEY_BYTES: usize = 1024;
/// Entries per `kv.scan` (the kernel's maximum) and ops per `kv.batch`.
const PAGE: u32 = 1000;

fn account_prefix(account: &str) -> String {
    format!("{ITEM_PREFIX}{account}/")
}

fn item_key(account: &str, jid: &str) -> String {
    format!("{ITEM_PREFIX}{account}/{jid}")
}

/// Whether `jid` can be stored for `account` at all: its key must fit.
pub fn fits(account: &str, jid: &str) -> bool {
    item_key(account, jid).len() <= MAX_KEY_BYTES
}

/// The blocked JID an item key of `account` names. A key that is not UTF-8
/// was not written by this plugin; it is skipped rather than trusted.
fn item_of_key(account: &str, key: &[u8]) -> Option<String> {
    let rest = key.strip_prefix(account_prefix(account).as_bytes())?;
    String::from_utf8(rest.to_vec()).ok()
}

/// The account an item key belongs to. A bare JID holds no `/`, so the
/// first `/` after the prefix ends it.
fn account_of_key(key: &[u8]) -> Option<&str> {
    let rest = std::str::from_utf8(key.strip_prefix(ITEM_PREFIX.as_bytes())?).ok()?;
    rest.split_once('/').map(|(account, _)| account).filter(|a| !a.is_empty())
}

/// A key that sorts after every item key of `account` and before the next
/// account's: `0` is the byte after `/`.
fn past_account(account: &str) -> String {
    format!("{ITEM_PREFIX}{account}0")
}

fn marker_key(account: &str) -> String {
    format!("has/{account}")
}

fn interest_key(full_jid: &str) -> String {
    format!("interested/{full_jid}")
}

/// Every JID `account` blocked, in key order.
pub fn list(account: &str) -> Result<Vec<String>, HostError> {
    Ok(item_keys(account)?.iter().filter_map(|k| item_of_key(account, k)).collect())
}

fn item_keys(account: &str) -> Result<Vec<Vec<u8>>, HostError> {
    let prefix = account_prefix(account);
    let mut keys = Vec::new();
    let mut after: Vec<u8> = Vec::new();
    loop {
        let page = kv::scan(&prefix, &after, PAGE)?;
        let full = page.len() == PAGE as usize;
        keys.extend(page.into_iter().map(|(k, _)| k));
        match keys.last() {
            Some(last) if full => after = last.clone(),
            _ => return Ok(keys),
        }
    }
}

pub fn add(account: &str, jids: &[String]) -> Result<(), HostError> {
    let ops: Vec<Op> = jids.iter().map(|j| Op::Put(item_key(account, j).into_bytes(), Vec::new())).collect();
    for chunk in ops.chunks(PAGE as usize) {
        kv::batch(chunk)?;
    }
    set_marker(account)
}

pub fn remove(account: &str, jids: &[String]) -> Result<(), HostError> {
    let ops: Vec<Op> = jids.iter().map(|j| Op::Delete(item_key(account, j).into_bytes())).collect();
    for chunk in ops.chunks(PAGE as usize) {
        kv::batch(chunk)?;
    }
    refresh_marker(account)
}

pub fn remove_all(account: &str) -> Result<(), HostError> {
    let ops: Vec<Op> = item_keys(account)?.into_iter().map(Op::Delete).collect();
    for chunk in ops.chunks(PAGE as usize) {
        kv::batch(chunk)?;
    }
    refresh_marker(account)
}

/// Drops the marker, then puts it back if items remain: a block that
/// landed meanwhile either set its marker after this delete, or wrote its
/// items before the check below sees them.
fn refresh_marker(account: &str) -> Result<(), HostError> {
    mem::delete(&marker_key(account))?;
    filter_scope::watch(account, false)?;
    if !kv::scan(account_prefix(account), "", 1)?.is_empty() {
        set_marker(account)?;
    }
    Ok(())
}

/// The marker, and the kernel's filter scope: stanzas of accounts without a
/// list never reach this plugin's filter at all once the scope is restricted.
fn set_marker(account: &str) -> Result<(), HostError> {
    mem::put(&marker_key(account), b"1")?;
    filter_scope::watch(account, true)
}

/// Whether `account` may have blocked anyone: the filter's fast path.
pub fn has_list(account: &str) -> Result<bool, HostError> {
    load_markers()?;
    Ok(mem::get(&marker_key(account))?.is_some())
}

/// Whether `account` blocked the entity addressed as `jid`; ask
/// [`has_list`] first, this reads `kv`.
pub fn blocks(account: &str, jid: &str) -> Result<bool, HostError> {
    for key in items::match_keys(jid) {
        if kv::get(item_key(account, key))?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// After a restart: one marker per account with items, one short scan per
/// such account (it skips past each account's items); then the filter scope
/// is restricted to those accounts. A `mem` read once done.
pub fn load_markers() -> Result<(), HostError> {
    if mem::get(MARKERS_LOADED)?.is_some() {
        return Ok(());
    }
    let mut after = String::new();
    loop {
        let page = kv::scan(ITEM_PREFIX, &after, 1)?;
        let Some((key, _)) = page.first() else { break };
        match account_of_key(key) {
            Some(account) => {
                set_marker(account)?;
                after = past_account(account);
            }
            // Not a key this plugin writes; step over it alone.
            None => after = String::from_utf8_lossy(key).into_owned(),
        }
    }
    mem::put(MARKERS_LOADED, b"1")?;
    // Every account with a list is watched now: the rest may skip wasm.
    filter_scope::restrict();
    Ok(())
}

pub fn mark_interested(full_jid: &str) -> Result<(), HostError> {
    mem::put(&interest_key(full_jid), b"1")
}

pub fn is_interested(full_jid: &str) -> Result<bool, HostError> {
    Ok(mem::get(&interest_key(full_jid))?.is_some())
}

pub fn forget_interest(full_jid: &str) -> Result<(), HostError> {
    mem::delete(&interest_key(full_jid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_keys_round_trip() {
        let key = item_key("alice@localhost", "bob@localhost/phone");
        assert_eq!(key, "item/alice@localhost/bob@localhost/phone");
        assert_eq!(item_of_key("alice@localhost", key.as_bytes()).as_deref(), Some("bob@localhost/phone"));
        assert_eq!(account_of_key(key.as_bytes()), Some("alice@localhost"));
        assert_eq!(item_of_key("alice@localhos", key.as_bytes()), None);
        assert_eq!(item_of_key("alice@localhost", b"item/alice@localhost/\xff"), None);
        assert_eq!(account_of_key(b"item//x"), None);
        assert_eq!(account_of_key(b"other/a@b/c"), None);
    }

    #[test]
    fn one_account_prefix_does_not_cover_another() {
        // `alice@localhost` must not list the items of `alice@localhost.net`.
        let other = item_key("alice@localhost.net", "bob@x");
        assert!(!other.starts_with(&account_prefix("alice@localhost")));
    }

    #[test]
    fn past_account_sorts_between_accounts() {
        let skip = past_account("alice@localhost");
        for own in ["item/alice@localhost/a", "item/alice@localhost/\u{10FFFF}"] {
            assert!(own < skip.as_str(), "{own}");
        }
        for next in ["item/alice@localhost0/a", "item/alice@localhostz/a", "item/bob@localhost/a"] {
            assert!(next > skip.as_str() || next.starts_with(&skip), "{next}");
        }
        assert!("item/alice@localhost.net/a" < "item/alice@localhost/");
    }

    #[test]
    fn overlong_items_do_not_fit() {
        assert!(fits("alice@localhost", "bob@localhost"));
        assert!(!fits("alice@localhost", &"x".repeat(1020)));
    }
}
