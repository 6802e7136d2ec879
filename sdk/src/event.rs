//! Events as `handle-event` delivers them since 2.0: each with its own data.

use crate::EventKind;
use crate::bindings::waxwing::plugin::types as wit;

/// What [`crate::Plugin::on_event`] receives. The first six arrive only if
/// subscribed with [`crate::Describe::event`]; timers and iq responses always
/// reach the plugin that asked for them. XML is serialized with
/// `jabber:client` left implicit: read it with [`crate::parse_client_xml`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A client bound a resource.
    SessionStarted {
        /// The session's full JID.
        jid: String,
    },
    /// A session ended, cleanly or not.
    SessionEnded {
        /// The session's full JID.
        jid: String,
        /// The last presence the session sent, serialized, if any.
        last_presence: Option<String>,
    },
    /// A session's own (undirected) presence changed.
    PresenceChanged {
        /// The session's full JID.
        jid: String,
        /// The presence stanza it sent, serialized.
        presence: String,
    },
    /// An account was created.
    UserCreated {
        /// Its bare JID.
        jid: String,
    },
    /// An account was deleted.
    UserDeleted {
        /// Its bare JID.
        jid: String,
    },
    /// A message to a local account found no resource to deliver to and no
    /// plugin took it; the plugin may store it.
    MessageUndeliverable {
        /// The message, serialized.
        message: String,
    },
    /// A timer set with [`crate::timers::set`] fired.
    TimerFired {
        /// What `timers::set` returned.
        id: u64,
        /// The data given to `timers::set`.
        data: String,
    },
    /// An iq sent with [`crate::route::request`] was answered or timed out.
    IqResponse {
        /// What `route::request` returned.
        request: u64,
        /// The context given to `route::request`.
        context: String,
        /// The answer.
        outcome: IqOutcome,
    },
}

/// How an iq sent with [`crate::route::request`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IqOutcome {
    /// The `result` iq, serialized.
    Result(String),
    /// The `error` iq, serialized.
    Error(String),
    /// No answer within the request's timeout.
    Timeout,
}

impl IqOutcome {
    /// The answering iq, serialized; `None` on a timeout.
    pub fn xml(&self) -> Option<&str> {
        match self {
            IqOutcome::Result(xml) | IqOutcome::Error(xml) => Some(xml),
            IqOutcome::Timeout => None,
        }
    }

    /// Whether the request timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, IqOutcome::Timeout)
    }
}

impl Event {
    /// The subscription that brings this event; `None` for timers and iq
    /// responses, which need none.
    pub fn kind(&self) -> Option<EventKind> {
        Some(match self {
            Event::SessionStarted { .. } => EventKind::SessionStarted,
            Event::SessionEnded { .. } => EventKind::SessionEnded,
            Event::PresenceChanged { .. } => EventKind::PresenceChanged,
            Event::UserCreated { .. } => EventKind::UserCreated,
            Event::UserDeleted { .. } => EventKind::UserDeleted,
            Event::MessageUndeliverable { .. } => EventKind::MessageUndeliverable,
            Event::TimerFired { .. } | Event::IqResponse { .. } => return None,
        })
    }

