//! XEP-0045 Multi-User Chat on the service subdomain `conference.<vhost>`.
//!
//! Rooms (configuration, affiliations, subject) live in `kv` (`room.rs`),
//! occupants in `mem` (`occupants.rs`), so a hot swap of the plugin keeps
//! everyone in. A groupchat message is one call and one `send-many`.
//!
//! Settings: `name` (the service's disco name), `history_length` (messages
//! a new room keeps), `room_creation` (`anyone` on the vhost, or `admins`),
//! `admins` (bare JIDs that own every room).

mod admin;
mod broadcast;
mod disco;
mod history;
mod join;
mod messages;
mod model;
mod occupants;
mod owner;
mod presence;
mod proxy;
mod register;
mod room;

use waxwing_sdk::prelude::*;

pub const NS_MUC: &str = "http://jabber.org/protocol/muc";
pub const NS_USER: &str = "http://jabber.org/protocol/muc#user";
pub const NS_ADMIN: &str = "http://jabber.org/protocol/muc#admin";
pub const NS_OWNER: &str = "http://jabber.org/protocol/muc#owner";
pub const NS_ROOMCONFIG: &str = "http://jabber.org/protocol/muc#roomconfig";
pub const NS_ROOMINFO: &str = "http://jabber.org/protocol/muc#roominfo";
pub const NS_REQUEST: &str = "http://jabber.org/protocol/muc#request";
pub const NS_REGISTER: &str = "jabber:iq:register";
pub const NS_SELF_PING: &str = "http://jabber.org/protocol/muc#self-ping-optimization";
pub const NS_DIRECT_INVITE: &str = "jabber:x:conference";

/// The subdomain this plugin serves.
const SUBDOMAIN: &str = "conference";

/// The service's domain: `conference.<vhost>`.
pub fn service() -> String {
    format!("{SUBDOMAIN}.{}", waxwing_sdk::domain())
}

/// `node@service`, with `/nick` when given.
pub fn room_jid(node: &str, nick: Option<&str>) -> String {
    match nick {
        Some(n) => format!("{node}@{}/{n}", service()),
        None => format!("{node}@{}", service()),
    }
}

/// A fresh id for stanzas the room sends on its own.
pub fn new_id() -> String {
    waxwing_sdk::random(8).iter().map(|b| format!("{b:02x}")).collect()
}

/// Where a stanza to the service is going.
pub enum Target<'a> {
    /// The service itself.
    Service,
    Room(&'a str),
    Occupant(&'a str, &'a str),
}

pub fn target(to: &str) -> Target<'_> {
    match (waxwing_sdk::jid::node(to), waxwing_sdk::jid::resource(to)) {
        (None, _) => Target::Service,
        (Some(node), None) => Target::Room(node),
        (Some(node), Some(nick)) => Target::Occupant(node, nick),
    }
}

/// Service-wide settings.
pub struct Settings {
    pub history_length: u32,
    pub admins_only_create: bool,
    pub admins: Vec<String>,
}

pub fn settings() -> Settings {
    let c = waxwing_sdk::config();
    Settings {
        history_length: c.get("history_length").as_i64().and_then(|n| u32::try_from(n).ok()).unwrap_or(20),
        admins_only_create: c.get("room_creation").as_str() == Some("admins"),
        admins: c.get("admins").as_str_list(),
    }
}

struct Muc;

impl Plugin for Muc {
    fn describe() -> Describe {
        Describe::new("muc", env!("CARGO_PKG_VERSION"))
            .service(SUBDOMAIN)
            .identity("conference", "text", "Chatrooms")
            .feature(ns::DISCO_INFO)
            .feature(ns::DISCO_ITEMS)
            .feature(NS_MUC)
            .feature(NS_SELF_PING)
            .route(Route::presence().to(Address::Service))
            .route(Route::message().to(Address::Service))
            .route(Route::iq().to(Address::Service))
            .event(EventKind::SessionEnded)
            .capabilities([Capability::Kv, Capability::Mem, Capability::Route])
            .setting_text("name", "Chatrooms", "The service's name in disco")
            .setting_int("history_length", 0, 1000, 20, "Messages a new room keeps for newcomers")
            .setting_choice(
                "room_creation",
                &["anyone", "admins"],
                "anyone",
                "Who may create rooms: any user of the vhost, or only the service admins",
            )
            .setting_text_list("admins", &[], "Bare JIDs that own every room")
    }

    fn on_presence(p: Presence) -> Handled {
        presence::handle(&p)
    }

    fn on_message(m: Message) -> Handled {
        messages::handle(&m)
    }

    fn on_iq(iq: Iq) -> Handled {
        match target(iq.to()) {
            Target::Service => disco::service(&iq),
            Target::Room(node) => match iq.payload_ns() {
                ns::DISCO_INFO | ns::DISCO_ITEMS => disco::room(&iq, node),
                NS_ADMIN => admin::handle(&iq, node),
                NS_OWNER => owner::handle(&iq, node),
                NS_REGISTER => register::handle(&iq, node),
                _ => Err(Condition::ServiceUnavailable.into()),
            },
            Target::Occupant(node, nick) => proxy::iq(&iq, node, nick),
        }
    }

    fn on_event(event: Event) -> Result<(), EventError> {
        match event {
            Event::SessionEnded { jid, .. } => {
                presence::session_ended(&jid).map_err(|e| EventError::new(format!("{e:?}")))
            }
            Event::IqResponse { context, outcome, .. } => {
                proxy::answered(&context, &outcome).map_err(|e| EventError::new(format!("{e:?}")))
            }
            _ => Ok(()),
        }
    }
}

waxwing_sdk::export_plugin!(Muc);

#[cfg(test)]
mod tests;
