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

/// Sets or clears a flag; returns whether it was set before.
fn set_flag(kind: &str, full: &str, on: bool) -> Result<bool, HostError> {
    let was = flag(kind, full)?;
    if on {
        mem::put(&key(kind, full), b"1")?;
    } else if was {
        mem::delete(&key(kind, full))?;
    }
    Ok(was)
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

fn directed(full: &str) -> Result<Vec<String>, HostError> {
    Ok(mem::get(&key(DIRECTED, full))?.map(|b| decode_list(&b)).unwrap_or_default())
}

fn store_directed(full: &str, list: &[String]) -> Result<(), HostError> {
    if list.is_empty() { mem::delete(&key(DIRECTED, full)) } else { mem::put(&key(DIRECTED, full), encode_list(list)) }
}

/// The session sent available presence to `to` (RFC 6121 §4.6).
pub fn add_directed(full: &str, to: &str) -> Result<(), HostError> {
    let mut list = directed(full)?;
    if !list.iter().any(|j| j == to) {
        list.push(to.to_string());
        if list.len() > MAX_DIRECTED {
            list.remove(0);
        }
        store_directed(full, &list)?;
    }
    Ok(())
}

/// The session sent unavailable presence to `to`: it need not hear it again.
pub fn remove_directed(full: &str, to: &str) -> Result<(), HostError> {
    let mut list = directed(full)?;
    let before = list.len();
    list.retain(|j| j != to);
    if list.len() != before {
        store_directed(full, &list)?;
    }
    Ok(())
}

/// Everyone the session sent directed presence to, forgetting them.
pub fn take_directed(full: &str) -> Result<Vec<String>, HostError> {
    let list = directed(full)?;
    if !list.is_empty() {
        mem::delete(&key(DIRECTED, full))?;
    }
    Ok(list)
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
