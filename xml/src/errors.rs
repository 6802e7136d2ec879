//! The error conditions of RFC 6120: stream errors (§4.9.3) and stanza errors (§8.3.3).

use crate::element::Element;
use crate::ns;

macro_rules! conditions {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The element name the RFC gives this condition.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn from_name(name: &str) -> Option<Self> {
                match name { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

conditions!(
    /// RFC 6120 §4.9.3: why a stream is being closed.
    StreamErrorCondition {
        BadFormat => "bad-format",
        BadNamespacePrefix => "bad-namespace-prefix",
        Conflict => "conflict",
        ConnectionTimeout => "connection-timeout",
        HostGone => "host-gone",
        HostUnknown => "host-unknown",
        ImproperAddressing => "improper-addressing",
        InternalServerError => "internal-server-error",
        InvalidFrom => "invalid-from",
        InvalidNamespace => "invalid-namespace",
        InvalidXml => "invalid-xml",
        NotAuthorized => "not-authorized",
        NotWellFormed => "not-well-formed",
        PolicyViolation => "policy-violation",
        RemoteConnectionFailed => "remote-connection-failed",
        Reset => "reset",
        ResourceConstraint => "resource-constraint",
        RestrictedXml => "restricted-xml",
        SeeOtherHost => "see-other-host",
        SystemShutdown => "system-shutdown",
        UndefinedCondition => "undefined-condition",
        UnsupportedEncoding => "unsupported-encoding",
        UnsupportedFeature => "unsupported-feature",
        UnsupportedStanzaType => "unsupported-stanza-type",
        UnsupportedVersion => "unsupported-version",
    }
);

conditions!(
    /// RFC 6120 §8.3.3: why a stanza failed.
    StanzaErrorCondition {
        BadRequest => "bad-request",
        Conflict => "conflict",
        FeatureNotImplemented => "feature-not-implemented",
        Forbidden => "forbidden",
        Gone => "gone",
        InternalServerError => "internal-server-error",
        ItemNotFound => "item-not-found",
        JidMalformed => "jid-malformed",
        NotAcceptable => "not-acceptable",
        NotAllowed => "not-allowed",
        NotAuthorized => "not-authorized",
        PolicyViolation => "policy-violation",
        RecipientUnavailable => "recipient-unavailable",
        Redirect => "redirect",
        RegistrationRequired => "registration-required",
        RemoteServerNotFound => "remote-server-not-found",
        RemoteServerTimeout => "remote-server-timeout",
        ResourceConstraint => "resource-constraint",
        ServiceUnavailable => "service-unavailable",
        SubscriptionRequired => "subscription-required",
        UndefinedCondition => "undefined-condition",
        UnexpectedRequest => "unexpected-request",
    }
);

impl StreamErrorCondition {
    /// `<stream:error>` carrying this condition, ready to write into a stream.
    pub fn to_stream_error(self, text: Option<&str>) -> String {
        let mut out = String::from("<stream:error><");
        out.push_str(self.as_str());
        out.push_str(" xmlns='");
        out.push_str(ns::STREAM_ERRORS);
        out.push_str("'/>");
        if let Some(text) = text {
            out.push_str("<text xmlns='");
            out.push_str(ns::STREAM_ERRORS);
            out.push_str("' xml:lang='en'>");
            out.push_str(&crate::escape_text(text));
            out.push_str("</text>");
        }
        out.push_str("</stream:error>");
        out
    }
}

/// The `type` attribute of a stanza error (RFC 6120 §8.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorType {
    Auth,
    Cancel,
    Continue,
    Modify,
    Wait,
}

impl ErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::Auth => "auth",
            ErrorType::Cancel => "cancel",
            ErrorType::Continue => "continue",
            ErrorType::Modify => "modify",
            ErrorType::Wait => "wait",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "auth" => ErrorType::Auth,
            "cancel" => ErrorType::Cancel,
            "continue" => ErrorType::Continue,
            "modify" => ErrorType::Modify,
            "wait" => ErrorType::Wait,
            _ => return None,
        })
    }
}

impl StanzaErrorCondition {
    /// The error type RFC 6120 §8.3.3 pairs with each condition.
    pub fn default_type(self) -> ErrorType {
        use StanzaErrorCondition::*;
        match self {
            BadRequest | JidMalformed | NotAcceptable | PolicyViolation | Redirect => ErrorType::Modify,
            Forbidden | NotAuthorized | RegistrationRequired | SubscriptionRequired => ErrorType::Auth,
            RecipientUnavailable | RemoteServerTimeout | ResourceConstraint | UnexpectedRequest => ErrorType::Wait,
            Conflict
            | FeatureNotImplemented
            | Gone
            | InternalServerError
            | ItemNotFound
            | NotAllowed
            | RemoteServerNotFound
            | ServiceUnavailable
            | UndefinedCondition => ErrorType::Cancel,
        }
    }
}

