//! Where blocklists live:
//!
//! - `kv` `item/<account>/<jid>` (empty value): one key per blocked JID, so
//!   the filter's question is a few point reads, not a list to parse.
//! - `kv` `gen/<account>`: a counter each change of the list swaps (below).
//! - `mem` `interested/<full jid>`: the resource asked for the blocklist and
//!   gets pushes (§3.2); removed when the session ends.
//!
//! The kernel calls the filter only for stanzas from or to an account this
//! plugin watches, and keeps that set across restarts. An account must be
//! watched while its list has items: a change of the list therefore decides
//! the watch from the items it sees and commits with a swap of `gen`, so
//! that of two calls changing one list at once, the one that commits last
//! saw the other's items.

use std::cell::Cell;

use waxwing_sdk::kv::{self, Op};
use waxwing_sdk::{HostError, filter_scope, mem};

use crate::items;

const ITEM_PREFIX: &str = "item/";
/// The kv key whose value says how far the rebuild of the watched set got
/// (see [`rebuild_scope`]).
const SCOPE_MARKER: &str = "scope-v1";
const DONE: &[u8] = b"done";

thread_local! {
    /// This instance has seen the rebuild done: no more reads of the marker.
    static REBUILT: Cell<bool> = const { Cell::new(false) };
}

fn account_prefix(account: &str) -> String {
    format!("{ITEM_PREFIX}{account}/")
}

fn item_key(account: &str, jid: &str) -> String {
    format!("{ITEM_PREFIX}{account}/{jid}")
}

/// Whether `jid` can be stored for `account` at all: its key must fit.
pub fn fits(account: &str, jid: &str) -> bool {
    item_key(account, jid).len() <= kv::MAX_KEY_BYTES
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

fn interest_key(full_jid: &str) -> String {
    format!("interested/{full_jid}")
}

/// Every JID `account` blocked, in key order. A key that is not UTF-8 was
/// not written by this plugin; it is skipped rather than trusted.
pub fn list(account: &str) -> Result<Vec<String>, HostError> {
    let prefix = account_prefix(account);
    let mut out = Vec::new();
    for entry in kv::scan_iter(&prefix) {
        let (key, _) = entry?;
        if let Some(jid) = key.strip_prefix(prefix.as_bytes()).and_then(|j| String::from_utf8(j.to_vec()).ok()) {
            out.push(jid);
        }
    }
    Ok(out)
}

/// Runs `write` and commits it with a swap of the account's counter, again
/// until no other change of the list came between; the account is watched
/// exactly when the list it leaves has items.
fn change(account: &str, mut write: impl FnMut() -> Result<(), HostError>) -> Result<(), HostError> {
    let key = format!("gen/{account}");
    loop {
        let old = kv::get(&key)?;
        write()?;
        let has_items = !kv::scan(account_prefix(account), "", 1)?.is_empty();
        filter_scope::watch(account, has_items)?;
        let next = old.as_deref().and_then(|b| std::str::from_utf8(b).ok()?.parse::<u64>().ok()).unwrap_or(0) + 1;
        if kv::compare_and_swap(&key, old.as_deref(), Some(next.to_string().as_bytes()))? {
            return Ok(());
        }
    }
}

pub fn add(account: &str, jids: &[String]) -> Result<(), HostError> {
    let ops: Vec<Op> = jids.iter().map(|j| Op::put(item_key(account, j), Vec::new())).collect();
    change(account, || kv::batch(&ops))
}

pub fn remove(account: &str, jids: &[String]) -> Result<(), HostError> {
    let ops: Vec<Op> = jids.iter().map(|j| Op::delete(item_key(account, j))).collect();
    change(account, || kv::batch(&ops))
}

/// Empties the list; returns what it held.
pub fn remove_all(account: &str) -> Result<Vec<String>, HostError> {
    let mut removed = Vec::new();
    change(account, || {
        let jids = list(account)?;
        kv::batch(&jids.iter().map(|j| Op::delete(item_key(account, j))).collect::<Vec<_>>())?;
        removed.extend(jids);
        Ok(())
    })?;
    removed.sort();
    removed.dedup();
    Ok(removed)
}

/// Whether `account` blocked the entity addressed as `jid`.
pub fn blocks(account: &str, jid: &str) -> Result<bool, HostError> {
    for key in items::match_keys(jid) {
        if kv::get(item_key(account, key))?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Watches every account that has a list, once: the kernel keeps the
/// watched set, but a server upgraded from one that did not (1.x) has
/// lists and no set. One short scan per such account (it skips past each
/// account's items) until `budget_ms` is spent; [`SCOPE_MARKER`] says where
/// the next call takes on. Meanwhile a change of a list watches its account
/// itself.
pub fn rebuild_scope(budget_ms: u64) -> Result<(), HostError> {
    if REBUILT.get() {
        return Ok(());
    }
    let deadline = waxwing_sdk::now_ms().saturating_add(budget_ms);
    let mut after = kv::get(SCOPE_MARKER)?.unwrap_or_default();
    if after == DONE {
        REBUILT.set(true);
        return Ok(());
    }
    loop {
        let Some((key, _)) = kv::scan(ITEM_PREFIX, &after, 1)?.into_iter().next() else {
            after = DONE.to_vec();
            break;
        };
        after = match account_of_key(&key) {
            Some(account) => {
                // One account the kernel refuses must not hold up the rest.
                if let Err(e) = filter_scope::watch(account, true) {
                    waxwing_sdk::log::warn(&format!("cannot watch {account}, which has a blocklist: {e}"));
                }
                past_account(account).into_bytes()
            }
            // Not a key this plugin writes; step over it alone.
            None => key,
        };
        if waxwing_sdk::now_ms() >= deadline {
            break;
        }
    }
    kv::put(SCOPE_MARKER, &after)?;
    REBUILT.set(after == DONE);
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
#[path = "storage_tests.rs"]
mod tests;
