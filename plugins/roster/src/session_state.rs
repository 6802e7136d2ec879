//! What this plugin remembers about each live session, in `mem` (it must be
//! shared by every instance and die with the server): whether it asked for
//! the roster, whether it has sent initial presence, whether it is
//! invisible, and who it sent directed presence to. Keys are per full JID
//! and are all dropped when the session ends.

use waxwing_sdk::mem;
use waxwing_sdk::prelude::*;

const INTERESTED: &str = "interested/";
const AVAILABLE: &str = "available/";
const INVISIBLE: &str = "invisible/";
const DIRECTED: &str = "directed/";
/// Directed presence recipients remembered per session; past this the
/// oldest is forgotten rather than letting one session grow `mem` unbounded.
const MAX_DIRECTED: usize = 1000;

fn key(kind: &str, full: &str) -> String {
    format!("{kind}{full}")
}

fn flag(kind: &str, full: &str) -> Result<bool, HostError> {
    Ok(mem::get(&key(kind, full))?.is_some())
}

/// Sets or clears a flag; returns whether it was set before, atomically, so
/// of two calls that set it only one sees it newly set.
fn set_flag(kind: &str, full: &str, on: bool) -> Result<bool, HostError> {
    let key = key(kind, full);
    if on { Ok(!mem::put_if_absent(&key, b"1")?) } else { mem::compare_and_swap(&key, Some(b"1"), None) }
}

/// The session requested the roster, so it gets pushes (RFC 6121 §2.1.6).
pub fn mark_interested(full: &str) -> Result<(), HostError> {
    set_flag(INTERESTED, full, true).map(|_| ())
}

pub fn is_interested(full: &str) -> Result<bool, HostError> {
    flag(INTERESTED, full)
}

/// Records the session's availability; returns whether it was available.
pub fn set_available(full: &str, available: bool) -> Result<bool, HostError> {
    set_flag(AVAILABLE, full, available)
}

pub fn is_available(full: &str) -> Result<bool, HostError> {
    flag(AVAILABLE, full)
}

pub fn is_invisible(full: &str) -> Result<bool, HostError> {
    flag(INVISIBLE, full)
}

/// Returns whether it was invisible before.
pub fn set_invisible(full: &str, invisible: bool) -> Result<bool, HostError> {
    set_flag(INVISIBLE, full, invisible)
}

/// Changes the session's directed-presence list with `change`, again on
/// what another call left whenever it stored first.
fn edit_directed(full: &str, mut change: impl FnMut(&mut Vec<String>)) -> Result<Vec<String>, HostError> {
    let key = key(DIRECTED, full);
    loop {
        let old = mem::get(&key)?;
        let mut list = old.as_deref().map(decode_list).unwrap_or_default();
        let before = list.clone();
        change(&mut list);
        let new = (!list.is_empty()).then(|| encode_list(&list));
        if list == before || mem::compare_and_swap(&key, old.as_deref(), new.as_deref())? {
            return Ok(before);
        }
    }
}

/// The session sent available presence to `to` (RFC 6121 §4.6).
pub fn add_directed(full: &str, to: &str) -> Result<(), HostError> {
    edit_directed(full, |list| {
        if !list.iter().any(|j| j == to) {
            list.push(to.to_string());
            if list.len() > MAX_DIRECTED {
                list.remove(0);
            }
        }
    })
    .map(drop)
}

/// The session sent unavailable presence to `to`: it need not hear it again.
pub fn remove_directed(full: &str, to: &str) -> Result<(), HostError> {
    edit_directed(full, |list| list.retain(|j| j != to)).map(drop)
}

/// Everyone the session sent directed presence to, forgetting them.
pub fn take_directed(full: &str) -> Result<Vec<String>, HostError> {
    edit_directed(full, Vec::clear)
}

/// The session is gone.
pub fn forget(full: &str) -> Result<(), HostError> {
    for kind in [INTERESTED, AVAILABLE, INVISIBLE, DIRECTED] {
        mem::delete(&key(kind, full))?;
    }
    Ok(())
}

/// JIDs cannot hold a newline, so it separates them.
fn encode_list(list: &[String]) -> Vec<u8> {
    list.join("\n").into_bytes()
}

fn decode_list(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes).split('\n').filter(|s| !s.is_empty()).map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_round_trip() {
        let list = vec!["a@h/r".to_string(), "room@muc.h/nick".to_string()];
        assert_eq!(decode_list(&encode_list(&list)), list);
        assert!(decode_list(b"").is_empty());
        assert_eq!(key(DIRECTED, "a@h/r"), "directed/a@h/r");
    }
}
