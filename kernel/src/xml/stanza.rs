//! A top-level stanza and the routing facts the kernel reads off it once.

use jid::Jid;
use waxwing_xml::{Element, StanzaError, StanzaErrorCondition, ns};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StanzaKind {
    Message,
    Presence,
    Iq,
}

impl StanzaKind {
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "message" => Some(StanzaKind::Message),
            "presence" => Some(StanzaKind::Presence),
            "iq" => Some(StanzaKind::Iq),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            StanzaKind::Message => "message",
            StanzaKind::Presence => "presence",
            StanzaKind::Iq => "iq",
        }
    }
}

/// A stanza whose addresses have been parsed and prepared (RFC 7622).
#[derive(Debug, Clone)]
pub struct Stanza {
    pub kind: StanzaKind,
    pub el: Element,
    pub from: Option<Jid>,
    pub to: Option<Jid>,
}

impl Stanza {
    /// Reads the routing facts. A malformed `to` or `from` is a `jid-malformed`
    /// stanza error; an element that is no stanza at all returns `None`.
    pub fn parse(el: Element) -> Result<Stanza, (Element, StanzaError)> {
        Self::parse_from(el, None)
    }

    /// Like [`parse`](Self::parse), with the sender already known (a bound
    /// session's JID): `from` is set to it, and not parsed again.
    pub fn parse_from(mut el: Element, sender: Option<&Jid>) -> Result<Stanza, (Element, StanzaError)> {
        if let Some(sender) = sender {
            el.set_attr("from", sender.to_string());
        }
        let Some(kind) = StanzaKind::from_name(&el.name) else {
            let err = StanzaError::new(StanzaErrorCondition::BadRequest).with_text("not a stanza");
            return Err((el, err));
        };
        let to = match el.attr("to").map(Jid::new) {
            None => None,
            Some(Ok(j)) => Some(j),
            Some(Err(e)) => {
                let err = StanzaError::new(StanzaErrorCondition::JidMalformed).with_text(format!("'to' address: {e}"));
                return Err((el, err));
            }
        };
        let from = match sender.cloned().map(Ok).or_else(|| el.attr("from").map(Jid::new)) {
            None => None,
            Some(Ok(j)) => Some(j),
            Some(Err(e)) => {
                let err =
                    StanzaError::new(StanzaErrorCondition::JidMalformed).with_text(format!("'from' address: {e}"));
                return Err((el, err));
            }
        };
        Ok(Stanza { kind, el, from, to })
    }

    /// The `type` attribute; presence without one is "available" per RFC 6121 §4.7.1,
    /// message without one is "normal" per RFC 6121 §5.2.2.
    pub fn type_attr(&self) -> &str {
        match (self.el.attr("type"), self.kind) {
            (Some(t), _) => t,
            (None, StanzaKind::Presence) => "available",
            (None, StanzaKind::Message) => "normal",
            (None, StanzaKind::Iq) => "",
        }
    }

    pub fn id(&self) -> Option<&str> {
        self.el.attr("id")
    }

    /// The first child element: the iq payload, or a message's first extension.
    pub fn payload(&self) -> Option<&Element> {
        self.el.first_element()
    }

    /// Sets `from` on both the parsed and the serialisable form.
    pub fn set_from(&mut self, from: Jid) {
        self.el.set_attr("from", from.to_string());
        self.from = Some(from);
    }

    pub fn set_to(&mut self, to: Jid) {
        self.el.set_attr("to", to.to_string());
        self.to = Some(to);
    }

    /// An error reply to this stanza, addressed back to its sender.
    pub fn error_reply(&self, err: &StanzaError) -> Element {
        err.reply_to(&self.el)
    }

    /// Serialised as a top-level `jabber:client` stanza.
    pub fn to_client_xml(&self) -> String {
        self.el.to_xml_in(ns::CLIENT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_addresses_and_defaults() {
        let el = Element::parse("<presence xmlns='jabber:client' to='A@Example.org/r'/>").unwrap();
        let s = Stanza::parse(el).unwrap();
        assert_eq!(s.kind, StanzaKind::Presence);
        assert_eq!(s.type_attr(), "available");
        assert_eq!(s.to.unwrap().to_string(), "a@example.org/r");
    }

    #[test]
    fn malformed_jid_is_jid_malformed() {
        let el = Element::parse("<message xmlns='jabber:client' to='@@bad'/>").unwrap();
        let (_, err) = Stanza::parse(el).unwrap_err();
        assert_eq!(err.condition, StanzaErrorCondition::JidMalformed);
    }
}
