//! `server` as recorded state: the admin lists, the plugins and their
//! settings as a test sets them, and what the plugin asked for (reloads,
//! configurations, a stop).

use crate::bindings::waxwing::plugin::server::{AdminList, PluginInfo, PluginSettings, ServerError};
use crate::testing::state::with;

fn granted() -> Result<(), ServerError> {
    if with(|s| s.server.granted) { Ok(()) } else { Err(ServerError::NotGranted) }
}

pub(crate) fn admins() -> Result<AdminList, ServerError> {
    granted()?;
    Ok(with(|s| AdminList { configured: s.admins.clone(), added: s.server.added_admins.clone() }))
}

pub(crate) fn set_admins(jids: &[String]) -> Result<(), ServerError> {
    granted()?;
    with(|s| {
        for j in jids {
            match ::jid::BareJid::new(j) {
                Ok(b) if b.node().is_some() => {}
                _ => return Err(ServerError::Invalid(format!("{j:?} is not an account's bare JID"))),
            }
        }
        if let Some(kept) = s.admins.iter().find(|a| !jids.contains(a)) {
            return Err(ServerError::Invalid(format!("{kept} is an admin named in the config file")));
        }
        s.server.added_admins = jids.iter().filter(|j| !s.admins.contains(j)).cloned().collect();
        Ok(())
    })
}

pub(crate) fn plugins() -> Result<Vec<PluginInfo>, ServerError> {
    granted()?;
    Ok(with(|s| s.server.plugins.iter().map(|(p, _)| p.clone()).collect()))
}

fn unknown(name: &str) -> ServerError {
    ServerError::Invalid(format!("no plugin {name:?} here"))
}

pub(crate) fn settings_of(plugin: &str) -> Result<PluginSettings, ServerError> {
    granted()?;
    with(|s| s.server.plugins.iter().find(|(p, _)| p.name == plugin).map(|(_, st)| st.clone()))
        .ok_or_else(|| unknown(plugin))
}

pub(crate) fn reload_plugin(plugin: &str) -> Result<String, ServerError> {
    granted()?;
    with(|s| {
        if !s.server.plugins.iter().any(|(p, _)| p.name == plugin) {
            return Err(unknown(plugin));
        }
        s.server.reloaded.push(plugin.to_string());
        Ok(format!("{plugin} reloaded"))
    })
}

pub(crate) fn configure_plugin(plugin: &str, changes: &str) -> Result<String, ServerError> {
    granted()?;
    with(|s| {
        if !s.server.plugins.iter().any(|(p, _)| p.name == plugin) {
            return Err(unknown(plugin));
        }
        s.server.configured.push((plugin.to_string(), changes.to_string()));
        Ok(format!("reconfigured {plugin}"))
    })
}

pub(crate) fn shutdown(delay_ms: u64, reason: &str, restart: bool) -> Result<(), ServerError> {
    granted()?;
    if delay_ms > 86_400_000 {
        return Err(ServerError::Invalid(format!("delay-ms {delay_ms} is over a day")));
    }
    with(|s| s.server.stop = Some((delay_ms, reason.to_string(), restart)));
    Ok(())
}
