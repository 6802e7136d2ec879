//! Dialback keys (XEP-0220, generated as XEP-0185 recommends).
//!
//! The key proves that whoever sends it can reach this server's secret:
//! a receiving server asks us, the authoritative server, whether a key it
//! was given is one we made for that pair of domains and that stream.

use ring::{digest, hmac};

pub struct Secret(hmac::Key);

impl Secret {
    /// A fresh secret for this process: keys outlive nothing but the
    /// connection they were made for, so a restart only fails verifications
    /// that were in flight.
    pub fn random() -> Self {
        Self::from_text(&hex(&crate::stream::random_bytes::<32>()))
    }

    /// XEP-0185: the HMAC key is the hex SHA-256 of the secret.
    fn from_text(secret: &str) -> Self {
        let hashed = hex(digest::digest(&digest::SHA256, secret.as_bytes()).as_ref());
        Secret(hmac::Key::new(hmac::HMAC_SHA256, hashed.as_bytes()))
    }

    /// The key for a stream `stream_id` opened by `receiving` to us on
    /// behalf of `originating` (one of our domains).
    pub fn key(&self, receiving: &str, originating: &str, stream_id: &str) -> String {
        let text = format!("{receiving} {originating} {stream_id}");
        hex(hmac::sign(&self.0, text.as_bytes()).as_ref())
    }

    /// Whether `key` is the one we would make, compared in constant time.
    pub fn verify(&self, receiving: &str, originating: &str, stream_id: &str, key: &str) -> bool {
        let want = self.key(receiving, originating, stream_id);
        let got = key.trim().as_bytes();
        want.len() == got.len() && want.bytes().zip(got).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_xep_0185_example() {
        let s = Secret::from_text("s3cr3tf0rd14lb4ck");
        let key = s.key("xmpp.example.com", "example.org", "D60000229F");
        assert_eq!(key, "37c69b1cf07a3f67c04a5ef5902fa5114f2c76fe4a2686482ba5b89323075643");
        assert!(s.verify("xmpp.example.com", "example.org", "D60000229F", &format!("\n  {key}\n")));
        assert!(!s.verify("xmpp.example.com", "example.org", "D60000229G", &key), "another stream");
        assert!(!s.verify("example.org", "xmpp.example.com", "D60000229F", &key), "roles swapped");
        assert!(!s.verify("xmpp.example.com", "example.org", "D60000229F", ""));
    }

    #[test]
    fn random_secrets_differ() {
        assert_ne!(Secret::random().key("a", "b", "c"), Secret::random().key("a", "b", "c"));
    }
}
