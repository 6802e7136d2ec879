//! The config of what crosses the server's edge: other servers (`[s2s]`,
//! RFC 6120 with XEP-0220/XEP-0178) and external components (`[[component]]`,
//! XEP-0114).

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::bail;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S2sSection {
    /// Refuse a peer that will not encrypt (RFC 6120 §5.3.1: STARTTLS
    /// "mandatory-to-negotiate"), in both directions.
    pub require_tls: bool,
    /// Accept only peers whose certificate proves their domain (SASL
    /// EXTERNAL, XEP-0178); with `false` a peer without such a certificate
    /// may still prove its domain by dialback (XEP-0220), as Prosody's and
    /// ejabberd's defaults allow.
    pub require_valid_certificate: bool,
    /// Offer and use dialback.
    pub dialback: bool,
    /// A PEM bundle of trust roots for peers' certificates; the system's
    /// roots when absent.
    pub ca_file: Option<PathBuf>,
    /// Per-domain pinned certificates (PEM): a peer presenting exactly that
    /// certificate has proven the domain, whoever issued it. For private
    /// networks with self-signed certificates.
    pub pinned: BTreeMap<String, PathBuf>,
    /// Where to reach a domain instead of asking DNS: "HOST:PORT", or
    /// "tls:HOST:PORT" for direct TLS (XEP-0368). For private networks and
    /// tests.
    pub routes: BTreeMap<String, String>,
    /// The DNS server for SRV and address lookups ("IP:PORT"); the system's
    /// resolver configuration when absent.
    pub dns_server: Option<SocketAddr>,
    /// Time to reach and authenticate with a peer; the stanzas waiting for
    /// it then bounce with `remote-server-timeout`.
    pub connect_timeout_secs: u64,
    /// Stanzas held per remote domain while its connection is set up; more
    /// bounce with `resource-constraint`.
    pub queue_max_stanzas: usize,
    /// An outgoing connection unused this long is closed.
    pub idle_timeout_secs: u64,
}

impl Default for S2sSection {
    fn default() -> Self {
        S2sSection {
            require_tls: true,
            require_valid_certificate: false,
            dialback: true,
            ca_file: None,
            pinned: BTreeMap::new(),
            routes: BTreeMap::new(),
            dns_server: None,
            connect_timeout_secs: 30,
            queue_max_stanzas: 1000,
            idle_timeout_secs: 600,
        }
    }
}

/// Where a static route points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticRoute {
    pub host: String,
    pub port: u16,
    pub direct_tls: bool,
}

impl S2sSection {
    /// The static route for `domain`, if one is configured (checked by `validate`).
    pub fn route(&self, domain: &str) -> Option<StaticRoute> {
        self.routes.get(domain).and_then(|r| parse_route(r).ok())
    }

    pub fn validate(&self, vhosts: &HashSet<String>) -> anyhow::Result<()> {
        if self.connect_timeout_secs == 0 {
            bail!("s2s.connect_timeout_secs = 0 is too small: it must be at least 1");
        }
        if self.queue_max_stanzas == 0 {
            bail!("s2s.queue_max_stanzas = 0 is too small: it must be at least 1");
        }
        if self.idle_timeout_secs == 0 {
            bail!("s2s.idle_timeout_secs = 0 is too small: it must be at least 1");
        }
        if !self.dialback && !self.require_valid_certificate {
            bail!(
                "s2s.dialback = false needs s2s.require_valid_certificate = true: \
                 without dialback only a certificate can prove a peer's domain"
            );
        }
        for (domain, route) in &self.routes {
            check_domain("s2s.routes", domain)?;
            if vhosts.contains(domain) {
                bail!("s2s.routes.{domain:?}: {domain} is served here; a route is for other servers' domains");
            }
            parse_route(route).map_err(|why| anyhow::anyhow!("s2s.routes.{domain:?} = {route:?}: {why}"))?;
        }
        for (domain, path) in &self.pinned {
            check_domain("s2s.pinned", domain)?;
            if !path.is_file() {
                bail!("s2s.pinned.{domain:?} = {:?} is not a readable PEM certificate file", path.display());
            }
        }
        if let Some(ca) = &self.ca_file
            && !ca.is_file()
        {
            bail!("s2s.ca_file = {:?} is not a readable PEM file of trust roots", ca.display());
        }
        Ok(())
    }
}

fn check_domain(key: &str, domain: &str) -> anyhow::Result<()> {
    match jid::DomainPart::new(domain) {
        Ok(d) if d.as_str() == domain => Ok(()),
        Ok(d) => bail!("{key}.{domain:?}: write the domain in canonical form, {:?}", d.as_str()),
        Err(e) => bail!("{key}.{domain:?} is not a valid domain: {e}"),
    }
}

/// "HOST:PORT" or "tls:HOST:PORT"; HOST may be a name, an IPv4 address or
/// an IPv6 address in brackets.
pub fn parse_route(route: &str) -> Result<StaticRoute, String> {
    let (direct_tls, rest) = match route.strip_prefix("tls:") {
        Some(rest) => (true, rest),
        None => (false, route),
    };
    let (host, port) = rest.rsplit_once(':').ok_or("write HOST:PORT, or tls:HOST:PORT for direct TLS")?;
    let port: u16 = port.parse().map_err(|_| format!("{port:?} is not a port number"))?;
    if port == 0 {
        return Err("port 0 cannot be dialled".into());
    }
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if host.is_empty() {
        return Err("the host is empty".into());
    }
    Ok(StaticRoute { host: host.to_string(), port, direct_tls })
}

/// One `[[component]]`: an external component (XEP-0114) that serves
/// `domain` after proving it knows `secret`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentConfig {
    pub domain: String,
    pub secret: String,
}

pub fn validate_components(components: &[ComponentConfig], vhosts: &HashSet<String>) -> anyhow::Result<()> {
    let mut seen = HashSet::new();
    for c in components {
        check_domain("component.domain", &c.domain)?;
        if vhosts.contains(&c.domain) {
            bail!("component.domain = {:?} is a [[vhost]]: a component needs a domain of its own", c.domain);
        }
        if !seen.insert(c.domain.as_str()) {
            bail!("component.domain = {:?} appears twice: each component is listed once", c.domain);
        }
        if c.secret.len() < 8 {
            bail!(
                "component {:?}: secret is too short: use at least 8 characters (it is the only credential)",
                c.domain
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse() {
        assert_eq!(
            parse_route("127.0.0.5:5269"),
            Ok(StaticRoute { host: "127.0.0.5".into(), port: 5269, direct_tls: false })
        );
        assert_eq!(parse_route("tls:[::1]:5270"), Ok(StaticRoute { host: "::1".into(), port: 5270, direct_tls: true }));
        assert_eq!(parse_route("xmpp.example:5269").unwrap().host, "xmpp.example");
        for bad in ["nohost", "h:port", ":5269", "h:0", "tls:", "h:70000"] {
            assert!(parse_route(bad).is_err(), "{bad}");
        }
    }
}
