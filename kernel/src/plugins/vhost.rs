//! The plugins of one virtual host, and the calls the router makes on them.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};

use anyhow::anyhow;
use arc_swap::ArcSwap;
use waxwing_xml::{Element, StanzaError, StanzaErrorCondition, ns};

use super::bindings::waxwing::plugin::disco::HostInfo;
use super::bindings::{stanza_error, stanza_type, types};
use super::commands;
use super::guest::StanzaArg;
use super::instance_pool::{Version, digest_of};
use super::outgoing;
use super::plugin::{PluginEntry, read_source};
use super::plugin_host::HostShared;
use super::routes::{Facts, RouteTable};
use super::runtime_settings::RuntimeSettings;
use super::store::{Effects, Outgoing};
use super::{Address, EventKind, Handling, Origin, Verdict};
use crate::blocking::off_worker;
use crate::config::{PluginConfig, VhostConfig};
use crate::xml::{Stanza, StanzaKind};

mod admin;

pub use admin::ChangeError;

pub struct VhostPlugins {
    domain: String,
    me: Weak<VhostPlugins>,
    host: Arc<HostShared>,
    plugins: ArcSwap<Vec<Arc<PluginEntry>>>,
    table: ArcSwap<RouteTable>,
    host_info: Arc<ArcSwap<HostInfo>>,
    stream_features: ArcSwap<StreamFeatures>,
    /// XEP-0115 `ver` of the host's disco#info as the plugins answer it;
    /// worked out on first use after each rebuild ("" when there is none, so
    /// a host without disco does not ask again at every login).
    caps_ver: ArcSwap<Option<String>>,
    /// Rebuilds read the plugin list and write two derived values; two at
    /// once could leave a stale one last.
    rebuild_lock: Mutex<()>,
    /// The vhost's admins, as bare JIDs: the config's and those added at
    /// runtime (`runtime_settings`).
    admins: ArcSwap<Vec<String>>,
    /// The vhost's table as the config file gives it, before the runtime
    /// settings lie over it: what a runtime change starts from.
    file: ArcSwap<VhostConfig>,
}

fn internal_error() -> StanzaError {
    StanzaError::new(StanzaErrorCondition::InternalServerError)
}

fn facts<'a>(stanza: &'a Stanza, addressed: Address, host: &'a str) -> Facts<'a> {
    let (payload_ns, payload_name) = stanza.payload().map_or(("", ""), |p| (p.ns.as_str(), p.name.as_str()));
    Facts {
        kind: stanza.kind,
        type_: stanza_type(stanza.kind, stanza.type_attr()),
        addressed,
        domain: stanza.to.as_ref().map_or(host, |j| j.domain().as_str()),
        payload_ns,
        payload_name,
        unauthenticated: false,
    }
}

/// The stanza as `plugin` sees it: the address is its own `service` or
/// `elsewhere` depending on whose subdomain the stanza is for.
/// Copied only for a plugin that sees it otherwise (its own subdomain).
fn arg_for<'a>(base: &'a StanzaArg, f: &Facts<'_>, plugin: &PluginEntry) -> Cow<'a, StanzaArg> {
    let service = plugin.version().meta.service_domain.clone();
    let addressed: types::Address = f.addressed_for(service.as_deref()).into();
    if addressed == base.record.addressed {
        return Cow::Borrowed(base);
    }
    let record = types::Stanza { addressed, ..base.record.clone() };
    Cow::Owned(StanzaArg { record, raw_type: base.raw_type.clone() })
}

/// A change `apply_config` prepared for one vhost; nothing serves it yet.
pub(crate) struct Plan {
    list: Vec<Arc<PluginEntry>>,
    swaps: Vec<(Arc<PluginEntry>, Arc<Version>, PluginConfig)>,
    removed: Vec<Arc<PluginEntry>>,
    pub changes: Vec<String>,
    admins: Vec<String>,
    file: VhostConfig,
}

