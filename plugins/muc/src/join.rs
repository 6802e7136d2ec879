//! Entering a room (XEP-0045 §7.2), creating it first when it does not
//! exist (§10.1): the checks in the XEP's order, then the occupant list,
//! the newcomer's own presence, history and subject.

use waxwing_sdk::prelude::*;
use waxwing_sdk::route;

use crate::broadcast::{self, Change, code};
use crate::history::{self, Wanted};
use crate::model::{Affiliation, Role};
use crate::occupants::{self, Occupant};
use crate::presence::children;
use crate::room::{self, Config, Room};
use crate::{NS_MUC, room_jid, settings};

enum Entered {
    /// A new occupant.
    New,
    /// Another session of a user already in the room under this nick.
    Session,
}

pub fn join(p: &Presence, node: &str, nick: &str) -> Handled {
    let from = p.from();
    let bare = waxwing_sdk::jid::bare(from).to_string();
    let el = p.element()?;
    let x = el.child("x", NS_MUC);
    let (room, created) = room_to_enter(node, &bare, x.is_some())?;
    let affiliation = room.affiliation(&bare);
    if !created {
        check_entry(&room, &bare, affiliation, nick, x)?;
    }
    let entered = occupants::update(node, |occ| {
        if occ.by_jid(from).is_some() {
            return Ok(None);
        }
        if let Some(o) = occ.by_nick_mut(nick) {
            if o.bare() != bare {
                return Err(StanzaError::new(Condition::Conflict).with_text("that nick is in use"));
            }
            o.jids.push(from.to_string());
            return Ok(Some(Entered::Session));
        }
        let max = room.config.max_users as usize;
        if max > 0 && occ.len() >= max && !affiliation.is_admin() {
            return Err(StanzaError::new(Condition::ServiceUnavailable)
                .with_type(ErrorType::Wait)
                .with_text("the room is full"));
        }
        let role = Role::on_entry(affiliation, room.config.moderated);
        occ.list.push(Occupant { nick: nick.to_string(), role, jids: vec![from.to_string()] });
        Ok(Some(Entered::New))
    })?;
    let Some((all, entered)) = entered else { return Ok(Outcome::Done) };
    occupants::mark(from, node, true)?;
    let kept = children(Some(el));
    let me = all.by_jid(from).cloned().ok_or_else(|| StanzaError::new(Condition::InternalServerError))?;
    if matches!(entered, Entered::New) {
        occupants::set_presence(node, nick, &kept)?;
    }
    send_occupants(&room, &all, &me, from)?;
    let mut self_codes = Vec::new();
    if room.config.whois_anyone {
        self_codes.push(code::NON_ANONYMOUS);
    }
    if room.config.logging {
        self_codes.push(code::LOGGING);
    }
    if created {
        self_codes.push(code::CREATED);
    }
    let mut change = Change::of(&me, Some(&kept));
    change.self_codes = &self_codes;
    match entered {
        Entered::New => broadcast::announce(&room, &all, &change, &[from.to_string()])?,
        Entered::Session => broadcast::announce(&room, &Default::default(), &change, &[from.to_string()])?,
    }
    if !created {
        history::send(&room, from, &Wanted::from_join(x, waxwing_sdk::now_ms()))?;
        send_subject(&room, from)?;
    }
    Ok(Outcome::Done)
}

/// The room, created for `bare` when it does not exist; true when created.
/// A temporary room left behind by a restart is replaced.
fn room_to_enter(node: &str, bare: &str, muc_aware: bool) -> Result<(Room, bool), StanzaError> {
    loop {
        if let Some(stored) = room::load(node)? {
            if stored.room.config.persistent || !occupants::load(node)?.is_empty() {
                return Ok((stored.room, false));
            }
            crate::presence::close(&stored.room)?;
        }
        let s = settings();
        let service_admin = s.admins.iter().any(|a| a == bare);
        if !service_admin && (s.admins_only_create || waxwing_sdk::jid::domain(bare) != waxwing_sdk::domain()) {
            return Err(StanzaError::new(Condition::NotAllowed).with_text("only the service's admins create rooms"));
        }
        // A client that does not speak MUC gets an instant room (§7.1.1);
        // one that does gets a locked room to configure or accept (§10.1.1).
        let room = Room::new(node, bare, Config::new_room(s.history_length), muc_aware);
        if room::create(&room)? {
            return Ok((room, true));
        }
    }
}

/// XEP-0045 §7.2.x, in its order of checks.
fn check_entry(
    room: &Room,
    bare: &str,
    affiliation: Affiliation,
    nick: &str,
    x: Option<&Element>,
) -> Result<(), StanzaError> {
    let service_admin = settings().admins.iter().any(|a| a == bare);
    if affiliation == Affiliation::Outcast && !service_admin {
        return Err(StanzaError::new(Condition::Forbidden).with_text("you are banned from this room"));
    }
    if room.locked && affiliation != Affiliation::Owner {
        return Err(StanzaError::new(Condition::ItemNotFound).with_text("the room is not configured yet"));
    }
    if room.nick_owner(nick).is_some_and(|owner| owner != bare) {
        return Err(StanzaError::new(Condition::Conflict).with_text("that nick is registered by someone else"));
    }
    if room.config.members_only && affiliation < Affiliation::Member && !service_admin {
        return Err(StanzaError::new(Condition::RegistrationRequired).with_text("this room is for members only"));
    }
    if !room.config.password.is_empty() && affiliation != Affiliation::Owner {
        let given = x.and_then(|x| x.child("password", NS_MUC)).map(Element::text);
        if given.as_deref() != Some(room.config.password.as_str()) {
            return Err(StanzaError::new(Condition::NotAuthorized).with_text("a password is required"));
        }
    }
    Ok(())
}

/// The newcomer hears every other occupant whose role's presence the room
/// broadcasts, as the newcomer may see them.
fn send_occupants(room: &Room, all: &occupants::Occupants, me: &Occupant, to: &str) -> Result<(), StanzaError> {
    let with_jid = broadcast::sees_jids(room, me.role);
    for o in all.list.iter().filter(|o| o.nick != me.nick && room.config.broadcasts(o.role)) {
        let kept = occupants::presence_of(&room.node, &o.nick)?;
        let mut p = broadcast::presence(room, &Change::of(o, kept.as_ref()), with_jid, &[]);
        p.set_attr("to", to);
        route::send(&p)?;
    }
    Ok(())
}

/// §7.2.15: the subject comes last, even when there is none.
pub fn send_subject(room: &Room, to: &str) -> Result<(), StanzaError> {
    let (from, text) = match &room.subject {
        Some(s) if !s.nick.is_empty() => (room_jid(&room.node, Some(&s.nick)), s.text.as_str()),
        Some(s) => (room_jid(&room.node, None), s.text.as_str()),
        None => (room_jid(&room.node, None), ""),
    };
    let msg = Element::new("message", ns::CLIENT)
        .with_attr("from", from)
        .with_attr("to", to)
        .with_attr("type", "groupchat")
        .with_attr("id", crate::new_id())
        .with_child(Element::new("subject", ns::CLIENT).with_text(text));
    route::send(&msg)?;
    Ok(())
}
