//! Subscription stanzas through the server (RFC 6121 §3): outbound from a
//! local user in a filter, inbound to a local user in a route, both driving
//! [`crate::subscription`] and carrying out what it decides.

use waxwing_sdk::prelude::*;
use waxwing_sdk::route;

use crate::address::{bare, is_on};
use crate::item::Item;
use crate::subscription::{self, Request, Subscription, Transition};
use crate::{presence, roster_iq, stanzas, storage};

/// Stores a changed record and pushes it when the roster shows it.
fn commit(user: &str, item: &mut Item, was_listed: bool) -> storage::Result<()> {
    if let Some(ver) = storage::save(user, item, was_listed)? {
        roster_iq::push(user, &item.to_wire(), ver)?;
    }
    Ok(())
}

/// Presence follows the subscription: a contact that gained `from` sees the
/// user's resources, one that lost it sees them leave.
fn follow_presence(user: &str, contact: &str, t: &Transition, before: Subscription) -> Result<(), HostError> {
    if t.gained_from(before) {
        presence::send_presence_of_resources(user, contact)?;
    }
    if t.lost_from(before) {
        presence::send_unavailable_of_resources(user, contact)?;
    }
    Ok(())
}

/// A local user sends a subscription stanza (§3.1.2, §3.2.2, §3.3.2, §3.4).
/// The filter sends the stanza on itself, stamped from the bare JID, so
/// that presence it owes the contact follows it rather than precedes it.
pub fn outbound(stanza: &Stanza, request: Request) -> Verdict {
    let from = stanza.from();
    // Only an account has a roster; another virtual host's account is that
    // host's business.
    if !is_on(from, &waxwing_sdk::domain()) || waxwing_sdk::jid::node(from).is_none() {
        return Verdict::Pass;
    }
    match process_outbound(stanza, request, bare(from)) {
        Ok(Some(refusal)) => Verdict::Reject(refusal),
        Ok(None) => Verdict::Drop,
        Err(e) => Verdict::Reject(e.into()),
    }
}

/// `Some` error when the stanza is refused.
fn process_outbound(stanza: &Stanza, request: Request, user: &str) -> storage::Result<Option<StanzaError>> {
    let contact = bare(stanza.to()).to_string();
    if contact == user {
        return Ok(None);
    }
    let mut item = storage::load(user, &contact)?;
    let (before, was_listed) = (item.sub, item.listed);
    let lists = matches!(request, Request::Subscribe | Request::Subscribed);
    if lists && !was_listed && storage::is_full(user)? {
        return Ok(Some(roster_iq::roster_full()));
    }
    let t = subscription::outbound(before, request);
    item.sub = t.state;
    // §3.1.2 and §3.4: asking for or granting a subscription puts the
    // contact in the roster.
    if lists {
        item.listed = true;
    }
    if item.sub != before || item.listed != was_listed {
        commit(user, &mut item, was_listed)?;
    }
    if t.forward {
        let mut out = stanza.element().map_err(|e| storage::Failure(format!("{e:?}")))?.clone();
        out.set_attr("from", user);
        out.set_attr("to", contact.as_str());
        route::send(&out)?;
    }
    follow_presence(user, &contact, &t, before)?;
    Ok(None)
}

/// A subscription stanza for a local user (§3.1.3, §3.2.3, §3.3.3):
/// delivered (`Pass`, the kernel hands it to the available resources) or
/// absorbed, as the state machine says.
pub fn inbound(presence: &Presence, request: Request) -> Handled {
    let contact = bare(presence.from()).to_string();
    let user = presence.to();
    if contact.is_empty() || contact == user {
        return Ok(Outcome::Done);
    }
    let mut item = storage::load(user, &contact)?;
    let before = item.sub;
    let t = subscription::inbound(before, request);
    if t.state != before {
        item.sub = t.state;
        let was_listed = item.listed;
        commit(user, &mut item, was_listed)?;
    }
    if let Some(reply) = t.auto_reply {
        route::send(&stanzas::subscription(reply, user, &contact))?;
    }
    follow_presence(user, &contact, &t, before)?;
    Ok(if t.forward { Outcome::Pass } else { Outcome::Done })
}

/// The account is gone: its contacts hear that every subscription ended,
/// and its roster goes.
pub fn forget_user(user: &str) -> Result<(), String> {
    for item in storage::items(user)? {
        let s = item.sub;
        if s.to || s.pending_out {
            route::send(&stanzas::subscription(Request::Unsubscribe, user, &item.jid)).map_err(|e| e.to_string())?;
        }
        if s.from || s.pending_in {
            route::send(&stanzas::subscription(Request::Unsubscribed, user, &item.jid)).map_err(|e| e.to_string())?;
        }
        if s.from {
            presence::send_unavailable_of_resources(user, &item.jid).map_err(|e| e.to_string())?;
        }
    }
    Ok(storage::delete_all(user)?)
}
