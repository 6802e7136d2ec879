//! A room's lasting state: configuration, affiliations (with registered
//! nicks), subject and lock, one JSON document in `kv` under `room/<node>`,
//! changed by compare-and-swap so that two owners' edits never lose one.
//!
//! A temporary room is stored the same way and deleted with its last
//! occupant; one left behind by a restart (occupants live in `mem`) is
//! treated as gone and deleted when next looked at.

use waxwing_sdk::kv;
use waxwing_sdk::prelude::*;

use crate::model::{Affiliation, Role};

const PREFIX: &str = "room/";

/// Who may send private messages (`muc#roomconfig_allowpm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllowPm {
    Anyone,
    Participants,
    Moderators,
    Nobody,
}

impl AllowPm {
    pub fn as_str(self) -> &'static str {
        match self {
            AllowPm::Anyone => "anyone",
            AllowPm::Participants => "participants",
            AllowPm::Moderators => "moderators",
            AllowPm::Nobody => "none",
        }
    }

    pub fn parse(s: &str) -> Option<AllowPm> {
        Some(match s {
            "anyone" => AllowPm::Anyone,
            "participants" => AllowPm::Participants,
            "moderators" => AllowPm::Moderators,
            "none" => AllowPm::Nobody,
            _ => return None,
        })
    }

    pub fn allows(self, role: Role) -> bool {
        match self {
            AllowPm::Anyone => role > Role::None,
            AllowPm::Participants => role >= Role::Participant,
            AllowPm::Moderators => role == Role::Moderator,
            AllowPm::Nobody => false,
        }
    }
}

/// The `muc#roomconfig` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub name: String,
    pub description: String,
    pub lang: String,
    pub persistent: bool,
    pub public: bool,
    pub members_only: bool,
    pub moderated: bool,
    /// Empty: no password.
    pub password: String,
    /// 0: no limit but the service's.
    pub max_users: u32,
    /// Real JIDs shown to everyone (non-anonymous) rather than to moderators.
    pub whois_anyone: bool,
    pub change_subject: bool,
    pub allow_invites: bool,
    pub allow_pm: AllowPm,
    pub logging: bool,
    pub voice_requests: bool,
    /// Roles whose presence is broadcast.
    pub presence_broadcast: Vec<Role>,
    /// Roles that may read the member list.
    pub get_member_list: Vec<Role>,
    /// Messages kept for newcomers.
    pub history_length: u32,
}

impl Config {
    /// A new room's settings: Prosody's defaults, history length from the
    /// service's settings.
    pub fn new_room(history_length: u32) -> Config {
        Config {
            name: String::new(),
            description: String::new(),
            lang: String::new(),
            persistent: false,
            public: true,
            members_only: false,
            moderated: false,
            password: String::new(),
            max_users: 0,
            whois_anyone: false,
            change_subject: false,
            allow_invites: false,
            allow_pm: AllowPm::Anyone,
            logging: false,
            voice_requests: true,
            presence_broadcast: vec![Role::Moderator, Role::Participant, Role::Visitor],
            get_member_list: vec![Role::Moderator, Role::Participant],
            history_length,
        }
    }

    pub fn broadcasts(&self, role: Role) -> bool {
        self.presence_broadcast.contains(&role)
    }
}

/// One entry of the affiliation list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Affiliated {
    pub jid: String,
    pub affiliation: Affiliation,
    /// The nick registered in the room (XEP-0045 §7.10), if any.
    pub nick: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub nick: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    /// The room's node: `node@conference.example.org`.
    pub node: String,
    pub config: Config,
    /// Created as a reserved room and not configured yet: only owners enter.
    pub locked: bool,
    pub subject: Option<Subject>,
    /// Every affiliation but `none`, sorted by JID.
    pub affiliations: Vec<Affiliated>,
}

