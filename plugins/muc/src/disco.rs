//! XEP-0030 for the service and its rooms; XEP-0128 room information.

use waxwing_sdk::prelude::*;

use crate::room::{self, Room};
use crate::{NS_MUC, NS_REGISTER, NS_ROOMINFO, NS_SELF_PING, occupants, room_jid};

pub fn service(iq: &Iq) -> Handled {
    if !iq.is_get() {
        return Err(Condition::ServiceUnavailable.into());
    }
    let query = iq.payload()?;
    if query.attr("node").is_some_and(|n| !n.is_empty()) {
        return Err(Condition::ItemNotFound.into());
    }
    match query.ns.as_str() {
        ns::DISCO_INFO => {
            let name = waxwing_sdk::config().get("name").as_str().unwrap_or("Chatrooms").to_string();
            let mut q = Element::new("query", ns::DISCO_INFO).with_child(
                Element::new("identity", ns::DISCO_INFO)
                    .with_attr("category", "conference")
                    .with_attr("type", "text")
                    .with_attr("name", name),
            );
            for f in [ns::DISCO_INFO, ns::DISCO_ITEMS, NS_MUC, NS_SELF_PING] {
                q.push_child(Element::new("feature", ns::DISCO_INFO).with_attr("var", f));
            }
            iq.reply_with(q)
        }
        ns::DISCO_ITEMS => {
            let mut q = Element::new("query", ns::DISCO_ITEMS);
            for r in room::all()? {
                if !r.config.public || r.locked || !alive(&r)? {
                    continue;
                }
                let name = if r.config.name.is_empty() { r.node.clone() } else { r.config.name.clone() };
                q.push_child(
                    Element::new("item", ns::DISCO_ITEMS)
                        .with_attr("jid", room_jid(&r.node, None))
                        .with_attr("name", name),
                );
            }
            iq.reply_with(q)
        }
        _ => Err(Condition::ServiceUnavailable.into()),
    }
}

/// A temporary room lives only while someone is in it.
fn alive(room: &Room) -> Result<bool, StanzaError> {
    Ok(room.config.persistent || !occupants::load(&room.node)?.is_empty())
}

pub fn room(iq: &Iq, node: &str) -> Handled {
    if !iq.is_get() {
        return Err(Condition::ServiceUnavailable.into());
    }
    let room = match room::load(node)? {
        Some(s) if alive(&s.room)? => s.room,
        _ => return Err(StanzaError::new(Condition::ItemNotFound).with_text(format!("no room {node}"))),
    };
    let query = iq.payload()?;
    match (query.ns.as_str(), query.attr("node").unwrap_or("")) {
        (ns::DISCO_INFO, "") => iq.reply_with(info(&room)?),
        (ns::DISCO_INFO, RESERVED_NICK_NODE) => iq.reply_with(reserved_nick(&room, iq.from())),
        // Occupants are not listed: their nicks are for those inside.
        (_, "") => iq.reply_with(Element::new("query", ns::DISCO_ITEMS)),
        _ => Err(Condition::ItemNotFound.into()),
    }
}

/// §7.12: the node where a user finds the nick it registered.
const RESERVED_NICK_NODE: &str = "x-roomuser-item";

fn reserved_nick(room: &Room, from: &str) -> Element {
    let mut q = Element::new("query", ns::DISCO_INFO).with_attr("node", RESERVED_NICK_NODE);
    if let Some(a) = room.entry(waxwing_sdk::jid::bare(from)).filter(|a| !a.nick.is_empty()) {
        q.push_child(
            Element::new("identity", ns::DISCO_INFO)
                .with_attr("category", "conference")
                .with_attr("type", "text")
                .with_attr("name", a.nick.clone()),
        );
    }
    q
}

/// The room's features and its `muc#roominfo` form (§6.4).
fn info(room: &Room) -> Result<Element, StanzaError> {
    let c = &room.config;
    let name = if c.name.is_empty() { room.node.clone() } else { c.name.clone() };
    let mut q = Element::new("query", ns::DISCO_INFO).with_child(
        Element::new("identity", ns::DISCO_INFO)
            .with_attr("category", "conference")
            .with_attr("type", "text")
            .with_attr("name", name),
    );
    let pick = |on: bool, yes: &'static str, no: &'static str| if on { yes } else { no };
    let features = [
        NS_MUC,
        NS_SELF_PING,
        NS_REGISTER,
        pick(c.public, "muc_public", "muc_hidden"),
        pick(c.persistent, "muc_persistent", "muc_temporary"),
        pick(c.members_only, "muc_membersonly", "muc_open"),
        pick(c.moderated, "muc_moderated", "muc_unmoderated"),
        pick(c.password.is_empty(), "muc_unsecured", "muc_passwordprotected"),
        pick(c.whois_anyone, "muc_nonanonymous", "muc_semianonymous"),
    ];
    for f in features {
        q.push_child(Element::new("feature", ns::DISCO_INFO).with_attr("var", f));
    }
    let occupants = occupants::load(&room.node)?.len();
    let subject = room.subject.as_ref().map(|s| s.text.as_str()).unwrap_or("");
    let form = DataForm::result()
        .with_form_type(NS_ROOMINFO)
        .field(Field::text_single("muc#roominfo_description", &c.description).label("Description"))
        .field(Field::text_single("muc#roominfo_occupants", &occupants.to_string()).label("Number of occupants"))
        .field(Field::text_single("muc#roominfo_subject", subject).label("Subject"))
        .field(Field::boolean("muc#roominfo_subjectmod", c.change_subject).label("Occupants may change the subject"))
        .field(Field::text_single("muc#roominfo_lang", &c.lang).label("Language of discussion"))
        .field(Field::text_single("muc#roomconfig_roomname", &c.name).label("Title"));
    q.push_child(form.to_element());
    Ok(q)
}
