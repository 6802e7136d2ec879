//! Sending stanzas (capability `route`). Sends are queued and routed when
//! the current call returns, in order, so a plugin is never re-entered from
//! inside itself.

use waxwing_xml::{Element, ns};

use super::{lift, sys};
use crate::error::HostError;

/// The longest a [`request`] may wait for its answer.
pub const MAX_REQUEST_TIMEOUT_MS: u32 = 300_000;

/// Sends one stanza. Its `from` must be on this virtual host (its domain, an
/// account on it, or the plugin's service subdomain), unless its `to` is.
pub fn send(stanza: &Element) -> Result<(), HostError> {
    send_xml(&stanza.to_xml_in(ns::CLIENT))
}

/// Sends an already-serialized stanza.
pub fn send_xml(xml: &str) -> Result<(), HostError> {
    lift(sys::route::send(xml))
}

/// Sends `stanza` to each of `recipients`, its `to` replaced: fan-out in one
/// host call, serialized once.
pub fn send_many(stanza: &Element, recipients: &[String]) -> Result<(), HostError> {
    lift(sys::route::send_many(&stanza.to_xml_in(ns::CLIENT), recipients))
}

/// Sends an iq `get` or `set` and returns the number that names it. Its
/// answer comes back as [`crate::Event::IqResponse`] carrying that number and
/// `context`: the result or error iq, or a timeout after `timeout_ms` (at
/// most [`MAX_REQUEST_TIMEOUT_MS`]). The kernel sets the iq's `id` itself, so
/// build it without one ([`crate::new_iq`] with "").
pub fn request(iq: &Element, timeout_ms: u32, context: &str) -> Result<u64, HostError> {
    lift(sys::route::request(&iq.to_xml_in(ns::CLIENT), timeout_ms, context))
}
