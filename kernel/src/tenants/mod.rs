//! Tenants: the domains this server serves, each a customer of its own.
//!
//! A tenant is a vhost with its own session table, certificate, plugins,
//! storage prefix, admins and quotas. The table of tenants is swapped whole
//! (`ArcSwap`), so a tenant is added or removed while every other tenant's
//! stanzas keep flowing without a lock on the hot path; `lifecycle.rs` does
//! the adding, changing and removing, `store.rs` keeps the tenants added at
//! runtime, `rate.rs` the stanza rates.

mod lifecycle;
mod rate;
mod store;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use arc_swap::ArcSwap;

use crate::config::Quotas;
use crate::router::SessionTable;

pub use lifecycle::{Lifecycle, Removal, TenantSource, TenantSummary};
pub use rate::{Admit, StanzaRate, Throttle};
pub use store::{TenantStore, parse as parse_tenant};

/// What the server's operators may do to tenants from a plugin (the
/// `server` host interface's tenant calls): the same as the CLI.
pub trait TenantAdmin: Send + Sync {
    fn list(&self) -> Vec<TenantSummary>;
    /// `table`: the tenant's `[[vhost]]` keys as TOML.
    fn add(&self, table: &str) -> anyhow::Result<String>;
    fn change(&self, table: &str) -> anyhow::Result<String>;
    fn remove(&self, domain: &str, removal: &Removal) -> anyhow::Result<String>;
    /// Whether `bare_jid` is one of `server.operators`.
    fn is_operator(&self, bare_jid: &str) -> bool;
}

/// Counts of what a tenant's quotas held back, for `/metrics`.
#[derive(Debug, Default)]
pub struct QuotaCounts {
    pub connections_refused: AtomicU64,
    pub stanzas_delayed: AtomicU64,
    pub stanzas_refused: AtomicU64,
}

pub struct Tenant {
    pub domain: String,
    pub sessions: SessionTable,
    quotas: ArcSwap<Quotas>,
    /// The tenant-wide stanza rate; rebuilt when its quota changes.
    rate: ArcSwap<Option<Arc<StanzaRate>>>,
    connections: AtomicUsize,
    pub counts: QuotaCounts,
}

impl Tenant {
    pub fn new(domain: impl Into<String>, quotas: Quotas) -> Arc<Tenant> {
        let domain = domain.into();
        let rate = tenant_rate(&quotas);
        Arc::new(Tenant {
            sessions: SessionTable::new(domain.clone()),
            domain,
            quotas: ArcSwap::from_pointee(quotas),
            rate: ArcSwap::from_pointee(rate),
            connections: AtomicUsize::new(0),
            counts: QuotaCounts::default(),
        })
    }

    pub fn quotas(&self) -> Arc<Quotas> {
        self.quotas.load_full()
    }

    /// New quotas apply to the next connection and the next stanza; a
    /// changed tenant rate starts with a full bucket.
    pub fn set_quotas(&self, quotas: Quotas) {
        let old = self.quotas.load_full();
        if (old.tenant_stanzas_per_sec, old.tenant_stanza_burst)
            != (quotas.tenant_stanzas_per_sec, quotas.tenant_stanza_burst)
        {
            self.rate.store(Arc::new(tenant_rate(&quotas)));
        }
        self.quotas.store(Arc::new(quotas));
    }

    /// Counts a client connection against the tenant's quota; `None` (and
    /// counted as refused) when the tenant is full.
    pub fn admit_connection(self: &Arc<Self>) -> Option<ConnectionSlot> {
        let now = self.connections.fetch_add(1, Ordering::Relaxed) + 1;
        let slot = ConnectionSlot(self.clone());
        if now <= self.quotas.load().connections {
            Some(slot)
        } else {
            self.counts.connections_refused.fetch_add(1, Ordering::Relaxed);
            None
        }
    }

    /// Client connections open now, bound or still negotiating.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    /// The throttle one new session's stanzas pass: its own rate and the
    /// tenant's shared one, as the quotas stand now.
    pub fn throttle(self: &Arc<Self>) -> Throttle {
        let q = self.quotas.load();
        let own = StanzaRate::new(q.session_stanzas_per_sec, q.session_stanza_burst);
        Throttle::new(self.clone(), own, std::time::Duration::from_millis(q.stanza_max_delay_ms))
    }

