//! Registering a nick with a room (XEP-0045 §7.10): the nick is then the
//! user's alone in that room, and the user becomes a member.

use waxwing_sdk::prelude::*;

use crate::model::Affiliation;
use crate::room::{self, Room};
use crate::{NS_REGISTER, occupants};

const NS_MUC_REGISTER: &str = "http://jabber.org/protocol/muc#register";

pub fn handle(iq: &Iq, node: &str) -> Handled {
    let room: Room = room::load(node)?.map(|s| s.room).ok_or(Condition::ItemNotFound)?;
    let bare = waxwing_sdk::jid::bare(iq.from()).to_string();
    if room.affiliation(&bare) == Affiliation::Outcast {
        return Err(StanzaError::new(Condition::Forbidden).with_text("you are banned from this room"));
    }
    let query = iq.payload()?;
    if iq.is_get() {
        let mut q = Element::new("query", NS_REGISTER);
        match room.entry(&bare).filter(|a| !a.nick.is_empty()) {
            Some(a) => {
                q.push_child(Element::new("registered", NS_REGISTER));
                q.push_child(Element::new("username", NS_REGISTER).with_text(a.nick.clone()));
            }
            None => {
                q.push_child(
                    Element::new("instructions", NS_REGISTER).with_text("Choose the nick to register in this room"),
                );
                let form = DataForm::form()
                    .with_form_type(NS_MUC_REGISTER)
                    .title(&format!("Registration with {}", crate::room_jid(node, None)))
                    .field(Field::text_single("muc#register_roomnick", "").label("Nickname").required());
                q.push_child(form.to_element());
            }
        }
        return iq.reply_with(q);
    }
    if query.child("remove", NS_REGISTER).is_some() {
        room::update(node, |r| {
            r.set_nick(&bare, "");
            if r.affiliation(&bare) == Affiliation::Member {
                r.set_affiliation(&bare, Affiliation::None, "");
            }
            Ok(Some(()))
        })?;
        return iq.reply_empty();
    }
    let form = match DataForm::find_in(query) {
        Some(f) => f?,
        None => return Err(StanzaError::new(Condition::BadRequest).with_text("submit the registration form")),
    };
    if form.kind == FormKind::Cancel {
        return iq.reply_empty();
    }
    let nick = form.value("muc#register_roomnick").unwrap_or("").trim().to_string();
    let nick = waxwing_sdk::jid::prep(&format!("{}/{nick}", crate::room_jid(node, None)))
        .ok()
        .and_then(|j| waxwing_sdk::jid::resource(&j).map(str::to_string))
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            StanzaError::new(Condition::NotAcceptable).with_text("muc#register_roomnick must be a valid nick")
        })?;
    let taken = occupants::load(node)?.by_nick(&nick).is_some_and(|o| o.bare() != bare);
    if taken {
        return Err(StanzaError::new(Condition::Conflict).with_text("that nick is in use"));
    }
    room::update(node, |r| {
        if r.nick_owner(&nick).is_some_and(|o| o != bare) {
            return Err(StanzaError::new(Condition::Conflict).with_text("that nick is registered by someone else"));
        }
        r.set_nick(&bare, &nick);
        if r.affiliation(&bare) == Affiliation::None {
            r.set_affiliation(&bare, Affiliation::Member, "");
        }
        Ok(Some(()))
    })?;
    iq.reply_empty()
}
