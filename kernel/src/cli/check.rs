//! `waxwing check config|certs|dns`: what an operator verifies before
//! (and after) opening a server to the world. `check config FILE` is
//! `check-config` ([`super::serve::check_config`]); this file has the rest.
//!
//! Each finding is one line whose first word a script can match: `ok`,
//! `warning` (works, but worth fixing), `missing` or `error` (exit 1).

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, anyhow, bail};
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

use crate::config::Config;

/// A certificate expiring sooner than this is reported as an error: time
/// enough to renew it, as certbot's default of 30 days leaves.
const EXPIRY_MARGIN: Duration = Duration::from_secs(14 * 24 * 3600);

/// `check config` with no file anywhere: the embedded default.
pub fn embedded_config() -> anyhow::Result<ExitCode> {
    let cfg = Config::load_or_default(None)?;
    crate::plugins::PluginHost::check(&cfg)?;
    println!("embedded default config: ok");
    Ok(ExitCode::SUCCESS)
}

/// What one finding says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Ok,
    Warning,
    Missing,
    Error,
}

impl Level {
    fn word(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warning => "warning",
            Level::Missing => "missing",
            Level::Error => "error",
        }
    }
}

struct Findings(Vec<(Level, String)>);

impl Findings {
    fn add(&mut self, level: Level, text: String) {
        self.0.push((level, text));
    }

    /// Prints every line; exit 1 when any is `missing` or `error`.
    fn finish(self) -> ExitCode {
        let mut failed = false;
        for (level, text) in &self.0 {
            println!("{} {text}", level.word());
            failed |= matches!(level, Level::Missing | Level::Error);
        }
        if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
    }
}

/// One certificate's facts.
#[derive(Debug)]
struct CertFacts {
    names: Vec<String>,
    not_after: i64,
    self_signed: bool,
}

fn read_cert(path: &Path) -> anyhow::Result<CertFacts> {
    let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let der = CertificateDer::pem_slice_iter(&pem)
        .next()
        .ok_or_else(|| anyhow!("{} holds no PEM certificate", path.display()))?
        .map_err(|e| anyhow!("{} is not valid PEM: {e}", path.display()))?;
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
        .map_err(|e| anyhow!("{} holds no readable X.509 certificate: {e}", path.display()))?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(d) = n {
                names.push(d.to_ascii_lowercase());
            }
        }
    }
    if names.is_empty() {
        // Only without DNS names does a client look at the CN (RFC 6125 §6.4.4).
        names.extend(cert.subject().iter_common_name().filter_map(|cn| cn.as_str().ok()).map(str::to_ascii_lowercase));
    }
    Ok(CertFacts {
        names,
        not_after: cert.validity().not_after.timestamp(),
        self_signed: cert.subject() == cert.issuer(),
    })
}

/// RFC 6125 §6.4.3: a wildcard stands for exactly one leftmost label.
fn covers(names: &[String], domain: &str) -> bool {
    let domain = domain.to_ascii_lowercase();
    names.iter().any(|n| match n.strip_prefix("*.") {
        Some(rest) => domain.split_once('.').is_some_and(|(_, parent)| parent == rest),
        None => *n == domain,
    })
}

fn date(unix: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => {
            let d = t.date();
            format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
        }
        // Out of time's range (years past 9999): the seconds say it exactly.
        Err(_) => format!("@{unix}"),
    }
}

fn now_unix() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

pub fn certs(cfg: &Config) -> anyhow::Result<ExitCode> {
    Ok(cert_findings(cfg, now_unix()).finish())
}

fn cert_findings(cfg: &Config, now: i64) -> Findings {
    let mut f = Findings(Vec::new());
    for v in &cfg.vhosts {
        let d = &v.domain;
        let (path, configured) = match &v.cert {
            Some(p) => (p.clone(), true),
            None => (cfg.server.data_dir.join("tls").join(format!("{d}.crt")), false),
        };
        if !configured && !path.exists() {
            f.add(
                Level::Warning,
                format!(
                    "{d}: no certificate configured ([[vhost]] cert/key); `waxwing serve` generates a self-signed \
                     one at {} that other servers and most clients will not trust",
                    path.display()
                ),
            );
            continue;
        }
        let facts = match read_cert(&path) {
            Ok(facts) => facts,
            Err(e) => {
                f.add(Level::Error, format!("{d}: {e:#}"));
                continue;
            }
        };
        let left = facts.not_after - now;
        let summary = format!(
            "{d}: {} names {}, expires {} ({} days){}",
            path.display(),
            facts.names.join(" "),
            date(facts.not_after),
            left.div_euclid(86_400),
            if facts.self_signed { ", self-signed" } else { "" }
        );
        if !covers(&facts.names, d) {
            f.add(Level::Error, format!("{summary}: it does not name {d}"));
        } else if left <= 0 {
            f.add(Level::Error, format!("{summary}: expired; renew it"));
        } else if left < EXPIRY_MARGIN.as_secs() as i64 {
            f.add(Level::Error, format!("{summary}: expires within 14 days; renew it"));
        } else if facts.self_signed || !configured {
            f.add(
                Level::Warning,
                format!("{summary}: generated for development; configure a CA-issued one ([[vhost]] cert/key)"),
            );
        } else {
            f.add(Level::Ok, summary);
        }
        // Service subdomains (conference.<vhost>...) are served with the
        // vhost's certificate: a wildcard covers them.
        if !covers(&facts.names, &format!("conference.{d}")) {
            f.add(
                Level::Warning,
                format!(
                    "{d}: the certificate does not cover conference.{d} (a *.{d} name would cover service subdomains)"
                ),
            );
        }
    }
    f
}

