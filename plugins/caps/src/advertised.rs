//! What a client advertised: the XEP-0115 `<c/>` of its presence, and how it
//! is kept in `mem` per full JID.

use waxwing_sdk::caps;
use waxwing_sdk::prelude::*;

/// One session's advertised caps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Advertised {
    pub hash: String,
    pub node: String,
    pub ver: String,
}

impl Advertised {
    /// The `<c/>` of a presence stanza. `None` when there is none, or it is
    /// the legacy form without `hash` (its `ver` is not a hash, so nothing
    /// can be verified or shared by it), or a part is empty or could not be
    /// kept in the line-based encoding below.
    pub fn from_presence(presence: &Element) -> Option<Advertised> {
        let c = presence.child("c", caps::NS)?;
        let part = |name: &str| c.attr(name).filter(|v| !v.is_empty() && !v.contains('\n')).map(str::to_owned);
        Some(Advertised { hash: part("hash")?, node: part("node")?, ver: part("ver")? })
    }

    /// Only SHA-1 is required of every entity (§5), and only it is verified here.
    pub fn is_verifiable(&self) -> bool {
        self.hash == caps::HASH_SHA1
    }

    /// The node a disco#info query for these caps names (§6.2).
    pub fn query_node(&self) -> String {
        format!("{}#{}", self.node, self.ver)
    }

    /// `hash\nnode\nver`: none of them holds a newline (see `from_presence`).
    pub fn encode(&self) -> String {
        format!("{}\n{}\n{}", self.hash, self.node, self.ver)
    }

    pub fn decode(bytes: &[u8]) -> Option<Advertised> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut parts = text.splitn(3, '\n');
        let (hash, node, ver) = (parts.next()?, parts.next()?, parts.next()?);
        Some(Advertised { hash: hash.to_owned(), node: node.to_owned(), ver: ver.to_owned() })
    }
}

/// The `mem` key of a session's caps.
pub fn session_key(full_jid: &str) -> String {
    format!("jid/{full_jid}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presence(c: &str) -> Element {
        Element::parse(&format!("<presence xmlns='jabber:client'>{c}</presence>")).unwrap()
    }

    #[test]
    fn reads_the_caps_element() {
        let p = presence(
            "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='http://c.example' ver='abc=' ext='x'/>",
        );
        let a = Advertised::from_presence(&p).unwrap();
        assert_eq!(a, Advertised { hash: "sha-1".into(), node: "http://c.example".into(), ver: "abc=".into() });
        assert!(a.is_verifiable());
        assert_eq!(a.query_node(), "http://c.example#abc=");
        assert_eq!(Advertised::decode(a.encode().as_bytes()), Some(a));
    }

    #[test]
    fn legacy_missing_or_odd_caps_are_not_read() {
        let legacy = presence("<c xmlns='http://jabber.org/protocol/caps' node='n' ver='1.0' ext='a b'/>");
        assert_eq!(Advertised::from_presence(&legacy), None);
        assert_eq!(Advertised::from_presence(&presence("")), None);
        let other_ns = presence("<c xmlns='urn:other' hash='sha-1' node='n' ver='v'/>");
        assert_eq!(Advertised::from_presence(&other_ns), None);
        let newline = presence("<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n&#10;x' ver='v'/>");
        assert_eq!(Advertised::from_presence(&newline), None);
        let empty_ver = presence("<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver=''/>");
        assert_eq!(Advertised::from_presence(&empty_ver), None);
    }

    #[test]
    fn other_hashes_are_kept_but_not_verifiable() {
        let p = presence("<c xmlns='http://jabber.org/protocol/caps' hash='sha-256' node='n' ver='v'/>");
        assert!(!Advertised::from_presence(&p).unwrap().is_verifiable());
        assert_eq!(Advertised::decode(b"only\ntwo"), None);
        assert_eq!(Advertised::decode(&[0xff, b'\n', b'a', b'\n', b'b']), None);
    }
}
