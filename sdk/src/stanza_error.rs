//! Stanza errors across the boundary: what a handler or filter returns goes
//! out as the WIT record, typed on both sides since 2.0.

use waxwing_xml::{Element, ErrorType, StanzaError, StanzaErrorCondition};

use crate::bindings::waxwing::plugin::types as wit;

macro_rules! enum_map {
    ($from:ty => $to:ty { $($name:ident),+ $(,)? }) => {
        impl From<$from> for $to {
            fn from(v: $from) -> $to {
                match v { $(<$from>::$name => <$to>::$name),+ }
            }
        }

        impl From<$to> for $from {
            fn from(v: $to) -> $from {
                match v { $(<$to>::$name => <$from>::$name),+ }
            }
        }
    };
}

enum_map!(StanzaErrorCondition => wit::ErrorCondition {
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
});

enum_map!(ErrorType => wit::ErrorType { Auth, Cancel, Continue, Modify, Wait });

/// The WIT form of a stanza error. A type that is the condition's default
/// crosses as `None`, so the kernel applies its own table (RFC 6120 §8.3.3).
/// The WIT record has no slot for the address of `gone`/`redirect`, so
/// `StanzaError::redirect` does not cross.
pub fn stanza_error_to_wit(e: &StanzaError) -> wit::StanzaError {
    let error_type = (e.error_type != e.condition.default_type()).then(|| e.error_type.into());
    wit::StanzaError {
        condition: e.condition.into(),
        error_type,
        text: e.text.clone(),
        app_condition: e.app_condition.as_ref().map(Element::to_xml),
    }
}

/// Reads a WIT stanza error back: `None` for the type is the condition's
/// default; an app condition that is not XML is dropped rather than failing.
pub fn stanza_error_from_wit(e: &wit::StanzaError) -> StanzaError {
    let condition = StanzaErrorCondition::from(e.condition);
    let mut out = StanzaError::new(condition);
    out.error_type = e.error_type.map_or_else(|| condition.default_type(), ErrorType::from);
    out.text = e.text.clone();
    out.app_condition = e.app_condition.as_deref().and_then(|xml| Element::parse(xml).ok());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_condition_round_trips_through_wit() {
        for c in StanzaErrorCondition::ALL {
            assert_eq!(StanzaErrorCondition::from(wit::ErrorCondition::from(*c)), *c);
        }
    }

    #[test]
    fn every_error_type_round_trips_through_wit() {
        for t in [ErrorType::Auth, ErrorType::Cancel, ErrorType::Continue, ErrorType::Modify, ErrorType::Wait] {
            let w = wit::ErrorType::from(t);
            assert_eq!(ErrorType::from(w), t);
            assert_eq!(format!("{w:?}").to_lowercase(), format!("errortype::{}", t.as_str()));
        }
    }

    #[test]
    fn default_type_crosses_as_none_and_others_as_themselves() {
        let e = StanzaError::new(StanzaErrorCondition::ItemNotFound);
        assert_eq!(stanza_error_to_wit(&e).error_type, None);
        let w = stanza_error_to_wit(&e.clone().with_type(ErrorType::Wait));
        assert_eq!(w.error_type, Some(wit::ErrorType::Wait));
        assert_eq!(stanza_error_from_wit(&w).error_type, ErrorType::Wait);
        assert_eq!(stanza_error_from_wit(&w), e.with_type(ErrorType::Wait));
    }

    #[test]
    fn app_specific_condition_crosses_as_xml() {
        let app = Element::new("unsupported", "http://jabber.org/protocol/pubsub#errors").with_attr("feature", "purge");
        let e = StanzaError::new(StanzaErrorCondition::FeatureNotImplemented)
            .with_text("no purge")
            .with_app_condition(app.clone());
        let w = stanza_error_to_wit(&e);
        assert_eq!(w.condition, wit::ErrorCondition::FeatureNotImplemented);
        assert_eq!(w.error_type, None);
        assert_eq!(w.text.as_deref(), Some("no purge"));
        assert_eq!(
            w.app_condition.as_deref(),
            Some("<unsupported xmlns='http://jabber.org/protocol/pubsub#errors' feature='purge'/>")
        );
        assert_eq!(stanza_error_from_wit(&w), e);
    }

    #[test]
    fn absent_wit_fields_mean_defaults() {
        let w = wit::StanzaError {
            condition: wit::ErrorCondition::NotAuthorized,
            error_type: None,
            text: None,
            app_condition: Some("<not xml".into()),
        };
        let e = stanza_error_from_wit(&w);
        assert_eq!(e, StanzaError::new(StanzaErrorCondition::NotAuthorized));
        assert_eq!(e.error_type, ErrorType::Auth);
    }
}
