//! The stanzas this plugin sends, built in one place.

use waxwing_sdk::prelude::*;
use waxwing_sdk::{format_utc, new_presence};

use crate::item::NS_ROSTER;
use crate::storage::LastActivity;
use crate::subscription::Request;

pub const NS_LAST: &str = "jabber:iq:last";

/// A roster push (§2.1.6) of one item to one resource.
pub fn roster_push(user: &str, to: &str, wire: Element, ver: u64) -> Element {
    let id = format!("push-{}", hex(&waxwing_sdk::random(6)));
    roster_push_with_id(&id, user, to, wire, ver)
}

fn roster_push_with_id(id: &str, user: &str, to: &str, wire: Element, ver: u64) -> Element {
    waxwing_sdk::new_iq(StanzaType::Set, id)
        .with_attr("from", user)
        .with_attr("to", to)
        .with_child(Element::new("query", NS_ROSTER).with_attr("ver", ver.to_string()).with_child(wire))
}

/// A subscription stanza between bare JIDs, as a server sends it (§3).
pub fn subscription(request: Request, from: &str, to: &str) -> Element {
    new_presence(request.as_type()).with_attr("from", from).with_attr("to", to)
}

pub fn unavailable(from: &str, to: &str) -> Element {
    new_presence(StanzaType::Unavailable).with_attr("from", from).with_attr("to", to)
}

pub fn probe(from: &str) -> Element {
    new_presence(StanzaType::Probe).with_attr("from", from)
}

/// §4.3.2: the answer to a subscribed contact's probe when the user has no
/// available resource: unavailable from the bare JID, with the last status
/// and, when known, an XEP-0203 delay saying since when.
pub fn offline_answer(user: &str, to: &str, last: Option<&LastActivity>, domain: &str) -> Element {
    let mut p = unavailable(user, to);
    if let Some(last) = last {
        if !last.status.is_empty() {
            p.push_child(Element::new("status", ns::CLIENT).with_text(last.status.clone()));
        }
        p.push_child(
            Element::new("delay", ns::DELAY).with_attr("from", domain).with_attr("stamp", format_utc(last.ms)),
        );
    }
    p
}

/// XEP-0012's answer: idle seconds and the status left behind.
pub fn last_query(seconds: u64, status: &str) -> Element {
    let q = Element::new("query", NS_LAST).with_attr("seconds", seconds.to_string());
    if status.is_empty() { q } else { q.with_text(status) }
}

/// A presence stanza this session sent, re-addressed: `from` the session,
/// `to` the recipient.
pub fn readdressed(presence: &Element, from: &str, to: &str) -> Element {
    let mut p = presence.clone();
    p.set_attr("from", from);
    p.set_attr("to", to);
    p
}

/// The `<status/>` text of a presence, "" if none.
pub fn status_of(presence: &Element) -> String {
    presence.child("status", ns::CLIENT).map(Element::text).unwrap_or_default()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_come_from_the_bare_jid_with_the_version() {
        let push =
            roster_push_with_id("p1", "a@h", "a@h/r", Element::new("item", NS_ROSTER).with_attr("jid", "b@h"), 7);
        assert_eq!(
            push.to_xml_in(ns::CLIENT),
            "<iq type='set' id='p1' from='a@h' to='a@h/r'><query xmlns='jabber:iq:roster' ver='7'>\
             <item jid='b@h'/></query></iq>"
        );
    }

    #[test]
    fn offline_answer_carries_status_and_delay() {
        let last = LastActivity { ms: 1_166_551_115_000, status: "gone".into() };
        assert_eq!(
            offline_answer("a@h", "b@h/r", Some(&last), "h").to_xml_in(ns::CLIENT),
            "<presence type='unavailable' from='a@h' to='b@h/r'><status>gone</status>\
             <delay xmlns='urn:xmpp:delay' from='h' stamp='2006-12-19T17:58:35.000Z'/></presence>"
        );
        let silent = LastActivity { ms: 0, status: String::new() };
        assert!(offline_answer("a@h", "b@h", Some(&silent), "h").child("status", ns::CLIENT).is_none());
        assert_eq!(offline_answer("a@h", "b@h", None, "h").children.len(), 0);
    }

    #[test]
    fn small_builders() {
        assert_eq!(
            subscription(Request::Subscribed, "a@h", "b@h").to_xml_in(ns::CLIENT),
            "<presence type='subscribed' from='a@h' to='b@h'/>"
        );
        assert_eq!(last_query(5, "out").to_xml(), "<query xmlns='jabber:iq:last' seconds='5'>out</query>");
        assert_eq!(last_query(0, "").to_xml(), "<query xmlns='jabber:iq:last' seconds='0'/>");
        let p = waxwing_sdk::parse_client_xml("<presence from='x'><status>hi</status></presence>").unwrap();
        let r = readdressed(&p, "a@h/r", "b@h");
        assert_eq!((r.attr("from"), r.attr("to")), (Some("a@h/r"), Some("b@h")));
        assert_eq!(status_of(&r), "hi");
        assert_eq!(probe("a@h/r").attr("type"), Some("probe"));
        assert_eq!(hex(&[0, 255]), "00ff");
    }
}
