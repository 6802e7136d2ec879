//! What each account holds, for its quota and for deleting its files with
//! it: `f/<owner>/<expiry ms, 16 hex digits>/<slot id>` → size in decimal.
//! Keys sort by expiry, so what expired first is read first; a slot never
//! used counts until it expires, as it could still be.

use waxwing_sdk::kv::{self, Op};
use waxwing_sdk::prelude::*;
use waxwing_sdk::uploads;

const NS: &str = "urn:xmpp:http:upload:0";

fn prefix(owner: &str) -> String {
    format!("f/{owner}/")
}

/// (expiry, size) of a stored entry's key and value; `None` for a stray key.
fn parse(prefix_len: usize, key: &[u8], value: &[u8]) -> Option<(u64, u64)> {
    let rest = std::str::from_utf8(key.get(prefix_len..)?).ok()?;
    let expiry = u64::from_str_radix(rest.split_once('/')?.0, 16).ok()?;
    let size = std::str::from_utf8(value).ok()?.parse().ok()?;
    Some((expiry, size))
}

/// Refuses (XEP-0363 §5: `resource-constraint`, with when to retry) an
/// upload of `size` that would take `owner` past `quota` (0: none), and
/// forgets what has expired by `now`.
pub fn check(owner: &str, size: u64, quota: u64, now: u64) -> Result<(), StanzaError> {
    let p = prefix(owner);
    let mut used: u64 = 0;
    let mut next_expiry = None;
    let mut expired = Vec::new();
    for entry in kv::scan_iter(p.as_bytes()) {
        let (key, value) = entry?;
        match parse(p.len(), &key, &value) {
            Some((expiry, _)) if expiry <= now => expired.push(Op::delete(key)),
            Some((expiry, size)) => {
                used = used.saturating_add(size);
                if expiry != u64::MAX {
                    next_expiry.get_or_insert(expiry);
                }
            }
            None => expired.push(Op::delete(key)),
        }
    }
    if !expired.is_empty() {
        kv::batch(&expired)?;
    }
    if quota == 0 || used.saturating_add(size) <= quota {
        return Ok(());
    }
    let mut e = StanzaError::new(Condition::ResourceConstraint)
        .with_type(ErrorType::Wait)
        .with_text(format!("over the quota of {quota} bytes: {used} are stored"));
    if let Some(at) = next_expiry {
        e = e.with_app_condition(Element::new("retry", NS).with_attr("stamp", waxwing_sdk::format_utc(at)));
    }
    Err(e)
}

/// Counts a granted slot against its owner until `expires` (`u64::MAX`: never).
pub fn record(owner: &str, expires: u64, id: &str, size: u64) -> Result<(), HostError> {
    kv::put(format!("{}{expires:016x}/{id}", prefix(owner)), size.to_string())
}

/// An account was deleted: so are its files.
pub fn forget_account(owner: &str) -> Result<(), EventError> {
    let p = prefix(owner);
    let entries = kv::scan_all(p.as_bytes())?;
    for (key, _) in &entries {
        let id = std::str::from_utf8(key).ok().and_then(|k| k.rsplit_once('/')).map(|(_, id)| id);
        if let Some(id) = id {
            uploads::delete(id).map_err(|e| EventError::new(format!("deleting upload {id} of {owner}: {e}")))?;
        }
    }
    let ops: Vec<Op> = entries.into_iter().map(|(k, _)| Op::delete(k)).collect();
    Ok(kv::batch(&ops)?)
}