    pub(crate) fn shared_rate(&self) -> Option<Arc<StanzaRate>> {
        self.rate.load().as_ref().clone()
    }
}

fn tenant_rate(q: &Quotas) -> Option<Arc<StanzaRate>> {
    StanzaRate::new(q.tenant_stanzas_per_sec, q.tenant_stanza_burst).map(Arc::new)
}

/// One open connection counted against its tenant until dropped.
pub struct ConnectionSlot(Arc<Tenant>);

impl ConnectionSlot {
    pub fn tenant(&self) -> &Arc<Tenant> {
        &self.0
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The tenants being served, by domain. Reads are a pointer load; a change
/// copies the map (tenants change rarely, stanzas look them up always).
#[derive(Default)]
pub struct Tenants {
    map: ArcSwap<HashMap<String, Arc<Tenant>>>,
}

impl Tenants {
    pub fn new(tenants: impl IntoIterator<Item = Arc<Tenant>>) -> Tenants {
        let map = tenants.into_iter().map(|t| (t.domain.clone(), t)).collect();
        Tenants { map: ArcSwap::from_pointee(map) }
    }

    pub fn get(&self, domain: &str) -> Option<Arc<Tenant>> {
        self.map.load().get(domain).cloned()
    }

    pub fn contains(&self, domain: &str) -> bool {
        self.map.load().contains_key(domain)
    }

    /// Every tenant, in no particular order.
    pub fn all(&self) -> Vec<Arc<Tenant>> {
        self.map.load().values().cloned().collect()
    }

    pub fn domains(&self) -> Vec<String> {
        let mut d: Vec<String> = self.map.load().keys().cloned().collect();
        d.sort();
        d
    }

    pub fn len(&self) -> usize {
        self.map.load().len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.load().is_empty()
    }

    /// Serves `tenant` from now on; false (nothing changed) when its domain
    /// is already served.
    pub fn insert(&self, tenant: Arc<Tenant>) -> bool {
        let mut inserted = false;
        self.map.rcu(|m| {
            inserted = !m.contains_key(&tenant.domain);
            let mut next = HashMap::clone(m);
            next.entry(tenant.domain.clone()).or_insert_with(|| tenant.clone());
            next
        });
        inserted
    }

    /// Stops serving `domain`: new stanzas to it are no longer local. The
    /// returned tenant still holds its sessions, for the caller to close.
    pub fn remove(&self, domain: &str) -> Option<Arc<Tenant>> {
        let mut removed = None;
        self.map.rcu(|m| {
            let mut next = HashMap::clone(m);
            removed = next.remove(domain);
            next
        });
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_over_the_quota_are_refused_and_counted() {
        let t = Tenant::new("a.example", Quotas { connections: 2, ..Quotas::default() });
        let one = t.admit_connection().expect("first");
        let _two = t.admit_connection().expect("second");
        assert!(t.admit_connection().is_none());
        assert_eq!(t.counts.connections_refused.load(Ordering::Relaxed), 1);
        drop(one);
        assert!(t.admit_connection().is_some(), "a closed connection frees its place");
        t.set_quotas(Quotas { connections: 5, ..Quotas::default() });
        assert!(t.admit_connection().is_some(), "a raised quota applies to the next connection");
    }

    #[test]
    fn the_table_changes_while_readers_hold_it() {
        let tenants = Tenants::new([Tenant::new("a.example", Quotas::default())]);
        let a = tenants.get("a.example").expect("a");
        assert!(tenants.insert(Tenant::new("b.example", Quotas::default())));
        assert!(!tenants.insert(Tenant::new("b.example", Quotas::default())), "a domain is served once");
        assert_eq!(tenants.domains(), ["a.example", "b.example"]);
        let gone = tenants.remove("a.example").expect("removed");
        assert!(Arc::ptr_eq(&gone, &a));
        assert!(!tenants.contains("a.example"));
        assert!(tenants.remove("a.example").is_none());
        assert_eq!(tenants.len(), 1);
    }
}
