//! The kernel's share of presence: a session's own availability and
//! priority (routing needs them), reflected to the account's resources.
//! Subscriptions and rosters are a plugin's business; plugins hear every
//! change through the `presence-changed` and `session-ended` events.

use std::sync::Arc;

use waxwing_xml::{Element, ns};

use super::sessions::PresenceState;
use super::{Router, Session};
use crate::plugins::EventKind;
use crate::xml::Stanza;

impl Router {
    /// Presence with no `to` (RFC 6121 §4.2, §4.5).
    pub(super) fn presence_broadcast(&self, session: &Arc<Session>, stanza: Stanza) {
        let ty = stanza.type_attr();
        let available = match ty {
            "available" => true,
            "unavailable" => false,
            // Subscription states without an addressee mean nothing (§3).
            _ => return,
        };
        let priority =
            stanza.el.child("priority", ns::CLIENT).and_then(|p| p.text().trim().parse::<i8>().ok()).unwrap_or(0);
        let xml: Arc<str> = stanza.el.to_xml_in(ns::CLIENT).into();
        session.set_presence(PresenceState { available, priority, last: Some(xml.clone()) });
        self.reflect_to_own_resources(session, &stanza);
        let domain = session.jid.domain().as_str();
        if let Some(vp) = self.plugins.vhost(domain) {
            vp.emit(EventKind::PresenceChanged, session.jid.as_str(), &xml);
        }
    }

    /// §4.2.2 / §4.5.2: every available resource of the account, including
    /// the sender, sees the change; a resource going unavailable still gets it.
    fn reflect_to_own_resources(&self, session: &Arc<Session>, stanza: &Stanza) {
        let Some(tenant) = self.tenants.get(session.jid.domain().as_str()) else { return };
        let table = &tenant.sessions;
        let Some(node) = session.jid.node() else { return };
        let targets: Vec<_> =
            table.of(node.as_str()).into_iter().filter(|s| s.id == session.id || s.presence().available).collect();
        let mut el = stanza.el.clone();
        el.remove_attr("to");
        for target in &targets {
            el.set_attr("to", target.jid.to_string());
            self.deliver_to_session(target, &el);
        }
    }

    /// A session is gone: tell the account's other resources if it was
    /// available (§4.5.3.2), and the plugins.
    pub fn session_ended(&self, session: &Arc<Session>) {
        let domain = session.jid.domain().as_str();
        let Some(tenant) = self.tenants.get(domain) else { return };
        let table = &tenant.sessions;
        if !table.unbind(session) {
            // Replaced by a newer session with the same resource: it took over.
            return;
        }
        let last = session.presence();
        if last.available {
            let unavailable = Element::new("presence", ns::CLIENT)
                .with_attr("from", session.jid.to_string())
                .with_attr("type", "unavailable");
            if let Ok(stanza) = Stanza::parse(unavailable) {
                self.reflect_to_own_resources(session, &stanza);
            }
        }
        if let Some(vp) = self.plugins.vhost(domain) {
            vp.emit(EventKind::SessionEnded, session.jid.as_str(), last.last.as_deref().unwrap_or(""));
        }
    }

    /// A session bound a resource.
    pub fn session_started(&self, session: &Arc<Session>) {
        if let Some(vp) = self.plugins.vhost(session.jid.domain().as_str()) {
            vp.emit(EventKind::SessionStarted, session.jid.as_str(), "");
        }
    }
}
