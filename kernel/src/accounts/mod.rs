//! User accounts, one per `username@domain`, kept in RocksDB as SCRAM salted
//! credentials for SHA-1 and SHA-256 (RFC 5802, RFC 7677) and never as a
//! password: a stolen database gives an offline guessing attack, not logins.
//!
//! Layout: `acct/<domain>/<username>` → a JSON [`Record`]; the domain is the
//! canonical host name and the username its nodeprep form, so every spelling
//! of one account lands on one key. A per-database secret under
//! `meta/accounts/decoy-key` derives stable fake salts for unknown users (see
//! [`Accounts::decoy_credentials`]).

mod credentials;
pub mod policy;
pub mod prep;

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, RwLock};

use anyhow::{Context as _, anyhow};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::rand::{SecureRandom as _, SystemRandom};
use serde::{Deserialize, Serialize};

pub use credentials::{ScramCredentials, ScramHash, constant_time_eq};

use crate::storage::Storage;

/// RFC 7677 §4 asks for at least this many; fewer is never configured here.
const MIN_ITERATIONS: NonZeroU32 = NonZeroU32::new(4096).unwrap();
const SALT_LEN: usize = 16;
const DECOY_KEY: &[u8] = b"meta/accounts/decoy-key";
const LIST_PAGE: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("the account already exists")]
    Exists,
    #[error("no such account")]
    NotFound,
    #[error("invalid username {0}")]
    InvalidUsername(String),
    #[error("unacceptable password: {0}")]
    InvalidPassword(String),
    #[error("{domain} has its {limit} accounts already (its quota); delete one or raise quotas.accounts")]
    QuotaReached { domain: String, limit: u64 },
    #[error("account storage: {0:#}")]
    Storage(#[from] anyhow::Error),
}

/// The account store. Cloning is cheap and clones share one write lock.
#[derive(Clone)]
pub struct Accounts {
    inner: Arc<Inner>,
}

struct Inner {
    storage: Storage,
    iterations: NonZeroU32,
    decoy_key: [u8; 32],
    rng: SystemRandom,
    // Create and delete read before they write; this makes the pair atomic
    // within the process, which is all RocksDB's one-process lock leaves.
    write_lock: Mutex<()>,
    /// Per domain, the most accounts it may hold (absent: no limit).
    quotas: RwLock<HashMap<String, u64>>,
    /// Per domain with a quota, how many accounts it holds: counted once
    /// (a scan) when first needed, then kept by create and delete under
    /// the write lock.
    counts: Mutex<HashMap<String, u64>>,
}

/// Accounts made here always hold both; one imported from another server
/// (XEP-0227 SCRAM credentials, [`Accounts::import_credentials`]) may hold
/// only what that server kept, until the next password change or PLAIN login.
#[derive(Serialize, Deserialize)]
struct Record {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sha1: Option<StoredCredentials>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sha256: Option<StoredCredentials>,
    /// An admin disabled it (XEP-0133): its password still checks, but it
    /// may not log in.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    disabled: bool,
}

#[derive(Serialize, Deserialize)]
struct StoredCredentials {
    salt: String,
    iterations: u32,
    stored_key: String,
    server_key: String,
}

impl StoredCredentials {
    fn from_credentials(c: &ScramCredentials) -> Self {
        StoredCredentials {
            salt: B64.encode(&c.salt),
            iterations: c.iterations.get(),
            stored_key: B64.encode(&c.stored_key),
            server_key: B64.encode(&c.server_key),
        }
    }

    fn to_credentials(&self, hash: ScramHash) -> anyhow::Result<ScramCredentials> {
        let c = ScramCredentials {
            salt: B64.decode(&self.salt).context("salt")?,
            iterations: NonZeroU32::new(self.iterations).context("zero iteration count")?,
            stored_key: B64.decode(&self.stored_key).context("stored key")?,
            server_key: B64.decode(&self.server_key).context("server key")?,
        };
        if c.stored_key.len() != hash.output_len() || c.server_key.len() != hash.output_len() {
            anyhow::bail!("key length does not match {hash:?}");
        }
        Ok(c)
    }
}

