//! The `subscriptions` dataset, for other plugins to read (blocking, to
//! know who sees a user's presence): key `<user> <contact>` (bare JIDs hold
//! no space), value the subscription state, "none", "to", "from" or "both",
//! for every record this plugin keeps.
//!
//! Datasets have no compare-and-swap, and a call's writes land when it
//! returns, so two calls that changed one roster could land their entries
//! in the wrong order. Every write of a user's entries is therefore committed
//! by a swap of `dsgen/<user>`, with entries read from the records since the
//! counter was: a swap that loses means another commit came between, so the
//! records are read and the entries written again. The last commit is then
//! always of the records as they are.

use std::cell::Cell;
use std::collections::BTreeMap;

use waxwing_sdk::{datasets, kv};

use crate::item::Item;
use crate::storage::{self, Result};

/// This plugin's name, which owns the dataset.
pub const PLUGIN: &str = "roster";
pub const NAME: &str = "subscriptions";
pub const DOC: &str = "Key \"<user> <contact>\" (bare JIDs), value the user's subscription with the contact: \
                       none, to, from or both";

/// The kv key whose value says how far the backfill got (see [`backfill`]).
const MARKER: &str = "dataset-v1";
const DONE: &[u8] = b"done";

thread_local! {
    /// This instance has seen the backfill done: no more reads of the marker.
    static BACKFILLED: Cell<bool> = const { Cell::new(false) };
}

pub fn key(user: &str, contact: &str) -> String {
    format!("{user} {contact}")
}

/// What the dataset says of a record: its subscription while it is kept.
pub fn entry(item: &Item) -> Option<&'static str> {
    (!item.is_forgettable()).then(|| item.sub.name())
}

/// Runs `write` and commits what it wrote with a swap of the user's guard,
/// again until no other commit of the user's entries came between.
fn guarded(user: &str, mut write: impl FnMut() -> Result<()>) -> Result<()> {
    let key = format!("dsgen/{user}");
    loop {
        let old = kv::get(&key)?;
        write()?;
        let next = old.as_deref().and_then(|b| std::str::from_utf8(b).ok()?.parse::<u64>().ok()).unwrap_or(0) + 1;
        if kv::compare_and_swap(&key, old.as_deref(), Some(next.to_string().as_bytes()))? {
            return Ok(());
        }
    }
}

fn write_entry(user: &str, contact: &str, value: Option<&str>) -> Result<()> {
    match value {
        Some(v) => datasets::put(NAME, &key(user, contact), v)?,
        None => datasets::delete(NAME, &key(user, contact))?,
    }
    Ok(())
}

/// After a change of the record of `contact`: its entry as the record is now.
pub fn publish(user: &str, contact: &str) -> Result<()> {
    guarded(user, || write_entry(user, contact, storage::record(user, contact)?.as_ref().and_then(entry)))
}

/// Makes every entry of `user` match the records, then runs `also` to
/// commit with them. Unguarded only where no other call can be writing them.
fn sync_user(user: &str, guard: bool, mut also: impl FnMut() -> Result<()>) -> Result<()> {
    let mut sync = || {
        let wanted: BTreeMap<String, &str> =
            storage::items(user)?.iter().filter_map(|i| Some((i.jid.clone(), entry(i)?))).collect();
        let mut present = BTreeMap::new();
        for e in datasets::scan_iter(PLUGIN, NAME, &key(user, "")) {
            let (k, v) = e?;
            present.insert(k, v);
        }
        for k in present.keys() {
            let contact = &k[user.len() + 1..];
            if !wanted.contains_key(contact) {
                write_entry(user, contact, None)?;
            }
        }
        for (contact, v) in &wanted {
            if present.get(&key(user, contact)).map(Vec::as_slice) != Some(v.as_bytes()) {
                write_entry(user, contact, Some(v))?;
            }
        }
        also()
    };
    if guard { guarded(user, sync) } else { sync() }
}

/// The account is gone: so are its entries, and their guard.
pub fn forget(user: &str) -> Result<()> {
    guarded(user, || {
        for e in datasets::scan_iter(PLUGIN, NAME, &key(user, "")) {
            datasets::delete(NAME, &e?.0)?;
        }
        Ok(())
    })?;
    Ok(kv::delete(format!("dsgen/{user}"))?)
}

/// Writes the entries of records stored before this plugin published the
/// dataset (a server upgraded in place), a user at a time until
/// `budget_ms` is spent. [`MARKER`] says how far it got: absent, not
/// started; else the key to scan on after, or `done`. A big server would not
/// fit in one call's deadline, so each call that runs this takes it on.
pub fn backfill(budget_ms: u64) -> Result<()> {
    if BACKFILLED.get() {
        return Ok(());
    }
    let deadline = waxwing_sdk::now_ms().saturating_add(budget_ms);
    let marker = kv::get(MARKER)?;
    if marker.as_deref() == Some(DONE) {
        BACKFILLED.set(true);
        return Ok(());
    }
    // No marker: this version has not served yet (first load, before
    // serving or beside a version that never wrote entries), so nothing
    // else writes entries and the guard can be spared.
    let guard = marker.is_some();
    let mut after = marker.unwrap_or_default();
    while let Some((key, _)) = kv::scan("item/", &after, 1)?.into_iter().next() {
        match user_of(&key) {
            Some(user) => {
                // `0` is the byte after `/`: past every record of the user,
                // and no other user's records sort between.
                after = format!("item/{user}0").into_bytes();
                // The marker commits with the user's entries.
                sync_user(user, guard, || Ok(kv::put(MARKER, &after)?))?;
            }
            // Not a key this plugin writes; step over it alone.
            None => after = key,
        }
        if waxwing_sdk::now_ms() >= deadline {
            return Ok(kv::put(MARKER, &after)?);
        }
    }
    kv::put(MARKER, DONE)?;
    BACKFILLED.set(true);
    Ok(())
}

/// The user a record key belongs to: a bare JID holds no `/`.
fn user_of(key: &[u8]) -> Option<&str> {
    let rest = std::str::from_utf8(key.strip_prefix(b"item/")?).ok()?;
    rest.split_once('/').map(|(user, _)| user).filter(|u| !u.is_empty())
}

#[cfg(test)]
#[path = "dataset_tests.rs"]
mod tests;
