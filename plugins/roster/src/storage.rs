//! Rosters in `kv`, laid out so that one prefix scan reads a user's roster:
//!
//! - `item/<user>/<contact>` → an [`Item`] record
//! - `ver/<user>` → the roster version counter (XEP-0237), decimal
//! - `tomb/<user>/<contact>` → the version at which a listed item left
//! - `last/<user>` → when the user's last session went offline, and its status
//!
//! `<user>` is a bare JID, which holds no `/`, so prefixes never overlap.

use std::fmt;

use waxwing_sdk::kv::{self, Op};
use waxwing_sdk::prelude::*;

use crate::item::Item;

/// Entries read per scan call.
const PAGE: u32 = 100;

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

impl From<String> for Failure {
    fn from(e: String) -> Self {
        Failure(e)
    }
}

/// A client whose request hit a storage failure learns only that it failed.
impl From<Failure> for StanzaError {
    fn from(e: Failure) -> Self {
        waxwing_sdk::log::error(&format!("roster storage: {e}"));
        StanzaError::new(Condition::InternalServerError)
    }
}

impl From<Failure> for String {
    fn from(e: Failure) -> Self {
        e.0
    }
}

pub type Result<T> = std::result::Result<T, Failure>;

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

/// The user's record of `contact`, or a fresh one.
pub fn load(user: &str, contact: &str) -> Result<Item> {
    match kv::get(item_key(user, contact))? {
        Some(bytes) => Ok(Item::decode(&bytes)?),
        None => Ok(Item::new(contact)),
    }
}

pub fn current_ver(user: &str) -> Result<u64> {
    match kv::get(ver_key(user))? {
        None => Ok(0),
        Some(bytes) => parse_u64(&bytes).ok_or_else(|| Failure(format!("the roster version of {user} is corrupt"))),
    }
}

fn parse_u64(bytes: &[u8]) -> Option<u64> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

/// Stores `item` after a change. When the roster as the user sees it changed
/// (the item is or was listed), the roster version moves on, the item takes
/// it, and it is returned: the caller pushes the change.
pub fn save(user: &str, item: &mut Item, was_listed: bool) -> Result<Option<u64>> {
    let key = item_key(user, &item.jid).into_bytes();
    let store =
        |item: &Item| if item.is_forgettable() { Op::Delete(key.clone()) } else { Op::Put(key.clone(), item.encode()) };
    if !item.listed && !was_listed {
        kv::batch(&[store(item)])?;
        return Ok(None);
    }
    let ver = current_ver(user)? + 1;
    item.ver = ver;
    let tomb = tomb_key(user, &item.jid).into_bytes();
    let tomb_op = if item.listed { Op::Delete(tomb) } else { Op::Put(tomb, ver.to_string().into_bytes()) };
    kv::batch(&[store(item), tomb_op, Op::Put(ver_key(user).into_bytes(), ver.to_string().into_bytes())])?;
    Ok(Some(ver))
}

/// Every entry under `prefix`, page by page.
fn scan_all(prefix: &str) -> Result<Vec<kv::Entry>> {
    let mut out: Vec<kv::Entry> = Vec::new();
    loop {
        let after = out.last().map(|(k, _)| k.clone()).unwrap_or_default();
        let page = kv::scan(prefix, after, PAGE)?;
        if page.is_empty() {
            return Ok(out);
        }
        out.extend(page);
    }
}

/// Every record the user has, listed or not. A corrupt record is skipped
/// and logged: one bad entry must not make the whole roster unreadable.
pub fn items(user: &str) -> Result<Vec<Item>> {
    let mut out = Vec::new();
    for (key, value) in scan_all(&format!("item/{user}/"))? {
        match Item::decode(&value) {
            Ok(item) => out.push(item),
            Err(e) => waxwing_sdk::log::warn(&format!("skipping {}: {e}", String::from_utf8_lossy(&key))),
        }
    }
    Ok(out)
}

/// How many contacts the roster lists.
pub fn listed_count(user: &str) -> Result<u64> {
    Ok(items(user)?.iter().filter(|i| i.listed).count() as u64)
}

/// Whether listing one more contact would pass the configured limit.
pub fn is_full(user: &str) -> Result<bool> {
    Ok(listed_count(user)? >= crate::limits::max_items())
}

/// Contacts that left the roster, with the version at which they left.
pub fn tombstones(user: &str) -> Result<Vec<(String, u64)>> {
    let prefix = format!("tomb/{user}/");
    Ok(scan_all(&prefix)?
        .into_iter()
        .filter_map(|(k, v)| {
            let key = String::from_utf8(k).ok()?;
            Some((key.strip_prefix(&prefix)?.to_string(), parse_u64(&v)?))
        })
        .collect())
}

/// Forgets everything about `user`.
pub fn delete_all(user: &str) -> Result<()> {
    let mut ops: Vec<Op> = Vec::new();
    for prefix in [format!("item/{user}/"), format!("tomb/{user}/")] {
        ops.extend(scan_all(&prefix)?.into_iter().map(|(k, _)| Op::Delete(k)));
    }
    ops.push(Op::Delete(ver_key(user).into_bytes()));
    ops.push(Op::Delete(last_key(user).into_bytes()));
    for chunk in ops.chunks(PAGE as usize) {
        kv::batch(chunk)?;
    }
    Ok(())
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

pub fn save_last(user: &str, last: &LastActivity) -> Result<()> {
    Ok(kv::put(last_key(user), last.encode())?)
}

pub fn load_last(user: &str) -> Result<Option<LastActivity>> {
    Ok(kv::get(last_key(user))?.and_then(|b| LastActivity::decode(&b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_users_apart() {
        assert_eq!(item_key("a@h", "b@h"), "item/a@h/b@h");
        // One user's prefix never matches another user whose JID extends it.
        assert!(!item_key("ab@h", "c@h").starts_with("item/a@h/"));
        assert!(!item_key("a@h.x", "c@h").starts_with("item/a@h/"));
        assert_eq!(tomb_key("a@h", "b@h"), "tomb/a@h/b@h");
    }

    #[test]
    fn last_activity_round_trips() {
        let last = LastActivity { ms: 1_700_000_000_123, status: "gone\nfishing".into() };
        assert_eq!(LastActivity::decode(&last.encode()), Some(last));
        assert_eq!(LastActivity::decode(b"garbage"), None);
        assert_eq!(LastActivity::decode(b"x\nstatus"), None);
        assert_eq!(parse_u64(b"17"), Some(17));
        assert_eq!(parse_u64(b"-1"), None);
    }
}