pub fn dns(cfg: &Config, domain: Option<&str>) -> anyhow::Result<ExitCode> {
    let domains: Vec<String> = match domain {
        Some(d) => vec![d.trim_end_matches('.').to_ascii_lowercase()],
        None => cfg.vhosts.iter().map(|v| v.domain.clone()).collect(),
    };
    if domains.iter().any(String::is_empty) {
        bail!("give a domain name, such as example.org");
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting a runtime")?;
    let resolver = resolver(cfg)?;
    let mut f = Findings(Vec::new());
    for d in &domains {
        rt.block_on(dns_findings(&resolver, cfg, d, &mut f));
    }
    Ok(f.finish())
}

/// `[s2s] dns_server` when set (as the server itself resolves), else the
/// system's resolver.
fn resolver(cfg: &Config) -> anyhow::Result<TokioResolver> {
    let provider = TokioConnectionProvider::default();
    Ok(match cfg.s2s.dns_server {
        Some(addr) => {
            let group = NameServerConfigGroup::from_ips_clear(&[addr.ip()], addr.port(), true);
            TokioResolver::builder_with_config(ResolverConfig::from_parts(None, vec![], group), provider).build()
        }
        None => TokioResolver::builder_tokio()
            .context("reading the system's DNS resolver config (or set [s2s] dns_server)")?
            .build(),
    })
}

/// The SRV services, the listeners they advertise and the default port.
const SERVICES: [(&str, &str, u16); 4] = [
    ("_xmpp-client._tcp", "c2s", 5222),
    ("_xmpps-client._tcp", "c2s_direct_tls", 5223),
    ("_xmpp-server._tcp", "s2s", 5269),
    ("_xmpps-server._tcp", "s2s_direct_tls", 5270),
];

fn listeners<'a>(cfg: &'a Config, kind: &str) -> &'a [SocketAddr] {
    match kind {
        "c2s" => &cfg.listen.c2s,
        "c2s_direct_tls" => &cfg.listen.c2s_direct_tls,
        "s2s" => &cfg.listen.s2s,
        _ => &cfg.listen.s2s_direct_tls,
    }
}

async fn addresses(resolver: &TokioResolver, host: &str) -> Result<Vec<String>, String> {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    match resolver.ipv4_lookup(format!("{host}.")).await {
        Ok(l) => found.extend(l.iter().map(|a| a.0.to_string())),
        Err(e) if e.is_no_records_found() || e.is_nx_domain() => {}
        Err(e) => errors.push(e.to_string()),
    }
    match resolver.ipv6_lookup(format!("{host}.")).await {
        Ok(l) => found.extend(l.iter().map(|a| a.0.to_string())),
        Err(e) if e.is_no_records_found() || e.is_nx_domain() => {}
        Err(e) => errors.push(e.to_string()),
    }
    if found.is_empty() && !errors.is_empty() {
        return Err(errors.join("; "));
    }
    Ok(found)
}

