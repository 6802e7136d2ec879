//! Checking stanzas a plugin sends (through `route`, a `reply` outcome or a
//! filter's rewrite) before the kernel routes them.

use jid::Jid;
use waxwing_xml::{Element, Node, ns};

use crate::xml::StanzaKind;

/// Largest stanza a plugin may send, serialized.
pub(crate) const MAX_STANZA_BYTES: usize = 1 << 20;

/// Parses a stanza a plugin wants routed and checks it: a `jabber:client`
/// message, presence or iq whose `from` is on the vhost (`domain`, an account
/// on it, or the plugin's service subdomain). A missing `from` becomes the
/// vhost's domain. The error text is for the plugin author.
pub(crate) fn prepare(xml: &str, domain: &str, service_domain: Option<&str>) -> Result<Element, String> {
    let mut el = parse_stanza(xml)?;
    match el.attr("from") {
        None => el.set_attr("from", domain),
        // Delivering to its own host's accounts, a plugin may keep the
        // original sender (offline storage); outward it speaks for its host only.
        Some(from) if is_to_domain(&el, domain) => {
            Jid::new(from).map_err(|e| format!("'from' address {from:?} is not a JID: {e}"))?;
        }
        Some(from) => check_from(from, domain, service_domain)?,
    }
    Ok(el)
}

/// A reply to a stanza that came from a stream without an address (in-band
/// registration before authentication): the plugin answered "to" the empty
/// sender, which is dropped here; the kernel writes the reply back itself.
pub(crate) fn prepare_captured(xml: &str) -> Result<Element, String> {
    let mut el = Element::parse(xml).map_err(|e| format!("stanza is not usable XML: {e}"))?;
    if el.attr("to") == Some("") {
        el.remove_attr("to");
    }
    parse_stanza(&el.to_xml())
}

fn is_to_domain(el: &Element, domain: &str) -> bool {
    el.attr("to").and_then(|to| Jid::new(to).ok()).is_some_and(|to| to.domain().as_str() == domain)
}

/// Like [`prepare`] for a filter's rewrite, which may also keep the
/// original sender (a filter sees stanzas from anywhere). A rewrite without
/// `from` keeps the original's.
pub(crate) fn prepare_rewrite(
    xml: &str,
    original_from: Option<&str>,
    domain: &str,
    service_domain: Option<&str>,
) -> Result<Element, String> {
    let mut el = parse_stanza(xml)?;
    match (el.attr("from"), original_from) {
        (None, Some(orig)) => el.set_attr("from", orig),
        (None, None) => {}
        (Some(from), Some(orig)) if same_jid(from, orig) => {}
        (Some(from), _) => check_from(from, domain, service_domain)?,
    }
    Ok(el)
}

fn same_jid(a: &str, b: &str) -> bool {
    a == b || matches!((Jid::new(a), Jid::new(b)), (Ok(x), Ok(y)) if x == y)
}

fn parse_stanza(xml: &str) -> Result<Element, String> {
    if xml.len() > MAX_STANZA_BYTES {
        return Err(format!("stanza is {} bytes; the maximum is {MAX_STANZA_BYTES}", xml.len()));
    }
    let mut el = Element::parse(xml).map_err(|e| format!("stanza is not usable XML: {e}"))?;
    if el.ns.is_empty() {
        // The contract lets plugins leave `jabber:client` implicit.
        adopt_namespace(&mut el, ns::CLIENT);
    }
    if el.ns != ns::CLIENT {
        return Err(format!("stanza namespace is '{}'; plugins send in jabber:client", el.ns));
    }
    if StanzaKind::from_name(&el.name).is_none() {
        return Err(format!("<{}/> is not a stanza: send message, presence or iq", el.name));
    }
    if let Some(to) = el.attr("to") {
        Jid::new(to).map_err(|e| format!("'to' address {to:?} is not a JID: {e}"))?;
    }
    Ok(el)
}

