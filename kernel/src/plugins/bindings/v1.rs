//! The previous major of the contract (`waxwing:plugin@1.1`, frozen in
//! plugin-abi/v1) and its conversions to and from the current one. A 1.x
//! component keeps working on this kernel (plugin-abi/COMPATIBILITY.md):
//! what it declares is read as the 2.x equivalent, what it is handed is
//! written back in 1.x terms.

use super::types as v2;

mod generated {
    wasmtime::component::bindgen!({
        path: "../plugin-abi/v1",
        world: "plugin",
        additional_derives: [PartialEq],
    });
}

pub(crate) use generated::exports::waxwing::plugin::guest::Guest;
pub(crate) use generated::waxwing::plugin::types;
pub(crate) use generated::waxwing::plugin::{accounts, filter_scope, host, kv, mem, route, sessions, timers};
pub(crate) use generated::{Plugin, PluginPre};

/// XEP-0077's stream feature: a 1.x plugin that declared it took in-band
/// registration iqs before authentication.
const REGISTER_FEATURE_NS: &str = "http://jabber.org/features/iq-register";
const REGISTER_NS: &str = "jabber:iq:register";

fn kind(k: types::StanzaKind) -> v2::StanzaKind {
    match k {
        types::StanzaKind::Message => v2::StanzaKind::Message,
        types::StanzaKind::Presence => v2::StanzaKind::Presence,
        types::StanzaKind::Iq => v2::StanzaKind::Iq,
    }
}

pub(crate) fn kind_to_v1(k: v2::StanzaKind) -> types::StanzaKind {
    match k {
        v2::StanzaKind::Message => types::StanzaKind::Message,
        v2::StanzaKind::Presence => types::StanzaKind::Presence,
        v2::StanzaKind::Iq => types::StanzaKind::Iq,
    }
}

/// 1.x had one `service` for every domain not served locally.
pub(crate) fn address_to_v1(a: v2::Address) -> types::Address {
    match a {
        v2::Address::Host => types::Address::Host,
        v2::Address::Bare => types::Address::Bare,
        v2::Address::Full => types::Address::Full,
        v2::Address::Service | v2::Address::Elsewhere => types::Address::Service,
    }
}

fn address(a: types::Address) -> v2::Address {
    match a {
        types::Address::Host => v2::Address::Host,
        types::Address::Bare => v2::Address::Bare,
        types::Address::Full => v2::Address::Full,
        types::Address::Service => v2::Address::Service,
    }
}

/// A 1.x type string as the 2.x enum; "" and unknown names match nothing
/// more specific than "any", so they are left out (an empty list is "any").
fn stanza_types(k: types::StanzaKind, names: &[String]) -> Vec<v2::StanzaType> {
    let kind = crate::xml::StanzaKind::from(kind(k));
    let mut out = Vec::new();
    for n in names {
        let t = match n.as_str() {
            "available" => Some(v2::StanzaType::Available),
            "normal" => Some(v2::StanzaType::Normal),
            other => super::stanza_type(kind, other),
        };
        match t {
            Some(t) if !out.contains(&t) => out.push(t),
            _ => {}
        }
    }
    out
}

fn route(r: &types::Route, unauthenticated: bool) -> v2::Route {
    v2::Route {
        kind: kind(r.kind),
        types: stanza_types(r.kind, &r.types),
        payload_ns: r.payload_ns.clone(),
        payload_name: r.payload_name.clone(),
        to: address(r.to),
        priority: r.priority,
        unauthenticated,
    }
}

fn capability(c: types::Capability) -> v2::Capability {
    match c {
        types::Capability::Kv => v2::Capability::Kv,
        types::Capability::Mem => v2::Capability::Mem,
        types::Capability::Route => v2::Capability::Route,
        types::Capability::Sessions => v2::Capability::Sessions,
        types::Capability::Accounts => v2::Capability::Accounts,
        types::Capability::Timers => v2::Capability::Timers,
    }
}

