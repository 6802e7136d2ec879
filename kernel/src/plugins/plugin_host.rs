//! The plugins of every vhost, and the operations on them as a whole:
//! start, hot swap, config reload, status.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use anyhow::{anyhow, bail};
use arc_swap::ArcSwap;

use super::Kernel;
use super::engine::{Runtime, runtime};
use super::requests::Requests;
use super::status::PluginStatus;
use super::store::KernelSlot;
use super::tenant_budget::Budgets;
use super::vhost::VhostPlugins;
use crate::accounts::Accounts;
use crate::config::{Config, PluginLimits, Quotas, VhostConfig};
use crate::storage::Storage;
use crate::uploads::Uploads;

/// What every plugin on every vhost shares.
pub(crate) struct HostShared {
    pub runtime: &'static Runtime,
    pub storage: Storage,
    pub accounts: Accounts,
    pub kernel: Arc<KernelSlot>,
    /// Read at every call, so a config reload applies to the next one.
    pub limits: Arc<ArcSwap<PluginLimits>>,
    /// iq requests plugins sent, waiting for their answers.
    pub requests: Arc<Requests>,
    /// HTTP upload, once the server has it (`check-config` never does).
    pub uploads: Arc<OnceLock<Arc<Uploads>>>,
    /// Serialises reloads and config changes (admin operations, from the
    /// admin socket, SIGHUP or a plugin's `server` calls) with each other;
    /// stanza handling never takes it.
    pub admin_lock: Mutex<()>,
    /// Every tenant's `[quotas]` base (the config file's), for budgets.
    pub quotas: ArcSwap<Quotas>,
    /// Each tenant's plugin budget (memory per instance, CPU per second).
    pub budgets: Budgets,
}

impl HostShared {
    pub fn lock_admin(&self) -> std::sync::MutexGuard<'_, ()> {
        self.admin_lock.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub struct PluginHost {
    shared: Arc<HostShared>,
    vhosts: ArcSwap<HashMap<String, Arc<VhostPlugins>>>,
}

impl PluginHost {
    /// Compiles and instantiates every plugin of every vhost; any failure is
    /// an error naming the vhost and plugin (the server refuses to start
    /// half configured). Calls each plugin's `describe` then `init(config as JSON)`.
    /// Lets plugins granted `uploads` hand out slots of `uploads`.
    pub fn attach_uploads(&self, uploads: Arc<Uploads>) {
        let _ = self.shared.uploads.set(uploads);
    }

    pub fn start(cfg: &Config, storage: Storage, accounts: Accounts) -> anyhow::Result<Arc<PluginHost>> {
        super::engine::set_disk_cache(&cfg.plugin_cache_dir())?;
        Self::load_all(cfg, storage, accounts)
    }

    /// Loads every plugin of every vhost exactly as [`start`](Self::start)
    /// does (compile, ABI check, describe, settings, init) against a scratch
    /// database, then lets them go: what `waxwing check-config` runs, so that
    /// it refuses what `serve` would. Uses the compile cache only if it
    /// exists already: a check creates nothing in the data directory.
    pub fn check(cfg: &Config) -> anyhow::Result<()> {
        let cache = cfg.plugin_cache_dir();
        if cache.is_dir() {
            super::engine::set_disk_cache(&cache)?;
        }
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let scratch = std::env::temp_dir().join(format!("waxwing-check-{}-{nanos}", std::process::id()));
        let result = (|| {
            let storage = Storage::open(&scratch)?;
            let accounts = Accounts::new(storage.clone(), cfg.sasl.scram_iterations);
            let host = Self::load_all(cfg, storage, accounts)?;
            for vp in host.vhosts.load().values() {
                vp.retire();
            }
            Ok(())
        })();
        let _ = std::fs::remove_dir_all(&scratch);
        result
    }

    fn load_all(cfg: &Config, storage: Storage, accounts: Accounts) -> anyhow::Result<Arc<PluginHost>> {
        let shared = Arc::new(HostShared {
            runtime: runtime()?,
            storage,
            accounts,
            kernel: Arc::new(KernelSlot::default()),
            limits: Arc::new(ArcSwap::from_pointee(cfg.plugin_limits.clone())),
            requests: Arc::default(),
            uploads: Arc::default(),
            admin_lock: Mutex::new(()),
            quotas: ArcSwap::from_pointee(cfg.quotas.clone()),
            budgets: Budgets::default(),
        });
        let mut vhosts = HashMap::new();
        for v in &cfg.vhosts {
            match VhostPlugins::start(&shared, v) {
                Ok(vp) => {
                    vhosts.insert(v.domain.clone(), vp);
                }
                Err(e) => {
                    for vp in vhosts.values() {
                        vp.retire();
                    }
                    return Err(e);
                }
            }
        }
        Ok(Arc::new(PluginHost { shared, vhosts: ArcSwap::from_pointee(vhosts) }))
    }

