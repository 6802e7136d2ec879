//! `muc#admin` (XEP-0045 §8, §9): moderators change roles (voice, kick),
//! admins and owners change affiliations (members, bans, admins, owners),
//! and read the lists.

use waxwing_sdk::prelude::*;

use crate::broadcast::{self, Change, code};
use crate::model::{Affiliation, Role};
use crate::occupants::{self, Occupant};
use crate::room::{self, Room};
use crate::{NS_ADMIN, presence, settings};

/// The requester's standing in the room: affiliation (service admins own
/// every room) and, when in the room, the occupant it is.
pub struct Requester {
    pub bare: String,
    pub affiliation: Affiliation,
    pub occupant: Option<Occupant>,
}

impl Requester {
    pub fn of(room: &Room, jid: &str) -> Result<Requester, StanzaError> {
        let bare = waxwing_sdk::jid::bare(jid).to_string();
        let affiliation = if settings().admins.contains(&bare) { Affiliation::Owner } else { room.affiliation(&bare) };
        let occupant = occupants::load(&room.node)?.by_jid(jid).cloned();
        Ok(Requester { bare, affiliation, occupant })
    }

    pub fn role(&self) -> Role {
        self.occupant.as_ref().map_or(Role::None, |o| o.role)
    }

    fn nick(&self) -> Option<&str> {
        self.occupant.as_ref().map(|o| o.nick.as_str())
    }
}

fn loaded(node: &str) -> Result<Room, StanzaError> {
    room::load(node)?.map(|s| s.room).ok_or_else(|| Condition::ItemNotFound.into())
}

pub fn handle(iq: &Iq, node: &str) -> Handled {
    let room = loaded(node)?;
    let me = Requester::of(&room, iq.from())?;
    let query = iq.payload()?;
    let items: Vec<&Element> = query.elements().filter(|e| e.is("item", NS_ADMIN)).collect();
    if items.is_empty() {
        return Err(StanzaError::new(Condition::BadRequest).with_text("muc#admin needs at least one <item/>"));
    }
    if iq.is_get() {
        return iq.reply_with(list(&room, &me, items[0])?);
    }
    if !iq.is_set() {
        return Err(Condition::BadRequest.into());
    }
    for item in items {
        let reason = item.child("reason", NS_ADMIN).map(Element::text);
        match (item.attr("role"), item.attr("affiliation")) {
            (Some(role), None) => {
                let role = Role::parse(role).ok_or_else(|| bad(format!("no role {role}")))?;
                let nick = item.attr("nick").ok_or_else(|| bad("a role is changed by nick".into()))?;
                let actor =
                    me.occupant.as_ref().filter(|o| o.role == Role::Moderator).ok_or_else(|| {
                        StanzaError::new(Condition::Forbidden).with_text("only moderators change roles")
                    })?;
                check_role_change(&room, &me, nick, role)?;
                set_role(&room, actor, nick, role, reason.as_deref())?;
            }
            (None, Some(affiliation)) => {
                let affiliation =
                    Affiliation::parse(affiliation).ok_or_else(|| bad(format!("no affiliation {affiliation}")))?;
                let jid = item
                    .attr("jid")
                    .and_then(|j| waxwing_sdk::jid::prep(j).ok())
                    .map(|j| waxwing_sdk::jid::bare(&j).to_string())
                    .ok_or_else(|| {
                        StanzaError::new(Condition::JidMalformed).with_text("an affiliation is changed by jid")
                    })?;
                set_affiliation(&room, &me, &jid, affiliation, reason.as_deref().unwrap_or(""))?;
            }
            _ => return Err(bad("an item changes a role or an affiliation".into())),
        }
    }
    iq.reply_empty()
}

fn bad(text: String) -> StanzaError {
    StanzaError::new(Condition::BadRequest).with_text(text)
}

fn forbidden(text: &str) -> StanzaError {
    StanzaError::new(Condition::Forbidden).with_text(text)
}

fn not_allowed(text: &str) -> StanzaError {
    StanzaError::new(Condition::NotAllowed).with_text(text)
}

/// §8.2–§8.5, §9.6–§9.7: who may give or take which role.
fn check_role_change(room: &Room, me: &Requester, nick: &str, role: Role) -> Result<(), StanzaError> {
    let all = occupants::load(&room.node)?;
    let target = all.by_nick(nick).ok_or_else(|| {
        StanzaError::new(Condition::ItemNotFound).with_text(format!("nobody is in the room as {nick}"))
    })?;
    let target_aff = room.affiliation(target.bare());
    // §8.2, §8.4: an admin or owner is never kicked or silenced.
    if target_aff.is_admin() && role != Role::Moderator {
        return Err(not_allowed("admins and owners cannot be kicked, silenced or demoted"));
    }
    // §9.6, §9.7: moderation is the admins' to give and take.
    if (role == Role::Moderator || target.role == Role::Moderator) && !me.affiliation.is_admin() {
        return Err(forbidden("only admins and owners grant or revoke moderation"));
    }
    Ok(())
}