async fn dns_findings(resolver: &TokioResolver, cfg: &Config, d: &str, f: &mut Findings) {
    let mut srv_seen = false;
    for (service, kind, default_port) in SERVICES {
        let name = format!("{service}.{d}");
        let listening = listeners(cfg, kind);
        // Port 0 (an ephemeral port) cannot be advertised; such a listener
        // is compared by its presence only.
        let ports: Vec<u16> = listening.iter().map(SocketAddr::port).filter(|p| *p != 0).collect();
        let optional = kind.ends_with("direct_tls");
        match resolver.srv_lookup(format!("{name}.")).await {
            Ok(srv) => {
                srv_seen = true;
                for rec in srv.iter() {
                    let target = rec.target().to_utf8();
                    let target = target.trim_end_matches('.');
                    let shown = format!("{name} SRV {} {} {} {target}", rec.priority(), rec.weight(), rec.port());
                    if target.is_empty() {
                        // RFC 6120 §3.2.1: "." says the service is not offered.
                        let level = if listening.is_empty() { Level::Ok } else { Level::Warning };
                        f.add(level, format!("{shown}: says the service is not offered (listen.{kind} is configured)"));
                        continue;
                    }
                    if listening.is_empty() {
                        f.add(Level::Warning, format!("{shown}: but listen.{kind} is empty here"));
                    } else if !ports.is_empty() && !ports.contains(&rec.port()) {
                        f.add(
                            Level::Warning,
                            format!("{shown}: port {} is not one listen.{kind} binds ({ports:?})", rec.port()),
                        );
                    } else {
                        f.add(Level::Ok, shown.clone());
                    }
                    match addresses(resolver, target).await {
                        Ok(a) if !a.is_empty() => f.add(Level::Ok, format!("{target} A/AAAA {}", a.join(" "))),
                        Ok(_) => f.add(Level::Missing, format!("{target} A/AAAA (the target of {name})")),
                        Err(e) => f.add(Level::Error, format!("{target} A/AAAA: {e}")),
                    }
                }
            }
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => {
                if listening.is_empty() {
                    continue;
                }
                let shown: Vec<String> = listening.iter().map(ToString::to_string).collect();
                let level = if optional { Level::Warning } else { Level::Missing };
                let port = ports.first().copied().unwrap_or(default_port);
                f.add(
                    level,
                    format!(
                        "{name} SRV (listen.{kind} is {}): add `{name}. SRV 0 5 {port} <host>.`{}",
                        shown.join(", "),
                        if optional { " (XEP-0368, optional)" } else { "" }
                    ),
                );
            }
            Err(e) => f.add(Level::Error, format!("{name} SRV: {e}")),
        }
    }
    match addresses(resolver, d).await {
        Ok(a) if !a.is_empty() => f.add(Level::Ok, format!("{d} A/AAAA {}", a.join(" "))),
        // Without SRV records, clients and servers connect to the domain itself.
        Ok(_) if !srv_seen => {
            f.add(Level::Missing, format!("{d} A/AAAA (and no SRV records: nothing points anywhere)"))
        }
        Ok(_) => f.add(Level::Ok, format!("{d} A/AAAA: none (the SRV records are used)")),
        Err(e) => f.add(Level::Error, format!("{d} A/AAAA: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_cover_one_label() {
        let names = vec!["a.example".to_string(), "*.a.example".to_string()];
        assert!(covers(&names, "a.example") && covers(&names, "conference.a.example"));
        assert!(covers(&names, "A.Example"));
        assert!(!covers(&names, "x.y.a.example") && !covers(&names, "b.example"));
    }

    #[test]
    fn dates() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(951_782_400), "2000-02-29");
        assert_eq!(date(1_798_675_200), "2026-12-31");
    }

    #[test]
    fn certificate_findings() {
        let dir = crate::testutil::tempdir("cli-certs");
        let mut cfg = Config::default();
        cfg.server.data_dir = dir.clone();
        // Nothing generated yet: a warning, not a failure.
        let f = cert_findings(&cfg, now_unix());
        assert_eq!(f.0.len(), 1);
        assert_eq!(f.0[0].0, Level::Warning, "{:?}", f.0);
        // A generated development certificate: names and expiry, a warning.
        let generated = dir.join("tls").join("localhost.crt");
        std::fs::create_dir_all(dir.join("tls")).unwrap();
        let made = rcgen::generate_simple_self_signed(vec!["localhost".into(), "*.localhost".into()]).unwrap();
        std::fs::write(&generated, made.cert.pem()).unwrap();
        let f = cert_findings(&cfg, now_unix());
        assert_eq!(f.0[0].0, Level::Warning, "{:?}", f.0);
        assert!(f.0[0].1.contains("names localhost *.localhost") && f.0[0].1.contains("expires"), "{:?}", f.0);
        // The same certificate configured, seen from far in the future: expired.
        cfg.vhosts[0].cert = Some(generated);
        // (rcgen's certificates run until 4096.)
        let f = cert_findings(&cfg, 100_000_000_000);
        assert_eq!(f.0[0].0, Level::Error, "{:?}", f.0);
        assert!(f.0[0].1.ends_with("expired; renew it"), "{:?}", f.0);
        // Configured for another name.
        cfg.vhosts[0].domain = "other.example".into();
        let f = cert_findings(&cfg, now_unix());
        assert!(f.0[0].1.contains("does not name other.example"), "{:?}", f.0);
        assert_eq!(f.finish(), ExitCode::FAILURE);
        // A file that is no certificate.
        let junk = dir.join("junk.crt");
        std::fs::write(&junk, "junk").unwrap();
        cfg.vhosts[0].cert = Some(junk);
        let f = cert_findings(&cfg, now_unix());
        assert!(f.0[0].1.contains("no PEM certificate"), "{:?}", f.0);
        let _ = std::fs::remove_dir_all(dir);
    }
}
