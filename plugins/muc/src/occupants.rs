//! Who is in a room, in `mem` (it outlives a hot swap of the plugin, not a
//! restart, which ends every session anyway): one value per room under
//! `occ/<node>`, read whole by every message, so kept compact; each
//! occupant's last presence apart under `pres/<node>/<nick>`, read only
//! when a newcomer needs it; and per session the rooms it is in, under
//! `in/<full jid>`, for when the session ends.
//!
//! Fields are separated by ASCII control characters, which XML 1.0 cannot
//! carry, so no nick or JID can contain them.

use waxwing_sdk::mem;
use waxwing_sdk::prelude::*;

use crate::model::Role;

const FIELD: char = '\u{1f}';
const RECORD: char = '\u{1e}';
const JIDS: char = '\u{1d}';

/// One nick in the room: a user's sessions that joined with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occupant {
    pub nick: String,
    pub role: Role,
    /// Full JIDs, at least one; all of one bare JID.
    pub jids: Vec<String>,
}

impl Occupant {
    pub fn bare(&self) -> &str {
        waxwing_sdk::jid::bare(&self.jids[0])
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Occupants {
    pub list: Vec<Occupant>,
}

impl Occupants {
    pub fn by_nick(&self, nick: &str) -> Option<&Occupant> {
        self.list.iter().find(|o| o.nick == nick)
    }

    pub fn by_nick_mut(&mut self, nick: &str) -> Option<&mut Occupant> {
        self.list.iter_mut().find(|o| o.nick == nick)
    }

    /// The occupant a session (full JID) is.
    pub fn by_jid(&self, jid: &str) -> Option<&Occupant> {
        self.list.iter().find(|o| o.jids.iter().any(|j| j == jid))
    }

    /// The occupants a user (bare JID) is, one per nick.
    pub fn of_user<'a>(&'a self, bare: &'a str) -> impl Iterator<Item = &'a Occupant> {
        self.list.iter().filter(move |o| o.bare() == bare)
    }

    /// Every session in the room.
    pub fn all_jids(&self) -> Vec<String> {
        self.list.iter().flat_map(|o| o.jids.iter().cloned()).collect()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Removes one session; the occupant goes with its last session.
    /// Returns the occupant as it was, and whether it left the room.
    pub fn remove_jid(&mut self, jid: &str) -> Option<(Occupant, bool)> {
        let i = self.list.iter().position(|o| o.jids.iter().any(|j| j == jid))?;
        let before = self.list[i].clone();
        self.list[i].jids.retain(|j| j != jid);
        let gone = self.list[i].jids.is_empty();
        if gone {
            self.list.remove(i);
        }
        Some((before, gone))
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        for (i, o) in self.list.iter().enumerate() {
            if i > 0 {
                out.push(RECORD);
            }
            out.push_str(&o.nick);
            out.push(FIELD);
            out.push_str(o.role.as_str());
            out.push(FIELD);
            for (k, j) in o.jids.iter().enumerate() {
                if k > 0 {
                    out.push(JIDS);
                }
                out.push_str(j);
            }
        }
        out
    }

    pub fn decode(text: &str) -> Occupants {
        let list = text
            .split(RECORD)
            .filter(|r| !r.is_empty())
            .filter_map(|r| {
                let mut f = r.split(FIELD);
                let nick = f.next()?.to_string();
                let role = Role::parse(f.next()?)?;
                let jids: Vec<String> = f.next()?.split(JIDS).filter(|j| !j.is_empty()).map(str::to_string).collect();
                (!jids.is_empty()).then_some(Occupant { nick, role, jids })
            })
            .collect();
        Occupants { list }
    }
}

fn occ_key(node: &str) -> String {
    format!("occ/{node}")
}

fn pres_key(node: &str, nick: &str) -> String {
    format!("pres/{node}/{nick}")
}

fn rooms_key(jid: &str) -> String {
    format!("in/{jid}")
}

pub fn load(node: &str) -> Result<Occupants, StanzaError> {
    let raw = mem::get(&occ_key(node))?;
    Ok(raw.map(|r| Occupants::decode(&String::from_utf8_lossy(&r))).unwrap_or_default())
}

/// Changes a room's occupants with `change` until the swap holds (joins and
/// leaves of other sessions run at the same time). `change` returns
/// `Ok(None)` to leave them as they are.
pub fn update<T>(
    node: &str,
    mut change: impl FnMut(&mut Occupants) -> Result<Option<T>, StanzaError>,
) -> Result<Option<(Occupants, T)>, StanzaError> {
    let key = occ_key(node);
    loop {
        let raw = mem::get(&key)?;
        let mut occupants = raw.as_deref().map(|r| Occupants::decode(&String::from_utf8_lossy(r))).unwrap_or_default();
        let Some(out) = change(&mut occupants)? else { return Ok(None) };
        let new = if occupants.is_empty() { None } else { Some(occupants.encode()) };
        if mem::compare_and_swap(&key, raw.as_deref(), new.as_deref().map(str::as_bytes))? {
            return Ok(Some((occupants, out)));
        }
    }
}

/// Forgets every occupant of a room (destroyed, or emptied).
pub fn clear(node: &str, nicks: impl Iterator<Item = String>) -> Result<(), StanzaError> {
    mem::delete(&occ_key(node))?;
    for nick in nicks {
        mem::delete(&pres_key(node, &nick))?;
    }
    Ok(())
}

/// The presence an occupant last sent (its children: show, status, caps...).
pub fn presence_of(node: &str, nick: &str) -> Result<Option<Element>, StanzaError> {
    let Some(raw) = mem::get(&pres_key(node, nick))? else { return Ok(None) };
    Ok(waxwing_sdk::parse_client_xml(&String::from_utf8_lossy(&raw)).ok())
}

pub fn set_presence(node: &str, nick: &str, presence: &Element) -> Result<(), StanzaError> {
    Ok(mem::put(&pres_key(node, nick), presence.to_xml_in(ns::CLIENT))?)
}

pub fn forget_presence(node: &str, nick: &str) -> Result<(), StanzaError> {
    Ok(mem::delete(&pres_key(node, nick))?)
}

/// The rooms a session is in.
pub fn rooms_of(jid: &str) -> Result<Vec<String>, StanzaError> {
    let raw = mem::get(&rooms_key(jid))?;
    Ok(raw
        .map(|r| String::from_utf8_lossy(&r).split(RECORD).filter(|s| !s.is_empty()).map(str::to_string).collect())
        .unwrap_or_default())
}

/// Records that a session is (`on`) or is no longer in a room.
pub fn mark(jid: &str, node: &str, on: bool) -> Result<(), StanzaError> {
    let key = rooms_key(jid);
    loop {
        let raw = mem::get(&key)?;
        let text = raw.as_deref().map(String::from_utf8_lossy).unwrap_or_default();
        let mut rooms: Vec<&str> = text.split(RECORD).filter(|s| !s.is_empty()).collect();
        let has = rooms.contains(&node);
        match (on, has) {
            (true, true) | (false, false) => return Ok(()),
            (true, false) => rooms.push(node),
            (false, true) => rooms.retain(|r| *r != node),
        }
        let joined = rooms.join(&RECORD.to_string());
        let new = (!rooms.is_empty()).then_some(joined.as_bytes());
        if mem::compare_and_swap(&key, raw.as_deref(), new)? {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn occupants_round_trip() {
        let occ = Occupants {
            list: vec![
                Occupant {
                    nick: "first witch".into(),
                    role: Role::Moderator,
                    jids: vec!["a@h/r 1".into(), "a@h/r2".into()],
                },
                Occupant { nick: "ältere".into(), role: Role::Visitor, jids: vec!["b@h/x".into()] },
            ],
        };
        assert_eq!(Occupants::decode(&occ.encode()), occ);
        assert_eq!(Occupants::decode(""), Occupants::default());
        assert_eq!(occ.by_jid("a@h/r2").map(|o| o.nick.as_str()), Some("first witch"));
        assert_eq!(occ.all_jids().len(), 3);
    }

    #[test]
    fn the_last_session_takes_the_occupant_with_it() {
        let mut occ = Occupants {
            list: vec![Occupant {
                nick: "n".into(),
                role: Role::Participant,
                jids: vec!["a@h/1".into(), "a@h/2".into()],
            }],
        };
        assert_eq!(occ.remove_jid("a@h/1").map(|(_, gone)| gone), Some(false));
        assert_eq!(occ.remove_jid("a@h/2").map(|(_, gone)| gone), Some(true));
        assert!(occ.is_empty());
        assert!(occ.remove_jid("a@h/2").is_none());
    }
}
