//! XEP-0049 get and set: an account reads and writes only its own storage,
//! one element per request, never in the reserved `jabber:*` namespaces.

use waxwing_sdk::jid;
use waxwing_sdk::prelude::*;

use crate::store;

pub const NS: &str = "jabber:iq:private";

pub fn handle(iq: &Iq, max_bytes: usize) -> Handled {
    let owner = jid::bare(iq.to());
    if iq.from() == waxwing_sdk::domain() {
        return migrate(iq, owner, max_bytes);
    }
    if jid::bare(iq.from()) != owner {
        return Err(Condition::Forbidden.into());
    }
    let element = the_element(iq.payload()?)?;
    let key = store::key(owner, &element.name, &element.ns);
    if iq.is_get() {
        let stored = store::load(&key)?;
        // Nothing stored: the request's own (empty) element comes back.
        let found = stored.unwrap_or_else(|| Element::new(element.name.clone(), element.ns.clone()));
        return iq.reply_with(Element::new("query", NS).with_child(found));
    }
    if is_empty(element) {
        store::remove(&key)?;
    } else {
        store::save(&key, &serialize_within(element, max_bytes)?)?;
    }
    iq.reply_empty()
}

/// XEP-0227, from the server itself: a get with an empty query answers
/// every stored element; a set stores each element it carries.
fn migrate(iq: &Iq, owner: &str, max_bytes: usize) -> Handled {
    let query = iq.payload()?;
    if iq.is_get() {
        let mut all = Element::new("query", NS);
        for element in store::all(owner)? {
            all.push_child(element);
        }
        return iq.reply_with(all);
    }
    let mut writes = Vec::new();
    for element in query.elements() {
        if element.ns.is_empty() || element.ns.starts_with("jabber:") {
            return Err(StanzaError::new(Condition::NotAcceptable)
                .with_type(ErrorType::Modify)
                .with_text(format!("<{} xmlns='{}'> is in a reserved namespace", element.name, element.ns)));
        }
        if !is_empty(element) {
            writes.push((store::key(owner, &element.name, &element.ns), serialize_within(element, max_bytes)?));
        }
    }
    for (key, xml) in writes {
        store::save(&key, &xml)?;
    }
    iq.reply_empty()
}

/// The single element a request is about.
pub fn the_element(query: &Element) -> Result<&Element, StanzaError> {
    let mut children = query.elements();
    let (Some(element), None) = (children.next(), children.next()) else {
        return Err(StanzaError::new(Condition::BadRequest).with_text("exactly one element per request"));
    };
    // XEP-0049 §3: jabber:* namespaces belong to protocols, not to storage.
    if element.ns.is_empty() || element.ns.starts_with("jabber:") {
        return Err(StanzaError::new(Condition::NotAcceptable)
            .with_type(ErrorType::Modify)
            .with_text("the element needs a namespace outside jabber:*"));
    }
    Ok(element)
}

/// An element with nothing in it stores nothing: a get answers it anyway.
fn is_empty(element: &Element) -> bool {
    element.children.is_empty() && element.attrs.iter().all(|(k, _)| k.starts_with("xmlns"))
}

pub fn serialize_within(element: &Element, max_bytes: usize) -> Result<String, StanzaError> {
    let serialized = element.to_xml();
    if serialized.len() > max_bytes {
        return Err(StanzaError::new(Condition::NotAcceptable)
            .with_type(ErrorType::Modify)
            .with_text(format!("a stored element may be at most {max_bytes} bytes")));
    }
    Ok(serialized)
}

#[cfg(test)]
mod tests {
    use super::*;
    use waxwing_sdk::testing::FakeHost;

    fn query(inner: &str) -> Element {
        Element::parse(&format!("<query xmlns='{NS}'>{inner}</query>")).unwrap()
    }

    fn iq(from: &str, to: &str, ty: &str, inner: &str) -> Iq {
        let xml = format!(
            "<iq xmlns='jabber:client' type='{ty}' id='1' from='{from}' to='{to}'><query xmlns='{NS}'>{inner}</query></iq>"
        );
        Iq(Stanza::from_xml(&xml, Address::Bare, "h").unwrap())
    }

    #[test]
    fn one_namespaced_element_per_request() {
        let ok = query("<storage xmlns='storage:bookmarks'/>");
        assert_eq!(the_element(&ok).unwrap().name, "storage");
        for bad in ["", "<a xmlns='urn:a'/><b xmlns='urn:b'/>"] {
            assert_eq!(the_element(&query(bad)).unwrap_err().condition, Condition::BadRequest, "{bad}");
        }
        for reserved in ["<query xmlns='jabber:iq:roster'/>", "<x xmlns='jabber:x:data'/>", "<bare xmlns=''/>"] {
            assert_eq!(the_element(&query(reserved)).unwrap_err().condition, Condition::NotAcceptable, "{reserved}");
        }
    }

    #[test]
    fn other_accounts_are_forbidden_before_storage() {
        let err = handle(&iq("b@h/r", "a@h", "get", "<s xmlns='urn:s'/>"), 100).unwrap_err();
        assert_eq!(err.condition, Condition::Forbidden);
        let err = handle(&iq("b@h/r", "a@h", "set", "<s xmlns='urn:s'>x</s>"), 100).unwrap_err();
        assert_eq!(err.condition, Condition::Forbidden);
    }

    #[test]
    fn bad_requests_are_refused_before_storage() {
        let err = handle(&iq("a@h/r", "a@h", "set", "<s xmlns='jabber:iq:roster'/>"), 100).unwrap_err();
        assert_eq!(err.condition, Condition::NotAcceptable);
    }

    #[test]
    fn size_and_emptiness() {
        let small = Element::new("s", "urn:s").with_text("x");
        assert!(serialize_within(&small, 100).is_ok());
        assert_eq!(serialize_within(&small, 10).unwrap_err().condition, Condition::NotAcceptable);
        assert!(is_empty(&Element::new("s", "urn:s")));
        assert!(!is_empty(&small));
        assert!(!is_empty(&Element::new("s", "urn:s").with_attr("a", "1")));
    }

    fn stored(reply: Handled) -> Element {
        let Ok(Outcome::Reply(r)) = reply else { panic!("expected a reply: {reply:?}") };
        r.child("query", NS).and_then(Element::first_element).cloned().expect("one element in the query")
    }

    #[test]
    fn set_get_and_clear_through_storage() {
        assert!(handle(&iq("a@h/r", "a@h", "set", "<s xmlns='urn:s'><x/></s>"), 100).is_ok());
        // Another resource reads it; the same name in another namespace is another element.
        assert!(stored(handle(&iq("a@h/o", "a@h", "get", "<s xmlns='urn:s'/>"), 100)).child("x", "urn:s").is_some());
        assert!(stored(handle(&iq("a@h/o", "a@h", "get", "<s xmlns='urn:t'/>"), 100)).children.is_empty());

        let big = format!("<s xmlns='urn:s'>{}</s>", "y".repeat(100));
        assert_eq!(handle(&iq("a@h/r", "a@h", "set", &big), 100).unwrap_err().condition, Condition::NotAcceptable);
        assert!(stored(handle(&iq("a@h/o", "a@h", "get", "<s xmlns='urn:s'/>"), 100)).child("x", "urn:s").is_some());

        assert!(handle(&iq("a@h/r", "a@h", "set", "<s xmlns='urn:s'/>"), 100).is_ok());
        assert!(FakeHost::kv_entries().is_empty(), "the empty element clears the entry");
    }
}
