//! What happens to a stanza between a user and someone on their blocklist
//! (XEP-0191 §3.3), as a pure function of its direction, kind and type.
//! Wherever the XEP leaves room this follows Prosody: nothing that is itself
//! an answer (an error, an iq result) is ever answered, so no error loops and
//! no reply that tells a blocked party more than "unavailable".

use waxwing_sdk::prelude::*;

use crate::command::blocked_condition;

/// Which side of the block the sender is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From a blocked entity to the user who blocked it.
    FromBlocked,
    /// From the user to an entity they blocked.
    ToBlocked,
}

pub fn verdict(direction: Direction, kind: Kind, stanza_type: StanzaType) -> Verdict {
    let is_request = match kind {
        // Presence of every type (notifications, subscriptions, probes) is
        // ignored both ways: it is never answered.
        Kind::Presence => false,
        Kind::Iq => matches!(stanza_type, StanzaType::Get | StanzaType::Set),
        Kind::Message => match direction {
            // The blocked party learns no more than it would from an
            // account with no available resource; headlines and groupchat
            // are not conversations and are dropped like Prosody does.
            Direction::FromBlocked => matches!(stanza_type, StanzaType::Normal | StanzaType::Chat),
            // The user is told why their own message did not go.
            Direction::ToBlocked => stanza_type != StanzaType::Error,
        },
    };
    if !is_request {
        return Verdict::Drop;
    }
    Verdict::Reject(match direction {
        Direction::FromBlocked => StanzaError::new(Condition::ServiceUnavailable),
        Direction::ToBlocked => StanzaError::new(Condition::NotAcceptable)
            .with_type(ErrorType::Cancel)
            .with_app_condition(blocked_condition()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Direction::*;

    fn condition(v: Verdict) -> Option<(Condition, Option<Element>)> {
        match v {
            Verdict::Reject(e) => Some((e.condition, e.app_condition)),
            Verdict::Drop => None,
            other => panic!("a filter verdict this policy never gives: {other:?}"),
        }
    }

    #[test]
    fn presence_is_dropped_both_ways() {
        use StanzaType::*;
        for t in [Available, Unavailable, Subscribe, Subscribed, Unsubscribe, Probe, Error] {
            assert_eq!(verdict(FromBlocked, Kind::Presence, t), Verdict::Drop, "{t}");
            assert_eq!(verdict(ToBlocked, Kind::Presence, t), Verdict::Drop, "{t}");
        }
    }

    #[test]
    fn a_blocked_sender_gets_service_unavailable_for_requests_only() {
        use StanzaType::*;
        for (kind, t) in [(Kind::Message, Normal), (Kind::Message, Chat), (Kind::Iq, Get), (Kind::Iq, Set)] {
            assert_eq!(condition(verdict(FromBlocked, kind, t)), Some((Condition::ServiceUnavailable, None)), "{t}");
        }
        for (kind, t) in [
            (Kind::Message, Headline),
            (Kind::Message, Groupchat),
            (Kind::Message, Error),
            (Kind::Iq, Result),
            (Kind::Iq, Error),
        ] {
            assert_eq!(verdict(FromBlocked, kind, t), Verdict::Drop, "{kind:?} {t}");
        }
    }

    #[test]
    fn the_user_is_told_their_stanza_was_blocked() {
        use StanzaType::*;
        let blocked = Some((Condition::NotAcceptable, Some(blocked_condition())));
        for (kind, t) in [(Kind::Message, Chat), (Kind::Message, Headline), (Kind::Iq, Get), (Kind::Iq, Set)] {
            assert_eq!(condition(verdict(ToBlocked, kind, t)), blocked, "{kind:?} {t}");
        }
        match verdict(ToBlocked, Kind::Message, Normal) {
            Verdict::Reject(e) => assert_eq!(e.error_type, ErrorType::Cancel),
            other => panic!("{other:?}"),
        }
        // Answers to a blocked party are not bounced back to the user.
        for (kind, t) in [(Kind::Message, Error), (Kind::Iq, Result), (Kind::Iq, Error)] {
            assert_eq!(verdict(ToBlocked, kind, t), Verdict::Drop, "{kind:?} {t}");
        }
    }
}
