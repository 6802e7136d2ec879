//! What servers write to each other besides stanzas: stream headers with
//! the dialback namespace, features, and the dialback elements.

use waxwing_xml::{Element, escape_attr, escape_text, ns};

pub const DIALBACK: &str = "jabber:server:dialback";
/// XEP-0220 §2.4.1: a receiving server that supports dialback says so in its features.
pub const DIALBACK_FEATURE: &str = "urn:xmpp:features:dialback";

/// A `jabber:server` stream header that declares the dialback prefix.
/// `id` only when we are the receiving side.
pub fn header(from: &str, to: Option<&str>, id: Option<&str>) -> String {
    let mut out = String::with_capacity(256);
    out.push_str("<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='");
    out.push_str(ns::STREAMS);
    out.push_str("' xmlns:db='");
    out.push_str(DIALBACK);
    out.push_str("' from='");
    out.push_str(&escape_attr(from));
    if let Some(to) = to {
        out.push_str("' to='");
        out.push_str(&escape_attr(to));
    }
    if let Some(id) = id {
        out.push_str("' id='");
        out.push_str(&escape_attr(id));
    }
    out.push_str("' version='1.0'>");
    out
}

/// `<db:result/>` or `<db:verify/>`: with a key when asking, with a type when answering.
pub fn db(name: &str, from: &str, to: &str, id: Option<&str>, key: Option<&str>, ty: Option<&str>) -> String {
    let mut out = format!("<db:{name} from='{}' to='{}'", escape_attr(from), escape_attr(to));
    if let Some(id) = id {
        out.push_str(&format!(" id='{}'", escape_attr(id)));
    }
    if let Some(ty) = ty {
        out.push_str(&format!(" type='{ty}'"));
    }
    match key {
        Some(k) => out.push_str(&format!(">{}</db:{name}>", escape_text(k))),
        None => out.push_str("/>"),
    }
    out
}

/// What a receiving server offers, read off its `<stream:features/>`.
#[derive(Debug, Default, Clone)]
pub struct Offered {
    pub starttls: bool,
    pub external: bool,
    pub dialback: bool,
}

impl Offered {
    pub fn read(features: &Element) -> Offered {
        let external = features
            .child("mechanisms", ns::SASL)
            .is_some_and(|m| m.elements().any(|e| e.name == "mechanism" && e.text().trim() == "EXTERNAL"));
        Offered {
            starttls: features.child("starttls", ns::TLS).is_some(),
            external,
            dialback: features.child("dialback", DIALBACK_FEATURE).is_some(),
        }
    }
}

/// The features we offer: STARTTLS until encrypted; then EXTERNAL where
/// the certificate proves the peer's domain, and dialback when enabled.
pub fn features(tls: bool, require_tls: bool, external: bool, dialback: bool) -> String {
    let mut out = String::from("<stream:features>");
    if !tls {
        out.push_str("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>");
        if require_tls {
            out.push_str("<required/>");
        }
        out.push_str("</starttls>");
    }
    if (tls || !require_tls) && external {
        out.push_str(
            "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>EXTERNAL</mechanism></mechanisms>",
        );
    }
    if (tls || !require_tls) && dialback {
        out.push_str("<dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback>");
    }
    out.push_str("</stream:features>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_round_trip() {
        let xml = features(true, true, true, true);
        let el = waxwing_xml::Element::parse(
            &xml.replace("<stream:features>", "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>"),
        )
        .unwrap();
        let o = Offered::read(&el);
        assert!(!o.starttls && o.external && o.dialback);
        let before_tls = features(false, true, true, true);
        assert!(
            before_tls.contains("<required/>") && !before_tls.contains("EXTERNAL") && !before_tls.contains("dialback")
        );
    }

    #[test]
    fn dialback_elements() {
        assert_eq!(
            db("result", "a.example", "b.example", None, Some("k1"), None),
            "<db:result from='a.example' to='b.example'>k1</db:result>"
        );
        assert_eq!(
            db("verify", "b.example", "a.example", Some("i'd"), None, Some("valid")),
            "<db:verify from='b.example' to='a.example' id='i&apos;d' type='valid'/>"
        );
    }
}
