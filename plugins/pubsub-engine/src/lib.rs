//! The XEP-0060 publish-subscribe engine, one crate served two ways: the
//! `pubsub` plugin runs it as a service on `pubsub.<vhost>`, the `pep`
//! plugin as a service on every account's bare JID (XEP-0163). What differs
//! between the two is a [`Service`]: its address, who owns it, who may create
//! nodes, the defaults of a new node and who hears of a publish besides the
//! subscribers (PEP's contacts).
//!
//! State lives in `kv` under the service's own prefix (`store.rs`): nodes,
//! subscriptions, items; a publish is stored before it is acknowledged, and
//! its notifications are one `send-many` whatever the number of subscribers.

pub mod access;
pub mod authorize;
pub mod config;
pub mod disco;
pub mod errors;
pub mod items;
pub mod node;
pub mod notify;
pub mod owner;
pub mod publish;
pub mod remote;
pub mod store;
pub mod subscribe;
pub mod subscription;

#[cfg(test)]
mod tests;

use waxwing_sdk::jid;
use waxwing_sdk::prelude::*;

use crate::node::Affiliation;

pub const NS: &str = "http://jabber.org/protocol/pubsub";
pub const NS_OWNER: &str = "http://jabber.org/protocol/pubsub#owner";
pub const NS_EVENT: &str = "http://jabber.org/protocol/pubsub#event";
pub const NS_ERRORS: &str = "http://jabber.org/protocol/pubsub#errors";
pub const NS_RSM: &str = "http://jabber.org/protocol/rsm";
pub const NS_SHIM: &str = "http://jabber.org/protocol/shim";
pub const FORM_NODE_CONFIG: &str = "http://jabber.org/protocol/pubsub#node_config";
pub const FORM_SUB_OPTIONS: &str = "http://jabber.org/protocol/pubsub#subscribe_options";
pub const FORM_PUBLISH_OPTIONS: &str = "http://jabber.org/protocol/pubsub#publish-options";
pub const FORM_SUB_AUTH: &str = "http://jabber.org/protocol/pubsub#subscribe_authorization";
pub const FORM_META: &str = "http://jabber.org/protocol/pubsub#meta-data";

/// The `#feature`s both services announce (XEP-0060 §10).
pub const FEATURES: &[&str] = &[
    "auto-create",
    "auto-subscribe",
    "collections",
    "config-node",
    "config-node-max",
    "create-and-configure",
    "create-nodes",
    "delete-items",
    "delete-nodes",
    "filtered-notifications",
    "instant-nodes",
    "item-ids",
    "last-published",
    "manage-affiliations",
    "manage-subscriptions",
    "member-affiliation",
    "meta-data",
    "modify-affiliations",
    "multi-items",
    "outcast-affiliation",
    "persistent-items",
    "presence-access",
    "presence-notifications",
    "publish",
    "publish-options",
    "publish-only-affiliation",
    "publisher-affiliation",
    "purge-nodes",
    "retract-items",
    "retrieve-affiliations",
    "retrieve-default",
    "retrieve-default-sub",
    "retrieve-items",
    "retrieve-subscriptions",
    "rsm",
    "subscribe",
    "subscription-options",
    "subscription-notifications",
];

/// Every feature URI of [`FEATURES`], plus the base namespaces and
/// `access-<model>` naming the default access model of a new node (§10):
/// open on a component, presence on PEP. The other models are offered by
/// the configuration form.
pub fn feature_uris(pep: bool) -> Vec<String> {
    let mut out = vec![NS.to_string(), NS_OWNER.to_string(), NS_EVENT.to_string()];
    out.extend(FEATURES.iter().map(|f| format!("{NS}#{f}")));
    out.push(format!("{NS}#access-{}", if pep { "presence" } else { "open" }));
    out
}

/// What a request handler answers: the payload of the result iq (none for
/// an empty result), or the error.
pub type Answer = Result<Option<Element>, StanzaError>;

/// What kind of service runs the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A pubsub component: nodes created by the vhost's accounts (or only
    /// its admins), owned by their creators.
    Component { anyone_creates: bool },
    /// An account's personal eventing service: only the account creates,
    /// publishes and configures; nodes appear on first publish.
    Pep,
}

/// Limits the operator sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The largest `max_items` a node may have; `max` means this.
    pub max_items: u64,
    /// `max_items` of a new node.
    pub default_max_items: u64,
    /// The largest item payload, serialized.
    pub max_payload_bytes: u64,
}

/// One pubsub service: an address and its rules.
#[derive(Debug, Clone)]
pub struct Service {
    /// The JID iqs are addressed to: `pubsub.example.org` or `juliet@example.org`.
    pub jid: String,
    /// The key prefix of its state: "" for the component, the account for PEP.
    pub id: String,
    pub kind: Kind,
    /// Bare JIDs with owner rights on every node.
    pub admins: Vec<String>,
    pub limits: Limits,
}

impl Service {
    /// The component on `jid`.
    pub fn component(jid: &str, anyone_creates: bool, admins: Vec<String>, limits: Limits) -> Service {
        Service { jid: jid.to_string(), id: String::new(), kind: Kind::Component { anyone_creates }, admins, limits }
    }

    /// The PEP service of the account `bare`.
    pub fn pep(bare: &str, limits: Limits) -> Service {
        Service { jid: bare.to_string(), id: bare.to_string(), kind: Kind::Pep, admins: vec![bare.to_string()], limits }
    }