/// A stanza error: condition, type, optional text, and optional
/// application-specific condition element (XEP-0182).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StanzaError {
    pub condition: StanzaErrorCondition,
    pub error_type: ErrorType,
    pub text: Option<String>,
    pub app_condition: Option<Element>,
    /// For `gone` and `redirect`: the new address (RFC 6120 §8.3.3.5, §8.3.3.14).
    pub redirect: Option<String>,
}

impl StanzaError {
    pub fn new(condition: StanzaErrorCondition) -> Self {
        StanzaError { condition, error_type: condition.default_type(), text: None, app_condition: None, redirect: None }
    }

    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    pub fn with_type(mut self, error_type: ErrorType) -> Self {
        self.error_type = error_type;
        self
    }

    pub fn with_app_condition(mut self, el: Element) -> Self {
        self.app_condition = Some(el);
        self
    }

    /// The `<error/>` child element, in the stanza's namespace.
    pub fn to_element(&self, stanza_ns: &str) -> Element {
        let mut cond = Element::new(self.condition.as_str(), ns::STANZA_ERRORS);
        if let Some(r) = &self.redirect {
            cond = cond.with_text(r.clone());
        }
        let mut err = Element::new("error", stanza_ns).with_attr("type", self.error_type.as_str()).with_child(cond);
        if let Some(t) = &self.text {
            err.push_child(Element::new("text", ns::STANZA_ERRORS).with_attr("xml:lang", "en").with_text(t.clone()));
        }
        if let Some(app) = &self.app_condition {
            err.push_child(app.clone());
        }
        err
    }

    /// Reads an `<error/>` element back (used by the SDK and by tests).
    pub fn from_element(err: &Element) -> Option<Self> {
        let cond = err
            .elements()
            .filter(|e| e.ns == ns::STANZA_ERRORS && e.name != "text")
            .find_map(|e| StanzaErrorCondition::from_name(&e.name))?;
        let mut out = StanzaError::new(cond);
        if let Some(t) = err.attr("type").and_then(ErrorType::from_name) {
            out.error_type = t;
        }
        out.text = err.child("text", ns::STANZA_ERRORS).map(|t| t.text());
        out.app_condition = err.elements().find(|e| e.ns != ns::STANZA_ERRORS).cloned();
        Some(out)
    }

    /// The error reply to `stanza` (RFC 6120 §8.3.1): addresses swapped,
    /// same id, type `error`, the original payload kept for context.
    pub fn reply_to(&self, stanza: &Element) -> Element {
        let mut reply = Element::new(stanza.name.clone(), stanza.ns.clone());
        if let Some(from) = stanza.attr("from") {
            reply.set_attr("to", from);
        }
        if let Some(to) = stanza.attr("to") {
            reply.set_attr("from", to);
        }
        if let Some(id) = stanza.attr("id") {
            reply.set_attr("id", id);
        }
        reply.set_attr("type", "error");
        for child in stanza.elements() {
            if !(child.name == "error" && child.ns == stanza.ns) {
                reply.push_child(child.clone());
            }
        }
        reply.push_child(self.to_element(&stanza.ns));
        reply
    }
}

impl From<StanzaErrorCondition> for StanzaError {
    fn from(c: StanzaErrorCondition) -> Self {
        StanzaError::new(c)
    }
}

impl std::fmt::Display for StanzaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.condition, self.error_type.as_str())?;
        if let Some(t) = &self.text {
            write!(f, ": {t}")?;
        }
        Ok(())
    }
}

impl std::error::Error for StanzaError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_condition_round_trips_by_name() {
        for c in StreamErrorCondition::ALL {
            assert_eq!(StreamErrorCondition::from_name(c.as_str()), Some(*c));
        }
        for c in StanzaErrorCondition::ALL {
            assert_eq!(StanzaErrorCondition::from_name(c.as_str()), Some(*c));
        }
        assert_eq!(StreamErrorCondition::ALL.len(), 25);
        assert_eq!(StanzaErrorCondition::ALL.len(), 22);
    }

    #[test]
    fn error_reply_swaps_addresses_and_keeps_id() {
        let iq =
            Element::parse("<iq xmlns='jabber:client' from='a@b/c' to='b' id='7' type='get'><q xmlns='urn:x'/></iq>")
                .unwrap();
        let reply = StanzaError::new(StanzaErrorCondition::ServiceUnavailable).with_text("nope").reply_to(&iq);
        assert_eq!(reply.attr("to"), Some("a@b/c"));
        assert_eq!(reply.attr("from"), Some("b"));
        assert_eq!(reply.attr("id"), Some("7"));
        assert_eq!(reply.attr("type"), Some("error"));
        let err = reply.child("error", "jabber:client").unwrap();
        let parsed = StanzaError::from_element(err).unwrap();
        assert_eq!(parsed.condition, StanzaErrorCondition::ServiceUnavailable);
        assert_eq!(parsed.error_type, ErrorType::Cancel);
        assert_eq!(parsed.text.as_deref(), Some("nope"));
    }

    #[test]
    fn stream_error_text_is_escaped() {
        let s = StreamErrorCondition::PolicyViolation.to_stream_error(Some("a<b"));
        assert!(s.contains("<policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"));
        assert!(s.contains("a&lt;b"));
    }
}
