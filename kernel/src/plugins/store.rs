//! What one wasm instance's store carries: its WASI context (locked down), its
//! memory limit, the plugin's shared context for host calls, and the side
//! effects a call queues for after it returns.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock, Weak};

use arc_swap::ArcSwap;
use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use waxwing_xml::Element;

use super::bindings::capability_from_name;
use super::bindings::types::Capability;
use super::bindings::waxwing::plugin::disco::HostInfo;
use super::filter_scope::FilterScope;
use super::pending_writes::PendingWrites;
use super::plugin::PluginEntry;
use super::requests::{PendingRequest, Requests};
use super::timers::Timers;
use super::{EventKind, Kernel};
use crate::accounts::Accounts;
use crate::storage::ScopedStorage;

/// Table slots a store may grow to; generous for interpreted guests, small
/// enough that a table-growth loop cannot eat the host.
const MAX_TABLE_ELEMENTS: usize = 1_000_000;

/// Where the router plugs itself in, once, after construction.
#[derive(Default)]
pub(crate) struct KernelSlot(OnceLock<Weak<dyn Kernel>>);

impl KernelSlot {
    /// False when a kernel was already attached (the first one stays).
    pub fn set(&self, kernel: Weak<dyn Kernel>) -> bool {
        self.0.set(kernel).is_ok()
    }

    pub fn get(&self) -> Option<Arc<dyn Kernel>> {
        self.0.get().and_then(Weak::upgrade)
    }
}

/// The operator's grants, as a bit set checked on every host call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Grants(u16);

/// The grants of the `uploads` (WIT 2.2) and `server` (WIT 2.3)
/// interfaces, which have no `Capability` of their own: only an operator's
/// `grants` can name them.
const UPLOADS: u16 = 256;
const SERVER: u16 = 512;

impl Grants {
    fn bit(c: Capability) -> u16 {
        match c {
            Capability::Kv => 1,
            Capability::Mem => 2,
            Capability::Route => 4,
            Capability::Sessions => 8,
            Capability::Accounts => 16,
            Capability::Timers => 32,
            Capability::Disco => 64,
            Capability::Datasets => 128,
        }
    }

    /// Unknown names are ignored here: config validation refuses them first.
    pub fn from_names(names: &[String]) -> Grants {
        let Grants(caps) = Grants::from_capabilities(names.iter().filter_map(|n| capability_from_name(n)));
        let named = |name: &str, bit: u16| if names.iter().any(|n| n == name) { bit } else { 0 };
        Grants(caps | named("uploads", UPLOADS) | named("server", SERVER))
    }

    pub fn from_capabilities(caps: impl IntoIterator<Item = Capability>) -> Grants {
        Grants(caps.into_iter().fold(0, |g, c| g | Self::bit(c)))
    }

    /// What a plugin table without `grants` gets: what the plugin asks for,
    /// except `accounts`, which an operator grants by name or not at all.
    pub fn by_default(asked: &[Capability]) -> Grants {
        Grants::from_capabilities(asked.iter().copied().filter(|c| *c != Capability::Accounts))
    }

    pub fn has(self, c: Capability) -> bool {
        self.0 & Self::bit(c) != 0
    }

    pub fn has_uploads(self) -> bool {
        self.0 & UPLOADS != 0
    }

    pub fn has_server(self) -> bool {
        self.0 & SERVER != 0
    }
}

/// The ephemeral map behind `mem`: shared by every instance and version of
/// one plugin on one vhost, with a byte budget over keys and values.
pub(crate) struct MemMap {
    inner: Mutex<MemInner>,
    pub cap_bytes: usize,
}

#[derive(Default)]
pub(crate) struct MemInner {
    pub map: HashMap<String, Vec<u8>>,
    pub bytes: usize,
}

impl MemMap {
    pub fn new(cap_bytes: usize) -> Self {
        MemMap { inner: Mutex::new(MemInner::default()), cap_bytes }
    }

