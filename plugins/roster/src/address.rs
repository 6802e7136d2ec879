//! JIDs a client names (roster items) checked and normalised. The kernel
//! prepares the JIDs it stamps; a JID inside a payload reaches the plugin as
//! typed, so it gets the checks of RFC 7622 that matter for a roster key.

/// Why a JID was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invalid {
    Malformed,
    /// A full JID where a bare one belongs.
    HasResource,
}

/// RFC 7622 §3.3.1: characters a localpart may not contain.
const LOCALPART_FORBIDDEN: &[char] = &['"', '&', '\'', '/', ':', '<', '>', '@'];
const MAX_PART: usize = 1023;

/// `raw` as a bare JID in canonical (lower-case) form.
pub fn parse_bare(raw: &str) -> Result<String, Invalid> {
    let (bare, resource) = match raw.split_once('/') {
        Some((b, r)) => (b, Some(r)),
        None => (raw, None),
    };
    let (node, domain) = match bare.split_once('@') {
        Some((n, d)) => (Some(n), d),
        None => (None, bare),
    };
    if let Some(n) = node
        && !valid_localpart(n)
    {
        return Err(Invalid::Malformed);
    }
    if !valid_domain(domain) {
        return Err(Invalid::Malformed);
    }
    match resource {
        Some(r) if r.is_empty() || r.len() > MAX_PART || r.chars().any(char::is_control) => Err(Invalid::Malformed),
        Some(_) => Err(Invalid::HasResource),
        None => Ok(match node {
            Some(n) => format!("{}@{}", n.to_lowercase(), domain.to_lowercase()),
            None => domain.to_lowercase(),
        }),
    }
}

fn valid_localpart(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= MAX_PART
        && !n.chars().any(|c| c.is_whitespace() || c.is_control() || LOCALPART_FORBIDDEN.contains(&c))
}

fn valid_domain(d: &str) -> bool {
    let d = d.strip_suffix('.').unwrap_or(d);
    !d.is_empty()
        && d.len() <= MAX_PART
        && !d.split('.').any(str::is_empty)
        && !d.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '@' | '/' | '<' | '>' | '\'' | '"'))
}

/// The bare part of a stamped JID: `u@h/r` → `u@h`.
pub fn bare(jid: &str) -> &str {
    waxwing_sdk::jid::bare(jid)
}

/// Whether `jid` is an account on (or the domain of) `domain`.
pub fn is_on(jid: &str, domain: &str) -> bool {
    waxwing_sdk::jid::domain(jid).eq_ignore_ascii_case(domain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_normalises_bare_jids() {
        assert_eq!(parse_bare("Juliet@Example.COM"), Ok("juliet@example.com".into()));
        assert_eq!(parse_bare("example.com"), Ok("example.com".into()));
        assert_eq!(parse_bare("conference.example.com"), Ok("conference.example.com".into()));
    }

    #[test]
    fn refuses_malformed_and_full_jids() {
        for bad in ["", "@h", "a@", "a@b@c", "a b@h", "a@h h", "a@.h", "a@h..x", "a<b@h", "a@h/", "a\u{1}@h"] {
            assert_eq!(parse_bare(bad), Err(Invalid::Malformed), "{bad:?}");
        }
        assert_eq!(parse_bare(&format!("{}@h", "x".repeat(1024))), Err(Invalid::Malformed));
        assert_eq!(parse_bare("a@h/r"), Err(Invalid::HasResource));
    }

    #[test]
    fn splits_stamped_jids() {
        assert_eq!(bare("a@h/r"), "a@h");
        assert!(is_on("a@H/r", "h"));
        assert!(!is_on("a@other/r", "h"));
    }
}
