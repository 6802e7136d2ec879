//! The `type` of a stanza, typed since 2.0: the WIT enum with its names and
//! the kernel's reading of the attribute.

use std::fmt;

use crate::{Kind, StanzaType};

impl StanzaType {
    /// Every type, in WIT order.
    pub const ALL: [StanzaType; 15] = [
        StanzaType::Normal,
        StanzaType::Chat,
        StanzaType::Groupchat,
        StanzaType::Headline,
        StanzaType::Available,
        StanzaType::Unavailable,
        StanzaType::Subscribe,
        StanzaType::Subscribed,
        StanzaType::Unsubscribe,
        StanzaType::Unsubscribed,
        StanzaType::Probe,
        StanzaType::Get,
        StanzaType::Set,
        StanzaType::Result,
        StanzaType::Error,
    ];

    /// The name as in the WIT and (except `available`) in the attribute:
    /// "get", "chat", "available", ...
    pub fn as_str(self) -> &'static str {
        match self {
            StanzaType::Normal => "normal",
            StanzaType::Chat => "chat",
            StanzaType::Groupchat => "groupchat",
            StanzaType::Headline => "headline",
            StanzaType::Available => "available",
            StanzaType::Unavailable => "unavailable",
            StanzaType::Subscribe => "subscribe",
            StanzaType::Subscribed => "subscribed",
            StanzaType::Unsubscribe => "unsubscribe",
            StanzaType::Unsubscribed => "unsubscribed",
            StanzaType::Probe => "probe",
            StanzaType::Get => "get",
            StanzaType::Set => "set",
            StanzaType::Result => "result",
            StanzaType::Error => "error",
        }
    }

    /// The type named `name` ([`as_str`](Self::as_str) read back).
    pub fn from_name(name: &str) -> Option<StanzaType> {
        StanzaType::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// The kinds of stanza this type belongs to; `error` belongs to all three.
    pub fn fits(self, kind: Kind) -> bool {
        use StanzaType::*;
        match self {
            Error => true,
            Normal | Chat | Groupchat | Headline => kind == Kind::Message,
            Available | Unavailable | Subscribe | Subscribed | Unsubscribe | Unsubscribed | Probe => {
                kind == Kind::Presence
            }
            Get | Set | Result => kind == Kind::Iq,
        }
    }

    /// The type the kernel reads from a stanza's `type` attribute (`None`
    /// when absent): a message without one, or with one RFC 6121 §5.2.2 does
    /// not know, is `normal`; a presence without one is `available`. `None`
    /// back means the kernel refuses the stanza (`bad-request`).
    pub fn from_attr(kind: Kind, attr: Option<&str>) -> Option<StanzaType> {
        match (kind, attr) {
            (Kind::Message, attr) => {
                Some(attr.and_then(StanzaType::from_name).filter(|t| t.fits(kind)).unwrap_or(StanzaType::Normal))
            }
            (Kind::Presence, None) => Some(StanzaType::Available),
            // "available" is the WIT's name for no attribute, never a value.
            (_, Some("available")) => None,
            (_, Some(name)) => StanzaType::from_name(name).filter(|t| t.fits(kind)),
            (Kind::Iq, None) => None,
        }
    }

    /// The attribute value to write, `None` for the types that are written
    /// as no attribute: `available` presence and `normal` messages.
    pub fn attr(self) -> Option<&'static str> {
        match self {
            StanzaType::Available | StanzaType::Normal => None,
            other => Some(other.as_str()),
        }
    }
}

impl fmt::Display for StanzaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in StanzaType::ALL {
            assert_eq!(StanzaType::from_name(t.as_str()), Some(t));
            assert_eq!(t.to_string(), t.as_str());
        }
        assert_eq!(StanzaType::from_name("GET"), None);
    }

    #[test]
    fn reads_attributes_as_the_kernel_does() {
        use StanzaType::*;
        assert_eq!(StanzaType::from_attr(Kind::Message, None), Some(Normal));
        assert_eq!(StanzaType::from_attr(Kind::Message, Some("chat")), Some(Chat));
        assert_eq!(StanzaType::from_attr(Kind::Message, Some("bogus")), Some(Normal));
        assert_eq!(StanzaType::from_attr(Kind::Message, Some("get")), Some(Normal));
        assert_eq!(StanzaType::from_attr(Kind::Message, Some("error")), Some(Error));
        assert_eq!(StanzaType::from_attr(Kind::Presence, None), Some(Available));
        assert_eq!(StanzaType::from_attr(Kind::Presence, Some("probe")), Some(Probe));
        assert_eq!(StanzaType::from_attr(Kind::Presence, Some("available")), None);
        assert_eq!(StanzaType::from_attr(Kind::Presence, Some("chat")), None);
        assert_eq!(StanzaType::from_attr(Kind::Iq, Some("result")), Some(Result));
        assert_eq!(StanzaType::from_attr(Kind::Iq, None), None);
        assert_eq!(StanzaType::from_attr(Kind::Iq, Some("subscribe")), None);
    }

    #[test]
    fn defaults_are_written_as_no_attribute() {
        assert_eq!(StanzaType::Available.attr(), None);
        assert_eq!(StanzaType::Normal.attr(), None);
        assert_eq!(StanzaType::Unavailable.attr(), Some("unavailable"));
        assert_eq!(StanzaType::Result.attr(), Some("result"));
    }
}
