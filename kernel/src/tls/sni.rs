//! Choosing a vhost's certificate from the TLS server name (SNI).

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// Certificates by vhost domain, replaceable while handshakes run: tenants
/// come and go and certificates are renewed without a restart.
///
/// The first one added is the fallback for clients that send no SNI (or a
/// name we do not serve): some older clients omit SNI, and refusing the
/// handshake would only hide the real error (an unknown `to` in the stream
/// header) behind a TLS alert.
#[derive(Debug, Default)]
pub struct SniResolver {
    // A handshake must never wait for a tenant being added, so readers only
    // load a snapshot; writers build a new map and swap it in.
    certs: ArcSwap<Certs>,
}

#[derive(Debug, Default, Clone)]
struct Certs {
    by_domain: HashMap<String, Arc<CertifiedKey>>,
    /// A domain of `by_domain`, kept by name so that replacing its
    /// certificate also replaces the fallback.
    fallback: Option<String>,
}

impl SniResolver {
    /// Serves `key` for `domain` from the next handshake on, replacing the
    /// domain's previous certificate if any.
    pub fn set(&self, domain: &str, key: Arc<CertifiedKey>) {
        let domain = domain.to_ascii_lowercase();
        self.certs.rcu(|old| {
            let mut new = Certs::clone(old);
            new.by_domain.insert(domain.clone(), key.clone());
            if new.fallback.is_none() {
                new.fallback = Some(domain.clone());
            }
            new
        });
    }

    /// Stops serving `domain`; false when it was not served. When it was the
    /// fallback, the remaining domain that sorts first takes over, so that the
    /// choice does not depend on the order tenants happened to be added in.
    pub fn remove(&self, domain: &str) -> bool {
        let domain = domain.to_ascii_lowercase();
        let mut removed = false;
        self.certs.rcu(|old| {
            // rcu may run this more than once, racing another writer: only the
            // last run's answer counts.
            removed = old.by_domain.contains_key(&domain);
            if !removed {
                return Arc::clone(old);
            }
            let mut new = Certs::clone(old);
            new.by_domain.remove(&domain);
            if new.fallback.as_deref() == Some(domain.as_str()) {
                new.fallback = new.by_domain.keys().min().cloned();
            }
            Arc::new(new)
        });
        removed
    }

    /// The domains served, sorted.
    pub fn domains(&self) -> Vec<String> {
        let mut domains: Vec<String> = self.certs.load().by_domain.keys().cloned().collect();
        domains.sort();
        domains
    }

    /// The exact domain, else its parent (a plugin service subdomain such as
    /// `conference.example.org` is covered by the vhost's `*.example.org`),
    /// else the fallback.
    pub fn choose(&self, server_name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let certs = self.certs.load();
        if let Some(name) = server_name {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if let Some(k) = certs.by_domain.get(&name) {
                return Some(k.clone());
            }
            if let Some((_, parent)) = name.split_once('.')
                && let Some(k) = certs.by_domain.get(parent)
            {
                return Some(k.clone());
            }
        }
        certs.fallback.as_ref().and_then(|d| certs.by_domain.get(d)).cloned()
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
        let r = SniResolver::default();
        r.set("a.example", a.clone());
        r.set("b.example", b.clone());
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

    #[test]
    fn the_fallback_moves_when_its_vhost_goes() {
        let dir = tempdir("tls-sni");
        let (a, b, c) = (key(&dir, "a.example"), key(&dir, "b.example"), key(&dir, "c.example"));
        let r = SniResolver::default();
        // Added out of order: the first added is the fallback, not the first sorted.
        r.set("c.example", c.clone());
        r.set("b.example", b.clone());
        r.set("a.example", a.clone());
        assert_eq!(r.domains(), ["a.example", "b.example", "c.example"]);
        assert_eq!(r.choose(None).unwrap().cert, c.cert);
        // A renewed certificate of the fallback vhost is the new fallback.
        let c2 = key(&dir.join("renewed"), "c.example");
        r.set("C.example", c2.clone());
        assert_eq!(r.choose(None).unwrap().cert, c2.cert);
        assert!(r.remove("c.example"));
        assert!(!r.remove("c.example"), "already gone");
        assert_eq!(r.choose(Some("c.example")).unwrap().cert, a.cert, "lowest remaining name");
        assert_eq!(r.choose(None).unwrap().cert, a.cert);
        // Removing a vhost that is not the fallback leaves the fallback alone.
        assert!(r.remove("b.example"));
        assert_eq!(r.choose(Some("b.example")).unwrap().cert, a.cert);
        assert!(r.remove("A.EXAMPLE"));
        assert!(r.domains().is_empty());
        assert!(r.choose(None).is_none());
        // Once empty, the next vhost added is the fallback again.
        r.set("b.example", b.clone());
        assert_eq!(r.choose(Some("other.org")).unwrap().cert, b.cert);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn changes_are_seen_by_readers_on_other_threads() {
        let dir = tempdir("tls-sni");
        let (a, b) = (key(&dir, "a.example"), key(&dir, "b.example"));
        let r = Arc::new(SniResolver::default());
        r.set("a.example", a.clone());
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (r, stop, a, b) = (r.clone(), stop.clone(), a.clone(), b.clone());
                std::thread::spawn(move || {
                    let mut saw_b = false;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        // Never a missing or foreign certificate, whatever the writer is doing.
                        let got = r.choose(Some("b.example")).expect("a is always served").cert.clone();
                        assert!(got == a.cert || got == b.cert);
                        saw_b |= got == b.cert;
                    }
                    // The writer's last change, seen from this thread however
                    // the threads were scheduled during the loop.
                    saw_b |= r.choose(Some("b.example")).is_some_and(|k| k.cert == b.cert);
                    saw_b
                })
            })
            .collect();
        for _ in 0..2000 {
            r.set("b.example", b.clone());
            std::thread::yield_now();
            assert!(r.remove("b.example"));
        }
        r.set("b.example", b.clone());
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in readers {
            assert!(t.join().unwrap(), "each reader saw the added vhost");
        }
        assert_eq!(r.choose(None).unwrap().cert, a.cert);
        let _ = std::fs::remove_dir_all(dir);
    }
}