/// The vhost's config with its runtime settings over it, and a way back:
/// the file's alone when the runtime settings cannot be read or no longer
/// load (a plugin upgrade dropped a setting an admin had set), so that a
/// stale runtime change never keeps a vhost from serving. The error says
/// so, in the log, naming what was set aside.
fn with_runtime_settings<T>(
    host: &HostShared,
    file: &VhostConfig,
    load: impl Fn(&VhostConfig) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let effective = match RuntimeSettings::load(&host.storage, &file.domain) {
        Ok(rt) => rt.over(file),
        Err(e) => {
            tracing::error!("vhost {}: {e:#}; using the config file's settings alone", file.domain);
            return load(file);
        }
    };
    if effective.admins == file.admins && effective.plugins.iter().zip(&file.plugins).all(|(a, b)| a.config == b.config)
    {
        return load(file);
    }
    load(&effective).or_else(|e| {
        tracing::error!(
            "vhost {}: the settings changed at runtime no longer load ({e:#}); using the config file's settings \
             alone until an admin changes them again",
            file.domain
        );
        load(file)
    })
}

impl VhostPlugins {
    /// Loads every plugin of the vhost, with the settings changed at
    /// runtime over the file's; the first failure is the error.
    pub(crate) fn start(host: &Arc<HostShared>, file: &VhostConfig) -> anyhow::Result<Arc<VhostPlugins>> {
        with_runtime_settings(host, file, |cfg| Self::start_as(host, file, cfg))
    }

    fn start_as(host: &Arc<HostShared>, file: &VhostConfig, cfg: &VhostConfig) -> anyhow::Result<Arc<VhostPlugins>> {
        let host_info = Arc::new(ArcSwap::from_pointee(HostInfo {
            domain: cfg.domain.clone(),
            features: Vec::new(),
            identities: Vec::new(),
            items: Vec::new(),
            extensions: Vec::new(),
        }));
        // Before the plugins load: they are instantiated with the tenant's limits.
        host.budgets.set(&cfg.domain, &host.limits.load(), &cfg.quotas.over(&host.quotas.load()));
        let mut failure = None;
        let vp = Arc::new_cyclic(|me: &Weak<VhostPlugins>| {
            let mut plugins = Vec::new();
            for p in &cfg.plugins {
                match PluginEntry::load(host, me.clone(), &cfg.domain, host_info.clone(), p) {
                    Ok(e) => plugins.push(e),
                    Err(e) => {
                        failure = Some(e.context(format!("vhost {}, plugin {}", cfg.domain, p.name)));
                        break;
                    }
                }
            }
            VhostPlugins {
                domain: cfg.domain.clone(),
                me: me.clone(),
                host: host.clone(),
                plugins: ArcSwap::from_pointee(plugins),
                table: ArcSwap::from_pointee(RouteTable::default()),
                host_info,
                stream_features: ArcSwap::from_pointee(StreamFeatures::default()),
                caps_ver: ArcSwap::from_pointee(None),
                rebuild_lock: Mutex::new(()),
                admins: ArcSwap::from_pointee(cfg.admins.clone()),
                file: ArcSwap::from_pointee(file.clone()),
            }
        });
        if let Some(e) = failure {
            vp.retire();
            return Err(e);
        }
        check_services(&cfg.domain, &vp.plugins.load())?;
        let versions: Vec<_> = vp.plugins.load().iter().map(|p| (p.name.clone(), p.version())).collect();
        if let Err(e) = check_command_nodes(&cfg.domain, &versions) {
            vp.retire();
            return Err(e);
        }
        vp.rebuild();
        Ok(vp)
    }

    /// Whether `jid` (bare or full) is one of the vhost's admins.
    /// The server's operators count as every vhost's admins: they run what
    /// concerns the whole server from wherever their account is.
    pub fn is_admin(&self, jid: &str) -> bool {
        let bare = jid.split('/').next().unwrap_or_default();
        self.admins.load().iter().any(|a| a == bare)
            || self.host.kernel.get().and_then(|k| k.tenants()).is_some_and(|t| t.is_operator(bare))
    }

    /// The ad-hoc commands of every plugin that `jid` may run, in plugin order.
    pub fn commands_for(&self, jid: &str) -> Vec<super::bindings::waxwing::plugin::commands::Command> {
        let asker = self.asker(jid);
        let mut out = Vec::new();
        for p in self.plugins.load().iter() {
            let v = p.version();
            out.extend(v.meta.commands.iter().filter(|c| commands::may_run(c.audience, &asker)).cloned());
        }
        out
    }

    fn asker(&self, jid: &str) -> commands::Asker {
        let bare = jid.split('/').next().unwrap_or_default();
        let domain = bare.rsplit_once('@').map_or(bare, |(_, d)| d);
        commands::Asker { local: domain == self.domain && bare.contains('@'), admin: self.is_admin(bare) }
    }

