//! XEP-0398, the vCard side: a client's vCard with a PHOTO is published as
//! the account's XEP-0084 avatar, data first, then metadata, by iq requests
//! to the account's PEP service, the way a client would publish it. A
//! vCard the pep plugin wrote (from the bare JID: no client's stanza comes
//! from one) is its copy of a PEP avatar and is not sent back.

use base64::Engine as _;
use sha1::{Digest, Sha1};
use waxwing_sdk::prelude::*;
use waxwing_sdk::{IqOutcome, jid, kv, log, mem, new_iq, route};

const NS_PUBSUB: &str = "http://jabber.org/protocol/pubsub";
const NS_DATA: &str = "urn:xmpp:avatar:data";
const NS_METADATA: &str = "urn:xmpp:avatar:metadata";
const DATA: &str = "avatar-data ";
const METADATA: &str = "avatar-metadata ";
const TIMEOUT_MS: u32 = 10_000;

/// The avatar the PEP service last got from this plugin: no republishing
/// of an unchanged PHOTO every time a client edits its vCard.
fn published_key(owner: &str) -> String {
    format!("avatar-published/{owner}")
}

fn pending_key(owner: &str) -> String {
    format!("avatar/{owner}")
}

/// The PHOTO's image: (id, type, bytes, base64), if it has an inline one.
pub fn photo(vcard: &Element) -> Option<(String, String, usize, String)> {
    let photo = vcard.child("PHOTO", "vcard-temp")?;
    let data: String = photo.child("BINVAL", "vcard-temp")?.text().split_whitespace().collect();
    let bytes = base64::engine::general_purpose::STANDARD.decode(&data).ok()?;
    if bytes.is_empty() {
        return None;
    }
    let id = Sha1::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    let kind = photo.child("TYPE", "vcard-temp").map(Element::text).filter(|t| !t.is_empty());
    Some((id, kind.unwrap_or_else(|| "image/png".into()), bytes.len(), data))
}

/// After a vCard was stored: publish its PHOTO, if a client set a new one.
pub fn stored(iq: &Iq, owner: &str, vcard: &Element) -> Result<(), StanzaError> {
    if jid::resource(iq.from()).is_none() {
        return Ok(());
    }
    let Some((id, kind, bytes, data)) = photo(vcard) else { return Ok(()) };
    if kv::get(published_key(owner))?.as_deref() == Some(id.as_bytes()) {
        return Ok(());
    }
    mem::put(&pending_key(owner), format!("{id}\n{kind}\n{bytes}"))?;
    let item = Element::new("item", NS_PUBSUB)
        .with_attr("id", id.as_str())
        .with_child(Element::new("data", NS_DATA).with_text(data));
    route::request(&publish(owner, NS_DATA, item), TIMEOUT_MS, &format!("{DATA}{owner}"))?;
    Ok(())
}

fn publish(owner: &str, node: &str, item: Element) -> Element {
    new_iq(StanzaType::Set, "").with_attr("from", owner).with_attr("to", owner).with_child(
        Element::new("pubsub", NS_PUBSUB)
            .with_child(Element::new("publish", NS_PUBSUB).with_attr("node", node).with_child(item)),
    )
}

/// The PEP service answered: after the data, the metadata; after that, done.
pub fn answered(context: &str, outcome: &IqOutcome) -> Result<(), StanzaError> {
    if let Some(owner) = context.strip_prefix(METADATA) {
        let pending = mem::get(&pending_key(owner))?;
        mem::delete(&pending_key(owner))?;
        match (outcome, pending) {
            (IqOutcome::Result(_), Some(p)) => {
                let id = String::from_utf8_lossy(&p).lines().next().unwrap_or_default().to_string();
                kv::put(published_key(owner), id)?;
            }
            _ => log::warn(&format!("{owner}: publishing the vCard avatar's metadata failed: {outcome:?}")),
        }
        return Ok(());
    }
    let Some(owner) = context.strip_prefix(DATA) else { return Ok(()) };
    if !matches!(outcome, IqOutcome::Result(_)) {
        log::warn(&format!("{owner}: publishing the vCard avatar's data failed: {outcome:?}"));
        return mem::delete(&pending_key(owner)).map_err(Into::into);
    }
    let Some(pending) = mem::get(&pending_key(owner))? else { return Ok(()) };
    let pending = String::from_utf8_lossy(&pending).into_owned();
    let mut parts = pending.lines();
    let (id, kind, bytes) =
        (parts.next().unwrap_or_default(), parts.next().unwrap_or_default(), parts.next().unwrap_or("0"));
    let info = Element::new("info", NS_METADATA).with_attr("id", id).with_attr("type", kind).with_attr("bytes", bytes);
    let item = Element::new("item", NS_PUBSUB)
        .with_attr("id", id)
        .with_child(Element::new("metadata", NS_METADATA).with_child(info));
    route::request(&publish(owner, NS_METADATA, item), TIMEOUT_MS, &format!("{METADATA}{owner}"))?;
    Ok(())
}

