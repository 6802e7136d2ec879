//! Stanzas as a plugin sees them: the kernel's routing facts up front, the
//! parsed element only when a handler asks for it.

use std::cell::OnceCell;
use std::ops::Deref;

use waxwing_xml::{Element, Node, StanzaError, StanzaErrorCondition, ns};

use crate::bindings::waxwing::plugin::types as wit;
use crate::plugin::{Handled, Outcome};
use crate::{Address, Kind, StanzaType};

/// A stanza handed to the plugin.
#[derive(Debug, Clone)]
pub struct Stanza {
    raw: wit::Stanza,
    parsed: OnceCell<Result<Element, String>>,
}

impl From<wit::Stanza> for Stanza {
    fn from(raw: wit::Stanza) -> Self {
        Stanza::from_wit(raw)
    }
}

impl Stanza {
    /// Wraps what the kernel handed over; nothing is parsed yet.
    pub fn from_wit(raw: wit::Stanza) -> Self {
        Stanza { raw, parsed: OnceCell::new() }
    }

    /// Builds a stanza from XML the way the kernel would describe it: for
    /// plugin unit tests. `to` defaults to `domain` when the stanza has none;
    /// a type the kernel would refuse is `bad-request`.
    pub fn from_xml(xml: &str, addressed: Address, domain: &str) -> Result<Stanza, StanzaError> {
        let el = parse_client_xml(xml)?;
        let kind = match el.name.as_str() {
            "iq" => Kind::Iq,
            "message" => Kind::Message,
            "presence" => Kind::Presence,
            _ => return Err(bad_request("not a stanza")),
        };
        let type_ = StanzaType::from_attr(kind, el.attr("type"))
            .ok_or_else(|| bad_request(format!("{} of type {:?}", el.name, el.attr("type").unwrap_or_default())))?;
        let (payload_ns, payload_name) = el.first_element().map(|p| (p.ns.clone(), p.name.clone())).unwrap_or_default();
        let raw = wit::Stanza {
            kind,
            type_,
            id: el.attr("id").unwrap_or_default().to_string(),
            from: el.attr("from").unwrap_or_default().to_string(),
            to: el.attr("to").unwrap_or(domain).to_string(),
            addressed,
            payload_ns,
            payload_name,
            xml: xml.to_string(),
        };
        Ok(Stanza { raw, parsed: OnceCell::from(Ok(el)) })
    }

    /// Message, presence or iq.
    pub fn kind(&self) -> Kind {
        self.raw.kind
    }

    /// The type as the kernel read it: `normal` for a message without one,
    /// `available` for a presence without one.
    pub fn stanza_type(&self) -> StanzaType {
        self.raw.type_
    }

    /// The `id` attribute, "" when absent.
    pub fn id(&self) -> &str {
        &self.raw.id
    }

    /// The sender, as stamped by the kernel.
    pub fn from(&self) -> &str {
        &self.raw.from
    }

    /// The addressee; the host's domain when the stanza had no `to`.
    pub fn to(&self) -> &str {
        &self.raw.to
    }

    /// Which kind of address `to` is, as the kernel routed it.
    pub fn addressed(&self) -> Address {
        self.raw.addressed
    }

    /// The first child element's namespace, "" when there is none.
    pub fn payload_ns(&self) -> &str {
        &self.raw.payload_ns
    }

    /// The first child element's name, "" when there is none.
    pub fn payload_name(&self) -> &str {
        &self.raw.payload_name
    }

    /// The stanza as serialized XML.
    pub fn xml(&self) -> &str {
        &self.raw.xml
    }

