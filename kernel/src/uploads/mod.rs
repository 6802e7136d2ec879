//! HTTP upload (XEP-0363), the kernel's half: slots that plugins grant
//! through the `uploads` host interface, their signed PUT URLs, the files on
//! disk, and their expiry. Which accounts may upload what, and how much, is
//! the granting plugin's business; that no one writes a byte the slot did
//! not promise, or reads a file before it is whole, is the kernel's.
//!
//! Storage: `upl/slot/<id>` holds a [`Slot`]; `upl/due/<ms>/<id>` indexes the
//! next moment something must happen to it (an unused slot's PUT deadline, a
//! stored file's expiry); `upl/key` is the HMAC key of the PUT tokens. Files
//! are `<dir>/<id>`, written as `<id>.part` and renamed when complete.

pub mod names;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use ring::rand::{SecureRandom as _, SystemRandom};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::storage::{BatchOp, Storage};

const SLOT: &[u8] = b"upl/slot/";
const DUE: &[u8] = b"upl/due/";
const KEY: &[u8] = b"upl/key";
/// The longest a PUT URL may stay usable.
pub const MAX_PUT_VALID_MS: u64 = 24 * 3600 * 1000;
/// How often expired files and unused slots are swept away.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// One granted slot, and the file once it is uploaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    pub domain: String,
    pub plugin: String,
    pub owner: String,
    pub filename: String,
    pub size: u64,
    pub content_type: String,
    pub put_deadline_ms: u64,
    /// 0: kept until deleted.
    pub expires_ms: u64,
    pub stored: bool,
}

impl Slot {
    /// When the sweeper must look at it next, if ever.
    fn due_ms(&self) -> Option<u64> {
        if !self.stored {
            Some(self.put_deadline_ms)
        } else if self.expires_ms != 0 {
            Some(self.expires_ms)
        } else {
            None
        }
    }
}

/// What a plugin asks for (the WIT's `slot-request`).
#[derive(Debug, Clone)]
pub struct Request {
    pub owner: String,
    pub filename: String,
    pub size: u64,
    pub content_type: String,
    pub put_valid_ms: u64,
    pub keep_ms: u64,
}

/// What the plugin hands the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted {
    pub id: String,
    pub put_url: String,
    pub get_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadError {
    #[error("{0}")]
    Invalid(String),
    #[error("the file is larger than this server's limit of {0} bytes")]
    TooLarge(u64),
    #[error("{0}")]
    Unavailable(String),
}

/// The first HTTP and HTTPS listeners, for URLs when `[uploads] url` is not set.
#[derive(Debug, Default, Clone, Copy)]
struct Listeners {
    http: Option<u16>,
    https: Option<u16>,
}