/// A deleted account's record of what it published.
pub fn forget(owner: &str) -> Result<(), HostError> {
    kv::delete(published_key(owner))
}

#[cfg(test)]
mod tests {
    use super::*;
    use waxwing_sdk::testing::FakeHost;

    fn set_from(from: &str, vcard: &str) -> (Iq, Element) {
        let xml = format!("<iq xmlns='jabber:client' type='set' id='v' from='{from}' to='a@example.org'>{vcard}</iq>");
        let iq = Iq(Stanza::from_xml(&xml, Address::Bare, "example.org").unwrap());
        let el = iq.payload().unwrap().clone();
        (iq, el)
    }

    const VCARD: &str =
        "<vCard xmlns='vcard-temp'><PHOTO><TYPE>image/gif</TYPE><BINVAL>aGVs\n bG8=</BINVAL></PHOTO></vCard>";
    /// SHA-1 of "hello".
    const ID: &str = "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d";

    #[test]
    fn a_client_photo_is_published_data_then_metadata_once() {
        FakeHost::reset();
        let (iq, vcard) = set_from("a@example.org/pc", VCARD);
        stored(&iq, "a@example.org", &vcard).unwrap();
        let data = FakeHost::take_requests();
        let item = data[0]
            .iq
            .child("pubsub", NS_PUBSUB)
            .and_then(|p| p.child("publish", NS_PUBSUB))
            .and_then(|p| p.child("item", NS_PUBSUB))
            .unwrap();
        assert_eq!(item.attr("id"), Some(ID));
        assert_eq!(item.child("data", NS_DATA).map(Element::text).as_deref(), Some("aGVsbG8="));
        answered(&data[0].context, &IqOutcome::Result(String::new())).unwrap();
        let meta = FakeHost::take_requests();
        let publish = meta[0].iq.child("pubsub", NS_PUBSUB).and_then(|p| p.child("publish", NS_PUBSUB)).unwrap();
        assert_eq!(publish.attr("node"), Some(NS_METADATA));
        let info = publish
            .child("item", NS_PUBSUB)
            .and_then(|i| i.child("metadata", NS_METADATA))
            .and_then(|m| m.child("info", NS_METADATA))
            .unwrap();
        assert_eq!((info.attr("id"), info.attr("type"), info.attr("bytes")), (Some(ID), Some("image/gif"), Some("5")));
        answered(&meta[0].context, &IqOutcome::Result(String::new())).unwrap();
        // The same photo again: already there.
        stored(&iq, "a@example.org", &vcard).unwrap();
        assert!(FakeHost::requests().is_empty());
    }

    #[test]
    fn the_pep_copy_and_photoless_or_broken_vcards_publish_nothing() {
        FakeHost::reset();
        let (iq, vcard) = set_from("a@example.org", VCARD);
        stored(&iq, "a@example.org", &vcard).unwrap();
        for bad in [
            "<vCard xmlns='vcard-temp'/>",
            "<vCard xmlns='vcard-temp'><PHOTO><BINVAL>@@not base64</BINVAL></PHOTO></vCard>",
        ] {
            let (iq, vcard) = set_from("a@example.org/pc", bad);
            stored(&iq, "a@example.org", &vcard).unwrap();
        }
        assert!(FakeHost::requests().is_empty());
    }
}
