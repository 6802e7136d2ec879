//! Messages to a room and its occupants: groupchat (one `send-many` to the
//! whole room), subject changes, private messages, mediated invitations and
//! declines (XEP-0045 §7.8), voice requests and their approval (§7.13,
//! §8.6), and error bounces from occupants.

use waxwing_sdk::prelude::*;
use waxwing_sdk::route;

use crate::broadcast::code;
use crate::model::{Affiliation, Role};
use crate::occupants::{self, Occupant, Occupants};
use crate::room::{self, Room};
use crate::{NS_REQUEST, NS_USER, Target, admin, history, presence, room_jid, target};

pub fn handle(m: &Message) -> Handled {
    match (target(m.to()), m.stanza_type()) {
        (Target::Service, StanzaType::Error) => Ok(Outcome::Done),
        (Target::Service, _) => Err(Condition::ServiceUnavailable.into()),
        (Target::Room(node) | Target::Occupant(node, _), StanzaType::Error) => {
            // §7.2.x bounce: the session is unreachable, so it is no occupant.
            presence::leave(node, m.from(), None, &[code::ERROR_REMOVED])?;
            Ok(Outcome::Done)
        }
        (Target::Room(node), StanzaType::Groupchat) => groupchat(m, node),
        (Target::Room(node), _) => to_room(m, node),
        (Target::Occupant(_, _), StanzaType::Groupchat) => Err(StanzaError::new(Condition::BadRequest)
            .with_text("a private message is of type chat or normal, not groupchat")),
        (Target::Occupant(node, nick), _) => private(m, node, nick),
    }
}

fn loaded(node: &str) -> Result<Room, StanzaError> {
    room::load(node)?.map(|s| s.room).ok_or_else(|| Condition::ItemNotFound.into())
}

/// The sender as an occupant, else `not-acceptable` (§7.4, §7.5).
fn sender<'a>(occupants: &'a Occupants, jid: &str) -> Result<&'a Occupant, StanzaError> {
    occupants.by_jid(jid).ok_or_else(|| {
        StanzaError::new(Condition::NotAcceptable).with_text("only occupants may send messages to the room")
    })
}

fn groupchat(m: &Message, node: &str) -> Handled {
    let room = loaded(node)?;
    let all = occupants::load(node)?;
    let me = sender(&all, m.from())?;
    let el = m.element()?;
    let has_body = el.child("body", ns::CLIENT).is_some();
    let subject = el.child("subject", ns::CLIENT);
    if let (Some(subject), false) = (subject, has_body) {
        return change_subject(&room, &all, me, m, subject.text());
    }
    if me.role < Role::Participant {
        return Err(StanzaError::new(Condition::Forbidden).with_text("visitors may not speak in a moderated room"));
    }
    let mut out = Element::new("message", ns::CLIENT)
        .with_attr("from", room_jid(node, Some(&me.nick)))
        .with_attr("type", "groupchat");
    if let Some(id) = el.attr("id") {
        out.set_attr("id", id);
    }
    for c in el.elements() {
        out.push_child(c.clone());
    }
    route::send_many(&out, &all.all_jids())?;
    if has_body {
        history::append(&room, &out)?;
    }
    Ok(Outcome::Done)
}

/// §8.1: moderators, or anyone when the room allows it.
fn change_subject(room: &Room, all: &Occupants, me: &Occupant, m: &Message, text: String) -> Handled {
    if !(me.role == Role::Moderator || (room.config.change_subject && me.role >= Role::Participant)) {
        return Err(StanzaError::new(Condition::Forbidden).with_text("only moderators may change the subject"));
    }
    let nick = me.nick.clone();
    let stored_text = text.clone();
    room::update(&room.node, |r| {
        r.subject = Some(room::Subject { nick: nick.clone(), text: stored_text.clone() });
        Ok(Some(()))
    })?;
    let mut out = Element::new("message", ns::CLIENT)
        .with_attr("from", room_jid(&room.node, Some(&me.nick)))
        .with_attr("type", "groupchat")
        .with_child(Element::new("subject", ns::CLIENT).with_text(text));
    if let Some(id) = m.element()?.attr("id") {
        out.set_attr("id", id);
    }
    route::send_many(&out, &all.all_jids())?;
    Ok(Outcome::Done)
}

/// §7.5: between occupants, as the room allows.
fn private(m: &Message, node: &str, nick: &str) -> Handled {
    let room = loaded(node)?;
    let all = occupants::load(node)?;
    let me = sender(&all, m.from())?;
    if !room.config.allow_pm.allows(me.role) {
        return Err(StanzaError::new(Condition::NotAllowed).with_text("private messages are not allowed in this room"));
    }
    let to = all.by_nick(nick).ok_or_else(|| {
        StanzaError::new(Condition::ItemNotFound).with_text(format!("nobody is in the room as {nick}"))
    })?;
    let el = m.element()?;
    let mut out = Element::new("message", ns::CLIENT).with_attr("from", room_jid(node, Some(&me.nick)));
    for (k, v) in &el.attrs {
        if !matches!(k.as_str(), "from" | "to" | "xmlns") {
            out.set_attr(k.clone(), v.clone());
        }
    }
    for c in el.elements() {
        out.push_child(c.clone());
    }
    out.push_child(Element::new("x", NS_USER));
    route::send_many(&out, &to.jids)?;
    Ok(Outcome::Done)
}

