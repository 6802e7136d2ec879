//! Rust types generated from the plugin contract, and conversions between
//! them and the kernel's own types.

use waxwing_xml::{Element, ErrorType, StanzaError, StanzaErrorCondition};

use super::{Address, EventKind};
use crate::xml::StanzaKind;

wasmtime::component::bindgen!({
    path: "../plugin-abi/wit",
    world: "plugin",
});

pub(crate) use self::exports::waxwing::plugin::guest::Guest;
pub(crate) use self::waxwing::plugin::types;

/// The version of `waxwing:plugin` this kernel provides. Components naming
/// another major are refused before linking; an older minor links, because
/// wasmtime resolves names semver-compatibly and minors only add.
pub(crate) const ABI_MAJOR: u64 = 1;
pub(crate) const ABI_VERSION: &str = "1.1.0";

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
            EventKind::TimerFired => types::EventKind::TimerFired,
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
            types::EventKind::TimerFired => EventKind::TimerFired,
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

/// A plugin's stanza error as the kernel's. Parts the plugin got wrong (an
/// unknown error type, an app condition that is not XML) are dropped with a
/// warning rather than failing the stanza: the condition itself is always valid.
pub(crate) fn stanza_error(plugin: &str, e: &types::StanzaError) -> StanzaError {
    let mut out = StanzaError::new(condition(e.condition));
    if !e.error_type.is_empty() {
        match ErrorType::from_name(&e.error_type) {
            Some(t) => out.error_type = t,
            None => tracing::warn!(plugin, error_type = %e.error_type, "plugin returned an unknown error type"),
        }
    }
    if !e.text.is_empty() {
        out.text = Some(e.text.clone());
    }
    if !e.app_condition.is_empty() {
        match Element::parse(&e.app_condition) {
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
            error_type: "cancel".into(),
            text: "no".into(),
            app_condition: "<too-many xmlns='urn:x'/>".into(),
        };
        let k = stanza_error("p", &e);
        assert_eq!(k.condition, StanzaErrorCondition::NotAcceptable);
        assert_eq!(k.error_type, ErrorType::Cancel);
        assert_eq!(k.text.as_deref(), Some("no"));
        assert_eq!(k.app_condition.map(|a| a.ns), Some("urn:x".to_string()));
    }

    #[test]
    fn stanza_error_defaults_and_drops_garbage() {
        let e = types::StanzaError {
            condition: types::ErrorCondition::Forbidden,
            error_type: "sideways".into(),
            text: String::new(),
            app_condition: "<not xml".into(),
        };
        let k = stanza_error("p", &e);
        assert_eq!(k.error_type, ErrorType::Auth);
        assert_eq!(k.text, None);
        assert_eq!(k.app_condition, None);
    }
}
