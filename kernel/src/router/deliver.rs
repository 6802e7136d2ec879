//! Delivery to local accounts: RFC 6121 §8.5 for bare and full JIDs.

use std::sync::Arc;

use jid::Jid;
use waxwing_xml::{StanzaError, StanzaErrorCondition as Cond, ns};

use super::{Outbound, Router, Session, SessionTable};
use crate::plugins::EventKind;
use crate::xml::{Stanza, StanzaKind};

impl Router {
    pub(super) fn to_bare(&self, table: &SessionTable, to: &Jid, stanza: &Stanza) {
        let Some(node) = to.node() else { return };
        let sessions = table.of(node.as_str());
        let exists = !sessions.is_empty() || self.account_exists(table.domain(), node.as_str());
        let ty = stanza.type_attr();
        if !exists {
            // RFC 6121 §8.5.1: no such account.
            match (stanza.kind, ty) {
                (_, "error") | (StanzaKind::Presence, _) | (StanzaKind::Iq, "result") => {}
                _ => self.reply_error(stanza, StanzaError::new(Cond::ServiceUnavailable)),
            }
            return;
        }
        match stanza.kind {
            StanzaKind::Message => self.message_to_bare(table, &sessions, stanza),
            // §8.5.2.1.3: the server answers iqs to a bare JID on the account's behalf.
            StanzaKind::Iq => {
                if super::is_ping(stanza) || is_legacy_session(stanza) {
                    self.route_reply(super::result_reply(stanza));
                } else if matches!(ty, "get" | "set") {
                    self.reply_error(stanza, StanzaError::new(Cond::ServiceUnavailable));
                }
            }
            // Probes are the server's business (RFC 6121 §4.3): a roster plugin
            // answers them; clients never see one.
            StanzaKind::Presence if ty == "probe" => {}
            // §8.5.2.1.2: presence goes to every available resource.
            StanzaKind::Presence => {
                let targets: Vec<_> = sessions.into_iter().filter(|s| s.presence().available).collect();
                self.fan_out(&targets, stanza);
            }
        }
    }

    fn message_to_bare(&self, table: &SessionTable, sessions: &[Arc<Session>], stanza: &Stanza) {
        let ty = stanza.type_attr();
        if ty == "groupchat" {
            return self.reply_error(stanza, StanzaError::new(Cond::ServiceUnavailable));
        }
        if ty == "error" {
            return;
        }
        // §8.5.2.1.1: the available resources of highest non-negative priority.
        let available: Vec<_> =
            sessions.iter().map(|s| (s.presence(), s)).filter(|(p, _)| p.available && p.priority >= 0).collect();
        let targets: Vec<Arc<Session>> = if ty == "headline" {
            available.iter().map(|(_, s)| (*s).clone()).collect()
        } else {
            let top = available.iter().map(|(p, _)| p.priority).max();
            available.iter().filter(|(p, _)| Some(p.priority) == top).map(|(_, s)| (*s).clone()).collect()
        };
        if !targets.is_empty() {
            return self.fan_out(&targets, stanza);
        }
        if ty == "headline" {
            return;
        }
        // §8.5.2.2.1: store it (a plugin that took the event) or refuse it.
        if let Some(vp) = self.plugins.vhost(table.domain())
            && vp.subscribes(EventKind::MessageUndeliverable)
        {
            vp.emit(
                EventKind::MessageUndeliverable,
                &stanza.to.as_ref().map(|j| j.to_bare().to_string()).unwrap_or_default(),
                &stanza.to_client_xml(),
            );
            return;
        }
        self.reply_error(stanza, StanzaError::new(Cond::ServiceUnavailable));
    }

    pub(super) fn to_full(&self, table: &SessionTable, to: &Jid, stanza: &Stanza) {
        let (Some(node), Some(resource)) = (to.node(), to.resource()) else { return };
        if let Some(session) = table.get(node.as_str(), resource.as_str()) {
            if stanza.kind == StanzaKind::Presence && stanza.type_attr() == "probe" {
                return;
            }
            return self.fan_out(&[session], stanza);
        }
        // §8.5.3.2: the resource is not online.
        let ty = stanza.type_attr();
        match stanza.kind {
            StanzaKind::Message => match ty {
                "groupchat" => self.reply_error(stanza, StanzaError::new(Cond::ServiceUnavailable)),
                "error" => {}
                _ => self.to_bare(table, &Jid::from(to.to_bare()), stanza),
            },
            StanzaKind::Iq => {
                if matches!(ty, "get" | "set") {
                    self.reply_error(stanza, StanzaError::new(Cond::ServiceUnavailable));
                }
            }
            StanzaKind::Presence => {
                if matches!(ty, "subscribe" | "subscribed" | "unsubscribe" | "unsubscribed") {
                    self.to_bare(table, &Jid::from(to.to_bare()), stanza);
                }
            }
        }
    }

    /// One serialization, many recipients.
    pub(super) fn fan_out(&self, targets: &[Arc<Session>], stanza: &Stanza) {
        if targets.is_empty() {
            return;
        }
        let xml: Arc<str> = stanza.el.to_xml_in(ns::CLIENT).into();
        for s in targets {
            s.send(Outbound::Stanza(xml.clone()));
        }
    }

    fn account_exists(&self, domain: &str, node: &str) -> bool {
        match self.accounts.exists(domain, node) {
            Ok(exists) => exists,
            Err(e) => {
                tracing::error!("checking account {node}@{domain}: {e}");
                false
            }
        }
    }
}

/// RFC 3921's session establishment, which RFC 6120 retired: still sent by
/// older clients after binding, and advertised as optional, so it succeeds.
fn is_legacy_session(stanza: &Stanza) -> bool {
    stanza.kind == StanzaKind::Iq
        && stanza.type_attr() == "set"
        && stanza.payload().is_some_and(|p| p.is("session", waxwing_xml::ns::SESSION))
}
