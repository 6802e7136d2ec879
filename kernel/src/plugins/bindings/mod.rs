//! Rust types generated from the plugin contract, and conversions between
//! them and the kernel's own types. The current major (2.x) is the kernel's
//! vocabulary; a 1.x component is adapted at the boundary (`v1`).

use waxwing_xml::{Element, ErrorType, StanzaError, StanzaErrorCondition};

use super::{Address, EventKind};
use crate::xml::StanzaKind;

pub(crate) mod v1;

wasmtime::component::bindgen!({
    path: "../plugin-abi/wit",
    world: "plugin",
    additional_derives: [PartialEq],
});

pub(crate) use self::exports::waxwing::plugin::guest::Guest;
pub(crate) use self::waxwing::plugin::types;

/// The version of `waxwing:plugin` this kernel provides. An older minor
/// links, because wasmtime resolves names semver-compatibly and minors only
/// add; the previous major links through the `v1` adapter
/// (plugin-abi/COMPATIBILITY.md); any other major is refused before linking.
pub(crate) const ABI_MAJOR: u64 = 2;
pub(crate) const ABI_VERSION: &str = "2.4.0";
/// Majors this kernel loads.
pub(crate) const ABI_MAJORS: &[u64] = &[1, 2];

impl From<StanzaKind> for types::StanzaKind {
    fn from(k: StanzaKind) -> Self {
        match k {
            StanzaKind::Message => types::StanzaKind::Message,
            StanzaKind::Presence => types::StanzaKind::Presence,
            StanzaKind::Iq => types::StanzaKind::Iq,
        }
    }
}

impl From<types::StanzaKind> for StanzaKind {
    fn from(k: types::StanzaKind) -> Self {
        match k {
            types::StanzaKind::Message => StanzaKind::Message,
            types::StanzaKind::Presence => StanzaKind::Presence,
            types::StanzaKind::Iq => StanzaKind::Iq,
        }
    }
}

impl From<Address> for types::Address {
    fn from(a: Address) -> Self {
        match a {
            Address::Host => types::Address::Host,
            Address::Bare => types::Address::Bare,
            Address::Full => types::Address::Full,
            Address::Service => types::Address::Service,
            Address::Elsewhere => types::Address::Elsewhere,
        }
    }
}

impl From<types::Address> for Address {
    fn from(a: types::Address) -> Self {
        match a {
            types::Address::Host => Address::Host,
            types::Address::Bare => Address::Bare,
            types::Address::Full => Address::Full,
            types::Address::Service => Address::Service,
            types::Address::Elsewhere => Address::Elsewhere,
        }
    }
}

impl From<EventKind> for types::EventKind {
    fn from(k: EventKind) -> Self {
        match k {
            EventKind::SessionStarted => types::EventKind::SessionStarted,
            EventKind::SessionEnded => types::EventKind::SessionEnded,
            EventKind::PresenceChanged => types::EventKind::PresenceChanged,
            EventKind::UserCreated => types::EventKind::UserCreated,
            EventKind::UserDeleted => types::EventKind::UserDeleted,
            EventKind::MessageUndeliverable => types::EventKind::MessageUndeliverable,
        }
    }
}

impl From<types::EventKind> for EventKind {
    fn from(k: types::EventKind) -> Self {
        match k {
            types::EventKind::SessionStarted => EventKind::SessionStarted,
            types::EventKind::SessionEnded => EventKind::SessionEnded,
            types::EventKind::PresenceChanged => EventKind::PresenceChanged,
            types::EventKind::UserCreated => EventKind::UserCreated,
            types::EventKind::UserDeleted => EventKind::UserDeleted,
            types::EventKind::MessageUndeliverable => EventKind::MessageUndeliverable,
        }
    }
}

pub(crate) fn capability_name(c: types::Capability) -> &'static str {
    match c {
        types::Capability::Kv => "kv",
        types::Capability::Mem => "mem",
        types::Capability::Route => "route",
        types::Capability::Sessions => "sessions",
        types::Capability::Accounts => "accounts",
        types::Capability::Timers => "timers",
        types::Capability::Disco => "disco",
        types::Capability::Datasets => "datasets",
    }
}

