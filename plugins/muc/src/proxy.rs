//! iqs to an occupant (XEP-0045 §7.2.x "IQ proxying"): answered by the room
//! for a self-ping (XEP-0410), otherwise passed to the occupant's session
//! from the sender's nick, its answer brought back by `route.request`.

use waxwing_sdk::prelude::*;
use waxwing_sdk::route;

use crate::{occupants, room_jid};

const SEP: char = '\u{1f}';
/// How long an occupant's client has to answer.
const TIMEOUT_MS: u32 = 30_000;

pub fn iq(iq: &Iq, node: &str, nick: &str) -> Handled {
    if !(iq.is_get() || iq.is_set()) {
        // Answers to proxied iqs come back as events; a stray one is dropped.
        return Ok(Outcome::Done);
    }
    let all = occupants::load(node)?;
    let Some(me) = all.by_jid(iq.from()) else {
        // §6.6 for disco; XEP-0410 (and the rest) not-acceptable.
        let condition = match iq.payload_ns() {
            ns::DISCO_INFO | ns::DISCO_ITEMS => Condition::BadRequest,
            _ => Condition::NotAcceptable,
        };
        return Err(StanzaError::new(condition).with_text("only occupants may send iqs to occupants"));
    };
    if me.nick == nick && iq.payload_ns() == ns::PING {
        return iq.reply_empty();
    }
    let target = all.by_nick(nick).ok_or_else(|| {
        StanzaError::new(Condition::ItemNotFound).with_text(format!("nobody is in the room as {nick}"))
    })?;
    let el = iq.element()?;
    let mut out = waxwing_sdk::new_iq(iq.stanza_type(), "")
        .with_attr("from", room_jid(node, Some(&me.nick)))
        .with_attr("to", target.jids[0].clone());
    for c in el.elements() {
        out.push_child(c.clone());
    }
    let context = [iq.from(), iq.id(), iq.to()].join(&SEP.to_string());
    route::request(&out, TIMEOUT_MS, &context)?;
    Ok(Outcome::Done)
}

/// The occupant answered (or did not): the answer goes to whoever asked.
pub fn answered(context: &str, outcome: &IqOutcome) -> Result<(), StanzaError> {
    let mut parts = context.split(SEP);
    let (Some(to), Some(id), Some(from)) = (parts.next(), parts.next(), parts.next()) else { return Ok(()) };
    let mut reply = Element::new("iq", ns::CLIENT).with_attr("from", from).with_attr("to", to).with_attr("id", id);
    match outcome.xml().map(waxwing_sdk::parse_client_xml) {
        Some(Ok(answer)) => {
            reply.set_attr("type", answer.attr("type").unwrap_or("error"));
            for c in answer.elements() {
                reply.push_child(c.clone());
            }
        }
        _ => {
            reply.set_attr("type", "error");
            let e = StanzaError::new(Condition::RecipientUnavailable).with_text("the occupant did not answer");
            reply.push_child(e.to_element(ns::CLIENT));
        }
    }
    route::send(&reply)?;
    Ok(())
}
