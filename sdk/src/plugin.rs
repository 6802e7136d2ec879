//! The [`Plugin`] trait a plugin implements, and what its handlers return.

use waxwing_xml::{Element, StanzaError};

use crate::Kind;
use crate::describe::Describe;
use crate::event::Event;
use crate::event_error::EventError;
use crate::json::Json;
use crate::ready::Ready;
use crate::stanza::{Iq, Message, Presence, Stanza};

/// What a stanza handler did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Handled; anything to send went through [`crate::route::send`].
    Done,
    /// Handled, and this is the reply: the kernel routes it, saving a host call.
    Reply(Element),
    /// Not for this plugin after all: the next matching route, or the
    /// kernel's default (`service-unavailable` for an iq), gets it.
    Pass,
}

/// A handler's result: an `Err` becomes an error reply to the sender.
pub type Handled = Result<Outcome, StanzaError>;

/// What a filter decided about a stanza before routing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Route it as it is.
    Pass,
    /// Drop it silently.
    Drop,
    /// Route this stanza instead.
    Rewrite(Element),
    /// Refuse it: the error goes back to the sender.
    Reject(StanzaError),
}

/// A plugin. Only [`Plugin::describe`] is required; every handler has a
/// default that leaves the stanza or event to others.
///
/// There is no `self`: the kernel runs several interchangeable instances and
/// recycles them, so anything that must last goes into `kv` or `mem`.
pub trait Plugin {
    /// What the plugin serves and needs. Must not depend on config.
    fn describe() -> Describe;

    /// Takes the config: the plugin's table as a JSON object, already checked
    /// by the kernel against [`Describe`]'s settings, defaults filled in (also
    /// readable later through [`crate::config()`]). Returns the stream
    /// features to offer, which may depend on the config; an `Err` refuses
    /// the load with that message.
    fn init(_config: &Json) -> Result<Ready, String> {
        Ok(Ready::new())
    }

    /// Every routed stanza; the default dispatches on its kind.
    fn on_stanza(stanza: Stanza) -> Handled {
        match stanza.kind() {
            Kind::Iq => Self::on_iq(Iq(stanza)),
            Kind::Message => Self::on_message(Message(stanza)),
            Kind::Presence => Self::on_presence(Presence(stanza)),
        }
    }

    /// A routed iq; the default passes it on.
    fn on_iq(_iq: Iq) -> Handled {
        Ok(Outcome::Pass)
    }

    /// A routed message; the default passes it on.
    fn on_message(_message: Message) -> Handled {
        Ok(Outcome::Pass)
    }

    /// A routed presence; the default passes it on.
    fn on_presence(_presence: Presence) -> Handled {
        Ok(Outcome::Pass)
    }

    /// A subscribed event, a timer or an iq response. An `Err` is logged by
    /// the kernel, prefixed with the event it is about; the event is gone.
    fn on_event(_event: Event) -> Result<(), EventError> {
        Ok(())
    }

    /// Stanzas matching `Describe::filter` routes, before they are routed.
    fn filter(_stanza: Stanza) -> Verdict {
        Verdict::Pass
    }

    /// Runs on a hot swap before this version serves; an `Err` keeps the old
    /// version serving.
    fn migrate(_from_version: &str) -> Result<(), String> {
        Ok(())
    }
}
