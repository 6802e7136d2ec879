//! Blocklist item JIDs: what a client may put in `<item jid='...'/>`, the one
//! spelling an item is stored under, and which items a stanza's address
//! matches.
//!
//! The kernel stamps and prepares the addresses of every stanza, so an item
//! must be stored the way the kernel writes JIDs or it would never match:
//! node and domain case-folded, a domain's trailing dot dropped, the resource
//! kept as is (RFC 7622 §3). The SDK splits JIDs without PRECIS, so the
//! folding here is Unicode lowercasing, which agrees with the kernel's
//! preparation for the addresses people actually use.

use waxwing_sdk::jid::Jid;

/// Characters RFC 7622 §3.3.1 forbids in a localpart, besides spaces and
/// controls.
const FORBIDDEN_IN_NODE: &[char] = &['"', '&', '\'', '/', ':', '<', '>', '@'];

/// The stored spelling of an item, or `None` when `raw` is not a JID.
pub fn normalize(raw: &str) -> Option<String> {
    let jid = Jid::parse(raw)?;
    let domain = jid.domain.strip_suffix('.').unwrap_or(&jid.domain).to_lowercase();
    if !domain_is_valid(&domain) {
        return None;
    }
    let node = match &jid.node {
        Some(n) if node_is_valid(n) => Some(n.to_lowercase()),
        Some(_) => return None,
        None => None,
    };
    if jid.resource.as_deref().is_some_and(|r| r.chars().any(char::is_control)) {
        return None;
    }
    let normalized = Jid { node, domain, resource: jid.resource };
    // Lowercasing can lengthen a part; the result must still be a JID.
    let text = normalized.to_string();
    Jid::parse(&text).map(|_| text)
}

fn node_is_valid(node: &str) -> bool {
    !node.chars().any(|c| c.is_whitespace() || c.is_control() || FORBIDDEN_IN_NODE.contains(&c))
}

/// A DNS name or an IP literal: non-empty labels, nothing that could not
/// appear in a hostname written by a person.
fn domain_is_valid(domain: &str) -> bool {
    if domain.starts_with('[') {
        return domain.ends_with(']') && domain.len() > 2;
    }
    !domain.is_empty()
        && domain.split('.').all(|label| !label.is_empty())
        && !domain.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '@' | '/' | '"' | '&' | '\'' | '<' | '>' | '[' | ']')
        })
}

/// The items that block an entity addressed as `jid`, in XEP-0016 §2.1's
/// matching order: the exact address, its bare JID, its domain. A
/// `domain/resource` item is an exact address of a node-less entity, so it
/// is covered by the first; duplicates (a bare or domain `jid`) are left out.
pub fn match_keys(jid: &str) -> Vec<&str> {
    let mut keys = vec![jid];
    for key in [waxwing_sdk::jid::bare(jid), waxwing_sdk::jid::domain(jid)] {
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_kind_of_item() {
        assert_eq!(normalize("romeo@montague.net").as_deref(), Some("romeo@montague.net"));
        assert_eq!(normalize("romeo@montague.net/orchard").as_deref(), Some("romeo@montague.net/orchard"));
        assert_eq!(normalize("montague.net").as_deref(), Some("montague.net"));
        assert_eq!(normalize("montague.net/bot").as_deref(), Some("montague.net/bot"));
        assert_eq!(normalize("[::1]").as_deref(), Some("[::1]"));
    }

    #[test]
    fn folds_case_except_in_the_resource() {
        assert_eq!(normalize("Romeo@Montague.NET/Orchard").as_deref(), Some("romeo@montague.net/Orchard"));
        assert_eq!(normalize("montague.net.").as_deref(), Some("montague.net"));
    }

    #[test]
    fn refuses_what_is_not_a_jid() {
        for bad in [
            "",
            "@montague.net",
            "romeo@",
            "romeo@montague.net/",
            "/orchard",
            "a@b@c",
            "ro meo@montague.net",
            "romeo:x@montague.net",
            "romeo@mon tague.net",
            "romeo@montague..net",
            ".",
            "romeo@montague.net/or\u{7}chard",
            " romeo@montague.net",
            "romeo@montague.net\n",
            "romeo@<x>",
            "[",
        ] {
            assert_eq!(normalize(bad), None, "{bad:?}");
        }
        assert_eq!(normalize(&format!("{}@montague.net", "x".repeat(1024))), None);
    }

    #[test]
    fn a_full_jid_is_matched_by_itself_its_bare_jid_and_its_domain() {
        assert_eq!(
            match_keys("juliet@capulet.com/balcony"),
            vec!["juliet@capulet.com/balcony", "juliet@capulet.com", "capulet.com"]
        );
        assert_eq!(match_keys("juliet@capulet.com"), vec!["juliet@capulet.com", "capulet.com"]);
        assert_eq!(match_keys("capulet.com/bot"), vec!["capulet.com/bot", "capulet.com"]);
        assert_eq!(match_keys("capulet.com"), vec!["capulet.com"]);
    }
}
