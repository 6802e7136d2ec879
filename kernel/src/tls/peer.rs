//! TLS between servers (RFC 6120 §13.7.2, XEP-0178).
//!
//! A handshake between servers never fails over the certificate: a peer
//! whose certificate does not prove its domain may still prove it by
//! dialback (XEP-0220), so the verifiers here check only the handshake's
//! signatures and the stream decides afterwards with [`PeerTrust::proves`].
//! That check accepts certificates issued for server use as well as client
//! use: public CAs no longer put `clientAuth` in server certificates, and
//! the peer that dials us presents the same certificate it serves with.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context as _, anyhow};
use rustls::client::ResolvesClientCert;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};

use crate::config::S2sSection;

/// Who may vouch for a peer's domain: trust roots, and pinned certificates.
#[derive(Debug)]
pub struct PeerTrust {
    roots: RootCertStore,
    pinned: HashMap<String, Vec<CertificateDer<'static>>>,
    algs: WebPkiSupportedAlgorithms,
}

impl PeerTrust {
    /// The configured roots (`s2s.ca_file`, else the system's) and pins.
    pub fn load(cfg: &S2sSection, provider: &CryptoProvider) -> anyhow::Result<Self> {
        let mut roots = RootCertStore::empty();
        match &cfg.ca_file {
            Some(path) => {
                for cert in read_pem_certs(path).context("s2s.ca_file")? {
                    roots.add(cert).map_err(|e| {
                        anyhow!("s2s.ca_file {}: a certificate is not a usable root: {e}", path.display())
                    })?;
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                for e in &found.errors {
                    tracing::warn!("reading the system's trust roots: {e}");
                }
                let (added, _ignored) = roots.add_parsable_certificates(found.certs);
                tracing::debug!("{added} system trust roots for server-to-server");
            }
        }
        let mut pinned = HashMap::new();
        for (domain, path) in &cfg.pinned {
            let certs = read_pem_certs(path).with_context(|| format!("s2s.pinned.{domain:?}"))?;
            pinned.insert(domain.clone(), certs);
        }
        Ok(PeerTrust { roots, pinned, algs: provider.signature_verification_algorithms })
    }

    /// Whether `chain` (leaf first) proves `domain`: the leaf is pinned for
    /// it, or chains to a trusted root for server or client use and names
    /// the domain.
    pub fn proves(&self, chain: &[CertificateDer<'_>], domain: &str) -> bool {
        let Some(leaf) = chain.first() else { return false };
        if let Some(pins) = self.pinned.get(domain) {
            return pins.iter().any(|p| p.as_ref() == leaf.as_ref());
        }
        let Ok(name) = ServerName::try_from(domain) else { return false };
        let Ok(cert) = webpki::EndEntityCert::try_from(leaf) else { return false };
        let now = UnixTime::now();
        let chains = |usage: webpki::KeyUsage| {
            cert.verify_for_usage(self.algs.all, &self.roots.roots, &chain[1..], now, usage, None, None).is_ok()
        };
        (chains(webpki::KeyUsage::server_auth()) || chains(webpki::KeyUsage::client_auth()))
            && cert.verify_is_valid_for_subject_name(&name).is_ok()
    }
}

fn read_pem_certs(path: &std::path::Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow!("{} is not valid PEM: {e}", path.display()))?;
    if certs.is_empty() {
        anyhow::bail!("{} holds no \"BEGIN CERTIFICATE\" section", path.display());
    }
    Ok(certs)
}

/// Asks for a client certificate and takes any, checking only that the
/// peer holds its key: the stream judges the certificate afterwards.
#[derive(Debug)]
pub struct AnyClientCert(pub WebPkiSupportedAlgorithms);

impl ClientCertVerifier for AnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// The server side's twin of [`AnyClientCert`], for the connections we dial.
#[derive(Debug)]
struct AnyServerCert(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// Presents one local domain's certificate when a peer asks for ours.
#[derive(Debug)]
struct OwnCert(Arc<CertifiedKey>);

impl ResolvesClientCert for OwnCert {
    fn resolve(&self, _hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// The client config for connections dialled on behalf of one local
/// domain: offers ALPN `xmpp-server` when `direct_tls` and presents `own`.
pub fn dial_config(
    provider: &Arc<CryptoProvider>,
    own: Option<Arc<CertifiedKey>>,
    direct_tls: bool,
) -> anyhow::Result<ClientConfig> {
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("building the server-to-server TLS client config")?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServerCert(provider.signature_verification_algorithms)));
    let mut config = match own {
        Some(key) => builder.with_client_cert_resolver(Arc::new(OwnCert(key))),
        None => builder.with_no_client_auth(),
    };
    if direct_tls {
        config.alpn_protocols = vec![super::ALPN_XMPP_SERVER.to_vec()];
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair};

    struct Ca {
        params: CertificateParams,
        cert: rcgen::Certificate,
        key: KeyPair,
    }

    fn ca() -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        Ca { cert: params.self_signed(&key).unwrap(), params, key }
    }

    fn leaf(ca: &Ca, names: &[&str], eku: Vec<ExtendedKeyUsagePurpose>) -> CertificateDer<'static> {
        let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        p.extended_key_usages = eku;
        let key = KeyPair::generate().unwrap();
        let issuer = rcgen::Issuer::from_params(&ca.params, &ca.key);
        p.signed_by(&key, &issuer).unwrap().der().clone()
    }

