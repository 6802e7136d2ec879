//! Errors crossing the plugin boundary: stanza errors out to the kernel, host
//! errors back from it.

use std::fmt;

use waxwing_xml::{Element, ErrorType, StanzaError, StanzaErrorCondition};

use crate::Capability;
use crate::bindings::waxwing::plugin::types as wit;

/// Why a host call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostError {
    /// The operator did not grant the capability this call needs.
    NotGranted(Capability),
    /// The arguments were refused; the text says which and why.
    Invalid(String),
    /// A quota (keys, bytes, timers) was reached.
    Quota(String),
    /// Storage or routing failed inside the kernel.
    Internal(String),
}

/// The name a capability has in config `grants` and in the WIT.
pub fn capability_name(c: Capability) -> &'static str {
    match c {
        Capability::Kv => "kv",
        Capability::Mem => "mem",
        Capability::Route => "route",
        Capability::Sessions => "sessions",
        Capability::Accounts => "accounts",
        Capability::Timers => "timers",
    }
}

impl HostError {
    /// The WIT case name: "not-granted", "invalid", "quota" or "internal".
    pub fn kind(&self) -> &'static str {
        match self {
            HostError::NotGranted(_) => "not-granted",
            HostError::Invalid(_) => "invalid",
            HostError::Quota(_) => "quota",
            HostError::Internal(_) => "internal",
        }
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::NotGranted(c) => write!(f, "capability '{}' not granted", capability_name(*c)),
            HostError::Invalid(m) => write!(f, "invalid argument: {m}"),
            HostError::Quota(m) => write!(f, "quota reached: {m}"),
            HostError::Internal(m) => write!(f, "host failure: {m}"),
        }
    }
}

impl std::error::Error for HostError {}

impl From<wit::HostError> for HostError {
    fn from(e: wit::HostError) -> Self {
        match e {
            wit::HostError::NotGranted(c) => HostError::NotGranted(c),
            wit::HostError::Invalid(m) => HostError::Invalid(m),
            wit::HostError::Quota(m) => HostError::Quota(m),
            wit::HostError::Internal(m) => HostError::Internal(m),
        }
    }
}

/// A failed host call inside a handler fails the stanza. The sender learns
/// only the condition: what went wrong inside the server is not theirs to see.
impl From<HostError> for StanzaError {
    fn from(e: HostError) -> Self {
        match e {
            HostError::Quota(_) => StanzaError::new(StanzaErrorCondition::ResourceConstraint),
            _ => StanzaError::new(StanzaErrorCondition::InternalServerError),
        }
    }
}

macro_rules! condition_map {
    ($($name:ident),+ $(,)?) => {
        fn condition_to_wit(c: StanzaErrorCondition) -> wit::ErrorCondition {
            match c { $(StanzaErrorCondition::$name => wit::ErrorCondition::$name),+ }
        }

        fn condition_from_wit(c: wit::ErrorCondition) -> StanzaErrorCondition {
            match c { $(wit::ErrorCondition::$name => StanzaErrorCondition::$name),+ }
        }
    };
}

condition_map!(
    BadRequest,
    Conflict,
    FeatureNotImplemented,
    Forbidden,
    Gone,
    InternalServerError,
    ItemNotFound,
    JidMalformed,
    NotAcceptable,
    NotAllowed,
    NotAuthorized,
    PolicyViolation,
    RecipientUnavailable,
    Redirect,
    RegistrationRequired,
    RemoteServerNotFound,
    RemoteServerTimeout,
    ResourceConstraint,
    ServiceUnavailable,
    SubscriptionRequired,
    UndefinedCondition,
    UnexpectedRequest,
);

/// The WIT form of a stanza error. The WIT record has no slot for the
/// address of `gone`/`redirect`, so `StanzaError::redirect` does not cross.
pub fn stanza_error_to_wit(e: &StanzaError) -> wit::StanzaError {
    wit::StanzaError {
        condition: condition_to_wit(e.condition),
        error_type: e.error_type.as_str().to_string(),
        text: e.text.clone().unwrap_or_default(),
        app_condition: e.app_condition.as_ref().map(Element::to_xml).unwrap_or_default(),
    }
}

/// Reads a WIT stanza error back; an unknown type or an app condition that is
/// not XML falls back to the defaults rather than failing.
pub fn stanza_error_from_wit(e: &wit::StanzaError) -> StanzaError {
    let mut out = StanzaError::new(condition_from_wit(e.condition));
    if let Some(t) = ErrorType::from_name(&e.error_type) {
        out.error_type = t;
    }
    if !e.text.is_empty() {
        out.text = Some(e.text.clone());
    }
    if !e.app_condition.is_empty() {
        out.app_condition = Element::parse(&e.app_condition).ok();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_condition_round_trips_through_wit() {
        for c in StanzaErrorCondition::ALL {
            assert_eq!(condition_from_wit(condition_to_wit(*c)), *c);
        }
    }

    #[test]
    fn app_specific_condition_crosses_as_xml() {
        let app = Element::new("unsupported", "http://jabber.org/protocol/pubsub#errors").with_attr("feature", "purge");
        let e = StanzaError::new(StanzaErrorCondition::FeatureNotImplemented)
            .with_text("no purge")
            .with_app_condition(app.clone());
        let w = stanza_error_to_wit(&e);
        assert_eq!(w.condition, wit::ErrorCondition::FeatureNotImplemented);
        assert_eq!(w.error_type, "cancel");
        assert_eq!(w.text, "no purge");
        assert_eq!(w.app_condition, "<unsupported xmlns='http://jabber.org/protocol/pubsub#errors' feature='purge'/>");
        assert_eq!(stanza_error_from_wit(&w), e);
    }

    #[test]
    fn empty_wit_fields_mean_defaults() {
        let w = wit::StanzaError {
            condition: wit::ErrorCondition::NotAuthorized,
            error_type: String::new(),
            text: String::new(),
            app_condition: "<not xml".into(),
        };
        let e = stanza_error_from_wit(&w);
        assert_eq!(e, StanzaError::new(StanzaErrorCondition::NotAuthorized));
        assert_eq!(e.error_type, ErrorType::Auth);
    }

    #[test]
    fn host_errors_map_to_conditions_without_leaking_detail() {
        let e: StanzaError = HostError::Quota("keys".into()).into();
        assert_eq!(e.condition, StanzaErrorCondition::ResourceConstraint);
        let e: StanzaError = HostError::Internal("rocksdb: disk full at /var/lib".into()).into();
        assert_eq!(e.condition, StanzaErrorCondition::InternalServerError);
        assert_eq!(e.text, None);
        assert_eq!(HostError::NotGranted(Capability::Kv).to_string(), "capability 'kv' not granted");
        assert_eq!(HostError::NotGranted(Capability::Kv).kind(), "not-granted");
        assert_eq!(HostError::Quota(String::new()).kind(), "quota");
    }
}
