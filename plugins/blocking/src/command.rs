//! The XEP-0191 requests a client sends, read from the iq payload, and the
//! elements the plugin answers and pushes with.

use waxwing_sdk::prelude::*;

use crate::items;

pub const NS: &str = "urn:xmpp:blocking";
pub const NS_ERRORS: &str = "urn:xmpp:blocking:errors";

/// At most this many items per request: a request and the pushes it causes
/// must stay far below the kernel's stanza size limit.
pub const MAX_ITEMS_PER_REQUEST: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `<blocklist/>` (get).
    List,
    /// `<block>` with its items, normalized.
    Block(Vec<String>),
    /// `<unblock>` with its items, normalized.
    Unblock(Vec<String>),
    /// `<unblock/>` with no items (§3.5).
    UnblockAll,
}

impl Command {
    /// What every interested resource is told after a change (§3.3–3.5):
    /// the same request, with the items as they were stored.
    pub fn push_payload(&self) -> Option<Element> {
        match self {
            Command::List => None,
            Command::Block(jids) => Some(with_items(Element::new("block", NS), jids)),
            Command::Unblock(jids) => Some(with_items(Element::new("unblock", NS), jids)),
            Command::UnblockAll => Some(Element::new("unblock", NS)),
        }
    }
}

/// Reads the request in `payload` of an iq of `iq_type`.
pub fn parse(iq_type: StanzaType, payload: &Element) -> Result<Command, StanzaError> {
    if payload.ns != NS {
        return Err(bad_request("not a blocking command"));
    }
    match (iq_type, payload.name.as_str()) {
        (StanzaType::Get, "blocklist") => Ok(Command::List),
        (StanzaType::Set, "block") => match read_items(payload)? {
            jids if jids.is_empty() => Err(bad_request("<block/> needs at least one <item/>")),
            jids => Ok(Command::Block(jids)),
        },
        (StanzaType::Set, "unblock") => match read_items(payload)? {
            jids if jids.is_empty() => Ok(Command::UnblockAll),
            jids => Ok(Command::Unblock(jids)),
        },
        (_, name) => Err(bad_request(format!("<{name}/> is not a blocking request of type '{iq_type}'"))),
    }
}

/// The `<item/>` children's JIDs, normalized and without duplicates, in the
/// order sent. One unreadable JID refuses the whole request (§3.3): half a
/// block would leave the user thinking they are protected.
fn read_items(payload: &Element) -> Result<Vec<String>, StanzaError> {
    let mut jids: Vec<String> = Vec::new();
    for item in payload.elements().filter(|e| e.is("item", NS)) {
        let raw = item.attr("jid").unwrap_or_default();
        let jid = items::normalize(raw)
            .ok_or_else(|| StanzaError::new(Condition::JidMalformed).with_text(format!("'{raw}' is not a JID")))?;
        if !jids.contains(&jid) {
            jids.push(jid);
        }
        if jids.len() > MAX_ITEMS_PER_REQUEST {
            return Err(StanzaError::new(Condition::NotAcceptable)
                .with_text(format!("at most {MAX_ITEMS_PER_REQUEST} items per request")));
        }
    }
    Ok(jids)
}

/// The answer to `<blocklist/>`.
pub fn blocklist_payload(jids: &[String]) -> Element {
    with_items(Element::new("blocklist", NS), jids)
}

fn with_items(mut el: Element, jids: &[String]) -> Element {
    for jid in jids {
        el.push_child(Element::new("item", NS).with_attr("jid", jid.as_str()));
    }
    el
}

/// The XEP-0191 §3.3 application condition of a stanza the user sent to
/// someone they blocked.
pub fn blocked_condition() -> Element {
    Element::new("blocked", NS_ERRORS)
}