/// A 2.x capability a 1.x plugin was refused, in 1.x terms. `disco` and
/// `datasets` do not exist there; 1.x host calls never check them.
pub(crate) fn capability_to_v1(c: v2::Capability) -> types::Capability {
    match c {
        v2::Capability::Kv | v2::Capability::Datasets => types::Capability::Kv,
        v2::Capability::Mem => types::Capability::Mem,
        v2::Capability::Route => types::Capability::Route,
        v2::Capability::Sessions | v2::Capability::Disco => types::Capability::Sessions,
        v2::Capability::Accounts => types::Capability::Accounts,
        v2::Capability::Timers => types::Capability::Timers,
    }
}

fn event_kind(k: types::EventKind) -> Option<v2::EventKind> {
    Some(match k {
        types::EventKind::SessionStarted => v2::EventKind::SessionStarted,
        types::EventKind::SessionEnded => v2::EventKind::SessionEnded,
        types::EventKind::PresenceChanged => v2::EventKind::PresenceChanged,
        types::EventKind::UserCreated => v2::EventKind::UserCreated,
        types::EventKind::UserDeleted => v2::EventKind::UserDeleted,
        types::EventKind::MessageUndeliverable => v2::EventKind::MessageUndeliverable,
        // Timers now always reach the plugin that set them.
        types::EventKind::TimerFired => return None,
    })
}

fn stream_feature(xml: &str) -> Option<v2::StreamFeature> {
    if !xml.starts_with('<') {
        return None;
    }
    let before = waxwing_xml::Element::parse(xml).is_ok_and(|el| el.ns == REGISTER_FEATURE_NS);
    let stage = if before { v2::StreamStage::BeforeAuth } else { v2::StreamStage::AfterAuth };
    Some(v2::StreamFeature { xml: xml.to_string(), stage })
}

/// What a 1.x `describe()` means in 2.x terms, and the stream features it
/// declared among its disco features (1.x's `<` convention), which 2.x
/// plugins give from `init` instead.
pub(crate) fn description(d: types::Description) -> (v2::Description, Vec<v2::StreamFeature>) {
    let stream: Vec<v2::StreamFeature> = d.features.iter().filter_map(|f| stream_feature(f)).collect();
    let registers = stream.iter().any(|f| f.stage == v2::StreamStage::BeforeAuth);
    let routes = d
        .routes
        .iter()
        .map(|r| {
            // 1.x: declaring XEP-0077's feature meant taking its iqs before
            // authentication.
            let pre_auth = registers
                && r.kind == types::StanzaKind::Iq
                && r.to == types::Address::Host
                && r.payload_ns == REGISTER_NS;
            route(r, pre_auth)
        })
        .collect();
    // A 1.x filter on `service` saw every stanza to a domain not served here.
    let mut filters = Vec::new();
    for f in &d.filters {
        let r = route(f, false);
        if r.to == v2::Address::Service {
            filters.push(v2::Route { to: v2::Address::Elsewhere, ..r.clone() });
        }
        filters.push(r);
    }
    let description = v2::Description {
        name: d.name,
        version: d.version,
        features: d.features.into_iter().filter(|f| !f.starts_with('<')).collect(),
        identities: d
            .identities
            .into_iter()
            .map(|i| v2::Identity { category: i.category, type_: i.type_, name: i.name, lang: i.lang })
            .collect(),
        items: d.items.into_iter().map(|i| v2::DiscoItem { jid: i.jid, node: i.node, name: i.name }).collect(),
        extensions: d.extensions,
        routes,
        filters,
        // 1.x narrows its scope itself, with `filter-scope.restrict`.
        filter_scope: v2::FilterScope::EveryAccount,
        events: d.events.into_iter().filter_map(event_kind).collect(),
        service_subdomain: d.service_subdomain,
        capabilities: d.capabilities.into_iter().map(capability).collect(),
        // 1.x declared no settings: its config goes to `init` as written.
        settings: Vec::new(),
        publishes: Vec::new(),
        reads: Vec::new(),
    };
    (description, stream)
}

