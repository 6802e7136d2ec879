//! One compiled version of a plugin and its pool of live instances.
//!
//! Instances are interchangeable (plugins keep nothing in linear memory that
//! must survive), so a call takes any idle one, runs under a deadline and a
//! memory cap, and gives it back. A store is retired after
//! `recycle_after_calls` calls so nothing accumulates over millions of calls,
//! and an instance that trapped is dropped on the spot, never reused. Idle
//! instances are also let go of after a while unused, or all at once when the
//! allocator's pool is full (`idle.rs`).

use std::any::Any;
use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Weak};

use anyhow::{Context as _, anyhow, bail};
use arc_swap::ArcSwap;
use wasmtime::component::Component;
use wasmtime::{PoolConcurrencyLimitError, Store, Trap};

use super::EventKind;
use super::bindings::{capability_name, types};
use super::call_clock::CallClock;
use super::engine::{Runtime, deadline_ticks, sha256};
use super::guest::{GuestInstance, GuestPre, major_of};
use super::idle::{Idle, IdlePool, IdleRegistry};
use super::routes::RouteSpec;
use super::settings;
use super::store::{Declared, Effects, Grants, PluginShared, StoreData};
use crate::config::{PluginConfig, PluginLimits};

/// Why a call produced no result. The text goes to logs and to the admin
/// channel's "last error".
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CallFailure(pub String);

/// What the kernel keeps of a version's `describe()` and `init`, with its config.
pub(crate) struct VersionMeta {
    pub description: types::Description,
    pub routes: Vec<RouteSpec>,
    pub filters: Vec<RouteSpec>,
    pub events: Vec<EventKind>,
    /// `sub.domain` when the plugin serves a service subdomain.
    pub service_domain: Option<String>,
    pub declared: Arc<Declared>,
    pub grants: Grants,
    /// The config as `init` got it: checked, defaults filled in (2.x).
    pub config_json: String,
    /// What `init` said to offer (2.x), or what `describe` declared (1.x).
    pub stream_features: Vec<types::StreamFeature>,
    /// "builtin" or the path it was read from.
    pub source: String,
    pub digest: [u8; 32],
    /// The ad-hoc commands its `init` declared (XEP-0050).
    pub commands: Vec<super::bindings::waxwing::plugin::commands::Command>,
}

struct Live {
    store: Store<StoreData>,
    guest: GuestInstance,
    calls: u64,
}

pub(crate) struct Version {
    pub meta: VersionMeta,
    pre: GuestPre,
    idle: Arc<Idle<Live>>,
    /// Where to make room when the allocator's pool is full.
    registry: Arc<IdleRegistry>,
    shared: Arc<PluginShared>,
    limits: Arc<ArcSwap<PluginLimits>>,
    /// Keeps the compile cache's entry alive while this version exists.
    _component: Arc<Component>,
}

fn memory_bytes(l: &PluginLimits) -> usize {
    usize::try_from(l.memory_mib.saturating_mul(1 << 20)).unwrap_or(usize::MAX)
}

