//! Stanzas the plugin sends: a message on request, a headline when a timer
//! fires, a ping whose answer (or its absence) is reported to the asker.

use waxwing_sdk::prelude::*;
use waxwing_sdk::{new_iq, new_message, route, timers};

use crate::{NS, bad_request, refused, required};

/// How long an `<ask/>`'s ping waits for its answer.
const ASK_TIMEOUT_MS: u32 = 2000;

/// `<timer ms='N'/>`: a headline to the requester in N ms.
pub(crate) fn set_timer(iq: &Iq) -> Handled {
    let ms = required(iq.payload()?, "ms")?
        .parse::<u64>()
        .map_err(|_| bad_request("'ms' must be a whole number of milliseconds"))?;
    // The timer outlives this call and this instance, so who to tell travels
    // with it as its data.
    timers::set(ms, iq.from()).map_err(refused)?;
    iq.reply_empty()
}

pub(crate) fn fired_message(domain: &str, to: &str) -> Element {
    new_message(to, StanzaType::Headline).with_attr("from", domain).with_child(Element::new("fired", NS))
}

pub(crate) fn fire(requester: &str) -> Result<(), EventError> {
    if Jid::parse(requester).is_none() {
        return Err(EventError::new(format!("a timer fired for {requester:?}, which is not a JID")));
    }
    Ok(route::send(&fired_message(&waxwing_sdk::domain(), requester))?)
}

/// `<say to='jid'>text</say>`: a chat message from the host.
pub(crate) fn say(iq: &Iq) -> Handled {
    let payload = iq.payload()?;
    let to = required(payload, "to")?;
    let body = Element::new("body", ns::CLIENT).with_text(payload.text());
    route::send(&new_message(to, StanzaType::Chat).with_child(body)).map_err(refused)?;
    iq.reply_empty()
}

/// `<ask to='jid'/>`: pings `jid` and answers at once; the outcome reaches
/// the asker later, from [`answered`].
pub(crate) fn ask(iq: &Iq) -> Handled {
    let to = required(iq.payload()?, "to")?;
    let ping = new_iq(StanzaType::Get, "").with_attr("to", to).with_child(Element::new("ping", ns::PING));
    // The answer may reach another instance: who asked travels as the context.
    route::request(&ping, ASK_TIMEOUT_MS, iq.from()).map_err(refused)?;
    iq.reply_empty()
}

/// Tells the asker how its ping ended.
pub(crate) fn answered(asker: &str, outcome: &IqOutcome) -> Result<(), EventError> {
    let how = match outcome {
        IqOutcome::Result(_) => "result",
        IqOutcome::Error(_) => "error",
        IqOutcome::Timeout => "timeout",
    };
    let report = Element::new("answered", NS).with_attr("outcome", how).with_attr("context", asker);
    let headline = new_message(asker, StanzaType::Headline).with_attr("from", waxwing_sdk::domain());
    route::send(&headline.with_child(report)).map_err(|e| EventError::from(e).context(format!("telling {asker}")))
}
