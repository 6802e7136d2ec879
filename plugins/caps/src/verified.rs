//! Verified disco#info answers, in `kv` by `ver`: a `ver` names the same
//! features for every client that advertises it, so one verified answer
//! serves them all, across restarts.

use waxwing_sdk::prelude::*;
use waxwing_sdk::{caps, kv};

/// A client's answer larger than this is not kept: no honest feature list
/// comes near it.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

pub fn key(ver: &str) -> String {
    format!("ver/{ver}")
}

/// The verified disco#info `<query/>` of `ver`, if one was kept. This module
/// parsed what it stored; should it not read back, the `ver` is unverified.
pub fn load(ver: &str) -> Result<Option<Element>, HostError> {
    Ok(kv::get(key(ver))?.and_then(|b| String::from_utf8(b).ok()).and_then(|x| Element::parse(&x).ok()))
}

/// Why an answer is not stored.
#[derive(Debug, PartialEq, Eq)]
pub enum Rejected {
    NoQuery,
    IllFormed(caps::CapsError),
    Mismatch { computed: String },
    TooLarge(usize),
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejected::NoQuery => f.write_str("no disco#info query in the answer"),
            Rejected::IllFormed(e) => write!(f, "ill-formed: {e}"),
            Rejected::Mismatch { computed } => write!(f, "it hashes to {computed}"),
            Rejected::TooLarge(n) => write!(f, "{n} bytes is too large"),
        }
    }
}

/// The disco#info of an iq result, as it will be stored, if it hashes to
/// `ver`. The node attribute is dropped: the `ver` is the key.
pub fn check_answer(result: &Element, ver: &str) -> Result<Element, Rejected> {
    let query = result.child("query", ns::DISCO_INFO).ok_or(Rejected::NoQuery)?;
    let computed = caps::info_ver(query).map_err(Rejected::IllFormed)?;
    if computed != ver {
        return Err(Rejected::Mismatch { computed });
    }
    let mut stored = query.clone();
    stored.remove_attr("node");
    let size = stored.to_xml().len();
    if size > MAX_ANSWER_BYTES {
        return Err(Rejected::TooLarge(size));
    }
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(query: &str) -> Element {
        Element::parse(&format!("<iq xmlns='jabber:client' type='result' id='caps-1'>{query}</iq>")).unwrap()
    }

    const EXODUS: &str = "<query xmlns='http://jabber.org/protocol/disco#info' node='http://code.google.com/p/exodus#QgayPKawpkPSDYmwT/WM94uAlu0='>\
        <identity category='client' name='Exodus 0.9.1' type='pc'/>\
        <feature var='http://jabber.org/protocol/caps'/>\
        <feature var='http://jabber.org/protocol/disco#info'/>\
        <feature var='http://jabber.org/protocol/disco#items'/>\
        <feature var='http://jabber.org/protocol/muc'/></query>";

    #[test]
    fn a_matching_answer_is_kept_without_its_node() {
        let stored = check_answer(&result(EXODUS), "QgayPKawpkPSDYmwT/WM94uAlu0=").unwrap();
        assert_eq!(stored.attr("node"), None);
        assert_eq!(stored.elements().filter(|e| e.name == "feature").count(), 4);
    }

    #[test]
    fn lies_and_junk_are_rejected() {
        assert!(matches!(check_answer(&result(EXODUS), "AAAA"), Err(Rejected::Mismatch { .. })));
        assert_eq!(check_answer(&result(""), "x"), Err(Rejected::NoQuery));
        let twice = "<query xmlns='http://jabber.org/protocol/disco#info'><feature var='a'/><feature var='a'/></query>";
        assert!(matches!(check_answer(&result(twice), "x"), Err(Rejected::IllFormed(_))));
    }

    #[test]
    fn huge_answers_are_rejected() {
        let mut q = String::from("<query xmlns='http://jabber.org/protocol/disco#info'>");
        for i in 0..3000 {
            q.push_str(&format!("<feature var='urn:example:feature:number:{i}'/>"));
        }
        q.push_str("</query>");
        let el = result(&q);
        let ver = caps::info_ver(el.first_element().unwrap()).unwrap();
        assert!(matches!(check_answer(&el, &ver), Err(Rejected::TooLarge(_))));
    }
}
