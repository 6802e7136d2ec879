//! XEP-0398: an avatar published here (XEP-0084) becomes the account's
//! vcard-temp PHOTO. The vCard is asked of and written to the account
//! itself with iq requests, the way a client would, so the vcard plugin
//! stays the only keeper of vCards; the vcard plugin publishes a vCard
//! PHOTO here the same way. Neither converts what the other wrote: those
//! requests come from the bare JID, which no client's stanza ever does.

use pubsub_engine::{Service, items};
use waxwing_sdk::prelude::*;
use waxwing_sdk::{IqOutcome, jid, log, mem, new_iq, parse_client_xml, route};

pub const NS_DATA: &str = "urn:xmpp:avatar:data";
pub const NS_METADATA: &str = "urn:xmpp:avatar:metadata";
const NS_VCARD: &str = "vcard-temp";
const GET: &str = "vcard-get ";
const SET: &str = "vcard-set ";
const TIMEOUT_MS: u32 = 10_000;

fn pending_key(account: &str) -> String {
    format!("avatar/{account}")
}

/// After a publish went through: a client's new avatar metadata starts
/// the copy into the vCard.
pub fn published(service: &Service, iq: &Iq) -> Result<(), StanzaError> {
    if jid::resource(iq.from()).is_none() || jid::bare(iq.from()) != service.jid {
        return Ok(());
    }
    let Some(publish) = iq.payload()?.child("publish", pubsub_engine::NS) else { return Ok(()) };
    if publish.attr("node") != Some(NS_METADATA) {
        return Ok(());
    }
    let metadata = publish.child("item", pubsub_engine::NS).and_then(|i| i.child("metadata", NS_METADATA));
    let Some(metadata) = metadata else { return Ok(()) };
    // The image stored here, not one only linked to (§2).
    let info = metadata.elements().find(|e| e.is("info", NS_METADATA) && e.attr("url").is_none());
    let photo = match info {
        None => String::new(),
        Some(info) => {
            let id = info.attr("id").unwrap_or_default();
            let Some(item) = items::get(service, NS_DATA, id)? else {
                log::info(&format!("{}: avatar {id} has no data item; vCard left as is", service.jid));
                return Ok(());
            };
            let data = Element::parse(&item.payload).map(|d| d.text()).unwrap_or_default();
            format!("{}\n{}", info.attr("type").unwrap_or("image/png"), data.split_whitespace().collect::<String>())
        }
    };
    mem::put(&pending_key(&service.jid), photo)?;
    let get = new_iq(StanzaType::Get, "")
        .with_attr("from", service.jid.as_str())
        .with_attr("to", service.jid.as_str())
        .with_child(Element::new("vCard", NS_VCARD));
    route::request(&get, TIMEOUT_MS, &format!("{GET}{}", service.jid))?;
    Ok(())
}

/// The answer to one of this module's requests; false when `context` is
/// not one of them.
pub fn answered(context: &str, outcome: &IqOutcome) -> Result<bool, StanzaError> {
    if let Some(account) = context.strip_prefix(SET) {
        if !matches!(outcome, IqOutcome::Result(_)) {
            log::warn(&format!("{account}: writing the avatar into the vCard failed: {outcome:?}"));
        }
        return Ok(true);
    }
    let Some(account) = context.strip_prefix(GET) else { return Ok(false) };
    let Some(pending) = mem::get(&pending_key(account))? else { return Ok(true) };
    mem::delete(&pending_key(account))?;
    let current = match outcome {
        IqOutcome::Result(xml) => {
            parse_client_xml(xml)?.child("vCard", NS_VCARD).cloned().unwrap_or_else(|| Element::new("vCard", NS_VCARD))
        }
        // No vCard yet: this one is the first.
        IqOutcome::Error(_) => Element::new("vCard", NS_VCARD),
        IqOutcome::Timeout => {
            log::warn(&format!("{account}: the vCard did not answer; avatar not copied"));
            return Ok(true);
        }
    };
    let pending = String::from_utf8_lossy(&pending).into_owned();
    let photo = pending.split_once('\n');
    if photo_of(&current) == photo.map(|(t, d)| (t.to_string(), d.to_string())) {
        return Ok(true);
    }
    let set = new_iq(StanzaType::Set, "")
        .with_attr("from", account)
        .with_attr("to", account)
        .with_child(with_photo(&current, photo));
    route::request(&set, TIMEOUT_MS, &format!("{SET}{account}"))?;
    Ok(true)
}

/// The vCard's PHOTO as (type, base64 without whitespace).
fn photo_of(vcard: &Element) -> Option<(String, String)> {
    let photo = vcard.child("PHOTO", NS_VCARD)?;
    let data: String = photo.child("BINVAL", NS_VCARD)?.text().split_whitespace().collect();
    let kind = photo.child("TYPE", NS_VCARD).map(Element::text).unwrap_or_default();
    Some((kind, data))
}

/// `vcard` with its PHOTO replaced by `photo` (type, base64), or removed.
fn with_photo(vcard: &Element, photo: Option<(&str, &str)>) -> Element {
    let mut out = Element::new("vCard", NS_VCARD);
    for (name, value) in vcard.attrs.iter() {
        out.set_attr(name.clone(), value.clone());
    }
    for child in vcard.elements().filter(|e| !e.is("PHOTO", NS_VCARD)) {
        out.push_child(child.clone());
    }
    if let Some((kind, data)) = photo {
        out.push_child(
            Element::new("PHOTO", NS_VCARD)
                .with_child(Element::new("TYPE", NS_VCARD).with_text(kind))
                .with_child(Element::new("BINVAL", NS_VCARD).with_text(data)),
        );
    }
    out
}
