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
    /// Like [`LocalAdmin::open`], but refuses a data directory that holds no
    /// database yet rather than creating one: the CLI run from another
    /// folder, or with another config, than the server's would otherwise
    /// make accounts the server never sees. `config` says where the config
    /// came from, for the message.
    pub fn open_existing(cfg: &Config, config: &str) -> anyhow::Result<LocalAdmin> {
        let dir = &cfg.server.data_dir;
        if !has_database(dir) {
            bail!(
                "no database in the data directory {} and no server answers on the admin socket {} (config:                  {config}): start the server (`waxwing serve`, which creates the database), or point this command                  at the server's config with --config FILE or WAXWING_CONFIG",
                dir.display(),
                cfg.admin_socket().display()
            );
        }
        Self::open(cfg)
    }

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

/// Whether `dir` holds a database `serve` made (RocksDB's `CURRENT` file).
pub fn has_database(dir: &std::path::Path) -> bool {
    dir.join("db").join("CURRENT").is_file()
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
