//! Which undeliverable messages are worth keeping.
//!
//! The kernel only offers messages of type `normal` or `chat` (RFC 6121
//! §8.5.2.2.1: errors, groupchat and headlines are never stored), but the
//! type is checked again so this rule stands on its own.
//!
//! Empty-bodied messages are kept unless a chat state is all they carry:
//! that is ejabberd's default (`store_empty_body: unless_chat_state`), and
//! Prosody's mod_offline keeps whatever chat/normal message reaches it. It
//! matters for XEP-0184: a receipt request or a `<received/>` has no value
//! to the sender unless it reaches the other side eventually, and clients
//! mark messages delivered only when the receipt arrives. A typing
//! notification, on the other hand, is stale by the time anyone reads it.

use waxwing_sdk::{Element, ns};

const CHAT_STATES: &str = "http://jabber.org/protocol/chatstates";
const HINTS: &str = "urn:xmpp:hints";
const CARBONS: &str = "urn:xmpp:carbons:2";

/// What to do with a message nobody could take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    Store,
    /// Dropped without a word: nothing the sender needs to hear about.
    Discard,
    /// The sender asked that it not be kept (XEP-0334): it is refused the
    /// way a server without storage refuses it, so the sender knows it was
    /// not delivered.
    Refuse,
}

pub fn disposition(message: &Element) -> Disposition {
    if !matches!(message.attr("type").unwrap_or("normal"), "normal" | "chat") {
        return Disposition::Discard;
    }
    if message.child("no-store", HINTS).is_some() || message.child("no-permanent-store", HINTS).is_some() {
        return Disposition::Refuse;
    }
    // A carbon copy to a resource that vanished meanwhile: the original went
    // to its real recipient, and the copy means nothing on another device.
    if message.child("sent", CARBONS).is_some() || message.child("received", CARBONS).is_some() {
        return Disposition::Discard;
    }
    if has_content(message) { Disposition::Store } else { Disposition::Discard }
}

/// Anything but chat states (and the `<thread/>` that may accompany them).
fn has_content(message: &Element) -> bool {
    message.elements().any(|child| {
        let bookkeeping = child.ns == CHAT_STATES || (child.ns == ns::CLIENT && child.name == "thread");
        !bookkeeping
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use waxwing_sdk::parse_client_xml;

    fn judge(xml: &str) -> Disposition {
        disposition(&parse_client_xml(xml).unwrap())
    }

    #[test]
    fn bodies_and_receipts_are_stored() {
        assert_eq!(judge("<message type='chat'><body>hi</body></message>"), Disposition::Store);
        assert_eq!(judge("<message><body>hi</body></message>"), Disposition::Store);
        assert_eq!(
            judge("<message type='chat'><body>hi</body><request xmlns='urn:xmpp:receipts'/></message>"),
            Disposition::Store
        );
        assert_eq!(
            judge("<message type='chat'><received xmlns='urn:xmpp:receipts' id='x'/></message>"),
            Disposition::Store
        );
        assert_eq!(
            judge(
                "<message type='chat'><body>hi</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>"
            ),
            Disposition::Store
        );
    }

    #[test]
    fn chat_states_alone_are_discarded() {
        assert_eq!(
            judge("<message type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>"),
            Disposition::Discard
        );
        assert_eq!(
            judge(
                "<message type='chat'><thread>t</thread><paused xmlns='http://jabber.org/protocol/chatstates'/></message>"
            ),
            Disposition::Discard
        );
        assert_eq!(judge("<message type='chat'/>"), Disposition::Discard);
    }

    #[test]
    fn other_types_are_discarded() {
        for t in ["error", "groupchat", "headline", "bogus"] {
            assert_eq!(judge(&format!("<message type='{t}'><body>x</body></message>")), Disposition::Discard, "{t}");
        }
    }

    #[test]
    fn storage_hints_refuse() {
        assert_eq!(
            judge("<message type='chat'><body>x</body><no-store xmlns='urn:xmpp:hints'/></message>"),
            Disposition::Refuse
        );
        assert_eq!(
            judge("<message type='chat'><body>x</body><no-permanent-store xmlns='urn:xmpp:hints'/></message>"),
            Disposition::Refuse
        );
        // Other hints do not stop storage.
        assert_eq!(
            judge("<message type='chat'><body>x</body><no-copy xmlns='urn:xmpp:hints'/></message>"),
            Disposition::Store
        );
    }

    #[test]
    fn carbon_copies_are_discarded() {
        assert_eq!(
            judge(
                "<message type='chat'><sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'/></sent></message>"
            ),
            Disposition::Discard
        );
    }
}
