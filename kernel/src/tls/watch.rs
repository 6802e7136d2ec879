//! Each vhost's certificate source, and reloading configured certificate
//! files when they change on disk.
//!
//! Polling rather than inotify: certbot replaces files through symlink swaps
//! in directories we may not be allowed to watch, and a stat of two files
//! per vhost every few seconds costs nothing.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use rustls::crypto::CryptoProvider;

use super::{SniResolver, certs};
use crate::config::VhostConfig;

/// The vhosts whose certificates the resolver serves, and for those with
/// configured files, what those files looked like when last read.
#[derive(Debug)]
pub(super) struct Vhosts {
    provider: Arc<CryptoProvider>,
    resolver: Arc<SniResolver>,
    /// By lowercased domain; vhosts on a development certificate have no
    /// entry, as nobody else rewrites those files.
    ///
    /// Changes to the resolver happen under this lock too, so that a reload
    /// racing `set`/`remove` cannot bring back what they replaced.
    watched: Mutex<HashMap<String, Watch>>,
    generations: AtomicU64,
}

#[derive(Debug, Clone)]
struct Watch {
    cert: PathBuf,
    key: PathBuf,
    seen: [Option<Stamp>; 2],
    /// Tells a reload that its entry was replaced while it read the files.
    generation: u64,
}

/// What identifies a version of a file without reading it. The path is
/// followed through symlinks, so a swapped `live/` link shows as a new inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    dev: u64,
    ino: u64,
}

/// `None` while the file cannot be examined (mid-swap, or gone): that is a
/// state of its own, so its end counts as a change.
fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp { modified: m.modified().ok(), len: m.len(), dev: m.dev(), ino: m.ino() })
}

fn stamps(cert: &Path, key: &Path) -> [Option<Stamp>; 2] {
    [stamp(cert), stamp(key)]
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The map stays consistent across a panic (entries are replaced whole).
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Vhosts {
    pub(super) fn new(provider: Arc<CryptoProvider>, resolver: Arc<SniResolver>) -> Self {
        Self { provider, resolver, watched: Mutex::default(), generations: AtomicU64::new(0) }
    }

    /// Loads the vhost's certificate (configured files, else the development
    /// certificate under `<data_dir>/tls/`) and serves it; on error the
    /// previous certificate, if any, stays.
    pub(super) fn set(&self, v: &VhostConfig, data_dir: &Path) -> anyhow::Result<()> {
        let domain = v.domain.to_ascii_lowercase();
        let context = || format!("TLS certificate for vhost {:?}", v.domain);
        match (&v.cert, &v.key) {
            (Some(cert), Some(key)) => {
                // Stamped before reading, so that a rewrite during the read
                // shows as a change on the next poll instead of being lost.
                let seen = stamps(cert, key);
                let pair = certs::load_for(&v.domain, cert, key, &self.provider).with_context(context)?;
                let generation = self.generations.fetch_add(1, Ordering::Relaxed);
                let mut watched = lock(&self.watched);
                watched.insert(domain.clone(), Watch { cert: cert.clone(), key: key.clone(), seen, generation });
                self.resolver.set(&domain, Arc::new(pair));
            }
            _ => {
                let pair =
                    certs::development(&data_dir.join("tls"), &v.domain, &self.provider).with_context(context)?;
                let mut watched = lock(&self.watched);
                watched.remove(&domain);
                self.resolver.set(&domain, Arc::new(pair));
            }
        }
        Ok(())
    }

    pub(super) fn remove(&self, domain: &str) {
        let domain = domain.to_ascii_lowercase();
        let mut watched = lock(&self.watched);
        watched.remove(&domain);
        self.resolver.remove(&domain);
    }

    /// The configured certificate and key files of each vhost, by domain.
    pub(super) fn watched(&self) -> Vec<(String, PathBuf, PathBuf)> {
        let mut files: Vec<_> =
            lock(&self.watched).iter().map(|(d, w)| (d.clone(), w.cert.clone(), w.key.clone())).collect();
        files.sort();
        files
    }

    /// One pass over the watched files: reloads each pair that changed since
    /// it was last read. Blocking.
    pub(super) fn poll(&self) {
        let snapshot: Vec<(String, Watch)> = lock(&self.watched).iter().map(|(d, w)| (d.clone(), w.clone())).collect();
        for (domain, w) in snapshot {
            let now = stamps(&w.cert, &w.key);
            if now == w.seen {
                continue;
            }
            let loaded = certs::load_for(&domain, &w.cert, &w.key, &self.provider);
            let mut watched = lock(&self.watched);
            let Some(entry) = watched.get_mut(&domain).filter(|e| e.generation == w.generation) else {
                // Removed or reconfigured while we read: that newer state stands.
                continue;
            };
            // Remembered even on failure: a broken file is reported once,
            // and tried again when it changes next.
            entry.seen = now;
            match loaded {
                Ok(pair) => {
                    self.resolver.set(&domain, Arc::new(pair));
                    tracing::info!(
                        vhost = %domain,
                        "reloaded the certificate of vhost {domain} from {}",
                        w.cert.display()
                    );
                }
                Err(e) => tracing::error!(
                    vhost = %domain,
                    "could not reload the certificate of vhost {domain} from {} and {}, \
                     still serving the previous one: {e:#}",
                    w.cert.display(),
                    w.key.display()
                ),
            }
        }
    }
}

/// Polls every `interval` the configured certificate files of `vhosts`,
/// until the last `TlsConfigs` sharing them is dropped.
pub(super) fn spawn(vhosts: Weak<Vhosts>, interval: Duration) -> tokio::task::JoinHandle<()> {
    // tokio's interval panics on zero.
    let interval = interval.max(Duration::from_millis(1));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(vhosts) = vhosts.upgrade() else { return };
            // stat and read are blocking file I/O: kept off the async workers.
            if let Err(e) = tokio::task::spawn_blocking(move || vhosts.poll()).await {
                // A panic in one pass should not end the watching for good.
                tracing::error!("checking the certificate files for changes failed: {e}");
            }
        }
    })
}
