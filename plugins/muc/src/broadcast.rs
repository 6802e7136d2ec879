//! Occupant presence as others see it (XEP-0045 §7.2.3): the `muc#user`
//! item carries affiliation and role, and the real JID only for those who
//! may see it (moderators, or everyone in a non-anonymous room). One
//! serialization per group of recipients, through `send_many`.

use waxwing_sdk::prelude::*;
use waxwing_sdk::route;

use crate::model::{Affiliation, Role};
use crate::occupants::{Occupant, Occupants};
use crate::room::Room;
use crate::{NS_USER, room_jid};

/// Status codes (XEP-0045 §15.6).
pub mod code {
    pub const NON_ANONYMOUS: u16 = 100;
    pub const CONFIG_CHANGED: u16 = 104;
    pub const SELF: u16 = 110;
    pub const LOGGING: u16 = 170;
    pub const NOT_LOGGING: u16 = 171;
    pub const NOW_NON_ANONYMOUS: u16 = 172;
    pub const NOW_SEMI_ANONYMOUS: u16 = 173;
    pub const CREATED: u16 = 201;
    pub const BANNED: u16 = 301;
    pub const NEW_NICK: u16 = 303;
    pub const KICKED: u16 = 307;
    pub const AFFILIATION_REMOVED: u16 = 321;
    pub const MEMBERS_ONLY: u16 = 322;
    pub const ERROR_REMOVED: u16 = 333;
}

/// What changed about an occupant, to tell the room.
pub struct Change<'a> {
    pub occupant: &'a Occupant,
    /// Its presence children (show, status, caps...), if any.
    pub presence: Option<&'a Element>,
    pub unavailable: bool,
    /// Codes everyone sees (303, 307, 301...).
    pub codes: &'a [u16],
    /// Codes only the occupant itself sees, besides 110.
    pub self_codes: &'a [u16],
    /// The new nick, with 303.
    pub new_nick: Option<&'a str>,
    /// Who did it (kick, ban) and why.
    pub actor: Option<&'a str>,
    pub reason: Option<&'a str>,
    /// For a destroyed room.
    pub destroy: Option<&'a Element>,
}

impl<'a> Change<'a> {
    pub fn of(occupant: &'a Occupant, presence: Option<&'a Element>) -> Change<'a> {
        Change {
            occupant,
            presence,
            unavailable: false,
            codes: &[],
            self_codes: &[],
            new_nick: None,
            actor: None,
            reason: None,
            destroy: None,
        }
    }
}

/// Whether `viewer` sees real JIDs in this room.
pub fn sees_jids(room: &Room, viewer: Role) -> bool {
    room.config.whois_anyone || viewer == Role::Moderator
}

/// The presence `change` makes, as seen by someone who does (`with_jid`) or
/// does not see real JIDs, with `codes`.
pub fn presence(room: &Room, change: &Change<'_>, with_jid: bool, codes: &[u16]) -> Element {
    let o = change.occupant;
    let mut p = Element::new("presence", ns::CLIENT).with_attr("from", room_jid(&room.node, Some(&o.nick)));
    if change.unavailable {
        p.set_attr("type", "unavailable");
    }
    if let Some(children) = change.presence {
        for c in children.elements() {
            if !(c.name == "x" && c.ns.starts_with(crate::NS_MUC)) {
                p.push_child(c.clone());
            }
        }
    }
    let affiliation = room.affiliation(o.bare());
    let role = if change.unavailable { Role::None } else { o.role };
    let mut item = item(affiliation, role, with_jid.then(|| o.jids[0].as_str()));
    if let Some(n) = change.new_nick {
        item.set_attr("nick", n);
    }
    if let Some(a) = change.actor {
        item.push_child(Element::new("actor", NS_USER).with_attr("nick", a));
    }
    if let Some(r) = change.reason.filter(|r| !r.is_empty()) {
        item.push_child(Element::new("reason", NS_USER).with_text(r));
    }
    let mut x = Element::new("x", NS_USER).with_child(item);
    if let Some(d) = change.destroy {
        x.push_child(d.clone());
    }
    for c in codes {
        x.push_child(status(*c));
    }
    p.with_child(x)
}

pub fn item(affiliation: Affiliation, role: Role, jid: Option<&str>) -> Element {
    let mut item =
        Element::new("item", NS_USER).with_attr("affiliation", affiliation.as_str()).with_attr("role", role.as_str());
    if let Some(j) = jid {
        item.set_attr("jid", j);
    }
    item
}

pub fn status(code: u16) -> Element {
    Element::new("status", NS_USER).with_attr("code", code.to_string())
}

/// Tells every other occupant of `change` (when its role's presence is
/// broadcast) and the occupant itself, with 110, on `self_jids`.
pub fn announce(room: &Room, others: &Occupants, change: &Change<'_>, self_jids: &[String]) -> Result<(), HostError> {
    let role = change.occupant.role;
    if room.config.broadcasts(role) || change.unavailable || !change.codes.is_empty() {
        let (mut see, mut blind) = (Vec::new(), Vec::new());
        let me = &change.occupant.jids;
        for o in others.list.iter().filter(|o| !o.jids.iter().any(|j| me.contains(j))) {
            let group = if sees_jids(room, o.role) { &mut see } else { &mut blind };
            group.extend(o.jids.iter().cloned());
        }
        if !see.is_empty() {
            route::send_many(&presence(room, change, true, change.codes), &see)?;
        }
        if !blind.is_empty() {
            route::send_many(&presence(room, change, false, change.codes), &blind)?;
        }
    }
    if !self_jids.is_empty() {
        let mut codes: Vec<u16> = change.codes.to_vec();
        codes.extend_from_slice(change.self_codes);
        codes.push(code::SELF);
        codes.sort_unstable();
        codes.dedup();
        route::send_many(&presence(room, change, true, &codes), self_jids)?;
    }
    Ok(())
}

/// Sends a message from the room itself (no nick) carrying status codes to
/// every occupant: configuration changes (XEP-0045 §10.2.1).
pub fn room_notice(room: &Room, occupants: &Occupants, codes: &[u16]) -> Result<(), HostError> {
    if occupants.is_empty() || codes.is_empty() {
        return Ok(());
    }
    let mut x = Element::new("x", NS_USER);
    for c in codes {
        x.push_child(status(*c));
    }
    let msg = Element::new("message", ns::CLIENT)
        .with_attr("from", room_jid(&room.node, None))
        .with_attr("type", "groupchat")
        .with_attr("id", crate::new_id())
        .with_child(x);
    route::send_many(&msg, &occupants.all_jids())
}