/// Gives `nick` `role` (none: kicked, §8.2), telling the room.
pub fn set_role(
    room: &Room,
    actor: &Occupant,
    nick: &str,
    role: Role,
    reason: Option<&str>,
) -> Result<(), StanzaError> {
    if role == Role::None {
        return presence::remove(room, nick, &[code::KICKED], Some(&actor.nick), reason);
    }
    let changed = occupants::update(&room.node, |occ| {
        let Some(o) = occ.by_nick_mut(nick) else { return Ok(None) };
        if o.role == role {
            return Ok(None);
        }
        o.role = role;
        Ok(Some(o.clone()))
    })?;
    if let Some((all, o)) = changed {
        let kept = occupants::presence_of(&room.node, nick)?;
        let mut change = Change::of(&o, kept.as_ref());
        change.actor = Some(&actor.nick);
        change.reason = reason;
        broadcast::announce(room, &all, &change, &o.jids)?;
    }
    Ok(())
}

/// §9.1–§9.7, §10.3–§10.8: who may give or take which affiliation.
fn set_affiliation(
    room: &Room,
    me: &Requester,
    jid: &str,
    affiliation: Affiliation,
    reason: &str,
) -> Result<(), StanzaError> {
    if !me.affiliation.is_admin() {
        return Err(forbidden("only admins and owners change affiliations"));
    }
    // §9.1: banning oneself is refused before anything else.
    if jid == me.bare && affiliation == Affiliation::Outcast {
        return Err(StanzaError::new(Condition::Conflict).with_text("you cannot ban yourself"));
    }
    let current = room.affiliation(jid);
    if me.affiliation == Affiliation::Admin {
        // §10.3–§10.6: making admins and owners is the owners' alone.
        if affiliation.is_admin() {
            return Err(forbidden("only owners make admins and owners"));
        }
        // §9.1: an admin cannot ban its peers or the owners (not-allowed);
        // §10.4, §10.7: revoking ownership or adminship is the owners' (forbidden).
        if current.is_admin() && affiliation == Affiliation::Outcast {
            return Err(not_allowed("an admin cannot ban an admin or an owner"));
        }
        if current.is_admin() {
            return Err(forbidden("only owners revoke adminship or ownership"));
        }
    }
    let updated = room::update(&room.node, |r| {
        let was = r.affiliation(jid);
        if was == affiliation {
            return Ok(None);
        }
        if was == Affiliation::Owner && r.owners() == 1 {
            return Err(StanzaError::new(Condition::Conflict).with_text("a room keeps at least one owner"));
        }
        r.set_affiliation(jid, affiliation, reason);
        Ok(Some(()))
    })?;
    let Some((room, ())) = updated else { return Ok(()) };
    let actor = me.nick();
    let present: Vec<Occupant> = occupants::load(&room.node)?.of_user(jid).cloned().collect();
    for o in present {
        if affiliation == Affiliation::Outcast {
            presence::remove(&room, &o.nick, &[code::BANNED], actor, Some(reason))?;
        } else if room.config.members_only && affiliation < Affiliation::Member {
            presence::remove(&room, &o.nick, &[code::AFFILIATION_REMOVED], actor, Some(reason))?;
        } else {
            // Losing admin keeps voice; gaining membership gives it.
            let role = Role::on_entry(affiliation, room.config.moderated).max(o.role.min(Role::Participant));
            let changed = occupants::update(&room.node, |occ| {
                let Some(t) = occ.by_nick_mut(&o.nick) else { return Ok(None) };
                t.role = role;
                Ok(Some(t.clone()))
            })?;
            if let Some((all, t)) = changed {
                let kept = occupants::presence_of(&room.node, &t.nick)?;
                let mut change = Change::of(&t, kept.as_ref());
                change.actor = actor;
                change.reason = Some(reason);
                broadcast::announce(&room, &all, &change, &t.jids)?;
            }
        }
    }
    Ok(())
}

/// §9.5, §9.8, §10.5, §10.7, §8.5: the affiliation and role lists.
fn list(room: &Room, me: &Requester, item: &Element) -> Result<Element, StanzaError> {
    let mut query = Element::new("query", NS_ADMIN);
    match (item.attr("affiliation"), item.attr("role")) {
        (Some(a), None) => {
            let affiliation = Affiliation::parse(a).ok_or_else(|| bad(format!("no affiliation {a}")))?;
            let allowed = me.affiliation.is_admin()
                || (affiliation == Affiliation::Member
                    && me.affiliation >= Affiliation::Member
                    && room.config.get_member_list.contains(&me.role()));
            if !allowed {
                return Err(StanzaError::new(Condition::Forbidden).with_text("you may not read that list"));
            }
            for a in room.with_affiliation(affiliation) {
                let mut el = Element::new("item", NS_ADMIN)
                    .with_attr("affiliation", a.affiliation.as_str())
                    .with_attr("jid", a.jid.clone());
                if !a.nick.is_empty() {
                    el.set_attr("nick", a.nick.clone());
                }
                if !a.reason.is_empty() {
                    el.push_child(Element::new("reason", NS_ADMIN).with_text(a.reason.clone()));
                }
                query.push_child(el);
            }
        }
        (None, Some(r)) => {
            let role = Role::parse(r).ok_or_else(|| bad(format!("no role {r}")))?;
            if me.role() != Role::Moderator {
                return Err(StanzaError::new(Condition::Forbidden).with_text("only moderators read the role lists"));
            }
            for o in occupants::load(&room.node)?.list.iter().filter(|o| o.role == role) {
                query.push_child(
                    Element::new("item", NS_ADMIN)
                        .with_attr("role", o.role.as_str())
                        .with_attr("affiliation", room.affiliation(o.bare()).as_str())
                        .with_attr("nick", o.nick.clone())
                        .with_attr("jid", o.jids[0].clone()),
                );
            }
        }
        _ => return Err(bad("ask for one affiliation or one role".into())),
    }
    Ok(query)
}