    /// A `<command/>` iq to the host: the plugin that declared its node, or
    /// the error for the sender (`item-not-found`, `forbidden`). `None`
    /// when it is no command iq.
    fn command_target(&self, stanza: &Stanza, addressed: Address) -> Option<Result<Arc<PluginEntry>, StanzaError>> {
        if stanza.kind != StanzaKind::Iq || addressed != Address::Host || !matches!(stanza.type_attr(), "get" | "set") {
            return None;
        }
        let payload = stanza.payload().filter(|p| p.ns == commands::NS && p.name == "command")?;
        let node = payload.attr("node").unwrap_or_default();
        let from = stanza.from.as_ref().map(|j| j.to_string()).unwrap_or_default();
        let asker = self.asker(&from);
        for p in self.plugins.load().iter() {
            if let Some(c) = p.version().meta.commands.iter().find(|c| c.node == node) {
                return Some(if commands::may_run(c.audience, &asker) {
                    Ok(p.clone())
                } else {
                    Err(StanzaError::new(StanzaErrorCondition::Forbidden)
                        .with_text("this command is not for you".to_string()))
                });
            }
        }
        Some(Err(StanzaError::new(StanzaErrorCondition::ItemNotFound).with_text(format!("no command {node:?} here"))))
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// Recomputes the route table and the disco aggregate.
    pub(crate) fn rebuild(&self) {
        let _g = self.rebuild_lock.lock().unwrap_or_else(|p| p.into_inner());
        let plugins = self.plugins.load_full();
        self.table.store(Arc::new(RouteTable::build(&plugins)));
        let (info, features) = aggregate(&self.domain, &plugins);
        self.host_info.store(Arc::new(info));
        self.stream_features.store(Arc::new(features));
        self.caps_ver.store(Arc::new(None));
    }

    /// Stream features the plugins declared (serialized elements).
    pub fn stream_features(&self) -> Arc<StreamFeatures> {
        self.stream_features.load_full()
    }

    /// The XEP-0115 `ver` of this host: the hash of the disco#info the
    /// plugins give (so it matches what a client verifies), or `None` when no
    /// plugin answers disco#info.
    pub fn caps_ver(&self) -> Option<String> {
        if let Some(ver) = self.caps_ver.load().as_ref() {
            return (!ver.is_empty()).then(|| ver.clone());
        }
        let ver = self.ask_caps_ver();
        self.caps_ver.store(Arc::new(Some(ver.clone().unwrap_or_default())));
        ver
    }

    fn ask_caps_ver(&self) -> Option<String> {
        let query = Element::new("query", ns::DISCO_INFO);
        let iq = Element::new("iq", ns::CLIENT)
            .with_attr("type", "get")
            .with_attr("id", "caps")
            .with_attr("from", self.domain.as_str())
            .with_attr("to", self.domain.as_str())
            .with_child(query);
        let stanza = Stanza::parse(iq).ok()?;
        let Captured::Reply(reply) = self.handle_captured(&stanza, Address::Host, false) else { return None };
        waxwing_xml::caps::info_ver(reply.child("query", ns::DISCO_INFO)?).ok()
    }

    /// Like [`handle_stanza`](Self::handle_stanza), but a reply comes back to
    /// the caller instead of being routed: for stanzas from a stream that has
    /// no address yet (`unauthenticated`: in-band registration, only to routes
    /// that take such iqs) and for the kernel's own questions.
    pub fn handle_captured(&self, stanza: &Stanza, addressed: Address, unauthenticated: bool) -> Captured {
        let f = Facts { unauthenticated, ..facts(stanza, addressed, &self.domain) };
        let candidates = self.table.load().handlers(&f);
        let base = self.wit_stanza(stanza, addressed);
        for plugin in candidates {
            let arg = arg_for(&base, &f, &plugin);
            let (result, effects) = plugin.call("handle-stanza", |g, s| g.handle_stanza(s, &plugin.name, &arg));
            self.apply_effects(&plugin.name, effects);
            match result {
                Err(_) => return Captured::Error(internal_error()),
                Ok(Err(e)) => return Captured::Error(stanza_error(&plugin.name, &e)),
                Ok(Ok(types::Outcome::Pass)) => continue,
                Ok(Ok(types::Outcome::Done)) => return Captured::Done,
                Ok(Ok(types::Outcome::Reply(xml))) => {
                    return match outgoing::prepare_captured(&xml) {
                        Ok(el) => Captured::Reply(el),
                        Err(msg) => {
                            plugin.failed("handle-stanza", &format!("unusable reply: {msg}"));
                            Captured::Error(internal_error())
                        }
                    };
                }
            }
        }
        Captured::NotHandled
    }

    pub(crate) fn plugins(&self) -> Arc<Vec<Arc<PluginEntry>>> {
        self.plugins.load_full()
    }

    pub(crate) fn plugin(&self, name: &str) -> Option<Arc<PluginEntry>> {
        self.plugins.load().iter().find(|p| p.name == name).cloned()
    }

    /// Cheap pre-filter, no wasm: does any enabled plugin have a route
    /// matching these facts?
    /// Whether a route takes this iq from a stream that has not
    /// authenticated (an iq to the host, with an empty `from`).
    pub fn takes_unauthenticated(&self, iq: &Element) -> bool {
        let payload = iq.elements().next();
        let f = Facts {
            kind: StanzaKind::Iq,
            type_: stanza_type(StanzaKind::Iq, iq.attr("type").unwrap_or("")),
            addressed: Address::Host,
            domain: &self.domain,
            payload_ns: payload.map_or("", |p| p.ns.as_str()),
            payload_name: payload.map_or("", |p| p.name.as_str()),
            unauthenticated: true,
        };
        self.table.load().any_handler(&f)
    }

    pub fn wants(
        &self,
        kind: StanzaKind,
        type_: &str,
        addressed: Address,
        payload_ns: &str,
        payload_name: &str,
    ) -> bool {
        let type_ = stanza_type(kind, type_);
        let f =
            Facts { kind, type_, addressed, domain: &self.domain, payload_ns, payload_name, unauthenticated: false };
        self.table.load().any_handler(&f)
    }

    /// The record every plugin gets (its `addressed` adjusted per plugin by
    /// [`arg_for`]). A type no RFC defines reads as `normal`/`available`
    /// there; routes never matched it, so only "any type" handlers see it.
    fn wit_stanza(&self, stanza: &Stanza, addressed: Address) -> StanzaArg {
        let (payload_ns, payload_name) =
            stanza.payload().map_or((String::new(), String::new()), |p| (p.ns.clone(), p.name.clone()));
        let raw_type = stanza.el.attr("type").unwrap_or("");
        let type_ = stanza_type(stanza.kind, raw_type).unwrap_or(match stanza.kind {
            StanzaKind::Presence => types::StanzaType::Available,
            StanzaKind::Message => types::StanzaType::Normal,
            StanzaKind::Iq => types::StanzaType::Error,
        });
        let record = types::Stanza {
            kind: stanza.kind.into(),
            type_,
            id: stanza.id().unwrap_or("").to_string(),
            from: stanza.from.as_ref().map(|j| j.to_string()).unwrap_or_default(),
            to: stanza.to.as_ref().map_or_else(|| self.domain.clone(), |j| j.to_string()),
            addressed: addressed.into(),
            payload_ns,
            payload_name,
            xml: stanza.el.to_xml(),
        };
        StanzaArg { record, raw_type: raw_type.to_string() }
    }

    /// Whether any handler's route matches this stanza (no wasm).
    pub fn would_handle(&self, stanza: &Stanza, addressed: Address) -> bool {
        !self.table.load().handlers(&facts(stanza, addressed, &self.domain)).is_empty()
    }

    /// Offers the stanza to matching handlers, highest priority first, until
    /// one does not pass.
    pub fn handle_stanza(&self, stanza: &Stanza, addressed: Address) -> Handling {
        let f = facts(stanza, addressed, &self.domain);
        match self.command_target(stanza, addressed) {
            None => {}
            Some(Err(e)) => return Handling::Error(e),
            Some(Ok(plugin)) => {
                let base = self.wit_stanza(stanza, addressed);
                return off_worker(|| self.offer(&[plugin], &base, &f));
            }
        }
        let candidates = self.table.load().handlers(&f);
        if candidates.is_empty() {
            return Handling::NotHandled;
        }
        let base = self.wit_stanza(stanza, addressed);
        // One hand-over off the async worker for the whole offer: the calls
        // inside (and what their replies set off) then cost none each.
        off_worker(|| self.offer(&candidates, &base, &f))
    }

    fn offer(&self, candidates: &[Arc<PluginEntry>], base: &StanzaArg, f: &Facts<'_>) -> Handling {
        for plugin in candidates {
            if !plugin.budget.allows_call() {
                return Handling::Error(
                    StanzaError::new(waxwing_xml::StanzaErrorCondition::ResourceConstraint)
                        .with_text(format!("{} is over its plugin CPU budget: try again shortly", self.domain)),
                );
            }
            let arg = arg_for(base, f, plugin);
            let (result, effects) = plugin.call("handle-stanza", |g, s| g.handle_stanza(s, &plugin.name, &arg));
            let service = plugin.version().meta.service_domain.clone();
            self.register_requests(effects.requests);
            self.route(&plugin.name, effects.outbox);
            let handling = match result {
                Err(_) => Handling::Error(internal_error()),
                Ok(Err(e)) => Handling::Error(stanza_error(&plugin.name, &e)),
                Ok(Ok(types::Outcome::Pass)) => Handling::NotHandled,
                Ok(Ok(types::Outcome::Done)) => Handling::Done,
                Ok(Ok(types::Outcome::Reply(xml))) => match outgoing::prepare(&xml, &self.domain, service.as_deref()) {
                    Ok(el) => {
                        self.route(&plugin.name, vec![Outgoing::One(el)]);
                        Handling::Done
                    }
                    Err(msg) => {
                        plugin.failed("handle-stanza", &format!("unusable reply: {msg}"));
                        Handling::Error(internal_error())
                    }
                },
            };
            // After the reply: an account deleted by this call is closed
            // only once its last answer is on the way.
            self.account_effects(effects.events);
            if handling != Handling::NotHandled {
                return handling;
            }
        }
        Handling::NotHandled
    }

    pub fn has_filters(&self) -> bool {
        self.table.load().has_filters()
    }

    /// The plugins whose filters see this stanza: a route lookup and each
    /// plugin's declared scope, no wasm.
    fn filter_candidates(&self, stanza: &Stanza, f: &Facts<'_>, skip: Option<&str>) -> Vec<Arc<PluginEntry>> {
        let mut candidates = self.table.load().filters(f);
        if candidates.is_empty() {
            return candidates;
        }
        let from = stanza.from.as_ref().map(|j| j.to_bare());
        let to = stanza.to.as_ref().map(|j| j.to_bare());
        let (from, to) = (from.as_ref().map(|j| j.as_str()), to.as_ref().map(|j| j.as_str()));
        // Where the sender is, found out at most once and only if a scope
        // asks: this host and its own services (a room's presence) first.
        let remote = std::cell::OnceCell::new();
        let from_remote = || {
            *remote.get_or_init(|| {
                let Some(d) = stanza.from.as_ref().map(|j| j.domain().as_str()) else { return false };
                d != self.domain
                    && !self.table.load().has_service(d)
                    && self.host.kernel.get().is_some_and(|k| !k.is_local_domain(d))
            })
        };
        candidates
            .retain(|p| Some(p.name.as_str()) != skip && p.shared.filter_scope.admits_from(from, to, from_remote));
        candidates
    }

    /// Whether [`Self::filter`] would call any plugin for this stanza.
    pub fn would_filter(&self, stanza: &Stanza, addressed: Address, skip: Option<&str>) -> bool {
        !self.filter_candidates(stanza, &facts(stanza, addressed, &self.domain), skip).is_empty()
    }

    /// Runs matching filters, highest priority first; the first verdict that
    /// is not `pass` decides. A filter that fails rejects the stanza with
    /// internal-server-error, like any failed plugin call. `skip` names the
    /// plugin that sent the stanza: its own sends are not put to its own
    /// filters, which would see them as a client's and act twice.
    pub fn filter(&self, stanza: &Stanza, addressed: Address, skip: Option<&str>) -> Verdict {
        let f = facts(stanza, addressed, &self.domain);
        let candidates = self.filter_candidates(stanza, &f, skip);
        if candidates.is_empty() {
            return Verdict::Pass;
        }
        let base = self.wit_stanza(stanza, addressed);
        for plugin in candidates {
            let arg = arg_for(&base, &f, &plugin);
            let (result, effects) = plugin.call("filter", |g, s| g.filter(s, &plugin.name, &arg));
            let service = plugin.version().meta.service_domain.clone();
            self.apply_effects(&plugin.name, effects);
            match result {
                Err(_) => return Verdict::Reject(internal_error()),
                Ok(types::Verdict::Pass) => continue,
                Ok(types::Verdict::Drop) => return Verdict::Drop,
                Ok(types::Verdict::Reject(e)) => return Verdict::Reject(stanza_error(&plugin.name, &e)),
                Ok(types::Verdict::Rewrite(xml)) => {
                    let original_from = stanza.el.attr("from");
                    return match outgoing::prepare_rewrite(&xml, original_from, &self.domain, service.as_deref()) {
                        Ok(el) => Verdict::Rewrite(el),
                        Err(msg) => {
                            plugin.failed("filter", &format!("unusable rewrite: {msg}"));
                            Verdict::Reject(internal_error())
                        }
                    };
                }
            }
        }
        Verdict::Pass
    }

    /// Delivers to every enabled plugin that subscribed to this event kind.
    /// `data` is the presence or message of the kinds that carry one.
    pub fn emit(&self, kind: EventKind, jid: &str, data: &str) {
        let subscribers = self.table.load().subscribers(kind);
        if subscribers.is_empty() {
            return;
        }
        let event = event_of(kind, jid, data);
        // One hand-over for every subscriber (a login reaches five).
        off_worker(|| {
            for plugin in subscribers {
                let effects = plugin.deliver(&event);
                self.apply_effects(&plugin.name, effects);
            }
        })
    }

    /// Whether any enabled plugin subscribed to this event kind; lets the
    /// router skip building event data nobody will read.
    pub fn subscribes(&self, kind: EventKind) -> bool {
        self.table.load().any_subscriber(kind)
    }

    /// Full domains of the plugins' service subdomains ("conference.localhost").
    pub fn service_domains(&self) -> Vec<String> {
        self.table.load().service_domains()
    }

    fn route(&self, plugin: &str, stanzas: Vec<Outgoing>) {
        if stanzas.is_empty() {
            return;
        }
        match self.host.kernel.get() {
            Some(k) => {
                let origin = Origin { vhost: &self.domain, plugin };
                for out in stanzas {
                    match out {
                        Outgoing::One(el) => k.route_from_plugin(el, &origin),
                        Outgoing::Many(el, to) => k.route_many_from_plugin(el, to, &origin),
                    }
                }
            }
            None => {
                tracing::warn!(domain = %self.domain, "{} stanzas from plugins dropped: no router attached", stanzas.len())
            }
        }
    }

    /// Routes what a call of `plugin` queued, in order, then lets the kernel
    /// act on the accounts it created or deleted (a deleted account's
    /// sessions close after the call's replies went out) and tell subscribers.
    pub(crate) fn apply_effects(&self, plugin: &str, effects: Effects) {
        if effects.is_empty() {
            return;
        }
        self.register_requests(effects.requests);
        self.route(plugin, effects.outbox);
        self.account_effects(effects.events);
    }

    /// Before their iqs are routed, so that no answer can come first.
    fn register_requests(&self, requests: Vec<super::requests::PendingRequest>) {
        for r in requests {
            self.host.requests.register(r);
        }
    }

    fn account_effects(&self, events: Vec<(EventKind, String)>) {
        if events.is_empty() {
            return;
        }
        let kernel = self.host.kernel.get();
        for (kind, jid) in events {
            match &kernel {
                Some(k) => k.account_changed(&jid, kind == EventKind::UserCreated),
                None => self.emit(kind, &jid, ""),
            }
        }
    }

    /// Stops what outlives calls (timers) for every plugin: the vhost is going.
    pub(crate) fn retire(&self) {
        for p in self.plugins.load().iter() {
            p.retire();
        }
    }

    /// Prepares the changes `cfg` asks for: new plugins loaded, changed ones
    /// rebuilt (sources re-read; migrate when the code changed), nothing
    /// installed yet. Any failure leaves everything as it was.
    pub(crate) fn plan(&self, file: &VhostConfig) -> anyhow::Result<Plan> {
        with_runtime_settings(&self.host, file, |cfg| self.plan_as(file, cfg))
    }

    /// The plan that makes `cfg` serve, `file` being the config file's part of it.
    fn plan_as(&self, file: &VhostConfig, cfg: &VhostConfig) -> anyhow::Result<Plan> {
        let current = self.plugins.load_full();
        let mut plan = Plan {
            list: Vec::new(),
            swaps: Vec::new(),
            removed: Vec::new(),
            changes: Vec::new(),
            admins: Vec::new(),
            file: file.clone(),
        };
        for pc in &cfg.plugins {
            let context = || format!("vhost {}, plugin {}", self.domain, pc.name);
            match current.iter().find(|p| p.name == pc.name) {
                None => {
                    let entry =
                        PluginEntry::load(&self.host, self.me.clone(), &self.domain, self.host_info.clone(), pc)
                            .map_err(|e| e.context(context()))?;
                    plan.changes.push(format!("{}: added {} {}", self.domain, pc.name, entry.version().meta.version()));
                    plan.list.push(entry);
                }
                Some(entry) => {
                    let old_cfg = entry.config();
                    let old = entry.version();
                    let code_changed =
                        digest_of(&read_source(pc).map_err(|e| e.context(context()))?) != old.meta.digest;
                    let settings_changed =
                        old_cfg.source != pc.source || old_cfg.config != pc.config || old_cfg.grants != pc.grants;
                    if code_changed || settings_changed {
                        let v = entry.prepare(pc, code_changed).map_err(|e| e.context(context()))?;
                        plan.changes.push(if code_changed {
                            format!("{}: {} {} -> {}", self.domain, pc.name, old.meta.version(), v.meta.version())
                        } else {
                            format!("{}: reconfigured {}", self.domain, pc.name)
                        });
                        plan.swaps.push((entry.clone(), v, pc.clone()));
                    }
                    plan.list.push(entry.clone());
                }
            }
        }
        for p in current.iter() {
            if !cfg.plugins.iter().any(|pc| pc.name == p.name) {
                plan.changes.push(format!("{}: removed {}", self.domain, p.name));
                plan.removed.push(p.clone());
            }
        }
        // Each plugin's version once the plan is installed.
        let versions: Vec<_> = plan
            .list
            .iter()
            .map(|p| {
                let swapped = plan.swaps.iter().find(|(e, _, _)| Arc::ptr_eq(e, p)).map(|(_, v, _)| v.clone());
                (p.name.clone(), swapped.unwrap_or_else(|| p.version()))
            })
            .collect();
        let services: Vec<_> = versions.iter().map(|(n, v)| (n.clone(), v.meta.service_domain.clone())).collect();
        check_service_names(&self.domain, &services)?;
        check_command_nodes(&self.domain, &versions)?;
        plan.admins = cfg.admins.clone();
        if *self.admins.load_full() != cfg.admins {
            plan.changes.push(format!("{}: admins are now {}", self.domain, cfg.admins.join(", ")));
        }
        Ok(plan)
    }

    /// Installs a prepared plan.
    pub(crate) fn commit(&self, plan: Plan) {
        for (entry, version, cfg) in plan.swaps {
            entry.install(version, cfg);
        }
        self.plugins.store(Arc::new(plan.list));
        self.admins.store(Arc::new(plan.admins));
        self.file.store(Arc::new(plan.file));
        for p in &plan.removed {
            p.retire();
        }
        self.rebuild();
    }
}

/// Two plugins may not declare one command node.
fn check_command_nodes(domain: &str, versions: &[(String, Arc<Version>)]) -> anyhow::Result<()> {
    for (i, (name, v)) in versions.iter().enumerate() {
        for c in &v.meta.commands {
            if let Some((other, _)) =
                versions[..i].iter().find(|(_, o)| o.meta.commands.iter().any(|oc| oc.node == c.node))
            {
                anyhow::bail!(
                    "vhost {domain}: plugins {other} and {name} both declare the ad-hoc command {:?}",
                    c.node
                );
            }
        }
    }
    Ok(())
}

/// Two plugins may not claim one service subdomain.
fn check_services(domain: &str, plugins: &[Arc<PluginEntry>]) -> anyhow::Result<()> {
    let services: Vec<_> = plugins.iter().map(|p| (p.name.clone(), p.version().meta.service_domain.clone())).collect();
    check_service_names(domain, &services)
}

fn check_service_names(domain: &str, services: &[(String, Option<String>)]) -> anyhow::Result<()> {
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for (name, s) in services {
        if let Some(s) = s
            && let Some(other) = seen.insert(s.as_str(), name.as_str())
        {
            return Err(anyhow!("vhost {domain}: plugins {other} and {name} both serve {s}"));
        }
    }
    Ok(())
}

/// Stream features plugins declared, as serialized elements.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StreamFeatures {
    /// Offered after TLS, before authentication (in-band registration).
    pub before_auth: Vec<String>,
    /// Offered with resource binding.
    pub after_auth: Vec<String>,
}

