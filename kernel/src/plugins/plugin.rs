//! One plugin on one vhost: the version serving now (swapped atomically), its
//! health (calls, failures, disabled), and what outlives versions (its `mem`
//! map, timers, storage scope).

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use anyhow::{Context as _, anyhow};
use arc_swap::ArcSwap;
use wasmtime::Store;

use super::bindings::types;
use super::bindings::waxwing::plugin::disco::HostInfo;
use super::builtin;
use super::call_clock::thread_cpu;
use super::guest::GuestInstance;
use super::instance_pool::{CallFailure, Version};
use super::plugin_host::HostShared;
use super::status::{PluginState, PluginStatus};
use super::store::{Effects, MemMap, PluginShared, StoreData};
use super::tenant_budget::TenantBudget;
use super::timers::Timers;
use super::vhost::VhostPlugins;
use crate::blocking::off_worker;
use crate::config::PluginConfig;

/// Bytes (keys plus values) one plugin may keep in `mem` on one vhost.
pub(crate) const MEM_BUDGET_BYTES: usize = 64 << 20;

#[derive(Default)]
struct Health {
    latency: CallLatency,
    calls: AtomicU64,
    failures: AtomicU64,
    consecutive: AtomicU32,
    disabled: AtomicBool,
    detail: Mutex<HealthDetail>,
}

/// Wall time per call, wasm and commit together, for `/metrics`.
#[derive(Clone)]
pub struct CallLatency(pub prometheus_client::metrics::histogram::Histogram);

impl Default for CallLatency {
    /// 10 µs to about 0.7 s, four times apart: a plugin call takes tens of
    /// microseconds, its deadline is 200 ms of CPU by default.
    fn default() -> Self {
        CallLatency(prometheus_client::metrics::histogram::Histogram::new(
            prometheus_client::metrics::histogram::exponential_buckets(0.000_01, 4.0, 9),
        ))
    }
}

#[derive(Default)]
struct HealthDetail {
    disabled_reason: Option<String>,
    last_error: Option<String>,
}

pub(crate) struct PluginEntry {
    pub name: String,
    pub shared: Arc<PluginShared>,
    current: ArcSwap<Version>,
    config: Mutex<PluginConfig>,
    health: Health,
    host: Arc<HostShared>,
    vhost: Weak<VhostPlugins>,
    /// What the tenant's plugins may use together (memory per instance, CPU).
    pub(crate) budget: Arc<TenantBudget>,
}

impl PluginEntry {
    /// The vhost this plugin serves (gone once the vhost is).
    pub(crate) fn vhost(&self) -> Option<Arc<VhostPlugins>> {
        self.vhost.upgrade()
    }
}

/// The component bytes a plugin config names.
pub(crate) fn read_source(cfg: &PluginConfig) -> anyhow::Result<Cow<'static, [u8]>> {
    if cfg.source == "builtin" {
        return builtin::find(&cfg.name).map(Cow::Borrowed).ok_or_else(|| {
            anyhow!("there is no builtin plugin named {}: give `source` as a path to a .wasm", cfg.name)
        });
    }
    let bytes =
        std::fs::read(&cfg.source).with_context(|| format!("reading plugin {} from {}", cfg.name, cfg.source))?;
    Ok(Cow::Owned(bytes))
}