fn bad_request(text: impl Into<String>) -> StanzaError {
    StanzaError::new(Condition::BadRequest).with_text(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(xml: &str) -> Element {
        Element::parse(xml).unwrap()
    }

    fn condition(r: Result<Command, StanzaError>) -> Condition {
        r.unwrap_err().condition
    }

    #[test]
    fn reads_each_request() {
        assert_eq!(parse(StanzaType::Get, &payload("<blocklist xmlns='urn:xmpp:blocking'/>")), Ok(Command::List));
        assert_eq!(
            parse(
                StanzaType::Set,
                &payload(
                    "<block xmlns='urn:xmpp:blocking'><item jid='Romeo@Montague.net'/><item jid='montague.net'/>\
                     <item jid='romeo@montague.net'/></block>"
                )
            ),
            Ok(Command::Block(vec!["romeo@montague.net".into(), "montague.net".into()]))
        );
        assert_eq!(
            parse(StanzaType::Set, &payload("<unblock xmlns='urn:xmpp:blocking'><item jid='a@b/c'/></unblock>")),
            Ok(Command::Unblock(vec!["a@b/c".into()]))
        );
        assert_eq!(parse(StanzaType::Set, &payload("<unblock xmlns='urn:xmpp:blocking'/>")), Ok(Command::UnblockAll));
    }

    #[test]
    fn an_empty_block_is_a_bad_request() {
        assert_eq!(
            condition(parse(StanzaType::Set, &payload("<block xmlns='urn:xmpp:blocking'/>"))),
            Condition::BadRequest
        );
        // Children that are not items do not count as items.
        let other = "<block xmlns='urn:xmpp:blocking'><item xmlns='urn:other' jid='a@b'/></block>";
        assert_eq!(condition(parse(StanzaType::Set, &payload(other))), Condition::BadRequest);
    }

    #[test]
    fn one_malformed_item_refuses_the_request() {
        for bad in ["a@b@c", "", "@b", "a@b/"] {
            let xml = format!("<block xmlns='urn:xmpp:blocking'><item jid='ok@b'/><item jid='{bad}'/></block>");
            assert_eq!(condition(parse(StanzaType::Set, &payload(&xml))), Condition::JidMalformed, "{bad:?}");
        }
        let missing = "<unblock xmlns='urn:xmpp:blocking'><item/></unblock>";
        assert_eq!(condition(parse(StanzaType::Set, &payload(missing))), Condition::JidMalformed);
    }

    #[test]
    fn wrong_type_or_element_is_a_bad_request() {
        assert_eq!(
            condition(parse(StanzaType::Set, &payload("<blocklist xmlns='urn:xmpp:blocking'/>"))),
            Condition::BadRequest
        );
        let block = "<block xmlns='urn:xmpp:blocking'><item jid='a@b'/></block>";
        assert_eq!(condition(parse(StanzaType::Get, &payload(block))), Condition::BadRequest);
        assert_eq!(
            condition(parse(StanzaType::Get, &payload("<other xmlns='urn:xmpp:blocking'/>"))),
            Condition::BadRequest
        );
        assert_eq!(
            condition(parse(StanzaType::Get, &payload("<blocklist xmlns='urn:other'/>"))),
            Condition::BadRequest
        );
    }

    #[test]
    fn too_many_items_are_refused() {
        let items: String = (0..=MAX_ITEMS_PER_REQUEST).map(|i| format!("<item jid='u{i}@b'/>")).collect();
        let xml = format!("<block xmlns='urn:xmpp:blocking'>{items}</block>");
        assert_eq!(condition(parse(StanzaType::Set, &payload(&xml))), Condition::NotAcceptable);
    }

    #[test]
    fn pushes_repeat_the_request() {
        let push = Command::Block(vec!["a@b".into()]).push_payload().unwrap();
        assert_eq!(push.to_xml(), "<block xmlns='urn:xmpp:blocking'><item jid='a@b'/></block>");
        assert_eq!(Command::UnblockAll.push_payload().unwrap().to_xml(), "<unblock xmlns='urn:xmpp:blocking'/>");
        assert_eq!(Command::List.push_payload(), None);
        assert_eq!(
            blocklist_payload(&["a@b".into(), "c".into()]).to_xml(),
            "<blocklist xmlns='urn:xmpp:blocking'><item jid='a@b'/><item jid='c'/></blocklist>"
        );
    }
}