/// A stream feature as it goes on the wire: the element as parsed and
/// serialized again, never the plugin's text.
fn stream_feature(feature: &str) -> Option<String> {
    match Element::parse(feature) {
        Ok(el) => Some(el.to_xml()),
        Err(e) => {
            tracing::warn!("ignoring a declared stream feature that is not XML ({e}): {feature}");
            None
        }
    }
}

/// An event of a subscribed kind as the contract carries it.
fn event_of(kind: EventKind, jid: &str, data: &str) -> types::Event {
    let jid = jid.to_string();
    match kind {
        EventKind::SessionStarted => types::Event::SessionStarted(jid),
        EventKind::SessionEnded => types::Event::SessionEnded(types::SessionEnded {
            jid,
            last_presence: (!data.is_empty()).then(|| data.to_string()),
        }),
        EventKind::PresenceChanged => {
            types::Event::PresenceChanged(types::PresenceChanged { jid, presence: data.to_string() })
        }
        EventKind::UserCreated => types::Event::UserCreated(jid),
        EventKind::UserDeleted => types::Event::UserDeleted(jid),
        EventKind::MessageUndeliverable => types::Event::MessageUndeliverable(data.to_string()),
    }
}

/// What a captured call produced.
#[derive(Debug)]
pub enum Captured {
    Reply(Element),
    Done,
    Error(StanzaError),
    NotHandled,
}