impl Room {
    pub fn new(node: &str, owner: &str, config: Config, locked: bool) -> Room {
        let mut room = Room { node: node.to_string(), config, locked, subject: None, affiliations: Vec::new() };
        room.set_affiliation(owner, Affiliation::Owner, "");
        room
    }

    pub fn affiliation(&self, bare: &str) -> Affiliation {
        self.entry(bare).map_or(Affiliation::None, |a| a.affiliation)
    }

    pub fn entry(&self, bare: &str) -> Option<&Affiliated> {
        self.affiliations.iter().find(|a| a.jid == bare)
    }

    /// Sets `bare`'s affiliation, keeping a registered nick; `none` without a
    /// nick removes the entry.
    pub fn set_affiliation(&mut self, bare: &str, affiliation: Affiliation, reason: &str) {
        match self.affiliations.iter().position(|a| a.jid == bare) {
            Some(i) => {
                let a = &mut self.affiliations[i];
                a.affiliation = affiliation;
                a.reason = reason.to_string();
                if affiliation == Affiliation::None && a.nick.is_empty() {
                    self.affiliations.remove(i);
                }
            }
            None if affiliation == Affiliation::None => {}
            None => {
                let at = self.affiliations.partition_point(|a| a.jid.as_str() < bare);
                let entry =
                    Affiliated { jid: bare.to_string(), affiliation, nick: String::new(), reason: reason.to_string() };
                self.affiliations.insert(at, entry);
            }
        }
    }

    /// Registers (or with "" releases) `bare`'s nick.
    pub fn set_nick(&mut self, bare: &str, nick: &str) {
        if self.entry(bare).is_none() {
            if nick.is_empty() {
                return;
            }
            let at = self.affiliations.partition_point(|a| a.jid.as_str() < bare);
            self.affiliations.insert(
                at,
                Affiliated {
                    jid: bare.to_string(),
                    affiliation: Affiliation::None,
                    nick: String::new(),
                    reason: String::new(),
                },
            );
        }
        if let Some(i) = self.affiliations.iter().position(|a| a.jid == bare) {
            self.affiliations[i].nick = nick.to_string();
            if nick.is_empty() && self.affiliations[i].affiliation == Affiliation::None {
                self.affiliations.remove(i);
            }
        }
    }

    /// Who registered `nick`, if anyone.
    pub fn nick_owner(&self, nick: &str) -> Option<&str> {
        self.affiliations.iter().find(|a| a.nick == nick).map(|a| a.jid.as_str())
    }

    pub fn with_affiliation(&self, affiliation: Affiliation) -> impl Iterator<Item = &Affiliated> {
        self.affiliations.iter().filter(move |a| a.affiliation == affiliation)
    }

    pub fn owners(&self) -> usize {
        self.with_affiliation(Affiliation::Owner).count()
    }
}

/// A room as read, with the stored bytes a compare-and-swap expects.
pub struct Stored {
    pub room: Room,
    raw: Vec<u8>,
}

fn key(node: &str) -> String {
    format!("{PREFIX}{node}")
}

/// The room, if it exists.
pub fn load(node: &str) -> Result<Option<Stored>, StanzaError> {
    let Some(raw) = kv::get(key(node))? else { return Ok(None) };
    let room = decode(node, &raw)?;
    Ok(Some(Stored { room, raw }))
}

/// Writes a new room; false when one appeared meanwhile.
pub fn create(room: &Room) -> Result<bool, StanzaError> {
    Ok(kv::compare_and_swap(key(&room.node), None, Some(encode(room).as_bytes()))?)
}

/// Replaces the room read as `stored`; false when it changed meanwhile.
pub fn replace(stored: &Stored, room: &Room) -> Result<bool, StanzaError> {
    Ok(kv::compare_and_swap(key(&room.node), Some(&stored.raw), Some(encode(room).as_bytes()))?)
}

pub fn delete(node: &str) -> Result<(), StanzaError> {
    Ok(kv::delete(key(node))?)
}

