//! TLS: one certificate per virtual host, chosen by SNI, served to clients
//! and servers over STARTTLS (RFC 6120 §5) and direct TLS (XEP-0368), and
//! presented on the connections we dial to other servers (`peer.rs`).
//!
//! A vhost without a configured certificate gets a self-signed development
//! certificate under `<data_dir>/tls/`, generated once and reused, so that a
//! fresh checkout serves TLS with no setup and clients can pin it.
//!
//! Vhosts can be added, changed and removed while the server runs
//! (`TlsConfigs::set_vhost`, `remove_vhost`), and configured certificate
//! files are reloaded when they change (`spawn_cert_watcher`), so neither a
//! new tenant nor a renewed certificate needs a restart.

mod certs;
mod peer;
mod sni;
mod watch;

#[cfg(test)]
mod handshake_tests;
#[cfg(test)]
mod watch_tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use rustls::crypto::CryptoProvider;
use rustls::{ProtocolVersion, ServerConfig, ServerConnection};

use crate::config::{Config, VhostConfig};

pub use peer::{PeerTrust, dial_config};
pub use sni::SniResolver;

/// The ALPN protocol id that XEP-0368 direct-TLS clients offer.
pub const ALPN_XMPP_CLIENT: &[u8] = b"xmpp-client";
/// The ALPN protocol id of direct-TLS server-to-server connections (XEP-0368).
pub const ALPN_XMPP_SERVER: &[u8] = b"xmpp-server";

/// RFC 9266 §2: the exporter label for the `tls-exporter` channel binding.
const EXPORTER_LABEL: &[u8] = b"EXPORTER-Channel-Binding";
const EXPORTER_LEN: usize = 32;

/// How often `spawn_cert_watcher` should look at the certificate files: a
/// renewal happens well before expiry, so seconds of delay do not matter.
pub const CERT_POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Server configs sharing one certificate resolver. Clones share it too, so
/// a vhost set or removed through any clone is seen by all.
#[derive(Debug, Clone)]
pub struct TlsConfigs {
    /// For STARTTLS on the plain c2s port: no ALPN, as the stream is already XMPP.
    pub starttls: Arc<ServerConfig>,
    /// For direct TLS (XEP-0368): offers ALPN `xmpp-client`.
    pub direct: Arc<ServerConfig>,
    /// For servers dialling us, over STARTTLS: asks for (and accepts any)
    /// client certificate, judged afterwards by the s2s stream.
    pub s2s_starttls: Arc<ServerConfig>,
    /// The same for direct TLS, offering ALPN `xmpp-server`.
    pub s2s_direct: Arc<ServerConfig>,
    /// For HTTPS (WebSocket, host-meta): offers ALPN `http/1.1`.
    pub https: Arc<ServerConfig>,
    /// Each vhost's certificate, for the connections we dial to other servers.
    pub certs: Arc<SniResolver>,
    vhosts: Arc<watch::Vhosts>,
}

/// The one crypto provider the server uses (ring; aws-lc is not built).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Loads each vhost's certificate (configured files, or the generated
/// development certificate) and builds the server configs.
pub fn load(cfg: &Config) -> anyhow::Result<TlsConfigs> {
    let configs = TlsConfigs::new(provider())?;
    for v in &cfg.vhosts {
        configs.set_vhost(v, &cfg.server.data_dir)?;
    }
    Ok(configs)
}

impl TlsConfigs {
    /// The server configs, serving no vhost yet.
    fn new(provider: Arc<CryptoProvider>) -> anyhow::Result<Self> {
        let resolver = Arc::new(SniResolver::default());
        let any_client = || Arc::new(peer::AnyClientCert(provider.signature_verification_algorithms));
        let config = |alpn: Option<&[u8]>, client_certs: Option<Arc<peer::AnyClientCert>>| {
            let alpn = alpn.into_iter().map(<[u8]>::to_vec).collect();
            server_config(&provider, resolver.clone(), alpn, client_certs).map(Arc::new)
        };
        Ok(TlsConfigs {
            starttls: config(None, None)?,
            direct: config(Some(ALPN_XMPP_CLIENT), None)?,
            s2s_starttls: config(None, Some(any_client()))?,
            s2s_direct: config(Some(ALPN_XMPP_SERVER), Some(any_client()))?,
            https: config(Some(b"http/1.1"), None)?,
            vhosts: Arc::new(watch::Vhosts::new(provider.clone(), resolver.clone())),
            certs: resolver,
        })
    }