impl Accounts {
    /// `scram_iterations` below 4096 is raised to 4096. Reads (or on first use
    /// writes) the decoy secret; if storage fails here a per-process secret is
    /// used, which only makes fake salts change across restarts.
    pub fn new(storage: Storage, scram_iterations: u32) -> Self {
        let rng = SystemRandom::new();
        let decoy_key = load_decoy_key(&storage, &rng).unwrap_or_else(|e| {
            tracing::warn!("accounts: no persistent decoy secret ({e:#}); using one for this process only");
            let mut k = [0u8; 32];
            // SystemRandom only fails when the OS has no entropy source at all; a
            // fixed secret then still hides account existence within the run.
            let _ = rng.fill(&mut k);
            k
        });
        let iterations = NonZeroU32::new(scram_iterations).unwrap_or(MIN_ITERATIONS).max(MIN_ITERATIONS);
        Accounts {
            inner: Arc::new(Inner {
                storage,
                iterations,
                decoy_key,
                rng,
                write_lock: Mutex::new(()),
                quotas: RwLock::default(),
                counts: Mutex::default(),
            }),
        }
    }

    /// The most accounts `domain` may hold; 0: no limit. Applies to every
    /// way an account is made (registration, admins, plugins, import).
    pub fn set_quota(&self, domain: &str, limit: u64) {
        let mut q = self.inner.quotas.write().unwrap_or_else(|p| p.into_inner());
        if limit == 0 {
            q.remove(domain);
        } else {
            q.insert(domain.to_owned(), limit);
        }
    }

    /// Forgets what is known of a domain (its tenant was removed).
    pub fn forget_domain(&self, domain: &str) {
        self.set_quota(domain, 0);
        self.inner.counts.lock().unwrap_or_else(|p| p.into_inner()).remove(domain);
    }

    /// The accounts of `domain` and its quota, when it has a quota (only
    /// those are counted): for `/metrics`, without a scan.
    pub fn count_and_quota(&self, domain: &str) -> Option<(u64, u64)> {
        let limit = self.quota(domain)?;
        let n = *self.inner.counts.lock().unwrap_or_else(|p| p.into_inner()).get(domain)?;
        Some((n, limit))
    }

    fn quota(&self, domain: &str) -> Option<u64> {
        self.inner.quotas.read().unwrap_or_else(|p| p.into_inner()).get(domain).copied()
    }

    /// Refuses one more account past the domain's quota. Called under the
    /// write lock, so the count cannot move meanwhile.
    fn check_quota(&self, domain: &str) -> Result<(), AccountError> {
        let Some(limit) = self.quota(domain) else { return Ok(()) };
        let held = self.count_of(domain)?;
        if held >= limit {
            return Err(AccountError::QuotaReached { domain: domain.to_owned(), limit });
        }
        Ok(())
    }

    fn count_of(&self, domain: &str) -> Result<u64, AccountError> {
        if let Some(n) = self.inner.counts.lock().unwrap_or_else(|p| p.into_inner()).get(domain) {
            return Ok(*n);
        }
        let n = self.list(domain)?.len() as u64;
        self.inner.counts.lock().unwrap_or_else(|p| p.into_inner()).insert(domain.to_owned(), n);
        Ok(n)
    }

    /// Keeps a counted domain's count right after a create (+1) or delete (-1).
    fn counted(&self, domain: &str, created: bool) {
        if let Some(n) = self.inner.counts.lock().unwrap_or_else(|p| p.into_inner()).get_mut(domain) {
            *n = if created { *n + 1 } else { n.saturating_sub(1) };
        }
    }