    /// The parsed stanza, parsed on first use. XML the SDK cannot read is the
    /// sender's fault as far as a handler is concerned: `bad-request`.
    pub fn element(&self) -> Result<&Element, StanzaError> {
        self.parsed
            .get_or_init(|| Element::parse(&self.raw.xml).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(bad_request)
    }

    /// The first child element, `bad-request` when there is none.
    pub fn payload(&self) -> Result<&Element, StanzaError> {
        self.element()?.first_element().ok_or_else(|| bad_request("stanza has no payload"))
    }

    /// A reply skeleton: same name and id, addresses swapped, the given type
    /// (`available` and `normal` as no attribute).
    pub fn reply(&self, stanza_type: StanzaType) -> Element {
        let name = match self.raw.kind {
            Kind::Iq => "iq",
            Kind::Message => "message",
            Kind::Presence => "presence",
        };
        let mut el = Element::new(name, ns::CLIENT);
        if !self.raw.to.is_empty() {
            el.set_attr("from", self.raw.to.clone());
        }
        if !self.raw.from.is_empty() {
            el.set_attr("to", self.raw.from.clone());
        }
        if !self.raw.id.is_empty() {
            el.set_attr("id", self.raw.id.clone());
        }
        if let Some(t) = stanza_type.attr() {
            el.set_attr("type", t);
        }
        el
    }

    /// The full error reply to this stanza (RFC 6120 §8.3.1), for when a
    /// handler sends it itself instead of returning the error.
    pub fn error_reply(&self, error: &StanzaError) -> Result<Element, StanzaError> {
        Ok(error.reply_to(self.element()?))
    }
}

fn bad_request(text: impl Into<String>) -> StanzaError {
    StanzaError::new(StanzaErrorCondition::BadRequest).with_text(text)
}

macro_rules! stanza_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone)]
        pub struct $name(pub Stanza);

        impl Deref for $name {
            type Target = Stanza;
            fn deref(&self) -> &Stanza {
                &self.0
            }
        }

        impl $name {
            /// The stanza without its kind.
            pub fn into_inner(self) -> Stanza {
                self.0
            }
        }
    };
}

stanza_newtype!(
    /// An `<iq/>`: a request that must be answered exactly once.
    Iq
);
stanza_newtype!(
    /// A `<message/>`.
    Message
);
stanza_newtype!(
    /// A `<presence/>`.
    Presence
);

impl Iq {
    /// `type='get'`.
    pub fn is_get(&self) -> bool {
        self.stanza_type() == StanzaType::Get
    }

    /// `type='set'`.
    pub fn is_set(&self) -> bool {
        self.stanza_type() == StanzaType::Set
    }

    /// `type='result'`.
    pub fn is_result(&self) -> bool {
        self.stanza_type() == StanzaType::Result
    }

    /// `type='error'`.
    pub fn is_error(&self) -> bool {
        self.stanza_type() == StanzaType::Error
    }

    /// The `<iq type='result'/>` skeleton, to add a payload to.
    pub fn result(&self) -> Element {
        self.reply(StanzaType::Result)
    }

    /// Answers with an empty result.
    pub fn reply_empty(&self) -> Handled {
        Ok(Outcome::Reply(self.result()))
    }

    /// Answers with a result carrying `payload`.
    pub fn reply_with(&self, payload: Element) -> Handled {
        Ok(Outcome::Reply(self.result().with_child(payload)))
    }
}

impl Message {
    /// The first `<body/>` text, if any.
    pub fn body(&self) -> Option<String> {
        self.element().ok()?.child("body", ns::CLIENT).map(Element::text)
    }
}

impl Presence {
    /// Presence with no `type` is available presence.
    pub fn is_available(&self) -> bool {
        self.stanza_type() == StanzaType::Available
    }

    /// `<show/>`, if any: away, chat, dnd or xa.
    pub fn show(&self) -> Option<String> {
        self.element().ok()?.child("show", ns::CLIENT).map(Element::text)
    }

    /// `<priority/>`, 0 when absent or unreadable (RFC 6121 §4.7.2.3).
    pub fn priority(&self) -> i8 {
        self.element()
            .ok()
            .and_then(|e| e.child("priority", ns::CLIENT))
            .and_then(|p| p.text().trim().parse().ok())
            .unwrap_or(0)
    }
}

/// Parses a serialized stanza as the kernel hands them over, in event data
/// (`presence-changed`, `message-undeliverable`, `session-ended`) too, where
/// the stream's `jabber:client` namespace is left implicit: elements without
/// a namespace get it, so children can be looked up by their real namespace.
pub fn parse_client_xml(xml: &str) -> Result<Element, StanzaError> {
    let mut el = Element::parse(xml).map_err(|e| bad_request(e.to_string()))?;
    adopt_client_ns(&mut el);
    Ok(el)
}