fn condition(c: types::ErrorCondition) -> v2::ErrorCondition {
    use types::ErrorCondition as A;
    use v2::ErrorCondition as B;
    match c {
        A::BadRequest => B::BadRequest,
        A::Conflict => B::Conflict,
        A::FeatureNotImplemented => B::FeatureNotImplemented,
        A::Forbidden => B::Forbidden,
        A::Gone => B::Gone,
        A::InternalServerError => B::InternalServerError,
        A::ItemNotFound => B::ItemNotFound,
        A::JidMalformed => B::JidMalformed,
        A::NotAcceptable => B::NotAcceptable,
        A::NotAllowed => B::NotAllowed,
        A::NotAuthorized => B::NotAuthorized,
        A::PolicyViolation => B::PolicyViolation,
        A::RecipientUnavailable => B::RecipientUnavailable,
        A::Redirect => B::Redirect,
        A::RegistrationRequired => B::RegistrationRequired,
        A::RemoteServerNotFound => B::RemoteServerNotFound,
        A::RemoteServerTimeout => B::RemoteServerTimeout,
        A::ResourceConstraint => B::ResourceConstraint,
        A::ServiceUnavailable => B::ServiceUnavailable,
        A::SubscriptionRequired => B::SubscriptionRequired,
        A::UndefinedCondition => B::UndefinedCondition,
        A::UnexpectedRequest => B::UnexpectedRequest,
    }
}

/// 1.x errors carried their type as a string; one that names no type keeps
/// the condition's default, as it did (with a warning).
pub(crate) fn stanza_error(plugin: &str, e: types::StanzaError) -> v2::StanzaError {
    let error_type = match e.error_type.as_str() {
        "" => None,
        "auth" => Some(v2::ErrorType::Auth),
        "cancel" => Some(v2::ErrorType::Cancel),
        "continue" => Some(v2::ErrorType::Continue),
        "modify" => Some(v2::ErrorType::Modify),
        "wait" => Some(v2::ErrorType::Wait),
        other => {
            tracing::warn!(plugin, error_type = %other, "plugin returned an unknown error type");
            None
        }
    };
    let some = |s: String| (!s.is_empty()).then_some(s);
    v2::StanzaError {
        condition: condition(e.condition),
        error_type,
        text: some(e.text),
        app_condition: some(e.app_condition),
    }
}

pub(crate) fn outcome(o: types::Outcome) -> v2::Outcome {
    match o {
        types::Outcome::Done => v2::Outcome::Done,
        types::Outcome::Reply(x) => v2::Outcome::Reply(x),
        types::Outcome::Pass => v2::Outcome::Pass,
    }
}

pub(crate) fn verdict(plugin: &str, v: types::Verdict) -> v2::Verdict {
    match v {
        types::Verdict::Pass => v2::Verdict::Pass,
        types::Verdict::Drop => v2::Verdict::Drop,
        types::Verdict::Rewrite(x) => v2::Verdict::Rewrite(x),
        types::Verdict::Reject(e) => v2::Verdict::Reject(stanza_error(plugin, e)),
    }
}

/// A stanza record in 1.x terms; `raw_type` is the `type` attribute as sent
/// (1.x handed it over verbatim, "" when absent).
pub(crate) fn stanza(s: &v2::Stanza, raw_type: &str) -> types::Stanza {
    types::Stanza {
        kind: kind_to_v1(s.kind),
        type_: raw_type.to_string(),
        id: s.id.clone(),
        from: s.from.clone(),
        to: s.to.clone(),
        addressed: address_to_v1(s.addressed),
        payload_ns: s.payload_ns.clone(),
        payload_name: s.payload_name.clone(),
        xml: s.xml.clone(),
    }
}