    /// Creates an account; the password must meet [`policy`].
    pub fn create(&self, domain: &str, username: &str, password: &str) -> Result<(), AccountError> {
        let domain = prep::domain(domain)?;
        let key = account_key(&domain, &prep::username(username)?);
        // A taken name is the answer whatever the password (and costs no
        // PBKDF2); `insert` checks again under the lock.
        if self.inner.storage.get(&key)?.is_some() {
            return Err(AccountError::Exists);
        }
        // And a full domain too; `insert` checks again under the lock.
        {
            let _guard = self.lock();
            self.check_quota(&domain)?;
        }
        let record = self.new_record(&policy::new_password(password)?)?;
        self.insert(&domain, &key, &record)
    }

    /// Creates an account with a password another server accepted (XEP-0227
    /// import): SASLprep applies, [`policy`]'s length does not.
    pub fn create_imported(&self, domain: &str, username: &str, password: &str) -> Result<(), AccountError> {
        let domain = prep::domain(domain)?;
        let key = account_key(&domain, &prep::username(username)?);
        let record = self.new_record(&prep::password(password)?)?;
        self.insert(&domain, &key, &record)
    }

    fn insert(&self, domain: &str, key: &[u8], record: &Record) -> Result<(), AccountError> {
        let _guard = self.lock();
        if self.inner.storage.get(key)?.is_some() {
            return Err(AccountError::Exists);
        }
        self.check_quota(domain)?;
        self.put_record(key, record)?;
        self.counted(domain, true);
        Ok(())
    }

    /// Sets a new password; it must meet [`policy`].
    pub fn set_password(&self, domain: &str, username: &str, password: &str) -> Result<(), AccountError> {
        // The names are checked first, as `create` does, so a bad JID is named as such.
        prep::domain(domain)?;
        prep::username(username)?;
        self.replace_password(domain, username, &policy::new_password(password)?)
    }

    /// Stores credentials for an already prepared password.
    fn replace_password(&self, domain: &str, username: &str, prepared: &str) -> Result<(), AccountError> {
        let key = account_key(&prep::domain(domain)?, &prep::username(username)?);
        let mut record = self.new_record(prepared)?;
        let _guard = self.lock();
        let Some(old) = self.get_record(&key)? else { return Err(AccountError::NotFound) };
        record.disabled = old.disabled;
        self.put_record(&key, &record)
    }

    /// Disables (or enables again) logging in to an account.
    pub fn set_disabled(&self, domain: &str, username: &str, disabled: bool) -> Result<(), AccountError> {
        let key = account_key(&prep::domain(domain)?, &prep::username(username)?);
        let _guard = self.lock();
        let Some(mut record) = self.get_record(&key)? else { return Err(AccountError::NotFound) };
        record.disabled = disabled;
        self.put_record(&key, &record)
    }

    /// Whether an account is disabled; false when there is none.
    pub fn is_disabled(&self, domain: &str, username: &str) -> Result<bool, AccountError> {
        let domain = prep::domain(domain)?;
        let Ok(username) = prep::username(username) else { return Ok(false) };
        Ok(self.get_record(&account_key(&domain, &username))?.is_some_and(|r| r.disabled))
    }

    pub fn delete(&self, domain: &str, username: &str) -> Result<(), AccountError> {
        let domain = prep::domain(domain)?;
        let key = account_key(&domain, &prep::username(username)?);
        let _guard = self.lock();
        if self.inner.storage.get(&key)?.is_none() {
            return Err(AccountError::NotFound);
        }
        self.inner.storage.delete(&key)?;
        self.counted(&domain, false);
        Ok(())
    }

    /// A username that nodeprep refuses cannot name an account, so it is
    /// reported as absent rather than as an error.
    pub fn exists(&self, domain: &str, username: &str) -> Result<bool, AccountError> {
        let domain = prep::domain(domain)?;
        let Ok(username) = prep::username(username) else { return Ok(false) };
        Ok(self.inner.storage.get(&account_key(&domain, &username))?.is_some())
    }

