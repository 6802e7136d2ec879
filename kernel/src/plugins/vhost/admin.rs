//! Changing a vhost while it serves, for its admins (the `server`
//! interface): its admin list, and its plugins' code and settings. Every
//! change is taken under the host's admin lock, like a config reload, so the
//! two never interleave; a change made here is kept in the database
//! (`runtime_settings`) and outlives restarts and reloads.

use std::sync::Arc;

use super::super::bindings::types::Setting;
use super::super::runtime_settings::RuntimeSettings;
use super::super::settings;
use super::VhostPlugins;
use crate::plugins::PluginStatus;

/// Why a change was not made; nothing changed either way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeError {
    /// The admin's request was refused: the text says which part and why.
    Invalid(String),
    /// The server could not make it (a plugin failed to load, storage failed).
    Failed(String),
}

/// A plugin's settings as an admin edits them.
pub(crate) struct PluginSettings {
    pub declared: Vec<Setting>,
    /// The values it runs with, as a JSON object.
    pub current: String,
    /// The keys set at runtime, over the config file.
    pub overridden: Vec<String>,
}

fn failed(what: &str, e: impl std::fmt::Display) -> ChangeError {
    ChangeError::Failed(format!("{what}: {e}"))
}

impl VhostPlugins {
    /// The admins the config names, and those added at runtime.
    pub(crate) fn admin_list(&self) -> Result<(Vec<String>, Vec<String>), ChangeError> {
        let rt =
            RuntimeSettings::load(&self.host.storage, &self.domain).map_err(|e| failed("reading the admins", e))?;
        Ok((self.file.load().admins.clone(), rt.admins))
    }

    /// Makes `jids` the vhost's admins. Those the config names must stay in
    /// the list (the file names them); the others are kept in the database.
    pub(crate) fn set_admins(&self, jids: &[String]) -> Result<(), ChangeError> {
        let mut wanted = Vec::new();
        for text in jids {
            let bare = match jid::BareJid::new(text.trim()) {
                Ok(j) if j.node().is_some() => j.to_string(),
                _ => return Err(ChangeError::Invalid(format!("{text:?} is not an account's bare JID (user@domain)"))),
            };
            if !wanted.contains(&bare) {
                wanted.push(bare);
            }
        }
        let _admin = self.host.lock_admin();
        let configured = self.file.load().admins.clone();
        if let Some(kept) = configured.iter().find(|a| !wanted.contains(a)) {
            return Err(ChangeError::Invalid(format!(
                "{kept} is an admin named in the config file: remove it from [[vhost]] admins there"
            )));
        }
        let before =
            RuntimeSettings::load(&self.host.storage, &self.domain).map_err(|e| failed("reading the admins", e))?;
        let added: Vec<String> = wanted.iter().filter(|a| !configured.contains(a)).cloned().collect();
        let after = RuntimeSettings { admins: added, ..before.clone() };
        after.store(&self.host.storage, &self.domain, &before).map_err(|e| failed("storing the admins", e))?;
        tracing::info!(vhost = %self.domain, "admins are now {}", wanted.join(", "));
        self.admins.store(Arc::new(wanted));
        Ok(())
    }

    /// The vhost's plugins, in config order.
    pub(crate) fn plugin_statuses(&self) -> Vec<PluginStatus> {
        self.plugins.load().iter().map(|p| p.status()).collect()
    }

    pub(crate) fn plugin_settings(&self, name: &str) -> Result<PluginSettings, ChangeError> {
        let entry = self.plugin(name).ok_or_else(|| self.no_plugin(name))?;
        let version = entry.version();
        let rt = RuntimeSettings::load(&self.host.storage, &self.domain).map_err(|e| failed("reading settings", e))?;
        Ok(PluginSettings {
            declared: version.meta.description.settings.clone(),
            current: version.meta.config_json.clone(),
            overridden: rt.plugins.get(name).map(|t| t.keys().cloned().collect()).unwrap_or_default(),
        })
    }

    /// Loads plugin `name` again from its source and swaps it in.
    pub(crate) fn reload_plugin(&self, name: &str) -> Result<String, ChangeError> {
        let entry = self.plugin(name).ok_or_else(|| self.no_plugin(name))?;
        let _admin = self.host.lock_admin();
        entry.reload().map_err(|e| ChangeError::Failed(format!("{e:#}")))
    }

    /// Sets (or, with `null`, puts back to the file's) settings of plugin
    /// `name`, checked against what it declares, and swaps in a version
    /// initialised with them. The text lists what changed.
    pub(crate) fn configure_plugin(&self, name: &str, changes: &str) -> Result<String, ChangeError> {
        let entry = self.plugin(name).ok_or_else(|| self.no_plugin(name))?;
        let _admin = self.host.lock_admin();
        let file = self.file.load_full();
        let before =
            RuntimeSettings::load(&self.host.storage, &self.domain).map_err(|e| failed("reading settings", e))?;
        let mut after = before.clone();
        after.change_plugin(name, changes).map_err(|e| ChangeError::Invalid(format!("{e:#}")))?;
        let effective = after.over(&file);
        let version = entry.version();
        if version.major() == 1 {
            return Err(ChangeError::Invalid(format!(
                "plugin {name} is built for ABI 1.x, which declares no settings"
            )));
        }
        if let Some(table) = effective.plugins.iter().find(|p| p.name == name).map(|p| &p.config) {
            settings::check(&version.meta.description.settings, table)
                .map_err(|e| ChangeError::Invalid(format!("plugin {name}: {e:#}")))?;
        }
        let plan = self.plan_as(&file, &effective).map_err(|e| ChangeError::Failed(format!("{e:#}")))?;
        after.store(&self.host.storage, &self.domain, &before).map_err(|e| failed("storing the settings", e))?;
        let summary = if plan.changes.is_empty() {
            format!("{}: {name} unchanged", self.domain)
        } else {
            plan.changes.join("\n")
        };
        self.commit(plan);
        tracing::info!("plugin settings changed at runtime: {summary}");
        Ok(summary)
    }

    fn no_plugin(&self, name: &str) -> ChangeError {
        let names: Vec<String> = self.plugins.load().iter().map(|p| p.name.clone()).collect();
        ChangeError::Invalid(format!("vhost {} has no plugin {name:?} (it has {})", self.domain, names.join(", ")))
    }
}
