//! The plugins of one virtual host, and the calls the router makes on them.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};

use anyhow::anyhow;
use arc_swap::ArcSwap;
use waxwing_xml::{Element, StanzaError, StanzaErrorCondition, ns};

use super::bindings::waxwing::plugin::sessions::HostInfo;
use super::bindings::{stanza_error, types};
use super::instance_pool::{Version, digest_of};
use super::outgoing;
use super::plugin::{PluginEntry, read_source};
use super::plugin_host::HostShared;
use super::routes::{Facts, RouteTable};
use super::store::Effects;
use super::{Address, EventKind, Handling, Origin, Verdict};
use crate::config::{PluginConfig, VhostConfig};
use crate::xml::{Stanza, StanzaKind};

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
}

fn internal_error() -> StanzaError {
    StanzaError::new(StanzaErrorCondition::InternalServerError)
}

fn facts(stanza: &Stanza, addressed: Address) -> Facts<'_> {
    let (payload_ns, payload_name) = stanza.payload().map_or(("", ""), |p| (p.ns.as_str(), p.name.as_str()));
    Facts { kind: stanza.kind, type_: stanza.type_attr(), addressed, payload_ns, payload_name }
}

/// A change `apply_config` prepared for one vhost; nothing serves it yet.
pub(crate) struct Plan {
    list: Vec<Arc<PluginEntry>>,
    swaps: Vec<(Arc<PluginEntry>, Arc<Version>, PluginConfig)>,
    removed: Vec<Arc<PluginEntry>>,
    pub changes: Vec<String>,
}

