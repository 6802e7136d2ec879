//! Builders for what a plugin tells the kernel in `describe()`.

mod route;
mod settings;

pub use route::Route;

use crate::bindings::waxwing::plugin::types as wit;
use crate::forms::DataForm;
use crate::{Capability, DiscoItem, EventKind, FilterScope, Identity};

/// What `describe()` returns, built up call by call. It must not depend on
/// config: settings, not `describe`, carry what an operator chooses.
///
/// ```ignore
/// Describe::new("register", env!("CARGO_PKG_VERSION"))
///     .feature(NS_REGISTER)
///     .route(Route::iq().of_types([StanzaType::Get, StanzaType::Set]).payload(NS_REGISTER, "query").unauthenticated())
///     .setting_bool("allow_registration", false, "Whether anyone may create an account")
///     .setting_int("min_password_length", 1, 1024, 6, "Shortest password accepted")
///     .capability(Capability::Accounts)
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Describe(wit::Description);

impl Describe {
    /// `name` is unique per virtual host and names the plugin's storage;
    /// `version` (semver) is what `migrate` gets on the next upgrade.
    pub fn new(name: &str, version: &str) -> Self {
        Describe(wit::Description {
            name: name.to_string(),
            version: version.to_string(),
            features: Vec::new(),
            identities: Vec::new(),
            items: Vec::new(),
            extensions: Vec::new(),
            routes: Vec::new(),
            filters: Vec::new(),
            filter_scope: FilterScope::EveryAccount,
            events: Vec::new(),
            service_subdomain: None,
            capabilities: Vec::new(),
            settings: Vec::new(),
            publishes: Vec::new(),
            reads: Vec::new(),
        })
    }

    /// A feature var for the host's disco#info. Stream features are no longer
    /// declared here: [`crate::Plugin::init`] returns them in [`crate::Ready`].
    pub fn feature(mut self, var: &str) -> Self {
        debug_assert!(!var.starts_with('<'), "{var:?} is a stream feature: return it from init in Ready");
        self.0.features.push(var.to_string());
        self
    }

    /// An XEP-0030 identity of the host, without `xml:lang`.
    pub fn identity(self, category: &str, identity_type: &str, name: &str) -> Self {
        self.identity_lang(category, identity_type, name, "")
    }

    /// An XEP-0030 identity of the host whose name is in language `lang`.
    pub fn identity_lang(mut self, category: &str, identity_type: &str, name: &str, lang: &str) -> Self {
        self.0.identities.push(Identity {
            category: category.to_string(),
            type_: identity_type.to_string(),
            name: name.to_string(),
            lang: lang.to_string(),
        });
        self
    }

    /// An item for the host's disco#items; `node` and `name` may be "".
    pub fn item(mut self, jid: &str, node: &str, name: &str) -> Self {
        self.0.items.push(DiscoItem { jid: jid.to_string(), node: node.to_string(), name: name.to_string() });
        self
    }

    /// An XEP-0128 extended-info form for the host's disco#info.
    pub fn extension(mut self, form: &DataForm) -> Self {
        self.0.extensions.push(form.to_element().to_xml());
        self
    }

    /// Stanzas for the handlers: one WIT route per address the route names.
    pub fn route(mut self, route: Route) -> Self {
        self.0.routes.extend(route.into_wit());
        self
    }

    /// `<iq type='get'>` to the host with payload `<name xmlns=ns>`.
    pub fn iq_get_host(self, ns: &str, name: &str) -> Self {
        self.route(Route::iq_get().payload(ns, name))
    }

    /// `<iq type='set'>` to the host with payload `<name xmlns=ns>`.
    pub fn iq_set_host(self, ns: &str, name: &str) -> Self {
        self.route(Route::iq_set().payload(ns, name))
    }

    /// Stanzas to pass through [`crate::Plugin::filter`] before routing.
    pub fn filter(mut self, route: Route) -> Self {
        self.0.filters.extend(route.into_wit());
        self
    }

    /// Which accounts the filters see: every account (the default), or
    /// [`FilterScope::WatchedAccounts`], those named with
    /// [`crate::filter_scope::watch`]. The kernel keeps the watched set
    /// across hot swaps and restarts.
    pub fn filter_scope(mut self, scope: FilterScope) -> Self {
        self.0.filter_scope = scope;
        self
    }

    /// Subscribes to an event. Timers and iq responses need no subscription.
    pub fn event(mut self, kind: EventKind) -> Self {
        if !self.0.events.contains(&kind) {
            self.0.events.push(kind);
        }
        self
    }

    /// Serve `sub.<host domain>` too; routes with [`crate::Address::Service`]
    /// see it.
    pub fn service(mut self, sub: &str) -> Self {
        self.0.service_subdomain = Some(sub.to_string());
        self
    }

