//! XEP-0227 export and import of stored messages, for the server itself.
//!
//! Export: an iq `get` with XEP-0013's `<offline/>` from the host's own
//! domain (only the server sends one) answers every stored message of the
//! account, oldest first, each stamped with its arrival (XEP-0203), and
//! deletes none. From anyone else it is not taken (XEP-0013 itself is not
//! implemented).
//!
//! Import: a message routed to the account with a `<delay/>` from the host
//! (how servers write stored messages out) is kept as having arrived then,
//! without that delay, so it is redelivered with one stamp, the original.

use waxwing_sdk::prelude::*;
use waxwing_sdk::{domain, format_utc, ns, parse_client_xml, parse_utc};

use crate::storage::{self, Record};

pub const NS_OFFLINE: &str = "http://jabber.org/protocol/offline";

pub fn export(iq: &Iq) -> Handled {
    if iq.from() != domain() {
        return Ok(Outcome::Pass);
    }
    let host = domain();
    let mut all = Element::new("offline", NS_OFFLINE);
    for (key, value) in storage::load_all(waxwing_sdk::jid::bare(iq.to()))? {
        match Record::decode(&value).and_then(|r| stamped(&r, &host)) {
            Ok(m) => all.push_child(m),
            Err(why) => waxwing_sdk::log::warn(&format!("not exporting {}: {why}", String::from_utf8_lossy(&key))),
        }
    }
    iq.reply_with(all)
}

fn stamped(record: &Record, host: &str) -> Result<Element, String> {
    let mut m = parse_client_xml(&record.xml).map_err(|e| e.to_string())?;
    m.push_child(
        Element::new("delay", ns::DELAY).with_attr("from", host).with_attr("stamp", format_utc(record.arrived_ms)),
    );
    Ok(m)
}

/// When an imported message arrived: the stamp of its `<delay/>` from
/// `host`, which is taken out. `None` when it has none.
pub fn arrival(message: &mut Element, host: &str) -> Option<u64> {
    let i = message.children.iter().position(
        |n| matches!(n, waxwing_sdk::Node::Element(e) if e.is("delay", ns::DELAY) && e.attr("from") == Some(host)),
    )?;
    let waxwing_sdk::Node::Element(delay) = &message.children[i] else { return None };
    let ms = parse_utc(delay.attr("stamp")?)?;
    message.children.remove(i);
    Some(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hosts_delay_gives_the_arrival() {
        let mut m = parse_client_xml(
            "<message from='a@x' to='b@h'><body>hi</body><delay xmlns='urn:xmpp:delay' from='other' stamp='2001-01-01T00:00:00Z'/>\
             <delay xmlns='urn:xmpp:delay' from='h' stamp='2006-12-19T17:58:35Z'/></message>",
        )
        .unwrap();
        assert_eq!(arrival(&mut m, "h"), Some(1_166_551_115_000));
        assert_eq!(m.elements().filter(|e| e.name == "delay").count(), 1, "only the host's delay goes");
        assert_eq!(arrival(&mut m, "h"), None);
    }
}