/// A message to the room that is not groupchat: an invitation, a decline,
/// a voice request or a moderator's answer to one.
fn to_room(m: &Message, node: &str) -> Handled {
    let el = m.element()?;
    if let Some(x) = el.child("x", NS_USER) {
        if let Some(invite) = x.child("invite", NS_USER) {
            return invite_mediated(m, node, invite);
        }
        if let Some(decline) = x.child("decline", NS_USER) {
            return decline_forwarded(m, node, decline);
        }
    }
    if let Some(Ok(form)) = DataForm::find_in(el)
        && form.form_type() == Some(NS_REQUEST)
    {
        return voice(m, node, &form);
    }
    Err(StanzaError::new(Condition::BadRequest)
        .with_text("messages to a room are groupchat, invitations or voice requests"))
}

/// §7.8.2: the room passes the invitation on, from itself.
fn invite_mediated(m: &Message, node: &str, invite: &Element) -> Handled {
    let room = loaded(node)?;
    let all = occupants::load(node)?;
    let me = sender(&all, m.from())?;
    let invitee = invite
        .attr("to")
        .and_then(|t| waxwing_sdk::jid::prep(t).ok())
        .ok_or_else(|| StanzaError::new(Condition::JidMalformed).with_text("an invitation needs a valid 'to'"))?;
    let inviter_aff = room.affiliation(me.bare());
    if room.config.members_only {
        if !(room.config.allow_invites || inviter_aff.is_admin()) {
            return Err(StanzaError::new(Condition::Forbidden).with_text("only admins may invite to this room"));
        }
        let bare = waxwing_sdk::jid::bare(&invitee).to_string();
        room::update(node, |r| {
            if r.affiliation(&bare) >= Affiliation::Member || r.affiliation(&bare) == Affiliation::Outcast {
                return Ok(None);
            }
            r.set_affiliation(&bare, Affiliation::Member, "");
            Ok(Some(()))
        })?;
    } else if !room.config.allow_invites && me.role != Role::Moderator && !inviter_aff.is_admin() {
        return Err(StanzaError::new(Condition::Forbidden).with_text("invitations are not allowed in this room"));
    }
    let mut inv = Element::new("invite", NS_USER).with_attr("from", m.from());
    if let Some(r) = invite.child("reason", NS_USER) {
        inv.push_child(r.clone());
    }
    let mut out_x = Element::new("x", NS_USER).with_child(inv);
    if !room.config.password.is_empty() {
        out_x.push_child(Element::new("password", NS_USER).with_text(room.config.password.clone()));
    }
    let mut out = Element::new("message", ns::CLIENT)
        .with_attr("from", room_jid(node, None))
        .with_attr("to", invitee)
        .with_child(out_x)
        .with_child(Element::new("body", ns::CLIENT).with_text(format!(
            "{} invites you to the room {}",
            m.from(),
            room_jid(node, None)
        )));
    if let Some(id) = m.element()?.attr("id") {
        out.set_attr("id", id);
    }
    route::send(&out)?;
    Ok(Outcome::Done)
}

/// §7.8.2.1: an invitee's decline goes back to the inviter, from the room.
fn decline_forwarded(m: &Message, node: &str, decline: &Element) -> Handled {
    loaded(node)?;
    let to = decline
        .attr("to")
        .and_then(|t| waxwing_sdk::jid::prep(t).ok())
        .ok_or_else(|| StanzaError::new(Condition::JidMalformed).with_text("a decline needs a valid 'to'"))?;
    let mut d = Element::new("decline", NS_USER).with_attr("from", m.from());
    if let Some(r) = decline.child("reason", NS_USER) {
        d.push_child(r.clone());
    }
    let out = Element::new("message", ns::CLIENT)
        .with_attr("from", room_jid(node, None))
        .with_attr("to", to)
        .with_child(Element::new("x", NS_USER).with_child(d));
    route::send(&out)?;
    Ok(Outcome::Done)
}

/// §7.13 a visitor asks for voice: the form goes to the moderators.
/// §8.6 a moderator answers with `muc#request_allow`: voice is granted.
fn voice(m: &Message, node: &str, form: &DataForm) -> Handled {
    let room = loaded(node)?;
    let all = occupants::load(node)?;
    let me = sender(&all, m.from())?;
    if me.role == Role::Moderator && form.get("muc#request_allow").is_some() {
        let allow = form.get("muc#request_allow").and_then(|f| f.bool_value()).unwrap_or(false);
        let nick = form.value("muc#roomnick").unwrap_or("");
        if allow && !nick.is_empty() {
            admin::set_role(&room, me, nick, Role::Participant, None)?;
        }
        return Ok(Outcome::Done);
    }
    if !room.config.voice_requests {
        return Err(StanzaError::new(Condition::NotAllowed).with_text("this room takes no voice requests"));
    }
    if me.role != Role::Visitor {
        return Ok(Outcome::Done);
    }
    let approval = DataForm::form()
        .with_form_type(NS_REQUEST)
        .title("Voice request")
        .instructions(
            "To approve this request for voice, select the \"Grant voice to this person?\" checkbox and submit.",
        )
        .field(Field::list_single("muc#role", "participant").label("Requested role"))
        .field(Field::new("muc#jid", FieldType::JidSingle).value(&me.jids[0]).label("User ID"))
        .field(Field::text_single("muc#roomnick", &me.nick).label("Room Nickname"))
        .field(Field::boolean("muc#request_allow", false).label("Grant voice to this person?"));
    let moderators: Vec<String> =
        all.list.iter().filter(|o| o.role == Role::Moderator).flat_map(|o| o.jids.iter().cloned()).collect();
    if !moderators.is_empty() {
        let out = Element::new("message", ns::CLIENT)
            .with_attr("from", room_jid(node, None))
            .with_attr("id", crate::new_id())
            .with_child(approval.to_element());
        route::send_many(&out, &moderators)?;
    }
    Ok(Outcome::Done)
}
