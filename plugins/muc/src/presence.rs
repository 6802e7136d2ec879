//! Presence to a room: entering (`join.rs`), changing presence or nick,
//! leaving; and sessions that end or bounce without leaving.

use waxwing_sdk::prelude::*;

use crate::broadcast::{self, Change, code};
use crate::occupants::{self, Occupant, Occupants};
use crate::room::{self, Room};
use crate::{Target, history, join, target};

pub fn handle(p: &Presence) -> Handled {
    let (node, nick) = match target(p.to()) {
        Target::Occupant(node, nick) => (node, nick),
        // XEP-0045 §7.2.1: entering needs a nick.
        Target::Room(_) if p.stanza_type() != StanzaType::Error => {
            return Err(StanzaError::new(Condition::JidMalformed).with_text("join a room as room@service/nick"));
        }
        _ => return Ok(Outcome::Done),
    };
    let from = p.from();
    match p.stanza_type() {
        StanzaType::Available => {
            let occupants = occupants::load(node)?;
            match occupants.by_jid(from) {
                None => join::join(p, node, nick),
                Some(me) if me.nick == nick => update(p, node, me.clone()),
                Some(me) => change_nick(p, node, me.clone(), nick),
            }
        }
        StanzaType::Unavailable => {
            leave(node, from, p.element().ok(), &[])?;
            Ok(Outcome::Done)
        }
        // A session's error bounce means it can no longer be reached there.
        StanzaType::Error => {
            leave(node, from, None, &[code::ERROR_REMOVED])?;
            Ok(Outcome::Done)
        }
        // Subscriptions to a room mean nothing.
        _ => Ok(Outcome::Done),
    }
}

/// The parts of a client's presence the room repeats: everything but the
/// MUC join element and the addresses.
pub fn children(p: Option<&Element>) -> Element {
    let mut kept = Element::new("presence", ns::CLIENT);
    if let Some(p) = p {
        for c in p.elements() {
            if !(c.name == "x" && c.ns == crate::NS_MUC) {
                kept.push_child(c.clone());
            }
        }
    }
    kept
}

fn loaded(node: &str) -> Result<Room, StanzaError> {
    room::load(node)?.map(|s| s.room).ok_or_else(|| Condition::ItemNotFound.into())
}

/// Same nick, new presence: the room hears it.
fn update(p: &Presence, node: &str, me: Occupant) -> Handled {
    let room = loaded(node)?;
    let kept = children(p.element().ok());
    occupants::set_presence(node, &me.nick, &kept)?;
    let all = occupants::load(node)?;
    broadcast::announce(&room, &all, &Change::of(&me, Some(&kept)), &me.jids)?;
    Ok(Outcome::Done)
}

/// XEP-0045 §7.6: unavailable as the old nick with 303, available as the new.
fn change_nick(p: &Presence, node: &str, me: Occupant, nick: &str) -> Handled {
    let room = loaded(node)?;
    let bare = me.bare().to_string();
    if room.nick_owner(nick).is_some_and(|owner| owner != bare) {
        return Err(StanzaError::new(Condition::Conflict).with_text("that nick is registered by someone else"));
    }
    let changed = occupants::update(node, |occ| {
        if occ.by_nick(nick).is_some() {
            return Err(StanzaError::new(Condition::Conflict).with_text("that nick is in use"));
        }
        let Some(o) = occ.list.iter_mut().find(|o| o.nick == me.nick) else { return Ok(None) };
        o.nick = nick.to_string();
        Ok(Some(o.clone()))
    })?;
    let Some((all, renamed)) = changed else { return Ok(Outcome::Done) };
    let kept = children(p.element().ok());
    let old = occupants::presence_of(node, &me.nick)?;
    occupants::forget_presence(node, &me.nick)?;
    occupants::set_presence(node, nick, &kept)?;
    let mut gone = Change::of(&me, old.as_ref());
    gone.unavailable = true;
    gone.codes = &[code::NEW_NICK];
    gone.new_nick = Some(nick);
    broadcast::announce(&room, &all, &gone, &renamed.jids)?;
    broadcast::announce(&room, &all, &Change::of(&renamed, Some(&kept)), &renamed.jids)?;
    Ok(Outcome::Done)
}

/// One session leaves a room (its presence, or its end): the room hears the
/// occupant go with its last session, and a temporary room goes with its
/// last occupant.
pub fn leave(node: &str, jid: &str, presence: Option<&Element>, codes: &[u16]) -> Result<(), StanzaError> {
    let Some((rest, (before, gone))) = occupants::update(node, |occ| Ok(occ.remove_jid(jid)))? else {
        return Ok(());
    };
    occupants::mark(jid, node, false)?;
    let Some(stored) = room::load(node)? else { return Ok(()) };
    let room = stored.room;
    let kept = children(presence);
    let mut change = Change::of(&before, Some(&kept));
    change.unavailable = true;
    change.codes = codes;
    if gone {
        occupants::forget_presence(node, &before.nick)?;
        broadcast::announce(&room, &rest, &change, &[jid.to_string()])?;
        if rest.is_empty() && !room.config.persistent {
            close(&room)?;
        }
    } else {
        // Other sessions keep the nick: only this one hears it left.
        broadcast::announce(&room, &Occupants::default(), &change, &[jid.to_string()])?;
    }
    Ok(())
}

/// Removes a whole occupant (kicked, banned, no longer a member), telling
/// everyone, itself included, why.
pub fn remove(
    room: &Room,
    nick: &str,
    codes: &[u16],
    actor: Option<&str>,
    reason: Option<&str>,
) -> Result<(), StanzaError> {
    let removed = occupants::update(&room.node, |occ| {
        let Some(i) = occ.list.iter().position(|o| o.nick == nick) else { return Ok(None) };
        Ok(Some(occ.list.remove(i)))
    })?;
    let Some((rest, o)) = removed else { return Ok(()) };
    for j in &o.jids {
        occupants::mark(j, &room.node, false)?;
    }
    let kept = occupants::presence_of(&room.node, nick)?;
    occupants::forget_presence(&room.node, nick)?;
    let mut change = Change::of(&o, kept.as_ref());
    change.unavailable = true;
    change.codes = codes;
    change.actor = actor;
    change.reason = reason;
    broadcast::announce(room, &rest, &change, &o.jids)?;
    if rest.is_empty() && !room.config.persistent {
        close(room)?;
    }
    Ok(())
}

/// A temporary room with nobody left: gone, its history with it.
pub fn close(room: &Room) -> Result<(), StanzaError> {
    room::delete(&room.node)?;
    history::clear(&room.node)?;
    Ok(())
}

/// The kernel says a session ended: it leaves every room it was in.
pub fn session_ended(jid: &str) -> Result<(), StanzaError> {
    for node in occupants::rooms_of(jid)? {
        leave(&node, jid, None, &[])?;
    }
    Ok(())
}
