//! The running server's administration (WIT 2.3), for an administration
//! plugin: this host's admin list and plugins, stopping or restarting the
//! server, and (WIT 2.4) the server's tenants for its operators. Needs the
//! `server` grant, which only the operator's `grants` list can give.

use std::fmt;

use super::sys;
use crate::Json;
use crate::bindings::waxwing::plugin::server as wit;

pub use wit::{AdminList, PluginInfo, PluginSettings, TenantInfo};

/// Why a call did nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerError {
    /// The operator did not grant `server`.
    NotGranted,
    /// The arguments were refused; the text says which and why.
    Invalid(String),
    /// The server could not make the change; the text says why.
    Failed(String),
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::NotGranted => write!(f, "capability 'server' not granted"),
            ServerError::Invalid(m) => write!(f, "refused: {m}"),
            ServerError::Failed(m) => write!(f, "failed: {m}"),
        }
    }
}

impl std::error::Error for ServerError {}

impl From<wit::ServerError> for ServerError {
    fn from(e: wit::ServerError) -> Self {
        match e {
            wit::ServerError::NotGranted => ServerError::NotGranted,
            wit::ServerError::Invalid(m) => ServerError::Invalid(m),
            wit::ServerError::Failed(m) => ServerError::Failed(m),
        }
    }
}

/// This host's admins: those the config names, and those added at runtime.
pub fn admins() -> Result<AdminList, ServerError> {
    Ok(sys::server::admins()?)
}

/// Makes `jids` this host's admins; the config's must stay among them.
pub fn set_admins(jids: &[String]) -> Result<(), ServerError> {
    Ok(sys::server::set_admins(jids)?)
}

/// This host's plugins, in config order.
pub fn plugins() -> Result<Vec<PluginInfo>, ServerError> {
    Ok(sys::server::plugins()?)
}

/// What `plugin` declares, the values it runs with, and which were set at runtime.
pub fn settings_of(plugin: &str) -> Result<PluginSettings, ServerError> {
    Ok(sys::server::settings_of(plugin)?)
}

/// Loads `plugin` again from its source and swaps it in; what changed.
pub fn reload_plugin(plugin: &str) -> Result<String, ServerError> {
    Ok(sys::server::reload_plugin(plugin)?)
}

/// Sets settings of `plugin` (an object of declared keys; `null` puts a key
/// back to the config file's), kept across restarts; what changed.
pub fn configure_plugin(plugin: &str, changes: &Json) -> Result<String, ServerError> {
    Ok(sys::server::configure_plugin(plugin, &changes.to_string())?)
}

/// Stops the server in `delay_ms`, telling every session `reason`; with
/// `restart` it starts again.
pub fn shutdown(delay_ms: u64, reason: &str, restart: bool) -> Result<(), ServerError> {
    Ok(sys::server::shutdown(delay_ms, reason, restart)?)
}

/// Whether `jid` (its bare part) is one of the server's operators; false
/// without the grant. The kernel leaves this check to the plugin: ask it of
/// a command's sender before `shutdown` or a tenant call.
pub fn is_operator(jid: &str) -> bool {
    sys::server::is_operator(jid)
}

/// Every tenant of the server, by domain.
pub fn tenants() -> Result<Vec<TenantInfo>, ServerError> {
    Ok(sys::server::tenants()?)
}

/// Serves a new tenant described by `table`, a `[[vhost]]` table's keys as
/// TOML, kept across restarts; what the kernel started.
pub fn add_tenant(table: &str) -> Result<String, ServerError> {
    Ok(sys::server::add_tenant(table)?)
}

/// Replaces the whole table of a tenant added at runtime (named by the
/// table's `domain`) with `table`: a key left out is back to the server's
/// default. Its sessions stay; what the kernel changed.
pub fn change_tenant(table: &str) -> Result<String, ServerError> {
    Ok(sys::server::change_tenant(table)?)
}

/// Stops serving a tenant added at runtime, its data deleted unless
/// `keep_data`; what the kernel did.
pub fn remove_tenant(domain: &str, keep_data: bool) -> Result<String, ServerError> {
    Ok(sys::server::remove_tenant(domain, keep_data)?)
}
