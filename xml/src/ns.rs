//! Namespaces the kernel and the SDK refer to by name.

pub const CLIENT: &str = "jabber:client";
pub const SERVER: &str = "jabber:server";
pub const COMPONENT: &str = "jabber:component:accept";
pub const STREAMS: &str = "http://etherx.jabber.org/streams";
pub const STREAM_ERRORS: &str = "urn:ietf:params:xml:ns:xmpp-streams";
pub const STANZA_ERRORS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
pub const TLS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
pub const SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
pub const BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
pub const SESSION: &str = "urn:ietf:params:xml:ns:xmpp-session";
pub const PING: &str = "urn:xmpp:ping";
pub const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
pub const DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
pub const DATA_FORMS: &str = "jabber:x:data";
pub const DELAY: &str = "urn:xmpp:delay";
pub const XML: &str = "http://www.w3.org/XML/1998/namespace";
pub const CAPS: &str = "http://jabber.org/protocol/caps";
pub const REGISTER: &str = "jabber:iq:register";