impl VhostPlugins {
    /// Loads every plugin of the vhost; the first failure is the error.
    pub(crate) fn start(host: &Arc<HostShared>, cfg: &VhostConfig) -> anyhow::Result<Arc<VhostPlugins>> {
        let host_info = Arc::new(ArcSwap::from_pointee(HostInfo {
            domain: cfg.domain.clone(),
            features: Vec::new(),
            identities: Vec::new(),
            items: Vec::new(),
            extensions: Vec::new(),
        }));
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
            }
        });
        if let Some(e) = failure {
            vp.retire();
            return Err(e);
        }
        check_services(&cfg.domain, &vp.plugins.load())?;
        vp.rebuild();
        Ok(vp)
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
        let Captured::Reply(reply) = self.handle_captured(&stanza, Address::Host) else { return None };
        waxwing_xml::caps::info_ver(reply.child("query", ns::DISCO_INFO)?).ok()
    }

    /// Like [`handle_stanza`](Self::handle_stanza), but a reply comes back to
    /// the caller instead of being routed: for stanzas from a stream that has
    /// no address yet (in-band registration) and for the kernel's own questions.
    pub fn handle_captured(&self, stanza: &Stanza, addressed: Address) -> Captured {
        let candidates = self.table.load().handlers(&facts(stanza, addressed));
        let record = self.wit_stanza(stanza, addressed);
        for plugin in candidates {
            let (result, effects) = plugin.call("handle-stanza", |g, s| g.call_handle_stanza(s, &record));
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
    pub fn wants(
        &self,
        kind: StanzaKind,
        type_: &str,
        addressed: Address,
        payload_ns: &str,
        payload_name: &str,
    ) -> bool {
        self.table.load().any_handler(&Facts { kind, type_, addressed, payload_ns, payload_name })
    }

    fn wit_stanza(&self, stanza: &Stanza, addressed: Address) -> types::Stanza {
        let (payload_ns, payload_name) =
            stanza.payload().map_or((String::new(), String::new()), |p| (p.ns.clone(), p.name.clone()));
        types::Stanza {
            kind: stanza.kind.into(),
            type_: stanza.el.attr("type").unwrap_or("").to_string(),
            id: stanza.id().unwrap_or("").to_string(),
            from: stanza.from.as_ref().map(|j| j.to_string()).unwrap_or_default(),
            to: stanza.to.as_ref().map_or_else(|| self.domain.clone(), |j| j.to_string()),
            addressed: addressed.into(),
            payload_ns,
            payload_name,
            xml: stanza.el.to_xml(),
        }
    }

    /// Offers the stanza to matching handlers, highest priority first, until
    /// one does not pass.
    pub fn handle_stanza(&self, stanza: &Stanza, addressed: Address) -> Handling {
        let candidates = self.table.load().handlers(&facts(stanza, addressed));
        if candidates.is_empty() {
            return Handling::NotHandled;
        }
        let record = self.wit_stanza(stanza, addressed);
        for plugin in candidates {
            let (result, effects) = plugin.call("handle-stanza", |g, s| g.call_handle_stanza(s, &record));
            let service = plugin.version().meta.service_domain.clone();
            self.route(&plugin.name, effects.outbox);
            let handling = match result {
                Err(_) => Handling::Error(internal_error()),
                Ok(Err(e)) => Handling::Error(stanza_error(&plugin.name, &e)),
                Ok(Ok(types::Outcome::Pass)) => Handling::NotHandled,
                Ok(Ok(types::Outcome::Done)) => Handling::Done,
                Ok(Ok(types::Outcome::Reply(xml))) => match outgoing::prepare(&xml, &self.domain, service.as_deref()) {
                    Ok(el) => {
                        self.route(&plugin.name, vec![el]);
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

    /// Runs matching filters, highest priority first; the first verdict that
    /// is not `pass` decides. A filter that fails rejects the stanza with
    /// internal-server-error, like any failed plugin call. `skip` names the
    /// plugin that sent the stanza: its own sends are not put to its own
    /// filters, which would see them as a client's and act twice.
    pub fn filter(&self, stanza: &Stanza, addressed: Address, skip: Option<&str>) -> Verdict {
        let mut candidates = self.table.load().filters(&facts(stanza, addressed));
        if candidates.is_empty() {
            return Verdict::Pass;
        }
        let from = stanza.from.as_ref().map(|j| j.to_bare());
        let to = stanza.to.as_ref().map(|j| j.to_bare());
        let (from, to) = (from.as_ref().map(|j| j.as_str()), to.as_ref().map(|j| j.as_str()));
        candidates.retain(|p| Some(p.name.as_str()) != skip && p.shared.filter_scope.admits(from, to));
        if candidates.is_empty() {
            return Verdict::Pass;
        }
        let record = self.wit_stanza(stanza, addressed);
        for plugin in candidates {
            let (result, effects) = plugin.call("filter", |g, s| g.call_filter(s, &record));
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
    pub fn emit(&self, kind: EventKind, jid: &str, data: &str) {
        let subscribers = self.table.load().subscribers(kind);
        for plugin in subscribers {
            let effects = plugin.deliver(kind, jid, data);
            self.apply_effects(&plugin.name, effects);
        }
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

    fn route(&self, plugin: &str, stanzas: Vec<waxwing_xml::Element>) {
        if stanzas.is_empty() {
            return;
        }
        match self.host.kernel.get() {
            Some(k) => {
                let origin = Origin { vhost: &self.domain, plugin };
                for el in stanzas {
                    k.route_from_plugin(el, &origin);
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
        self.route(plugin, effects.outbox);
        self.account_effects(effects.events);
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
    pub(crate) fn plan(&self, cfg: &VhostConfig) -> anyhow::Result<Plan> {
        let current = self.plugins.load_full();
        let mut plan = Plan { list: Vec::new(), swaps: Vec::new(), removed: Vec::new(), changes: Vec::new() };
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
        let services: Vec<_> = plan
            .list
            .iter()
            .map(|p| {
                let swapped = plan.swaps.iter().find(|(e, _, _)| Arc::ptr_eq(e, p)).map(|(_, v, _)| v.clone());
                (p.name.clone(), swapped.unwrap_or_else(|| p.version()).meta.service_domain.clone())
            })
            .collect();
        check_service_names(&self.domain, &services)?;
        Ok(plan)
    }

    /// Installs a prepared plan.
    pub(crate) fn commit(&self, plan: Plan) {
        for (entry, version, cfg) in plan.swaps {
            entry.install(version, cfg);
        }
        self.plugins.store(Arc::new(plan.list));
        for p in &plan.removed {
            p.retire();
        }
        self.rebuild();
    }
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

/// The one stream feature offered before authentication: XEP-0077's.
const REGISTER_FEATURE_NS: &str = "http://jabber.org/features/iq-register";

/// A declared feature that is a serialized element is a stream feature
/// (the WIT's convention). What goes on the wire is the element as parsed
/// and serialized again, never the plugin's text.
fn stream_feature(feature: &str) -> Option<(Element, String)> {
    if !feature.starts_with('<') {
        return None;
    }
    match Element::parse(feature) {
        Ok(el) => {
            let xml = el.to_xml();
            Some((el, xml))
        }
        Err(e) => {
            tracing::warn!("ignoring a declared stream feature that is not XML ({e}): {feature}");
            None
        }
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
/// and the stream features they declared.
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
        for f in &d.features {
            match stream_feature(f) {
                None => {
                    features.insert(f.clone());
                }
                Some((el, xml)) => {
                    let list =
                        if el.ns == REGISTER_FEATURE_NS { &mut stream.before_auth } else { &mut stream.after_auth };
                    if !list.contains(&xml) {
                        list.push(xml);
                    }
                }
            }
        }
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
        assert!(stream_feature("urn:xmpp:ping").is_none(), "a disco feature");
        assert!(stream_feature("<ver xmlns='urn:xmpp:features:rosterver'").is_none(), "not XML");
        let (el, xml) = stream_feature("<ver xmlns='urn:xmpp:features:rosterver'/>").unwrap();
        assert_eq!((el.name.as_str(), el.ns.as_str()), ("ver", "urn:xmpp:features:rosterver"));
        assert_eq!(xml, "<ver xmlns='urn:xmpp:features:rosterver'/>");
    }
}
