//! JIDs split into their parts. JIDs a plugin sees were stamped and prepared
//! by the kernel, so this only splits; it does not apply stringprep/PRECIS.

use std::fmt;

/// RFC 7622 §3: each part is at most 1023 bytes.
const MAX_PART: usize = 1023;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Jid {
    pub node: Option<String>,
    pub domain: String,
    pub resource: Option<String>,
}

impl Jid {
    /// Splits `s`; `None` when a part is empty or too long.
    pub fn parse(s: &str) -> Option<Jid> {
        let (bare, resource) = match s.split_once('/') {
            Some((b, r)) => (b, Some(r)),
            None => (s, None),
        };
        let (node, domain) = match bare.split_once('@') {
            Some((n, d)) => (Some(n), d),
            None => (None, bare),
        };
        let ok = |p: &str| !p.is_empty() && p.len() <= MAX_PART;
        if !ok(domain) || !node.is_none_or(ok) || !resource.is_none_or(ok) || domain.contains('@') {
            return None;
        }
        Some(Jid { node: node.map(str::to_owned), domain: domain.to_string(), resource: resource.map(str::to_owned) })
    }

    /// The JID without its resource.
    pub fn to_bare(&self) -> Jid {
        Jid { node: self.node.clone(), domain: self.domain.clone(), resource: None }
    }

    pub fn bare(&self) -> String {
        match &self.node {
            Some(n) => format!("{n}@{}", self.domain),
            None => self.domain.clone(),
        }
    }

    pub fn is_bare(&self) -> bool {
        self.resource.is_none()
    }

    pub fn with_resource(&self, resource: &str) -> Jid {
        Jid { resource: Some(resource.to_string()), ..self.clone() }
    }
}

impl fmt::Display for Jid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(n) = &self.node {
            write!(f, "{n}@")?;
        }
        f.write_str(&self.domain)?;
        if let Some(r) = &self.resource {
            write!(f, "/{r}")?;
        }
        Ok(())
    }
}

/// The bare part of `jid` without allocating: `u@d/r` → `u@d`.
pub fn bare(jid: &str) -> &str {
    jid.split_once('/').map_or(jid, |(b, _)| b)
}

/// The domain part: `u@d/r` → `d`.
pub fn domain(jid: &str) -> &str {
    let b = bare(jid);
    b.split_once('@').map_or(b, |(_, d)| d)
}

/// The node (local) part, if any.
pub fn node(jid: &str) -> Option<&str> {
    bare(jid).split_once('@').map(|(n, _)| n)
}

/// The resource part, if any.
pub fn resource(jid: &str) -> Option<&str> {
    jid.split_once('/').map(|(_, r)| r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_full_bare_and_domain_jids() {
        let j = Jid::parse("juliet@example.com/balcony/with/slash").unwrap();
        assert_eq!(j.node.as_deref(), Some("juliet"));
        assert_eq!(j.domain, "example.com");
        assert_eq!(j.resource.as_deref(), Some("balcony/with/slash"));
        assert_eq!(j.bare(), "juliet@example.com");
        assert_eq!(j.to_string(), "juliet@example.com/balcony/with/slash");
        assert!(j.to_bare().is_bare());
        assert_eq!(Jid::parse("example.com").unwrap().to_string(), "example.com");
        assert_eq!(Jid::parse("example.com/r@x").unwrap().resource.as_deref(), Some("r@x"));
        assert_eq!(Jid::parse("a@b").unwrap().with_resource("r").to_string(), "a@b/r");
    }

    #[test]
    fn refuses_empty_or_oversized_parts() {
        for bad in ["", "@example.com", "a@", "a@b/", "/r", "a@b@c", &"x".repeat(1024)] {
            assert_eq!(Jid::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn borrowing_splitters() {
        assert_eq!(bare("a@b/c"), "a@b");
        assert_eq!(domain("a@b/c@d"), "b");
        assert_eq!(domain("b"), "b");
        assert_eq!(node("a@b/c"), Some("a"));
        assert_eq!(node("b/c@d"), None);
        assert_eq!(resource("a@b/c/d"), Some("c/d"));
        assert_eq!(resource("a@b"), None);
    }
}
