//! The datasets, for other plugins to read, both keyed `<user> <contact>`
//! (bare JIDs hold no space) and holding an entry for every record this
//! plugin keeps, no more:
//!
//! - `subscriptions`: the subscription state, "none", "to", "from" or
//!   "both" (blocking, to know who sees a user's presence);
//! - `groups`: the roster groups the user filed the contact under, joined
//!   by "\n", or "" when in none (the PubSub `roster` access model).
//!
//! Datasets have no compare-and-swap, and a call's writes land when it
//! returns, so two calls that changed one roster could land their entries
//! in the wrong order. Every write of a user's entries, in both datasets at
//! once, is therefore committed by a swap of `dsgen/<user>`, with entries
//! read from the records since the counter was: a swap that loses means
//! another commit came between, so the records are read and the entries
//! written again. The last commit is then always of the records as they are.

use std::cell::Cell;
use std::collections::BTreeMap;

use waxwing_sdk::{datasets, kv};

use crate::item::Item;
use crate::storage::{self, Result};

/// This plugin's name, which owns the datasets.
pub const PLUGIN: &str = "roster";
pub const NAME: &str = "subscriptions";
pub const DOC: &str = "Key \"<user> <contact>\" (bare JIDs), value the user's subscription with the contact: \
                       none, to, from or both";
pub const GROUPS: &str = "groups";
pub const GROUPS_DOC: &str = "Key \"<user> <contact>\" (bare JIDs), value the roster groups the user filed the \
                              contact under, joined by \"\\n\" (empty when in none); present exactly when the \
                              subscriptions entry is";

/// The datasets, in the order of the values of [`entries`].
const DATASETS: [&str; 2] = [NAME, GROUPS];

/// The kv key whose value says how far the backfill got (see [`backfill`]).
/// `-v2` since the `groups` dataset: a server whose `subscriptions`
/// backfill finished runs it again, for the groups.
const MARKER: &str = "dataset-v2";
/// The marker of the versions that published `subscriptions` alone.
const MARKER_V1: &str = "dataset-v1";
const DONE: &[u8] = b"done";

thread_local! {
    /// This instance has seen the backfill done: no more reads of the marker.
    static BACKFILLED: Cell<bool> = const { Cell::new(false) };
}

pub fn key(user: &str, contact: &str) -> String {
    format!("{user} {contact}")
}

/// What `subscriptions` says of a record: its subscription while it is kept.
pub fn entry(item: &Item) -> Option<&'static str> {
    (!item.is_forgettable()).then(|| item.sub.name())
}

/// What the datasets say of a record, in the order of [`DATASETS`]: its
/// subscription and its groups while it is kept, nothing when it is not.
pub fn entries(item: &Item) -> Option<[String; 2]> {
    Some([entry(item)?.to_string(), item.groups.join("\n")])
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

fn write_entry(dataset: &str, user: &str, contact: &str, value: Option<&str>) -> Result<()> {
    match value {
        Some(v) => datasets::put(dataset, &key(user, contact), v)?,
        None => datasets::delete(dataset, &key(user, contact))?,
    }
    Ok(())
}

/// After a change of the record of `contact`: its entries as the record is now.
pub fn publish(user: &str, contact: &str) -> Result<()> {
    guarded(user, || {
        let values = storage::record(user, contact)?.as_ref().and_then(entries);
        for (i, dataset) in DATASETS.into_iter().enumerate() {
            write_entry(dataset, user, contact, values.as_ref().map(|v| v[i].as_str()))?;
        }
        Ok(())
    })
}

/// Makes every entry of `user` match the records, then runs `also` to
/// commit with them. Unguarded only where no other call can be writing them.
fn sync_user(user: &str, guard: bool, mut also: impl FnMut() -> Result<()>) -> Result<()> {
    let mut sync = || {
        let wanted: BTreeMap<String, [String; 2]> =
            storage::items(user)?.iter().filter_map(|i| Some((i.jid.clone(), entries(i)?))).collect();
        for (i, dataset) in DATASETS.into_iter().enumerate() {
            let mut present = BTreeMap::new();
            for e in datasets::scan_iter(PLUGIN, dataset, &key(user, "")) {
                let (k, v) = e?;
                present.insert(k, v);
            }
            for k in present.keys() {
                let contact = &k[user.len() + 1..];
                if !wanted.contains_key(contact) {
                    write_entry(dataset, user, contact, None)?;
                }
            }
            for (contact, v) in &wanted {
                if present.get(&key(user, contact)).map(Vec::as_slice) != Some(v[i].as_bytes()) {
                    write_entry(dataset, user, contact, Some(&v[i]))?;
                }
            }
        }
        also()
    };
    if guard { guarded(user, sync) } else { sync() }
}

/// The account is gone: so are its entries, and their guard.
pub fn forget(user: &str) -> Result<()> {
    guarded(user, || {
        for dataset in DATASETS {
            for e in datasets::scan_iter(PLUGIN, dataset, &key(user, "")) {
                datasets::delete(dataset, &e?.0)?;
            }
        }
        Ok(())
    })?;
    Ok(kv::delete(format!("dsgen/{user}"))?)
}

/// Writes the entries of records stored before this plugin published the
/// datasets, or before it published `groups` (a server upgraded in place;
/// the entries already in `subscriptions` are only checked), a user at a
/// time until `budget_ms` is spent. [`MARKER`] says how far it got: absent,
/// not started; else the key to scan on after, or `done`. A big server would
/// not fit in one call's deadline, so each call that runs this takes it on.
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
    // No marker, not even of the versions before `groups`: this version
    // has not served yet (first load, before serving or beside a version
    // that never wrote entries), so nothing else writes entries and the
    // guard can be spared. With the old marker, the version beside may be
    // committing `subscriptions` entries this pass writes again: guarded,
    // the pass loses no commit of theirs, and they none of its.
    let guard = marker.is_some() || kv::get(MARKER_V1)?.is_some();
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