/// An event in 1.x terms; `None` for what 1.x plugins cannot receive.
pub(crate) fn event(e: &v2::Event) -> Option<types::Event> {
    use types::EventKind as K;
    let (kind, jid, data) = match e {
        v2::Event::SessionStarted(j) => (K::SessionStarted, j.clone(), String::new()),
        v2::Event::SessionEnded(s) => (K::SessionEnded, s.jid.clone(), s.last_presence.clone().unwrap_or_default()),
        v2::Event::PresenceChanged(p) => (K::PresenceChanged, p.jid.clone(), p.presence.clone()),
        v2::Event::UserCreated(j) => (K::UserCreated, j.clone(), String::new()),
        v2::Event::UserDeleted(j) => (K::UserDeleted, j.clone(), String::new()),
        v2::Event::MessageUndeliverable(xml) => {
            // 1.x named the addressee's bare JID beside the message.
            let to = waxwing_xml::Element::parse(xml)
                .ok()
                .and_then(|el| el.attr("to").and_then(|t| jid::Jid::new(t).ok()))
                .map(|j| j.to_bare().to_string())
                .unwrap_or_default();
            (K::MessageUndeliverable, to, xml.clone())
        }
        v2::Event::TimerFired(t) => (K::TimerFired, String::new(), t.data.clone()),
        v2::Event::IqResponse(_) => return None,
    };
    Some(types::Event { kind, jid, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v1_route(to: types::Address, ns: &str, types_: &[&str]) -> types::Route {
        types::Route {
            kind: types::StanzaKind::Iq,
            types: types_.iter().map(|s| s.to_string()).collect(),
            payload_ns: ns.into(),
            payload_name: String::new(),
            to,
            priority: 0,
        }
    }

    fn v1_description() -> types::Description {
        types::Description {
            name: "register".into(),
            version: "1.0.0".into(),
            features: vec![
                REGISTER_NS.into(),
                format!("<register xmlns='{REGISTER_FEATURE_NS}'/>"),
                "<ver xmlns='urn:xmpp:features:rosterver'/>".into(),
            ],
            identities: vec![],
            items: vec![],
            extensions: vec![],
            routes: vec![
                v1_route(types::Address::Host, REGISTER_NS, &["get", "set"]),
                v1_route(types::Address::Bare, REGISTER_NS, &["set"]),
            ],
            filters: vec![v1_route(types::Address::Service, "", &[""])],
            events: vec![types::EventKind::TimerFired, types::EventKind::UserCreated],
            service_subdomain: None,
            capabilities: vec![types::Capability::Accounts],
        }
    }

    #[test]
    fn a_v1_description_reads_as_v2() {
        let (d, stream) = description(v1_description());
        assert_eq!(d.features, vec![REGISTER_NS.to_string()], "stream features leave the disco features");
        assert_eq!(stream.len(), 2);
        assert_eq!(stream[0].stage, v2::StreamStage::BeforeAuth);
        assert_eq!(stream[1].stage, v2::StreamStage::AfterAuth);
        assert!(d.routes[0].unauthenticated, "the registration route to the host takes pre-auth iqs");
        assert!(!d.routes[1].unauthenticated);
        assert_eq!(d.routes[0].types, vec![v2::StanzaType::Get, v2::StanzaType::Set]);
        assert_eq!(d.filters.len(), 2, "a service filter also covers every other domain");
        assert!(d.filters[0].types.is_empty(), "\"\" meant any");
        assert_eq!(d.events, vec![v2::EventKind::UserCreated]);
    }

    #[test]
    fn errors_and_events_cross_back() {
        let e = stanza_error(
            "p",
            types::StanzaError {
                condition: types::ErrorCondition::Conflict,
                error_type: "sideways".into(),
                text: String::new(),
                app_condition: String::new(),
            },
        );
        assert_eq!((e.condition, e.error_type, e.text), (v2::ErrorCondition::Conflict, None, None));
        let ev = event(&v2::Event::MessageUndeliverable("<message to='a@h/r'/>".into())).unwrap();
        assert_eq!((ev.kind, ev.jid.as_str()), (types::EventKind::MessageUndeliverable, "a@h"));
        let fired = event(&v2::Event::TimerFired(v2::TimerFired { id: 3, data: "x".into() })).unwrap();
        assert_eq!((fired.kind, fired.data.as_str()), (types::EventKind::TimerFired, "x"));
        let ended = v2::Event::SessionEnded(v2::SessionEnded { jid: "a@h/r".into(), last_presence: None });
        assert_eq!(event(&ended).unwrap().data, "");
    }
}
