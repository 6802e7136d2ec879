//! `urn:waxwing:caps:0`: reading what was recorded for a session, by an iq
//! get to the host, `<caps xmlns='urn:waxwing:caps:0' jid='user@host/res'/>`.
//! The answer repeats `jid`, adds `node`, `ver`, `hash` and `verified`, and
//! carries the verified disco#info `<query/>` when there is one. An account
//! may read its own sessions; the bare JIDs in config `admins` any session
//! on this host. Nothing here is more than a client's own presence told its
//! contacts, but the feature list of every session of every user is not for
//! everyone to collect.

use waxwing_sdk::jid::{self, Jid};
use waxwing_sdk::mem;
use waxwing_sdk::prelude::*;

use crate::advertised::{self, Advertised};
use crate::verified;

pub const NS: &str = "urn:waxwing:caps:0";

/// Whether `requester` may read the caps of `target`'s sessions.
pub fn may_read(requester: &str, target: &Jid, admins: &[String]) -> bool {
    let requester = jid::bare(requester);
    requester == target.bare() || admins.iter().any(|a| a == requester)
}

/// The full JID a lookup names, or why it names none.
pub fn target_of(request: &Element) -> Result<Jid, StanzaError> {
    let raw = request.attr("jid").ok_or_else(|| StanzaError::new(Condition::BadRequest).with_text("no 'jid'"))?;
    match Jid::parse(raw) {
        Some(j) if j.node.is_some() && j.resource.is_some() => Ok(j),
        _ => Err(StanzaError::new(Condition::JidMalformed).with_text("'jid' must be a full JID")),
    }
}

pub fn answer(iq: &Iq, admins: &[String]) -> Handled {
    let target = target_of(iq.payload()?)?;
    if !may_read(iq.from(), &target, admins) {
        return Err(Condition::Forbidden.into());
    }
    let full = target.to_string();
    let Some(bytes) = mem::get(&advertised::session_key(&full))? else {
        return Err(Condition::ItemNotFound.into());
    };
    let recorded = Advertised::decode(&bytes).ok_or(Condition::InternalServerError)?;
    iq.reply_with(describe_record(&full, &recorded, verified::load(&recorded.ver)?))
}

fn describe_record(full: &str, recorded: &Advertised, info: Option<Element>) -> Element {
    let mut el = Element::new("caps", NS)
        .with_attr("jid", full)
        .with_attr("node", recorded.node.as_str())
        .with_attr("ver", recorded.ver.as_str())
        .with_attr("hash", recorded.hash.as_str())
        .with_attr("verified", if info.is_some() { "true" } else { "false" });
    if let Some(info) = info {
        el.push_child(info);
    }
    el
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(attrs: &str) -> Element {
        Element::parse(&format!("<caps xmlns='{NS}' {attrs}/>")).unwrap()
    }

    #[test]
    fn targets_must_be_full_jids_of_accounts() {
        assert_eq!(target_of(&request("jid='a@h/r'")).unwrap().to_string(), "a@h/r");
        assert_eq!(target_of(&request("")).unwrap_err().condition, Condition::BadRequest);
        for bad in ["a@h", "h/r", "@h/r", ""] {
            assert_eq!(target_of(&request(&format!("jid='{bad}'"))).unwrap_err().condition, Condition::JidMalformed);
        }
    }

    #[test]
    fn own_sessions_and_admins_only() {
        let target = Jid::parse("a@h/r").unwrap();
        assert!(may_read("a@h/other", &target, &[]));
        assert!(!may_read("b@h/r", &target, &[]));
        assert!(may_read("admin@h/x", &target, &["admin@h".into()]));
    }

    #[test]
    fn record_says_whether_verified() {
        let rec = Advertised { hash: "sha-1".into(), node: "n".into(), ver: "v".into() };
        let el = describe_record("a@h/r", &rec, None);
        assert_eq!(el.attr("verified"), Some("false"));
        let info = Element::new("query", ns::DISCO_INFO);
        let el = describe_record("a@h/r", &rec, Some(info));
        assert_eq!(el.attr("verified"), Some("true"));
        assert!(el.child("query", ns::DISCO_INFO).is_some());
    }
}