/// Changes a room with `change` until the swap holds (another call may edit
/// it at the same time). `change` returns `Ok(None)` to leave it as it is.
pub fn update<T>(
    node: &str,
    mut change: impl FnMut(&mut Room) -> Result<Option<T>, StanzaError>,
) -> Result<Option<(Room, T)>, StanzaError> {
    loop {
        let Some(stored) = load(node)? else { return Err(Condition::ItemNotFound.into()) };
        let mut room = stored.room.clone();
        let Some(out) = change(&mut room)? else { return Ok(None) };
        if replace(&stored, &room)? {
            return Ok(Some((room, out)));
        }
    }
}

/// Every stored room's node, for listing.
pub fn all() -> Result<Vec<Room>, StanzaError> {
    let mut rooms = Vec::new();
    for entry in kv::scan_iter(PREFIX) {
        let (k, raw) = entry?;
        let node = String::from_utf8_lossy(&k[PREFIX.len()..]).into_owned();
        rooms.push(decode(&node, &raw)?);
    }
    Ok(rooms)
}

fn roles_json(roles: &[Role]) -> Json {
    Json::Array(roles.iter().map(|r| Json::from(r.as_str())).collect())
}

fn encode(room: &Room) -> String {
    let c = &room.config;
    let config = Json::Object(vec![
        ("name".into(), c.name.as_str().into()),
        ("description".into(), c.description.as_str().into()),
        ("lang".into(), c.lang.as_str().into()),
        ("persistent".into(), c.persistent.into()),
        ("public".into(), c.public.into()),
        ("members_only".into(), c.members_only.into()),
        ("moderated".into(), c.moderated.into()),
        ("password".into(), c.password.as_str().into()),
        ("max_users".into(), i64::from(c.max_users).into()),
        ("whois_anyone".into(), c.whois_anyone.into()),
        ("change_subject".into(), c.change_subject.into()),
        ("allow_invites".into(), c.allow_invites.into()),
        ("allow_pm".into(), c.allow_pm.as_str().into()),
        ("logging".into(), c.logging.into()),
        ("voice_requests".into(), c.voice_requests.into()),
        ("presence_broadcast".into(), roles_json(&c.presence_broadcast)),
        ("get_member_list".into(), roles_json(&c.get_member_list)),
        ("history_length".into(), i64::from(c.history_length).into()),
    ]);
    let affiliations = room
        .affiliations
        .iter()
        .map(|a| {
            Json::Object(vec![
                ("jid".into(), a.jid.as_str().into()),
                ("affiliation".into(), a.affiliation.as_str().into()),
                ("nick".into(), a.nick.as_str().into()),
                ("reason".into(), a.reason.as_str().into()),
            ])
        })
        .collect();
    let subject = match &room.subject {
        None => Json::Null,
        Some(s) => Json::Object(vec![("nick".into(), s.nick.as_str().into()), ("text".into(), s.text.as_str().into())]),
    };
    Json::Object(vec![
        ("config".into(), config),
        ("locked".into(), room.locked.into()),
        ("subject".into(), subject),
        ("affiliations".into(), Json::Array(affiliations)),
    ])
    .to_string()
}

