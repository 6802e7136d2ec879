//! Why a host call failed, and what a handler's sender learns of it.

use std::fmt;

use waxwing_xml::{StanzaError, StanzaErrorCondition};

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
        Capability::Disco => "disco",
        Capability::Datasets => "datasets",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_errors_map_to_conditions_without_leaking_detail() {
        let e: StanzaError = HostError::Quota("keys".into()).into();
        assert_eq!(e.condition, StanzaErrorCondition::ResourceConstraint);
        let e: StanzaError = HostError::Internal("rocksdb: disk full at /var/lib".into()).into();
        assert_eq!(e.condition, StanzaErrorCondition::InternalServerError);
        assert_eq!(e.text, None);
        assert_eq!(HostError::NotGranted(Capability::Kv).to_string(), "capability 'kv' not granted");
        assert_eq!(HostError::NotGranted(Capability::Datasets).to_string(), "capability 'datasets' not granted");
        assert_eq!(HostError::NotGranted(Capability::Kv).kind(), "not-granted");
        assert_eq!(HostError::Quota(String::new()).kind(), "quota");
    }

    #[test]
    fn wit_host_errors_convert() {
        let e: HostError = wit::HostError::Invalid("key too long".into()).into();
        assert_eq!(e, HostError::Invalid("key too long".into()));
        assert_eq!(e.to_string(), "invalid argument: key too long");
    }
}
