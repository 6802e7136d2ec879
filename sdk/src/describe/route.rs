//! Routes: which stanzas the kernel hands to a handler or a filter.

use crate::bindings::waxwing::plugin::types as wit;
use crate::{Address, Kind, StanzaType};

/// A subscription to stanzas of one kind, built up call by call. One `Route`
/// may name several addresses ([`to_any`](Self::to_any),
/// [`to_each`](Self::to_each)); it becomes one WIT route per address.
///
/// ```ignore
/// Route::iq_get().payload(ns::PING, "ping").to_each([Address::Host, Address::Bare])
/// Route::presence().of_types([StanzaType::Subscribe, StanzaType::Subscribed]).to(Address::Bare)
/// Route::message().to_anywhere().priority(100) // a filter's
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    template: wit::Route,
    to: Vec<Address>,
}

/// The local addresses a handler can serve: [`Route::to_any`].
const ANY: [Address; 3] = [Address::Host, Address::Bare, Address::Full];

/// Every address, `elsewhere` included: [`Route::to_anywhere`].
const ANYWHERE: [Address; 5] = [Address::Host, Address::Bare, Address::Full, Address::Service, Address::Elsewhere];

impl Route {
    /// Every stanza of `kind` addressed to the host, until narrowed.
    pub fn new(kind: Kind) -> Self {
        Route {
            template: wit::Route {
                kind,
                types: Vec::new(),
                payload_ns: String::new(),
                payload_name: String::new(),
                to: Address::Host,
                priority: 0,
                unauthenticated: false,
            },
            to: vec![Address::Host],
        }
    }

    /// Every iq to the host, until narrowed.
    pub fn iq() -> Self {
        Route::new(Kind::Iq)
    }

    /// Iqs of type `get` to the host, until narrowed.
    pub fn iq_get() -> Self {
        Route::iq().of_type(StanzaType::Get)
    }

    /// Iqs of type `set` to the host, until narrowed.
    pub fn iq_set() -> Self {
        Route::iq().of_type(StanzaType::Set)
    }

    /// Every message to the host, until narrowed.
    pub fn message() -> Self {
        Route::new(Kind::Message)
    }

    /// Every presence to the host, until narrowed.
    pub fn presence() -> Self {
        Route::new(Kind::Presence)
    }

    /// Adds an accepted type; a route with none accepts any. A presence
    /// without a `type` attribute is [`StanzaType::Available`], a message
    /// without one [`StanzaType::Normal`].
    pub fn of_type(mut self, stanza_type: StanzaType) -> Self {
        if !self.template.types.contains(&stanza_type) {
            self.template.types.push(stanza_type);
        }
        self
    }

    /// Adds several accepted types.
    pub fn of_types(self, stanza_types: impl IntoIterator<Item = StanzaType>) -> Self {
        stanza_types.into_iter().fold(self, Route::of_type)
    }

    /// Only stanzas whose first child is `<name xmlns=ns>`; "" matches any
    /// (an empty `ns` also matches no payload at all).
    pub fn payload(mut self, ns: &str, name: &str) -> Self {
        self.template.payload_ns = ns.to_string();
        self.template.payload_name = name.to_string();
        self
    }

    /// Only stanzas addressed to `address` (the host unless set).
    pub fn to(self, address: Address) -> Self {
        self.to_each([address])
    }

    /// Only stanzas addressed to one of `addresses`: one WIT route each (so
    /// none leaves the route out).
    pub fn to_each(mut self, addresses: impl IntoIterator<Item = Address>) -> Self {
        self.to.clear();
        for a in addresses {
            if !self.to.contains(&a) {
                self.to.push(a);
            }
        }
        self
    }

    /// Addressed to the host, an account's bare JID or one of its sessions:
    /// everything local except the plugin's service subdomain.
    pub fn to_any(self) -> Self {
        self.to_each(ANY)
    }

    /// Addressed anywhere, other domains (`elsewhere`) included: for filters,
    /// since a handler route to `elsewhere` never matches.
    pub fn to_anywhere(self) -> Self {
        self.to_each(ANYWHERE)
    }

    /// Higher runs first; 0 unless set.
    pub fn priority(mut self, priority: i32) -> Self {
        self.template.priority = priority;
        self
    }

    /// Also take iqs (get or set) addressed to the host from client streams
    /// that have not authenticated yet (XEP-0077). They arrive with an empty
    /// `from`; the reply is written back on that stream. Meaningful on an iq
    /// route to [`Address::Host`] only.
    pub fn unauthenticated(mut self) -> Self {
        self.template.unauthenticated = true;
        self
    }

    /// The WIT routes, one per address.
    pub fn into_wit(self) -> Vec<wit::Route> {
        let Route { template, to } = self;
        to.into_iter().map(|to| wit::Route { to, ..template.clone() }).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_route_per_address() {
        let routes = Route::iq_get().payload("urn:x", "q").to_any().priority(3).into_wit();
        assert_eq!(routes.iter().map(|r| r.to).collect::<Vec<_>>(), ANY.to_vec());
        assert!(routes.iter().all(|r| r.types == [StanzaType::Get] && r.priority == 3 && r.payload_ns == "urn:x"));
        assert_eq!(Route::message().to_anywhere().into_wit().len(), 5);
        let twice = Route::presence().to_each([Address::Bare, Address::Bare, Address::Full]).into_wit();
        assert_eq!(twice.len(), 2);
    }

    #[test]
    fn defaults_to_the_host_and_any_type() {
        let [r] = <[wit::Route; 1]>::try_from(Route::new(Kind::Message).into_wit()).unwrap();
        assert_eq!((r.kind, r.to, r.priority, r.unauthenticated), (Kind::Message, Address::Host, 0, false));
        assert!(r.types.is_empty() && r.payload_ns.is_empty() && r.payload_name.is_empty());
    }

    #[test]
    fn types_accumulate_once_each() {
        let r = Route::iq_set().of_types([StanzaType::Get, StanzaType::Set]).unauthenticated().into_wit();
        assert_eq!(r[0].types, vec![StanzaType::Set, StanzaType::Get]);
        assert!(r[0].unauthenticated);
        assert_eq!(Route::iq().to(Address::Full).into_wit()[0].to, Address::Full);
    }
}
