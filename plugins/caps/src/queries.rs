//! The disco#info queries in flight: at most one per `ver`, so a thousand
//! clients of one release cost one round trip. The kernel pairs each answer
//! with its query and delivers it, or its timeout, as an `iq-response`; what
//! is kept here, in `mem` under `asking/<ver>`, is that a `ver` is being
//! asked about and which sessions advertised it meanwhile, so that one
//! verified answer publishes them all.

use waxwing_sdk::prelude::*;
use waxwing_sdk::{kv, log, mem, new_iq, now_ms, parse_client_xml, route};

use crate::advertised::Advertised;
use crate::{published, verified};

/// How long a client has to answer.
const TIMEOUT_MS: u32 = 60_000;
/// A query whose answer or timeout never reached us (a trap, a disabled
/// plugin) stops blocking its `ver` after this; every other one is settled
/// by its `iq-response` well before.
const ABANDONED_AFTER_MS: u64 = 2 * TIMEOUT_MS as u64;
/// Sessions remembered per query; past that, a session of a release being
/// asked about is published at its next change of caps.
const MAX_WAITING: usize = 1000;

/// A `ver` being asked about.
#[derive(Clone, Debug, PartialEq, Eq)]
struct InFlight {
    sent_ms: u64,
    /// Full JIDs that advertised the `ver`, the one asked first.
    waiting: Vec<String>,
}

impl InFlight {
    /// `sent_ms`, then one full JID per line (a JID holds no line break).
    fn encode(&self) -> String {
        std::iter::once(self.sent_ms.to_string()).chain(self.waiting.iter().cloned()).collect::<Vec<_>>().join("\n")
    }

    fn decode(bytes: &[u8]) -> Option<InFlight> {
        let mut lines = std::str::from_utf8(bytes).ok()?.split('\n');
        let sent_ms = lines.next()?.parse().ok()?;
        Some(InFlight { sent_ms, waiting: lines.map(str::to_owned).collect() })
    }
}

fn key(ver: &str) -> String {
    format!("asking/{ver}")
}

/// Asks `full_jid` about `caps`, unless a query for its `ver` is already
/// out: then it waits for that one's answer. The query comes from `asker`
/// (an account here, for a contact on another server) or from the host.
pub fn ask(full_jid: &str, caps: &Advertised, asker: Option<&str>) -> Result<(), HostError> {
    let key = key(&caps.ver);
    let now = now_ms();
    loop {
        let old = mem::get(&key)?;
        let out =
            old.as_deref().and_then(InFlight::decode).filter(|q| now.saturating_sub(q.sent_ms) < ABANDONED_AFTER_MS);
        let first = out.is_none();
        let mut next = out.unwrap_or(InFlight { sent_ms: now, waiting: Vec::new() });
        if next.waiting.iter().any(|j| j == full_jid) || next.waiting.len() >= MAX_WAITING {
            return Ok(());
        }
        next.waiting.push(full_jid.to_owned());
        // Another session of the same release may be doing this right now.
        if mem::compare_and_swap(&key, old.as_deref(), Some(next.encode().as_bytes()))? {
            return if first { send(full_jid, caps, asker) } else { Ok(()) };
        }
    }
}

fn send(full_jid: &str, caps: &Advertised, asker: Option<&str>) -> Result<(), HostError> {
    let query = Element::new("query", ns::DISCO_INFO).with_attr("node", caps.query_node());
    // Without a `from` the kernel sends it from the host, with an id of its own.
    let mut iq = new_iq(StanzaType::Get, "").with_attr("to", full_jid).with_child(query);
    if let Some(from) = asker {
        iq.set_attr("from", from);
    }
    // A `ver` holds no line break (`Advertised::from_presence`).
    let context = format!("{}\n{full_jid}", caps.ver);
    if let Err(e) = route::request(&iq, TIMEOUT_MS, &context) {
        // Nothing will come back: the next session with this `ver` asks.
        mem::delete(&key(&caps.ver))?;
        return Err(e);
    }
    Ok(())
}

/// The answer to a query, or its timeout: the `ver` is free again, and a
/// result that hashes to it is kept and published for every session that
/// waited for it. Only the session asked can have answered: the kernel
/// hands over no one else's iq with the query's id.
pub fn answered(context: &str, outcome: &IqOutcome) -> Result<(), EventError> {
    let (ver, asked) = context.split_once('\n').ok_or("an iq-response to a query this plugin never sent")?;
    let mut waiting = settle(ver)?;
    let xml = match outcome {
        IqOutcome::Result(xml) => xml,
        IqOutcome::Error(_) => {
            log::debug(&format!("{asked} refused the caps query for {ver}"));
            return Ok(());
        }
        IqOutcome::Timeout => {
            log::debug(&format!("{asked} did not answer the caps query for {ver}"));
            return Ok(());
        }
    };
    let info = match verified::check_answer(&parse_client_xml(xml)?, ver) {
        Ok(info) => info,
        Err(why) => {
            log::warn(&format!("caps of {asked} not recorded: it advertised {ver} but its answer: {why}"));
            return Ok(());
        }
    };
    kv::put(verified::key(ver), info.to_xml())?;
    if !waiting.iter().any(|j| j == asked) {
        waiting.push(asked.to_owned());
    }
    Ok(published::put_where_current(&waiting, ver, &info)?)
}

/// Ends the query for `ver`, returning who waited for it.
fn settle(ver: &str) -> Result<Vec<String>, HostError> {
    let key = key(ver);
    loop {
        let Some(old) = mem::get(&key)? else { return Ok(Vec::new()) };
        if mem::compare_and_swap(&key, Some(&old), None)? {
            return Ok(InFlight::decode(&old).map(|q| q.waiting).unwrap_or_default());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_round_trips() {
        let q = InFlight { sent_ms: 1000, waiting: vec!["a@h/r".into(), "b@h/my phone".into()] };
        assert_eq!(InFlight::decode(q.encode().as_bytes()), Some(q));
        let empty = InFlight { sent_ms: 5, waiting: Vec::new() };
        assert_eq!(InFlight::decode(b"5"), Some(empty));
        assert_eq!(InFlight::decode(b"notanumber\na@h/r"), None);
        assert_eq!(InFlight::decode(&[0xff]), None);
    }
}
