//! Tenants added while the server runs, kept in the database so they are
//! served again after a restart: `tenant/<domain>` holds the tenant's table
//! as TOML, exactly the keys a config file's `[[vhost]]` table takes.
//! The config file's own vhosts are never stored here: the file stays
//! theirs.

use anyhow::{Context as _, anyhow};

use crate::config::VhostConfig;
use crate::storage::Storage;

const PREFIX: &str = "tenant/";

/// Where a tenant's data lives: every prefix `remove` deletes.
pub fn data_prefixes(domain: &str) -> Vec<Vec<u8>> {
    ["acct", "plug", "share", "fscope", "rt"].iter().map(|p| format!("{p}/{domain}/").into_bytes()).collect()
}

#[derive(Clone)]
pub struct TenantStore {
    storage: Storage,
}

impl TenantStore {
    pub fn new(storage: Storage) -> TenantStore {
        TenantStore { storage }
    }

    /// Every stored tenant. One that no longer parses (a key a newer
    /// version wrote, a file edited by hand) is left out with an error in
    /// the log: it must not keep the others from being served.
    pub fn load_all(&self) -> anyhow::Result<Vec<(VhostConfig, String)>> {
        let mut out = Vec::new();
        let mut after = Vec::new();
        loop {
            let page = self.storage.scan(PREFIX.as_bytes(), &after, 256).context("reading the stored tenants")?;
            let Some((last, _)) = page.last() else { break };
            after = last.clone();
            for (key, value) in page {
                let domain = String::from_utf8_lossy(&key[PREFIX.len()..]).into_owned();
                let text = String::from_utf8_lossy(&value).into_owned();
                match parse(&text) {
                    Ok(v) if v.domain == domain => out.push((v, text)),
                    Ok(v) => tracing::error!("stored tenant {domain} names another domain ({}); not served", v.domain),
                    Err(e) => tracing::error!("stored tenant {domain} does not load ({e:#}); not served"),
                }
            }
        }
        Ok(out)
    }

    pub fn contains(&self, domain: &str) -> anyhow::Result<bool> {
        Ok(self.get(domain)?.is_some())
    }

    /// The tenant's stored table, as it was given.
    pub fn get(&self, domain: &str) -> anyhow::Result<Option<String>> {
        Ok(self.storage.get(&key(domain))?.map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Durable before it returns.
    pub fn put(&self, domain: &str, text: &str) -> anyhow::Result<()> {
        self.storage.put(&key(domain), text.as_bytes()).with_context(|| format!("storing tenant {domain}"))
    }

    pub fn delete(&self, domain: &str) -> anyhow::Result<()> {
        self.storage.delete(&key(domain)).with_context(|| format!("forgetting tenant {domain}"))
    }

    /// Deletes everything the tenant stored: accounts, plugin data,
    /// datasets, filter scopes, settings changed at runtime.
    pub fn delete_data(&self, domain: &str) -> anyhow::Result<()> {
        for prefix in data_prefixes(domain) {
            self.storage
                .delete_prefix(&prefix)
                .with_context(|| format!("deleting {} of tenant {domain}", String::from_utf8_lossy(&prefix)))?;
        }
        Ok(())
    }
}

fn key(domain: &str) -> Vec<u8> {
    format!("{PREFIX}{domain}").into_bytes()
}

/// A tenant's table as TOML: `domain = "…"`, and optionally `cert`, `key`,
/// `admins`, `[quotas]` and `[[plugin]]` tables, as in a `[[vhost]]` table.
pub fn parse(text: &str) -> anyhow::Result<VhostConfig> {
    toml::from_str(text).map_err(|e| anyhow!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_tenants_come_back_and_a_broken_one_is_left_out() {
        let dir = crate::testutil::tempdir("tenant-store");
        let storage = Storage::open(&dir).unwrap();
        let store = TenantStore::new(storage.clone());
        store.put("a.example", "domain = \"a.example\"\n[quotas]\naccounts = 3\n").unwrap();
        store.put("b.example", "domain = \"b.example\"\nbogus = 1\n").unwrap();
        store.put("c.example", "domain = \"x.example\"\n").unwrap();
        let all = store.load_all().unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].0.domain, "a.example");
        assert_eq!(all[0].0.quotas.accounts, Some(3));
        assert!(store.contains("b.example").unwrap());
        store.delete("b.example").unwrap();
        assert!(!store.contains("b.example").unwrap());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn deleting_data_leaves_other_tenants_alone() {
        let dir = crate::testutil::tempdir("tenant-data");
        let storage = Storage::open(&dir).unwrap();
        let store = TenantStore::new(storage.clone());
        for k in ["acct/a.example/u", "plug/a.example/roster/x", "rt/a.example/admins", "acct/a.example.org/u"] {
            storage.put(k.as_bytes(), b"1").unwrap();
        }
        store.delete_data("a.example").unwrap();
        assert!(storage.get(b"acct/a.example/u").unwrap().is_none());
        assert!(storage.get(b"plug/a.example/roster/x").unwrap().is_none());
        assert!(storage.get(b"rt/a.example/admins").unwrap().is_none());
        assert!(storage.get(b"acct/a.example.org/u").unwrap().is_some(), "a.example.org is another tenant");
        let _ = std::fs::remove_dir_all(dir);
    }
}
