//! The dataset `caps`, which other plugins (PEP) read with a grant: key a
//! session's full JID, value its verified features as UTF-8, one per line,
//! sorted as XEP-0115 hashes them. It holds the sessions whose advertised
//! caps are verified: written when they are (at once when the `ver` was
//! known), removed when the session ends or advertises other caps.

use waxwing_sdk::prelude::*;
use waxwing_sdk::{HostError, datasets, mem};

use crate::advertised::{self, Advertised};

pub const DATASET: &str = "caps";
pub const DOC: &str = "Verified XEP-0115 features of each client session: key its full JID, one feature per line";

/// The value of an entry: the `var`s of a disco#info `<query/>`.
pub fn features(info: &Element) -> String {
    let mut vars: Vec<&str> = info
        .elements()
        .filter(|e| e.is("feature", ns::DISCO_INFO))
        .filter_map(|e| e.attr("var"))
        // A line break would make one feature two; no real feature has one.
        .filter(|v| !v.contains(['\n', '\r']))
        .collect();
    vars.sort_unstable();
    vars.join("\n")
}

pub fn put(full_jid: &str, info: &Element) -> Result<(), HostError> {
    datasets::put(DATASET, full_jid, features(info))
}

pub fn withdraw(full_jid: &str) -> Result<(), HostError> {
    datasets::delete(DATASET, full_jid)
}

/// A `ver` just verified: published for those of `sessions` that still
/// advertise it (one may have ended or changed its caps while we asked).
pub fn put_where_current(sessions: &[String], ver: &str, info: &Element) -> Result<(), HostError> {
    let value = features(info);
    for full_jid in sessions {
        let current = mem::get(&advertised::session_key(full_jid))?.and_then(|b| Advertised::decode(&b));
        if current.is_some_and(|c| c.is_verifiable() && c.ver == ver) {
            datasets::put(DATASET, full_jid, &value)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_one_per_line_sorted() {
        let info = Element::parse(
            "<query xmlns='http://jabber.org/protocol/disco#info'><identity category='client' type='pc'/>\
             <feature var='urn:xmpp:receipts'/><feature var='http://jabber.org/protocol/caps'/>\
             <feature var='bad&#10;line'/></query>",
        )
        .unwrap();
        assert_eq!(features(&info), "http://jabber.org/protocol/caps\nurn:xmpp:receipts");
        assert_eq!(features(&Element::new("query", ns::DISCO_INFO)), "");
    }
}
