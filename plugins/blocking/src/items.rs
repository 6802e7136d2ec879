//! Blocklist item JIDs: the one spelling an item is stored under, and which
//! items a stanza's address matches.
//!
//! The kernel stamps every stanza with prepared addresses, so an item is
//! stored prepared the same way (by the host, RFC 7622: node and domain
//! case-folded, a domain's trailing dot dropped, the resource as is), or it
//! would never match.

/// The stored spelling of an item, or `None` when `raw` is not a JID.
pub fn normalize(raw: &str) -> Option<String> {
    waxwing_sdk::jid::prep(raw).ok()
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