    /// Usernames of `domain`, sorted: RocksDB's byte order on UTF-8 keys is
    /// code-point order, which is `str` order.
    pub fn list(&self, domain: &str) -> Result<Vec<String>, AccountError> {
        let prefix = account_key(&prep::domain(domain)?, "");
        let mut names = Vec::new();
        let mut after = Vec::new();
        loop {
            let rows = self.inner.storage.scan(&prefix, &after, LIST_PAGE)?;
            for (k, _) in &rows {
                let name = std::str::from_utf8(&k[prefix.len()..])
                    .map_err(|_| anyhow!("account key {:?} is not UTF-8", String::from_utf8_lossy(k)))?;
                names.push(name.to_owned());
            }
            match rows.last() {
                Some((k, _)) if rows.len() == LIST_PAGE => after = k.clone(),
                _ => return Ok(names),
            }
        }
    }

    /// `None` when there is no such account (including when the username is not
    /// a valid localpart).
    pub fn scram_credentials(
        &self,
        domain: &str,
        username: &str,
        hash: ScramHash,
    ) -> Result<Option<ScramCredentials>, AccountError> {
        let domain = prep::domain(domain)?;
        let Ok(username) = prep::username(username) else { return Ok(None) };
        let Some(record) = self.get_record(&account_key(&domain, &username))? else { return Ok(None) };
        let stored = match hash {
            ScramHash::Sha1 => &record.sha1,
            ScramHash::Sha256 => &record.sha256,
        };
        let Some(stored) = stored else { return Ok(None) };
        let creds =
            stored.to_credentials(hash).with_context(|| format!("corrupt account record {username}@{domain}"))?;
        Ok(Some(creds))
    }

    /// Verify a plaintext password (for PLAIN) against the stored SHA-256
    /// credentials. An unknown user costs the same PBKDF2 run as a known one,
    /// so the answer's timing does not tell them apart.
    ///
    /// An imported account with SHA-1 credentials only is checked against
    /// those, and on success gets both from the password.
    pub fn verify_password(&self, domain: &str, username: &str, password: &str) -> Result<bool, AccountError> {
        let Ok(password) = prep::password(password) else { return Ok(false) };
        let mut hash = ScramHash::Sha256;
        let (creds, real) = match self.scram_credentials(domain, username, ScramHash::Sha256)? {
            Some(c) => (c, true),
            None => match self.scram_credentials(domain, username, ScramHash::Sha1)? {
                Some(c) => {
                    hash = ScramHash::Sha1;
                    (c, true)
                }
                None => (self.decoy_credentials(domain, username, ScramHash::Sha256), false),
            },
        };
        let derived = ScramCredentials::derive(hash, &password, &creds.salt, creds.iterations);
        let ok = constant_time_eq(&derived.stored_key, &creds.stored_key) && real;
        if ok && hash == ScramHash::Sha1 {
            // Best effort: the login stands either way. The password is the
            // one the account already had, so the policy does not apply.
            if let Err(e) = self.replace_password(domain, username, &password) {
                tracing::warn!("{username}@{domain}: could not complete imported credentials: {e}");
            }
        }
        Ok(ok)
    }

    /// Creates an account from salted credentials another server kept
    /// (XEP-0227), at least one of the two. Without SHA-256 ones the account
    /// cannot use SCRAM-SHA-256 until its password is set again or it logs
    /// in once with PLAIN.
    pub fn import_credentials(
        &self,
        domain: &str,
        username: &str,
        sha1: Option<&ScramCredentials>,
        sha256: Option<&ScramCredentials>,
    ) -> Result<(), AccountError> {
        let domain = prep::domain(domain)?;
        let key = account_key(&domain, &prep::username(username)?);
        if sha1.is_none() && sha256.is_none() {
            return Err(AccountError::InvalidPassword("no credentials to import".into()));
        }
        for (c, hash) in [(sha1, ScramHash::Sha1), (sha256, ScramHash::Sha256)] {
            if let Some(c) = c
                && (c.stored_key.len() != hash.output_len() || c.server_key.len() != hash.output_len())
            {
                return Err(AccountError::InvalidPassword(format!("{hash:?} keys of the wrong length")));
            }
        }
        let record = Record {
            sha1: sha1.map(StoredCredentials::from_credentials),
            sha256: sha256.map(StoredCredentials::from_credentials),
            disabled: false,
        };
        self.insert(&domain, &key, &record)
    }

