//! `route.send-many`: one stanza from a plugin to many recipients (a MUC
//! message to every occupant). Serialized once, without `to`; each local
//! session a stanza can go straight to gets those bytes with its own `to`
//! spliced in. A recipient that a plugin would see the stanza for on the
//! way (a filter, a handler), or that is not a live local session, goes
//! the ordinary way, one stanza at a time.

use std::sync::Arc;

use jid::Jid;
use waxwing_xml::{Element, escape_attr, ns};

use super::sessions::{Outbound, Session};
use super::{Depth, Router};
use crate::plugins::{Address, Kernel, Origin};
use crate::xml::{Stanza, StanzaKind};

/// A stanza serialized without `to`, cut after its name.
struct Wire {
    head: String,
    tail: String,
}

impl Wire {
    fn of(el: &Element) -> Wire {
        let xml = el.to_xml_in(ns::CLIENT);
        let cut = 1 + el.name.len();
        Wire { head: xml[..cut].to_string(), tail: xml[cut..].to_string() }
    }

    fn to(&self, jid: &Jid) -> Arc<str> {
        let to = escape_attr(jid.as_str());
        let mut out = String::with_capacity(self.head.len() + self.tail.len() + to.len() + 6);
        out.push_str(&self.head);
        out.push_str(" to='");
        out.push_str(&to);
        out.push('\'');
        out.push_str(&self.tail);
        out.into()
    }
}

impl Router {
    pub(super) fn route_many(&self, mut el: Element, to: Vec<Jid>, origin: &Origin<'_>) {
        el.remove_attr("to");
        let Some(first) = to.first() else { return };
        // One parse for the routing facts every recipient shares.
        let mut facts = el.clone();
        facts.set_attr("to", first.as_str());
        let mut probe = match Stanza::parse(facts) {
            Ok(s) => s,
            Err((el, err)) => {
                return tracing::warn!(%err, plugin = origin.plugin, "could not route a plugin's fan-out: {}", el);
            }
        };
        let Some(_depth) = Depth::enter(&probe) else { return };
        let mut wire: Option<Wire> = None;
        for jid in to {
            probe.to = Some(jid.clone());
            match self.direct_session(&probe, origin.plugin) {
                Some(session) => {
                    let w = wire.get_or_insert_with(|| Wire::of(&el));
                    session.send(Outbound::Stanza(w.to(&jid)));
                }
                None => {
                    let mut one = el.clone();
                    one.set_attr("to", jid.as_str());
                    self.route_from_plugin(one, origin);
                }
            }
        }
    }

    /// The live local session `stanza` (addressed to a full JID) may go
    /// straight to: no plugin handles or filters it on the way.
    fn direct_session(&self, stanza: &Stanza, sender: &str) -> Option<Arc<Session>> {
        let ty = stanza.type_attr();
        if stanza.kind == StanzaKind::Iq || (stanza.kind == StanzaKind::Presence && ty == "probe") {
            return None;
        }
        let to = stanza.to.as_ref()?;
        let (node, resource) = (to.node()?, to.resource()?);
        let domain = to.domain().as_str();
        let tenant = self.tenants.get(domain)?;
        let table = &tenant.sessions;
        let vp = self.plugins.vhost(domain);
        if vp.is_some_and(|vp| vp.would_handle(stanza, Address::Full)) || self.filters_see(stanza, Some(sender)) {
            return None;
        }
        table.get(node.as_str(), resource.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_form_takes_each_recipient_escaped() {
        let el = Element::parse(
            "<message xmlns='jabber:client' from='r@c.h/n' type='groupchat'><body>a&amp;b</body></message>",
        )
        .unwrap();
        let w = Wire::of(&el);
        let jid = Jid::new("obrien@h/r'&1").unwrap();
        let out = w.to(&jid);
        let back = Element::parse(&out).unwrap();
        assert_eq!(back.attr("to"), Some("obrien@h/r'&1"));
        assert_eq!(back.attr("from"), Some("r@c.h/n"));
        assert!(out.ends_with("type='groupchat'><body>a&amp;b</body></message>"), "{out}");
    }
}