    /// A host interface the plugin calls. A plugin table without `grants` is
    /// granted what the plugin asks for, except `accounts`.
    pub fn capability(mut self, capability: Capability) -> Self {
        if !self.0.capabilities.contains(&capability) {
            self.0.capabilities.push(capability);
        }
        self
    }

    /// Several capabilities at once.
    pub fn capabilities(self, capabilities: impl IntoIterator<Item = Capability>) -> Self {
        capabilities.into_iter().fold(self, Describe::capability)
    }

    /// A dataset this plugin writes with [`crate::datasets::put`] for other
    /// plugins to read.
    pub fn publishes(mut self, dataset: &str, doc: &str) -> Self {
        self.0.publishes.push(wit::Dataset { name: dataset.to_string(), doc: doc.to_string() });
        self
    }

    /// Another plugin's dataset this plugin reads with
    /// [`crate::datasets::get`]/[`scan`](crate::datasets::scan). Asks for
    /// [`Capability::Datasets`] too, which reading needs.
    pub fn reads(mut self, plugin: &str, dataset: &str) -> Self {
        self.0.reads.push(wit::DatasetRef { plugin: plugin.to_string(), dataset: dataset.to_string() });
        self.capability(Capability::Datasets)
    }

    /// The description as it will cross to the kernel.
    pub fn description(&self) -> &wit::Description {
        &self.0
    }

    /// The description, to hand to the kernel.
    pub fn into_wit(self) -> wit::Description {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forms::Field;
    use crate::{Address, Kind, StanzaType};

    #[test]
    fn builds_a_full_description() {
        let d = Describe::new("muc", "0.3.0")
            .feature("http://jabber.org/protocol/muc")
            .identity("conference", "text", "Chatrooms")
            .identity_lang("conference", "text", "Salons", "fr")
            .item("conference.example.org", "", "Chatrooms")
            .extension(&DataForm::result().with_form_type("urn:x").field(Field::text_single("a", "b")))
            .route(Route::presence().to(Address::Service).priority(5))
            .iq_set_host("urn:x", "q")
            .filter(Route::message().of_type(StanzaType::Groupchat).of_type(StanzaType::Chat).payload("", ""))
            .filter_scope(FilterScope::WatchedAccounts)
            .event(EventKind::SessionEnded)
            .event(EventKind::SessionEnded)
            .service("conference")
            .capability(Capability::Kv)
            .capabilities([Capability::Kv, Capability::Route])
            .publishes("occupants", "Who is in which room")
            .reads("roster", "contacts")
            .into_wit();
        assert_eq!(d.name, "muc");
        assert_eq!(d.identities[1].lang, "fr");
        assert_eq!(d.items[0].jid, "conference.example.org");
        assert!(d.extensions[0].starts_with("<x xmlns='jabber:x:data' type='result'>"));
        assert_eq!(d.routes[0].kind, Kind::Presence);
        assert_eq!(d.routes[0].to, Address::Service);
        assert_eq!(d.routes[0].priority, 5);
        assert_eq!(d.routes[1].types, vec![StanzaType::Set]);
        assert_eq!(d.routes[1].payload_ns, "urn:x");
        assert_eq!(d.filters[0].types, vec![StanzaType::Groupchat, StanzaType::Chat]);
        assert_eq!(d.filter_scope, FilterScope::WatchedAccounts);
        assert_eq!(d.events, vec![EventKind::SessionEnded]);
        assert_eq!(d.service_subdomain.as_deref(), Some("conference"));
        assert_eq!(d.capabilities, vec![Capability::Kv, Capability::Route, Capability::Datasets]);
        assert_eq!(d.publishes, vec![wit::Dataset { name: "occupants".into(), doc: "Who is in which room".into() }]);
        assert_eq!(d.reads, vec![wit::DatasetRef { plugin: "roster".into(), dataset: "contacts".into() }]);
    }

    #[test]
    fn iq_get_host_is_narrow() {
        let d = Describe::new("ping", "1").iq_get_host("urn:xmpp:ping", "ping");
        let r = &d.description().routes[0];
        assert_eq!((r.kind, r.to, r.priority, r.unauthenticated), (Kind::Iq, Address::Host, 0, false));
        assert_eq!(r.types, vec![StanzaType::Get]);
        assert_eq!((r.payload_ns.as_str(), r.payload_name.as_str()), ("urn:xmpp:ping", "ping"));
        assert_eq!(d.description().filter_scope, FilterScope::EveryAccount);
    }

    #[test]
    fn a_route_to_several_addresses_becomes_several() {
        let d = Describe::new("p", "1")
            .route(Route::iq_get().payload("urn:x", "q").to_any())
            .filter(Route::presence().to_anywhere());
        assert_eq!(d.description().routes.len(), 3);
        assert_eq!(d.description().filters.len(), 5);
    }
}