/// Every capability, in the WIT's order.
const ALL_CAPABILITIES: [types::Capability; 8] = {
    use types::Capability as C;
    [C::Kv, C::Mem, C::Route, C::Sessions, C::Accounts, C::Timers, C::Disco, C::Datasets]
};

/// The capability a grant names, by [`capability_name`].
pub(crate) fn capability_from_name(name: &str) -> Option<types::Capability> {
    ALL_CAPABILITIES.into_iter().find(|c| capability_name(*c) == name)
}

/// The WIT stanza type of a stanza's `type` attribute (RFC 6121: none means
/// `available` for presence, `normal` for a message, as does a message type
/// the RFC does not know). `None` for a presence or iq type no RFC defines.
pub(crate) fn stanza_type(kind: StanzaKind, attr: &str) -> Option<types::StanzaType> {
    use types::StanzaType as T;
    Some(match (kind, attr) {
        (_, "error") => T::Error,
        (StanzaKind::Message, "chat") => T::Chat,
        (StanzaKind::Message, "groupchat") => T::Groupchat,
        (StanzaKind::Message, "headline") => T::Headline,
        (StanzaKind::Message, _) => T::Normal,
        // The kernel's own reading of a presence without a type.
        (StanzaKind::Presence, "" | "available") => T::Available,
        (StanzaKind::Presence, "unavailable") => T::Unavailable,
        (StanzaKind::Presence, "subscribe") => T::Subscribe,
        (StanzaKind::Presence, "subscribed") => T::Subscribed,
        (StanzaKind::Presence, "unsubscribe") => T::Unsubscribe,
        (StanzaKind::Presence, "unsubscribed") => T::Unsubscribed,
        (StanzaKind::Presence, "probe") => T::Probe,
        (StanzaKind::Iq, "get") => T::Get,
        (StanzaKind::Iq, "set") => T::Set,
        (StanzaKind::Iq, "result") => T::Result,
        _ => return None,
    })
}

/// The attribute value a stanza type is written as ("" for none).
#[cfg(test)]
fn stanza_type_name(t: types::StanzaType) -> &'static str {
    use types::StanzaType as T;
    match t {
        T::Normal => "normal",
        T::Chat => "chat",
        T::Groupchat => "groupchat",
        T::Headline => "headline",
        T::Available => "",
        T::Unavailable => "unavailable",
        T::Subscribe => "subscribe",
        T::Subscribed => "subscribed",
        T::Unsubscribe => "unsubscribe",
        T::Unsubscribed => "unsubscribed",
        T::Probe => "probe",
        T::Get => "get",
        T::Set => "set",
        T::Result => "result",
        T::Error => "error",
    }
}

fn error_type(t: types::ErrorType) -> ErrorType {
    match t {
        types::ErrorType::Auth => ErrorType::Auth,
        types::ErrorType::Cancel => ErrorType::Cancel,
        types::ErrorType::Continue => ErrorType::Continue,
        types::ErrorType::Modify => ErrorType::Modify,
        types::ErrorType::Wait => ErrorType::Wait,
    }
}

fn condition(c: types::ErrorCondition) -> StanzaErrorCondition {
    use StanzaErrorCondition as S;
    use types::ErrorCondition as W;
    match c {
        W::BadRequest => S::BadRequest,
        W::Conflict => S::Conflict,
        W::FeatureNotImplemented => S::FeatureNotImplemented,
        W::Forbidden => S::Forbidden,
        W::Gone => S::Gone,
        W::InternalServerError => S::InternalServerError,
        W::ItemNotFound => S::ItemNotFound,
        W::JidMalformed => S::JidMalformed,
        W::NotAcceptable => S::NotAcceptable,
        W::NotAllowed => S::NotAllowed,
        W::NotAuthorized => S::NotAuthorized,
        W::PolicyViolation => S::PolicyViolation,
        W::RecipientUnavailable => S::RecipientUnavailable,
        W::Redirect => S::Redirect,
        W::RegistrationRequired => S::RegistrationRequired,
        W::RemoteServerNotFound => S::RemoteServerNotFound,
        W::RemoteServerTimeout => S::RemoteServerTimeout,
        W::ResourceConstraint => S::ResourceConstraint,
        W::ServiceUnavailable => S::ServiceUnavailable,
        W::SubscriptionRequired => S::SubscriptionRequired,
        W::UndefinedCondition => S::UndefinedCondition,
        W::UnexpectedRequest => S::UnexpectedRequest,
    }
}

