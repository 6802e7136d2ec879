//! Settings an admin changed while the server runs (XEP-0133's edit-admin,
//! Waxwing's configure-plugin): kept in the database, per vhost, and laid
//! over the config file's at start and at every config reload, so that a
//! change made over XMPP survives both. The config file stays the base: a
//! key put back (`null`) follows the file again.
//!
//! Keys: `rt/<vhost>/admins` (a JSON list of bare JIDs) and
//! `rt/<vhost>/plugin/<name>` (a JSON object of the keys set).

use std::collections::BTreeMap;

use anyhow::{Context as _, anyhow, bail};
use serde_json::{Map, Value};

use crate::config::VhostConfig;
use crate::storage::{BatchOp, Storage};

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RuntimeSettings {
    /// Admins added at runtime, beside the config's.
    pub admins: Vec<String>,
    /// Per plugin, the keys set at runtime.
    pub plugins: BTreeMap<String, toml::Table>,
}

fn admins_key(domain: &str) -> Vec<u8> {
    format!("rt/{domain}/admins").into_bytes()
}

fn plugins_prefix(domain: &str) -> Vec<u8> {
    format!("rt/{domain}/plugin/").into_bytes()
}

impl RuntimeSettings {
    /// What is stored for `domain` (nothing yet: empty).
    pub fn load(storage: &Storage, domain: &str) -> anyhow::Result<RuntimeSettings> {
        let mut out = RuntimeSettings::default();
        if let Some(bytes) = storage.get(&admins_key(domain))? {
            out.admins = serde_json::from_slice(&bytes).context("reading the admins added at runtime")?;
        }
        let prefix = plugins_prefix(domain);
        let mut after = Vec::new();
        loop {
            let page = storage.scan(&prefix, &after, 256)?;
            let Some((last, _)) = page.last() else { break };
            after = last.clone();
            for (key, value) in &page {
                let name = String::from_utf8_lossy(&key[prefix.len()..]).into_owned();
                let table: toml::Table = serde_json::from_slice(value)
                    .with_context(|| format!("reading the runtime settings of plugin {name}"))?;
                out.plugins.insert(name, table);
            }
        }
        Ok(out)
    }

    /// Writes what changed from `before`, in one synced batch.
    pub fn store(&self, storage: &Storage, domain: &str, before: &RuntimeSettings) -> anyhow::Result<()> {
        let mut ops = Vec::new();
        if self.admins != before.admins {
            ops.push(if self.admins.is_empty() {
                BatchOp::Delete(admins_key(domain))
            } else {
                BatchOp::Put(admins_key(domain), serde_json::to_vec(&self.admins)?)
            });
        }
        let prefix = plugins_prefix(domain);
        for name in before.plugins.keys().chain(self.plugins.keys()) {
            let (old, new) = (before.plugins.get(name), self.plugins.get(name));
            if old == new {
                continue;
            }
            let key = [prefix.as_slice(), name.as_bytes()].concat();
            ops.push(match new {
                Some(t) if !t.is_empty() => BatchOp::Put(key, serde_json::to_vec(t)?),
                _ => BatchOp::Delete(key),
            });
        }
        if ops.is_empty() {
            return Ok(());
        }
        storage.batch(&ops)
    }

    /// `file` with these settings over it: admins added, plugin keys set.
    /// A plugin no longer in the file keeps its stored keys for when it
    /// comes back, and gains nothing here.
    pub fn over(&self, file: &VhostConfig) -> VhostConfig {
        let mut out = file.clone();
        for a in &self.admins {
            if !out.admins.contains(a) {
                out.admins.push(a.clone());
            }
        }
        for p in &mut out.plugins {
            if let Some(set) = self.plugins.get(&p.name) {
                for (k, v) in set {
                    p.config.insert(k.clone(), v.clone());
                }
            }
        }
        out
    }