fn adopt_client_ns(el: &mut Element) {
    if el.ns.is_empty() {
        el.ns = ns::CLIENT.to_string();
    }
    for child in &mut el.children {
        if let Node::Element(c) = child {
            adopt_client_ns(c);
        }
    }
}

/// A new `<iq/>` of `iq_type` with `id` unless it is "" (an iq sent with
/// [`crate::route::request`] gets its id from the kernel).
pub fn new_iq(iq_type: StanzaType, id: &str) -> Element {
    let el = with_type(Element::new("iq", ns::CLIENT), iq_type);
    if id.is_empty() { el } else { el.with_attr("id", id) }
}

/// A new `<message/>` to `to` of `message_type` (`normal` as no attribute);
/// with `to` "" it has none, for [`crate::route::send_many`] to set per
/// recipient.
pub fn new_message(to: &str, message_type: StanzaType) -> Element {
    let el = Element::new("message", ns::CLIENT);
    with_type(if to.is_empty() { el } else { el.with_attr("to", to) }, message_type)
}

/// A new `<presence/>` of `presence_type` (`available` as no attribute).
pub fn new_presence(presence_type: StanzaType) -> Element {
    with_type(Element::new("presence", ns::CLIENT), presence_type)
}

fn with_type(el: Element, stanza_type: StanzaType) -> Element {
    match stanza_type.attr() {
        Some(t) => el.with_attr("type", t),
        None => el,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iq(xml: &str) -> Iq {
        Iq(Stanza::from_xml(xml, Address::Host, "example.org").unwrap())
    }

    #[test]
    fn implicit_client_namespace_is_restored() {
        let el = parse_client_xml(
            "<presence from='a@h/r'><show>away</show><c xmlns='http://jabber.org/protocol/caps'><x/></c></presence>",
        )
        .unwrap();
        assert_eq!(el.ns, ns::CLIENT);
        assert!(el.child("show", ns::CLIENT).is_some());
        let c = el.child("c", "http://jabber.org/protocol/caps").unwrap();
        assert_eq!(c.first_element().map(|x| x.ns.as_str()), Some("http://jabber.org/protocol/caps"));
        assert!(parse_client_xml("<presence").is_err());
    }

    #[test]
    fn result_reply_swaps_addresses() {
        let iq = iq(
            "<iq xmlns='jabber:client' type='get' id='p1' from='a@example.org/r'><ping xmlns='urn:xmpp:ping'/></iq>",
        );
        assert!(iq.is_get());
        assert_eq!(iq.to(), "example.org");
        assert_eq!(iq.payload_ns(), "urn:xmpp:ping");
        let Ok(Outcome::Reply(reply)) = iq.reply_empty() else { panic!("expected a reply") };
        assert_eq!(reply.to_xml_in(ns::CLIENT), "<iq from='example.org' to='a@example.org/r' id='p1' type='result'/>");
    }

    #[test]
    fn reply_with_payload() {
        let iq = iq(
            "<iq xmlns='jabber:client' type='get' id='v' from='a@example.org/r'><query xmlns='jabber:iq:version'/></iq>",
        );
        let Ok(Outcome::Reply(reply)) = iq.reply_with(Element::new("query", "jabber:iq:version")) else {
            panic!("expected a reply")
        };
        assert_eq!(reply.first_element().map(|e| e.ns.as_str()), Some("jabber:iq:version"));
    }

    #[test]
    fn unparseable_xml_is_bad_request() {
        let raw = wit::Stanza {
            kind: Kind::Iq,
            type_: StanzaType::Get,
            id: "1".into(),
            from: "a@b/c".into(),
            to: "b".into(),
            addressed: Address::Host,
            payload_ns: String::new(),
            payload_name: String::new(),
            xml: "<iq><unclosed></iq>".into(),
        };
        let s = Stanza::from_wit(raw);
        assert_eq!(s.element().unwrap_err().condition, StanzaErrorCondition::BadRequest);
        assert_eq!(s.payload().unwrap_err().condition, StanzaErrorCondition::BadRequest);
    }

    #[test]
    fn missing_payload_is_bad_request() {
        let iq = iq("<iq xmlns='jabber:client' type='get' id='1'/>");
        assert_eq!(iq.payload().unwrap_err().condition, StanzaErrorCondition::BadRequest);
    }

    #[test]
    fn error_reply_keeps_payload() {
        let iq = iq("<iq xmlns='jabber:client' type='get' id='1' from='a@b/c' to='b'><q xmlns='urn:x'/></iq>");
        let reply = iq.error_reply(&StanzaError::new(StanzaErrorCondition::ItemNotFound)).unwrap();
        assert_eq!(reply.attr("type"), Some("error"));
        assert!(reply.child("q", "urn:x").is_some());
    }

    #[test]
    fn presence_and_message_accessors() {
        let p = Presence(
            Stanza::from_xml(
                "<presence xmlns='jabber:client'><show>away</show><priority>-3</priority></presence>",
                Address::Bare,
                "example.org",
            )
            .unwrap(),
        );
        assert!(p.is_available());
        assert_eq!(p.show().as_deref(), Some("away"));
        assert_eq!(p.priority(), -3);
        let m = Message(
            Stanza::from_xml(
                "<message xmlns='jabber:client' to='u@example.org'><body>hi</body></message>",
                Address::Bare,
                "x",
            )
            .unwrap(),
        );
        assert_eq!(m.body().as_deref(), Some("hi"));
        assert_eq!(m.to(), "u@example.org");
        assert!(Stanza::from_xml("<foo/>", Address::Host, "x").is_err());
    }

    #[test]
    fn types_are_read_as_the_kernel_reads_them() {
        let s = |xml: &str| Stanza::from_xml(xml, Address::Host, "h");
        assert_eq!(s("<message xmlns='jabber:client'/>").unwrap().stanza_type(), StanzaType::Normal);
        assert_eq!(s("<presence type='subscribe'/>").unwrap().stanza_type(), StanzaType::Subscribe);
        assert!(iq("<iq xmlns='jabber:client' type='result' id='1'/>").is_result());
        assert!(iq("<iq xmlns='jabber:client' type='error' id='1'/>").is_error());
        assert_eq!(s("<iq type='chat' id='1'/>").unwrap_err().condition, StanzaErrorCondition::BadRequest);
        assert_eq!(s("<presence type='bogus'/>").unwrap_err().condition, StanzaErrorCondition::BadRequest);
        let p = s("<presence xmlns='jabber:client' from='a@h/r' to='b@h' type='subscribe'/>").unwrap();
        assert_eq!(
            p.reply(StanzaType::Subscribed).to_xml_in(ns::CLIENT),
            "<presence from='b@h' to='a@h/r' type='subscribed'/>"
        );
        assert_eq!(p.reply(StanzaType::Available).attr("type"), None);
    }

    #[test]
    fn builders_use_the_client_namespace() {
        assert_eq!(new_iq(StanzaType::Get, "a").to_xml_in(ns::CLIENT), "<iq type='get' id='a'/>");
        assert_eq!(new_iq(StanzaType::Set, "").to_xml_in(ns::CLIENT), "<iq type='set'/>");
        assert_eq!(new_message("u@h", StanzaType::Chat).to_xml_in(ns::CLIENT), "<message to='u@h' type='chat'/>");
        assert_eq!(new_message("u@h", StanzaType::Normal).to_xml_in(ns::CLIENT), "<message to='u@h'/>");
        assert_eq!(new_message("", StanzaType::Headline).to_xml_in(ns::CLIENT), "<message type='headline'/>");
        assert_eq!(new_presence(StanzaType::Available).to_xml_in(ns::CLIENT), "<presence/>");
        assert_eq!(new_presence(StanzaType::Probe).to_xml_in(ns::CLIENT), "<presence type='probe'/>");
    }
}