fn decode(node: &str, raw: &[u8]) -> Result<Room, StanzaError> {
    let broken = |what: &str| {
        StanzaError::new(Condition::InternalServerError)
            .with_text(format!("room {node}: stored state unreadable: {what}"))
    };
    let text = std::str::from_utf8(raw).map_err(|_| broken("not UTF-8"))?;
    let doc = Json::parse(text).map_err(|e| broken(&e.to_string()))?;
    let c = doc.get("config");
    let text_of = |k: &str| c.get(k).as_str().unwrap_or("").to_string();
    let flag = |k: &str| c.get(k).as_bool().unwrap_or(false);
    let count = |k: &str| c.get(k).as_i64().and_then(|n| u32::try_from(n).ok()).unwrap_or(0);
    let roles = |k: &str| c.get(k).as_str_list().iter().filter_map(|r| Role::parse(r)).collect::<Vec<_>>();
    let config = Config {
        name: text_of("name"),
        description: text_of("description"),
        lang: text_of("lang"),
        persistent: flag("persistent"),
        public: flag("public"),
        members_only: flag("members_only"),
        moderated: flag("moderated"),
        password: text_of("password"),
        max_users: count("max_users"),
        whois_anyone: flag("whois_anyone"),
        change_subject: flag("change_subject"),
        allow_invites: flag("allow_invites"),
        allow_pm: AllowPm::parse(&text_of("allow_pm")).unwrap_or(AllowPm::Anyone),
        logging: flag("logging"),
        voice_requests: flag("voice_requests"),
        presence_broadcast: roles("presence_broadcast"),
        get_member_list: roles("get_member_list"),
        history_length: count("history_length"),
    };
    let mut affiliations = Vec::new();
    for a in doc.get("affiliations").as_array().unwrap_or(&[]) {
        let jid = a.get("jid").as_str().ok_or_else(|| broken("an affiliation without a jid"))?;
        let affiliation = Affiliation::parse(a.get("affiliation").as_str().unwrap_or(""))
            .ok_or_else(|| broken("an unknown affiliation"))?;
        affiliations.push(Affiliated {
            jid: jid.to_string(),
            affiliation,
            nick: a.get("nick").as_str().unwrap_or("").to_string(),
            reason: a.get("reason").as_str().unwrap_or("").to_string(),
        });
    }
    let subject = match doc.get("subject") {
        Json::Null => None,
        s => Some(Subject {
            nick: s.get("nick").as_str().unwrap_or("").to_string(),
            text: s.get("text").as_str().unwrap_or("").to_string(),
        }),
    };
    Ok(Room {
        node: node.to_string(),
        config,
        locked: doc.get("locked").as_bool().unwrap_or(false),
        subject,
        affiliations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_room_round_trips_through_its_stored_form() {
        let mut config = Config::new_room(20);
        config.name = "Coven \"of\" <witches>".into();
        config.password = "s3cret".into();
        config.allow_pm = AllowPm::Moderators;
        config.presence_broadcast = vec![Role::Moderator];
        let mut room = Room::new("coven", "crone@h", config, true);
        room.set_affiliation("hag@h", Affiliation::Outcast, "too loud");
        room.set_nick("wiccan@h", "wicca");
        room.subject = Some(Subject { nick: "crone".into(), text: "Fire burn\nand cauldron bubble".into() });
        let back = decode("coven", encode(&room).as_bytes()).unwrap();
        assert_eq!(back, room);
        assert_eq!(back.affiliation("wiccan@h"), Affiliation::None);
        assert_eq!(back.nick_owner("wicca"), Some("wiccan@h"));
        assert_eq!(back.owners(), 1);
    }

    #[test]
    fn none_without_a_nick_leaves_the_list() {
        let mut room = Room::new("r", "o@h", Config::new_room(0), false);
        room.set_affiliation("m@h", Affiliation::Member, "");
        room.set_affiliation("m@h", Affiliation::None, "");
        assert!(room.entry("m@h").is_none());
        room.set_nick("n@h", "nn");
        room.set_affiliation("n@h", Affiliation::Member, "");
        room.set_affiliation("n@h", Affiliation::None, "");
        assert_eq!(room.entry("n@h").map(|a| a.nick.as_str()), Some("nn"), "a registered nick stays");
        room.set_nick("n@h", "");
        assert!(room.entry("n@h").is_none());
    }

    #[test]
    fn unreadable_state_is_an_internal_error_naming_the_room() {
        let e = decode("r", b"{not json").unwrap_err();
        assert_eq!(e.condition, Condition::InternalServerError);
        assert!(e.text.as_deref().unwrap_or("").contains("room r"), "{e:?}");
    }
}