    /// Applies `changes` (a JSON object; `null` puts a key back to the
    /// file's) to plugin `name`'s runtime keys. Whether the keys and values
    /// fit the plugin's settings is checked when the result is loaded.
    pub fn change_plugin(&mut self, name: &str, changes: &str) -> anyhow::Result<()> {
        let changes: Map<String, Value> = match serde_json::from_str(changes) {
            Ok(Value::Object(m)) => m,
            Ok(other) => bail!("the changes must be a JSON object of settings, not {other}"),
            Err(e) => bail!("the changes are not JSON: {e}"),
        };
        let mut table = self.plugins.get(name).cloned().unwrap_or_default();
        for (key, value) in changes {
            if value.is_null() {
                table.remove(&key);
                continue;
            }
            let v = toml::Value::try_from(&value)
                .map_err(|e| anyhow!("setting {key:?}: {value} cannot be a config value: {e}"))?;
            table.insert(key, v);
        }
        if table.is_empty() {
            self.plugins.remove(name);
        } else {
            self.plugins.insert(name.to_string(), table);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PluginConfig;

    fn file() -> VhostConfig {
        let mut config = toml::Table::new();
        config.insert("max".into(), toml::Value::Integer(5));
        VhostConfig {
            domain: "a.example".into(),
            cert: None,
            key: None,
            admins: vec!["root@a.example".into()],
            quotas: Default::default(),
            plugins: vec![PluginConfig { name: "p".into(), source: "builtin".into(), config, grants: None }],
        }
    }

    #[test]
    fn settings_lie_over_the_file_and_null_puts_a_key_back() {
        let mut rt = RuntimeSettings { admins: vec!["ann@a.example".into()], ..Default::default() };
        rt.change_plugin("p", r#"{"max": 9, "motd": "hi"}"#).unwrap();
        let cfg = rt.over(&file());
        assert_eq!(cfg.admins, ["root@a.example", "ann@a.example"]);
        assert_eq!(cfg.plugins[0].config.get("max"), Some(&toml::Value::Integer(9)));
        assert_eq!(cfg.plugins[0].config.get("motd"), Some(&toml::Value::String("hi".into())));

        rt.change_plugin("p", r#"{"max": null}"#).unwrap();
        assert_eq!(rt.over(&file()).plugins[0].config.get("max"), Some(&toml::Value::Integer(5)), "the file's again");
        rt.change_plugin("p", r#"{"motd": null}"#).unwrap();
        assert!(rt.plugins.is_empty(), "nothing left to keep");
    }

    #[test]
    fn bad_changes_are_refused_with_the_reason() {
        let mut rt = RuntimeSettings::default();
        assert!(rt.change_plugin("p", "[1]").unwrap_err().to_string().contains("JSON object"));
        assert!(rt.change_plugin("p", "{").unwrap_err().to_string().contains("not JSON"));
        assert!(rt.change_plugin("p", r#"{"ok": 1, "x": [null]}"#).is_err(), "TOML has no null");
        assert_eq!(rt, RuntimeSettings::default(), "a refused change leaves nothing behind");
    }

    #[test]
    fn what_is_stored_is_what_loads() {
        let dir = crate::testutil::tempdir("runtime-settings");
        let storage = Storage::open(&dir).unwrap();
        let empty = RuntimeSettings::default();
        let mut rt = RuntimeSettings { admins: vec!["ann@a.example".into()], ..Default::default() };
        rt.change_plugin("p", r#"{"max": 9}"#).unwrap();
        rt.store(&storage, "a.example", &empty).unwrap();
        assert_eq!(RuntimeSettings::load(&storage, "a.example").unwrap(), rt);
        assert_eq!(RuntimeSettings::load(&storage, "b.example").unwrap(), empty, "per vhost");
        empty.store(&storage, "a.example", &rt).unwrap();
        assert_eq!(RuntimeSettings::load(&storage, "a.example").unwrap(), empty);
        drop(storage);
        let _ = std::fs::remove_dir_all(dir);
    }
}
