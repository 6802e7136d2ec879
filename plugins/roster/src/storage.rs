//! Rosters in `kv`, laid out so that one prefix scan reads a user's roster:
//!
//! - `item/<user>/<contact>` → an [`Item`] record
//! - `ver/<user>` → the roster version counter (XEP-0237), decimal
//! - `tomb/<user>/<contact>` → the version at which a listed item left
//! - `last/<user>` → when the user's last session went offline, and its status
//! - `dsgen/<user>` → the commit guard of the user's dataset entries ([`crate::dataset`])
//! - `dataset-v2` (and `dataset-v1` before it) → how far the dataset backfill got
//!
//! `<user>` is a bare JID, which holds no `/`, so prefixes never overlap.
//!
//! Two sessions of one account can change its roster in two calls at once.
//! So a record, the version counter and a tomb are never read, changed and
//! put back: each is swapped with `kv::compare_and_swap` from the value read,
//! and a swap that loses means another call got there first, so the value is
//! read again and the change made again on top of the other one.

use std::fmt;

use waxwing_sdk::kv::{self, Op};
use waxwing_sdk::prelude::*;

use crate::dataset;
use crate::item::Item;

/// `max_items` when the operator sets none, and the most they may set: past
/// it a roster result would not fit the kernel's stanza size limit.
pub const DEFAULT_MAX_ITEMS: i64 = 1000;
pub const HIGHEST_MAX_ITEMS: i64 = 10_000;

/// Storage failed or held something unreadable.
#[derive(Debug)]
pub struct Failure(pub String);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<HostError> for Failure {
    fn from(e: HostError) -> Self {
        Failure(e.to_string())
    }
}

/// A client whose request hit a storage failure learns only that it failed.
impl From<Failure> for StanzaError {
    fn from(e: Failure) -> Self {
        waxwing_sdk::log::error(&format!("roster storage: {e}"));
        StanzaError::new(Condition::InternalServerError)
    }
}

impl From<Failure> for EventError {
    fn from(e: Failure) -> Self {
        EventError::new(e.0)
    }
}

pub type Result<T> = std::result::Result<T, Failure>;

pub(crate) fn item_prefix(user: &str) -> String {
    format!("item/{user}/")
}

fn item_key(user: &str, contact: &str) -> String {
    format!("item/{user}/{contact}")
}

fn tomb_key(user: &str, contact: &str) -> String {
    format!("tomb/{user}/{contact}")
}

fn ver_key(user: &str) -> String {
    format!("ver/{user}")
}

fn last_key(user: &str) -> String {
    format!("last/{user}")
}

fn parse_u64(bytes: &[u8]) -> Option<u64> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

/// The stored record of `contact`, if there is one.
pub fn record(user: &str, contact: &str) -> Result<Option<Item>> {
    kv::get(item_key(user, contact))?.map(|bytes| Item::decode(&bytes).map_err(Failure)).transpose()
}

/// The user's record of `contact`, or a fresh one.
pub fn load(user: &str, contact: &str) -> Result<Item> {
    Ok(record(user, contact)?.unwrap_or_else(|| Item::new(contact)))
}

pub fn current_ver(user: &str) -> Result<u64> {
    version_in(kv::get(ver_key(user))?.as_deref(), user)
}

fn version_in(bytes: Option<&[u8]>, user: &str) -> Result<u64> {
    match bytes {
        None => Ok(0),
        Some(b) => parse_u64(b).ok_or_else(|| Failure(format!("the roster version of {user} is corrupt"))),
    }
}

/// What [`update`] did to a record.
#[derive(Debug)]
pub struct Change {
    pub before: Item,
    pub after: Item,
    /// The roster version the change took, when the roster as the user sees
    /// it changed (the item is or was listed): the caller pushes the item.
    pub ver: Option<u64>,
}

/// Applies `apply` to the user's record of `contact` (a fresh one when there
/// is none) and stores the result, however many tries it takes: `apply`
/// runs again on the record as another call left it whenever that call
/// stored first, so it must only compute. An `Err` from it stores nothing.
/// With `always`, an unchanged item still takes a new version (a roster set
/// is pushed even when it changes nothing).
pub fn update<T>(
    user: &str,
    contact: &str,
    always: bool,
    mut apply: impl FnMut(&mut Item) -> std::result::Result<T, StanzaError>,
) -> std::result::Result<(Change, T), StanzaError> {
    let key = item_key(user, contact);
    loop {
        let old = kv::get(&key)?;
        let before = match &old {
            Some(bytes) => Item::decode(bytes).map_err(Failure)?,
            None => Item::new(contact),
        };
        let mut after = before.clone();
        let out = apply(&mut after)?;
        if after == before && !always {
            return Ok((Change { before, after, ver: None }, out));
        }
        // A version taken after the record was read is above that of every
        // change stored before, so one item's versions only grow.
        let ver = if before.listed || after.listed { Some(next_version(user)?) } else { None };
        after.ver = ver.unwrap_or(after.ver);
        let new = (!after.is_forgettable()).then(|| after.encode());
        if kv::compare_and_swap(&key, old.as_deref(), new.as_deref())? {
            // Tomb and dataset entries follow the record, each by a swap of
            // its own: written before this one, a lost try would leave them
            // among the call's writes, for the next swap to commit.
            if let Some(ver) = ver {
                set_tomb(user, contact, ver, after.listed)?;
            }
            // A change of the subscription or of the groups.
            if dataset::entries(&before) != dataset::entries(&after) {
                dataset::publish(user, contact)?;
            }
            return Ok((Change { before, after, ver }, out));
        }
        // The version taken is left unused: a gap, which versions may have.
    }
}

