//! Iqs answered from what the host keeps: sessions, counters, notes.

use waxwing_sdk::prelude::*;
use waxwing_sdk::sessions::{self, SessionInfo};
use waxwing_sdk::{datasets, kv};

use crate::event_log::parse_count;
use crate::{NAME, NOTES, NS, refused, required};

/// Counters live apart from the event log's keys.
const COUNTER_PREFIX: &str = "counter/";

/// `<sessions jid='user@host'/>`: the account's sessions.
pub(crate) fn sessions(iq: &Iq) -> Handled {
    let bare = required(iq.payload()?, "jid")?;
    // The kernel refuses what is not a bare account JID on this host.
    let list = sessions::of(bare).map_err(refused)?;
    iq.reply_with(sessions_element(bare, &list))
}

pub(crate) fn sessions_element(bare: &str, list: &[SessionInfo]) -> Element {
    let mut el = Element::new("sessions", NS).with_attr("jid", bare);
    for s in list {
        el.push_child(
            Element::new("session", NS)
                .with_attr("jid", s.jid.clone())
                .with_attr("priority", s.priority.to_string())
                .with_attr("available", if s.available { "true" } else { "false" }),
        );
    }
    el
}

/// `<count key='K'/>`: one more on counter K, which any number of calls may
/// bump at once; each gets a value of its own.
pub(crate) fn count(iq: &Iq) -> Handled {
    let name = required(iq.payload()?, "key")?;
    let key = format!("{COUNTER_PREFIX}{name}");
    let value = loop {
        let old = kv::get(&key).map_err(refused)?;
        let new =
            parse_count(old.as_deref()).map_err(|e| StanzaError::new(Condition::InternalServerError).with_text(e))? + 1;
        // False: another call swapped first; read its value and try again.
        if kv::compare_and_swap(&key, old.as_deref(), Some(new.to_string().as_bytes())).map_err(refused)? {
            break new;
        }
    };
    iq.reply_with(Element::new("count", NS).with_attr("key", name).with_attr("value", value.to_string()))
}

/// `<note key='K' value='V'/>` (set) publishes V; `<note key='K'/>` (get)
/// reads it back through the datasets interface, by this plugin's name.
pub(crate) fn note(iq: &Iq) -> Handled {
    let payload = iq.payload()?;
    let key = required(payload, "key")?;
    if iq.is_set() {
        datasets::put(NOTES, key, required(payload, "value")?).map_err(refused)?;
        return iq.reply_empty();
    }
    match datasets::get(NAME, NOTES, key).map_err(refused)? {
        Some(value) => iq.reply_with(
            Element::new("note", NS).with_attr("key", key).with_attr("value", String::from_utf8_lossy(&value)),
        ),
        None => Err(StanzaError::new(Condition::ItemNotFound).with_text(format!("no note {key:?}"))),
    }
}
