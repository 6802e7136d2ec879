//! Certificates between servers (XEP-0178): a certificate from a trusted CA
//! proves its domain, and SASL EXTERNAL authenticates with it; a
//! certificate for another domain proves nothing, and a server that
//! requires proof refuses such a peer.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use waxwing_tests::{Mech, RawClient, Server, body, check_stream_error};

const PW: &str = "s2s-certs-pw";
const WAIT: Duration = Duration::from_secs(10);

/// A test CA that issues server certificates (server use only, as public
/// CAs issue them today) into `dir`.
struct Ca {
    params: CertificateParams,
    key: KeyPair,
    dir: PathBuf,
}

impl Ca {
    fn new(dir: &Path) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, "Waxwing test CA");
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        std::fs::write(dir.join("ca.pem"), cert.pem()).unwrap();
        Ca { params, key, dir: dir.to_path_buf() }
    }

    fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// Issues a certificate for `names`; returns (cert, key) paths.
    fn issue(&self, file: &str, names: &[&str]) -> (PathBuf, PathBuf) {
        let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &Issuer::from_params(&self.params, &self.key)).unwrap();
        let (c, k) = (self.dir.join(format!("{file}.crt")), self.dir.join(format!("{file}.key")));
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    }
}

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("waxwing-s2s-certs-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn toml_path(p: &Path) -> String {
    format!("{:?}", p.display().to_string())
}

/// A server for `domain` with the CA's certificate, trusting only the CA
/// and requiring peers to prove their domain by certificate.
fn server(ca: &Ca, domain: &str, own: SocketAddr, peers: &[(&str, SocketAddr)]) -> Server {
    let (cert, key) = ca.issue(domain, &[domain, &format!("*.{domain}")]);
    let routes: Vec<String> = peers.iter().map(|(d, a)| format!("\"{d}\" = \"{a}\"")).collect();
    let mut s = Server::configure_listening(
        &format!("s2s = [\"{own}\"]"),
        &format!(
            "[s2s]\nrequire_valid_certificate = true\ndialback = false\nca_file = {}\nconnect_timeout_secs = 5\n\
             routes = {{ {} }}\n[[vhost]]\ndomain = \"{domain}\"\ncert = {}\nkey = {}\n",
            toml_path(&ca.ca_file()),
            routes.join(", "),
            toml_path(&cert),
            toml_path(&key)
        ),
    );
    s.launch();
    s
}

async fn login(server: &Server, jid: &str, ca: &Ca) -> RawClient {
    let mut c = RawClient::connect_to(server.c2s_addr(), &ca.ca_file()).await;
    c.authenticate_and_bind(jid, PW, Mech::ScramSha256, Some("t")).await;
    c
}

#[tokio::test]
async fn servers_with_certificates_from_a_trusted_ca_authenticate_by_sasl_external() {
    let dir = scratch("external");
    let ca = Ca::new(&dir);
    let (pa, pb) = (free_addr(), free_addr());
    let a = server(&ca, "a.test", pa, &[("b.test", pb)]);
    let b = server(&ca, "b.test", pb, &[("a.test", pa)]);
    let (_la, _lb) = (a.log_on_panic(), b.log_on_panic());
    a.add_user("alice@a.test", PW);
    b.add_user("bob@b.test", PW);
    let mut alice = login(&a, "alice@a.test", &ca).await;
    let mut bob = login(&b, "bob@b.test", &ca).await;
    bob.available(0).await;
    alice.available(0).await;
    alice.send("<message to='bob@b.test' type='chat'><body>signed and sealed</body></message>").await;
    assert_eq!(body(&bob.next_message().await), "signed and sealed");
    bob.send("<message to='alice@a.test' type='chat'><body>likewise</body></message>").await;
    assert_eq!(body(&alice.next_message().await), "likewise");
    // Dialback is off on both: EXTERNAL is the only way these got through.
    assert!(b.log_text().contains("authenticated by SASL EXTERNAL"), "{}", b.log_tail(40));
    assert!(a.log_text().contains("authenticated by SASL EXTERNAL"), "{}", a.log_tail(40));
    let _ = std::fs::remove_dir_all(dir);
}

/// A raw peer that encrypts with a client certificate, for a.test's s2s port.
struct TlsPeer {
    tls: tokio_rustls::client::TlsStream<TcpStream>,
    text: String,
}

impl TlsPeer {
    async fn until(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        let mut buf = [0u8; 4096];
        while !self.text.contains(needle) {
            match timeout_at(deadline, self.tls.read(&mut buf)).await {
                Ok(Ok(0)) => panic!("closed before {needle:?}; got {:?}", self.text),
                Ok(Ok(n)) => self.text.push_str(&String::from_utf8_lossy(&buf[..n])),
                Ok(Err(e)) => panic!("reading: {e}; got {:?}", self.text),
                Err(_) => panic!("no {needle:?} within {WAIT:?}; got {:?}", self.text),
            }
        }
        std::mem::take(&mut self.text)
    }

    async fn send(&mut self, data: &str) {
        self.tls.write_all(data.as_bytes()).await.unwrap();
    }
}

const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:server' \
    xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' \
    from='evil.test' to='a.test' version='1.0'>";