    /// Serves the vhost's certificate from the next handshake on: its
    /// configured `cert`/`key` files (then watched for changes), else the
    /// development certificate under `<data_dir>/tls/`, generated if need be.
    /// Adds the vhost, or replaces what it was served with before.
    ///
    /// On error (naming the vhost and the file) the vhost keeps its previous
    /// certificate, if it had one. Reads files and may generate a key: from
    /// async code, call it through `tokio::task::spawn_blocking`.
    pub fn set_vhost(&self, v: &VhostConfig, data_dir: &Path) -> anyhow::Result<()> {
        self.vhosts.set(v, data_dir)
    }

    /// Stops serving the vhost's certificate and watching its files. Names of
    /// a removed vhost get the fallback certificate, like any unknown name.
    pub fn remove_vhost(&self, domain: &str) {
        self.vhosts.remove(domain);
    }

    /// The certificate and key files watched for each vhost that has them
    /// configured, as `(domain, cert, key)`, by domain.
    pub fn watched_files(&self) -> Vec<(String, PathBuf, PathBuf)> {
        self.vhosts.watched()
    }
}

/// Reloads a vhost's configured certificate when its files change (looked at
/// every `interval`, `CERT_POLL_INTERVAL` in the server): certbot renews in
/// place or swaps symlinks, and clients should get the new certificate
/// without a restart. A pair that fails to load (half written, key and
/// certificate not matching, wrong name) is logged once, the previous
/// certificate stays, and it is tried again when the files change next.
///
/// Follows `set_vhost` and `remove_vhost`. Ends by itself once every clone of
/// `configs` is dropped; must be called within a tokio runtime.
pub fn spawn_cert_watcher(configs: &TlsConfigs, interval: Duration) -> tokio::task::JoinHandle<()> {
    watch::spawn(Arc::downgrade(&configs.vhosts), interval)
}

/// Checks that the certificate and key files named in the config parse and
/// match, without generating anything: for `waxwing check-config`.
pub fn check_configured(cfg: &Config) -> anyhow::Result<()> {
    let provider = provider();
    for v in &cfg.vhosts {
        if let (Some(cert), Some(key)) = (&v.cert, &v.key) {
            certs::load_for(&v.domain, cert, key, &provider)
                .with_context(|| format!("TLS certificate for vhost {:?}", v.domain))?;
        }
    }
    // The s2s trust roots and pins parse, or the start would fail on them.
    PeerTrust::load(&cfg.s2s, &provider).context("s2s trust roots")?;
    Ok(())
}

fn server_config(
    provider: &Arc<CryptoProvider>,
    resolver: Arc<SniResolver>,
    alpn: Vec<Vec<u8>>,
    client_certs: Option<Arc<peer::AnyClientCert>>,
) -> anyhow::Result<ServerConfig> {
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("building the TLS server config")?;
    let builder = match client_certs {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(resolver);
    config.alpn_protocols = alpn;
    Ok(config)
}

/// The RFC 9266 `tls-exporter` channel binding for SCRAM-*-PLUS, or `None`
/// when it must not be offered.
///
/// Only TLS 1.3: RFC 9266 allows the exporter under TLS 1.2 only with the
/// extended master secret, and rustls does not tell us per connection
/// whether EMS was negotiated, so under 1.2 a binding could be forged by a
/// man in the middle (the triple-handshake attack). Offering no binding
/// there is safe: clients fall back to the non-PLUS mechanisms.
pub fn exporter_binding(conn: &ServerConnection) -> Option<Vec<u8>> {
    if conn.protocol_version() != Some(ProtocolVersion::TLSv1_3) {
        return None;
    }
    conn.export_keying_material(vec![0u8; EXPORTER_LEN], EXPORTER_LABEL, None).ok()
}
