//! Who is online, and where each stanza goes (RFC 6120 §10, RFC 6121 §8).
//!
//! The router owns the session table of every virtual host. A stanza is
//! offered to the plugins that subscribed to it first; what no plugin takes
//! gets the kernel's default treatment, which is what the RFCs require of a
//! server with no extensions loaded.

mod counts;
mod deliver;
mod edge;
mod fanout;
mod filters;
mod presence;
mod sessions;

use std::cell::Cell;
use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use jid::Jid;
use waxwing_xml::{Element, StanzaError, StanzaErrorCondition as Cond, StreamErrorCondition, ns};

use crate::accounts::Accounts;
use crate::config::Quotas;
use crate::plugins::{Address, EventKind, Handling, Kernel, Origin, PluginHost, SessionInfo, StopRequest};
use crate::tenants::{Tenant, TenantAdmin, Tenants};
use crate::xml::{Stanza, StanzaKind};
use filters::Filtered;

pub use counts::Source;
pub use edge::{DomainTaken, RemoteServers};
pub use sessions::{BindError, Outbound, Session, SessionTable};

/// Routing from inside routing (a plugin replying to a plugin replying to
/// ...) is cut off here rather than recursing without bound.
const MAX_ROUTING_DEPTH: u32 = 16;

thread_local! {
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// One level of routing-from-inside-routing; dropping it leaves the level.
struct Depth;

impl Depth {
    /// `None` (and the stanza dropped, logged) when plugins answering plugins
    /// went too deep.
    fn enter(stanza: &Stanza) -> Option<Depth> {
        let depth = DEPTH.with(|d| d.get());
        if depth >= MAX_ROUTING_DEPTH {
            tracing::warn!("routing loop cut at depth {depth}: dropped {}", stanza.el);
            return None;
        }
        DEPTH.with(|d| d.set(depth + 1));
        Some(Depth)
    }
}

impl Drop for Depth {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

pub struct Router {
    /// The domains served, each with its session table and quotas;
    /// tenants come and go while the server runs.
    tenants: Arc<Tenants>,
    plugins: Arc<PluginHost>,
    accounts: Accounts,
    components: edge::Components,
    /// Every configured component's domain, connected or not.
    component_domains: HashSet<String>,
    remote: OnceLock<Arc<dyn RemoteServers>>,
    stanzas: counts::StanzaCounts,
    /// The latest stop a plugin asked for; the server's main loop watches it.
    stop: tokio::sync::watch::Sender<Option<StopRequest>>,
    /// Adding and removing tenants, for operators' commands (held weakly:
    /// it holds the router).
    tenant_admin: OnceLock<std::sync::Weak<dyn TenantAdmin>>,
}

impl Router {
    pub fn new(domains: impl IntoIterator<Item = String>, plugins: Arc<PluginHost>, accounts: Accounts) -> Arc<Self> {
        Self::with_components(domains, Vec::new(), plugins, accounts)
    }

    /// A router that also hands stanzas for `component_domains` to the
    /// external components that connect for them.
    pub fn with_components(
        domains: impl IntoIterator<Item = String>,
        component_domains: impl IntoIterator<Item = String>,
        plugins: Arc<PluginHost>,
        accounts: Accounts,
    ) -> Arc<Self> {
        let tenants = Tenants::new(domains.into_iter().map(|d| Tenant::new(d, Quotas::default())));
        Self::with_tenants(Arc::new(tenants), component_domains, plugins, accounts)
    }

    /// A router for these tenants, which may change while it runs.
    pub fn with_tenants(
        tenants: Arc<Tenants>,
        component_domains: impl IntoIterator<Item = String>,
        plugins: Arc<PluginHost>,
        accounts: Accounts,
    ) -> Arc<Self> {
        let router = Arc::new(Router {
            tenants,
            plugins,
            accounts,
            components: edge::Components::default(),
            component_domains: component_domains.into_iter().collect(),
            remote: OnceLock::new(),
            stanzas: counts::StanzaCounts::default(),
            stop: tokio::sync::watch::Sender::new(None),
            tenant_admin: OnceLock::new(),
        });
        let weak: std::sync::Weak<dyn Kernel> = Arc::downgrade(&(router.clone() as Arc<dyn Kernel>));
        router.plugins.attach(weak);
        router
    }

    /// Lets operators' commands add and remove tenants; the first call wins.
    pub fn attach_tenant_admin(&self, admin: std::sync::Weak<dyn TenantAdmin>) {
        let _ = self.tenant_admin.set(admin);
    }

    /// The stops plugins ask for (`server.shutdown`), the latest first.
    pub fn stop_requests(&self) -> tokio::sync::watch::Receiver<Option<StopRequest>> {
        self.stop.subscribe()
    }

    pub fn serves(&self, domain: &str) -> bool {
        self.tenants.contains(domain)
    }

    /// The tenant serving `domain`, with its session table.
    pub fn host(&self, domain: &str) -> Option<Arc<Tenant>> {
        self.tenants.get(domain)
    }

    pub fn tenants(&self) -> &Arc<Tenants> {
        &self.tenants
    }

    pub fn domains(&self) -> Vec<String> {
        self.tenants.domains()
    }

    /// An account was created or deleted outside the plugins (admin channel):
    /// tell the plugins, and close a deleted account's sessions.
    pub fn account_event(&self, bare_jid: &str, created: bool) {
        let Ok(bare) = jid::BareJid::new(bare_jid) else { return };
        let domain = bare.domain().as_str();
        if !created && let (Some(node), Some(tenant)) = (bare.node(), self.tenants.get(domain)) {
            for s in tenant.sessions.of(node.as_str()) {
                s.send(Outbound::Close(StreamErrorCondition::NotAuthorized, Some("the account was deleted".into())));
            }
        }
        if let Some(vp) = self.plugins.vhost(domain) {
            let kind = if created { EventKind::UserCreated } else { EventKind::UserDeleted };
            vp.emit(kind, bare.as_str(), "");
        }
    }

    pub fn plugins(&self) -> &Arc<PluginHost> {
        &self.plugins
    }

    pub fn accounts(&self) -> &Accounts {
        &self.accounts
    }

    /// Every session on every host: for shutdown.
    pub fn close_all(&self, condition: StreamErrorCondition, text: &str) {
        for tenant in self.tenants.all() {
            tenant.sessions.close_all(condition, text);
        }
    }

    /// Stanzas routed so far, by where they entered and their kind.
    pub fn stanza_counts(&self) -> Vec<(Source, StanzaKind, u64)> {
        self.stanzas.snapshot()
    }

    pub fn session_count(&self) -> usize {
        self.tenants.all().iter().map(|t| t.sessions.len()).sum()
    }

    /// A stanza from a bound client. `Err` means the stream must close with that error.
    pub fn from_client(&self, session: &Arc<Session>, el: Element) -> Result<(), (StreamErrorCondition, String)> {
        if el.ns != ns::CLIENT || StanzaKind::from_name(&el.name).is_none() {
            return Err((
                StreamErrorCondition::UnsupportedStanzaType,
                format!("<{}/> in '{}' is not a stanza this server handles", el.name, el.ns),
            ));
        }
        // RFC 6120 §8.1.2.1: the server stamps `from`; a client may only name itself.
        if let Some(claimed) = el.attr("from") {
            let ok = Jid::new(claimed).is_ok_and(|j| j == session.jid || j == session.jid.to_bare());
            if !ok {
                return Err((StreamErrorCondition::InvalidFrom, format!("'{claimed}' is not this session's address")));
            }
        }
        if let Some(kind) = StanzaKind::from_name(&el.name) {
            self.stanzas.count(Source::Client, kind);
        }
        let sender = Jid::from(session.jid.clone());
        let mut stanza = match Stanza::parse_from(el, Some(&sender)) {
            Ok(s) => s,
            Err((el, err)) => {
                self.deliver_to_session(session, &err.reply_to(&el));
                return Ok(());
            }
        };
        if let Err(err) = check_semantics(&stanza) {
            self.deliver_to_session(session, &stanza.error_reply(&err));
            return Ok(());
        }
        if stanza.to.is_none() {
            match stanza.kind {
                StanzaKind::Presence => {
                    self.presence_broadcast(session, stanza);
                    return Ok(());
                }
                // RFC 6120 §10.3: no `to` means the account itself.
                _ => stanza.set_to(Jid::from(session.jid.to_bare())),
            }
        }
        match self.run_filters(stanza, None) {
            Filtered::Route(stanza) => self.route(stanza),
            Filtered::Dropped => {}
            Filtered::Rejected(stanza, err) => self.deliver_to_session(session, &stanza.error_reply(&err)),
        }
        Ok(())
    }

    /// A client's stanza that is not routed (a quota refused it): the
    /// client hears `err`, addressed as a reply from where it was going.
    pub fn refuse_from_client(&self, session: &Arc<Session>, el: Element, err: StanzaError) {
        if let Some(kind) = StanzaKind::from_name(&el.name) {
            self.stanzas.count(Source::Client, kind);
        }
        let sender = Jid::from(session.jid.clone());
        match Stanza::parse_from(el, Some(&sender)) {
            Ok(mut stanza) => {
                if stanza.to.is_none() {
                    stanza.set_to(Jid::from(session.jid.to_bare()));
                }
                self.deliver_to_session(session, &stanza.error_reply(&err));
            }
            Err((el, parse_err)) => self.deliver_to_session(session, &parse_err.reply_to(&el)),
        }
    }

    /// Routes a stanza whose `from` is already trusted.
    pub fn route(&self, stanza: Stanza) {
        let Some(_depth) = Depth::enter(&stanza) else { return };
        self.dispatch(stanza);
    }

    fn addressed(&self, stanza: &Stanza) -> Address {
        match &stanza.to {
            None => Address::Host,
            Some(to) if !self.serves(to.domain().as_str()) => Address::Elsewhere,
            Some(to) => match (to.node(), to.resource()) {
                (None, _) => Address::Host,
                (Some(_), None) => Address::Bare,
                (Some(_), Some(_)) => Address::Full,
            },
        }
    }

    fn dispatch(&self, stanza: Stanza) {
        let Some(to) = stanza.to.clone() else {
            tracing::debug!("dropping a stanza with no addressee: {}", stanza.el);
            return;
        };
        // The answer to an iq a plugin sent goes to that plugin, whatever its address.
        if stanza.kind == StanzaKind::Iq
            && matches!(stanza.type_attr(), "result" | "error")
            && self.plugins.take_answer(&stanza)
        {
            return;
        }
        let domain = to.domain().as_str();
        if let Some(tenant) = self.tenants.get(domain) {
            let table = &tenant.sessions;
            let addressed = self.addressed(&stanza);
            if self.offer_to_plugins(domain, &stanza, addressed) {
                return;
            }
            match addressed {
                Address::Host | Address::Service | Address::Elsewhere => self.to_host(&stanza),
                Address::Bare => self.to_bare(table, &to, &stanza),
                Address::Full => self.to_full(table, &to, &stanza),
            }
            return;
        }
        if let Some(vhost) = self.service_owner(domain) {
            // The plugin whose subdomain it is sees it as its own `service`.
            if !self.offer_to_plugins(&vhost, &stanza, Address::Elsewhere) {
                self.reply_error(&stanza, StanzaError::new(Cond::ServiceUnavailable));
            }
            return;
        }
        if self.to_edge(domain, &stanza) {
            return;
        }
        // No server-to-server configured: a remote domain cannot be reached.
        self.reply_error(
            &stanza,
            StanzaError::new(Cond::RemoteServerNotFound).with_text(format!("'{domain}' is not served here")),
        );
    }

    /// Offers a stanza to the plugins of `vhost` that subscribed to it (a
    /// lookup first, wasm only on a match). True when a plugin took it,
    /// including answering with an error.
    fn offer_to_plugins(&self, vhost: &str, stanza: &Stanza, addressed: Address) -> bool {
        let Some(vp) = self.plugins.vhost(vhost) else { return false };
        // One route lookup: with no matching route this returns before any
        // wasm or any copy of the stanza.
        match vp.handle_stanza(stanza, addressed) {
            Handling::Done => true,
            Handling::Error(err) => {
                self.reply_error(stanza, err);
                true
            }
            Handling::NotHandled => false,
        }
    }

    /// The vhost whose plugin serves `domain` as a service subdomain.
    /// A service's domain is `<sub>.<vhost>`, so only the domain's parents
    /// can own it: a lookup per label, however many tenants there are.
    fn service_owner(&self, domain: &str) -> Option<String> {
        let mut rest = domain;
        while let Some((_, parent)) = rest.split_once('.') {
            if self.tenants.contains(parent)
                && let Some(vp) = self.plugins.vhost(parent)
                && vp.service_domains().iter().any(|d| d == domain)
            {
                return Some(parent.to_owned());
            }
            rest = parent;
        }
        None
    }

    /// The kernel's own answers for stanzas to the server that no plugin took.
    fn to_host(&self, stanza: &Stanza) {
        match (stanza.kind, stanza.type_attr()) {
            (StanzaKind::Iq, "get") if is_ping(stanza) => self.route_reply(result_reply(stanza)),
            (StanzaKind::Iq, "get" | "set") => self.reply_error(stanza, StanzaError::new(Cond::ServiceUnavailable)),
            (StanzaKind::Message, "error" | "headline" | "groupchat") => {}
            (StanzaKind::Message, _) => self.reply_error(stanza, StanzaError::new(Cond::ServiceUnavailable)),
            _ => {}
        }
    }

    /// Sends an error reply, except to an error (RFC 6120 §8.3.1).
    pub fn reply_error(&self, stanza: &Stanza, err: StanzaError) {
        if stanza.type_attr() == "error" || stanza.from.is_none() {
            return;
        }
        let mut reply = stanza.error_reply(&err);
        if reply.attr("from").is_none()
            && let Some(to) = &stanza.to
        {
            reply.set_attr("from", to.domain().as_str());
        }
        self.route_reply(reply);
    }

    pub(super) fn route_reply(&self, el: Element) {
        match Stanza::parse(el) {
            Ok(s) => self.route(s),
            Err((el, err)) => tracing::warn!(%err, "could not route a reply: {}", el),
        }
    }

    /// Writes a stanza to one session.
    pub fn deliver_to_session(&self, session: &Session, el: &Element) {
        session.send(Outbound::Stanza(el.to_xml_in(ns::CLIENT).into()));
    }
}

/// XEP-0199 ping: answered natively when no plugin took it, so a server
/// without the ping plugin still keeps clients' liveness checks working.
pub(super) fn is_ping(stanza: &Stanza) -> bool {
    stanza.kind == StanzaKind::Iq
        && stanza.type_attr() == "get"
        && stanza.payload().is_some_and(|p| p.is("ping", ns::PING))
}

pub(super) fn result_reply(stanza: &Stanza) -> Element {
    let mut reply = Element::new("iq", ns::CLIENT).with_attr("type", "result");
    if let Some(from) = stanza.el.attr("to") {
        reply.set_attr("from", from);
    }
    if let Some(to) = stanza.el.attr("from") {
        reply.set_attr("to", to);
    }
    if let Some(id) = stanza.id() {
        reply.set_attr("id", id);
    }
    reply
}

/// The per-kind rules of RFC 6120 §8.2 that need no routing knowledge.
pub(super) fn check_semantics(stanza: &Stanza) -> Result<(), StanzaError> {
    match stanza.kind {
        StanzaKind::Iq => {
            let ty = stanza.type_attr();
            if !matches!(ty, "get" | "set" | "result" | "error") {
                return Err(StanzaError::new(Cond::BadRequest).with_text("iq 'type' must be get, set, result or error"));
            }
            if stanza.id().is_none_or(str::is_empty) {
                return Err(StanzaError::new(Cond::BadRequest).with_text("iq requires an 'id'"));
            }
            if matches!(ty, "get" | "set") && stanza.el.elements().count() != 1 {
                return Err(StanzaError::new(Cond::BadRequest).with_text("an iq get or set carries exactly one child"));
            }
        }
        StanzaKind::Presence => {
            let ty = stanza.type_attr();
            let known = [
                "available",
                "unavailable",
                "subscribe",
                "subscribed",
                "unsubscribe",
                "unsubscribed",
                "probe",
                "error",
            ];
            if !known.contains(&ty) {
                return Err(StanzaError::new(Cond::BadRequest).with_text(format!("unknown presence type '{ty}'")));
            }
        }
        StanzaKind::Message => {}
    }
    Ok(())
}

impl Kernel for Router {
    fn sessions_of(&self, bare_jid: &str) -> Vec<SessionInfo> {
        let Ok(bare) = jid::BareJid::new(bare_jid) else { return Vec::new() };
        let (Some(node), Some(tenant)) = (bare.node(), self.tenants.get(bare.domain().as_str())) else {
            return Vec::new();
        };
        tenant.sessions.of(node.as_str()).iter().map(|s| s.info()).collect()
    }

    fn route_from_plugin(&self, stanza: Element, origin: &Origin<'_>) {
        let stanza = match Stanza::parse(stanza) {
            Ok(s) => s,
            Err((el, err)) => {
                return tracing::warn!(%err, plugin = origin.plugin, "could not route a plugin's stanza: {}", el);
            }
        };
        self.stanzas.count(Source::Plugin, stanza.kind);
        // Filters may send too; the depth bounds plugins answering plugins.
        let Some(_depth) = Depth::enter(&stanza) else { return };
        match self.run_filters(stanza, Some(origin.plugin)) {
            Filtered::Route(stanza) => self.route(stanza),
            Filtered::Dropped => {}
            Filtered::Rejected(stanza, err) => self.reply_error(&stanza, err),
        }
    }

    fn route_many_from_plugin(&self, stanza: Element, to: Vec<Jid>, origin: &Origin<'_>) {
        self.route_many(stanza, to, origin);
    }

    fn account_changed(&self, bare_jid: &str, created: bool) {
        self.account_event(bare_jid, created);
    }

    fn online(&self, domain: &str) -> Vec<String> {
        let mut all: Vec<String> = self
            .tenants
            .get(domain)
            .map(|t| t.sessions.all().iter().map(|s| s.jid.to_string()).collect())
            .unwrap_or_default();
        all.sort_unstable();
        all
    }

    fn end_session(&self, full_jid: &str, reason: &str) -> bool {
        let Ok(full) = jid::FullJid::new(full_jid) else { return false };
        let (Some(node), Some(tenant)) = (full.node(), self.tenants.get(full.domain().as_str())) else {
            return false;
        };
        match tenant.sessions.get(node.as_str(), full.resource().as_str()) {
            Some(s) => {
                s.send(Outbound::Close(StreamErrorCondition::PolicyViolation, Some(reason.to_string())));
                true
            }
            None => false,
        }
    }

    fn is_local_domain(&self, domain: &str) -> bool {
        Router::is_local_domain(self, domain)
    }

    fn request_stop(&self, request: StopRequest) -> bool {
        self.stop.send_replace(Some(request));
        true
    }

    fn tenants(&self) -> Option<Arc<dyn TenantAdmin>> {
        self.tenant_admin.get()?.upgrade()
    }
}
