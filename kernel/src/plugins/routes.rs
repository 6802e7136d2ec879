//! Matching stanzas to the routes and filters plugins subscribed to, without
//! entering wasm. A vhost keeps one [`RouteTable`], rebuilt whenever its
//! plugin set, a plugin's version or a plugin's health changes.

use std::collections::HashMap;
use std::sync::Arc;

use super::bindings::types;
use super::plugin::PluginEntry;
use super::{Address, EventKind};
use crate::xml::StanzaKind;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RouteSpec {
    pub kind: StanzaKind,
    /// Empty: any type.
    pub types: Vec<types::StanzaType>,
    pub payload_ns: String,
    pub payload_name: String,
    pub to: Address,
    pub priority: i32,
    /// Also iqs from streams not authenticated yet (XEP-0077).
    pub unauthenticated: bool,
}

impl From<&types::Route> for RouteSpec {
    fn from(r: &types::Route) -> Self {
        RouteSpec {
            kind: r.kind.into(),
            types: r.types.clone(),
            payload_ns: r.payload_ns.clone(),
            payload_name: r.payload_name.clone(),
            to: r.to.into(),
            priority: r.priority,
            unauthenticated: r.unauthenticated,
        }
    }
}

/// The routing facts of one stanza.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Facts<'a> {
    pub kind: StanzaKind,
    /// `None` for a type no RFC defines: only "any type" routes take it.
    pub type_: Option<types::StanzaType>,
    /// `Elsewhere` for any domain not served here; each plugin's own service
    /// subdomain among those is its `Service`.
    pub addressed: Address,
    /// The domain of `to`.
    pub domain: &'a str,
    pub payload_ns: &'a str,
    pub payload_name: &'a str,
    /// From a stream that has not authenticated: only routes that say so.
    pub unauthenticated: bool,
}

impl Facts<'_> {
    /// The address as `plugin_service` (a plugin's own subdomain) sees it.
    pub fn addressed_for(&self, plugin_service: Option<&str>) -> Address {
        match self.addressed {
            Address::Elsewhere | Address::Service if plugin_service == Some(self.domain) => Address::Service,
            Address::Service => Address::Elsewhere,
            a => a,
        }
    }
}

impl RouteSpec {
    /// Whether a stanza with these facts matches, for a plugin serving
    /// `service` (its own subdomain, if any). `handler` routes never take
    /// `elsewhere`: only filters see stanzas bound for other domains.
    pub fn matches(&self, f: &Facts<'_>, service: Option<&str>, handler: bool) -> bool {
        let addressed = f.addressed_for(service);
        self.kind == f.kind
            && self.to == addressed
            && !(handler && addressed == Address::Elsewhere)
            && (!f.unauthenticated || self.unauthenticated)
            && (self.payload_ns.is_empty() || self.payload_ns == f.payload_ns)
            && (self.payload_name.is_empty() || self.payload_name == f.payload_name)
            && (self.types.is_empty() || f.type_.is_some_and(|t| self.types.contains(&t)))
    }
}

/// Routes of every plugin on a vhost, highest priority first (ties keep the
/// config's plugin order). Disabled plugins stay in the table and are
/// skipped at lookup, so disabling needs no rebuild on the hot path.
/// A route, the plugin it belongs to, and that plugin's service domain.
type Entry = (RouteSpec, Arc<PluginEntry>, Option<String>);

#[derive(Default)]
pub(crate) struct RouteTable {
    handlers: Vec<Entry>,
    filters: Vec<Entry>,
    events: HashMap<EventKind, Vec<Arc<PluginEntry>>>,
    services: Vec<(String, Arc<PluginEntry>)>,
}

impl RouteTable {
    pub fn build(plugins: &[Arc<PluginEntry>]) -> RouteTable {
        let mut t = RouteTable::default();
        for p in plugins {
            let v = p.version();
            let meta = &v.meta;
            let service = &meta.service_domain;
            t.handlers.extend(meta.routes.iter().map(|r| (r.clone(), p.clone(), service.clone())));
            t.filters.extend(meta.filters.iter().map(|r| (r.clone(), p.clone(), service.clone())));
            for k in &meta.events {
                let subs = t.events.entry(*k).or_default();
                if !subs.iter().any(|s| Arc::ptr_eq(s, p)) {
                    subs.push(p.clone());
                }
            }
            if let Some(s) = &meta.service_domain {
                t.services.push((s.clone(), p.clone()));
            }
        }
        // Stable: equal priorities keep plugin order.
        t.handlers.sort_by_key(|(r, _, _)| std::cmp::Reverse(r.priority));
        t.filters.sort_by_key(|(r, _, _)| std::cmp::Reverse(r.priority));
        t
    }

    fn select(list: &[Entry], f: &Facts<'_>, handler: bool) -> Vec<Arc<PluginEntry>> {
        let mut out: Vec<Arc<PluginEntry>> = Vec::new();
        for (r, p, service) in list {
            if p.is_enabled() && r.matches(f, service.as_deref(), handler) && !out.iter().any(|o| Arc::ptr_eq(o, p)) {
                out.push(p.clone());
            }
        }
        out
    }

