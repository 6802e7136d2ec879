//! Stored messages in `kv`.
//!
//! Layout, per account (bare JID, which has no '/'):
//! - `msg/<bare>/<arrival ms, 20 digits>-<sequence, 20 digits>` → one
//!   [`Record`]. Zero padding makes key order arrival order; the sequence
//!   (a `mem` counter) separates messages of the same millisecond.
//! - `count/<bare>` → how many are stored, decimal, for the quota without
//!   reading every message. It is written in the same batch as each message;
//!   two messages arriving at once may both read the old count, so it can
//!   fall short by the number of such races until the next delivery resets it.

use waxwing_sdk::kv::{self, Entry, Op};
use waxwing_sdk::{HostError, mem};

/// The `mem` counter behind the sequence part of keys.
const SEQUENCE_KEY: &str = "sequence";

fn messages_prefix(bare: &str) -> String {
    format!("msg/{bare}/")
}

fn count_key(bare: &str) -> String {
    format!("count/{bare}")
}

pub fn message_key(bare: &str, arrived_ms: u64, sequence: u64) -> String {
    format!("{}{arrived_ms:020}-{sequence:020}", messages_prefix(bare))
}

/// One stored message: when it arrived and the stanza as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub arrived_ms: u64,
    pub xml: String,
}

impl Record {
    pub fn encode(&self) -> Vec<u8> {
        format!("{}\n{}", self.arrived_ms, self.xml).into_bytes()
    }

    pub fn decode(bytes: &[u8]) -> Result<Record, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "a stored message is not UTF-8".to_string())?;
        let (ms, xml) = text.split_once('\n').ok_or("a stored message has no arrival time")?;
        let arrived_ms = ms.parse().map_err(|_| format!("a stored arrival time {ms:?} is not a number"))?;
        Ok(Record { arrived_ms, xml: xml.to_string() })
    }
}

pub fn parse_count(stored: Option<&[u8]>) -> u64 {
    // A count that cannot be read is treated as zero: the quota is a guard,
    // and refusing every message for an unreadable counter would be worse.
    stored.and_then(|b| std::str::from_utf8(b).ok()).and_then(|s| s.parse().ok()).unwrap_or(0)
}

pub fn stored_count(bare: &str) -> Result<u64, HostError> {
    Ok(parse_count(kv::get(count_key(bare))?.as_deref()))
}

/// Appends a message (durable when this returns) and bumps the count.
pub fn append(bare: &str, record: &Record, count_before: u64) -> Result<(), HostError> {
    let sequence = u64::try_from(mem::incr(SEQUENCE_KEY, 1)?).unwrap_or(0);
    let key = message_key(bare, record.arrived_ms, sequence);
    kv::batch(&[
        Op::Put(key.into_bytes(), record.encode()),
        Op::Put(count_key(bare).into_bytes(), (count_before + 1).to_string().into_bytes()),
    ])
}

/// Every stored entry of the account, oldest first.
pub fn load_all(bare: &str) -> Result<Vec<Entry>, HostError> {
    kv::scan_all(messages_prefix(bare))
}

/// Removes the given entries and resets the count, in one batch.
pub fn remove(bare: &str, keys: impl Iterator<Item = Vec<u8>>) -> Result<(), HostError> {
    let mut ops: Vec<Op> = keys.map(Op::Delete).collect();
    ops.push(Op::Delete(count_key(bare).into_bytes()));
    kv::batch(&ops)
}

/// Removes everything stored for the account. Only the keys are held: the
/// messages are read a page at a time and let go.
pub fn purge(bare: &str) -> Result<(), HostError> {
    let keys = kv::scan_iter(messages_prefix(bare)).map(|entry| entry.map(|(k, _)| k));
    remove(bare, keys.collect::<Result<Vec<_>, _>>()?.into_iter())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_in_arrival_order() {
        let a = message_key("bob@h", 999, 7);
        let b = message_key("bob@h", 1000, 1);
        let c = message_key("bob@h", 1000, 2);
        assert!(a < b && b < c);
        assert!(a.starts_with(&messages_prefix("bob@h")));
        assert_eq!(b, "msg/bob@h/00000000000000001000-00000000000000000001");
        // One account's prefix never covers another's.
        assert!(!message_key("bob@hx", 1, 1).starts_with(&messages_prefix("bob@h")));
    }

    #[test]
    fn records_round_trip() {
        let r = Record { arrived_ms: 1_700_000_000_123, xml: "<message>\n<body>two\nlines</body></message>".into() };
        assert_eq!(Record::decode(&r.encode()), Ok(r));
    }

    #[test]
    fn damaged_records_say_why() {
        assert!(Record::decode(b"no newline").unwrap_err().contains("no arrival time"));
        assert!(Record::decode(b"x\n<message/>").unwrap_err().contains("not a number"));
        assert!(Record::decode(&[0xff, b'\n']).unwrap_err().contains("UTF-8"));
    }

    #[test]
    fn counts_default_to_zero() {
        assert_eq!(parse_count(None), 0);
        assert_eq!(parse_count(Some(b"12")), 12);
        assert_eq!(parse_count(Some(b"junk")), 0);
    }
}