/// What disco shows for the vhost: every enabled plugin's declarations,
/// features deduplicated and sorted, the rest deduplicated in plugin order;
/// and the stream features they declared. A plugin serving a subdomain
/// declares what that service is (a MUC's `conference` identity is not the
/// server's): the host lists the service as an item, named after its first
/// identity, and the plugin answers disco on its own domain.
fn aggregate(domain: &str, plugins: &[Arc<PluginEntry>]) -> (HostInfo, StreamFeatures) {
    let mut features = BTreeSet::new();
    let mut identities = Vec::new();
    let mut items = Vec::new();
    let mut extensions = Vec::new();
    let mut seen_ids = HashSet::new();
    let mut seen_items = HashSet::new();
    let mut seen_ext = HashSet::new();
    let mut stream = StreamFeatures::default();
    for p in plugins.iter().filter(|p| p.is_enabled()) {
        let v = p.version();
        let d = &v.meta.description;
        for f in &v.meta.stream_features {
            let Some(xml) = stream_feature(&f.xml) else { continue };
            let list = match f.stage {
                types::StreamStage::BeforeAuth => &mut stream.before_auth,
                types::StreamStage::AfterAuth => &mut stream.after_auth,
            };
            if !list.contains(&xml) {
                list.push(xml);
            }
        }
        if let Some(service) = &v.meta.service_domain {
            if seen_items.insert((service.clone(), String::new())) {
                let name = d.identities.first().map(|i| i.name.clone()).unwrap_or_default();
                items.push(types::DiscoItem { jid: service.clone(), node: String::new(), name });
            }
            continue;
        }
        features.extend(d.features.iter().cloned());
        for i in &d.identities {
            if seen_ids.insert((i.category.clone(), i.type_.clone(), i.name.clone(), i.lang.clone())) {
                identities.push(i.clone());
            }
        }
        for i in &d.items {
            if seen_items.insert((i.jid.clone(), i.node.clone())) {
                items.push(i.clone());
            }
        }
        for x in &d.extensions {
            if seen_ext.insert(x.clone()) {
                extensions.push(x.clone());
            }
        }
    }
    let info = HostInfo {
        domain: domain.to_string(),
        features: features.into_iter().collect(),
        identities,
        items,
        extensions,
    };
    (info, stream)
}

#[cfg(test)]
mod stream_feature_tests {
    use super::*;

    #[test]
    fn only_well_formed_elements_are_stream_features() {
        assert!(stream_feature("urn:xmpp:ping").is_none());
        assert!(stream_feature("<ver xmlns='urn:xmpp:features:rosterver'").is_none(), "not XML");
        let xml = stream_feature("<ver xmlns=\"urn:xmpp:features:rosterver\"/>").unwrap();
        assert_eq!(xml, "<ver xmlns='urn:xmpp:features:rosterver'/>");
    }

    #[test]
    fn events_carry_their_data() {
        let ended = event_of(EventKind::SessionEnded, "u@h/r", "");
        assert_eq!(ended, types::Event::SessionEnded(types::SessionEnded { jid: "u@h/r".into(), last_presence: None }));
        let m = event_of(EventKind::MessageUndeliverable, "u@h", "<message/>");
        assert_eq!(m, types::Event::MessageUndeliverable("<message/>".into()));
    }
}
