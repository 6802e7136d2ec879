//! JIDs. Preparation (RFC 7622: PRECIS, IDNA; `Juliet@Example.COM` and
//! `juliet@example.com` are one address) is the kernel's, through the `jid`
//! host interface, so a plugin compares addresses exactly as the server does.
//! JIDs the kernel stamped on a stanza are prepared already: the borrowing
//! splitters ([`bare`], [`domain`], [`node`], [`resource`]) only split them.

use std::fmt;
use std::str::FromStr;

use waxwing_xml::{StanzaError, StanzaErrorCondition};

use crate::host::sys;

/// A prepared JID, in parts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Jid {
    /// The local part (`juliet`), if any.
    pub node: Option<String>,
    /// The domain part (`example.com`).
    pub domain: String,
    /// The resource part (`balcony`), if any.
    pub resource: Option<String>,
}

/// Why a string is not a JID, as the kernel's preparation said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JidError {
    /// What was given.
    pub input: String,
    /// The kernel's message, which names the input and the rule it broke.
    pub message: String,
}

impl fmt::Display for JidError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for JidError {}

/// An address from a client that is not a JID: `jid-malformed` (RFC 6120
/// §8.3.3.8), with the reason.
impl From<JidError> for StanzaError {
    fn from(e: JidError) -> Self {
        StanzaError::new(StanzaErrorCondition::JidMalformed).with_text(e.message)
    }
}

/// The prepared form of `s`, as one string: one host call.
pub fn prep(s: &str) -> Result<String, JidError> {
    sys::jid::prep(s).map_err(|message| JidError { input: s.to_string(), message })
}

impl Jid {
    /// Prepares `s` and splits it: one host call.
    pub fn prep(s: &str) -> Result<Jid, JidError> {
        let parts = sys::jid::parts(s).map_err(|message| JidError { input: s.to_string(), message })?;
        Ok(Jid { node: parts.node, domain: parts.domain, resource: parts.resource })
    }

    /// [`Jid::prep`] without the reason: `None` when `s` is not a JID.
    pub fn parse(s: &str) -> Option<Jid> {
        Jid::prep(s).ok()
    }

    /// The JID without its resource.
    pub fn to_bare(&self) -> Jid {
        Jid { node: self.node.clone(), domain: self.domain.clone(), resource: None }
    }

    /// The bare JID as a string: `node@domain`, or the domain.
    pub fn bare(&self) -> String {
        match &self.node {
            Some(n) => format!("{n}@{}", self.domain),
            None => self.domain.clone(),
        }
    }

    /// Whether there is no resource.
    pub fn is_bare(&self) -> bool {
        self.resource.is_none()
    }

    /// This JID with `resource` instead of its own. The resource is taken as
    /// given: prepare the result with [`Jid::prep`] when it came from outside.
    pub fn with_resource(&self, resource: &str) -> Jid {
        Jid { resource: Some(resource.to_string()), ..self.clone() }
    }
}

impl FromStr for Jid {
    type Err = JidError;

    fn from_str(s: &str) -> Result<Jid, JidError> {
        Jid::prep(s)
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

/// The bare part of a prepared `jid` without allocating: `u@d/r` → `u@d`.
pub fn bare(jid: &str) -> &str {
    jid.split_once('/').map_or(jid, |(b, _)| b)
}

/// The domain part of a prepared JID: `u@d/r` → `d`.
pub fn domain(jid: &str) -> &str {
    let b = bare(jid);
    b.split_once('@').map_or(b, |(_, d)| d)
}

/// The node (local) part of a prepared JID, if any.
pub fn node(jid: &str) -> Option<&str> {
    bare(jid).split_once('@').map(|(n, _)| n)
}

/// The resource part of a prepared JID, if any.
pub fn resource(jid: &str) -> Option<&str> {
    jid.split_once('/').map(|(_, r)| r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepares_through_the_host() {
        let j = Jid::prep("Juliet@EXAMPLE.com/Balcony/with/slash").unwrap();
        assert_eq!(j.node.as_deref(), Some("juliet"));
        assert_eq!(j.domain, "example.com");
        assert_eq!(j.resource.as_deref(), Some("Balcony/with/slash"), "resources keep their case");
        assert_eq!(j.bare(), "juliet@example.com");
        assert_eq!(j.to_string(), "juliet@example.com/Balcony/with/slash");
        assert!(j.to_bare().is_bare());
        assert_eq!(prep("ROMEO@Montague.LIT").unwrap(), "romeo@montague.lit");
        assert_eq!("example.com".parse::<Jid>().unwrap().to_string(), "example.com");
        assert_eq!(Jid::parse("example.com/r@x").unwrap().resource.as_deref(), Some("r@x"));
        assert_eq!(Jid::parse("a@b").unwrap().with_resource("r").to_string(), "a@b/r");
    }

    #[test]
    fn refuses_what_the_kernel_refuses() {
        for bad in ["", "@example.com", "a@", "a@b/", "/r", "a b@c", &"x".repeat(1024)] {
            assert_eq!(Jid::parse(bad), None, "{bad:?}");
        }
        let e = Jid::prep("a@").unwrap_err();
        assert_eq!(e.input, "a@");
        assert!(e.to_string().starts_with("\"a@\" is not a JID: "), "{e}");
        let s: StanzaError = e.into();
        assert_eq!(s.condition, StanzaErrorCondition::JidMalformed);
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
