//! Reading certificate/key PEM files, and the generated development
//! certificates.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow, bail};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

/// Reads a PEM certificate chain (leaf first) and its private key, and checks
/// that they belong together. Errors name the file at fault.
/// A configured pair that must be for `domain`: clients check the name, so a
/// certificate for another name would only fail later, at every handshake.
pub fn load_for(domain: &str, cert: &Path, key: &Path, provider: &CryptoProvider) -> anyhow::Result<CertifiedKey> {
    let pair = load_pair(cert, key, provider)?;
    let name = rustls::pki_types::ServerName::try_from(domain.to_string())
        .map_err(|e| anyhow!("{domain:?} cannot be checked against a certificate: {e}"))?;
    let leaf = pair.cert.first().ok_or_else(|| anyhow!("certificate file {} holds no certificate", cert.display()))?;
    let parsed = webpki::EndEntityCert::try_from(leaf)
        .map_err(|e| anyhow!("certificate file {}: the first certificate cannot be parsed: {e}", cert.display()))?;
    parsed.verify_is_valid_for_subject_name(&name).map_err(|_| {
        anyhow!(
            "certificate file {} does not name {domain} (nor a wildcard covering it): \
             use a certificate issued for this vhost",
            cert.display()
        )
    })?;
    Ok(pair)
}

pub fn load_pair(cert: &Path, key: &Path, provider: &CryptoProvider) -> anyhow::Result<CertifiedKey> {
    let chain = read_chain(cert)?;
    let key_der = read_key(key)?;
    CertifiedKey::from_der(chain, key_der, provider)
        .map_err(|e| anyhow!("certificate {} and key {} cannot be used together: {e}", cert.display(), key.display()))
}

fn read_chain(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let pem = std::fs::read(path).with_context(|| format!("reading certificate file {}", path.display()))?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow!("certificate file {} is not valid PEM: {e}", path.display()))?;
    if chain.is_empty() {
        bail!("certificate file {} holds no \"BEGIN CERTIFICATE\" section", path.display());
    }
    Ok(chain)
}

fn read_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    let pem = std::fs::read(path).with_context(|| format!("reading key file {}", path.display()))?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            anyhow!("key file {} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)", path.display())
        }
        e => anyhow!("key file {} is not valid PEM: {e}", path.display()),
    })
}

fn dev_paths(dir: &Path, domain: &str) -> (PathBuf, PathBuf) {
    (dir.join(format!("{domain}.crt")), dir.join(format!("{domain}.key")))
}

/// The development certificate for `domain` in `dir`: reused when present
/// and usable, otherwise (re)generated. It covers `*.domain` too, so that
/// plugin service subdomains (`conference.domain`) work out of the box.
pub fn development(dir: &Path, domain: &str, provider: &CryptoProvider) -> anyhow::Result<CertifiedKey> {
    let (crt, key) = dev_paths(dir, domain);
    if !crt.exists() && !key.exists() {
        tracing::info!(domain, path = %crt.display(), "generating a self-signed development certificate");
    } else {
        match load_pair(&crt, &key, provider) {
            Ok(k) => return Ok(k),
            Err(e) => tracing::warn!(domain, "regenerating the development certificate: {e:#}"),
        }
    }
    generate(dir, domain, &crt, &key)?;
    load_pair(&crt, &key, provider)
}

fn generate(dir: &Path, domain: &str, crt: &Path, key: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut params = rcgen::CertificateParams::new(vec![domain.to_string(), format!("*.{domain}")])
        .with_context(|| format!("making certificate parameters for {domain:?}"))?;
    params.distinguished_name.push(rcgen::DnType::CommonName, domain);
    let key_pair = rcgen::KeyPair::generate().context("generating a key pair")?;
    let cert = params.self_signed(&key_pair).context("signing the development certificate")?;
    // The key goes first so that a crash in between leaves a pair that fails
    // to load (and is regenerated) rather than a certificate with a stale key.
    write_atomically(key, key_pair.serialize_pem().as_bytes(), 0o600)?;
    write_atomically(crt, cert.pem().as_bytes(), 0o644)?;
    Ok(())
}

/// Writes through a temporary file and a rename, so a reader never sees half
/// a file; the mode is set at creation, so the key is never readable by others.
fn write_atomically(path: &Path, data: &[u8], mode: u32) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(data).and_then(|()| f.sync_all()).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;
    use crate::testutil::tempdir;

    fn provider() -> CryptoProvider {
        rustls::crypto::ring::default_provider()
    }

    #[test]
    fn generated_once_then_reused() {
        let dir = tempdir("tls-dev");
        let first = development(&dir, "example.org", &provider()).unwrap();
        let (crt, key) = dev_paths(&dir, "example.org");
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let second = development(&dir, "example.org", &provider()).unwrap();
        assert_eq!(first.cert, second.cert);
        assert!(crt.exists());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn unparseable_is_regenerated() {
        let dir = tempdir("tls-dev");
        let first = development(&dir, "example.org", &provider()).unwrap();
        let (_, key) = dev_paths(&dir, "example.org");
        std::fs::write(&key, "garbage").unwrap();
        let second = development(&dir, "example.org", &provider()).unwrap();
        assert_ne!(first.cert, second.cert);
        // One file of the pair missing counts as unusable too.
        let (crt, _) = dev_paths(&dir, "example.org");
        std::fs::remove_file(&crt).unwrap();
        let third = development(&dir, "example.org", &provider()).unwrap();
        assert_ne!(second.cert, third.cert);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn bad_files_are_named() {
        let dir = tempdir("tls-bad");
        development(&dir, "good.org", &provider()).unwrap();
        let (good_crt, good_key) = dev_paths(&dir, "good.org");
        development(&dir, "other.org", &provider()).unwrap();
        let (_, other_key) = dev_paths(&dir, "other.org");
        let junk = dir.join("junk.pem");
        std::fs::write(&junk, "not a pem file\n").unwrap();
        let broken = dir.join("broken.pem");
        std::fs::write(&broken, "-----BEGIN CERTIFICATE-----\nAAAA\n").unwrap();
        let missing = dir.join("missing.pem");
        let cases = [
            (&junk, &good_key, "junk.pem"),
            (&broken, &good_key, "broken.pem"),
            (&missing, &good_key, "missing.pem"),
            (&good_crt, &junk, "junk.pem"),
            (&good_crt, &good_crt, "good.org.crt"),
            (&good_crt, &other_key, "cannot be used together"),
        ];
        for (crt, key, want) in cases {
            let err = format!("{:#}", load_pair(crt, key, &provider()).unwrap_err());
            assert!(err.contains(want), "{crt:?} {key:?}: {err}");
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_configured_certificate_must_name_its_vhost() {
        let dir = tempdir("tls-name");
        development(&dir, "good.org", &provider()).unwrap();
        let (crt, key) = dev_paths(&dir, "good.org");
        assert!(load_for("good.org", &crt, &key, &provider()).is_ok());
        let err = format!("{:#}", load_for("other.org", &crt, &key, &provider()).unwrap_err());
        assert!(err.contains("does not name other.org") && err.contains("good.org.crt"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
