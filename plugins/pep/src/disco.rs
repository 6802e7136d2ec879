//! disco on an account's bare JID: the account (RFC 6121 §8.5.1) as a PEP
//! service (XEP-0163 §6), its nodes, a node's meta-data.

use pubsub_engine::{self as engine, Service};
use waxwing_sdk::prelude::*;

/// XEP-0398: this service turns PEP avatars into vcard-temp ones and back.
pub const NS_VCARD_CONVERSION: &str = "urn:xmpp:pep-vcard-conversion:0";

pub fn answer(service: &Service, iq: &Iq) -> Handled {
    let query = iq.payload()?;
    let node = query.attr("node").filter(|n| !n.is_empty());
    let answer = match (query.ns.as_str(), node) {
        (ns::DISCO_INFO, None) => engine::disco::service_info(
            service,
            &[("account", "registered", ""), ("pubsub", "pep", "")],
            &[NS_VCARD_CONVERSION],
        ),
        (ns::DISCO_INFO, Some(n)) => engine::disco::node_info(service, n, iq.from())?,
        (_, node) => engine::disco::items(service, node, iq.from())?,
    };
    iq.reply_with(answer)
}