    fn trust(ca: &Ca) -> PeerTrust {
        let mut roots = RootCertStore::empty();
        roots.add(ca.cert.der().clone()).unwrap();
        let provider = rustls::crypto::ring::default_provider();
        PeerTrust { roots, pinned: HashMap::new(), algs: provider.signature_verification_algorithms }
    }

    #[test]
    fn a_server_use_certificate_proves_its_domain_and_no_other() {
        let ca = ca();
        let t = trust(&ca);
        let server_only = leaf(&ca, &["peer.example"], vec![ExtendedKeyUsagePurpose::ServerAuth]);
        assert!(t.proves(std::slice::from_ref(&server_only), "peer.example"));
        assert!(!t.proves(&[server_only], "other.example"), "wrong domain");
        let client_only = leaf(&ca, &["peer.example"], vec![ExtendedKeyUsagePurpose::ClientAuth]);
        assert!(t.proves(&[client_only], "peer.example"));
        let other_ca = self::ca();
        let stranger = leaf(&other_ca, &["peer.example"], vec![ExtendedKeyUsagePurpose::ServerAuth]);
        assert!(!t.proves(&[stranger], "peer.example"), "untrusted issuer");
        assert!(!t.proves(&[], "peer.example"));
    }

    #[test]
    fn unreadable_roots_and_pins_are_named() {
        let dir = crate::testutil::tempdir("peer-trust");
        let junk = dir.join("junk.pem");
        std::fs::write(&junk, "this is not PEM").unwrap();
        let provider = rustls::crypto::ring::default_provider();
        let cfg = S2sSection { ca_file: Some(junk.clone()), ..S2sSection::default() };
        let err = format!("{:#}", PeerTrust::load(&cfg, &provider).unwrap_err());
        assert!(err.contains("s2s.ca_file") && err.contains("junk.pem"), "{err}");
        let mut cfg = S2sSection::default();
        cfg.pinned.insert("peer.example".into(), junk);
        let err = format!("{:#}", PeerTrust::load(&cfg, &provider).unwrap_err());
        assert!(err.contains("s2s.pinned") && err.contains("peer.example"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_pinned_certificate_proves_only_its_domain() {
        let ca = ca();
        let mut t = trust(&ca);
        let self_signed = {
            let key = KeyPair::generate().unwrap();
            CertificateParams::new(vec!["pinned.example".to_string()]).unwrap().self_signed(&key).unwrap().der().clone()
        };
        assert!(!t.proves(std::slice::from_ref(&self_signed), "pinned.example"));
        t.pinned.insert("pinned.example".into(), vec![self_signed.clone()]);
        assert!(t.proves(std::slice::from_ref(&self_signed), "pinned.example"));
        assert!(!t.proves(&[self_signed], "other.example"));
        // A pin replaces the CAs for its domain.
        let issued = leaf(&ca, &["pinned.example"], vec![ExtendedKeyUsagePurpose::ServerAuth]);
        assert!(!t.proves(&[issued], "pinned.example"));
    }
}
