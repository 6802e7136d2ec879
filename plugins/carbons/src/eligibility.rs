//! XEP-0280 §6: which messages are copied, read from the message alone.
//!
//! Eligible: type `chat`; type `normal` with a `<body/>`; or any message
//! carrying an IM payload the XEP names (chat states, receipts, markers,
//! corrections, OMEMO, reactions), since those keep the user's devices in
//! step too. Never: `<private/>` (the XEP's opt-out), XEP-0334 `<no-copy/>`,
//! messages that are already carbons (copying a copy would loop and is how
//! forged carbons would spread), and the offline plugin's re-deliveries,
//! recognisable by an XEP-0203 `<delay/>` from the host itself: the other
//! devices saw those messages when they arrived or will fetch them the same
//! way. Errors are not copied: telling which eligible message an error
//! answers would need per-message state.

use waxwing_sdk::{Element, ns};

pub const CARBONS: &str = "urn:xmpp:carbons:2";
const HINTS: &str = "urn:xmpp:hints";
const MUC_USER: &str = "http://jabber.org/protocol/muc#user";

/// Payload namespaces that make even a bodiless message worth copying.
const IM_PAYLOADS: &[&str] = &[
    "http://jabber.org/protocol/chatstates",
    "urn:xmpp:receipts",
    "urn:xmpp:chat-markers:0",
    "urn:xmpp:message-correct:0",
    "eu.siacs.conversations.axolotl",
    "urn:xmpp:omemo:2",
    "urn:xmpp:reactions:0",
];

pub fn has_private(message: &Element) -> bool {
    message.child("private", CARBONS).is_some()
}

/// Whether a message may be copied at all, `host` being this vhost's domain.
pub fn is_eligible(message: &Element, host: &str) -> bool {
    let kind_ok = match message.attr("type").unwrap_or("normal") {
        "chat" => true,
        "normal" => {
            message.child("body", ns::CLIENT).is_some()
                || message.elements().any(|c| IM_PAYLOADS.contains(&c.ns.as_str()))
        }
        _ => false,
    };
    kind_ok
        && !has_private(message)
        && message.child("no-copy", HINTS).is_none()
        && message.child("sent", CARBONS).is_none()
        && message.child("received", CARBONS).is_none()
        && !message.elements().any(|c| c.is("delay", ns::DELAY) && c.attr("from") == Some(host))
}

/// A private message from a MUC occupant (XEP-0045 marks them with a
/// `muc#user` `<x/>`). The XEP excludes what a MUC sent: the user's other
/// devices are not in the room and could not make sense of it. What the
/// user sends to an occupant is still copied, as Prosody does.
pub fn is_from_muc(message: &Element) -> bool {
    message.child("x", MUC_USER).is_some()
}

/// The message with `<private/>` taken out, for delivery (XEP-0280 §7 as
/// revised up to 0.8 asked the sending server to strip it; it is meant for
/// this server alone).
pub fn without_private(message: &Element) -> Element {
    let mut out = message.clone();
    out.children.retain(|n| !matches!(n, waxwing_sdk::Node::Element(e) if e.is("private", CARBONS)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use waxwing_sdk::parse_client_xml;

    fn eligible(xml: &str) -> bool {
        is_eligible(&parse_client_xml(xml).unwrap(), "h")
    }

    #[test]
    fn chat_and_normal_with_body_are_eligible() {
        assert!(eligible("<message type='chat'><body>x</body></message>"));
        assert!(eligible("<message type='chat'/>"));
        assert!(eligible("<message type='normal'><body>x</body></message>"));
        assert!(eligible("<message><body>x</body></message>"));
        assert!(eligible("<message><received xmlns='urn:xmpp:receipts' id='1'/></message>"));
        assert!(eligible("<message><composing xmlns='http://jabber.org/protocol/chatstates'/></message>"));
    }

    #[test]
    fn other_messages_are_not() {
        assert!(!eligible("<message/>"));
        assert!(!eligible("<message><subject>x</subject></message>"));
        for t in ["groupchat", "headline", "error"] {
            assert!(!eligible(&format!("<message type='{t}'><body>x</body></message>")), "{t}");
        }
    }

    #[test]
    fn opt_outs_and_copies_are_not() {
        assert!(!eligible("<message type='chat'><body>x</body><private xmlns='urn:xmpp:carbons:2'/></message>"));
        assert!(!eligible("<message type='chat'><body>x</body><no-copy xmlns='urn:xmpp:hints'/></message>"));
        assert!(!eligible("<message type='chat'><sent xmlns='urn:xmpp:carbons:2'/></message>"));
        assert!(!eligible("<message type='chat'><received xmlns='urn:xmpp:carbons:2'/></message>"));
        assert!(!eligible(
            "<message type='chat'><body>x</body><delay xmlns='urn:xmpp:delay' from='h' stamp='2020-01-01T00:00:00Z'/></message>"
        ));
        // A delay from elsewhere is just a delay.
        assert!(eligible(
            "<message type='chat'><body>x</body><delay xmlns='urn:xmpp:delay' from='o' stamp='2020-01-01T00:00:00Z'/></message>"
        ));
    }

    #[test]
    fn private_is_stripped_and_nothing_else() {
        let m = parse_client_xml(
            "<message type='chat' to='b@h'><body>x</body><private xmlns='urn:xmpp:carbons:2'/><no-copy xmlns='urn:xmpp:hints'/></message>",
        )
        .unwrap();
        let out = without_private(&m);
        assert!(!has_private(&out));
        assert!(out.child("body", ns::CLIENT).is_some() && out.child("no-copy", HINTS).is_some());
        assert_eq!(out.attr("to"), Some("b@h"));
    }

    #[test]
    fn muc_private_messages_are_recognised() {
        assert!(is_from_muc(
            &parse_client_xml(
                "<message type='chat'><body>x</body><x xmlns='http://jabber.org/protocol/muc#user'/></message>"
            )
            .unwrap()
        ));
        assert!(!is_from_muc(&parse_client_xml("<message type='chat'><body>x</body></message>").unwrap()));
    }
}