    /// Must be called once after construction; the plugins hold the kernel
    /// weakly, which breaks the cycle with the router.
    pub fn attach(&self, kernel: Weak<dyn Kernel>) {
        if !self.shared.kernel.set(kernel) {
            tracing::warn!("PluginHost::attach was called again; the first kernel stays attached");
        }
    }

    /// Takes an iq that answers a plugin's request out of routing and hands
    /// it to that plugin. False when it answers no request.
    pub fn take_answer(&self, stanza: &crate::xml::Stanza) -> bool {
        match self.shared.requests.take_answer(stanza) {
            Some(answer) => {
                answer.entry.fire(answer.event);
                true
            }
            None => false,
        }
    }

    /// Per tenant, the plugin calls refused because its CPU budget was spent.
    pub fn budget_refusals(&self) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = self
            .shared
            .budgets
            .all()
            .into_iter()
            .map(|(d, b)| (d, b.refused.load(std::sync::atomic::Ordering::Relaxed)))
            .collect();
        out.sort();
        out
    }

    /// Per tenant with a stored-bytes quota: the bytes its plugins store
    /// (once counted) and the quota.
    pub fn stored_bytes(&self) -> Vec<(String, i64, u64)> {
        let mut out: Vec<(String, i64, u64)> = self
            .shared
            .budgets
            .all()
            .into_iter()
            .filter(|(_, b)| b.stored_quota() > 0)
            .filter_map(|(d, b)| Some((d, b.stored_now()?, b.stored_quota())))
            .collect();
        out.sort();
        out
    }

    pub fn vhost(&self, domain: &str) -> Option<Arc<VhostPlugins>> {
        self.vhosts.load().get(domain).cloned()
    }

    /// Whether instances come from the pooling allocator (else on demand).
    pub fn pooling_allocator(&self) -> bool {
        self.shared.runtime.pooling
    }

    /// Every plugin on every vhost, by vhost then config order.
    /// Each plugin's call latency, by (vhost, plugin).
    pub fn latencies(&self) -> Vec<(String, String, super::plugin::CallLatency)> {
        let vhosts = self.vhosts.load();
        vhosts
            .iter()
            .flat_map(|(d, vp)| {
                vp.plugins().iter().map(|p| (d.clone(), p.name.clone(), p.latency())).collect::<Vec<_>>()
            })
            .collect()
    }

    pub fn list(&self) -> Vec<PluginStatus> {
        let vhosts = self.vhosts.load();
        let mut domains: Vec<&String> = vhosts.keys().collect();
        domains.sort();
        domains.into_iter().flat_map(|d| vhosts[d].plugins().iter().map(|p| p.status()).collect::<Vec<_>>()).collect()
    }

    /// Hot swap: recompiles from the plugin's configured source (re-read from
    /// disk), checks `describe()`, runs `init` and `migrate(old version)`,
    /// then swaps. Calls in flight finish on the old version; a failure leaves
    /// the old version serving and is the error. `vhost = None` reloads the
    /// plugin on every vhost that has it. This blocks for the compile (tens
    /// of milliseconds): call it from a blocking-capable thread, not the
    /// stanza path.
    pub fn reload(&self, name: &str, vhost: Option<&str>) -> anyhow::Result<String> {
        let _admin = self.shared.lock_admin();
        let vhosts = self.vhosts.load_full();
        let targets = match vhost {
            Some(d) => {
                let vp = vhosts.get(d).ok_or_else(|| anyhow!("there is no vhost {d}"))?;
                let entry = vp.plugin(name).ok_or_else(|| anyhow!("vhost {d} has no plugin {name}"))?;
                vec![entry]
            }
            None => {
                let mut domains: Vec<&String> = vhosts.keys().collect();
                domains.sort();
                let all: Vec<_> = domains.into_iter().filter_map(|d| vhosts[d].plugin(name)).collect();
                if all.is_empty() {
                    bail!("no vhost has a plugin named {name}");
                }
                all
            }
        };
        let mut done = Vec::new();
        let mut failed = Vec::new();
        for entry in targets {
            match entry.reload() {
                Ok(s) => done.push(s),
                Err(e) => failed.push(format!("{e:#}")),
            }
        }
        if failed.is_empty() {
            return Ok(done.join("\n"));
        }
        done.extend(failed);
        Err(anyhow!(done.join("\n")))
    }

