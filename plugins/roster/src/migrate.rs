//! XEP-0227 import and export: a roster iq from the host's own domain (only
//! the server sends one) is the server's, not a client's. A `set` replaces
//! the state of each item it lists with what it says, subscription states
//! included (which a client's set may never change); `<presence
//! type='subscribe'/>` children are requests waiting for the user's answer.
//! A `get` answers every listed item with its states, and each waiting
//! request as such a `<presence/>`.

use waxwing_sdk::prelude::*;

use crate::item::{Item, NS_ROSTER};
use crate::storage;
use crate::subscription::Subscription;

const MAX_LABEL: usize = 1023;

/// Whether the iq comes from the server itself.
pub fn from_server(iq: &Iq) -> bool {
    iq.from() == waxwing_sdk::domain()
}

pub fn handle(iq: &Iq, user: &str) -> Handled {
    if iq.is_get() { export(iq, user) } else { import(iq, user) }
}

fn export(iq: &Iq, user: &str) -> Handled {
    let mut query = Element::new("query", NS_ROSTER);
    let items = storage::items(user)?;
    for item in items.iter().filter(|i| i.listed) {
        query.push_child(item.to_wire());
    }
    for item in items.iter().filter(|i| i.sub.pending_in) {
        query.push_child(request(&item.jid));
    }
    iq.reply_with(query)
}

fn request(contact: &str) -> Element {
    Element::new("presence", waxwing_sdk::ns::CLIENT).with_attr("from", contact).with_attr("type", "subscribe")
}

/// One item as the file has it.
#[derive(Debug, PartialEq, Eq)]
pub struct Imported {
    pub jid: String,
    pub name: Option<String>,
    pub groups: Vec<String>,
    pub to: bool,
    pub from: bool,
    pub pending_out: bool,
    pub approved: bool,
}

/// Reads the items and requests of an imported roster; the first bad one
/// is the error, and nothing is stored.
pub fn parse(query: &Element, user: &str) -> Result<(Vec<Imported>, Vec<String>), StanzaError> {
    let bad = |text: String| StanzaError::new(Condition::BadRequest).with_type(ErrorType::Modify).with_text(text);
    let contact = |raw: &str| -> Result<String, StanzaError> {
        let jid = Jid::prep(raw).map_err(|_| bad(format!("{raw:?} is not a valid JID")))?;
        if !jid.is_bare() {
            return Err(bad(format!("{raw:?} is not a bare JID")));
        }
        Ok(jid.bare())
    };
    let mut items = Vec::new();
    let mut requests = Vec::new();
    for el in query.elements() {
        if el.is("presence", waxwing_sdk::ns::CLIENT) || el.name == "presence" {
            let from = el.attr("from").ok_or_else(|| bad("a subscription request without 'from'".into()))?;
            let jid = contact(from)?;
            if el.attr("type") == Some("subscribe") && jid != user {
                requests.push(jid);
            }
            continue;
        }
        if !el.is("item", NS_ROSTER) {
            continue;
        }
        let raw = el.attr("jid").ok_or_else(|| bad("an <item/> without 'jid'".into()))?;
        let jid = contact(raw)?;
        if jid == user {
            continue;
        }
        let (to, from) = match el.attr("subscription").unwrap_or("none") {
            "none" => (false, false),
            "to" => (true, false),
            "from" => (false, true),
            "both" => (true, true),
            // Nothing to keep.
            "remove" => continue,
            other => return Err(bad(format!("the item {jid} has subscription={other:?}"))),
        };
        let name = el.attr("name").filter(|n| !n.is_empty()).map(|n| n.chars().take(MAX_LABEL).collect());
        let mut groups: Vec<String> = Vec::new();
        for g in el.elements().filter(|g| g.name == "group") {
            let text = g.text();
            if !text.is_empty() && text.len() <= MAX_LABEL && !groups.contains(&text) {
                groups.push(text);
            }
        }
        items.push(Imported {
            jid,
            name,
            groups,
            to,
            from,
            pending_out: el.attr("ask") == Some("subscribe"),
            approved: el.attr("approved") == Some("true"),
        });
    }
    Ok((items, requests))
}

fn import(iq: &Iq, user: &str) -> Handled {
    let (items, requests) = parse(iq.payload()?, user)?;
    for i in &items {
        storage::update(user, &i.jid, true, |item: &mut Item| {
            if !item.listed && storage::is_full(user)? {
                return Err(crate::roster_iq::roster_full());
            }
            item.listed = true;
            item.name = i.name.clone();
            item.groups = i.groups.clone();
            item.sub = Subscription {
                to: i.to,
                from: i.from,
                pending_out: i.pending_out && !i.to,
                pending_in: item.sub.pending_in && !i.from,
                approved: i.approved && !i.from,
            };
            Ok(())
        })?;
    }
    for contact in &requests {
        storage::update(user, contact, false, |item: &mut Item| {
            if !item.sub.from {
                item.sub.pending_in = true;
            }
            Ok(())
        })?;
    }
    iq.reply_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_keep_their_states() {
        let q = Element::parse(
            "<query xmlns='jabber:iq:roster'><item jid='Bob@H' subscription='both' name='Bob'><group>F</group><group>F</group></item>\
             <item jid='c@h' ask='subscribe'/><item jid='d@h' subscription='from' approved='true'/>\
             <item jid='me@h' subscription='both'/><item jid='e@h' subscription='remove'/>\
             <presence xmlns='jabber:client' from='f@h' type='subscribe'/></query>",
        )
        .unwrap();
        let (items, requests) = parse(&q, "me@h").unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(
            items[0],
            Imported {
                jid: "bob@h".into(),
                name: Some("Bob".into()),
                groups: vec!["F".into()],
                to: true,
                from: true,
                pending_out: false,
                approved: false
            }
        );
        assert!(items[1].pending_out && !items[1].to);
        assert!(items[2].from && items[2].approved);
        assert_eq!(requests, ["f@h"]);
    }

    #[test]
    fn bad_items_are_refused() {
        for bad in
            ["<item/>", "<item jid='a@h/r'/>", "<item jid='a@h' subscription='sideways'/>", "<item jid='a b@h'/>"]
        {
            let q = Element::parse(&format!("<query xmlns='jabber:iq:roster'>{bad}</query>")).unwrap();
            assert_eq!(parse(&q, "me@h").unwrap_err().condition, Condition::BadRequest, "{bad}");
        }
    }
}