    pub fn is_pep(&self) -> bool {
        self.kind == Kind::Pep
    }

    /// The account that owns a PEP service.
    pub fn pep_owner(&self) -> Option<&str> {
        self.is_pep().then_some(self.jid.as_str())
    }

    /// Whether `bare` has owner rights everywhere on this service.
    pub fn is_admin(&self, bare: &str) -> bool {
        self.admins.iter().any(|a| a == bare)
    }

    /// Whether `from` may create nodes here.
    pub fn may_create(&self, from: &str) -> bool {
        let bare = jid::bare(from);
        match self.kind {
            Kind::Pep => bare == self.jid,
            Kind::Component { anyone_creates } => {
                self.is_admin(bare)
                    || (anyone_creates && jid::node(bare).is_some() && jid::domain(bare) == waxwing_sdk::domain())
            }
        }
    }

    /// The affiliation the service itself gives `bare`, whatever the node says.
    pub fn implicit_affiliation(&self, bare: &str) -> Option<Affiliation> {
        self.is_admin(bare).then_some(Affiliation::Owner)
    }
}

/// Handles an iq in `pubsub` or `pubsub#owner` addressed to `service`.
pub fn handle_iq(service: &Service, iq: &Iq) -> Handled {
    let payload = iq.payload()?;
    let set = iq.is_set();
    let request = single_request(payload)?;
    let out = match (payload.ns.as_str(), request.name.as_str(), set) {
        (NS, "create", true) => owner::create(service, iq, payload, request)?,
        (NS, "publish", true) => publish::publish(service, iq, payload, request)?,
        (NS, "retract", true) => publish::retract(service, iq, request)?,
        (NS, "subscribe", true) => subscribe::subscribe(service, iq, payload, request)?,
        (NS, "unsubscribe", true) => subscribe::unsubscribe(service, iq, request)?,
        (NS, "options", false) => subscribe::get_options(service, iq, request)?,
        (NS, "options", true) => subscribe::set_options(service, iq, request)?,
        (NS, "default", false) => subscribe::default_options(service, request)?,
        (NS, "items", false) => items::retrieve(service, iq, payload, request)?,
        (NS, "subscriptions", false) => subscribe::own_subscriptions(service, iq, request)?,
        (NS, "affiliations", false) => owner::own_affiliations(service, iq, request)?,
        (NS_OWNER, "configure", false) => owner::get_config(service, iq, request)?,
        (NS_OWNER, "configure", true) => owner::set_config(service, iq, request)?,
        (NS_OWNER, "default", false) => owner::default_config(service, request)?,
        (NS_OWNER, "delete", true) => owner::delete(service, iq, request)?,
        (NS_OWNER, "purge", true) => owner::purge(service, iq, request)?,
        (NS_OWNER, "subscriptions", false) => owner::get_subscriptions(service, iq, request)?,
        (NS_OWNER, "subscriptions", true) => owner::set_subscriptions(service, iq, request)?,
        (NS_OWNER, "affiliations", false) => owner::get_affiliations(service, iq, request)?,
        (NS_OWNER, "affiliations", true) => owner::set_affiliations(service, iq, request)?,
        (NS | NS_OWNER, _, _) if known_request(payload.ns.as_str(), &request.name) => {
            return Err(StanzaError::new(Condition::BadRequest).with_text("wrong iq type for this request"));
        }
        _ => return Err(errors::unsupported_request(&request.name)),
    };
    match out {
        Some(el) => iq.reply_with(el),
        None => iq.reply_empty(),
    }
}

/// The one request a `<pubsub/>` carries: its first child, except that
/// `<subscribe/>` or `<publish/>` may be followed by `<options/>` or
/// `<publish-options/>` and `<create/>` by `<configure/>`.
fn single_request(payload: &Element) -> Result<&Element, StanzaError> {
    payload.first_element().ok_or_else(|| StanzaError::new(Condition::BadRequest).with_text("empty pubsub request"))
}

fn known_request(ns: &str, name: &str) -> bool {
    match ns {
        NS => matches!(
            name,
            "create"
                | "publish"
                | "retract"
                | "subscribe"
                | "unsubscribe"
                | "options"
                | "default"
                | "items"
                | "subscriptions"
                | "affiliations"
        ),
        _ => matches!(name, "configure" | "default" | "delete" | "purge" | "subscriptions" | "affiliations"),
    }
}

/// Node and item ids longer than this are refused: they are part of
/// storage keys, which have a size limit of their own.
pub const MAX_ID_BYTES: usize = 256;

/// The `node` attribute of a request, or `nodeid-required`.
pub fn node_attr(request: &Element) -> Result<&str, StanzaError> {
    match request.attr("node") {
        Some(n) if !n.is_empty() => check_id("node", n),
        _ => Err(errors::pubsub(Condition::BadRequest, "nodeid-required")),
    }
}

/// `id` if it is short enough to be a node or item id.
pub fn check_id<'a>(what: &str, id: &'a str) -> Result<&'a str, StanzaError> {
    if id.len() > MAX_ID_BYTES {
        return Err(StanzaError::new(Condition::NotAcceptable)
            .with_text(format!("a {what} id may be at most {MAX_ID_BYTES} bytes")));
    }
    Ok(id)
}

/// A fresh random id (item ids, instant nodes).
pub fn new_id() -> String {
    waxwing_sdk::random(12).iter().map(|b| format!("{b:02x}")).collect()
}
