//! The [`Plugin`] trait and the adapter that exports it as the WIT `guest`.

use std::marker::PhantomData;

use waxwing_xml::{Element, StanzaError, ns};

use crate::bindings::exports::waxwing::plugin::guest::Guest;
use crate::bindings::waxwing::plugin::types as wit;
use crate::describe::Describe;
use crate::error::stanza_error_to_wit;
use crate::json::Json;
use crate::stanza::{Iq, Message, Presence, Stanza};
use crate::{Event, Kind, config};

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
    Pass,
    Drop,
    Rewrite(Element),
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

    /// Checks and takes the config (also readable later through
    /// [`crate::config()`]). An `Err` refuses the load with that message.
    fn init(_config: &Json) -> Result<(), String> {
        Ok(())
    }

    /// Every routed stanza; the default dispatches on its kind.
    fn on_stanza(stanza: Stanza) -> Handled {
        match stanza.kind() {
            Kind::Iq => Self::on_iq(Iq(stanza)),
            Kind::Message => Self::on_message(Message(stanza)),
            Kind::Presence => Self::on_presence(Presence(stanza)),
        }
    }

    fn on_iq(_iq: Iq) -> Handled {
        Ok(Outcome::Pass)
    }

    fn on_message(_message: Message) -> Handled {
        Ok(Outcome::Pass)
    }

    fn on_presence(_presence: Presence) -> Handled {
        Ok(Outcome::Pass)
    }

    /// A subscribed event. An `Err` is logged by the kernel; the event is gone.
    fn on_event(_event: Event) -> Result<(), String> {
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

/// Implements the generated `Guest` for any [`Plugin`]; named by
/// [`crate::export_plugin!`], not by plugins.
pub struct Export<P>(PhantomData<P>);

impl<P: Plugin> Guest for Export<P> {
    fn describe() -> wit::Description {
        P::describe().into_wit()
    }

    fn init(config: String) -> Result<(), String> {
        config::set(config::parse(&config)?);
        P::init(&config::config())
    }

    fn handle_stanza(stanza: wit::Stanza) -> Result<wit::Outcome, wit::StanzaError> {
        outcome_to_wit(P::on_stanza(Stanza::from_wit(stanza)))
    }

    fn handle_event(event: wit::Event) -> Result<(), String> {
        P::on_event(event)
    }

    fn filter(stanza: wit::Stanza) -> wit::Verdict {
        verdict_to_wit(P::filter(Stanza::from_wit(stanza)))
    }

    fn migrate(from_version: String) -> Result<(), String> {
        P::migrate(&from_version)
    }
}

/// Stanzas cross as `jabber:client` children, so the default namespace is
/// left implicit: the kernel re-declares it for whichever stream it writes to.
fn stanza_xml(el: &Element) -> String {
    el.to_xml_in(ns::CLIENT)
}

pub(crate) fn outcome_to_wit(handled: Handled) -> Result<wit::Outcome, wit::StanzaError> {
    match handled {
        Ok(Outcome::Done) => Ok(wit::Outcome::Done),
        Ok(Outcome::Pass) => Ok(wit::Outcome::Pass),
        Ok(Outcome::Reply(el)) => Ok(wit::Outcome::Reply(stanza_xml(&el))),
        Err(e) => Err(stanza_error_to_wit(&e)),
    }
}

pub(crate) fn verdict_to_wit(v: Verdict) -> wit::Verdict {
    match v {
        Verdict::Pass => wit::Verdict::Pass,
        Verdict::Drop => wit::Verdict::Drop,
        Verdict::Rewrite(el) => wit::Verdict::Rewrite(stanza_xml(&el)),
        Verdict::Reject(e) => wit::Verdict::Reject(stanza_error_to_wit(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::stanza_error_from_wit;
    use crate::{Address, Condition};

    struct Echo;

    impl Plugin for Echo {
        fn describe() -> Describe {
            Describe::new("echo", "1.0.0").iq_get_host("urn:test", "q")
        }

        fn init(config: &Json) -> Result<(), String> {
            match config.get("refuse").as_bool() {
                Some(true) => Err("refused".into()),
                _ => Ok(()),
            }
        }

        fn on_iq(iq: Iq) -> Handled {
            if iq.payload_ns() == "urn:test" { iq.reply_empty() } else { Err(Condition::ItemNotFound.into()) }
        }

        fn filter(stanza: Stanza) -> Verdict {
            match stanza.stanza_type() {
                "headline" => Verdict::Drop,
                "error" => Verdict::Reject(Condition::NotAllowed.into()),
                _ => Verdict::Pass,
            }
        }
    }

    fn verdict_from_wit(v: &wit::Verdict) -> Verdict {
        match v {
            wit::Verdict::Pass => Verdict::Pass,
            wit::Verdict::Drop => Verdict::Drop,
            wit::Verdict::Rewrite(xml) => Verdict::Rewrite(Element::parse(xml).unwrap()),
            wit::Verdict::Reject(e) => Verdict::Reject(stanza_error_from_wit(e)),
        }
    }

    fn raw(xml: &str) -> wit::Stanza {
        let s = Stanza::from_xml(xml, Address::Host, "h").unwrap();
        wit::Stanza {
            kind: s.kind(),
            type_: s.stanza_type().into(),
            id: s.id().into(),
            from: s.from().into(),
            to: s.to().into(),
            addressed: s.addressed(),
            payload_ns: s.payload_ns().into(),
            payload_name: s.payload_name().into(),
            xml: s.xml().into(),
        }
    }

    #[test]
    fn dispatches_iq_and_serializes_the_reply() {
        let out = <Export<Echo> as Guest>::handle_stanza(raw(
            "<iq xmlns='jabber:client' type='get' id='1' from='u@h/r'><q xmlns='urn:test'/></iq>",
        ));
        assert_eq!(out, Ok(wit::Outcome::Reply("<iq from='h' to='u@h/r' id='1' type='result'/>".into())));
    }

    #[test]
    fn errors_cross_as_wit_errors() {
        let out = <Export<Echo> as Guest>::handle_stanza(raw(
            "<iq xmlns='jabber:client' type='get' id='1' from='u@h/r'><q xmlns='urn:other'/></iq>",
        ));
        let Err(e) = out else { panic!("expected an error") };
        assert_eq!(e.condition, wit::ErrorCondition::ItemNotFound);
        assert_eq!(e.error_type, "cancel");
    }

    #[test]
    fn unhandled_kinds_pass() {
        let out =
            <Export<Echo> as Guest>::handle_stanza(raw("<message xmlns='jabber:client'><body>x</body></message>"));
        assert_eq!(out, Ok(wit::Outcome::Pass));
    }

    #[test]
    fn init_parses_config_and_reports_refusal() {
        assert_eq!(<Export<Echo> as Guest>::init("{\"refuse\": true}".into()), Err("refused".into()));
        assert!(<Export<Echo> as Guest>::init("not json".into()).unwrap_err().contains("not valid JSON"));
        assert_eq!(<Export<Echo> as Guest>::init(String::new()), Ok(()));
    }

    #[test]
    fn filter_verdicts_round_trip() {
        let v = <Export<Echo> as Guest>::filter(raw("<message xmlns='jabber:client' type='headline'/>"));
        assert_eq!(verdict_from_wit(&v), Verdict::Drop);
        let v = <Export<Echo> as Guest>::filter(raw("<message xmlns='jabber:client' type='error'/>"));
        assert_eq!(verdict_from_wit(&v), Verdict::Reject(Condition::NotAllowed.into()));
        let rewritten = verdict_to_wit(Verdict::Rewrite(crate::new_message("a@b", "chat")));
        assert_eq!(rewritten, wit::Verdict::Rewrite("<message to='a@b' type='chat'/>".into()));
    }

    #[test]
    fn describe_goes_through() {
        let d = <Export<Echo> as Guest>::describe();
        assert_eq!(d.name, "echo");
        assert_eq!(d.routes.len(), 1);
    }
}
