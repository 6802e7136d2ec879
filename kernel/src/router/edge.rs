//! What lies past this server's own hosts: external components (XEP-0114)
//! and other servers (RFC 6120 server-to-server). The router hands them
//! stanzas for their domains and takes theirs in; the streams themselves
//! live in `component/` and `s2s/`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use tokio::sync::mpsc;
use waxwing_xml::{Element, StanzaError, StanzaErrorCondition as Cond, ns};

use super::{Outbound, Router, Source, check_semantics};
use crate::xml::Stanza;

/// Other servers: where stanzas for domains nobody here serves go.
pub trait RemoteServers: Send + Sync {
    /// Takes a stanza for another server's domain. `Err`: it cannot be sent,
    /// and the router bounces it to its sender with that error now (a
    /// failure found later is bounced by the implementation).
    fn send(&self, stanza: &Stanza) -> Result<(), StanzaError>;
}

/// The components connected now, by domain.
#[derive(Default)]
pub struct Components {
    connected: RwLock<HashMap<String, mpsc::UnboundedSender<Outbound>>>,
}

/// Why a component could not take its domain.
#[derive(Debug, PartialEq, Eq)]
pub struct DomainTaken;

impl Components {
    fn get(&self, domain: &str) -> Option<mpsc::UnboundedSender<Outbound>> {
        self.connected.read().ok()?.get(domain).cloned()
    }
}

impl Router {
    /// Sets where stanzas for other servers go; without it they get
    /// `remote-server-not-found`.
    pub fn set_remote(&self, remote: Arc<dyn RemoteServers>) {
        let _ = self.remote.set(remote);
    }

    /// A component authenticated for `domain`: stanzas to it go to `tx`
    /// until [`component_left`](Self::component_left). One connection per
    /// domain, as Prosody and ejabberd have it: a second is refused.
    pub fn component_joined(&self, domain: &str, tx: mpsc::UnboundedSender<Outbound>) -> Result<(), DomainTaken> {
        let Ok(mut map) = self.components.connected.write() else { return Err(DomainTaken) };
        if map.get(domain).is_some_and(|old| !old.is_closed()) {
            return Err(DomainTaken);
        }
        map.insert(domain.to_string(), tx);
        Ok(())
    }

    pub fn component_left(&self, domain: &str, tx: &mpsc::UnboundedSender<Outbound>) {
        if let Ok(mut map) = self.components.connected.write()
            && map.get(domain).is_some_and(|cur| cur.same_channel(tx))
        {
            map.remove(domain);
        }
    }

    /// A domain this server answers for: a vhost, a plugin's service
    /// subdomain, or a configured component's domain (connected or not).
    pub fn is_local_domain(&self, domain: &str) -> bool {
        self.serves(domain) || self.service_owner(domain).is_some() || self.component_domains.contains(domain)
    }

    /// Hands a stanza for a domain that is not a vhost to a component or
    /// another server. False when it is neither (the caller answers).
    pub(super) fn to_edge(&self, domain: &str, stanza: &Stanza) -> bool {
        if let Some(tx) = self.components.get(domain) {
            let mut el = stanza.el.clone();
            el.map_ns(ns::CLIENT, ns::COMPONENT);
            if tx.send(Outbound::Stanza(el.to_xml_in(ns::COMPONENT).into())).is_err() {
                self.reply_error(stanza, StanzaError::new(Cond::ServiceUnavailable));
            }
            return true;
        }
        if self.component_domains.contains(domain) {
            self.reply_error(
                stanza,
                StanzaError::new(Cond::ServiceUnavailable)
                    .with_text(format!("the component for '{domain}' is offline")),
            );
            return true;
        }
        let Some(remote) = self.remote.get() else { return false };
        if let Err(err) = remote.send(stanza) {
            self.reply_error(stanza, err);
        }
        true
    }

    /// A stanza from a component or another server, whose addresses the
    /// stream has already checked (`from` in the peer's domain, `to` here).
    /// `stream_ns` is the stream's content namespace.
    pub fn from_edge(&self, mut el: Element, stream_ns: &str) {
        el.map_ns(stream_ns, ns::CLIENT);
        let stanza = match Stanza::parse(el) {
            Ok(s) => s,
            Err((el, err)) => {
                // The addresses were checked, so this is a reply we can route.
                return self.route_reply(err.reply_to(&el));
            }
        };
        let source = if stream_ns == ns::COMPONENT { Source::Component } else { Source::Server };
        self.stanzas.count(source, stanza.kind);
        if let Err(err) = check_semantics(&stanza) {
            return self.reply_error(&stanza, err);
        }
        match self.run_filters(stanza, None) {
            super::filters::Filtered::Route(stanza) => self.route(stanza),
            super::filters::Filtered::Dropped => {}
            super::filters::Filtered::Rejected(stanza, err) => self.reply_error(&stanza, err),
        }
    }
}