    pub fn lock(&self) -> MutexGuard<'_, MemInner> {
        // Every update keeps `bytes` consistent before it can panic, so a
        // poisoned map is still a valid map.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One plugin on one vhost, as its host calls see it. Outlives versions.
pub(crate) struct PluginShared {
    pub name: String,
    pub domain: String,
    pub kv: ScopedStorage,
    pub mem: MemMap,
    pub filter_scope: FilterScope,
    pub timers: Timers,
    pub accounts: Accounts,
    pub kernel: Arc<KernelSlot>,
    /// The vhost's disco aggregate, kept current by the vhost.
    pub host_info: Arc<ArcSwap<HostInfo>>,
    /// For timers, which call the plugin back later; set once the entry exists.
    pub entry: OnceLock<Weak<PluginEntry>>,
    /// Commits of this plugin's calls take it shared; a compare-and-swap
    /// takes it exclusively, so nothing lands between its read and its write.
    pub commit_lock: RwLock<()>,
    /// Where the filter scope is kept across restarts (`fscope/<vhost>/<plugin>/`).
    pub filter_scope_store: ScopedStorage,
    /// iq requests of every plugin, waiting for their answers.
    pub requests: Arc<Requests>,
    pub uploads: Arc<OnceLock<Arc<crate::uploads::Uploads>>>,
    /// The tenant's limits, its stored-bytes quota among them.
    pub budget: Arc<super::tenant_budget::TenantBudget>,
}

/// What a version declared that its host calls check against.
#[derive(Debug, Default)]
pub(crate) struct Declared {
    /// `sub.domain` when this version serves a service subdomain.
    pub service_domain: Option<String>,
    /// Datasets it publishes.
    pub publishes: Vec<String>,
    /// (plugin, dataset) pairs it reads.
    pub reads: Vec<(String, String)>,
}

/// A stanza a call sends.
pub(crate) enum Outgoing {
    One(Element),
    /// The same stanza to each of these, its `to` set per recipient
    /// (`route.send-many`): serialized once where the recipients are
    /// local sessions.
    Many(Element, Vec<jid::Jid>),
}

/// Side effects of one call, acted on after it returns so that no host call
/// ever re-enters wasm.
#[derive(Default)]
pub(crate) struct Effects {
    pub outbox: Vec<Outgoing>,
    /// Stanzas in the outbox, a fan-out counting once.
    pub queued: usize,
    /// Recipients of the outbox's fan-outs.
    pub fanout_recipients: usize,
    pub events: Vec<(EventKind, String)>,
    /// iq requests among the outbox, to wait for once it is routed.
    pub requests: Vec<PendingRequest>,
}

impl Effects {
    pub fn is_empty(&self) -> bool {
        self.outbox.is_empty() && self.events.is_empty() && self.requests.is_empty()
    }

    /// After a failed call: what it sent is not sent, what it did (an
    /// account created) still counts.
    pub fn keep_events_only(&mut self) {
        self.outbox.clear();
        self.queued = 0;
        self.fanout_recipients = 0;
        self.requests.clear();
    }
}

pub(crate) struct StoreData {
    wasi: WasiCtx,
    pub table: ResourceTable,
    pub limits: StoreLimits,
    pub shared: Arc<PluginShared>,
    pub grants: Grants,
    pub declared: Arc<Declared>,
    pub effects: Effects,
    /// The current call's `kv` writes, committed when it returns.
    pub pending: PendingWrites,
    /// The current call's CPU budget (`call_clock.rs`).
    pub clock: super::call_clock::CallClock,
    /// What `commands.declare` was last given: kept of the `init` a version
    /// loads with.
    pub commands: Option<Vec<super::bindings::waxwing::plugin::commands::Command>>,
}

impl StoreData {
    pub fn new(shared: Arc<PluginShared>, grants: Grants, declared: Arc<Declared>, memory_bytes: usize) -> Self {
        // The defaults already close stdin and give no env, args or preopens
        // (stdout/stderr go to the log through wasi_shim); sockets are
        // switched off on top.
        let wasi = WasiCtxBuilder::new().allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false).build();
        let limits = StoreLimitsBuilder::new()
            .memory_size(memory_bytes)
            .table_elements(MAX_TABLE_ELEMENTS)
            .trap_on_grow_failure(true)
            .build();
        StoreData {
            wasi,
            table: ResourceTable::new(),
            limits,
            shared,
            grants,
            declared,
            effects: Effects::default(),
            pending: PendingWrites::default(),
            clock: Default::default(),
            commands: None,
        }
    }
}

impl StoreData {
    /// The vhost this plugin serves, once it has loaded.
    pub fn vhost(&self) -> Option<Arc<super::vhost::VhostPlugins>> {
        self.shared.entry.get()?.upgrade()?.vhost()
    }
}

impl WasiView for StoreData {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_are_exactly_what_was_named() {
        let g = Grants::from_names(&["kv".into(), "timers".into(), "root".into()]);
        assert!(g.has(Capability::Kv));
        assert!(g.has(Capability::Timers));
        for c in [Capability::Mem, Capability::Route, Capability::Sessions, Capability::Accounts, Capability::Disco] {
            assert!(!g.has(c), "{c:?}");
        }
        assert_eq!(Grants::from_names(&[]), Grants::default());
    }

    #[test]
    fn uploads_are_granted_only_by_name() {
        assert!(Grants::from_names(&["uploads".into()]).has_uploads());
        assert!(Grants::from_names(&["server".into()]).has_server());
        assert!(!Grants::from_names(&["uploads".into()]).has_server());
        assert!(!Grants::from_names(&["kv".into()]).has_uploads());
        let all = [Capability::Kv, Capability::Mem, Capability::Route, Capability::Sessions, Capability::Timers];
        assert!(!Grants::by_default(&all).has_uploads());
    }

    #[test]
    fn default_grants_never_include_accounts() {
        let g = Grants::by_default(&[Capability::Accounts, Capability::Kv, Capability::Datasets]);
        assert!(g.has(Capability::Kv) && g.has(Capability::Datasets));
        assert!(!g.has(Capability::Accounts));
    }
}
