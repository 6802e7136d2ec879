//! Discussion history sent to newcomers (XEP-0045 §7.2.15), with XEP-0203
//! delays. One value per room under `hist/<node>`: in `kv` for a persistent
//! room (it survives a restart), in `mem` for a temporary one (it dies with
//! the room). The newest `history_length` messages are kept.

use waxwing_sdk::prelude::*;
use waxwing_sdk::{kv, mem, route};

use crate::room::Room;
use crate::room_jid;

const FIELD: char = '\u{1f}';
const RECORD: char = '\u{1e}';

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub ms: u64,
    /// The message as broadcast, without `to`.
    pub xml: String,
}

fn key(node: &str) -> String {
    format!("hist/{node}")
}

fn encode(entries: &[Entry]) -> String {
    let mut out = String::new();
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            out.push(RECORD);
        }
        out.push_str(&e.ms.to_string());
        out.push(FIELD);
        out.push_str(&e.xml);
    }
    out
}

fn decode(raw: &[u8]) -> Vec<Entry> {
    String::from_utf8_lossy(raw)
        .split(RECORD)
        .filter_map(|r| {
            let (ms, xml) = r.split_once(FIELD)?;
            Some(Entry { ms: ms.parse().ok()?, xml: xml.to_string() })
        })
        .collect()
}

fn get(persistent: bool, node: &str) -> Result<Option<Vec<u8>>, HostError> {
    if persistent { kv::get(key(node)) } else { mem::get(&key(node)) }
}

fn swap(persistent: bool, node: &str, old: Option<&[u8]>, new: Option<&[u8]>) -> Result<bool, HostError> {
    if persistent { kv::compare_and_swap(key(node), old, new) } else { mem::compare_and_swap(&key(node), old, new) }
}

/// Keeps `message` (as broadcast) for newcomers.
pub fn append(room: &Room, message: &Element) -> Result<(), HostError> {
    let limit = room.config.history_length as usize;
    if limit == 0 {
        return Ok(());
    }
    let entry = Entry { ms: waxwing_sdk::now_ms(), xml: message.to_xml_in(ns::CLIENT) };
    let persistent = room.config.persistent;
    loop {
        let raw = get(persistent, &room.node)?;
        let mut entries = raw.as_deref().map(decode).unwrap_or_default();
        entries.push(entry.clone());
        let excess = entries.len().saturating_sub(limit);
        entries.drain(..excess);
        if swap(persistent, &room.node, raw.as_deref(), Some(encode(&entries).as_bytes()))? {
            return Ok(());
        }
    }
}

pub fn load(room: &Room) -> Result<Vec<Entry>, HostError> {
    Ok(get(room.config.persistent, &room.node)?.as_deref().map(decode).unwrap_or_default())
}

/// Forgets a room's history, wherever it was kept.
pub fn clear(node: &str) -> Result<(), HostError> {
    kv::delete(key(node))?;
    mem::delete(&key(node))
}

/// Moves the history to where a room's new persistence keeps it, trimmed to
/// its new length.
pub fn relocate(before: &Room, after: &Room) -> Result<(), HostError> {
    let mut entries = load(before)?;
    let excess = entries.len().saturating_sub(after.config.history_length as usize);
    entries.drain(..excess);
    clear(&before.node)?;
    if !entries.is_empty() {
        let text = encode(&entries);
        if after.config.persistent {
            kv::put(key(&after.node), text)?;
        } else {
            mem::put(&key(&after.node), text)?;
        }
    }
    Ok(())
}

/// What a newcomer asked for with `<history/>`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub max_stanzas: Option<usize>,
    pub max_chars: Option<usize>,
    pub since_ms: Option<u64>,
}

impl Wanted {
    /// From the join's `<x xmlns='…muc'>`; unreadable limits are ignored, as
    /// the XEP leaves them to the service.
    pub fn from_join(x: Option<&Element>, now_ms: u64) -> Wanted {
        let Some(h) = x.and_then(|x| x.child("history", crate::NS_MUC)) else { return Wanted::default() };
        let n = |a: &str| h.attr(a).and_then(|v| v.trim().parse::<usize>().ok());
        let seconds_ago = n("seconds").map(|s| now_ms.saturating_sub(s as u64 * 1000));
        let since = h.attr("since").and_then(waxwing_sdk::parse_utc);
        Wanted {
            max_stanzas: n("maxstanzas"),
            max_chars: n("maxchars"),
            since_ms: match (seconds_ago, since) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            },
        }
    }

    /// The entries to send, oldest first.
    pub fn select<'a>(&self, entries: &'a [Entry]) -> &'a [Entry] {
        let mut start = entries.len();
        let mut chars = 0usize;
        for (i, e) in entries.iter().enumerate().rev() {
            if self.max_stanzas.is_some_and(|m| entries.len() - i > m) || self.since_ms.is_some_and(|s| e.ms < s) {
                break;
            }
            chars += e.xml.chars().count();
            if self.max_chars.is_some_and(|m| chars > m) {
                break;
            }
            start = i;
        }
        &entries[start..]
    }
}

/// Sends the history a newcomer asked for to its session, each message with
/// the time the room received it.
pub fn send(room: &Room, to: &str, wanted: &Wanted) -> Result<(), HostError> {
    let entries = load(room)?;
    let from = room_jid(&room.node, None);
    for e in wanted.select(&entries) {
        let Ok(mut msg) = waxwing_sdk::parse_client_xml(&e.xml) else { continue };
        msg.set_attr("to", to);
        msg.push_child(
            Element::new("delay", ns::DELAY)
                .with_attr("from", from.clone())
                .with_attr("stamp", waxwing_sdk::format_utc(e.ms)),
        );
        route::send(&msg)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries() -> Vec<Entry> {
        (1..=5).map(|i| Entry { ms: i * 1000, xml: format!("<m>{i}</m>") }).collect()
    }

    fn bodies(e: &[Entry]) -> Vec<u64> {
        e.iter().map(|e| e.ms / 1000).collect()
    }

    #[test]
    fn selects_by_stanzas_chars_and_time() {
        let all = entries();
        assert_eq!(bodies(Wanted::default().select(&all)), [1, 2, 3, 4, 5]);
        assert_eq!(bodies(Wanted { max_stanzas: Some(2), ..Default::default() }.select(&all)), [4, 5]);
        assert_eq!(bodies(Wanted { max_stanzas: Some(0), ..Default::default() }.select(&all)), Vec::<u64>::new());
        // Each entry is 8 characters: 20 allow two whole ones.
        assert_eq!(bodies(Wanted { max_chars: Some(20), ..Default::default() }.select(&all)), [4, 5]);
        assert_eq!(bodies(Wanted { since_ms: Some(3000), ..Default::default() }.select(&all)), [3, 4, 5]);
    }

    #[test]
    fn reads_the_history_element() {
        let x = Element::parse(
            "<x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='3' maxchars='x' seconds='10'/></x>",
        )
        .unwrap();
        let w = Wanted::from_join(Some(&x), 60_000);
        assert_eq!(w, Wanted { max_stanzas: Some(3), max_chars: None, since_ms: Some(50_000) });
        assert_eq!(Wanted::from_join(None, 1), Wanted::default());
    }

    #[test]
    fn entries_round_trip() {
        assert_eq!(decode(encode(&entries()).as_bytes()), entries());
    }
}
