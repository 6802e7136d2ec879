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
