//! Real handshakes over a loopback socket between the server configs and a
//! tokio-rustls client.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore, SupportedProtocolVersion};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::*;
use crate::config::{Config, VhostConfig};
use crate::testutil::tempdir;

/// A vhost on a development certificate; built from the default one so that
/// fields TLS does not read need no mention here.
pub(super) fn vhost(domain: &str) -> VhostConfig {
    let mut v = Config::default().vhosts.into_iter().next().expect("a default vhost");
    v.domain = domain.into();
    v.cert = None;
    v.key = None;
    v
}

fn config(dir: &std::path::Path) -> Config {
    let mut cfg = Config::default();
    cfg.server.data_dir = dir.to_path_buf();
    cfg.vhosts = vec![vhost("a.example"), vhost("b.example")];
    cfg
}

pub(super) fn dev_cert(dir: &std::path::Path, domain: &str) -> CertificateDer<'static> {
    let pem = std::fs::read(dir.join("tls").join(format!("{domain}.crt"))).unwrap();
    rustls::pki_types::pem::PemObject::from_pem_slice(&pem).unwrap()
}

pub(super) struct Outcome {
    client_export: Option<Vec<u8>>,
    server_binding: Option<Vec<u8>>,
    pub(super) peer_cert: CertificateDer<'static>,
    alpn: Option<Vec<u8>>,
}

pub(super) async fn handshake(
    server: Arc<rustls::ServerConfig>,
    roots: RootCertStore,
    version: &'static SupportedProtocolVersion,
    sni: &str,
    alpn: Option<&[u8]>,
) -> Outcome {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accept = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let tls = TlsAcceptor::from(server).accept(tcp).await.unwrap();
        exporter_binding(tls.get_ref().1)
    });
    let mut client = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[version])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = alpn.into_iter().map(|a| a.to_vec()).collect();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from(sni.to_string()).unwrap();
    let tls = TlsConnector::from(Arc::new(client)).connect(name, tcp).await.unwrap();
    let conn = tls.get_ref().1;
    let client_export = conn.export_keying_material(vec![0u8; 32], EXPORTER_LABEL, None).ok();
    let peer_cert = conn.peer_certificates().unwrap()[0].clone();
    let alpn = conn.alpn_protocol().map(|a| a.to_vec());
    let server_binding = accept.await.unwrap();
    Outcome { client_export, server_binding, peer_cert, alpn }
}

pub(super) fn roots(certs: &[CertificateDer<'static>]) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    for c in certs {
        roots.add(c.clone()).unwrap();
    }
    roots
}

#[tokio::test]
async fn tls13_exporter_matches_on_both_sides() {
    let dir = tempdir("tls-hs");
    let tls = load(&config(&dir)).unwrap();
    let a = dev_cert(&dir, "a.example");
    let out =
        handshake(tls.starttls.clone(), roots(std::slice::from_ref(&a)), &rustls::version::TLS13, "a.example", None)
            .await;
    let server = out.server_binding.expect("a TLS 1.3 binding");
    assert_eq!(server.len(), 32);
    assert_eq!(Some(server), out.client_export);
    assert_eq!(out.alpn, None);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn tls12_has_no_binding() {
    let dir = tempdir("tls-hs");
    let tls = load(&config(&dir)).unwrap();
    let a = dev_cert(&dir, "a.example");
    let out = handshake(tls.starttls.clone(), roots(&[a]), &rustls::version::TLS12, "a.example", None).await;
    assert_eq!(out.server_binding, None);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn sni_picks_the_vhost_and_its_subdomains() {
    let dir = tempdir("tls-hs");
    let tls = load(&config(&dir)).unwrap();
    let (a, b) = (dev_cert(&dir, "a.example"), dev_cert(&dir, "b.example"));
    let both = roots(&[a.clone(), b.clone()]);
    let v13 = &rustls::version::TLS13;
    let out = handshake(tls.direct.clone(), both.clone(), v13, "b.example", Some(ALPN_XMPP_CLIENT)).await;
    assert_eq!(out.peer_cert, b);
    assert_eq!(out.alpn.as_deref(), Some(ALPN_XMPP_CLIENT));
    let out = handshake(tls.direct.clone(), both.clone(), v13, "muc.b.example", None).await;
    assert_eq!(out.peer_cert, b);
    let out = handshake(tls.direct.clone(), both, v13, "a.example", None).await;
    assert_eq!(out.peer_cert, a);
    // A second load reuses the generated files rather than replacing them.
    load(&config(&dir)).unwrap();
    assert_eq!(dev_cert(&dir, "b.example"), b);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn configured_files_are_checked_and_named() {
    let dir = tempdir("tls-cfg");
    let mut cfg = config(&dir);
    let bad = dir.join("bad.crt");
    std::fs::write(&bad, "nonsense").unwrap();
    cfg.vhosts[1].cert = Some(bad);
    cfg.vhosts[1].key = Some(dir.join("bad.key"));
    let err = format!("{:#}", load(&cfg).unwrap_err());
    assert!(err.contains("bad.crt") && err.contains("b.example"), "{err}");
    let err = format!("{:#}", check_configured(&cfg).unwrap_err());
    assert!(err.contains("bad.crt"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}
