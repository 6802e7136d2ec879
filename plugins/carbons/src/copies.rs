//! Who gets a carbon copy, and what one looks like (XEP-0280 §§6–8).
//!
//! Everything here works on a snapshot of the account's sessions, so the
//! rules can be checked without a server.

use waxwing_sdk::{Element, jid, ns};

use crate::eligibility::CARBONS;

const FORWARD: &str = "urn:xmpp:forward:0";

/// One session of an account, as far as carbons are concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub jid: String,
    pub priority: i8,
    pub available: bool,
    pub enabled: bool,
}

/// Which way the copied message went, seen from the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Sent,
    Received,
}

impl Direction {
    fn element_name(self) -> &'static str {
        match self {
            Direction::Sent => "sent",
            Direction::Received => "received",
        }
    }
}

/// The sessions the kernel delivers a message addressed to `to` to itself
/// (RFC 6121 §8.5): an online full JID gets it alone; a bare JID, or a full
/// JID that is not online, goes to the available resources of the highest
/// non-negative priority.
pub fn direct_targets<'a>(resources: &'a [Resource], to: &str) -> Vec<&'a str> {
    if jid::resource(to).is_some()
        && let Some(r) = resources.iter().find(|r| r.jid == to)
    {
        return vec![r.jid.as_str()];
    }
    let eligible = || resources.iter().filter(|r| r.available && r.priority >= 0);
    let top = eligible().map(|r| r.priority).max();
    eligible().filter(|r| Some(r.priority) == top).map(|r| r.jid.as_str()).collect()
}

/// Enabled sessions of the recipient's account that will not see the
/// message directly; `sender` (when the account writes to itself) is left
/// out too, as it has the message already.
pub fn received_recipients(resources: &[Resource], to: &str, sender: Option<&str>) -> Vec<String> {
    let direct = direct_targets(resources, to);
    resources
        .iter()
        .filter(|r| r.enabled && !direct.contains(&r.jid.as_str()) && Some(r.jid.as_str()) != sender)
        .map(|r| r.jid.clone())
        .collect()
}

/// Enabled sessions of the sender's account other than the sender.
pub fn sent_recipients(resources: &[Resource], sender: &str) -> Vec<String> {
    resources.iter().filter(|r| r.enabled && r.jid != sender).map(|r| r.jid.clone()).collect()
}

/// The copy: from the account's bare JID (the only address a client may
/// trust a carbon from), the original forwarded inside. `to` is filled in
/// per recipient by `route::send_many`.
pub fn carbon(direction: Direction, account_bare: &str, original: &Element) -> Element {
    let mut copy = Element::new("message", ns::CLIENT).with_attr("from", account_bare);
    if let Some(t) = original.attr("type") {
        copy.set_attr("type", t);
    }
    let mut inner = original.clone();
    inner.ns = ns::CLIENT.to_string();
    copy.with_child(
        Element::new(direction.element_name(), CARBONS)
            .with_child(Element::new("forwarded", FORWARD).with_child(inner)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(jid: &str, priority: i8, available: bool, enabled: bool) -> Resource {
        Resource { jid: jid.into(), priority, available, enabled }
    }

    fn alice() -> Vec<Resource> {
        vec![
            res("a@h/top", 5, true, true),
            res("a@h/low", 1, true, true),
            res("a@h/neg", -1, true, true),
            res("a@h/quiet", 9, false, true),
            res("a@h/plain", 0, true, false),
        ]
    }

    #[test]
    fn bare_messages_go_to_the_top_priority() {
        assert_eq!(direct_targets(&alice(), "a@h"), vec!["a@h/top"]);
        let mut tie = alice();
        tie[1].priority = 5;
        assert_eq!(direct_targets(&tie, "a@h"), vec!["a@h/top", "a@h/low"]);
        assert!(direct_targets(&[res("a@h/neg", -1, true, true)], "a@h").is_empty());
    }

    #[test]
    fn full_messages_go_to_that_session_or_fall_back_to_bare() {
        assert_eq!(direct_targets(&alice(), "a@h/low"), vec!["a@h/low"]);
        // Online but not yet available still takes its own messages.
        assert_eq!(direct_targets(&alice(), "a@h/quiet"), vec!["a@h/quiet"]);
        assert_eq!(direct_targets(&alice(), "a@h/gone"), vec!["a@h/top"]);
    }

    #[test]
    fn received_copies_skip_direct_targets_and_disabled_sessions() {
        assert_eq!(received_recipients(&alice(), "a@h", None), vec!["a@h/low", "a@h/neg", "a@h/quiet"]);
        assert_eq!(received_recipients(&alice(), "a@h/low", None), vec!["a@h/top", "a@h/neg", "a@h/quiet"]);
        assert_eq!(received_recipients(&alice(), "a@h/low", Some("a@h/top")), vec!["a@h/neg", "a@h/quiet"]);
    }

    #[test]
    fn sent_copies_go_to_other_enabled_sessions() {
        assert_eq!(sent_recipients(&alice(), "a@h/top"), vec!["a@h/low", "a@h/neg", "a@h/quiet"]);
        assert_eq!(sent_recipients(&alice(), "a@h/plain"), vec!["a@h/top", "a@h/low", "a@h/neg", "a@h/quiet"]);
    }

    #[test]
    fn the_copy_wraps_the_original() {
        let original = Element::parse(
            "<message xmlns='jabber:client' from='b@h/x' to='a@h/top' type='chat' id='1'><body>hi</body></message>",
        )
        .unwrap();
        let copy = carbon(Direction::Received, "a@h", &original);
        assert_eq!(
            copy.to_xml_in(ns::CLIENT),
            "<message from='a@h' type='chat'><received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>\
             <message xmlns='jabber:client' from='b@h/x' to='a@h/top' type='chat' id='1'><body>hi</body></message>\
             </forwarded></received></message>"
        );
        let sent = carbon(Direction::Sent, "a@h", &Element::parse("<message xmlns='jabber:client'/>").unwrap());
        assert!(sent.child("sent", CARBONS).is_some());
        assert_eq!(sent.attr("type"), None);
    }
}