/// Connects to `addr`, STARTTLS with the certificate `(cert, key)`, reopens
/// the stream and returns the features.
async fn starttls_as(addr: SocketAddr, ca: &Ca, cert: &Path, key: &Path) -> (TlsPeer, String) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(HEADER.as_bytes()).await.unwrap();
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    while !text.contains("</stream:features>") {
        let n = tcp.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed: {text}");
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    tcp.write_all(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>").await.unwrap();
    let mut text = String::new();
    while !text.contains("<proceed") {
        let n = tcp.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed: {text}");
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_file(ca.ca_file()).unwrap()).unwrap();
    let chain = vec![CertificateDer::from_pem_file(cert).unwrap()];
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
    let name = ServerName::try_from("a.test".to_string()).unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await.expect("TLS with a.test");
    let mut peer = TlsPeer { tls, text: String::new() };
    peer.send(HEADER).await;
    let features = peer.until("</stream:features>").await;
    (peer, features)
}

#[tokio::test]
async fn a_certificate_proves_only_the_domain_it_names() {
    let dir = scratch("wrong-domain");
    let ca = Ca::new(&dir);
    let a = server(&ca, "a.test", free_addr(), &[]);
    let _log = a.log_on_panic();
    a.add_user("alice@a.test", PW);
    let mut alice = login(&a, "alice@a.test", &ca).await;
    alice.available(0).await;
    let external = base64::engine::general_purpose::STANDARD.encode("evil.test");

    // A certificate for another domain: no EXTERNAL offered, EXTERNAL
    // refused when tried anyway, and no dialback to fall back on.
    let (wrong_cert, wrong_key) = ca.issue("wrong", &["wrong.test"]);
    let (mut peer, features) = starttls_as(a.s2s_addr(), &ca, &wrong_cert, &wrong_key).await;
    assert!(!features.contains("EXTERNAL"), "{features}");
    assert!(!features.contains("urn:xmpp:features:dialback"), "dialback is off: {features}");
    peer.send(&format!("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>{external}</auth>")).await;
    let answer = peer.until("</failure>").await;
    assert!(answer.contains("<not-authorized/>"), "{answer}");
    peer.send("<message from='m@evil.test' to='alice@a.test'><body>trust me</body></message>").await;
    let mut rest = String::new();
    let mut buf = [0u8; 4096];
    loop {
        match timeout_at(Instant::now() + WAIT, peer.tls.read(&mut buf)).await.expect("the server closes") {
            Ok(0) | Err(_) => break,
            Ok(n) => rest.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    check_stream_error(&rest, "not-authorized").unwrap_or_else(|e| panic!("{e}: {rest}"));

    // The right certificate: EXTERNAL offered and accepted, then stanzas flow.
    let (right_cert, right_key) = ca.issue("evil", &["evil.test"]);
    let (mut peer, features) = starttls_as(a.s2s_addr(), &ca, &right_cert, &right_key).await;
    assert!(features.contains("<mechanism>EXTERNAL</mechanism>"), "{features}");
    peer.send(&format!("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>{external}</auth>")).await;
    let answer = peer.until("<success").await;
    assert!(answer.contains("urn:ietf:params:xml:ns:xmpp-sasl"), "{answer}");
    peer.send(HEADER).await;
    peer.until("</stream:features>").await;
    peer.send("<message from='m@evil.test' to='alice@a.test' type='chat'><body>certified</body></message>").await;
    let m = alice.next_message().await;
    assert_eq!(body(&m), "certified");
    let _ = std::fs::remove_dir_all(dir);
}

/// A self-signed certificate for `domain` (and its subdomains) in `dir`.
fn self_signed(dir: &Path, domain: &str) -> (PathBuf, PathBuf) {
    let key = KeyPair::generate().unwrap();
    let cert =
        CertificateParams::new(vec![domain.to_string(), format!("*.{domain}")]).unwrap().self_signed(&key).unwrap();
    let (c, k) = (dir.join(format!("{domain}.self.crt")), dir.join(format!("{domain}.self.key")));
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (c, k)
}

#[tokio::test]
async fn pinned_self_signed_certificates_prove_their_domains() {
    let dir = scratch("pinned");
    let (pa, pb) = (free_addr(), free_addr());
    let (a_cert, a_key) = self_signed(&dir, "a.test");
    let (b_cert, b_key) = self_signed(&dir, "b.test");
    let start = |domain: &str,
                 own: SocketAddr,
                 cert: &Path,
                 key: &Path,
                 peer: &str,
                 peer_addr: SocketAddr,
                 peer_cert: &Path| {
        let mut s = Server::configure_listening(
            &format!("s2s = [\"{own}\"]"),
            &format!(
                "[s2s]\nrequire_valid_certificate = true\ndialback = false\nconnect_timeout_secs = 5\n\
                 routes = {{ \"{peer}\" = \"{peer_addr}\" }}\npinned = {{ \"{peer}\" = {} }}\n\
                 [[vhost]]\ndomain = \"{domain}\"\ncert = {}\nkey = {}\n",
                toml_path(peer_cert),
                toml_path(cert),
                toml_path(key)
            ),
        );
        s.launch();
        s
    };
    let a = start("a.test", pa, &a_cert, &a_key, "b.test", pb, &b_cert);
    let b = start("b.test", pb, &b_cert, &b_key, "a.test", pa, &a_cert);
    let (_la, _lb) = (a.log_on_panic(), b.log_on_panic());
    a.add_user("alice@a.test", PW);
    b.add_user("bob@b.test", PW);
    let mut bob = RawClient::connect_to(b.c2s_addr(), &b_cert).await;
    bob.authenticate_and_bind("bob@b.test", PW, Mech::ScramSha256, Some("t")).await;
    bob.available(0).await;
    let mut alice = RawClient::connect_to(a.c2s_addr(), &a_cert).await;
    alice.authenticate_and_bind("alice@a.test", PW, Mech::ScramSha256, Some("t")).await;
    alice.send("<message to='bob@b.test' type='chat'><body>pinned</body></message>").await;
    assert_eq!(body(&bob.next_message().await), "pinned");
    assert!(b.log_text().contains("authenticated by SASL EXTERNAL"), "{}", b.log_tail(40));
    let _ = std::fs::remove_dir_all(dir);
}
