//! Reading stanzas the kernel hands over in event data.
//!
//! Event data is serialized for a `jabber:client` stream, so the stanza's own
//! namespace is left implicit and parses as "". Every element without a
//! namespace therefore belongs to `jabber:client`; restoring that here lets
//! the rest of the plugin look children up by their real namespace.

use waxwing_sdk::{Element, Node, ns};

/// Parses a serialized stanza, with the implicit `jabber:client` restored.
pub fn parse_stanza(xml: &str) -> Result<Element, String> {
    let mut el = Element::parse(xml).map_err(|e| format!("unreadable stanza: {e}"))?;
    restore_client_ns(&mut el);
    Ok(el)
}

fn restore_client_ns(el: &mut Element) {
    if el.ns.is_empty() {
        el.ns = ns::CLIENT.to_string();
    }
    for child in &mut el.children {
        if let Node::Element(c) = child {
            restore_client_ns(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implicit_namespace_becomes_jabber_client() {
        let el = parse_stanza(
            "<message to='a@h'><body>x</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>",
        )
        .unwrap();
        assert_eq!(el.ns, ns::CLIENT);
        assert!(el.child("body", ns::CLIENT).is_some());
        assert!(el.child("active", "http://jabber.org/protocol/chatstates").is_some());
    }

    #[test]
    fn declared_namespace_is_kept() {
        let el = parse_stanza("<message xmlns='jabber:client'><body>x</body></message>").unwrap();
        assert!(el.child("body", ns::CLIENT).is_some());
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse_stanza("<message>").is_err());
        assert!(parse_stanza("").is_err());
    }
}