    pub fn any_handler(&self, f: &Facts<'_>) -> bool {
        self.handlers.iter().any(|(r, p, service)| r.matches(f, service.as_deref(), true) && p.is_enabled())
    }

    /// Plugins to offer the stanza to, each once, at its best priority.
    pub fn handlers(&self, f: &Facts<'_>) -> Vec<Arc<PluginEntry>> {
        Self::select(&self.handlers, f, true)
    }

    pub fn has_filters(&self) -> bool {
        self.filters.iter().any(|(_, p, _)| p.is_enabled())
    }

    pub fn filters(&self, f: &Facts<'_>) -> Vec<Arc<PluginEntry>> {
        Self::select(&self.filters, f, false)
    }

    pub fn any_subscriber(&self, kind: EventKind) -> bool {
        self.events.get(&kind).is_some_and(|v| v.iter().any(|p| p.is_enabled()))
    }

    pub fn subscribers(&self, kind: EventKind) -> Vec<Arc<PluginEntry>> {
        self.events.get(&kind).map(|v| v.iter().filter(|p| p.is_enabled()).cloned().collect()).unwrap_or_default()
    }

    pub fn service_domains(&self) -> Vec<String> {
        self.services.iter().filter(|(_, p)| p.is_enabled()).map(|(s, _)| s.clone()).collect()
    }

    /// Whether `domain` is one of these plugins' service subdomains.
    pub fn has_service(&self, domain: &str) -> bool {
        self.services.iter().any(|(s, _)| s == domain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use types::StanzaType as T;

    fn route(kind: StanzaKind, types: &[T], ns: &str, name: &str, to: Address) -> RouteSpec {
        RouteSpec {
            kind,
            types: types.to_vec(),
            payload_ns: ns.into(),
            payload_name: name.into(),
            to,
            priority: 0,
            unauthenticated: false,
        }
    }

    fn facts<'a>(kind: StanzaKind, type_: Option<T>, to: Address, ns: &'a str, name: &'a str) -> Facts<'a> {
        Facts { kind, type_, addressed: to, domain: "h", payload_ns: ns, payload_name: name, unauthenticated: false }
    }

    #[test]
    fn ping_route_matches_only_ping() {
        let r = route(StanzaKind::Iq, &[T::Get], "urn:xmpp:ping", "ping", Address::Host);
        let m = |f: Facts<'_>| r.matches(&f, None, true);
        assert!(m(facts(StanzaKind::Iq, Some(T::Get), Address::Host, "urn:xmpp:ping", "ping")));
        assert!(!m(facts(StanzaKind::Iq, Some(T::Set), Address::Host, "urn:xmpp:ping", "ping")));
        assert!(!m(facts(StanzaKind::Iq, Some(T::Get), Address::Bare, "urn:xmpp:ping", "ping")));
        assert!(!m(facts(StanzaKind::Iq, Some(T::Get), Address::Host, "urn:xmpp:time", "time")));
        assert!(!m(facts(StanzaKind::Message, Some(T::Get), Address::Host, "urn:xmpp:ping", "ping")));
        let mut pre_auth = facts(StanzaKind::Iq, Some(T::Get), Address::Host, "urn:xmpp:ping", "ping");
        pre_auth.unauthenticated = true;
        assert!(!m(pre_auth), "only routes that ask for them see unauthenticated iqs");
        assert!(RouteSpec { unauthenticated: true, ..r.clone() }.matches(&pre_auth, None, true));
    }

    #[test]
    fn empty_fields_are_wildcards() {
        let any = route(StanzaKind::Message, &[], "", "", Address::Full);
        assert!(any.matches(&facts(StanzaKind::Message, Some(T::Chat), Address::Full, "", ""), None, true));
        assert!(any.matches(&facts(StanzaKind::Message, None, Address::Full, "urn:x", "x"), None, true));
        let avail = route(StanzaKind::Presence, &[T::Available], "", "", Address::Bare);
        assert!(avail.matches(&facts(StanzaKind::Presence, Some(T::Available), Address::Bare, "", ""), None, true));
        assert!(!avail.matches(&facts(StanzaKind::Presence, None, Address::Bare, "", ""), None, true));
        let named = route(StanzaKind::Iq, &[], "", "query", Address::Host);
        assert!(named.matches(
            &facts(StanzaKind::Iq, Some(T::Get), Address::Host, "jabber:iq:version", "query"),
            None,
            true
        ));
    }

    #[test]
    fn a_service_route_takes_only_its_own_subdomain() {
        let muc = route(StanzaKind::Message, &[], "", "", Address::Service);
        let mut f = facts(StanzaKind::Message, Some(T::Groupchat), Address::Elsewhere, "", "");
        f.domain = "conference.h";
        assert!(muc.matches(&f, Some("conference.h"), true));
        assert!(!muc.matches(&f, Some("pubsub.h"), true), "another plugin's service");
        assert_eq!(f.addressed_for(Some("pubsub.h")), Address::Elsewhere);
        let outbound = route(StanzaKind::Message, &[], "", "", Address::Elsewhere);
        assert!(outbound.matches(&f, Some("pubsub.h"), false), "a filter sees stanzas to other domains");
        assert!(!outbound.matches(&f, Some("pubsub.h"), true), "a handler does not");
    }
}
