//! `route` into an outbox a test reads back: sends as the kernel would queue
//! them (one stanza per recipient of `send-many`), requests with their ids.
//! Stanzas are checked as the kernel checks them: `jabber:client`, a `to`
//! that is a JID, a `from` on the host (added when missing) unless `to` is.

use ::jid::Jid;
use waxwing_xml::{Element, ns};

use crate::Capability;
use crate::bindings::waxwing::plugin::types::HostError;
use crate::host::route::MAX_REQUEST_TIMEOUT_MS;
use crate::stanza::parse_client_xml;
use crate::testing::records::SentRequest;
use crate::testing::state::{State, with};

fn invalid(message: String) -> HostError {
    HostError::Invalid(message)
}

fn stanza(xml: &str) -> Result<Element, HostError> {
    let mut el = parse_client_xml(xml).map_err(|e| invalid(format!("stanza is not usable XML: {e}")))?;
    if el.ns != ns::CLIENT {
        return Err(invalid(format!("stanza namespace is '{}'; plugins send in jabber:client", el.ns)));
    }
    if !matches!(el.name.as_str(), "message" | "presence" | "iq") {
        return Err(invalid(format!("<{}/> is not a stanza: send message, presence or iq", el.name)));
    }
    let to_domain = match el.attr("to") {
        Some(to) => Some(Jid::new(to).map_err(|e| invalid(format!("'to' address {to:?} is not a JID: {e}")))?),
        None => None,
    };
    with(|s| {
        match el.attr("from") {
            None => el.set_attr("from", s.domain.clone()),
            Some(from) => {
                let from_jid =
                    Jid::new(from).map_err(|e| invalid(format!("'from' address {from:?} is not a JID: {e}")))?;
                // Delivering to its own host's accounts, a plugin may keep the
                // original sender; outward it speaks for its host only.
                let inbound = to_domain.as_ref().is_some_and(|to| to.domain().as_str() == s.domain);
                if !inbound && !on_host(s, from_jid.domain().as_str()) {
                    return Err(invalid(format!("'from' {from:?} is not on {}", s.domain)));
                }
            }
        }
        Ok(el)
    })
}

fn on_host(s: &State, domain: &str) -> bool {
    domain == s.domain || s.declared.as_ref().and_then(|d| d.service.as_deref()) == Some(domain)
}

pub(crate) fn send(xml: &str) -> Result<(), HostError> {
    with(|s| s.need(Capability::Route))?;
    let el = stanza(xml)?;
    with(|s| s.sent.push(el));
    Ok(())
}

pub(crate) fn send_many(xml: &str, recipients: &[String]) -> Result<(), HostError> {
    with(|s| s.need(Capability::Route))?;
    let el = stanza(xml)?;
    // All recipients are checked before any is queued, as the kernel does.
    for r in recipients {
        ::jid::Jid::new(r).map_err(|e| HostError::Invalid(format!("recipient {r:?} is not a JID: {e}")))?;
    }
    with(|s| {
        for r in recipients {
            let mut one = el.clone();
            one.set_attr("to", r.clone());
            s.sent.push(one);
        }
    });
    Ok(())
}

pub(crate) fn request(xml: &str, timeout_ms: u32, context: &str) -> Result<u64, HostError> {
    with(|s| s.need(Capability::Route))?;
    if timeout_ms == 0 || timeout_ms > MAX_REQUEST_TIMEOUT_MS {
        return Err(HostError::Invalid(format!("timeout {timeout_ms} ms is outside 1..={MAX_REQUEST_TIMEOUT_MS}")));
    }
    let mut iq = stanza(xml)?;
    if iq.name != "iq" || !matches!(iq.attr("type"), Some("get" | "set")) || iq.elements().count() != 1 {
        return Err(HostError::Invalid("a request is an iq of type get or set with exactly one child".into()));
    }
    match iq.attr("to") {
        Some(to) => {
            ::jid::Jid::new(to).map_err(|e| HostError::Invalid(format!("'to' {to:?} is not a JID: {e}")))?;
        }
        None => return Err(HostError::Invalid("a request needs a 'to'".into())),
    }
    Ok(with(|s| {
        let id = s.next_request;
        s.next_request += 1;
        iq.set_attr("id", format!("fake-request-{id}"));
        s.requests.push(SentRequest { id, iq, timeout_ms, context: context.to_string() });
        id
    }))
}
