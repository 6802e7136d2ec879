//! The admin API without a server: the CLI's `user` commands use it when
//! nothing listens on the admin socket, opening the data directory itself.

use anyhow::bail;

use super::AdminApi;
use crate::accounts::Accounts;
use crate::config::Config;
use crate::storage::Storage;

pub struct LocalAdmin {
    accounts: Accounts,
    domains: Vec<String>,
}

impl LocalAdmin {
    /// Fails with the storage layer's explanation if a server holds the
    /// database (started between our socket check and now).
    pub fn open(cfg: &Config) -> anyhow::Result<LocalAdmin> {
        let storage = Storage::open(&cfg.server.data_dir)?;
        Ok(LocalAdmin {
            accounts: Accounts::new(storage, cfg.sasl.scram_iterations),
            domains: cfg.vhosts.iter().map(|v| v.domain.clone()).collect(),
        })
    }
}

impl AdminApi for LocalAdmin {
    fn accounts(&self) -> &Accounts {
        &self.accounts
    }

    fn domains(&self) -> Vec<String> {
        self.domains.clone()
    }

    /// No plugins are loaded without a server; the CLI does not ask.
    fn plugin_list(&self) -> serde_json::Value {
        serde_json::Value::Array(Vec::new())
    }

    fn plugin_reload(&self, name: &str, _vhost: Option<&str>) -> anyhow::Result<String> {
        bail!("cannot reload plugin {name:?}: plugins run only inside a running server (`waxwing serve`)")
    }
}