pub struct Uploads {
    storage: Storage,
    dir: PathBuf,
    key: hmac::Key,
    max_file_size: u64,
    url: Option<String>,
    listeners: RwLock<Listeners>,
    /// Slots with a PUT in progress: a second PUT to one of them is refused.
    busy: Mutex<HashSet<String>>,
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn slot_key(id: &str) -> Vec<u8> {
    [SLOT, id.as_bytes()].concat()
}

fn due_key(ms: u64, id: &str) -> Vec<u8> {
    [DUE, format!("{ms:016x}/{id}").as_bytes()].concat()
}

impl Uploads {
    /// Opens the upload folder and the token key, creating both on first use,
    /// and drops what an interrupted upload left behind (its slot stays, for
    /// the client to try again until the deadline).
    pub fn open(cfg: &Config, storage: Storage) -> anyhow::Result<Arc<Uploads>> {
        let dir = cfg.uploads_dir();
        std::fs::create_dir_all(&dir).with_context(|| format!("creating the uploads folder {}", dir.display()))?;
        for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?.flatten() {
            if entry.path().extension().is_some_and(|e| e == "part") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        let secret = match storage.get(KEY)? {
            Some(k) if k.len() == 32 => k,
            _ => {
                let mut k = vec![0u8; 32];
                SystemRandom::new().fill(&mut k).map_err(|_| anyhow::anyhow!("the system's random source failed"))?;
                storage.put(KEY, &k)?;
                k
            }
        };
        Ok(Arc::new(Uploads {
            storage,
            dir,
            key: hmac::Key::new(hmac::HMAC_SHA256, &secret),
            max_file_size: cfg.uploads.max_file_size.0,
            url: cfg.uploads.base_url().map(str::to_string),
            listeners: Default::default(),
            busy: Default::default(),
        }))
    }

    /// Records a bound HTTP(S) listener; the first of each kind makes URLs.
    pub fn listening(&self, addr: SocketAddr, tls: bool) {
        let mut l = self.listeners.write().unwrap_or_else(|p| p.into_inner());
        let slot = if tls { &mut l.https } else { &mut l.http };
        slot.get_or_insert(addr.port());
    }

    fn base_url(&self, domain: &str) -> Result<String, UploadError> {
        if let Some(url) = &self.url {
            return Ok(url.clone());
        }
        let l = *self.listeners.read().unwrap_or_else(|p| p.into_inner());
        match (l.https, l.http) {
            (Some(port), _) => Ok(format!("https://{domain}:{port}")),
            (None, Some(port)) => Ok(format!("http://{domain}:{port}")),
            (None, None) => Err(UploadError::Unavailable(
                "no HTTP listener serves uploads: add [listen] https or http, or set [uploads] url".into(),
            )),
        }
    }

    /// What a PUT token signs: the slot and everything its PUT must match.
    fn signed(id: &str, slot: &Slot) -> String {
        format!("put\n{id}\n{}\n{}\n{}", slot.size, slot.content_type, slot.put_deadline_ms)
    }

    fn token(&self, id: &str, slot: &Slot) -> String {
        URL_SAFE_NO_PAD.encode(hmac::sign(&self.key, Self::signed(id, slot).as_bytes()).as_ref())
    }

    /// Whether `token` is the one [`grant`](Self::grant) put in the slot's PUT URL.
    pub fn token_matches(&self, id: &str, slot: &Slot, token: &str) -> bool {
        let signed = Self::signed(id, slot);
        URL_SAFE_NO_PAD.decode(token).is_ok_and(|tag| hmac::verify(&self.key, signed.as_bytes(), &tag).is_ok())
    }

    /// Grants a slot for `plugin` on `domain`. Blocking: a synced write.
    pub fn grant(&self, domain: &str, plugin: &str, req: Request) -> Result<Granted, UploadError> {
        if let Some(why) = names::bad_filename(&req.filename) {
            return Err(UploadError::Invalid(format!("filename {:?}: {why}", req.filename)));
        }
        if let Some(why) = names::bad_content_type(&req.content_type) {
            return Err(UploadError::Invalid(format!("content-type {:?}: {why}", req.content_type)));
        }
        if req.size > self.max_file_size {
            return Err(UploadError::TooLarge(self.max_file_size));
        }
        if req.put_valid_ms == 0 || req.put_valid_ms > MAX_PUT_VALID_MS {
            return Err(UploadError::Invalid(format!(
                "put-valid-ms is {}; it must be between 1 and {MAX_PUT_VALID_MS}",
                req.put_valid_ms
            )));
        }
        let base = self.base_url(domain)?;
        let mut raw = [0u8; 16];
        SystemRandom::new().fill(&mut raw).map_err(|_| UploadError::Unavailable("the random source failed".into()))?;
        let id = URL_SAFE_NO_PAD.encode(raw);
        let now = now_ms();
        let slot = Slot {
            domain: domain.to_string(),
            plugin: plugin.to_string(),
            owner: req.owner,
            filename: req.filename,
            size: req.size,
            content_type: req.content_type,
            put_deadline_ms: now + req.put_valid_ms,
            expires_ms: if req.keep_ms == 0 { 0 } else { now.saturating_add(req.keep_ms) },
            stored: false,
        };
        self.save(&id, &slot, None).map_err(|e| UploadError::Unavailable(format!("saving the slot: {e:#}")))?;
        let get_url = format!("{base}/upload/{id}/{}", names::encode_segment(&slot.filename));
        let put_url = format!("{get_url}?token={}", self.token(&id, &slot));
        Ok(Granted { id, put_url, get_url })
    }

    /// Writes a slot and moves its due index from `old_due`.
    fn save(&self, id: &str, slot: &Slot, old_due: Option<u64>) -> anyhow::Result<()> {
        let mut ops = vec![BatchOp::Put(slot_key(id), serde_json::to_vec(slot)?)];
        if let Some(ms) = old_due {
            ops.push(BatchOp::Delete(due_key(ms, id)));
        }
        if let Some(ms) = slot.due_ms() {
            ops.push(BatchOp::Put(due_key(ms, id), Vec::new()));
        }
        self.storage.batch(&ops)
    }

    /// The slot by that id. Blocking: a database read.
    pub fn slot(&self, id: &str) -> anyhow::Result<Option<Slot>> {
        if id.is_empty() || id.len() > 64 {
            return Ok(None);
        }
        match self.storage.get(&slot_key(id))? {
            None => Ok(None),
            Some(raw) => Ok(Some(serde_json::from_slice(&raw).context("reading an upload slot")?)),
        }
    }

    pub fn file_path(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    pub fn part_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.part"))
    }

    /// Claims a slot for one PUT; `None` while another PUT to it runs.
    pub fn begin_put(self: &Arc<Self>, id: &str) -> Option<PutGuard> {
        let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        busy.insert(id.to_string()).then(|| PutGuard { uploads: self.clone(), id: id.to_string() })
    }

    /// The file is whole on disk: the slot serves GETs from now on.
    /// Blocking: a synced write.
    pub fn mark_stored(&self, id: &str, mut slot: Slot) -> anyhow::Result<()> {
        let old = slot.due_ms();
        slot.stored = true;
        self.save(id, &slot, old)
    }

    /// Deletes a slot of `plugin` on `domain` and its file. Blocking.
    pub fn delete(&self, domain: &str, plugin: &str, id: &str) -> Result<bool, UploadError> {
        let fail = |e: anyhow::Error| UploadError::Unavailable(format!("deleting upload {id}: {e:#}"));
        match self.slot(id).map_err(fail)? {
            Some(slot) if slot.domain == domain && slot.plugin == plugin => {
                self.remove(id, &slot).map_err(fail)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn remove(&self, id: &str, slot: &Slot) -> anyhow::Result<()> {
        let mut ops = vec![BatchOp::Delete(slot_key(id))];
        if let Some(ms) = slot.due_ms() {
            ops.push(BatchOp::Delete(due_key(ms, id)));
        }
        self.storage.batch(&ops)?;
        for path in [self.file_path(id), self.part_path(id)] {
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).with_context(|| format!("removing {}", path.display()));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Removes what is due by `now`: unused slots past their PUT deadline,
    /// files past their expiry. Returns how many. Blocking.
    pub fn sweep(&self, now: u64) -> anyhow::Result<usize> {
        let mut removed = 0;
        loop {
            let page = self.storage.scan(DUE, &[], 100)?;
            let mut progressed = false;
            for (key, _) in &page {
                let rest = std::str::from_utf8(&key[DUE.len()..]).unwrap_or_default();
                let Some((ms, id)) = rest.split_once('/') else { continue };
                if u64::from_str_radix(ms, 16).map_or(true, |ms| ms > now) {
                    return Ok(removed);
                }
                // A slot mid-PUT is left to its PUT, which stores or abandons it.
                if self.busy.lock().unwrap_or_else(|p| p.into_inner()).contains(id) {
                    continue;
                }
                match self.slot(id)? {
                    Some(slot) => self.remove(id, &slot)?,
                    None => self.storage.delete(key)?,
                }
                removed += 1;
                progressed = true;
            }
            if page.len() < 100 || !progressed {
                return Ok(removed);
            }
        }
    }

    /// Sweeps once a minute, off the async workers.
    pub fn spawn_sweeper(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_EVERY);
            loop {
                tick.tick().await;
                let me = me.clone();
                match tokio::task::spawn_blocking(move || me.sweep(now_ms())).await {
                    Ok(Ok(0)) => {}
                    Ok(Ok(n)) => tracing::info!("removed {n} expired uploads"),
                    Ok(Err(e)) => tracing::warn!("sweeping expired uploads failed: {e:#}"),
                    Err(e) => tracing::warn!("the upload sweeper panicked: {e}"),
                }
            }
        })
    }
}

/// A PUT in progress; dropping it frees the slot for another try.
pub struct PutGuard {
    uploads: Arc<Uploads>,
    id: String,
}

impl Drop for PutGuard {
    fn drop(&mut self) {
        self.uploads.busy.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.id);
    }
}

#[cfg(test)]
mod tests;
