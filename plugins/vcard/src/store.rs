//! vCards in `kv`, one per account, as the serialized `<vCard/>` element.

use waxwing_sdk::kv;
use waxwing_sdk::prelude::*;

pub const NS: &str = "vcard-temp";

fn key(bare_jid: &str) -> String {
    format!("vcard/{bare_jid}")
}

pub fn load(bare_jid: &str) -> Result<Option<Element>, StanzaError> {
    let Some(bytes) = kv::get(key(bare_jid))? else { return Ok(None) };
    // Only `save` writes here, from a parsed element; unreadable bytes mean
    // damaged storage, not a missing vCard.
    let xml = String::from_utf8(bytes).map_err(|_| Condition::InternalServerError)?;
    Element::parse(&xml).map(Some).map_err(|_| Condition::InternalServerError.into())
}

pub fn save(bare_jid: &str, serialized: &str) -> Result<(), HostError> {
    kv::put(key(bare_jid), serialized)
}

pub fn delete(bare_jid: &str) -> Result<(), HostError> {
    kv::delete(key(bare_jid))
}