/// Whether `from` may be claimed by a plugin on `domain`.
pub(crate) fn check_from(from: &str, domain: &str, service_domain: Option<&str>) -> Result<(), String> {
    let jid = Jid::new(from).map_err(|e| format!("'from' address {from:?} is not a JID: {e}"))?;
    let d = jid.domain().as_str();
    if d == domain || service_domain == Some(d) {
        return Ok(());
    }
    Err(match service_domain {
        Some(s) => format!("'from' {from:?} is not on {domain} or {s}"),
        None => format!("'from' {from:?} is not on {domain}"),
    })
}

/// Gives `ns` to the element and every descendant that inherited "no
/// namespace" from it; explicitly namespaced subtrees keep their own.
fn adopt_namespace(el: &mut Element, ns: &str) {
    el.ns = ns.to_string();
    for child in &mut el.children {
        if let Node::Element(c) = child
            && c.ns.is_empty()
        {
            adopt_namespace(c, ns);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implicit_namespace_and_default_from() {
        let el = prepare("<message to='a@h'><body>hi</body><x xmlns='urn:x'><y/></x></message>", "h", None).unwrap();
        assert_eq!(el.ns, ns::CLIENT);
        assert_eq!(el.attr("from"), Some("h"));
        assert!(el.child("body", ns::CLIENT).is_some());
        let x = el.child("x", "urn:x").unwrap();
        assert!(x.child("y", "urn:x").is_some());
    }

    #[test]
    fn from_must_be_on_the_vhost_or_service() {
        assert!(prepare("<iq xmlns='jabber:client' from='u@h/r' type='result' id='1'/>", "h", None).is_ok());
        assert!(prepare("<iq from='room@muc.h/nick' type='result' id='1'/>", "h", Some("muc.h")).is_ok());
        for bad in
            ["<iq from='u@other' type='get'/>", "<iq from='muc.h' type='get'/>", "<iq from='h.evil' type='get'/>"]
        {
            let err = prepare(bad, "h", None).unwrap_err();
            assert!(err.contains("not on h"), "{bad}: {err}");
        }
        assert!(prepare("<iq from='@@' type='get'/>", "h", None).unwrap_err().contains("not a JID"));
    }

    #[test]
    fn any_sender_may_be_kept_for_the_hosts_own_accounts() {
        assert!(prepare("<message from='x@remote/r' to='u@h'/>", "h", None).is_ok());
        assert!(prepare("<message from='x@remote/r' to='h'/>", "h", None).is_ok());
        assert!(prepare("<message from='x@remote/r' to='u@other'/>", "h", None).is_err());
        assert!(prepare("<message from='x@remote/r' to='u@h.evil'/>", "h", None).is_err());
        assert!(prepare("<message from='@@' to='u@h'/>", "h", None).is_err());
    }

    #[test]
    fn rewrites_may_keep_the_original_sender() {
        let el = prepare_rewrite("<message to='u@h'/>", Some("x@remote/r"), "h", None).unwrap();
        assert_eq!(el.attr("from"), Some("x@remote/r"));
        assert!(prepare_rewrite("<message from='X@Remote/r' to='u@h'/>", Some("x@remote/r"), "h", None).is_ok());
        assert!(prepare_rewrite("<message from='h' to='u@h'/>", Some("x@remote/r"), "h", None).is_ok());
        assert!(prepare_rewrite("<message from='y@remote' to='u@h'/>", Some("x@remote/r"), "h", None).is_err());
    }

    #[test]
    fn refuses_what_is_not_a_stanza() {
        assert!(prepare("<foo/>", "h", None).unwrap_err().contains("not a stanza"));
        assert!(prepare("<iq xmlns='jabber:server'/>", "h", None).unwrap_err().contains("namespace"));
        assert!(prepare("<iq", "h", None).unwrap_err().contains("XML"));
        assert!(prepare("<iq to='@@'/>", "h", None).unwrap_err().contains("'to'"));
        let huge = format!("<message><body>{}</body></message>", "x".repeat(MAX_STANZA_BYTES));
        assert!(prepare(&huge, "h", None).unwrap_err().contains("maximum"));
    }
}
