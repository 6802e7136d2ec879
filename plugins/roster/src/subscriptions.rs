//! Subscription stanzas through the server (RFC 6121 §3): outbound from a
//! local user in a filter, inbound to a local user in a route, both driving
//! [`crate::subscription`] and carrying out what it decides.

use waxwing_sdk::jid::bare;
use waxwing_sdk::prelude::*;
use waxwing_sdk::route;

use crate::storage::{self, Change};
use crate::subscription::{self, Request, Transition};
use crate::{presence, roster_iq, stanzas};

/// A change the roster shows goes to the user's interested resources.
fn push(user: &str, change: &Change) -> Result<(), HostError> {
    match change.ver {
        Some(ver) => roster_iq::push(user, &change.after.to_wire(), ver),
        None => Ok(()),
    }
}

/// Presence follows the subscription: a contact that gained `from` sees the
/// user's resources, one that lost it sees them leave.
fn follow_presence(user: &str, change: &Change, t: &Transition) -> Result<(), HostError> {
    let (before, contact) = (change.before.sub, &change.after.jid);
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
    if waxwing_sdk::jid::domain(from) != waxwing_sdk::domain() || waxwing_sdk::jid::node(from).is_none() {
        return Verdict::Pass;
    }
    match process_outbound(stanza, request, bare(from)) {
        Ok(()) => Verdict::Drop,
        Err(refusal) => Verdict::Reject(refusal),
    }
}

fn process_outbound(stanza: &Stanza, request: Request, user: &str) -> Result<(), StanzaError> {
    let contact = bare(stanza.to());
    if contact == user {
        return Ok(());
    }
    // §3.1.2 and §3.4: asking for or granting a subscription puts the
    // contact in the roster.
    let lists = matches!(request, Request::Subscribe | Request::Subscribed);
    let (change, t) = storage::update(user, contact, false, |item| {
        if lists && !item.listed && storage::is_full(user)? {
            return Err(roster_iq::roster_full());
        }
        let t = subscription::outbound(item.sub, request);
        item.sub = t.state;
        item.listed |= lists;
        Ok(t)
    })?;
    push(user, &change)?;
    if t.forward {
        let mut out = stanza.element()?.clone();
        out.set_attr("from", user);
        out.set_attr("to", contact);
        route::send(&out)?;
    }
    Ok(follow_presence(user, &change, &t)?)
}

/// A subscription stanza for a local user (§3.1.3, §3.2.3, §3.3.3):
/// delivered (`Pass`, the kernel hands it to the available resources) or
/// absorbed, as the state machine says.
pub fn inbound(presence: &Presence, request: Request) -> Handled {
    let contact = bare(presence.from());
    let user = presence.to();
    if contact.is_empty() || contact == user {
        return Ok(Outcome::Done);
    }
    let (change, t) = storage::update(user, contact, false, |item| {
        let t = subscription::inbound(item.sub, request);
        item.sub = t.state;
        Ok(t)
    })?;
    push(user, &change)?;
    if let Some(reply) = t.auto_reply {
        route::send(&stanzas::subscription(reply, user, contact))?;
    }
    follow_presence(user, &change, &t)?;
    Ok(if t.forward { Outcome::Pass } else { Outcome::Done })
}

/// The account is gone: its contacts hear that every subscription ended,
/// and its roster and dataset entries go.
pub fn forget_user(user: &str) -> Result<(), EventError> {
    for item in storage::items(user)? {
        let s = item.sub;
        if s.to || s.pending_out {
            route::send(&stanzas::subscription(Request::Unsubscribe, user, &item.jid))?;
        }
        if s.from || s.pending_in {
            route::send(&stanzas::subscription(Request::Unsubscribed, user, &item.jid))?;
        }
        if s.from {
            presence::send_unavailable_of_resources(user, &item.jid)?;
        }
    }
    Ok(storage::delete_all(user)?)
}
