//! What an admin looks up about one account: its roster (read from the
//! roster plugin's datasets) and when it was last online (kept here, at
//! the end of each session, as ejabberd reports it).

use waxwing_sdk::adhoc::Step;
use waxwing_sdk::forms::FieldType;
use waxwing_sdk::prelude::*;
use waxwing_sdk::{datasets, kv, sessions};

use crate::{form, result};

const ROSTER: &str = "roster";
pub const SUBSCRIPTIONS: &str = "subscriptions";
pub const GROUPS: &str = "groups";
const NS_ROSTER: &str = "jabber:iq:roster";

fn last_key(bare: &str) -> String {
    format!("last/{bare}")
}

/// The first stage of a lookup command, if `name` is one.
pub fn first_stage(name: &str) -> Option<Step> {
    let (title, label) = match name {
        "get-user-roster" => ("Getting a User's Roster", "The Jabber ID for which to retrieve the roster"),
        "get-user-lastlogin" => {
            ("Getting a User's Last Login Time", "The Jabber ID for which to retrieve the last login time")
        }
        _ => return None,
    };
    Some(Step::form(form(title, vec![Field::new("accountjid", FieldType::JidSingle).label(label).required()]), 1))
}

/// The answer to a lookup for `bare` (an account of this host), if `name` is one.
pub fn answer(name: &str, bare: &str) -> Option<Result<Step, StanzaError>> {
    Some(match name {
        "get-user-roster" => roster(bare),
        "get-user-lastlogin" => last_login(bare),
        _ => return None,
    })
}

/// §4.19: the roster as the roster plugin keeps it, subscriptions and groups.
fn roster(bare: &str) -> Result<Step, StanzaError> {
    let prefix = format!("{bare} ");
    let groups = datasets::scan_all(ROSTER, GROUPS, &prefix)?;
    let mut query = Element::new("query", NS_ROSTER);
    for (key, sub) in datasets::scan_all(ROSTER, SUBSCRIPTIONS, &prefix)? {
        let Some(contact) = key.strip_prefix(&prefix) else { continue };
        let mut item = Element::new("item", NS_ROSTER)
            .with_attr("jid", contact)
            .with_attr("subscription", String::from_utf8_lossy(&sub).to_string());
        if let Some((_, g)) = groups.iter().find(|(k, _)| *k == key) {
            for group in String::from_utf8_lossy(g).split('\n').filter(|g| !g.is_empty()) {
                item.push_child(Element::new("group", NS_ROSTER).with_text(group.to_string()));
            }
        }
        query.push_child(item);
    }
    Ok(Step::result(result(vec![Field::new("accountjid", FieldType::JidSingle).value(bare)])).with_payload(query))
}

/// §4.20: "online", else when its last session ended, else "never".
fn last_login(bare: &str) -> Result<Step, StanzaError> {
    let when = if !sessions::of(bare)?.is_empty() {
        "online".to_string()
    } else {
        match kv::get(last_key(bare))?.and_then(|v| String::from_utf8(v).ok()).and_then(|v| v.parse::<u64>().ok()) {
            Some(ms) => waxwing_sdk::format_utc(ms),
            None => "never".to_string(),
        }
    };
    Ok(Step::result(result(vec![
        Field::new("accountjid", FieldType::JidSingle).value(bare),
        Field::text_single("lastlogin", &when),
    ])))
}

/// A session ended: its account was last online now.
pub fn session_ended(full_jid: &str) -> Result<(), HostError> {
    kv::put(last_key(waxwing_sdk::jid::bare(full_jid)), waxwing_sdk::now_ms().to_string())
}