/// The next roster version of `user`, never handed out twice.
fn next_version(user: &str) -> Result<u64> {
    let key = ver_key(user);
    loop {
        let old = kv::get(&key)?;
        let next = version_in(old.as_deref(), user)? + 1;
        if kv::compare_and_swap(&key, old.as_deref(), Some(next.to_string().as_bytes()))? {
            return Ok(next);
        }
    }
}

/// After a change at `ver`: the item's tomb goes when it is listed, and says
/// `ver` when it left. A tomb only ever gives way to a later change, so two
/// calls whose swaps land out of order cannot undo the later one.
fn set_tomb(user: &str, contact: &str, ver: u64, listed: bool) -> Result<()> {
    let key = tomb_key(user, contact);
    loop {
        let old = kv::get(&key)?;
        if old.as_deref().and_then(parse_u64).is_some_and(|t| t >= ver) {
            return Ok(());
        }
        let new = (!listed).then(|| ver.to_string());
        if kv::compare_and_swap(&key, old.as_deref(), new.as_deref().map(str::as_bytes))? {
            return Ok(());
        }
    }
}

/// Every record the user has, listed or not. A corrupt record is skipped
/// and logged: one bad entry must not make the whole roster unreadable.
pub fn items(user: &str) -> Result<Vec<Item>> {
    let mut out = Vec::new();
    for entry in kv::scan_iter(item_prefix(user)) {
        let (key, value) = entry?;
        match Item::decode(&value) {
            Ok(item) => out.push(item),
            Err(e) => waxwing_sdk::log::warn(&format!("skipping {}: {e}", String::from_utf8_lossy(&key))),
        }
    }
    Ok(out)
}

/// Whether listing one more contact would pass the configured `max_items`.
pub fn is_full(user: &str) -> Result<bool> {
    let max = waxwing_sdk::config().require_i64("max_items").unwrap_or(DEFAULT_MAX_ITEMS);
    Ok(items(user)?.iter().filter(|i| i.listed).count() as i64 >= max)
}

/// Contacts that left the roster, with the version at which they left.
pub fn tombstones(user: &str) -> Result<Vec<(String, u64)>> {
    let prefix = format!("tomb/{user}/");
    let mut out = Vec::new();
    for entry in kv::scan_iter(&prefix) {
        let (k, v) = entry?;
        let contact = k.strip_prefix(prefix.as_bytes()).and_then(|c| std::str::from_utf8(c).ok());
        if let (Some(contact), Some(ver)) = (contact, parse_u64(&v)) {
            out.push((contact.to_string(), ver));
        }
    }
    Ok(out)
}

/// Forgets everything about `user`, its dataset entries included.
pub fn delete_all(user: &str) -> Result<()> {
    let mut ops: Vec<Op> = Vec::new();
    for prefix in [item_prefix(user), format!("tomb/{user}/")] {
        for entry in kv::scan_iter(prefix) {
            ops.push(Op::Delete(entry?.0));
        }
    }
    ops.push(Op::delete(ver_key(user)));
    ops.push(Op::delete(last_key(user)));
    kv::batch(&ops)?;
    dataset::forget(user)
}

/// When the user went offline (ms since the epoch) and the status it left.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastActivity {
    pub ms: u64,
    pub status: String,
}

impl LastActivity {
    fn encode(&self) -> Vec<u8> {
        format!("{}\n{}", self.ms, self.status).into_bytes()
    }

    fn decode(bytes: &[u8]) -> Option<LastActivity> {
        let text = std::str::from_utf8(bytes).ok()?;
        let (ms, status) = text.split_once('\n')?;
        Some(LastActivity { ms: ms.parse().ok()?, status: status.to_string() })
    }
}

/// Replaces the record whole: the last session to go wins, nothing to merge.
pub fn save_last(user: &str, last: &LastActivity) -> Result<()> {
    Ok(kv::put(last_key(user), last.encode())?)
}

pub fn load_last(user: &str) -> Result<Option<LastActivity>> {
    Ok(kv::get(last_key(user))?.and_then(|b| LastActivity::decode(&b)))
}

#[cfg(test)]
#[path = "storage_tests.rs"]
mod tests;