impl PluginEntry {
    pub fn load(
        host: &Arc<HostShared>,
        vhost: Weak<VhostPlugins>,
        domain: &str,
        host_info: Arc<ArcSwap<HostInfo>>,
        cfg: &PluginConfig,
    ) -> anyhow::Result<Arc<PluginEntry>> {
        let budget = host
            .budgets
            .get(domain)
            .unwrap_or_else(|| host.budgets.set(domain, &host.limits.load(), &host.quotas.load()));
        let shared = Arc::new(PluginShared {
            name: cfg.name.clone(),
            domain: domain.to_string(),
            kv: host.storage.scoped(format!("plug/{domain}/{}/", cfg.name)),
            mem: MemMap::new(MEM_BUDGET_BYTES),
            filter_scope: Default::default(),
            timers: Timers::default(),
            accounts: host.accounts.clone(),
            kernel: host.kernel.clone(),
            host_info,
            entry: OnceLock::new(),
            commit_lock: Default::default(),
            filter_scope_store: host.storage.scoped(format!("fscope/{domain}/{}/", cfg.name)),
            requests: host.requests.clone(),
            uploads: host.uploads.clone(),
            budget: budget.clone(),
        });
        shared
            .filter_scope
            .load(&shared.filter_scope_store)
            .with_context(|| format!("reading the filter scope of plugin {} on {domain}", cfg.name))?;
        let bytes = read_source(cfg)?;
        let budget = host
            .budgets
            .get(domain)
            .unwrap_or_else(|| host.budgets.set(domain, &host.limits.load(), &host.quotas.load()));
        let version = Version::load(host.runtime, &shared, &budget.limits, cfg, &bytes, None)?;
        shared.filter_scope.follow(&version.meta.description, version.major());
        let entry = Arc::new(PluginEntry {
            name: cfg.name.clone(),
            shared: shared.clone(),
            current: ArcSwap::from_pointee(version),
            config: Mutex::new(cfg.clone()),
            health: Health::default(),
            host: host.clone(),
            vhost,
            budget,
        });
        let _ = shared.entry.set(Arc::downgrade(&entry));
        Ok(entry)
    }

    pub fn version(&self) -> Arc<Version> {
        self.current.load_full()
    }

    pub fn is_enabled(&self) -> bool {
        !self.health.disabled.load(Ordering::Relaxed)
    }

    pub fn config(&self) -> PluginConfig {
        self.lock_config().clone()
    }

    fn lock_config(&self) -> MutexGuard<'_, PluginConfig> {
        self.config.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn detail(&self) -> MutexGuard<'_, HealthDetail> {
        self.health.detail.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn domain(&self) -> &str {
        &self.shared.domain
    }

    /// Builds a new version from `cfg` (compiling, describing, initialising
    /// and, when `migrate` is set, migrating from the version serving now)
    /// without touching what serves.
    pub fn prepare(&self, cfg: &PluginConfig, migrate: bool) -> anyhow::Result<Arc<Version>> {
        let bytes = read_source(cfg)?;
        let old = self.version();
        let from = migrate.then(|| old.meta.version().to_string());
        let v = Version::load(self.host.runtime, &self.shared, &self.budget.limits, cfg, &bytes, from.as_deref())?;
        Ok(Arc::new(v))
    }

    /// Makes `version` the one serving. Calls already running finish on the
    /// old one, which is dropped with its last call. A plugin that was
    /// disabled serves again: the operator installed something new.
    pub fn install(&self, version: Arc<Version>, cfg: PluginConfig) {
        self.shared.filter_scope.follow(&version.meta.description, version.major());
        self.current.store(version);
        *self.lock_config() = cfg;
        self.health.consecutive.store(0, Ordering::Relaxed);
        self.health.disabled.store(false, Ordering::Relaxed);
        self.detail().disabled_reason = None;
    }

    /// Reloads from the configured source (re-read from disk), with migrate.
    pub fn reload(&self) -> anyhow::Result<String> {
        let cfg = self.config();
        let old = self.version();
        let new = self.prepare(&cfg, true).with_context(|| {
            format!("reloading {} on {} failed; version {} keeps serving", self.name, self.domain(), old.meta.version())
        })?;
        let summary = format!("{} {} -> {} on {}", self.name, old.meta.version(), new.meta.version(), self.domain());
        let started = std::time::Instant::now();
        self.install(new, cfg);
        if let Some(v) = self.vhost.upgrade() {
            v.rebuild();
        }
        tracing::info!(swap_us = started.elapsed().as_micros() as u64, "plugin swapped: {summary}");
        Ok(summary)
    }