    /// The WIT case name: "session-started", "timer-fired", ...
    pub fn name(&self) -> &'static str {
        match self {
            Event::SessionStarted { .. } => "session-started",
            Event::SessionEnded { .. } => "session-ended",
            Event::PresenceChanged { .. } => "presence-changed",
            Event::UserCreated { .. } => "user-created",
            Event::UserDeleted { .. } => "user-deleted",
            Event::MessageUndeliverable { .. } => "message-undeliverable",
            Event::TimerFired { .. } => "timer-fired",
            Event::IqResponse { .. } => "iq-response",
        }
    }

    /// The JID the event is about, for the events that have one.
    pub fn jid(&self) -> Option<&str> {
        match self {
            Event::SessionStarted { jid }
            | Event::SessionEnded { jid, .. }
            | Event::PresenceChanged { jid, .. }
            | Event::UserCreated { jid }
            | Event::UserDeleted { jid } => Some(jid),
            _ => None,
        }
    }

    /// What names this event in an error report: its name and its JID, timer
    /// or request.
    pub(crate) fn label(&self) -> String {
        match self {
            Event::TimerFired { id, .. } => format!("timer-fired (timer {id})"),
            Event::IqResponse { request, .. } => format!("iq-response (request {request})"),
            other => match other.jid() {
                Some(jid) => format!("{} ({jid})", other.name()),
                None => other.name().to_string(),
            },
        }
    }

    pub(crate) fn from_wit(e: wit::Event) -> Event {
        match e {
            wit::Event::SessionStarted(jid) => Event::SessionStarted { jid },
            wit::Event::SessionEnded(s) => Event::SessionEnded { jid: s.jid, last_presence: s.last_presence },
            wit::Event::PresenceChanged(p) => Event::PresenceChanged { jid: p.jid, presence: p.presence },
            wit::Event::UserCreated(jid) => Event::UserCreated { jid },
            wit::Event::UserDeleted(jid) => Event::UserDeleted { jid },
            wit::Event::MessageUndeliverable(message) => Event::MessageUndeliverable { message },
            wit::Event::TimerFired(t) => Event::TimerFired { id: t.id, data: t.data },
            wit::Event::IqResponse(r) => Event::IqResponse {
                request: r.request,
                context: r.context,
                outcome: match r.outcome {
                    wit::IqOutcome::Result(xml) => IqOutcome::Result(xml),
                    wit::IqOutcome::Error(xml) => IqOutcome::Error(xml),
                    wit::IqOutcome::Timeout => IqOutcome::Timeout,
                },
            },
        }
    }

    /// The WIT form, as the kernel would send it: for tests of the adapter.
    #[cfg(test)]
    pub(crate) fn into_wit(self) -> wit::Event {
        match self {
            Event::SessionStarted { jid } => wit::Event::SessionStarted(jid),
            Event::SessionEnded { jid, last_presence } => {
                wit::Event::SessionEnded(wit::SessionEnded { jid, last_presence })
            }
            Event::PresenceChanged { jid, presence } => {
                wit::Event::PresenceChanged(wit::PresenceChanged { jid, presence })
            }
            Event::UserCreated { jid } => wit::Event::UserCreated(jid),
            Event::UserDeleted { jid } => wit::Event::UserDeleted(jid),
            Event::MessageUndeliverable { message } => wit::Event::MessageUndeliverable(message),
            Event::TimerFired { id, data } => wit::Event::TimerFired(wit::TimerFired { id, data }),
            Event::IqResponse { request, context, outcome } => wit::Event::IqResponse(wit::IqResponse {
                request,
                context,
                outcome: match outcome {
                    IqOutcome::Result(xml) => wit::IqOutcome::Result(xml),
                    IqOutcome::Error(xml) => wit::IqOutcome::Error(xml),
                    IqOutcome::Timeout => wit::IqOutcome::Timeout,
                },
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_event() -> Vec<Event> {
        vec![
            Event::SessionStarted { jid: "u@h/r".into() },
            Event::SessionEnded { jid: "u@h/r".into(), last_presence: Some("<presence/>".into()) },
            Event::SessionEnded { jid: "u@h/r".into(), last_presence: None },
            Event::PresenceChanged { jid: "u@h/r".into(), presence: "<presence/>".into() },
            Event::UserCreated { jid: "u@h".into() },
            Event::UserDeleted { jid: "u@h".into() },
            Event::MessageUndeliverable { message: "<message/>".into() },
            Event::TimerFired { id: 7, data: "d".into() },
            Event::IqResponse { request: 3, context: "c".into(), outcome: IqOutcome::Result("<iq/>".into()) },
            Event::IqResponse { request: 3, context: "c".into(), outcome: IqOutcome::Error("<iq/>".into()) },
            Event::IqResponse { request: 3, context: "c".into(), outcome: IqOutcome::Timeout },
        ]
    }

    #[test]
    fn every_event_round_trips_through_wit() {
        for e in every_event() {
            assert_eq!(Event::from_wit(e.clone().into_wit()), e);
        }
    }

    #[test]
    fn kinds_and_names_follow_the_wit() {
        for e in every_event() {
            if let Some(kind) = e.kind() {
                assert_eq!(format!("{kind:?}").to_lowercase(), format!("eventkind::{}", e.name().replace('-', "")));
            }
        }
        assert_eq!(Event::TimerFired { id: 1, data: String::new() }.kind(), None);
        assert_eq!(Event::UserDeleted { jid: "u@h".into() }.jid(), Some("u@h"));
        assert_eq!(Event::MessageUndeliverable { message: String::new() }.jid(), None);
        assert_eq!(IqOutcome::Error("<iq/>".into()).xml(), Some("<iq/>"));
        assert!(IqOutcome::Timeout.is_timeout() && IqOutcome::Timeout.xml().is_none());
    }
}
