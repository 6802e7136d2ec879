//! The errors XEP-0060 names: a stanza condition with an application
//! condition in `pubsub#errors`.

use waxwing_sdk::prelude::*;

use crate::NS_ERRORS;

/// `condition` with `<app xmlns='…pubsub#errors'/>`.
pub fn pubsub(condition: Condition, app: &str) -> StanzaError {
    StanzaError::new(condition).with_app_condition(Element::new(app, NS_ERRORS))
}

/// `feature-not-implemented` with `<unsupported feature='…'/>` (§12).
pub fn unsupported(feature: &str) -> StanzaError {
    StanzaError::new(Condition::FeatureNotImplemented)
        .with_app_condition(Element::new("unsupported", NS_ERRORS).with_attr("feature", feature))
}

/// A request element this service does not know.
pub fn unsupported_request(name: &str) -> StanzaError {
    StanzaError::new(Condition::FeatureNotImplemented).with_text(format!("no pubsub request <{name}/> here"))
}

pub fn node_not_found() -> StanzaError {
    Condition::ItemNotFound.into()
}

pub fn forbidden() -> StanzaError {
    Condition::Forbidden.into()
}

pub fn internal(e: impl std::fmt::Debug) -> StanzaError {
    StanzaError::new(Condition::InternalServerError).with_text(format!("pubsub storage: {e:?}"))
}