/// A plugin's stanza error as the kernel's. An app condition that is not XML
/// is dropped with a warning rather than failing the stanza: the condition
/// itself is always valid.
pub(crate) fn stanza_error(plugin: &str, e: &types::StanzaError) -> StanzaError {
    let mut out = StanzaError::new(condition(e.condition));
    if let Some(t) = e.error_type {
        out.error_type = error_type(t);
    }
    if let Some(text) = e.text.as_ref().filter(|t| !t.is_empty()) {
        out.text = Some(text.clone());
    }
    if let Some(app) = e.app_condition.as_ref().filter(|a| !a.is_empty()) {
        match Element::parse(app) {
            Ok(el) => out.app_condition = Some(el),
            Err(err) => tracing::warn!(plugin, "plugin returned an app-condition that is not XML: {err}"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stanza_error_keeps_every_part() {
        let e = types::StanzaError {
            condition: types::ErrorCondition::NotAcceptable,
            error_type: Some(types::ErrorType::Cancel),
            text: Some("no".into()),
            app_condition: Some("<too-many xmlns='urn:x'/>".into()),
        };
        let k = stanza_error("p", &e);
        assert_eq!(k.condition, StanzaErrorCondition::NotAcceptable);
        assert_eq!(k.error_type, ErrorType::Cancel);
        assert_eq!(k.text.as_deref(), Some("no"));
        assert_eq!(k.app_condition.map(|a| a.ns), Some("urn:x".to_string()));
    }

    #[test]
    fn the_configs_grant_names_are_the_capabilities_uploads_and_server() {
        let mut names: Vec<&str> = ALL_CAPABILITIES.into_iter().map(capability_name).collect();
        names.extend(["uploads", "server"]);
        assert_eq!(names, crate::config::CAPABILITIES);
        names.truncate(names.len() - 2);
        for n in names {
            assert_eq!(capability_from_name(n).map(capability_name), Some(n));
        }
        assert_eq!(capability_from_name("root"), None);
    }

    #[test]
    fn stanza_types_follow_rfc_6121() {
        use types::StanzaType as T;
        assert_eq!(stanza_type(StanzaKind::Message, ""), Some(T::Normal));
        assert_eq!(stanza_type(StanzaKind::Message, "bogus"), Some(T::Normal), "RFC 6121 §5.2.2");
        assert_eq!(stanza_type(StanzaKind::Presence, ""), Some(T::Available));
        assert_eq!(stanza_type(StanzaKind::Presence, "available"), Some(T::Available), "Stanza::type_attr");
        assert_eq!(stanza_type(StanzaKind::Presence, "bogus"), None);
        assert_eq!(stanza_type(StanzaKind::Iq, "result"), Some(T::Result));
        assert_eq!(stanza_type(StanzaKind::Iq, "chat"), None);
        for t in [T::Chat, T::Unavailable, T::Get, T::Error] {
            let kind = match t {
                T::Chat | T::Error => StanzaKind::Message,
                T::Unavailable => StanzaKind::Presence,
                _ => StanzaKind::Iq,
            };
            assert_eq!(stanza_type(kind, stanza_type_name(t)), Some(t));
        }
    }

    #[test]
    fn stanza_error_defaults_and_drops_garbage() {
        let e = types::StanzaError {
            condition: types::ErrorCondition::Forbidden,
            error_type: None,
            text: Some(String::new()),
            app_condition: Some("<not xml".into()),
        };
        let k = stanza_error("p", &e);
        assert_eq!(k.error_type, ErrorType::Auth);
        assert_eq!(k.text, None);
        assert_eq!(k.app_condition, None);
    }
}
