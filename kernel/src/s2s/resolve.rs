//! Where another server's domain is reached (RFC 6120 §3.2, XEP-0368):
//! a static route, else DNS SRV (`_xmpps-server._tcp` for direct TLS and
//! `_xmpp-server._tcp` for STARTTLS, by priority), else the domain's own
//! addresses on port 5269.

use std::net::{IpAddr, SocketAddr};

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;

use crate::config::S2sSection;

/// One place to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub direct_tls: bool,
    priority: u16,
    weight: u16,
}

impl Target {
    fn new(host: &str, port: u16, direct_tls: bool) -> Self {
        Target { host: host.trim_end_matches('.').to_string(), port, direct_tls, priority: 0, weight: 0 }
    }
}

pub struct Resolver {
    dns: Option<TokioResolver>,
}

impl Resolver {
    /// `s2s.dns_server` when set, else the system's resolver config. A
    /// machine without one still serves static routes.
    pub fn new(cfg: &S2sSection) -> Self {
        let provider = TokioConnectionProvider::default();
        let dns = match cfg.dns_server {
            Some(addr) => {
                let group = NameServerConfigGroup::from_ips_clear(&[addr.ip()], addr.port(), true);
                Some(
                    TokioResolver::builder_with_config(ResolverConfig::from_parts(None, vec![], group), provider)
                        .build(),
                )
            }
            None => match TokioResolver::builder_tokio() {
                Ok(b) => Some(b.build()),
                Err(e) => {
                    tracing::warn!("no DNS resolver for server-to-server ({e}); only s2s.routes can be reached");
                    None
                }
            },
        };
        Resolver { dns }
    }

    /// The places to try for `domain`, in order.
    pub async fn targets(&self, cfg: &S2sSection, domain: &str) -> Vec<Target> {
        if let Some(r) = cfg.route(domain) {
            return vec![Target::new(&r.host, r.port, r.direct_tls)];
        }
        let Some(dns) = &self.dns else { return Vec::new() };
        let mut found = Vec::new();
        let mut refused = false;
        for (service, direct_tls) in [("_xmpps-server._tcp", true), ("_xmpp-server._tcp", false)] {
            let Ok(srv) = dns.srv_lookup(format!("{service}.{domain}.")).await else { continue };
            for rec in srv.iter() {
                let target = rec.target().to_utf8();
                // RFC 6120 §3.2.1: a lone "." target says the service is not offered.
                if target == "." {
                    refused |= !direct_tls;
                    continue;
                }
                let mut t = Target::new(&target, rec.port(), direct_tls);
                t.priority = rec.priority();
                t.weight = rec.weight();
                found.push(t);
            }
        }
        if found.is_empty() && !refused {
            found.push(Target::new(domain, 5269, false));
        }
        sort(&mut found);
        found
    }

    /// The addresses of one target's host.
    pub async fn addresses(&self, target: &Target) -> Vec<SocketAddr> {
        if let Ok(ip) = target.host.parse::<IpAddr>() {
            return vec![SocketAddr::new(ip, target.port)];
        }
        let Some(dns) = &self.dns else { return Vec::new() };
        match dns.lookup_ip(format!("{}.", target.host)).await {
            Ok(ips) => ips.iter().map(|ip| SocketAddr::new(ip, target.port)).collect(),
            Err(e) => {
                tracing::debug!(host = %target.host, "address lookup failed: {e}");
                Vec::new()
            }
        }
    }
}

/// Lowest priority first; within one, heavier first (RFC 2782 picks by
/// weighted chance; a fixed order keeps a peer's connections on one host),
/// direct TLS before STARTTLS on a tie (XEP-0368 §3).
fn sort(targets: &mut [Target]) {
    targets.sort_by_key(|t| (t.priority, std::cmp::Reverse(t.weight), !t.direct_tls));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srv_order() {
        let t = |host: &str, priority, weight, direct_tls| Target {
            host: host.into(),
            port: 5269,
            direct_tls,
            priority,
            weight,
        };
        let mut v = vec![t("c", 20, 0, false), t("b", 10, 5, false), t("a", 10, 50, false), t("d", 10, 50, true)];
        sort(&mut v);
        let order: Vec<&str> = v.iter().map(|t| t.host.as_str()).collect();
        assert_eq!(order, ["d", "a", "b", "c"]);
    }

    #[tokio::test]
    async fn a_static_route_wins_over_dns() {
        let mut cfg = S2sSection::default();
        cfg.routes.insert("peer.example".into(), "tls:127.0.0.9:5270".into());
        let r = Resolver { dns: None };
        let targets = r.targets(&cfg, "peer.example").await;
        assert_eq!(targets, vec![Target::new("127.0.0.9", 5270, true)]);
        assert_eq!(r.addresses(&targets[0]).await, vec!["127.0.0.9:5270".parse().unwrap()]);
        assert!(r.targets(&cfg, "other.example").await.is_empty(), "no DNS, no route");
    }
}
