//! Builders for what a plugin tells the kernel in `describe()`.

use crate::bindings::waxwing::plugin::types as wit;
use crate::forms::DataForm;
use crate::{Address, Capability, DiscoItem, EventKind, Identity, Kind};

/// A subscription: which stanzas the kernel hands to the plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route(wit::Route);

impl Route {
    /// Every stanza of `kind` addressed to the host, until narrowed.
    pub fn new(kind: Kind) -> Self {
        Route(wit::Route {
            kind,
            types: Vec::new(),
            payload_ns: String::new(),
            payload_name: String::new(),
            to: Address::Host,
            priority: 0,
        })
    }

    pub fn iq() -> Self {
        Route::new(Kind::Iq)
    }

    pub fn message() -> Self {
        Route::new(Kind::Message)
    }

    pub fn presence() -> Self {
        Route::new(Kind::Presence)
    }

    /// Adds an accepted `type` ("get", "chat", "available", ...).
    pub fn of_type(mut self, stanza_type: &str) -> Self {
        self.0.types.push(stanza_type.to_string());
        self
    }

    /// Only stanzas whose first child is `<name xmlns=ns>`; "" matches any.
    pub fn payload(mut self, ns: &str, name: &str) -> Self {
        self.0.payload_ns = ns.to_string();
        self.0.payload_name = name.to_string();
        self
    }

    pub fn to(mut self, address: Address) -> Self {
        self.0.to = address;
        self
    }

    /// Higher runs first; 0 unless set.
    pub fn priority(mut self, priority: i32) -> Self {
        self.0.priority = priority;
        self
    }

    pub fn into_wit(self) -> wit::Route {
        self.0
    }
}

/// What `describe()` returns, built up call by call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Describe(wit::Description);

impl Describe {
    /// `name` is unique per virtual host and names the plugin's storage.
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
            events: Vec::new(),
            service_subdomain: None,
            capabilities: Vec::new(),
        })
    }

    /// A feature var for the host's disco#info.
    pub fn feature(mut self, var: &str) -> Self {
        self.0.features.push(var.to_string());
        self
    }

    pub fn identity(self, category: &str, identity_type: &str, name: &str) -> Self {
        self.identity_lang(category, identity_type, name, "")
    }

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

    pub fn route(mut self, route: Route) -> Self {
        self.0.routes.push(route.into_wit());
        self
    }

    /// `<iq type='get'>` to the host with payload `<name xmlns=ns>`.
    pub fn iq_get_host(self, ns: &str, name: &str) -> Self {
        self.route(Route::iq().of_type("get").payload(ns, name))
    }

    /// `<iq type='set'>` to the host with payload `<name xmlns=ns>`.
    pub fn iq_set_host(self, ns: &str, name: &str) -> Self {
        self.route(Route::iq().of_type("set").payload(ns, name))
    }

    /// Stanzas to pass through [`crate::Plugin::filter`] before routing.
    pub fn filter(mut self, route: Route) -> Self {
        self.0.filters.push(route.into_wit());
        self
    }

    pub fn event(mut self, kind: EventKind) -> Self {
        self.0.events.push(kind);
        self
    }

    /// Serve `sub.<host domain>` too; routes with [`Address::Service`] see it.
    pub fn service(mut self, sub: &str) -> Self {
        self.0.service_subdomain = Some(sub.to_string());
        self
    }

    /// A host interface the plugin calls; the operator decides whether to grant it.
    pub fn capability(mut self, capability: Capability) -> Self {
        if !self.0.capabilities.contains(&capability) {
            self.0.capabilities.push(capability);
        }
        self
    }

    /// The description as it will cross to the kernel.
    pub fn description(&self) -> &wit::Description {
        &self.0
    }

    pub fn into_wit(self) -> wit::Description {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forms::Field;

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
            .filter(Route::message().of_type("groupchat").of_type("chat").payload("", ""))
            .event(EventKind::SessionEnded)
            .service("conference")
            .capability(Capability::Kv)
            .capability(Capability::Kv)
            .capability(Capability::Route)
            .into_wit();
        assert_eq!(d.name, "muc");
        assert_eq!(d.identities[1].lang, "fr");
        assert_eq!(d.items[0].jid, "conference.example.org");
        assert!(d.extensions[0].starts_with("<x xmlns='jabber:x:data' type='result'>"));
        assert_eq!(d.routes[0].kind, Kind::Presence);
        assert_eq!(d.routes[0].to, Address::Service);
        assert_eq!(d.routes[0].priority, 5);
        assert_eq!(d.routes[1].types, vec!["set".to_string()]);
        assert_eq!(d.routes[1].payload_ns, "urn:x");
        assert_eq!(d.filters[0].types, vec!["groupchat".to_string(), "chat".to_string()]);
        assert_eq!(d.events, vec![EventKind::SessionEnded]);
        assert_eq!(d.service_subdomain.as_deref(), Some("conference"));
        assert_eq!(d.capabilities, vec![Capability::Kv, Capability::Route]);
    }

    #[test]
    fn iq_get_host_is_narrow() {
        let d = Describe::new("ping", "1").iq_get_host("urn:xmpp:ping", "ping");
        let r = &d.description().routes[0];
        assert_eq!((r.kind, r.to, r.priority), (Kind::Iq, Address::Host, 0));
        assert_eq!(r.types, vec!["get".to_string()]);
        assert_eq!((r.payload_ns.as_str(), r.payload_name.as_str()), ("urn:xmpp:ping", "ping"));
    }
}
