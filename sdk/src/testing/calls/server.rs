//! `server` as recorded state: the admin lists, the plugins and their
//! settings, the operators and tenants as a test sets them, and what the
//! plugin asked for (reloads, configurations, a stop, tenants added,
//! changed and removed).

use crate::bindings::waxwing::plugin::server::{AdminList, PluginInfo, PluginSettings, ServerError, TenantInfo};
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

pub(crate) fn is_operator(jid: &str) -> bool {
    let bare = jid.split('/').next().unwrap_or_default();
    with(|s| s.server.granted && s.server.operators.iter().any(|o| o == bare))
}

pub(crate) fn tenants() -> Result<Vec<TenantInfo>, ServerError> {
    granted()?;
    Ok(with(|s| s.server.tenants.clone()))
}

/// The fake reads only a table's `domain`; the rest is recorded for the
/// test to check, as the kernel would parse it.
fn table_domain(table: &str) -> Result<String, ServerError> {
    table
        .lines()
        .find_map(|l| l.trim().strip_prefix("domain").map(str::trim)?.strip_prefix('=').map(str::trim))
        .map(|d| d.trim_matches('"').to_string())
        .ok_or_else(|| ServerError::Invalid("the tenant's table: missing field `domain`".into()))
}

pub(crate) fn add_tenant(table: &str) -> Result<String, ServerError> {
    granted()?;
    let domain = table_domain(table)?;
    with(|s| {
        if s.server.tenants.iter().any(|t| t.domain == domain) {
            return Err(ServerError::Invalid(format!("{domain} is served here already")));
        }
        s.server.tenants.push(TenantInfo {
            domain: domain.clone(),
            source: "runtime".into(),
            sessions: 0,
            connections: 0,
        });
        s.server.added_tenants.push(table.to_string());
        Ok(format!("added vhost {domain}"))
    })
}

/// Refused as the kernel refuses it: an unknown tenant, or a config file's.
pub(crate) fn change_tenant(table: &str) -> Result<String, ServerError> {
    granted()?;
    let domain = table_domain(table)?;
    with(|s| {
        let Some(t) = s.server.tenants.iter().find(|t| t.domain == domain) else {
            return Err(ServerError::Invalid(format!("there is no tenant {domain}")));
        };
        if t.source != "runtime" {
            return Err(ServerError::Invalid(format!("{domain} is a [[vhost]] of the config file")));
        }
        s.server.changed_tenants.push(table.to_string());
        Ok("no plugin changes".to_string())
    })
}

pub(crate) fn remove_tenant(domain: &str, keep_data: bool) -> Result<String, ServerError> {
    granted()?;
    with(|s| {
        let Some(i) = s.server.tenants.iter().position(|t| t.domain == domain) else {
            return Err(ServerError::Invalid(format!("there is no tenant {domain}")));
        };
        if s.server.tenants[i].source != "runtime" {
            return Err(ServerError::Invalid(format!("{domain} is a [[vhost]] of the config file")));
        }
        s.server.tenants.remove(i);
        s.server.removed_tenants.push((domain.to_string(), keep_data));
        Ok(format!("removed tenant {domain}"))
    })
}
