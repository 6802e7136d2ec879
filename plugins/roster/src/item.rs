//! A roster item: how it is stored, how it goes on the wire, and how a
//! client's roster set is read into one (RFC 6121 §2.1, §2.3.3).

use waxwing_sdk::prelude::*;

use crate::subscription::Subscription;

pub const NS_ROSTER: &str = "jabber:iq:roster";
/// The namespace of stored records: only ever read back by this plugin.
const NS_STORE: &str = "urn:waxwing:roster:store";
/// Longest `name` or group a roster set may carry, in bytes: what a JID part
/// may be (RFC 7622), plenty for a label.
const MAX_LABEL: usize = 1023;

/// One contact in one user's roster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Item {
    /// The contact's bare JID.
    pub jid: String,
    pub name: Option<String>,
    pub groups: Vec<String>,
    pub sub: Subscription,
    /// Shown in the roster. A contact that only asked to subscribe is
    /// remembered (pending in) but not listed until the user adds it.
    pub listed: bool,
    /// The roster version at this item's last change (XEP-0237).
    pub ver: u64,
}

impl Item {
    /// A contact the user has no record of yet.
    pub fn new(jid: &str) -> Item {
        Item { jid: jid.to_string(), ..Item::default() }
    }

    /// Nothing to keep: not listed and no subscription state.
    pub fn is_forgettable(&self) -> bool {
        !self.listed && self.sub.is_empty()
    }

    /// The record as stored in `kv`.
    pub fn encode(&self) -> Vec<u8> {
        let mut el = Element::new("item", NS_STORE)
            .with_attr("jid", self.jid.clone())
            .with_attr("state", self.sub.to_flags())
            .with_attr("ver", self.ver.to_string());
        if let Some(name) = &self.name {
            el.set_attr("name", name.clone());
        }
        if self.listed {
            el.set_attr("listed", "1");
        }
        for g in &self.groups {
            el.push_child(Element::new("group", NS_STORE).with_text(g.clone()));
        }
        el.to_xml().into_bytes()
    }

    pub fn decode(bytes: &[u8]) -> Result<Item, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "a roster record is not UTF-8".to_string())?;
        let el = Element::parse(text).map_err(|e| format!("a roster record is not XML: {e}"))?;
        if !el.is("item", NS_STORE) {
            return Err(format!("a roster record is <{}/>, not an item", el.name));
        }
        let jid = el.attr("jid").ok_or("a roster record without a jid")?.to_string();
        let ver = el.attr("ver").and_then(|v| v.parse().ok()).ok_or("a roster record without a version")?;
        Ok(Item {
            jid,
            name: el.attr("name").map(str::to_string),
            groups: el.elements().filter(|g| g.is("group", NS_STORE)).map(Element::text).collect(),
            sub: Subscription::from_flags(el.attr("state").unwrap_or_default())?,
            listed: el.attr("listed") == Some("1"),
            ver,
        })
    }

    /// The `<item/>` of a roster result or push.
    pub fn to_wire(&self) -> Element {
        let mut el = Element::new("item", NS_ROSTER)
            .with_attr("jid", self.jid.clone())
            .with_attr("subscription", self.sub.name());
        if let Some(name) = &self.name {
            el.set_attr("name", name.clone());
        }
        if self.sub.pending_out {
            el.set_attr("ask", "subscribe");
        }
        if self.sub.approved {
            el.set_attr("approved", "true");
        }
        for g in &self.groups {
            el.push_child(Element::new("group", NS_ROSTER).with_text(g.clone()));
        }
        el
    }
}

/// The `<item/>` of a push announcing that `jid` left the roster.
pub fn removal_wire(jid: &str) -> Element {
    Element::new("item", NS_ROSTER).with_attr("jid", jid).with_attr("subscription", "remove")
}

/// What a valid roster set asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RosterSet {
    /// Add the contact or change its name and groups.
    Update {
        jid: String,
        name: Option<String>,
        groups: Vec<String>,
    },
    Remove {
        jid: String,
    },
}

/// Reads a roster set's `<query/>`. `owner` is the user's bare JID.
pub fn parse_set(query: &Element, owner: &str) -> Result<RosterSet, StanzaError> {
    let mut items = query.elements().filter(|e| e.is("item", NS_ROSTER));
    let (Some(item), None) = (items.next(), items.next()) else {
        return Err(modify(Condition::BadRequest, "a roster set carries exactly one <item/>"));
    };
    let raw = item.attr("jid").ok_or_else(|| modify(Condition::BadRequest, "the <item/> has no 'jid'"))?;
    // Prepared by the host as the kernel prepares the addresses it stamps,
    // so the record's key matches the contact's presence.
    let jid = Jid::prep(raw).map_err(|_| modify(Condition::JidMalformed, "the item's 'jid' is not a valid JID"))?;
    if !jid.is_bare() {
        return Err(modify(Condition::NotAcceptable, "roster items are bare JIDs"));
    }
    let jid = jid.bare();
    if jid == owner {
        return Err(StanzaError::new(Condition::NotAllowed).with_text("you cannot be your own contact"));
    }
    // §2.1.2.5: any other value of 'subscription' is ignored.
    if item.attr("subscription") == Some("remove") {
        return Ok(RosterSet::Remove { jid });
    }
    let name = match item.attr("name") {
        Some(n) if n.len() > MAX_LABEL => return Err(modify(Condition::NotAcceptable, "the name is too long")),
        // An empty name is the same as none (§2.1.2.4).
        Some("") | None => None,
        Some(n) => Some(n.to_string()),
    };
    let mut groups: Vec<String> = Vec::new();
    for g in item.elements().filter(|e| e.is("group", NS_ROSTER)) {
        let text = g.text();
        if text.is_empty() || text.len() > MAX_LABEL {
            return Err(modify(Condition::NotAcceptable, "a group name must be 1 to 1023 bytes"));
        }
        if groups.contains(&text) {
            return Err(modify(Condition::BadRequest, "the same group twice"));
        }
        groups.push(text);
    }
    Ok(RosterSet::Update { jid, name, groups })
}