    /// One call on the serving version, with the health bookkeeping. Wasm
    /// and the call's synced commit run off the async worker (up to
    /// `call_timeout_ms` plus an fsync): the caller's other sessions keep
    /// being served meanwhile.
    pub fn call<R>(
        &self,
        what: &str,
        f: impl FnOnce(&GuestInstance, &mut Store<StoreData>) -> wasmtime::Result<R>,
    ) -> (Result<R, CallFailure>, Effects) {
        if !self.budget.allows_call() {
            let why = format!(
                "refused: the tenant's plugins used their CPU budget ({} ms a second)",
                self.budget.cpu_ms_per_sec()
            );
            tracing::debug!(plugin = %self.name, domain = %self.domain(), "{what} {why}");
            return (Err(CallFailure(why)), Effects::default());
        }
        let version = self.version();
        let started = std::time::Instant::now();
        let (result, effects, cpu) = off_worker(|| {
            let cpu = thread_cpu();
            let (r, e) = version.call(f);
            (r, e, thread_cpu().saturating_sub(cpu))
        });
        self.budget.charge(cpu);
        self.health.latency.0.observe(started.elapsed().as_secs_f64());
        match &result {
            Ok(_) => self.succeeded(),
            Err(f) => self.failed(what, &f.0),
        }
        (result, effects)
    }

    fn succeeded(&self) {
        self.health.calls.fetch_add(1, Ordering::Relaxed);
        self.health.consecutive.store(0, Ordering::Relaxed);
    }

    /// A call that trapped, timed out, or returned something unusable.
    pub fn failed(&self, what: &str, error: &str) {
        self.health.calls.fetch_add(1, Ordering::Relaxed);
        self.health.failures.fetch_add(1, Ordering::Relaxed);
        let text = format!("{what}: {error}");
        tracing::warn!(plugin = %self.name, domain = %self.domain(), "plugin call failed: {text}");
        self.detail().last_error = Some(text.clone());
        let n = self.health.consecutive.fetch_add(1, Ordering::Relaxed) + 1;
        let max = self.host.limits.load().max_consecutive_failures;
        if n >= max && !self.health.disabled.swap(true, Ordering::Relaxed) {
            let reason = format!("{n} consecutive failures, the last: {text}");
            tracing::error!(
                plugin = %self.name,
                domain = %self.domain(),
                "plugin disabled after {reason}; `waxwing plugin reload {}` brings it back",
                self.name
            );
            self.detail().disabled_reason = Some(reason);
            if let Some(v) = self.vhost.upgrade() {
                v.rebuild();
            }
        }
    }

    /// The plugin ran fine but reported an error (handle-event's `err`):
    /// counted and shown, not held against its health.
    pub fn reported(&self, what: &str, error: &str) {
        self.health.failures.fetch_add(1, Ordering::Relaxed);
        let text = format!("{what}: {error}");
        tracing::warn!(plugin = %self.name, domain = %self.domain(), "plugin reported an error: {text}");
        self.detail().last_error = Some(text);
    }

    /// Delivers one event; errors are logged and counted.
    pub fn deliver(&self, event: &types::Event) -> Effects {
        let (result, effects) = self.call("handle-event", |g, s| g.handle_event(s, event));
        if let Ok(Err(msg)) = result {
            self.reported("handle-event", &msg);
        }
        effects
    }

    /// Delivers an event that needs no subscription (a timer, an iq's
    /// answer) and acts on what the plugin did.
    pub fn fire(&self, event: types::Event) {
        if !self.is_enabled() {
            return;
        }
        let effects = self.deliver(&event);
        if let Some(v) = self.vhost.upgrade() {
            v.apply_effects(&self.name, effects);
        }
    }

    pub fn fire_timer(&self, id: u64, data: &str) {
        self.fire(types::Event::TimerFired(types::TimerFired { id, data: data.to_string() }));
    }

    pub fn latency(&self) -> CallLatency {
        self.health.latency.clone()
    }

    pub fn status(&self) -> PluginStatus {
        let v = self.version();
        let d = self.detail();
        PluginStatus {
            name: self.name.clone(),
            vhost: self.domain().to_string(),
            version: v.meta.version().to_string(),
            source: v.meta.source.clone(),
            state: if self.is_enabled() { PluginState::Serving } else { PluginState::Disabled },
            reason: d.disabled_reason.clone(),
            calls: self.health.calls.load(Ordering::Relaxed),
            failures: self.health.failures.load(Ordering::Relaxed),
            last_error: d.last_error.clone(),
        }
    }

    /// Called when the plugin leaves its vhost.
    pub fn retire(&self) {
        self.shared.timers.cancel_all();
    }
}