fn panic_text(p: &(dyn Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// A store for plugin calls: its memory limiter and the deadline's callback
/// (`call_clock.rs`), set once for every call it will make.
fn new_store(engine: &wasmtime::Engine, data: StoreData) -> Store<StoreData> {
    let mut store = Store::new(engine, data);
    store.limiter(|d| &mut d.limits);
    store.epoch_deadline_callback(|ctx| Ok(ctx.data().clock.at_deadline()));
    store
}

/// Runs one call into wasm under the deadline (in CPU time, `call_clock.rs`).
/// A panic in a host function (wasmtime carries it out through the wasm
/// frames) fails the call instead of the caller's thread.
fn guarded<R>(
    store: &mut Store<StoreData>,
    timeout_ms: u64,
    f: impl FnOnce(&mut Store<StoreData>) -> wasmtime::Result<R>,
) -> Result<R, CallFailure> {
    store.data_mut().clock = CallClock::start(timeout_ms);
    store.set_epoch_deadline(deadline_ticks(timeout_ms));
    match catch_unwind(AssertUnwindSafe(|| f(store))) {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(CallFailure(match e.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => format!("timed out after {timeout_ms} ms"),
            Some(t) => format!("trapped: {t}"),
            None => format!("failed: {}", e.root_cause()),
        })),
        Err(p) => Err(CallFailure(format!("a host function panicked: {}", panic_text(p.as_ref())))),
    }
}

impl Version {
    /// Compiles `bytes`, instantiates a first instance, checks `describe()`
    /// against the config, runs `init` and, on an upgrade, `migrate`. Any
    /// failure is an error and nothing is installed.
    pub fn load(
        runtime: &Runtime,
        shared: &Arc<PluginShared>,
        limits: &Arc<ArcSwap<PluginLimits>>,
        cfg: &PluginConfig,
        bytes: &[u8],
        migrate_from: Option<&str>,
    ) -> anyhow::Result<Version> {
        let name = &cfg.name;
        let (component, digest) = runtime.compile(name, bytes)?;
        let major = major_of(&runtime.engine, &component);
        let pre = runtime
            .linker
            .instantiate_pre(&component)
            .map_err(|e| anyhow!("plugin {name} imports something this kernel does not provide: {e:#}"))?;
        let pre =
            GuestPre::new(major, pre).map_err(|e| anyhow!("plugin {name} does not export the plugin world: {e:#}"))?;
        let lim = limits.load_full();
        let timeout = lim.call_timeout_ms;

        // Nothing is granted until describe() has said what the plugin is.
        let data = || StoreData::new(shared.clone(), Grants::default(), Arc::default(), memory_bytes(&lim));
        let (mut store, guest) = instantiate(&runtime.idle, &pre, timeout, data)
            .map_err(|f| anyhow!("instantiating plugin {name}: {}", f.0))?;
        let described = guarded(&mut store, timeout, |s| guest.describe(s))
            .map_err(|f| anyhow!("plugin {name} describe(): {}", f.0))?;
        let mut meta = VersionMeta::new(described.description, major, cfg, &shared.domain, digest)?;
        store.data_mut().grants = meta.grants;
        store.data_mut().declared = meta.declared.clone();
        let ready = init(&guest, &mut store, timeout, &meta).map_err(|f| anyhow!("plugin {name} {}", f.0))?;
        meta.stream_features = described.v1_stream_features.unwrap_or(ready.stream_features);
        meta.commands = store.data_mut().commands.take().unwrap_or_default();
        if let Some(from) = migrate_from {
            match guarded(&mut store, timeout, |s| guest.migrate(s, from)) {
                Ok(Ok(())) => {}
                Ok(Err(msg)) => bail!("plugin {name} refused to migrate from version {from}: {msg}"),
                Err(f) => bail!("plugin {name} migrate({from}) {}", f.0),
            }
        }
        commit(shared, &mut store).with_context(|| format!("plugin {name}: committing what init/migrate wrote"))?;
        let effects = std::mem::take(&mut store.data_mut().effects);
        if !effects.is_empty() {
            tracing::warn!(
                plugin = %name,
                "stanzas and events queued during init/migrate are dropped: plugins send while handling, not loading"
            );
        }
        for c in &meta.description.capabilities {
            if !meta.grants.has(*c) {
                tracing::warn!(
                    plugin = %name,
                    domain = %shared.domain,
                    "plugin asks for capability {:?} which its config does not grant; those calls will fail",
                    capability_name(*c)
                );
            }
        }
        // The instance that ran describe and init is not kept: a version
        // starts with no live instance and its first call makes one. Kept,
        // it would save that first call ~0.1 ms (instantiate + init: 110 µs
        // against 18 µs warm, the default plugins, `pool_tests::measure_*`,
        // test profile) once per plugin and vhost; it would cost ~54 KiB
        // resident and a pool slot each, ~1 MiB per vhost of default plugins,
        // and at start with a thousand vhosts the pool would hold the
        // last-loaded vhosts' instances, not the busy ones, until swept.
        drop((store, guest));
        let idle = Arc::new(Idle::default());
        runtime.idle.register(Arc::downgrade(&idle) as Weak<dyn IdlePool>);
        Ok(Version {
            meta,
            pre,
            idle,
            registry: runtime.idle.clone(),
            shared: shared.clone(),
            limits: limits.clone(),
            _component: component,
        })
    }

    /// Live instances waiting for a call.
    #[cfg(test)]
    pub fn idle_instances(&self) -> usize {
        self.idle.len()
    }

    fn instantiate(&self, lim: &PluginLimits) -> Result<Live, CallFailure> {
        let data =
            || StoreData::new(self.shared.clone(), self.meta.grants, self.meta.declared.clone(), memory_bytes(lim));
        let (mut store, guest) = instantiate(&self.registry, &self.pre, lim.call_timeout_ms, data)
            .map_err(|f| CallFailure(format!("instantiating {}", f.0)))?;
        init(&guest, &mut store, lim.call_timeout_ms, &self.meta)?;
        // Whatever init queued is not part of the call about to run; what it
        // wrote is kept, as at load.
        store.data_mut().effects = Effects::default();
        commit(&self.shared, &mut store)
            .map_err(|e| CallFailure(format!("committing what init wrote failed: {e:#}")))?;
        Ok(Live { store, guest, calls: 0 })
    }

    /// Calls into an idle (or fresh) instance. Returns the result and the
    /// side effects to act on; after a failure only the events are kept
    /// (they record things that did happen, like an account created), the
    /// stanzas and writes of a call that did not finish are not.
    pub fn call<R>(
        &self,
        f: impl FnOnce(&GuestInstance, &mut Store<StoreData>) -> wasmtime::Result<R>,
    ) -> (Result<R, CallFailure>, Effects) {
        let lim = self.limits.load();
        let popped = self.idle.pop();
        let mut live = match popped {
            Some(l) => l,
            None => match self.instantiate(&lim) {
                Ok(l) => l,
                Err(e) => return (Err(e), Effects::default()),
            },
        };
        let Live { store, guest, .. } = &mut live;
        let mut result = guarded(store, lim.call_timeout_ms, |s| f(guest, s));
        // Durable before anything the call queued is routed; a call that
        // failed keeps none of its writes.
        if result.is_ok()
            && let Err(e) = commit(&self.shared, &mut live.store)
        {
            result = Err(CallFailure(format!("committing its writes failed: {e:#}")));
        }
        let mut effects = std::mem::take(&mut live.store.data_mut().effects);
        match result {
            Ok(_) => {
                live.calls += 1;
                if live.calls < lim.recycle_after_calls {
                    drop(self.idle.give_back(live, lim.pool_size));
                }
            }
            Err(_) => effects.keep_events_only(),
        }
        (result, effects)
    }

    /// The contract's major this version was built for.
    pub fn major(&self) -> u64 {
        self.pre.major()
    }
}

/// A fresh store (its data from `data`) with an instance of `pre` in it. When
/// the allocator's pool has no slot left, every idle instance of every version
/// is dropped and a second fresh store tried once: what a failed
/// instantiation had already allocated stays with its store until dropped.
fn instantiate(
    registry: &IdleRegistry,
    pre: &GuestPre,
    timeout_ms: u64,
    data: impl Fn() -> StoreData,
) -> Result<(Store<StoreData>, GuestInstance), CallFailure> {
    let attempt = || {
        let mut store = new_store(pre.engine(), data());
        let mut pool_full = false;
        let guest = guarded(&mut store, timeout_ms, |s| {
            pre.instantiate(s).inspect_err(|e| pool_full = e.is::<PoolConcurrencyLimitError>())
        });
        (guest.map(|g| (store, g)), pool_full)
    };
    match attempt() {
        (Err(_), true) => {
            let dropped = registry.drop_all();
            tracing::info!(dropped, "the plugin instance pool was full: dropped every idle instance to make room");
            attempt().0
        }
        (result, _) => result,
    }
}

/// Commits the store's pending writes (shared with other commits of the
/// plugin; a compare-and-swap excludes them). Whatever happens, the overlay
/// is empty afterwards: a failed commit's writes are gone, not retried.
fn commit(shared: &PluginShared, store: &mut Store<StoreData>) -> anyhow::Result<()> {
    let mut pending = std::mem::take(&mut store.data_mut().pending);
    if pending.is_empty() {
        return Ok(());
    }
    let _shared = shared.commit_lock.read().unwrap_or_else(|p| p.into_inner());
    let stored = pending.commit(shared.kv.storage())?;
    shared.budget.stored_changed(stored);
    Ok(())
}

fn init(
    guest: &GuestInstance,
    store: &mut Store<StoreData>,
    timeout: u64,
    meta: &VersionMeta,
) -> Result<types::Ready, CallFailure> {
    match guarded(store, timeout, |s| guest.init(s, &meta.config_json)) {
        Ok(Ok(ready)) => Ok(ready),
        Ok(Err(msg)) => Err(CallFailure(format!("refused its config: {msg}"))),
        Err(f) => Err(CallFailure(format!("init {}", f.0))),
    }
}

impl VersionMeta {
    fn new(
        description: types::Description,
        major: u64,
        cfg: &PluginConfig,
        domain: &str,
        digest: [u8; 32],
    ) -> anyhow::Result<VersionMeta> {
        let name = &cfg.name;
        if description.name != *name {
            bail!(
                "the component configured as plugin {name} describes itself as {:?}: check `name` and `source`",
                description.name
            );
        }
        if description.version.trim().is_empty() {
            bail!("plugin {name} describes no version");
        }
        let config_json = if major == 1 {
            // 1.x declared no settings: its config goes as written.
            serde_json::to_string(&cfg.config).context("turning the plugin's config into JSON")?
        } else {
            settings::check_declared(name, &description.settings)?;
            settings::check(&description.settings, &cfg.config)?
        };
        let service_domain = match &description.service_subdomain {
            None => None,
            Some(sub) => Some(service_domain(name, sub, domain)?),
        };
        for d in description.publishes.iter().map(|d| &d.name).chain(description.reads.iter().map(|r| &r.dataset)) {
            if d.is_empty() || d.contains('/') {
                bail!("plugin {name} declares a dataset named {d:?}: names are non-empty and contain no '/'");
            }
        }
        let grants = match &cfg.grants {
            Some(names) => Grants::from_names(names),
            None => Grants::by_default(&description.capabilities),
        };
        let mut seen = HashSet::new();
        let events = description.events.iter().map(|k| EventKind::from(*k)).filter(|k| seen.insert(*k)).collect();
        let declared = Arc::new(Declared {
            service_domain: service_domain.clone(),
            publishes: description.publishes.iter().map(|d| d.name.clone()).collect(),
            reads: description.reads.iter().map(|r| (r.plugin.clone(), r.dataset.clone())).collect(),
        });
        Ok(VersionMeta {
            routes: description.routes.iter().map(RouteSpec::from).collect(),
            filters: description.filters.iter().map(RouteSpec::from).collect(),
            events,
            service_domain,
            declared,
            grants,
            config_json,
            stream_features: Vec::new(),
            commands: Vec::new(),
            source: cfg.source.clone(),
            digest,
            description,
        })
    }

    pub fn version(&self) -> &str {
        &self.description.version
    }
}

fn service_domain(name: &str, sub: &str, domain: &str) -> anyhow::Result<String> {
    let full = format!("{sub}.{domain}");
    let ok = !sub.is_empty()
        && !sub.contains(['@', '/'])
        && jid::DomainPart::new(&full).map(|d| d.as_str() == full).unwrap_or(false);
    if !ok {
        bail!("plugin {name} asks for service subdomain {sub:?}, which does not make a valid domain under {domain}");
    }
    Ok(full)
}

/// The digest of bytes as the compile cache computes it, for change detection.
pub(crate) fn digest_of(bytes: &[u8]) -> [u8; 32] {
    sha256(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_subdomains_must_be_domains() {
        assert_eq!(service_domain("muc", "conference", "example.org").unwrap(), "conference.example.org");
        for bad in ["", "a@b", "x/y", "a b"] {
            assert!(service_domain("muc", bad, "example.org").is_err(), "{bad:?}");
        }
    }
}

/// Versions and idle instances against a runtime of their own, with a pool of
/// a few slots, so that filling it disturbs no other test.
#[cfg(test)]
mod pool_tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::plugins::testkit;
    use crate::storage::Storage;

    /// Leaked: versions borrow their runtime for the life of the process, as
    /// the server's does.
    fn small_runtime(slots: u32) -> &'static Runtime {
        // No sweep thread in the way of a test's own sweeps.
        let rt = Runtime::with(slots, Duration::from_secs(60), Duration::from_secs(24 * 3600));
        Box::leak(Box::new(rt.expect("a runtime with a small pool")))
    }

    fn shared(storage: &Storage, domain: &str, name: &str) -> Arc<PluginShared> {
        use super::super::bindings::waxwing::plugin::disco::HostInfo;
        use super::super::store::{KernelSlot, MemMap};
        let info =
            HostInfo { domain: domain.into(), features: vec![], identities: vec![], items: vec![], extensions: vec![] };
        Arc::new(PluginShared {
            name: name.into(),
            domain: domain.into(),
            kv: storage.scoped(format!("plug/{domain}/{name}/")),
            mem: MemMap::new(1 << 20),
            filter_scope: Default::default(),
            timers: Default::default(),
            accounts: crate::accounts::Accounts::new(storage.clone(), 4096),
            kernel: Arc::new(KernelSlot::default()),
            host_info: Arc::new(ArcSwap::from_pointee(info)),
            entry: Default::default(),
            commit_lock: Default::default(),
            filter_scope_store: storage.scoped(format!("fscope/{domain}/{name}/")),
            requests: Default::default(),
            uploads: Default::default(),
            budget: super::super::tenant_budget::TenantBudget::new(&Default::default(), &Default::default()),
        })
    }

    fn load(rt: &Runtime, storage: &Storage, domain: &str, cfg: &PluginConfig, bytes: &[u8]) -> Version {
        let limits = Arc::new(ArcSwap::from_pointee(testkit::limits()));
        match Version::load(rt, &shared(storage, domain, &cfg.name), &limits, cfg, bytes, None) {
            Ok(v) => v,
            Err(e) => panic!("loading {} on {domain}: {e:#}", cfg.name),
        }
    }

    fn ping(rt: &Runtime, storage: &Storage, domain: &str) -> Version {
        let cfg = testkit::plugin("ping", "ping", &[]);
        let bytes = std::fs::read(&cfg.source).expect("ping.wasm");
        load(rt, storage, domain, &cfg, &bytes)
    }

    fn callable(v: &Version) -> bool {
        match v.call(|guest, store| guest.describe(store)).0 {
            Ok(_) => true,
            Err(f) => panic!("call failed: {}", f.0),
        }
    }

    fn in_use(rt: &Runtime) -> u64 {
        rt.engine.pooling_allocator_metrics().map_or(0, |m| m.component_instances())
    }

    #[test]
    fn more_versions_than_slots_load_and_are_all_callable() {
        let rt = small_runtime(8);
        assert!(rt.pooling, "the pooling allocator is what this test is about");
        let dir = crate::testutil::tempdir("pool-full");
        let storage = Storage::open(&dir).unwrap();
        let versions: Vec<Version> = (0..20).map(|i| ping(rt, &storage, &format!("h{i}.example"))).collect();
        assert_eq!(in_use(rt), 0, "a loaded version holds no instance");
        for round in 0..3 {
            for (i, v) in versions.iter().enumerate() {
                assert!(callable(v), "round {round}, version {i}");
            }
        }
        assert!(in_use(rt) <= 8);
        let idle: usize = versions.iter().map(Version::idle_instances).sum();
        assert!(idle > 0 && idle <= 8, "{idle} idle");
        drop(versions);
        assert_eq!(in_use(rt), 0, "dropped versions give their slots back");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn an_idle_instance_is_swept_after_the_idle_time() {
        let rt = small_runtime(4);
        let dir = crate::testutil::tempdir("pool-sweep");
        let storage = Storage::open(&dir).unwrap();
        let v = ping(rt, &storage, "h.example");
        assert_eq!(v.idle_instances(), 0);
        assert!(callable(&v));
        assert_eq!((v.idle_instances(), in_use(rt)), (1, 1));
        assert_eq!(rt.idle.sweep(Instant::now()), 0, "used just now");
        assert_eq!(v.idle_instances(), 1);
        assert_eq!(rt.idle.sweep(Instant::now() + Duration::from_secs(61)), 1);
        assert_eq!((v.idle_instances(), in_use(rt)), (0, 0), "its slot is free again");
        assert!(callable(&v), "the next call makes a fresh one");
        let _ = std::fs::remove_dir_all(dir);
    }

    fn rss_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap_or("VmRSS: 0 kB");
        line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0)
    }

    fn mappings() -> usize {
        std::fs::read_to_string("/proc/self/maps").map_or(0, |m| m.lines().count())
    }

    /// Figures for the comments in `engine.rs` and `Version::load`, not a
    /// check: `cargo test -p waxwing --lib plugins::instance_pool -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn measure_the_default_plugins() {
        let vhosts = 40;
        let rt = small_runtime(4000);
        let dir = crate::testutil::tempdir("pool-measure");
        let storage = Storage::open(&dir).unwrap();
        let plugins: Vec<(PluginConfig, &[u8])> = crate::config::DEFAULT_PLUGINS
            .iter()
            .map(|name| {
                let cfg = PluginConfig {
                    name: name.to_string(),
                    source: "builtin".into(),
                    config: toml::Table::new(),
                    grants: Some(vec!["kv".into(), "mem".into(), "route".into(), "timers".into(), "accounts".into()]),
                };
                (cfg, crate::plugins::builtin::find(name).expect("embedded"))
            })
            .collect();
        // Compiled once, outside what is timed.
        for (cfg, bytes) in &plugins {
            drop(load(rt, &storage, "warm.example", cfg, bytes));
        }
        let (rss0, maps0) = (rss_kib(), mappings());
        let started = Instant::now();
        let mut versions = Vec::new();
        for i in 0..vhosts {
            for (cfg, bytes) in &plugins {
                versions.push(load(rt, &storage, &format!("h{i}.example"), cfg, bytes));
            }
        }
        let loading = started.elapsed();
        let (rss1, maps1) = (rss_kib(), mappings());
        let started = Instant::now();
        for v in &versions {
            callable(v);
        }
        let first = started.elapsed();
        let (rss2, maps2) = (rss_kib(), mappings());
        let started = Instant::now();
        for v in &versions {
            callable(v);
        }
        let warm = started.elapsed();
        let n = versions.len() as u32;
        eprintln!(
            "{n} versions ({vhosts} vhosts x {}): load {:?} each; first call {:?} each, warm call {:?} each",
            plugins.len(),
            loading / n,
            first / n,
            warm / n
        );
        eprintln!(
            "RSS: {} KiB per loaded version without instance, {} KiB per idle instance; mappings {} per version, {} \
             per instance",
            (rss1.saturating_sub(rss0)) / u64::from(n),
            (rss2.saturating_sub(rss1)) / u64::from(n),
            maps1.saturating_sub(maps0) as f64 / f64::from(n),
            maps2.saturating_sub(maps1) as f64 / f64::from(n),
        );
        let started = Instant::now();
        let dropped = rt.idle.drop_all();
        eprintln!("drop_all of {dropped}: {:?}; RSS after {} KiB", started.elapsed(), rss_kib().saturating_sub(rss0));
        let _ = std::fs::remove_dir_all(dir);
    }
}
