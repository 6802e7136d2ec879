//! Handing stored messages to a session once it is ready for them.
//!
//! RFC 6121 §8.5.2.2.1 / XEP-0160: stored messages go to the first resource
//! that becomes available with a non-negative priority (a negative priority
//! says "do not send me messages for the account"). Which sessions already
//! got them is remembered in `mem` under `live/<full JID>`, cleared when the
//! session goes unavailable, drops below zero or ends, so that coming back
//! counts as becoming available again, as in Prosody.
//!
//! Two sessions of one account becoming available at the very same moment
//! could both read the backlog before either deletes it and both get it: a
//! duplicate is the lesser evil next to a loss.

use waxwing_sdk::{Element, EventError, HostError, domain, format_utc, jid, log, mem, parse_client_xml, route};

use crate::storage::{self, Record};

/// What a session's own presence means for its stored messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenceStep {
    /// Available with priority >= 0: wants messages.
    Ready,
    /// Unavailable, or available below zero: a later available presence
    /// counts as a fresh start.
    NotReady,
}

pub fn presence_step(presence: &Element) -> PresenceStep {
    if presence.attr("type").is_some_and(|t| !t.is_empty()) {
        return PresenceStep::NotReady;
    }
    let priority = presence
        .child("priority", waxwing_sdk::ns::CLIENT)
        .and_then(|p| p.text().trim().parse::<i8>().ok())
        // RFC 6121 §4.7.2.3: absent (or unreadable) means zero.
        .unwrap_or(0);
    if priority >= 0 { PresenceStep::Ready } else { PresenceStep::NotReady }
}

fn live_key(full_jid: &str) -> String {
    format!("live/{full_jid}")
}

/// `presence-changed`: `data` is what the session `full_jid` just sent.
pub fn on_presence_changed(full_jid: &str, data: &str) -> Result<(), EventError> {
    let presence = parse_client_xml(data)?;
    let key = live_key(full_jid);
    match presence_step(&presence) {
        PresenceStep::NotReady => Ok(mem::delete(&key)?),
        PresenceStep::Ready => {
            if mem::get(&key)?.is_some() {
                return Ok(());
            }
            mem::put(&key, b"1")?;
            Ok(deliver(full_jid)?)
        }
    }
}

pub fn on_session_ended(full_jid: &str) -> Result<(), HostError> {
    mem::delete(&live_key(full_jid))
}

/// Sends the account's backlog to `full_jid` in arrival order, then deletes
/// it. The sends leave after this call returns, so a crash in between could
/// lose them; deleting first would be no safer and deleting later is not
/// possible from a plugin.
fn deliver(full_jid: &str) -> Result<(), HostError> {
    let bare = jid::bare(full_jid);
    let entries = storage::load_all(bare)?;
    if entries.is_empty() {
        return Ok(());
    }
    let host = domain();
    for (key, value) in &entries {
        match Record::decode(value).and_then(|r| redelivery(&r, full_jid, &host)) {
            Ok(message) => route::send(&message)?,
            // Unreadable entries would block nothing but would sit there
            // forever: they go with the rest, and the log says so.
            Err(why) => log::warn(&format!("dropping stored message {}: {why}", String::from_utf8_lossy(key))),
        }
    }
    storage::remove(bare, entries.into_iter().map(|(k, _)| k))
}

/// The stored message as it goes out: to the session, from its original
/// sender, stamped with when the server received it (XEP-0203).
pub fn redelivery(record: &Record, full_jid: &str, host: &str) -> Result<Element, String> {
    let mut message = parse_client_xml(&record.xml).map_err(|e| e.to_string())?;
    if message.attr("from").is_none() {
        return Err("the stored message has no sender".into());
    }
    message.set_attr("to", full_jid);
    message.push_child(
        Element::new("delay", waxwing_sdk::ns::DELAY)
            .with_attr("from", host)
            .with_attr("stamp", format_utc(record.arrived_ms)),
    );
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(xml: &str) -> PresenceStep {
        presence_step(&parse_client_xml(xml).unwrap())
    }

    #[test]
    fn only_non_negative_available_presence_is_ready() {
        assert_eq!(step("<presence from='b@h/r'/>"), PresenceStep::Ready);
        assert_eq!(step("<presence><priority>0</priority></presence>"), PresenceStep::Ready);
        assert_eq!(step("<presence><priority> 5 </priority></presence>"), PresenceStep::Ready);
        assert_eq!(step("<presence><priority>-1</priority></presence>"), PresenceStep::NotReady);
        assert_eq!(step("<presence type='unavailable'/>"), PresenceStep::NotReady);
        // Unreadable priority is zero (RFC 6121 §4.7.2.3).
        assert_eq!(step("<presence><priority>high</priority></presence>"), PresenceStep::Ready);
    }

    #[test]
    fn redelivery_keeps_the_sender_and_adds_the_delay() {
        let record = Record {
            arrived_ms: 1_166_551_115_000,
            xml: "<message from='a@h/x' to='b@h' type='chat' id='m1'><body>hi</body></message>".into(),
        };
        let out = redelivery(&record, "b@h/phone", "h").unwrap();
        assert_eq!(
            out.to_xml_in(waxwing_sdk::ns::CLIENT),
            "<message from='a@h/x' to='b@h/phone' type='chat' id='m1'><body>hi</body>\
             <delay xmlns='urn:xmpp:delay' from='h' stamp='2006-12-19T17:58:35.000Z'/></message>"
        );
    }

    #[test]
    fn redelivery_refuses_what_cannot_be_sent() {
        let no_sender = Record { arrived_ms: 0, xml: "<message to='b@h'><body>x</body></message>".into() };
        assert!(redelivery(&no_sender, "b@h/r", "h").is_err());
        let garbage = Record { arrived_ms: 0, xml: "<message".into() };
        assert!(redelivery(&garbage, "b@h/r", "h").is_err());
    }
}
