//! Vhosts added and removed at run time, and certificate files reloaded when
//! they change, seen through real handshakes where it matters.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustls::pki_types::CertificateDer;

use super::handshake_tests::{dev_cert, handshake, roots, vhost};
use super::*;
use crate::testutil::tempdir;

static TLS13: &rustls::SupportedProtocolVersion = &rustls::version::TLS13;

/// A certificate for `domain` and its key, as PEM, and the certificate's DER.
struct Issued {
    cert_pem: String,
    key_pem: String,
    der: CertificateDer<'static>,
}

fn issue(domain: &str) -> Issued {
    let params = rcgen::CertificateParams::new(vec![domain.to_string()]).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    Issued { cert_pem: cert.pem(), key_pem: key.serialize_pem(), der: cert.der().clone() }
}

/// Waits out the file system's timestamp granularity (a kernel tick on
/// some), so that a rewrite of the same length still shows a new mtime.
fn tick() {
    std::thread::sleep(Duration::from_millis(25));
}

/// Writes in place (same inode), as a renewal that rewrites the files does.
/// The key first: a poll in between sees a mismatched pair, which must only
/// delay the reload until the certificate follows.
fn rewrite(dir: &Path, name: &str, issued: &Issued) -> (PathBuf, PathBuf) {
    let (crt, key) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
    tick();
    std::fs::write(&key, &issued.key_pem).unwrap();
    std::fs::write(&crt, &issued.cert_pem).unwrap();
    (crt, key)
}

fn configured(domain: &str, cert: &Path, key: &Path) -> VhostConfig {
    let mut v = vhost(domain);
    v.cert = Some(cert.to_path_buf());
    v.key = Some(key.to_path_buf());
    v
}

fn tls_with(dir: &Path, vhosts: Vec<VhostConfig>) -> TlsConfigs {
    let mut cfg = Config::default();
    cfg.server.data_dir = dir.to_path_buf();
    cfg.vhosts = vhosts;
    load(&cfg).unwrap()
}

fn served(tls: &TlsConfigs, name: &str) -> CertificateDer<'static> {
    tls.certs.choose(Some(name)).expect("a certificate").cert[0].clone()
}

