//! Adding, changing and removing tenants while the server runs, and a
//! config reload's share of it. Each step that can fail (certificate,
//! plugins, storage) runs before the tenant is served or forgotten, and a
//! failure undoes the steps before it: a tenant is either served whole or
//! not at all, and no other tenant's sessions are touched.
//!
//! Tenants come from two places. The config file's `[[vhost]]` tables are
//! the file's: they change only by editing the file and reloading. Tenants
//! added at runtime (`waxwing tenant add`, the admin socket) are kept in the
//! database (`store.rs`) and served again after a restart.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{Context as _, anyhow, bail};
use serde::Serialize;
use waxwing_xml::StreamErrorCondition;

use super::Tenant;
use super::store::{self, TenantStore};
use crate::config::{Config, Quotas, VhostConfig};
use crate::router::Router;
use crate::storage::Storage;
use crate::tls::TlsConfigs;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TenantSource {
    /// A `[[vhost]]` table of the config file.
    Config,
    /// Added while the server ran; kept in the database.
    Runtime,
}

/// What `tenant list` shows of one tenant.
#[derive(Debug, Clone, Serialize)]
pub struct TenantSummary {
    pub domain: String,
    pub source: TenantSource,
    pub sessions: usize,
    pub connections: usize,
    pub quotas: Quotas,
}

/// What becomes of a removed tenant's data.
#[derive(Debug, Clone, Default)]
pub struct Removal {
    /// Write the tenant's accounts and their data (XEP-0227) here first.
    pub export_to: Option<PathBuf>,
    /// Keep the data in the database (served again if the tenant is added
    /// back); by default it is deleted.
    pub keep_data: bool,
}

pub struct Lifecycle {
    router: Arc<Router>,
    tls: TlsConfigs,
    store: TenantStore,
    data_dir: PathBuf,
    /// The config file as last loaded: its `[quotas]` are every tenant's
    /// base, its vhosts the file's tenants.
    config: Mutex<Arc<Config>>,
    /// Serialises tenant changes with each other and with reloads.
    lock: Mutex<()>,
}

impl Lifecycle {
    pub fn new(router: Arc<Router>, tls: TlsConfigs, storage: Storage, config: Arc<Config>) -> Lifecycle {
        for v in &config.vhosts {
            router.accounts().set_quota(&v.domain, config.quotas_for(v).accounts);
        }
        Lifecycle {
            router,
            tls,
            store: TenantStore::new(storage),
            data_dir: config.server.data_dir.clone(),
            config: Mutex::new(config),
            lock: Mutex::new(()),
        }
    }

