//! XEP-0398 §2.3: the avatar's hash in every available presence an account
//! sends (`vcard-temp:x:update`, XEP-0153), so contacts and rooms learn of
//! it without fetching the vCard. A filter, scoped to the accounts whose
//! vCard has a PHOTO: everyone else's presence never enters wasm. It sees
//! directed presence (a room join) and the roster plugin's broadcast to
//! contacts, both sent on the account's behalf.

use waxwing_sdk::prelude::*;
use waxwing_sdk::{Node, filter_scope, jid, kv};

pub const NS_UPDATE: &str = "vcard-temp:x:update";

fn hash_key(owner: &str) -> String {
    format!("photo-hash/{owner}")
}

/// After a vCard was stored: remember its PHOTO's hash, or that it has none.
pub fn remember(owner: &str, vcard: &Element) -> Result<(), HostError> {
    match crate::avatar::photo(vcard) {
        Some((id, ..)) => {
            kv::put(hash_key(owner), id)?;
            filter_scope::watch(owner, true)
        }
        None => forget(owner),
    }
}

pub fn forget(owner: &str) -> Result<(), HostError> {
    // Most vCards have no PHOTO and never had: nothing to undo for them.
    if kv::get(hash_key(owner))?.is_none() {
        return Ok(());
    }
    kv::delete(hash_key(owner))?;
    filter_scope::watch(owner, false)
}

/// The presence with the sender's avatar hash, when it should carry one
/// it lacks; `None` leaves it as sent.
pub fn stamp(presence: &Stanza) -> Result<Option<Element>, StanzaError> {
    let owner = jid::bare(presence.from());
    let Some(hash) = kv::get(hash_key(owner))? else { return Ok(None) };
    let hash = String::from_utf8_lossy(&hash).into_owned();
    let el = presence.element()?;
    if let Some(x) = el.child("x", NS_UPDATE)
        && x.child("photo", NS_UPDATE).is_some()
    {
        // An empty <photo/> says "no avatar here"; a hash of the client's
        // own is its to choose (§2.3: MAY be overwritten, left as is).
        return Ok(None);
    }
    let mut out = el.clone();
    out.children.retain(|c| !matches!(c, Node::Element(e) if e.is("x", NS_UPDATE)));
    out.push_child(Element::new("x", NS_UPDATE).with_child(Element::new("photo", NS_UPDATE).with_text(hash)));
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use waxwing_sdk::testing::FakeHost;

    fn presence(inner: &str) -> Stanza {
        let xml =
            format!("<presence xmlns='jabber:client' from='a@example.org/pc' to='b@example.org'>{inner}</presence>");
        Stanza::from_xml(&xml, Address::Bare, "example.org").unwrap()
    }

    fn photo_of(el: &Element) -> Option<String> {
        el.child("x", NS_UPDATE)?.child("photo", NS_UPDATE).map(Element::text)
    }

    #[test]
    fn presence_gets_the_hash_unless_it_says_otherwise() {
        FakeHost::reset();
        assert_eq!(stamp(&presence("")).unwrap(), None, "no avatar, nothing to add");
        let vcard =
            Element::parse("<vCard xmlns='vcard-temp'><PHOTO><BINVAL>aGVsbG8=</BINVAL></PHOTO></vCard>").unwrap();
        remember("a@example.org", &vcard).unwrap();
        assert_eq!(FakeHost::watched(), ["a@example.org"]);
        let hash = "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d";
        let stamped = stamp(&presence("<status>hi</status>")).unwrap().unwrap();
        assert_eq!(photo_of(&stamped).as_deref(), Some(hash));
        assert!(stamped.child("status", ns::CLIENT).is_some());
        let empty_x = stamp(&presence("<x xmlns='vcard-temp:x:update'/>")).unwrap().unwrap();
        assert_eq!(photo_of(&empty_x).as_deref(), Some(hash));
        assert_eq!(empty_x.elements().filter(|e| e.is("x", NS_UPDATE)).count(), 1);
        assert_eq!(stamp(&presence("<x xmlns='vcard-temp:x:update'><photo/></x>")).unwrap(), None);
        assert_eq!(stamp(&presence("<x xmlns='vcard-temp:x:update'><photo>abc</photo></x>")).unwrap(), None);
        remember("a@example.org", &Element::new("vCard", "vcard-temp")).unwrap();
        assert!(FakeHost::watched().is_empty());
        assert_eq!(stamp(&presence("")).unwrap(), None);
    }
}
