//! Presence the server handles for its users (RFC 6121 §4): broadcast to
//! contacts, probes on initial presence and answers to probes, directed
//! presence, and the unavailable that follows a session however it ends.

use waxwing_sdk::jid::bare;
use waxwing_sdk::prelude::*;
use waxwing_sdk::{new_presence, parse_client_xml, route, sessions};

use crate::storage::{self, LastActivity};
use crate::subscription::Request;
use crate::{session_state, stanzas};

/// Contacts that receive the user's presence: subscription from or both.
pub fn subscribers(user: &str) -> storage::Result<Vec<String>> {
    Ok(storage::items(user)?.into_iter().filter(|i| i.sub.from).map(|i| i.jid).collect())
}

/// Contacts whose presence the user receives: subscription to or both.
fn sources(user: &str) -> storage::Result<Vec<String>> {
    Ok(storage::items(user)?.into_iter().filter(|i| i.sub.to).map(|i| i.jid).collect())
}

/// The last presence of each of the user's resources that contacts may see
/// (available and not invisible), with its full JID.
fn visible_presences(user: &str) -> Result<Vec<(String, Element)>, HostError> {
    let mut out = Vec::new();
    for s in sessions::of(user)? {
        if !s.available || session_state::is_invisible(&s.jid)? {
            continue;
        }
        if let Ok(p) = parse_client_xml(&s.presence) {
            out.push((s.jid, p));
        }
    }
    Ok(out)
}

/// Each visible resource's presence to `to`; returns how many were sent.
pub fn send_presence_of_resources(user: &str, to: &str) -> Result<usize, HostError> {
    let presences = visible_presences(user)?;
    for (full, p) in &presences {
        route::send(&stanzas::readdressed(p, full, to))?;
    }
    Ok(presences.len())
}

/// `to` may no longer see the user: unavailable from each visible resource.
pub fn send_unavailable_of_resources(user: &str, to: &str) -> Result<(), HostError> {
    for (full, _) in visible_presences(user)? {
        route::send(&stanzas::unavailable(&full, to))?;
    }
    Ok(())
}

/// The kernel's `presence-changed`: a session sent presence with no `to`.
pub fn changed(full: &str, data: &str) -> Result<(), EventError> {
    let presence = parse_client_xml(data).map_err(|e| EventError::from(e).context("presence-changed data"))?;
    let user = bare(full);
    let mut outgoing = presence.clone();
    outgoing.remove_attr("to");
    outgoing.set_attr("from", full);
    if matches!(presence.attr("type"), None | Some("available")) {
        let was_available = session_state::set_available(full, true)?;
        if !session_state::is_invisible(full)? {
            route::send_many(&outgoing, &subscribers(user)?)?;
        }
        if !was_available {
            initial_presence(user, full)?;
        }
        return Ok(());
    }
    let was_available = session_state::set_available(full, false)?;
    went_unavailable(full, &outgoing, was_available)
}

/// §4.2: probes to the contacts the user is subscribed to, and the
/// subscription requests that waited for the user to come online (§3.1.3).
fn initial_presence(user: &str, full: &str) -> Result<(), EventError> {
    route::send_many(&stanzas::probe(full), &sources(user)?)?;
    for item in storage::items(user)?.iter().filter(|i| i.sub.pending_in) {
        route::send(&stanzas::subscription(Request::Subscribe, &item.jid, full))?;
    }
    Ok(())
}

/// The kernel's `session-ended`: the session is gone, available or not.
pub fn ended(full: &str) -> Result<(), EventError> {
    let was_available = session_state::set_available(full, false)?;
    let unavailable = new_presence(StanzaType::Unavailable).with_attr("from", full);
    let result = went_unavailable(full, &unavailable, was_available);
    session_state::forget(full)?;
    result
}

/// §4.5.2: unavailable to the contacts that saw the session (unless it was
/// invisible, when they already had it) and to everyone it sent directed
/// presence to; and, if the account is now offline, when that happened.
fn went_unavailable(full: &str, unavailable: &Element, was_available: bool) -> Result<(), EventError> {
    let user = bare(full);
    let invisible = session_state::is_invisible(full)?;
    let mut targets = if was_available && !invisible { subscribers(user)? } else { Vec::new() };
    for jid in session_state::take_directed(full)? {
        if !targets.contains(&jid) {
            targets.push(jid);
        }
    }
    route::send_many(unavailable, &targets)?;
    if was_available {
        let online = sessions::of(user)?.iter().any(|s| s.available);
        if !online {
            let last = LastActivity { ms: waxwing_sdk::now_ms(), status: stanzas::status_of(unavailable) };
            storage::save_last(user, &last)?;
        }
    }
    Ok(())
}

/// §4.3.2: a probe of the user's presence.
pub fn answer_probe(probe: &Presence) -> Handled {
    let prober = probe.from();
    if prober.is_empty() {
        return Ok(Outcome::Done);
    }
    let user = probe.to();
    let prober_bare = bare(prober);
    if prober_bare != user {
        let item = storage::load(user, prober_bare)?;
        if !item.sub.from {
            // Like Prosody: tell a prober that believes it is subscribed that
            // it is not, so its roster heals. One whose request is still
            // pending must not have it cancelled by that.
            if !item.sub.pending_in {
                route::send(&stanzas::subscription(Request::Unsubscribed, user, prober_bare))?;
            }
            return Ok(Outcome::Done);
        }
    }
    if send_presence_of_resources(user, prober)? == 0 {
        let last = storage::load_last(user)?;
        route::send(&stanzas::offline_answer(user, prober, last.as_ref(), &waxwing_sdk::domain()))?;
    }
    Ok(Outcome::Done)
}

/// A filter on presence a session addresses to someone (§4.6): remember who
/// got available presence, so they hear when the session goes away.
pub fn track_directed(stanza: &Stanza) -> Verdict {
    let (from, to) = (stanza.from(), stanza.to());
    let local = waxwing_sdk::jid::domain(from) == waxwing_sdk::domain();
    if !local || waxwing_sdk::jid::resource(from).is_none() || bare(to) == bare(from) {
        return Verdict::Pass;
    }
    let tracked = if stanza.stanza_type() == StanzaType::Available {
        session_state::add_directed(from, to)
    } else {
        session_state::remove_directed(from, to)
    };
    if let Err(e) = tracked {
        waxwing_sdk::log::warn(&format!("tracking directed presence of {from}: {e}"));
    }
    Verdict::Pass
}
