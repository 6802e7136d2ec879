//! The iq handlers, as Prosody's mod_vcard answers them: anyone may read an
//! account's vCard (item-not-found when it has none), only the account
//! itself (or the server, importing a XEP-0227 file) may write it.

use waxwing_sdk::jid;
use waxwing_sdk::prelude::*;

use crate::store;

pub fn get(iq: &Iq) -> Handled {
    match store::load(jid::bare(iq.to()))? {
        Some(vcard) => iq.reply_with(vcard),
        None => Err(Condition::ItemNotFound.into()),
    }
}

pub fn set(iq: &Iq, max_bytes: usize) -> Handled {
    let owner = jid::bare(iq.to());
    // The server itself imports vCards (XEP-0227) from its own domain.
    if iq.from() != waxwing_sdk::domain() {
        check_owner(iq.from(), owner)?;
    }
    let serialized = serialize_within(iq.payload()?, max_bytes)?;
    store::save(owner, &serialized)?;
    crate::presence_hash::remember(owner, iq.payload()?)?;
    if let Err(e) = crate::avatar::stored(iq, owner, iq.payload()?) {
        // The vCard is stored; only its copy to PEP failed.
        waxwing_sdk::log::warn(&format!("{owner}: vCard avatar not published to PEP: {e:?}"));
    }
    iq.reply_empty()
}

/// A vCard is written only by its own account.
pub fn check_owner(from: &str, owner: &str) -> Result<(), StanzaError> {
    if jid::bare(from) == owner { Ok(()) } else { Err(Condition::Forbidden.into()) }
}

/// The vCard as it will be stored, refused when larger than allowed.
pub fn serialize_within(vcard: &Element, max_bytes: usize) -> Result<String, StanzaError> {
    let serialized = vcard.to_xml();
    if serialized.len() > max_bytes {
        return Err(StanzaError::new(Condition::NotAcceptable)
            .with_type(ErrorType::Modify)
            .with_text(format!("a vCard may be at most {max_bytes} bytes")));
    }
    Ok(serialized)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_owner_writes() {
        assert!(check_owner("a@h/r", "a@h").is_ok());
        assert!(check_owner("a@h", "a@h").is_ok());
        assert_eq!(check_owner("b@h/r", "a@h").unwrap_err().condition, Condition::Forbidden);
    }

    #[test]
    fn oversized_vcards_are_not_acceptable() {
        let vcard =
            Element::new("vCard", store::NS).with_child(Element::new("FN", store::NS).with_text("x".repeat(100)));
        let stored = serialize_within(&vcard, 1000).unwrap();
        assert_eq!(Element::parse(&stored).unwrap(), vcard, "stored as it was sent");
        let err = serialize_within(&vcard, 50).unwrap_err();
        assert_eq!((err.condition, err.error_type), (Condition::NotAcceptable, ErrorType::Modify));
    }
}
