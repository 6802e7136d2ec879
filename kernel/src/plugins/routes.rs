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
    pub types: Vec<String>,
    pub payload_ns: String,
    pub payload_name: String,
    pub to: Address,
    pub priority: i32,
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
        }
    }
}

/// The routing facts of one stanza.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Facts<'a> {
    pub kind: StanzaKind,
    pub type_: &'a str,
    pub addressed: Address,
    pub payload_ns: &'a str,
    pub payload_name: &'a str,
}

/// RFC 6121: presence without a type is "available" (§4.7.1), a message
/// without one is "normal" (§5.2.2); routes may name either form.
fn implied_type(kind: StanzaKind, t: &str) -> &str {
    match (kind, t) {
        (StanzaKind::Presence, "") => "available",
        (StanzaKind::Message, "") => "normal",
        _ => t,
    }
}

impl RouteSpec {
    pub fn matches(&self, f: &Facts<'_>) -> bool {
        self.kind == f.kind
            && self.to == f.addressed
            && (self.payload_ns.is_empty() || self.payload_ns == f.payload_ns)
            && (self.payload_name.is_empty() || self.payload_name == f.payload_name)
            && (self.types.is_empty() || {
                let implied = implied_type(f.kind, f.type_);
                self.types.iter().any(|t| t == f.type_ || t == implied)
            })
    }
}

/// Routes of every plugin on a vhost, highest priority first (ties keep the
/// config's plugin order). Disabled plugins stay in the table and are
/// skipped at lookup, so disabling needs no rebuild on the hot path.
#[derive(Default)]
pub(crate) struct RouteTable {
    handlers: Vec<(RouteSpec, Arc<PluginEntry>)>,
    filters: Vec<(RouteSpec, Arc<PluginEntry>)>,
    events: HashMap<EventKind, Vec<Arc<PluginEntry>>>,
    services: Vec<(String, Arc<PluginEntry>)>,
}

impl RouteTable {
    pub fn build(plugins: &[Arc<PluginEntry>]) -> RouteTable {
        let mut t = RouteTable::default();
        for p in plugins {
            let v = p.version();
            let meta = &v.meta;
            t.handlers.extend(meta.routes.iter().map(|r| (r.clone(), p.clone())));
            t.filters.extend(meta.filters.iter().map(|r| (r.clone(), p.clone())));
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
        t.handlers.sort_by_key(|(r, _)| std::cmp::Reverse(r.priority));
        t.filters.sort_by_key(|(r, _)| std::cmp::Reverse(r.priority));
        t
    }

    fn select(list: &[(RouteSpec, Arc<PluginEntry>)], f: &Facts<'_>) -> Vec<Arc<PluginEntry>> {
        let mut out: Vec<Arc<PluginEntry>> = Vec::new();
        for (r, p) in list {
            if p.is_enabled() && r.matches(f) && !out.iter().any(|o| Arc::ptr_eq(o, p)) {
                out.push(p.clone());
            }
        }
        out
    }

    pub fn any_handler(&self, f: &Facts<'_>) -> bool {
        self.handlers.iter().any(|(r, p)| r.matches(f) && p.is_enabled())
    }

    /// Plugins to offer the stanza to, each once, at its best priority.
    pub fn handlers(&self, f: &Facts<'_>) -> Vec<Arc<PluginEntry>> {
        Self::select(&self.handlers, f)
    }

    pub fn has_filters(&self) -> bool {
        self.filters.iter().any(|(_, p)| p.is_enabled())
    }

    pub fn filters(&self, f: &Facts<'_>) -> Vec<Arc<PluginEntry>> {
        Self::select(&self.filters, f)
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(kind: StanzaKind, types: &[&str], ns: &str, name: &str, to: Address) -> RouteSpec {
        RouteSpec {
            kind,
            types: types.iter().map(|s| s.to_string()).collect(),
            payload_ns: ns.into(),
            payload_name: name.into(),
            to,
            priority: 0,
        }
    }

    fn facts<'a>(kind: StanzaKind, type_: &'a str, to: Address, ns: &'a str, name: &'a str) -> Facts<'a> {
        Facts { kind, type_, addressed: to, payload_ns: ns, payload_name: name }
    }

    #[test]
    fn ping_route_matches_only_ping() {
        let r = route(StanzaKind::Iq, &["get"], "urn:xmpp:ping", "ping", Address::Host);
        assert!(r.matches(&facts(StanzaKind::Iq, "get", Address::Host, "urn:xmpp:ping", "ping")));
        assert!(!r.matches(&facts(StanzaKind::Iq, "set", Address::Host, "urn:xmpp:ping", "ping")));
        assert!(!r.matches(&facts(StanzaKind::Iq, "get", Address::Bare, "urn:xmpp:ping", "ping")));
        assert!(!r.matches(&facts(StanzaKind::Iq, "get", Address::Host, "urn:xmpp:time", "time")));
        assert!(!r.matches(&facts(StanzaKind::Message, "get", Address::Host, "urn:xmpp:ping", "ping")));
    }

    #[test]
    fn empty_fields_are_wildcards_and_types_are_implied() {
        let any = route(StanzaKind::Message, &[], "", "", Address::Full);
        assert!(any.matches(&facts(StanzaKind::Message, "chat", Address::Full, "", "")));
        assert!(any.matches(&facts(StanzaKind::Message, "", Address::Full, "urn:x", "x")));
        let avail = route(StanzaKind::Presence, &["available"], "", "", Address::Bare);
        assert!(avail.matches(&facts(StanzaKind::Presence, "", Address::Bare, "", "")));
        assert!(!avail.matches(&facts(StanzaKind::Presence, "unavailable", Address::Bare, "", "")));
        let normal = route(StanzaKind::Message, &["normal"], "", "", Address::Bare);
        assert!(normal.matches(&facts(StanzaKind::Message, "", Address::Bare, "", "")));
        let named = route(StanzaKind::Iq, &[], "", "query", Address::Host);
        assert!(named.matches(&facts(StanzaKind::Iq, "get", Address::Host, "jabber:iq:version", "query")));
        assert!(!named.matches(&facts(StanzaKind::Iq, "get", Address::Host, "urn:xmpp:ping", "ping")));
    }
}