    /// Credentials for an account that does not exist, stable per user so that
    /// asking twice shows the same salt, as a real account would. No password
    /// matches them (their keys come from a secret, not from a password), and
    /// callers must still treat them as a failure.
    pub fn decoy_credentials(&self, domain: &str, username: &str, hash: ScramHash) -> ScramCredentials {
        let domain = prep::domain(domain).unwrap_or_else(|_| domain.to_owned());
        let username = prep::username(username).unwrap_or_else(|_| username.to_owned());
        let derive = |label: &str| {
            let msg = format!("{label}\0{hash:?}\0{domain}\0{username}");
            ScramHash::Sha256.hmac(&self.inner.decoy_key, msg.as_bytes())
        };
        let mut salt = derive("salt");
        salt.truncate(SALT_LEN);
        let mut stored_key = derive("stored");
        stored_key.truncate(hash.output_len());
        let mut server_key = derive("server");
        server_key.truncate(hash.output_len());
        ScramCredentials { salt, iterations: self.inner.iterations, stored_key, server_key }
    }

    fn new_record(&self, prepared_password: &str) -> Result<Record, AccountError> {
        let make = |hash: ScramHash| -> Result<StoredCredentials, AccountError> {
            let mut salt = [0u8; SALT_LEN];
            self.inner.rng.fill(&mut salt).map_err(|_| anyhow!("the system random source failed"))?;
            let creds = ScramCredentials::derive(hash, prepared_password, &salt, self.inner.iterations);
            Ok(StoredCredentials::from_credentials(&creds))
        };
        Ok(Record { sha1: Some(make(ScramHash::Sha1)?), sha256: Some(make(ScramHash::Sha256)?), disabled: false })
    }

    fn get_record(&self, key: &[u8]) -> Result<Option<Record>, AccountError> {
        let Some(bytes) = self.inner.storage.get(key)? else { return Ok(None) };
        let record = serde_json::from_slice(&bytes)
            .with_context(|| format!("corrupt account record {}", String::from_utf8_lossy(key)))?;
        Ok(Some(record))
    }

    fn put_record(&self, key: &[u8], record: &Record) -> Result<(), AccountError> {
        let bytes = serde_json::to_vec(record).context("encoding an account record")?;
        self.inner.storage.put(key, &bytes)?;
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        // The guarded value is (), so a panic elsewhere cannot have left it inconsistent.
        self.inner.write_lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Stores given credentials as they are, to replay published test vectors.
    #[cfg(test)]
    pub(crate) fn create_with_credentials(
        &self,
        domain: &str,
        username: &str,
        sha1: &ScramCredentials,
        sha256: &ScramCredentials,
    ) -> Result<(), AccountError> {
        let key = account_key(&prep::domain(domain)?, &prep::username(username)?);
        let record = Record {
            sha1: Some(StoredCredentials::from_credentials(sha1)),
            sha256: Some(StoredCredentials::from_credentials(sha256)),
            disabled: false,
        };
        self.put_record(&key, &record)
    }
}

fn account_key(domain: &str, username: &str) -> Vec<u8> {
    format!("acct/{domain}/{username}").into_bytes()
}

fn load_decoy_key(storage: &Storage, rng: &SystemRandom) -> anyhow::Result<[u8; 32]> {
    if let Some(v) = storage.get(DECOY_KEY)? {
        return <[u8; 32]>::try_from(v.as_slice()).map_err(|_| anyhow!("stored decoy secret has the wrong length"));
    }
    let mut k = [0u8; 32];
    rng.fill(&mut k).map_err(|_| anyhow!("the system random source failed"))?;
    storage.put(DECOY_KEY, &k)?;
    Ok(k)
}

#[cfg(test)]
mod tests;