/// Handshakes until a client asking for `sni` is served `want`, failing the
/// test after a few seconds.
async fn wait_for_served(
    tls: &TlsConfigs,
    sni: &str,
    trusted: &[CertificateDer<'static>],
    want: &CertificateDer<'static>,
) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = handshake(tls.direct.clone(), roots(trusted), TLS13, sni, None).await;
        if &out.peer_cert == want {
            return;
        }
        assert!(Instant::now() < deadline, "the watcher did not pick up the new certificate of {sni}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Everything logged while `f` runs on this thread.
fn logged(f: impl FnOnce()) -> String {
    let buf = crate::testutil::LogBuf::default();
    let out = buf.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || buf.clone()).with_ansi(false).finish();
    tracing::subscriber::with_default(subscriber, f);
    out.text()
}

#[tokio::test]
async fn tenants_come_and_go_between_handshakes() {
    let dir = tempdir("tls-live");
    let tls = tls_with(&dir, vec![vhost("a.example")]);
    let a = dev_cert(&dir, "a.example");
    // A clone, as the c2s and s2s listeners hold: changes through one reach all.
    let held = tls.clone();
    // Handshakes only for names the certificate covers: the client checks them.
    assert_eq!(served(&held, "b.example"), a, "an unknown name gets the fallback");

    tls.set_vhost(&vhost("b.example"), &dir).unwrap();
    let b = dev_cert(&dir, "b.example");
    let both = [a.clone(), b.clone()];
    assert_eq!(handshake(held.direct.clone(), roots(&both), TLS13, "b.example", None).await.peer_cert, b);
    assert_eq!(handshake(held.s2s_direct.clone(), roots(&both), TLS13, "muc.b.example", None).await.peer_cert, b);
    assert_eq!(held.certs.domains(), ["a.example", "b.example"]);

    // A failed change names the vhost and file, and leaves the vhost as it was.
    let bad = dir.join("bad.crt");
    std::fs::write(&bad, "nonsense").unwrap();
    let err = format!("{:#}", tls.set_vhost(&configured("b.example", &bad, &dir.join("bad.key")), &dir).unwrap_err());
    assert!(err.contains("b.example") && err.contains("bad.crt"), "{err}");
    assert_eq!(handshake(held.direct.clone(), roots(&both), TLS13, "b.example", None).await.peer_cert, b);
    assert!(tls.watched_files().is_empty(), "nothing watched for a change that failed");

    // The first vhost goes: the fallback moves to the one left.
    tls.remove_vhost("A.example");
    assert_eq!(held.certs.domains(), ["b.example"]);
    assert_eq!(served(&held, "a.example"), b);
    assert_eq!(handshake(held.starttls.clone(), roots(&both), TLS13, "b.example", None).await.peer_cert, b);
    tls.remove_vhost("b.example");
    assert!(held.certs.choose(None).is_none());
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn renewed_files_are_served_on_the_next_handshake() {
    let dir = tempdir("tls-watch");
    let (first, second, third) = (issue("a.example"), issue("a.example"), issue("a.example"));
    let trusted = [first.der.clone(), second.der.clone(), third.der.clone()];
    // certbot's layout: live/ links into archive/.
    let (archive, live) = (dir.join("archive"), dir.join("live"));
    std::fs::create_dir_all(&archive).unwrap();
    std::fs::create_dir_all(&live).unwrap();
    let (crt1, key1) = rewrite(&archive, "1", &first);
    let (crt, key) = (live.join("cert.pem"), live.join("privkey.pem"));
    std::os::unix::fs::symlink(&crt1, &crt).unwrap();
    std::os::unix::fs::symlink(&key1, &key).unwrap();
    let tls = tls_with(&dir, vec![configured("a.example", &crt, &key), vhost("b.example")]);
    assert_eq!(tls.watched_files(), [("a.example".to_string(), crt.clone(), key.clone())]);
    let watcher = spawn_cert_watcher(&tls, Duration::from_millis(50));
    assert_eq!(handshake(tls.direct.clone(), roots(&trusted), TLS13, "a.example", None).await.peer_cert, first.der);

    // Rewritten in place, behind the link.
    rewrite(&archive, "1", &second);
    wait_for_served(&tls, "a.example", &trusted, &second.der).await;

    // A half-written certificate: the renewed one stays.
    std::fs::write(&crt1, &third.cert_pem[..third.cert_pem.len() / 2]).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(handshake(tls.direct.clone(), roots(&trusted), TLS13, "a.example", None).await.peer_cert, second.der);

    // The links swapped to a new pair, as certbot renews.
    let (crt2, key2) = rewrite(&archive, "2", &third);
    for (target, link) in [(&key2, &key), (&crt2, &crt)] {
        let tmp = live.join("link.tmp");
        std::os::unix::fs::symlink(target, &tmp).unwrap();
        std::fs::rename(&tmp, link).unwrap();
    }
    wait_for_served(&tls, "a.example", &trusted, &third.der).await;
    // The other vhost is untouched throughout.
    assert_eq!(served(&tls, "b.example"), dev_cert(&dir, "b.example"));
    watcher.abort();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_broken_pair_is_logged_once_and_the_old_one_kept() {
    let dir = tempdir("tls-watch");
    let (first, second, other) = (issue("a.example"), issue("a.example"), issue("other.example"));
    let (crt, key) = rewrite(&dir, "a", &first);
    let tls = tls_with(&dir, vec![configured("a.example", &crt, &key)]);

    assert_eq!(logged(|| tls.vhosts.poll()), "", "nothing changed, nothing said");

    tick();
    std::fs::write(&crt, "-----BEGIN CERTIFICATE-----\nAAAA\n").unwrap();
    let log = logged(|| tls.vhosts.poll());
    assert!(log.contains("ERROR") && log.contains("vhost a.example") && log.contains("a.crt"), "{log}");
    assert!(log.contains("still serving the previous one"), "{log}");
    assert_eq!(served(&tls, "a.example"), first.der);
    assert_eq!(logged(|| tls.vhosts.poll()), "", "the same broken file is reported once");

    // The new certificate before its key: a mismatch, then the reload.
    tick();
    std::fs::write(&crt, &second.cert_pem).unwrap();
    let log = logged(|| tls.vhosts.poll());
    assert!(log.contains("ERROR") && log.contains("cannot be used together"), "{log}");
    assert_eq!(served(&tls, "a.example"), first.der);
    tick();
    std::fs::write(&key, &second.key_pem).unwrap();
    let log = logged(|| tls.vhosts.poll());
    let want = format!("reloaded the certificate of vhost a.example from {}", crt.display());
    assert!(log.contains(" INFO ") && log.contains(&want), "{log}");
    assert_eq!(served(&tls, "a.example"), second.der);

    // A certificate for another name is refused, not served.
    rewrite(&dir, "a", &other);
    let log = logged(|| tls.vhosts.poll());
    assert!(log.contains("ERROR") && log.contains("does not name a.example"), "{log}");
    assert_eq!(served(&tls, "a.example"), second.der);

    // Gone altogether (a swap caught midway), then back.
    std::fs::remove_file(&crt).unwrap();
    let log = logged(|| tls.vhosts.poll());
    assert!(log.contains("ERROR") && log.contains("reading certificate file"), "{log}");
    rewrite(&dir, "a", &first);
    let log = logged(|| tls.vhosts.poll());
    assert!(log.contains("reloaded"), "{log}");
    assert_eq!(served(&tls, "a.example"), first.der);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn removed_or_reconfigured_vhosts_are_no_longer_watched() {
    let dir = tempdir("tls-watch");
    let (a1, a2, b1) = (issue("a.example"), issue("a.example"), issue("b.example"));
    let (crt_a, key_a) = rewrite(&dir, "a", &a1);
    let (crt_b, key_b) = rewrite(&dir, "b", &b1);
    let tls = tls_with(&dir, vec![configured("a.example", &crt_a, &key_a), configured("b.example", &crt_b, &key_b)]);
    let names = |tls: &TlsConfigs| tls.watched_files().into_iter().map(|(d, _, _)| d).collect::<Vec<_>>();
    assert_eq!(names(&tls), ["a.example", "b.example"]);

    tls.remove_vhost("a.example");
    assert_eq!(names(&tls), ["b.example"]);
    rewrite(&dir, "a", &a2);
    assert_eq!(logged(|| tls.vhosts.poll()), "", "a's files are not looked at any more");
    assert_eq!(tls.certs.domains(), ["b.example"], "and a is not brought back");
    assert_eq!(served(&tls, "a.example"), b1.der);

    // Back on the development certificate: b's files are left alone too.
    tls.set_vhost(&vhost("b.example"), &dir).unwrap();
    assert!(tls.watched_files().is_empty());
    assert_eq!(served(&tls, "b.example"), dev_cert(&dir, "b.example"));

    // Added again with its files: watched again, from what is there now.
    tls.set_vhost(&configured("a.example", &crt_a, &key_a), &dir).unwrap();
    assert_eq!(names(&tls), ["a.example"]);
    assert_eq!(served(&tls, "a.example"), a2.der);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn the_watcher_ends_with_the_configs() {
    let dir = tempdir("tls-watch");
    let tls = tls_with(&dir, vec![vhost("a.example")]);
    let watcher = spawn_cert_watcher(&tls, Duration::from_millis(10));
    drop(tls);
    tokio::time::timeout(Duration::from_secs(5), watcher).await.expect("the watcher stops").unwrap();
    let _ = std::fs::remove_dir_all(dir);
}
