//! The event log in `kv`: entries under `log/` in append order, and the
//! number appended under `count`, which always agree.

use waxwing_sdk::kv;
use waxwing_sdk::prelude::*;

use crate::NS;

/// Log entries live under this prefix, so one scan reads them in order.
const LOG_PREFIX: &str = "log/";
/// How many entries were appended.
const COUNT_KEY: &str = "count";
/// A `<log/>` reply stops here (flagged `truncated`) so that it stays well
/// under the kernel's stanza size limit whatever the log holds.
const MAX_REPLY_ENTRIES: usize = 1000;

/// The key of entry `seq`. Zero-padded so key order is append order. The
/// suffix sets apart the entry of an attempt that lost its swap (see
/// [`append`]) from the winner's entry of the same number.
pub(crate) fn entry_key(seq: u64, suffix: &str) -> String {
    format!("{LOG_PREFIX}{seq:020}/{suffix}")
}

/// A stored counter, decimal text; a missing one is zero.
pub(crate) fn parse_count(stored: Option<&[u8]>) -> Result<u64, String> {
    match stored {
        None => Ok(0),
        Some(bytes) => std::str::from_utf8(bytes)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("the stored count {:?} is not a number", String::from_utf8_lossy(bytes))),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Appends one entry: writes it, then swaps the count from the value read to
/// one more. A successful swap commits with the call's earlier writes, so a
/// reader never sees an entry the count does not include, nor the reverse.
/// When another call swapped first (two sessions' events at once), the entry
/// is taken back and the append retried on the new count.
pub(crate) fn append(line: &str) -> Result<(), EventError> {
    loop {
        let stored = kv::get(COUNT_KEY)?;
        let seq = parse_count(stored.as_deref())? + 1;
        let key = entry_key(seq, &hex(&waxwing_sdk::random(4)));
        kv::put(&key, line)?;
        if kv::compare_and_swap(COUNT_KEY, stored.as_deref(), Some(seq.to_string().as_bytes()))? {
            return Ok(());
        }
        kv::delete(&key)?;
    }
}

/// How often [`read`] tries for a view no append landed in the middle of.
const READ_ATTEMPTS: usize = 20;

/// `<log count='n'>` with the entries, oldest first.
///
/// Reads are not a snapshot: another session's event may append between
/// reading the count and scanning. The count is read before and after the
/// scan, and the scan kept only when both agree, so the reply shows the
/// entries and the count of one moment.
pub(crate) fn read() -> Result<Element, StanzaError> {
    let count = || {
        parse_count(kv::get(COUNT_KEY)?.as_deref())
            .map_err(|e| StanzaError::new(Condition::InternalServerError).with_text(e))
    };
    for _ in 0..READ_ATTEMPTS {
        let before = count()?;
        // One past the cap, so that a full reply can tell "exactly the cap"
        // from "more than fits".
        let mut entries = kv::scan_iter(LOG_PREFIX).take(MAX_REPLY_ENTRIES + 1).collect::<Result<Vec<_>, _>>()?;
        if count()? != before {
            continue;
        }
        let truncated = entries.len() > MAX_REPLY_ENTRIES;
        entries.truncate(MAX_REPLY_ENTRIES);
        return Ok(log_element(
            before,
            entries.iter().map(|(_, v)| String::from_utf8_lossy(v).into_owned()),
            truncated,
        ));
    }
    Err(StanzaError::new(Condition::ResourceConstraint)
        .with_text(format!("the log kept growing during {READ_ATTEMPTS} reads; ask again")))
}

pub(crate) fn log_element(count: u64, lines: impl Iterator<Item = String>, truncated: bool) -> Element {
    let mut el = Element::new("log", NS).with_attr("count", count.to_string());
    if truncated {
        el.set_attr("truncated", "true");
    }
    for line in lines {
        el.push_child(Element::new("entry", NS).with_text(line));
    }
    el
}
