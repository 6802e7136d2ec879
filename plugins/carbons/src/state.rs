//! Which sessions enabled carbons, in `mem` (ephemeral: a session's choice
//! ends with the session, RFC-wise and here).
//!
//! - `on/<full JID>`: present while that session has carbons enabled.
//! - `count/<bare JID>`: how many of the account's sessions have, an `incr`
//!   counter so the message filter can skip accounts with none in one call.
//!   A session's enable, disable and end run on that session's own task, so
//!   the check-then-update of one session's flag never races with itself.

use waxwing_sdk::{HostError, filter_scope, mem, sessions};

use crate::copies::Resource;

fn flag_key(full_jid: &str) -> String {
    format!("on/{full_jid}")
}

fn count_key(bare_jid: &str) -> String {
    format!("count/{bare_jid}")
}

pub fn enable(full_jid: &str) -> Result<(), HostError> {
    let key = flag_key(full_jid);
    if mem::get(&key)?.is_none() {
        mem::put(&key, b"1")?;
        let bare = waxwing_sdk::jid::bare(full_jid);
        if mem::incr(&count_key(bare), 1)? == 1 {
            filter_scope::watch(bare, true)?;
        }
    }
    Ok(())
}

pub fn disable(full_jid: &str) -> Result<(), HostError> {
    let key = flag_key(full_jid);
    if mem::get(&key)?.is_some() {
        mem::delete(&key)?;
        let bare = waxwing_sdk::jid::bare(full_jid);
        if mem::incr(&count_key(bare), -1)? <= 0 {
            filter_scope::watch(bare, false)?;
        }
    }
    Ok(())
}

/// The fast path: one `mem` read per account, no parsing. (A read, not
/// `incr(0)`, so that accounts that never enabled leave no key behind.)
pub fn any_enabled(bare_jid: &str) -> Result<bool, HostError> {
    Ok(mem::get(&count_key(bare_jid))?.is_some_and(|v| counter_value(&v) > 0))
}

/// `mem.incr` keeps counters as little-endian i64; anything else reads as 0.
fn counter_value(bytes: &[u8]) -> i64 {
    <[u8; 8]>::try_from(bytes).map(i64::from_le_bytes).unwrap_or(0)
}

/// The account's sessions with their carbons flag.
pub fn resources(bare_jid: &str) -> Result<Vec<Resource>, HostError> {
    sessions::of(bare_jid)?
        .into_iter()
        .map(|s| {
            let enabled = mem::get(&flag_key(&s.jid))?.is_some();
            Ok(Resource { jid: s.jid, priority: s.priority, available: s.available, enabled })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_read_as_mem_writes_them() {
        assert_eq!(counter_value(&2i64.to_le_bytes()), 2);
        assert_eq!(counter_value(&(-1i64).to_le_bytes()), -1);
        assert_eq!(counter_value(b"junk"), 0);
        assert_eq!(flag_key("a@h/r"), "on/a@h/r");
        assert_eq!(count_key("a@h"), "count/a@h");
    }
}
