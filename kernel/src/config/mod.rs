//! The server's configuration: a TOML file, or the embedded default when
//! there is none. Every key is known (`deny_unknown_fields`), so a typo is
//! an error that names the key and what is allowed, and [`Config::validate`]
//! checks the values before anything starts: the server never runs half
//! configured.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::Deserialize;

mod diff;
#[cfg(test)]
mod example_tests;
mod federation;
mod quotas;
mod uploads;

pub use diff::*;
pub use federation::{ComponentConfig, S2sSection, StaticRoute, parse_route};
pub use quotas::{QuotaOverrides, Quotas};
pub use uploads::UploadsSection;

/// The plugins a virtual host loads when its config lists none: what a
/// stock client expects of an IM server.
pub const DEFAULT_PLUGINS: &[&str] = &[
    "disco",
    "ping",
    "time",
    "version",
    "roster",
    "offline",
    "carbons",
    "blocking",
    "register",
    "vcard",
    "private",
    "caps",
    "muc",
    "pubsub",
    "pep",
    "http_upload",
    "admin",
    "rpc",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub listen: ListenSection,
    #[serde(default)]
    pub limits: Limits,
    /// Every tenant's quotas; a vhost's `[vhost.quotas]` overrides keys.
    #[serde(default)]
    pub quotas: Quotas,
    #[serde(default)]
    pub tls: TlsSection,
    #[serde(default)]
    pub sasl: SaslSection,
    #[serde(default)]
    pub plugin_limits: PluginLimits,
    #[serde(default)]
    pub s2s: S2sSection,
    #[serde(default)]
    pub http: HttpSection,
    #[serde(default)]
    pub uploads: UploadsSection,
    /// `[[component]]` tables: external components (XEP-0114).
    #[serde(default, rename = "component")]
    pub components: Vec<ComponentConfig>,
    /// `[[vhost]]` tables; one `localhost` host when absent.
    #[serde(default = "default_vhosts", rename = "vhost")]
    pub vhosts: Vec<VhostConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// Where RocksDB, generated certificates and the admin socket live.
    pub data_dir: PathBuf,
    /// error, warn, info, debug or trace.
    pub log_level: String,
    /// Compiled plugins kept between runs; `<data_dir>/plugin-cache` when absent.
    pub plugin_cache_dir: Option<PathBuf>,
    /// Bare JIDs of the server's operators: they run what concerns the whole
    /// server (tenants added and removed, restart, shutdown) from any vhost.
    /// A vhost's `admins` run only their own vhost's commands.
    pub operators: Vec<String>,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            data_dir: PathBuf::from("data"),
            log_level: "info".into(),
            plugin_cache_dir: None,
            operators: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListenSection {
    /// Client ports negotiating STARTTLS (RFC 6120 §5).
    pub c2s: Vec<SocketAddr>,
    /// Client ports speaking TLS from the first byte (XEP-0368).
    pub c2s_direct_tls: Vec<SocketAddr>,
    /// Server-to-server ports negotiating STARTTLS; none by default (the
    /// embedded default serves `localhost`, which no other server can reach).
    pub s2s: Vec<SocketAddr>,
    /// Server-to-server ports speaking TLS from the first byte (XEP-0368).
    pub s2s_direct_tls: Vec<SocketAddr>,
    /// Ports where external components (XEP-0114) connect.
    pub component: Vec<SocketAddr>,
    /// Plain HTTP ports (WebSocket, host-meta): for loopback and a reverse
    /// proxy that terminates TLS, as Prosody's 5280.
    pub http: Vec<SocketAddr>,
    /// HTTPS ports, with each vhost's certificate, as Prosody's 5281.
    pub https: Vec<SocketAddr>,
    /// `/metrics` (Prometheus) and `/health`, for operators: loopback only
    /// by default.
    pub metrics: Vec<SocketAddr>,
    /// The admin control socket; `<data_dir>/admin.sock` when absent.
    pub admin_socket: Option<PathBuf>,
}

impl Default for ListenSection {
    fn default() -> Self {
        ListenSection {
            c2s: vec![SocketAddr::from(([127, 0, 0, 1], 5222))],
            c2s_direct_tls: vec![SocketAddr::from(([127, 0, 0, 1], 5223))],
            s2s: Vec::new(),
            s2s_direct_tls: Vec::new(),
            component: Vec::new(),
            http: vec![SocketAddr::from(([127, 0, 0, 1], 5280))],
            https: vec![SocketAddr::from(([127, 0, 0, 1], 5281))],
            metrics: vec![SocketAddr::from(([127, 0, 0, 1], 5282))],
            admin_socket: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest stanza accepted, in bytes; larger gets `<policy-violation/>`.
    pub max_stanza_bytes: usize,
    /// Deepest element nesting inside a stanza.
    pub max_depth: usize,
    /// Most attributes on one element.
    pub max_attributes: usize,
    /// Time allowed from connect to a bound resource.
    pub negotiation_timeout_secs: u64,
    /// A client silent this long is pinged (XEP-0199)...
    pub ping_interval_secs: u64,
    /// ...and closed with `<connection-timeout/>` if it stays silent this much longer.
    pub ping_timeout_secs: u64,
    /// The server sends a whitespace keepalive when it has written nothing for this long.
    pub keepalive_secs: u64,
    /// Accounts one client address may create by in-band registration
    /// (XEP-0077) per hour; more get `<resource-constraint/>`. 0: no limit.
    pub registrations_per_ip_per_hour: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_stanza_bytes: 256 * 1024,
            max_depth: 32,
            max_attributes: 64,
            negotiation_timeout_secs: 60,
            ping_interval_secs: 300,
            ping_timeout_secs: 60,
            keepalive_secs: 60,
            registrations_per_ip_per_hour: 10,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSection {
    /// Refuse authentication before STARTTLS (RFC 6120 §5.3.1 "mandatory-to-negotiate").
    pub require_starttls: bool,
}

impl Default for TlsSection {
    fn default() -> Self {
        TlsSection { require_starttls: true }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSection {
    /// Origins whose pages may use BOSH and host-meta (CORS); "*": any.
    pub cors_origins: Vec<String>,
    /// Origins whose pages may open XMPP WebSockets; "*": any. A request
    /// without `Origin` (no browser page) is always let through.
    pub websocket_origins: Vec<String>,
    /// Send every WebSocket client to this endpoint instead (RFC 7395
    /// §3.6.1 `see-other-uri`): "wss://xmpp.example.org/xmpp-websocket",
    /// for moving or balancing the service.
    pub websocket_redirect: Option<String>,
}

impl Default for HttpSection {
    fn default() -> Self {
        HttpSection { cors_origins: vec!["*".into()], websocket_origins: vec!["*".into()], websocket_redirect: None }
    }
}

impl HttpSection {
    fn validate(&self) -> anyhow::Result<()> {
        for (key, list) in
            [("http.cors_origins", &self.cors_origins), ("http.websocket_origins", &self.websocket_origins)]
        {
            for o in list {
                let ok = o == "*"
                    || o.split_once("://").is_some_and(|(scheme, rest)| {
                        matches!(scheme, "http" | "https") && !rest.is_empty() && !rest.contains('/')
                    });
                if !ok {
                    bail!(
                        "{key} contains {o:?}: write an origin such as \"https://chat.example.org\" (no path), or \"*\""
                    );
                }
            }
        }
        if let Some(uri) = &self.websocket_redirect {
            let ok = uri.split_once("://").is_some_and(|(scheme, rest)| {
                matches!(scheme, "ws" | "wss") && !rest.is_empty() && !rest.contains([' ', '\'', '"', '<'])
            });
            if !ok {
                bail!(
                    "http.websocket_redirect = {uri:?} is not a WebSocket URL: write one such as \"wss://xmpp.example.org/xmpp-websocket\""
                );
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SaslSection {
    /// PBKDF2 iterations for new SCRAM credentials (RFC 7677 asks at least 4096).
    pub scram_iterations: u32,
    /// Offer PLAIN (only ever over TLS).
    pub allow_plain: bool,
    /// Failed attempts from one address before replies are delayed.
    pub failures_before_delay: u32,
    /// Longest delay, in milliseconds, before a failure is answered.
    pub max_failure_delay_ms: u64,
}

impl Default for SaslSection {
    fn default() -> Self {
        SaslSection { scram_iterations: 4096, allow_plain: true, failures_before_delay: 3, max_failure_delay_ms: 5000 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginLimits {
    /// CPU time a single plugin call may use before it is interrupted (ten
    /// times it in wall time at most: `plugins/call_clock.rs`).
    pub call_timeout_ms: u64,
    /// Linear memory cap per plugin instance.
    pub memory_mib: u64,
    /// Live instances kept per plugin version.
    pub pool_size: usize,
    /// Calls before an instance's store is recycled.
    pub recycle_after_calls: u64,
    /// Consecutive failed calls after which a plugin is disabled.
    pub max_consecutive_failures: u32,
}

impl Default for PluginLimits {
    fn default() -> Self {
        PluginLimits {
            call_timeout_ms: 200,
            memory_mib: 64,
            pool_size: 4,
            recycle_after_calls: 10_000,
            max_consecutive_failures: 20,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VhostConfig {
    pub domain: String,
    /// PEM certificate chain and key; generated under `<data_dir>/tls/` when absent.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Bare JIDs of the host's admins: they run its admin commands
    /// (XEP-0050/XEP-0133), as plugins learn from `host.is-admin`.
    #[serde(default)]
    pub admins: Vec<String>,
    /// Keys of `[quotas]` this vhost sets otherwise.
    #[serde(default)]
    pub quotas: QuotaOverrides,
    /// `[[vhost.plugin]]` tables; the default plugins when absent.
    #[serde(default = "default_plugins", rename = "plugin")]
    pub plugins: Vec<PluginConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(from = "PluginTable")]
pub struct PluginConfig {
    pub name: String,
    /// "builtin" for the plugins shipped inside the binary, or a path to a `.wasm` component.
    pub source: String,
    /// Handed to the plugin's `init` as JSON, checked against the settings
    /// the plugin declares.
    pub config: toml::Table,
    /// Host capabilities granted (`CAPABILITIES`); `None`: what the plugin
    /// asks for in `describe()`, except `accounts`.
    pub grants: Option<Vec<String>>,
}

/// A `[[vhost.plugin]]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PluginTable {
    name: String,
    #[serde(default = "builtin")]
    source: String,
    #[serde(default)]
    config: toml::Table,
    grants: Option<Vec<String>>,
}

impl From<PluginTable> for PluginConfig {
    fn from(t: PluginTable) -> Self {
        PluginConfig { name: t.name, source: t.source, config: t.config, grants: t.grants }
    }
}

/// Capability names a grant may use (the WIT `capability` enum).
/// `uploads` (WIT 2.2) and `server` (WIT 2.3) are granted only by name: the
/// WIT's capability enum cannot grow in a minor, so no plugin can ask for
/// them in `describe()`.
pub const CAPABILITIES: &[&str] =
    &["kv", "mem", "route", "sessions", "accounts", "timers", "disco", "datasets", "uploads", "server"];

fn builtin() -> String {
    "builtin".into()
}

/// `default_plugins.toml`, as parsed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DefaultPlugins {
    plugin: Vec<PluginConfig>,
}

fn default_plugins() -> Vec<PluginConfig> {
    let text = include_str!("default_plugins.toml");
    match toml::from_str::<DefaultPlugins>(text) {
        Ok(d) => d.plugin,
        // The file is part of the binary and a unit test parses it: this
        // cannot fail in a build that passed its tests.
        Err(e) => panic!("config/default_plugins.toml is broken: {e}"),
    }
}

/// The embedded default: a development server for `localhost` on loopback,
/// where anyone may register an account in band (a config file's vhosts
/// keep registration closed unless the operator opens it).
fn default_vhosts() -> Vec<VhostConfig> {
    let mut plugins = default_plugins();
    for p in plugins.iter_mut().filter(|p| p.name == "register") {
        p.config.insert("allow_registration".into(), toml::Value::Boolean(true));
    }
    vec![VhostConfig {
        domain: "localhost".into(),
        cert: None,
        key: None,
        admins: Vec::new(),
        quotas: QuotaOverrides::default(),
        plugins,
    }]
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server: ServerSection::default(),
            listen: ListenSection::default(),
            limits: Limits::default(),
            quotas: Quotas::default(),
            tls: TlsSection::default(),
            sasl: SaslSection::default(),
            plugin_limits: PluginLimits::default(),
            s2s: S2sSection::default(),
            http: HttpSection::default(),
            uploads: UploadsSection::default(),
            components: Vec::new(),
            vhosts: default_vhosts(),
        }
    }
}

/// The environment variable naming the config file when `--config` is not given.
pub const CONFIG_ENV: &str = "WAXWING_CONFIG";
/// The config file used when neither `--config` nor `$WAXWING_CONFIG` names
/// one and this file exists (as prosodyctl looks in /etc/prosody).
pub const DEFAULT_CONFIG_PATH: &str = "/etc/waxwing/waxwing.toml";

/// Where the config came from, in the order they are tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// `--config FILE`.
    Flag(PathBuf),
    /// `$WAXWING_CONFIG`.
    Env(PathBuf),
    /// [`DEFAULT_CONFIG_PATH`], which exists.
    DefaultPath(PathBuf),
    /// No file: the embedded default.
    Embedded,
}

impl ConfigSource {
    /// `--config`, else `$WAXWING_CONFIG` (an empty value counts as unset),
    /// else [`DEFAULT_CONFIG_PATH`] when it exists, else the embedded default.
    pub fn discover(flag: Option<&Path>) -> ConfigSource {
        Self::discover_from(flag, std::env::var_os(CONFIG_ENV), Path::new(DEFAULT_CONFIG_PATH))
    }

    /// [`ConfigSource::discover`] with the environment and default path given, for tests.
    pub fn discover_from(flag: Option<&Path>, env: Option<std::ffi::OsString>, default: &Path) -> ConfigSource {
        if let Some(f) = flag {
            return ConfigSource::Flag(f.to_path_buf());
        }
        if let Some(e) = env.filter(|e| !e.is_empty()) {
            return ConfigSource::Env(PathBuf::from(e));
        }
        if default.is_file() {
            return ConfigSource::DefaultPath(default.to_path_buf());
        }
        ConfigSource::Embedded
    }

    pub fn path(&self) -> Option<&Path> {
        match self {
            ConfigSource::Flag(p) | ConfigSource::Env(p) | ConfigSource::DefaultPath(p) => Some(p),
            ConfigSource::Embedded => None,
        }
    }

    /// Says where the config came from, for messages.
    pub fn describe(&self) -> String {
        match self {
            ConfigSource::Flag(p) => format!("the config file {} (--config)", p.display()),
            ConfigSource::Env(p) => format!("the config file {} (${CONFIG_ENV})", p.display()),
            ConfigSource::DefaultPath(p) => format!("the config file {} (the default path)", p.display()),
            ConfigSource::Embedded => {
                format!("the embedded default config (no --config, no ${CONFIG_ENV}, no {DEFAULT_CONFIG_PATH})")
            }
        }
    }

    /// Loads the config this names; an error says where the path came from.
    pub fn load(&self) -> anyhow::Result<Config> {
        match self {
            ConfigSource::Env(p) => Config::load(p).with_context(|| format!("${CONFIG_ENV} names {}", p.display())),
            other => Config::load_or_default(other.path()),
        }
    }
}

impl Config {
    /// Reads and validates a config file. Relative paths in it are taken
    /// relative to the file's own folder.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading config file {}", path.display()))?;
        let mut cfg = Self::parse(&text).with_context(|| format!("in config file {}", path.display()))?;
        if let Some(base) = path.parent() {
            cfg.rebase(base);
        }
        cfg.validate().with_context(|| format!("in config file {}", path.display()))?;
        Ok(cfg)
    }

    /// Parses TOML text without validating values.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        toml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// The config to use: the file when given, otherwise the embedded default.
    pub fn load_or_default(path: Option<&Path>) -> anyhow::Result<Self> {
        match path {
            Some(p) => Self::load(p),
            None => {
                let cfg = Config::default();
                cfg.validate()?;
                Ok(cfg)
            }
        }
    }

    fn rebase(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.server.data_dir);
        if let Some(p) = self.server.plugin_cache_dir.as_mut() {
            fix(p);
        }
        if let Some(p) = self.listen.admin_socket.as_mut() {
            fix(p);
        }
        if let Some(p) = self.uploads.dir.as_mut() {
            fix(p);
        }
        if let Some(p) = self.s2s.ca_file.as_mut() {
            fix(p);
        }
        for p in self.s2s.pinned.values_mut() {
            fix(p);
        }
        for v in &mut self.vhosts {
            if let Some(p) = v.cert.as_mut() {
                fix(p);
            }
            if let Some(p) = v.key.as_mut() {
                fix(p);
            }
            for pl in &mut v.plugins {
                if pl.source != "builtin" {
                    let mut p = PathBuf::from(&pl.source);
                    fix(&mut p);
                    pl.source = p.to_string_lossy().into_owned();
                }
            }
        }
    }

    pub fn plugin_cache_dir(&self) -> PathBuf {
        self.server.plugin_cache_dir.clone().unwrap_or_else(|| self.server.data_dir.join("plugin-cache"))
    }

    pub fn uploads_dir(&self) -> PathBuf {
        self.uploads.dir.clone().unwrap_or_else(|| self.server.data_dir.join("uploads"))
    }

    pub fn admin_socket(&self) -> PathBuf {
        self.listen.admin_socket.clone().unwrap_or_else(|| self.server.data_dir.join("admin.sock"))
    }

    pub fn vhost(&self, domain: &str) -> Option<&VhostConfig> {
        self.vhosts.iter().find(|v| v.domain == domain)
    }

    /// Checks every value; the error names the key and what is allowed.
    pub fn validate(&self) -> anyhow::Result<()> {
        if !["error", "warn", "info", "debug", "trace"].contains(&self.server.log_level.as_str()) {
            bail!(
                "server.log_level = {:?} is not a level: use one of error, warn, info, debug, trace",
                self.server.log_level
            );
        }
        if self.listen.c2s.is_empty() && self.listen.c2s_direct_tls.is_empty() {
            bail!(
                "listen.c2s and listen.c2s_direct_tls are both empty: give at least one address such as \"127.0.0.1:5222\""
            );
        }
        for o in &self.server.operators {
            check_bare_jid(o).map_err(|fix| anyhow::anyhow!("server.operators contains {o:?}: {fix}"))?;
        }
        let l = &self.limits;
        positive("limits.max_stanza_bytes", l.max_stanza_bytes as u64, 1024)?;
        positive("limits.max_depth", l.max_depth as u64, 4)?;
        positive("limits.max_attributes", l.max_attributes as u64, 4)?;
        positive("limits.negotiation_timeout_secs", l.negotiation_timeout_secs, 1)?;
        positive("limits.ping_interval_secs", l.ping_interval_secs, 1)?;
        positive("limits.ping_timeout_secs", l.ping_timeout_secs, 1)?;
        positive("limits.keepalive_secs", l.keepalive_secs, 1)?;
        if self.sasl.scram_iterations < 4096 {
            bail!("sasl.scram_iterations = {} is too low: RFC 7677 asks for at least 4096", self.sasl.scram_iterations);
        }
        let p = &self.plugin_limits;
        positive("plugin_limits.call_timeout_ms", p.call_timeout_ms, 10)?;
        positive("plugin_limits.memory_mib", p.memory_mib, 1)?;
        positive("plugin_limits.pool_size", p.pool_size as u64, 1)?;
        positive("plugin_limits.recycle_after_calls", p.recycle_after_calls, 1)?;
        positive("plugin_limits.max_consecutive_failures", p.max_consecutive_failures as u64, 1)?;
        if self.vhosts.is_empty() {
            bail!("no [[vhost]] is configured: add one, e.g. [[vhost]] domain = \"example.org\"");
        }
        self.quotas.validate("quotas")?;
        let mut domains = HashSet::new();
        for v in &self.vhosts {
            v.validate(&self.quotas)?;
            if !domains.insert(v.domain.clone()) {
                bail!("vhost.domain = {:?} appears twice: each virtual host must be listed once", v.domain);
            }
        }
        self.s2s.validate(&domains)?;
        self.http.validate()?;
        self.uploads.validate()?;
        federation::validate_components(&self.components, &domains)?;
        Ok(())
    }
}

impl Config {
    /// The quotas that hold for `vhost`: `[quotas]` with its own overrides.
    pub fn quotas_for(&self, vhost: &VhostConfig) -> Quotas {
        vhost.quotas.over(&self.quotas)
    }
}

impl VhostConfig {
    /// Checks one vhost's table as a config file's is checked: at start, on
    /// reload, and for a tenant added while the server runs.
    pub fn validate(&self, quotas: &Quotas) -> anyhow::Result<()> {
        let v = self;
        let domain = jid::DomainPart::new(&v.domain)
            .map_err(|e| anyhow::anyhow!("vhost.domain = {:?} is not a valid domain: {e}", v.domain))?;
        if domain.as_str() != v.domain {
            bail!("vhost.domain = {:?} is not in canonical form: write {:?}", v.domain, domain.as_str());
        }
        for a in &v.admins {
            match jid::BareJid::new(a) {
                Ok(j) if j.node().is_some() && j.to_string() == *a => {}
                Ok(j) if j.node().is_some() => {
                    bail!(
                        "vhost {:?}: admins contains {a:?}, which is not in canonical form: write {:?}",
                        v.domain,
                        j.to_string()
                    )
                }
                _ => bail!(
                    "vhost {:?}: admins contains {a:?}: write a bare JID such as \"admin@{}\"",
                    v.domain,
                    v.domain
                ),
            }
        }
        if v.cert.is_some() != v.key.is_some() {
            bail!("vhost {:?}: give both `cert` and `key`, or neither (a certificate is then generated)", v.domain);
        }
        let mut names = HashSet::new();
        for pl in &v.plugins {
            if pl.name.is_empty() || !pl.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                bail!("vhost {:?}: plugin name {:?} may use only letters, digits, '-' and '_'", v.domain, pl.name);
            }
            if !names.insert(pl.name.as_str()) {
                bail!("vhost {:?}: plugin {:?} is listed twice", v.domain, pl.name);
            }
            for g in pl.grants.iter().flatten() {
                if !CAPABILITIES.contains(&g.as_str()) {
                    bail!(
                        "vhost {:?}, plugin {:?}: grants contains {:?}; allowed: {}",
                        v.domain,
                        pl.name,
                        g,
                        CAPABILITIES.join(", ")
                    );
                }
            }
            if pl.source != "builtin" && !Path::new(&pl.source).is_file() {
                bail!(
                    "vhost {:?}, plugin {:?}: source {:?} is neither \"builtin\" nor an existing .wasm file",
                    v.domain,
                    pl.name,
                    pl.source
                );
            }
        }
        self.quotas.over(quotas).validate(&format!("vhost {:?} quotas", self.domain))?;
        Ok(())
    }
}

/// `Err` with the fix when `text` is no canonical bare JID with a user part.
fn check_bare_jid(text: &str) -> Result<(), String> {
    match jid::BareJid::new(text) {
        Ok(j) if j.node().is_some() && j.to_string() == text => Ok(()),
        Ok(j) if j.node().is_some() => Err(format!("it is not in canonical form: write {:?}", j.to_string())),
        _ => Err("write a bare JID such as \"admin@example.org\"".to_owned()),
    }
}

fn positive(key: &str, value: u64, min: u64) -> anyhow::Result<()> {
    if value < min {
        bail!("{key} = {value} is too small: it must be at least {min}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_is_valid() {
        let c = Config::default();
        c.validate().unwrap();
        assert_eq!(c.vhosts[0].domain, "localhost");
        let names: Vec<&str> = c.vhosts[0].plugins.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, DEFAULT_PLUGINS, "default_plugins.toml lists the embedded plugins");
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::parse("[server]\ndata_dri = \"x\"\n").unwrap_err().to_string();
        assert!(err.contains("data_dri"), "{err}");
        assert!(err.contains("data_dir"), "{err}");
    }

    #[test]
    fn wrong_type_is_named() {
        let err = Config::parse("[limits]\nmax_depth = \"deep\"\n").unwrap_err().to_string();
        assert!(err.contains("max_depth"), "{err}");
        let err = Config::parse("[limits]\nregistrations_per_ip_per_hour = -1\n").unwrap_err().to_string();
        assert!(err.contains("registrations_per_ip_per_hour"), "{err}");
        let err = Config::parse("[[vhost]]\ndomain = \"x.org\"\n[[vhost.plugin]]\nname = \"p\"\ngrant = []\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("grant") && err.contains("grants"), "{err}");
    }

    #[test]
    fn omitted_grants_follow_the_plugin_and_only_register_admin_and_rpc_are_granted_accounts_by_default() {
        let c = Config::parse(
            "[[vhost]]\ndomain = \"x.org\"\n[[vhost.plugin]]\nname = \"register\"\n\
             [[vhost.plugin]]\nname = \"private\"\ngrants = [\"kv\"]\n",
        )
        .unwrap();
        assert_eq!(c.vhosts[0].plugins[0].grants, None, "derived from describe() at load");
        assert_eq!(c.vhosts[0].plugins[1].grants, Some(vec!["kv".to_string()]));
        for p in &Config::default().vhosts[0].plugins {
            let accounts = p.grants.iter().flatten().any(|g| g == "accounts");
            assert_eq!(accounts, ["register", "admin", "rpc"].contains(&p.name.as_str()), "{}", p.name);
        }
    }

    #[test]
    fn bad_values_are_named() {
        let cases = [
            ("[server]\nlog_level = \"loud\"\n", "server.log_level"),
            ("[limits]\nmax_stanza_bytes = 10\n", "limits.max_stanza_bytes"),
            ("[sasl]\nscram_iterations = 10\n", "sasl.scram_iterations"),
            ("[[vhost]]\ndomain = \"a b\"\n", "vhost.domain"),
            ("[[vhost]]\ndomain = \"x.org\"\n[[vhost]]\ndomain = \"x.org\"\n", "appears twice"),
            ("[[vhost]]\ndomain = \"x.org\"\n[[vhost.plugin]]\nname = \"p\"\ngrants = [\"root\"]\n", "grants"),
            (
                "[[vhost]]\ndomain = \"x.org\"\n[[vhost.plugin]]\nname = \"p\"\nsource = \"/nonexistent.wasm\"\n",
                "source",
            ),
            ("[[vhost]]\ndomain = \"x.org\"\ncert = \"a.pem\"\n", "both `cert` and `key`"),
            ("[s2s]\nroutes = { \"b.org\" = \"nowhere\" }\n", "s2s.routes.\"b.org\""),
            ("[http]\ncors_origins = [\"chat.example.org\"]\n", "http.cors_origins"),
            ("[http]\nwebsocket_origins = [\"https://a.example/page\"]\n", "http.websocket_origins"),
            ("[s2s]\nroutes = { \"localhost\" = \"h:1\" }\n", "served here"),
            ("[s2s]\npinned = { \"b.org\" = \"/nonexistent.pem\" }\n", "s2s.pinned"),
            ("[s2s]\nca_file = \"/nonexistent.pem\"\n", "s2s.ca_file"),
            ("[s2s]\nconnect_timeout_secs = 0\n", "s2s.connect_timeout_secs"),
            ("[s2s]\ndialback = false\n", "s2s.require_valid_certificate"),
            ("[[component]]\ndomain = \"c.org\"\nsecret = \"short\"\n", "secret is too short"),
            ("[[component]]\ndomain = \"localhost\"\nsecret = \"long enough\"\n", "is a [[vhost]]"),
            ("[[component]]\ndomain = \"c d\"\nsecret = \"long enough\"\n", "component.domain"),
        ];
        for (text, want) in cases {
            let err = Config::parse(text).and_then(|c| c.validate()).unwrap_err().to_string();
            assert!(err.contains(want), "{text:?} gave {err}");
        }
    }

    #[test]
    fn config_discovery_order() {
        let dir = crate::testutil::tempdir("config-discovery");
        let default = dir.join("waxwing.toml");
        let flag = Path::new("flag.toml");
        let env = Some(std::ffi::OsString::from("env.toml"));
        let d = |f: Option<&Path>, e: Option<std::ffi::OsString>| ConfigSource::discover_from(f, e, &default);
        assert_eq!(d(Some(flag), env.clone()), ConfigSource::Flag(flag.into()), "--config wins");
        assert_eq!(d(None, env.clone()), ConfigSource::Env("env.toml".into()));
        assert_eq!(d(None, None), ConfigSource::Embedded, "the default path is used only when it exists");
        assert_eq!(d(None, Some("".into())), ConfigSource::Embedded, "an empty variable is unset");
        std::fs::write(&default, "").unwrap();
        assert_eq!(d(None, None), ConfigSource::DefaultPath(default.clone()));
        assert_eq!(d(None, env), ConfigSource::Env("env.toml".into()), "the variable beats the default path");
        let err = format!("{:#}", ConfigSource::Env(dir.join("missing.toml")).load().unwrap_err());
        assert!(err.contains("WAXWING_CONFIG") && err.contains("missing.toml"), "{err}");
        assert!(ConfigSource::Embedded.describe().contains(DEFAULT_CONFIG_PATH));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn relative_paths_follow_the_file() {
        let dir = crate::testutil::tempdir("config");
        let file = dir.join("waxwing.toml");
        std::fs::write(&file, "[server]\ndata_dir = \"state\"\n").unwrap();
        let c = Config::load(&file).unwrap();
        assert_eq!(c.server.data_dir, dir.join("state"));
        assert_eq!(c.plugin_cache_dir(), dir.join("state").join("plugin-cache"));
        std::fs::write(&file, "[server]\nplugin_cache_dir = \"cache\"\n").unwrap();
        assert_eq!(Config::load(&file).unwrap().plugin_cache_dir(), dir.join("cache"));
        std::fs::write(&file, "[server]\ndata_dir = \"state\"\n").unwrap();
        let c = Config::load(&file).unwrap();
        assert_eq!(c.admin_socket(), dir.join("state").join("admin.sock"));
    }
}
