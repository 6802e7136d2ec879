//! Private XML in `kv`: one entry per account and element, keyed by the
//! element's name and namespace (XEP-0049 §2).

use waxwing_sdk::kv::{self, Op};
use waxwing_sdk::prelude::*;

fn account_prefix(bare_jid: &str) -> String {
    // A bare JID holds no '/', so one account's prefix never covers another's.
    format!("p/{bare_jid}/")
}

/// `<` cannot appear in an element name, so name and namespace stay apart.
pub fn key(bare_jid: &str, name: &str, ns: &str) -> String {
    format!("{}{name}<{ns}", account_prefix(bare_jid))
}

pub fn load(key: &str) -> Result<Option<Element>, StanzaError> {
    let Some(bytes) = kv::get(key)? else { return Ok(None) };
    // Only `save` writes here, from a parsed element: bytes that do not read
    // back are damaged storage.
    let xml = String::from_utf8(bytes).map_err(|_| Condition::InternalServerError)?;
    Element::parse(&xml).map(Some).map_err(|_| Condition::InternalServerError.into())
}

pub fn save(key: &str, serialized: &str) -> Result<(), HostError> {
    kv::put(key, serialized)
}

pub fn remove(key: &str) -> Result<(), HostError> {
    kv::delete(key)
}

/// Every element the account stored, in key order; unreadable ones skipped.
pub fn all(bare_jid: &str) -> Result<Vec<Element>, HostError> {
    let mut out = Vec::new();
    for entry in kv::scan_iter(account_prefix(bare_jid)) {
        let (_, value) = entry?;
        if let Some(el) = String::from_utf8(value).ok().and_then(|x| Element::parse(&x).ok()) {
            out.push(el);
        }
    }
    Ok(out)
}

/// Every element of the account, deleted with one batch: the scan keeps
/// only the keys, a page of values at a time.
pub fn delete_account(bare_jid: &str) -> Result<(), HostError> {
    let ops = kv::scan_iter(account_prefix(bare_jid))
        .map(|e| e.map(|(k, _)| Op::Delete(k)))
        .collect::<Result<Vec<_>, _>>()?;
    kv::batch(&ops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use waxwing_sdk::testing::FakeHost;

    #[test]
    fn keys_separate_accounts_names_and_namespaces() {
        assert_eq!(key("a@h", "storage", "storage:bookmarks"), "p/a@h/storage<storage:bookmarks");
        assert!(!key("ab@h", "x", "y").starts_with(&account_prefix("a@h")));
        assert_ne!(key("a@h", "x", "y:z"), key("a@h", "x:y", "z"));
    }

    #[test]
    fn deleting_an_account_leaves_others_alone() {
        for (owner, ns) in [("a@h", "urn:a"), ("a@h", "urn:b"), ("ab@h", "urn:a")] {
            save(&key(owner, "x", ns), "<x/>").unwrap();
        }
        delete_account("a@h").unwrap();
        let left: Vec<Vec<u8>> = FakeHost::kv_entries().into_iter().map(|(k, _)| k).collect();
        assert_eq!(left, [key("ab@h", "x", "urn:a").into_bytes()]);
        assert_eq!(load(&key("ab@h", "x", "urn:a")).unwrap(), Some(Element::new("x", "")));
    }
}
