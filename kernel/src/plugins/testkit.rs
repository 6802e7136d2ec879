//! Test harness: a plugin host over a fresh database, a recording kernel,
//! and the components `kernel/build.rs` builds into `target/plugins`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use waxwing_xml::Element;

use super::{Address, Handling, Kernel, PluginHost, SessionInfo, VhostPlugins};
use crate::accounts::Accounts;
use crate::config::{Config, PluginConfig, PluginLimits, VhostConfig};
use crate::storage::Storage;
use crate::xml::Stanza;

/// A component built by `kernel/build.rs`; fails the test with a hint when missing.
pub fn wasm(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/plugins/wasm32-wasip2/release")
        .join(format!("{name}.wasm"));
    assert!(p.is_file(), "{} is missing: `cargo build` runs kernel/build.rs, which builds the plugins", p.display());
    p
}

pub fn plugin(name: &str, file: &str, grants: &[&str]) -> PluginConfig {
    PluginConfig {
        name: name.into(),
        source: wasm(file).to_string_lossy().into_owned(),
        config: toml::Table::new(),
        grants: Some(grants.iter().map(|g| g.to_string()).collect()),
    }
}

pub fn config(vhosts: Vec<(&str, Vec<PluginConfig>)>, limits: PluginLimits) -> Config {
    let vhosts = vhosts
        .into_iter()
        .map(|(domain, plugins)| VhostConfig {
            domain: domain.into(),
            cert: None,
            key: None,
            admins: Vec::new(),
            quotas: Default::default(),
            plugins,
        })
        .collect();
    let mut cfg = Config { plugin_limits: limits, vhosts, ..Config::default() };
    cfg.server.plugin_cache_dir = Some(shared_plugin_cache());
    cfg
}

/// The compiled-plugin cache every test shares (and the end-to-end tests
/// too): inside the target dir, never the source tree.
pub fn shared_plugin_cache() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/plugin-cache")
}

/// Records what plugins route; answers `sessions_of` from a fixed table.
#[derive(Default)]
pub struct RecordingKernel {
    pub routed: Mutex<Vec<Element>>,
    pub sessions: Mutex<HashMap<String, Vec<SessionInfo>>>,
}

impl RecordingKernel {
    pub fn take(&self) -> Vec<Element> {
        std::mem::take(&mut *self.routed.lock().unwrap())
    }
}

impl Kernel for RecordingKernel {
    fn sessions_of(&self, bare_jid: &str) -> Vec<SessionInfo> {
        self.sessions.lock().unwrap().get(bare_jid).cloned().unwrap_or_default()
    }

    fn route_from_plugin(&self, stanza: Element, _origin: &super::Origin<'_>) {
        self.routed.lock().unwrap().push(stanza);
    }

    fn account_changed(&self, _bare_jid: &str, _created: bool) {}
}

pub struct Harness {
    pub host: Arc<PluginHost>,
    pub kernel: Arc<RecordingKernel>,
    pub storage: Storage,
    pub dir: PathBuf,
}

impl Harness {
    pub fn try_start(cfg: &Config) -> anyhow::Result<Harness> {
        let dir = crate::testutil::tempdir("plugins");
        let storage = Storage::open(&dir)?;
        let accounts = Accounts::new(storage.clone(), 4096);
        let host = PluginHost::start(cfg, storage.clone(), accounts)?;
        let kernel = Arc::new(RecordingKernel::default());
        let weak: std::sync::Weak<dyn Kernel> = Arc::downgrade(&(kernel.clone() as Arc<dyn Kernel>));
        host.attach(weak);
        Ok(Harness { host, kernel, storage, dir })
    }

    pub fn start(cfg: &Config) -> Harness {
        match Self::try_start(cfg) {
            Ok(h) => h,
            Err(e) => panic!("starting the plugin host: {e:#}"),
        }
    }

    pub fn vhost(&self, domain: &str) -> Arc<VhostPlugins> {
        self.host.vhost(domain).expect("the vhost is configured")
    }

    /// Sends an iq to the vhost and returns the handling and what was routed.
    pub fn iq(&self, domain: &str, type_: &str, payload: &str) -> (Handling, Vec<Element>) {
        self.iq_with_id(domain, type_, payload, "1")
    }

    pub fn iq_with_id(&self, domain: &str, type_: &str, payload: &str, id: &str) -> (Handling, Vec<Element>) {
        let s = iq(domain, type_, payload, id);
        let h = self.vhost(domain).handle_stanza(&s, Address::Host);
        (h, self.kernel.take())
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn iq(domain: &str, type_: &str, payload: &str, id: &str) -> Stanza {
    let xml =
        format!("<iq xmlns='jabber:client' type='{type_}' id='{id}' from='u@{domain}/r' to='{domain}'>{payload}</iq>");
    match Stanza::parse(Element::parse(&xml).expect("test stanza is XML")) {
        Ok(s) => s,
        Err((_, e)) => panic!("test stanza: {e}"),
    }
}

/// The single child of the single routed reply.
pub fn reply_payload(routed: &[Element]) -> Element {
    assert_eq!(routed.len(), 1, "expected one routed stanza, got {routed:?}");
    routed[0].first_element().cloned().unwrap_or_else(|| panic!("reply has no payload: {}", routed[0]))
}

pub fn limits() -> PluginLimits {
    PluginLimits {
        call_timeout_ms: 200,
        memory_mib: 32,
        pool_size: 4,
        recycle_after_calls: 10_000,
        max_consecutive_failures: 20,
    }
}
