//! TLS: one certificate per virtual host, chosen by SNI, served to clients
//! and servers over STARTTLS (RFC 6120 §5) and direct TLS (XEP-0368), and
//! presented on the connections we dial to other servers (`peer.rs`).
//!
//! A vhost without a configured certificate gets a self-signed development
//! certificate under `<data_dir>/tls/`, generated once and reused, so that a
//! fresh checkout serves TLS with no setup and clients can pin it.

mod certs;
mod peer;
mod sni;

#[cfg(test)]
mod handshake_tests;

use std::sync::Arc;

use anyhow::Context as _;
use rustls::crypto::CryptoProvider;
use rustls::{ProtocolVersion, ServerConfig, ServerConnection};

use crate::config::Config;

pub use peer::{PeerTrust, dial_config};
pub use sni::SniResolver;

/// The ALPN protocol id that XEP-0368 direct-TLS clients offer.
pub const ALPN_XMPP_CLIENT: &[u8] = b"xmpp-client";
/// The ALPN protocol id of direct-TLS server-to-server connections (XEP-0368).
pub const ALPN_XMPP_SERVER: &[u8] = b"xmpp-server";

/// RFC 9266 §2: the exporter label for the `tls-exporter` channel binding.
const EXPORTER_LABEL: &[u8] = b"EXPORTER-Channel-Binding";
const EXPORTER_LEN: usize = 32;

/// Server configs sharing one certificate resolver.
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
}

/// The one crypto provider the server uses (ring; aws-lc is not built).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Loads each vhost's certificate (configured files, or the generated
/// development certificate) and builds both server configs.
pub fn load(cfg: &Config) -> anyhow::Result<TlsConfigs> {
    let provider = provider();
    let mut resolver = SniResolver::default();
    for v in &cfg.vhosts {
        let key = match (&v.cert, &v.key) {
            (Some(cert), Some(key)) => certs::load_for(&v.domain, cert, key, &provider),
            _ => certs::development(&cfg.server.data_dir.join("tls"), &v.domain, &provider),
        }
        .with_context(|| format!("TLS certificate for vhost {:?}", v.domain))?;
        resolver.add(&v.domain, Arc::new(key));
    }
    let resolver = Arc::new(resolver);
    let any_client = || Arc::new(peer::AnyClientCert(provider.signature_verification_algorithms));
    Ok(TlsConfigs {
        starttls: Arc::new(server_config(&provider, resolver.clone(), Vec::new(), None)?),
        direct: Arc::new(server_config(&provider, resolver.clone(), vec![ALPN_XMPP_CLIENT.to_vec()], None)?),
        s2s_starttls: Arc::new(server_config(&provider, resolver.clone(), Vec::new(), Some(any_client()))?),
        s2s_direct: Arc::new(server_config(
            &provider,
            resolver.clone(),
            vec![ALPN_XMPP_SERVER.to_vec()],
            Some(any_client()),
        )?),
        https: Arc::new(server_config(&provider, resolver.clone(), vec![b"http/1.1".to_vec()], None)?),
        certs: resolver,
    })
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