    fn guard(&self) -> MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn config(&self) -> Arc<Config> {
        self.config.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn file_domains(&self) -> HashSet<String> {
        self.config().vhosts.iter().map(|v| v.domain.clone()).collect()
    }

    /// At start, after the config file's tenants: serves the tenants added
    /// at runtime before. One that fails to load is logged and left out;
    /// the others, and the file's, serve regardless.
    pub fn serve_stored(&self) -> anyhow::Result<usize> {
        let _g = self.guard();
        let file = self.file_domains();
        let mut served = 0;
        for (v, _) in self.store.load_all()? {
            if file.contains(&v.domain) {
                tracing::warn!(
                    "tenant {} is both in the config file and added at runtime; the config file's table is used",
                    v.domain
                );
                continue;
            }
            match self.start(&v) {
                Ok(_) => served += 1,
                Err(e) => tracing::error!("tenant {} added at runtime is not served: {e:#}", v.domain),
            }
        }
        Ok(served)
    }

    /// Every tenant, by domain.
    pub fn list(&self) -> Vec<TenantSummary> {
        let file = self.file_domains();
        let mut out: Vec<TenantSummary> = self
            .router
            .tenants()
            .all()
            .into_iter()
            .map(|t| TenantSummary {
                domain: t.domain.clone(),
                source: if file.contains(&t.domain) { TenantSource::Config } else { TenantSource::Runtime },
                sessions: t.sessions.len(),
                connections: t.connections(),
                quotas: (*t.quotas()).clone(),
            })
            .collect();
        out.sort_by(|a, b| a.domain.cmp(&b.domain));
        out
    }

    /// Serves a new tenant described by `text`, a `[[vhost]]` table's keys
    /// as TOML. Kept across restarts.
    pub fn add(&self, text: &str) -> anyhow::Result<String> {
        let v = parse_checked(text, &self.config())?;
        let _g = self.guard();
        if self.router.is_local_domain(&v.domain) || self.store.contains(&v.domain)? {
            bail!("{} is served here already: `waxwing tenant change` changes a tenant", v.domain);
        }
        let summary = self.start(&v)?;
        if let Err(e) = self.store.put(&v.domain, text) {
            self.stop(&v.domain, "the tenant could not be stored");
            return Err(e);
        }
        tracing::info!("tenant {} added: {summary}", v.domain);
        Ok(summary)
    }

    /// Certificate, plugins, then the tenant table: served from the last step.
    fn start(&self, v: &VhostConfig) -> anyhow::Result<String> {
        let quotas = self.config().quotas_for(v);
        self.tls.set_vhost(v, &self.data_dir).with_context(|| format!("tenant {}", v.domain))?;
        let summary = match self.router.plugins().add_vhost(v) {
            Ok(s) => s,
            Err(e) => {
                self.tls.remove_vhost(&v.domain);
                return Err(e.context(format!("tenant {}", v.domain)));
            }
        };
        self.router.accounts().set_quota(&v.domain, quotas.accounts);
        self.router.tenants().insert(Tenant::new(v.domain.clone(), quotas));
        Ok(summary)
    }

    /// Changes a tenant added at runtime: its whole table is replaced by
    /// `text`. Sessions stay; new quotas apply from their next stanza.
    pub fn change(&self, text: &str) -> anyhow::Result<String> {
        let cfg = self.config();
        let v = parse_checked(text, &cfg)?;
        let _g = self.guard();
        self.runtime_tenant(&v.domain)?;
        let tenant = self.router.host(&v.domain).ok_or_else(|| anyhow!("{} is not served now", v.domain))?;
        let before = self.store.get(&v.domain)?.map(|t| store::parse(&t)).transpose()?;
        self.tls.set_vhost(&v, &self.data_dir).with_context(|| format!("tenant {}", v.domain))?;
        let summary = match self.router.plugins().change_vhost(&v) {
            Ok(s) => s,
            Err(e) => {
                // The plugins kept serving as they were: so does the certificate.
                if let Some(old) = &before
                    && let Err(undo) = self.tls.set_vhost(old, &self.data_dir)
                {
                    tracing::error!("tenant {}: the old certificate did not load again: {undo:#}", v.domain);
                }
                return Err(e.context(format!("tenant {}", v.domain)));
            }
        };
        self.store.put(&v.domain, text)?;
        let quotas = cfg.quotas_for(&v);
        self.router.accounts().set_quota(&v.domain, quotas.accounts);
        tenant.set_quotas(quotas);
        tracing::info!("tenant {} changed: {summary}", v.domain);
        Ok(summary)
    }

    /// Stops serving a tenant added at runtime: its sessions are closed with
    /// `<host-gone/>`, its plugins stopped, its certificate dropped, and its
    /// data exported and/or deleted as `removal` says.
    pub fn remove(&self, domain: &str, removal: &Removal) -> anyhow::Result<String> {
        let _g = self.guard();
        self.runtime_tenant(domain)?;
        let mut done = Vec::new();
        if let Some(path) = &removal.export_to {
            let hosts = crate::migrate::Migrator::live(
                self.router.plugins().clone(),
                self.router.accounts().clone(),
                self.router.domains(),
            )
            .export(Some(domain))
            .with_context(|| format!("exporting tenant {domain} (it is still served)"))?;
            let users: usize = hosts.iter().map(|h| h.users.len()).sum();
            crate::migrate::write_private(path, crate::migrate::piefxis::write(&hosts).as_bytes())
                .with_context(|| format!("writing {} (tenant {domain} is still served)", path.display()))?;
            done.push(format!("exported {users} accounts to {}", path.display()));
        }
        self.store.delete(domain)?;
        let closed = self.stop(domain, "this host has been removed from the server");
        done.insert(0, format!("removed tenant {domain} ({closed} sessions closed)"));
        if removal.keep_data {
            done.push("its data is kept".to_owned());
        } else {
            self.store.delete_data(domain)?;
            done.push("its data is deleted".to_owned());
        }
        let summary = done.join("; ");
        tracing::info!("{summary}");
        Ok(summary)
    }

    /// Unserves a domain now: the tenant table first (nothing new reaches
    /// it), then its sessions, plugins and certificate. The sessions closed.
    fn stop(&self, domain: &str, why: &str) -> usize {
        let closed = match self.router.tenants().remove(domain) {
            Some(t) => {
                let n = t.sessions.len();
                t.sessions.close_all(StreamErrorCondition::HostGone, why);
                n
            }
            None => 0,
        };
        self.router.plugins().remove_vhost(domain);
        self.tls.remove_vhost(domain);
        self.router.accounts().forget_domain(domain);
        closed
    }

    fn runtime_tenant(&self, domain: &str) -> anyhow::Result<()> {
        if self.file_domains().contains(domain) {
            bail!("{domain} is a [[vhost]] of the config file: change or remove it there, then `waxwing reload`");
        }
        if !self.store.contains(domain)? {
            bail!("there is no tenant {domain}: `waxwing tenant list` lists them");
        }
        Ok(())
    }

    /// A reloaded config file: its tenants added, changed or removed, every
    /// tenant's quotas recomputed, the tenants added at runtime kept. A file
    /// tenant removed from the file stops being served, its data kept.
    /// Nothing changes when anything fails to load.
    pub fn reload(&self, new: Arc<Config>) -> anyhow::Result<Vec<String>> {
        let _g = self.guard();
        let old = self.config();
        let old_file: HashSet<&str> = old.vhosts.iter().map(|v| v.domain.as_str()).collect();
        let new_file: HashSet<&str> = new.vhosts.iter().map(|v| v.domain.as_str()).collect();
        let mut runtime = Vec::new();
        for (v, _) in self.store.load_all()? {
            if new_file.contains(v.domain.as_str()) {
                bail!(
                    "{} is now in the config file but was added at runtime: remove it first \
                     (`waxwing tenant remove {} --keep-data`), then reload",
                    v.domain,
                    v.domain
                );
            }
            runtime.push(v);
        }
        // Certificates of new and changed file tenants load first: a bad
        // one changes nothing but the certificates loaded before it, which
        // are what the file asks for anyway.
        let added: Vec<&VhostConfig> = new.vhosts.iter().filter(|v| !old_file.contains(v.domain.as_str())).collect();
        let undo_added = || {
            for v in &added {
                self.tls.remove_vhost(&v.domain);
            }
        };
        for v in &new.vhosts {
            let before = old.vhosts.iter().find(|o| o.domain == v.domain);
            if before.is_none_or(|o| (&o.cert, &o.key) != (&v.cert, &v.key))
                && let Err(e) = self.tls.set_vhost(v, &self.data_dir)
            {
                undo_added();
                return Err(e.context(format!("vhost {}", v.domain)));
            }
        }
        let mut effective = (*new).clone();
        effective.vhosts.extend(runtime.iter().cloned());
        let plugin_changes = match self.router.plugins().apply_config(&effective) {
            Ok(c) => c,
            Err(e) => {
                undo_added();
                return Err(e);
            }
        };
        let mut changes: Vec<String> =
            plugin_changes.lines().filter(|l| *l != "no plugin changes").map(str::to_owned).collect();
        for v in effective.vhosts.iter() {
            let quotas = new.quotas_for(v);
            self.router.accounts().set_quota(&v.domain, quotas.accounts);
            match self.router.host(&v.domain) {
                Some(t) => {
                    if *t.quotas() != quotas {
                        changes.push(format!("{}: quotas changed", v.domain));
                        t.set_quotas(quotas);
                    }
                }
                None => {
                    self.router.tenants().insert(Tenant::new(v.domain.clone(), quotas));
                }
            }
        }
        for v in added {
            changes.push(format!("tenant {} is served", v.domain));
        }
        for gone in old_file.difference(&new_file) {
            let closed = self.stop(gone, "this host has been removed from the server");
            changes.push(format!(
                "tenant {gone} is no longer served ({closed} sessions closed); its data is kept in the database"
            ));
        }
        *self.config.lock().unwrap_or_else(|p| p.into_inner()) = new;
        changes.sort();
        changes.dedup();
        Ok(changes)
    }
}

/// A tenant's table as given to `add` or `change`: parsed, every path
/// absolute (there is no file its relative paths could be taken from), and
/// checked as the config file's `[[vhost]]` tables are.
fn parse_checked(text: &str, cfg: &Config) -> anyhow::Result<VhostConfig> {
    let v = store::parse(text).context("the tenant's table")?;
    let paths = [v.cert.as_deref(), v.key.as_deref()].into_iter().flatten().map(Path::to_path_buf);
    let sources = v.plugins.iter().filter(|p| p.source != "builtin").map(|p| PathBuf::from(&p.source));
    for p in paths.chain(sources) {
        if p.is_relative() {
            bail!("tenant {}: {} is a relative path: give it from the root (/…)", v.domain, p.display());
        }
    }
    v.validate(&cfg.quotas)?;
    Ok(v)
}

impl super::TenantAdmin for Lifecycle {
    fn list(&self) -> Vec<TenantSummary> {
        Lifecycle::list(self)
    }

    fn add(&self, table: &str) -> anyhow::Result<String> {
        Lifecycle::add(self, table)
    }

    fn change(&self, table: &str) -> anyhow::Result<String> {
        Lifecycle::change(self, table)
    }

    fn remove(&self, domain: &str, removal: &Removal) -> anyhow::Result<String> {
        Lifecycle::remove(self, domain, removal)
    }

    fn is_operator(&self, bare_jid: &str) -> bool {
        self.config().server.operators.iter().any(|o| o == bare_jid)
    }
}