    /// A new tenant's plugins, loaded and then served; an error (nothing
    /// changed) when the vhost exists or a plugin fails to load.
    pub fn add_vhost(&self, v: &VhostConfig) -> anyhow::Result<String> {
        let _admin = self.shared.lock_admin();
        if self.vhosts.load().contains_key(&v.domain) {
            bail!("vhost {} has plugins already", v.domain);
        }
        let vp = VhostPlugins::start(&self.shared, v)?;
        self.vhosts.rcu(|m| {
            let mut next = HashMap::clone(m);
            next.insert(v.domain.clone(), vp.clone());
            next
        });
        Ok(format!("added vhost {} with {} plugins", v.domain, v.plugins.len()))
    }

    /// One tenant's plugin list changed: loaded first, installed only when
    /// everything loaded. The summary of what changed.
    pub fn change_vhost(&self, v: &VhostConfig) -> anyhow::Result<String> {
        let _admin = self.shared.lock_admin();
        let vp = self.vhost(&v.domain).ok_or_else(|| anyhow!("there is no vhost {}", v.domain))?;
        let plan = vp.plan(v)?;
        let changes = plan.changes.join("\n");
        vp.commit(plan);
        self.shared.budgets.set(&v.domain, &self.shared.limits.load(), &v.quotas.over(&self.shared.quotas.load()));
        Ok(if changes.is_empty() { "no plugin changes".to_owned() } else { changes })
    }

    /// Stops a tenant's plugins: calls in flight finish, nothing new
    /// reaches them. False when there was no such vhost.
    pub fn remove_vhost(&self, domain: &str) -> bool {
        let _admin = self.shared.lock_admin();
        let mut removed = None;
        self.vhosts.rcu(|m| {
            let mut next = HashMap::clone(m);
            removed = next.remove(domain);
            next
        });
        match removed {
            Some(vp) => {
                vp.retire();
                self.shared.budgets.remove(domain);
                true
            }
            None => false,
        }
    }

    /// Config reload: applies plugin limits, vhosts added or removed, and each
    /// vhost's plugin list (added, removed, reconfigured, changed sources).
    /// Everything new is loaded before anything is installed, so a failure
    /// changes nothing.
    pub fn apply_config(&self, cfg: &Config) -> anyhow::Result<String> {
        let _admin = self.shared.lock_admin();
        let current = self.vhosts.load_full();
        let mut plans = Vec::new();
        let mut added: Vec<Arc<VhostPlugins>> = Vec::new();
        let mut changes = Vec::new();
        let prepared = cfg.vhosts.iter().try_for_each(|v| -> anyhow::Result<()> {
            match current.get(&v.domain) {
                Some(vp) => plans.push((vp.clone(), vp.plan(v)?)),
                None => {
                    added.push(VhostPlugins::start(&self.shared, v)?);
                    changes.push(format!("added vhost {} with {} plugins", v.domain, v.plugins.len()));
                }
            }
            Ok(())
        });
        if let Err(e) = prepared {
            for vp in &added {
                vp.retire();
            }
            return Err(e);
        }
        self.shared.limits.store(Arc::new(cfg.plugin_limits.clone()));
        self.shared.quotas.store(Arc::new(cfg.quotas.clone()));
        for v in &cfg.vhosts {
            self.shared.budgets.set(&v.domain, &cfg.plugin_limits, &cfg.quotas_for(v));
        }
        let mut next: HashMap<String, Arc<VhostPlugins>> = HashMap::new();
        for (vp, plan) in plans {
            changes.extend(plan.changes.iter().cloned());
            vp.commit(plan);
            next.insert(vp.domain().to_string(), vp);
        }
        for vp in added {
            next.insert(vp.domain().to_string(), vp);
        }
        for (d, vp) in current.iter() {
            if !next.contains_key(d) {
                vp.retire();
                self.shared.budgets.remove(d);
                changes.push(format!("removed vhost {d}"));
            }
        }
        self.vhosts.store(Arc::new(next));
        changes.sort();
        Ok(if changes.is_empty() { "no plugin changes".to_string() } else { changes.join("\n") })
    }
}