fn modify(condition: Condition, text: &str) -> StanzaError {
    StanzaError::new(condition).with_type(ErrorType::Modify).with_text(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(items: &str) -> Element {
        Element::parse(&format!("<query xmlns='jabber:iq:roster'>{items}</query>")).unwrap()
    }

    fn set_error(items: &str) -> Condition {
        parse_set(&query(items), "me@h").unwrap_err().condition
    }

    #[test]
    fn records_round_trip() {
        let item = Item {
            jid: "a@h".into(),
            name: Some("A <&> 'quoted'".into()),
            groups: vec!["Friends".into(), "Work".into()],
            sub: Subscription { to: true, pending_in: true, ..Default::default() },
            listed: true,
            ver: 42,
        };
        assert_eq!(Item::decode(&item.encode()), Ok(item));
        let bare = Item::new("b@h");
        assert_eq!(Item::decode(&bare.encode()), Ok(bare.clone()));
        assert!(bare.is_forgettable());
    }

    #[test]
    fn corrupt_records_are_errors_not_panics() {
        for bad in [&b"\xff"[..], b"not xml", b"<other xmlns='urn:waxwing:roster:store'/>", b"<item/>"] {
            assert!(Item::decode(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let no_ver = b"<item xmlns='urn:waxwing:roster:store' jid='a@h'/>";
        assert!(Item::decode(no_ver).is_err());
        let bad_flag = b"<item xmlns='urn:waxwing:roster:store' jid='a@h' ver='1' state='maybe'/>";
        assert!(Item::decode(bad_flag).is_err());
    }

    #[test]
    fn wire_form_shows_subscription_ask_and_approval() {
        let mut item = Item::new("a@h");
        item.sub = Subscription { from: true, pending_out: true, ..Default::default() };
        item.groups = vec!["G".into()];
        assert_eq!(
            item.to_wire().to_xml(),
            "<item xmlns='jabber:iq:roster' jid='a@h' subscription='from' ask='subscribe'><group>G</group></item>"
        );
        item.sub = Subscription { approved: true, ..Default::default() };
        item.name = Some("A".into());
        item.groups.clear();
        assert_eq!(
            item.to_wire().to_xml(),
            "<item xmlns='jabber:iq:roster' jid='a@h' subscription='none' name='A' approved='true'/>"
        );
        assert_eq!(removal_wire("a@h").attr("subscription"), Some("remove"));
    }

    #[test]
    fn roster_sets_are_read() {
        let set = parse_set(
            &query("<item jid='Nurse@Example.com' name='Nurse' subscription='both'><group>Servants</group></item>"),
            "me@h",
        );
        assert_eq!(
            set,
            Ok(RosterSet::Update {
                jid: "nurse@example.com".into(),
                name: Some("Nurse".into()),
                groups: vec!["Servants".into()]
            })
        );
        assert_eq!(
            parse_set(&query("<item jid='a@h' subscription='remove'/>"), "me@h"),
            Ok(RosterSet::Remove { jid: "a@h".into() })
        );
        assert_eq!(
            parse_set(&query("<item jid='a@h' name=''/>"), "me@h"),
            Ok(RosterSet::Update { jid: "a@h".into(), name: None, groups: vec![] })
        );
    }

    #[test]
    fn bad_roster_sets_get_the_rfc_errors() {
        assert_eq!(set_error(""), Condition::BadRequest);
        assert_eq!(set_error("<item jid='a@h'/><item jid='b@h'/>"), Condition::BadRequest);
        assert_eq!(set_error("<item name='x'/>"), Condition::BadRequest);
        assert_eq!(set_error("<item jid='a@b@c'/>"), Condition::JidMalformed);
        assert_eq!(set_error("<item jid='a b@h'/>"), Condition::JidMalformed);
        assert_eq!(set_error("<item jid='a@h/r'/>"), Condition::NotAcceptable);
        assert_eq!(set_error("<item jid='a@h'><group>G</group><group>G</group></item>"), Condition::BadRequest);
        assert_eq!(set_error("<item jid='a@h'><group></group></item>"), Condition::NotAcceptable);
        assert_eq!(set_error(&format!("<item jid='a@h' name='{}'/>", "n".repeat(1024))), Condition::NotAcceptable);
        assert_eq!(set_error("<item jid='me@h'/>"), Condition::NotAllowed);
    }
}
