//! Choosing a vhost's certificate from the TLS server name (SNI).

use std::collections::HashMap;
use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// Certificates by vhost domain. The first one added is the fallback for
/// clients that send no SNI (or a name we do not serve): some older clients
/// omit SNI, and refusing the handshake would only hide the real error
/// (an unknown `to` in the stream header) behind a TLS alert.
#[derive(Debug, Default)]
pub struct SniResolver {
    by_domain: HashMap<String, Arc<CertifiedKey>>,
    fallback: Option<Arc<CertifiedKey>>,
}

impl SniResolver {
    pub fn add(&mut self, domain: &str, key: Arc<CertifiedKey>) {
        if self.fallback.is_none() {
            self.fallback = Some(key.clone());
        }
        self.by_domain.insert(domain.to_ascii_lowercase(), key);
    }

    /// The exact domain, else its parent (a plugin service subdomain such as
    /// `conference.example.org` is covered by the vhost's `*.example.org`),
    /// else the fallback.
    pub fn choose(&self, server_name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        if let Some(name) = server_name {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if let Some(k) = self.by_domain.get(&name) {
                return Some(k.clone());
            }
            if let Some((_, parent)) = name.split_once('.')
                && let Some(k) = self.by_domain.get(parent)
            {
                return Some(k.clone());
            }
        }
        self.fallback.clone()
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.choose(hello.server_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::tempdir;

    fn key(dir: &std::path::Path, domain: &str) -> Arc<CertifiedKey> {
        Arc::new(super::super::certs::development(dir, domain, &rustls::crypto::ring::default_provider()).unwrap())
    }

    #[test]
    fn exact_then_parent_then_first() {
        let dir = tempdir("tls-sni");
        let a = key(&dir, "a.example");
        let b = key(&dir, "b.example");
        let mut r = SniResolver::default();
        r.add("a.example", a.clone());
        r.add("b.example", b.clone());
        let pick = |n: Option<&str>| r.choose(n).unwrap().cert.clone();
        assert_eq!(pick(Some("b.example")), b.cert);
        assert_eq!(pick(Some("B.Example")), b.cert);
        assert_eq!(pick(Some("conference.b.example")), b.cert);
        assert_eq!(pick(Some("a.example")), a.cert);
        assert_eq!(pick(Some("unknown.org")), a.cert);
        assert_eq!(pick(Some("x.y.b.example")), a.cert, "only one level of wildcard");
        assert_eq!(pick(None), a.cert);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn empty_resolver_refuses() {
        assert!(SniResolver::default().choose(Some("a.example")).is_none());
    }
}
