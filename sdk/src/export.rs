//! The adapter that exports a [`Plugin`] as the WIT `guest` interface.

use std::marker::PhantomData;

use waxwing_xml::{Element, ns};

use crate::bindings::exports::waxwing::plugin::guest::Guest;
use crate::bindings::waxwing::plugin::types as wit;
use crate::event::Event;
use crate::panic_hook;
use crate::plugin::{Handled, Outcome, Plugin, Verdict};
use crate::stanza::Stanza;
use crate::stanza_error::stanza_error_to_wit;

/// Implements the generated `Guest` for any [`Plugin`]; named by
/// [`crate::export_plugin!`], not by plugins. Every export first makes sure
/// the panic hook is installed, so a panic reaches the server log.
pub struct Export<P>(PhantomData<P>);

impl<P: Plugin> Guest for Export<P> {
    fn describe() -> wit::Description {
        panic_hook::install();
        P::describe().into_wit()
    }

    fn init(config: String) -> Result<wit::Ready, String> {
        panic_hook::install();
        let ready = crate::config::load(&config, P::init)?;
        Ok(ready.into_wit())
    }

    fn handle_stanza(stanza: wit::Stanza) -> Result<wit::Outcome, wit::StanzaError> {
        panic_hook::install();
        outcome_to_wit(P::on_stanza(Stanza::from_wit(stanza)))
    }

    fn handle_event(event: wit::Event) -> Result<(), String> {
        panic_hook::install();
        let event = Event::from_wit(event);
        // The handler takes the event, so what names it in a report is kept
        // aside: a few bytes, where the event may carry a whole message.
        let label = event.label();
        P::on_event(event).map_err(|e| e.report(&label))
    }

    fn filter(stanza: wit::Stanza) -> wit::Verdict {
        panic_hook::install();
        verdict_to_wit(P::filter(Stanza::from_wit(stanza)))
    }

    fn migrate(from_version: String) -> Result<(), String> {
        panic_hook::install();
        P::migrate(&from_version)
    }
}

/// Stanzas cross as `jabber:client` children, so the default namespace is
/// left implicit: the kernel re-declares it for whichever stream it writes to.
fn stanza_xml(el: &Element) -> String {
    el.to_xml_in(ns::CLIENT)
}

fn outcome_to_wit(handled: Handled) -> Result<wit::Outcome, wit::StanzaError> {
    match handled {
        Ok(Outcome::Done) => Ok(wit::Outcome::Done),
        Ok(Outcome::Pass) => Ok(wit::Outcome::Pass),
        Ok(Outcome::Reply(el)) => Ok(wit::Outcome::Reply(stanza_xml(&el))),
        Err(e) => Err(stanza_error_to_wit(&e)),
    }
}

fn verdict_to_wit(v: Verdict) -> wit::Verdict {
    match v {
        Verdict::Pass => wit::Verdict::Pass,
        Verdict::Drop => wit::Verdict::Drop,
        Verdict::Rewrite(el) => wit::Verdict::Rewrite(stanza_xml(&el)),
        Verdict::Reject(e) => wit::Verdict::Reject(stanza_error_to_wit(&e)),
    }
}

#[cfg(test)]
#[path = "export_tests.rs"]
mod tests;
