//! An ephemeral map shared by this plugin's instances on this host
//! (capability `mem`): it survives a hot swap, not a restart. Presence
//! caches, rate counters, occupants. Writes take effect at once.

use super::{lift, sys};
use crate::error::HostError;

/// The value under `key`, if any.
pub fn get(key: &str) -> Result<Option<Vec<u8>>, HostError> {
    lift(sys::mem::get(key))
}

/// Sets `key` to `value`.
pub fn put(key: &str, value: impl AsRef<[u8]>) -> Result<(), HostError> {
    lift(sys::mem::put(key, value.as_ref()))
}

/// Removes `key`; absent is fine.
pub fn delete(key: &str) -> Result<(), HostError> {
    lift(sys::mem::delete(key))
}

/// Adds `delta` to the little-endian i64 counter under `key` (missing
/// counts as 0) and returns the new value.
pub fn incr(key: &str, delta: i64) -> Result<i64, HostError> {
    lift(sys::mem::incr(key, delta))
}

/// Sets `key` to `value` only if it is absent; says whether it did. A lock
/// or a "first one wins" marker.
pub fn put_if_absent(key: &str, value: impl AsRef<[u8]>) -> Result<bool, HostError> {
    lift(sys::mem::put_if_absent(key, value.as_ref()))
}

/// Sets `key` to `new` (`None`: deletes it) only if its value is now
/// `expected` (`None`: absent); says whether it did. Like
/// [`crate::kv::compare_and_swap`], on the map.
pub fn compare_and_swap(key: &str, expected: Option<&[u8]>, new: Option<&[u8]>) -> Result<bool, HostError> {
    lift(sys::mem::compare_and_swap(key, expected, new))
}

/// The list of lines (values without line breaks, such as JIDs) under
/// `key`, in order. An absent value, or one that is not UTF-8, reads as empty.
pub fn lines(key: &str) -> Result<Vec<String>, HostError> {
    Ok(decode_lines(get(key)?.as_deref()))
}

/// Applies `change` to the list of lines under `key`, and again if another
/// call changed the list meanwhile (compare-and-swap). `change` returns
/// what it did, or `None` for nothing, and then nothing is written; an
/// emptied list is deleted. Returns what the stored change did.
pub fn update_lines<T>(key: &str, change: impl Fn(&mut Vec<String>) -> Option<T>) -> Result<Option<T>, HostError> {
    loop {
        let old = get(key)?;
        let mut list = decode_lines(old.as_deref());
        let Some(outcome) = change(&mut list) else { return Ok(None) };
        let new = (!list.is_empty()).then(|| list.join("\n"));
        if compare_and_swap(key, old.as_deref(), new.as_deref().map(str::as_bytes))? {
            return Ok(Some(outcome));
        }
    }
}

/// Removes the list of lines under `key`; returns what it held.
pub fn take_lines(key: &str) -> Result<Vec<String>, HostError> {
    let list = lines(key)?;
    delete(key)?;
    Ok(list)
}

fn decode_lines(bytes: Option<&[u8]>) -> Vec<String> {
    let text = bytes.and_then(|b| std::str::from_utf8(b).ok()).unwrap_or_default();
    text.split('\n').filter(|j| !j.is_empty()).map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::decode_lines;

    #[test]
    fn lines_read_back_and_junk_reads_as_nothing() {
        assert_eq!(decode_lines(Some(b"a@r/1\nb@r/2")), ["a@r/1", "b@r/2"]);
        assert_eq!(decode_lines(Some(b"a@r/1\n\nb@r/2")), ["a@r/1", "b@r/2"]);
        assert!(decode_lines(None).is_empty());
        assert!(decode_lines(Some(b"")).is_empty());
        assert!(decode_lines(Some(&[0xff, 0xfe])).is_empty());
        assert!(decode_lines(Some(&[0xff])).is_empty());
    }
}
