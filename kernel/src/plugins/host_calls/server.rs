//! `server` (WIT 2.3): the running server's administration, under the
//! operator's `server` grant. The work is the vhost's (`vhost/admin.rs`)
//! and the router's (stopping); this is the boundary: the grant, the
//! arguments, the conversion of errors, and the call's clock, which the
//! kernel's own work (compiling a plugin) does not run down. The tenant
//! calls (2.4) are the kernel's `TenantAdmin`, as the CLI's are.

use std::time::{Duration, Instant};

use super::super::bindings::waxwing::plugin::server::{self as wit, AdminList, PluginInfo, ServerError, TenantInfo};
use crate::plugins::StopRequest;
use crate::plugins::store::StoreData;
use crate::plugins::vhost::{ChangeError, VhostPlugins};
use crate::tenants::{Removal, TenantAdmin, TenantSource};

/// `shutdown`'s longest delay: a day.
const MAX_STOP_DELAY_MS: u64 = 86_400_000;
/// Bytes of the reason sessions are told.
const MAX_REASON_BYTES: usize = 1024;

impl From<ChangeError> for ServerError {
    fn from(e: ChangeError) -> Self {
        match e {
            ChangeError::Invalid(m) => ServerError::Invalid(m),
            ChangeError::Failed(m) => ServerError::Failed(m),
        }
    }
}

impl StoreData {
    fn server(&self) -> Result<std::sync::Arc<VhostPlugins>, ServerError> {
        if !self.grants.has_server() {
            return Err(ServerError::NotGranted);
        }
        self.vhost().ok_or_else(|| ServerError::Failed("this host is shutting down".into()))
    }

    /// The server's tenants; not the vhost's, so a plugin whose own tenant
    /// was just removed still reaches them.
    fn tenant_admin(&self) -> Result<std::sync::Arc<dyn TenantAdmin>, ServerError> {
        if !self.grants.has_server() {
            return Err(ServerError::NotGranted);
        }
        self.shared
            .kernel
            .get()
            .and_then(|k| k.tenants())
            .ok_or_else(|| ServerError::Failed("this is no running server (an import or a check)".into()))
    }
}

/// What the lifecycle refused, with its whole context chain: the plugin's
/// operator reads it as the command's note.
fn lifecycle_error(e: anyhow::Error) -> ServerError {
    ServerError::Invalid(format!("{e:#}"))
}

fn clamp(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl wit::Host for StoreData {
    fn admins(&mut self) -> Result<AdminList, ServerError> {
        let (configured, added) = self.server()?.admin_list()?;
        Ok(AdminList { configured, added })
    }

    fn set_admins(&mut self, jids: Vec<String>) -> Result<(), ServerError> {
        let vhost = self.server()?;
        tracing::info!(plugin = %self.shared.name, vhost = %self.shared.domain, "admin list change asked for");
        Ok(vhost.set_admins(&jids)?)
    }

    fn plugins(&mut self) -> Result<Vec<PluginInfo>, ServerError> {
        Ok(self
            .server()?
            .plugin_statuses()
            .into_iter()
            .map(|s| PluginInfo {
                name: s.name,
                version: s.version,
                source: s.source,
                state: s.state.as_str().to_string(),
                reason: s.reason.unwrap_or_default(),
                calls: s.calls,
                failures: s.failures,
            })
            .collect())
    }

    fn settings_of(&mut self, name: String) -> Result<wit::PluginSettings, ServerError> {
        let s = self.server()?.plugin_settings(&name)?;
        Ok(wit::PluginSettings { declared: s.declared, current: s.current, overridden: s.overridden })
    }

    fn reload_plugin(&mut self, name: String) -> Result<String, ServerError> {
        let vhost = self.server()?;
        Ok(self.clock.excluding(|| vhost.reload_plugin(&name))?)
    }

    fn configure_plugin(&mut self, name: String, changes: String) -> Result<String, ServerError> {
        let vhost = self.server()?;
        Ok(self.clock.excluding(|| vhost.configure_plugin(&name, &changes))?)
    }

    fn shutdown(&mut self, delay_ms: u64, reason: String, restart: bool) -> Result<(), ServerError> {
        self.server()?;
        if delay_ms > MAX_STOP_DELAY_MS {
            return Err(ServerError::Invalid(format!("delay-ms {delay_ms} is over a day ({MAX_STOP_DELAY_MS})")));
        }
        if reason.len() > MAX_REASON_BYTES {
            return Err(ServerError::Invalid(format!("the reason is over {MAX_REASON_BYTES} bytes")));
        }
        let Some(kernel) = self.shared.kernel.get() else {
            return Err(ServerError::Failed("this is no running server".into()));
        };
        let request = StopRequest { at: Instant::now() + Duration::from_millis(delay_ms), reason, restart };
        if !kernel.request_stop(request) {
            return Err(ServerError::Failed("this is no running server (an import or a check)".into()));
        }
        tracing::warn!(
            plugin = %self.shared.name,
            vhost = %self.shared.domain,
            "the server will {} in {delay_ms} ms",
            if restart { "restart" } else { "stop" }
        );
        Ok(())
    }

    fn is_operator(&mut self, jid: String) -> bool {
        let bare = jid.split('/').next().unwrap_or_default();
        self.tenant_admin().is_ok_and(|t| t.is_operator(bare))
    }

    fn tenants(&mut self) -> Result<Vec<TenantInfo>, ServerError> {
        Ok(self
            .tenant_admin()?
            .list()
            .into_iter()
            .map(|t| TenantInfo {
                domain: t.domain,
                source: match t.source {
                    TenantSource::Config => "config",
                    TenantSource::Runtime => "runtime",
                }
                .to_string(),
                sessions: clamp(t.sessions),
                connections: clamp(t.connections),
            })
            .collect())
    }

    fn add_tenant(&mut self, table: String) -> Result<String, ServerError> {
        let tenants = self.tenant_admin()?;
        tracing::info!(plugin = %self.shared.name, vhost = %self.shared.domain, "tenant addition asked for");
        // Loading the tenant's plugins is the kernel's work, not the caller's CPU time.
        self.clock.excluding(|| tenants.add(&table)).map_err(lifecycle_error)
    }

    fn change_tenant(&mut self, table: String) -> Result<String, ServerError> {
        let tenants = self.tenant_admin()?;
        tracing::info!(plugin = %self.shared.name, vhost = %self.shared.domain, "tenant change asked for");
        // Loading the tenant's changed plugins is the kernel's work, not the
        // caller's CPU time. The tenant may be this plugin's own: its new
        // version swaps in and this call finishes on the old one.
        self.clock.excluding(|| tenants.change(&table)).map_err(lifecycle_error)
    }

    fn remove_tenant(&mut self, domain: String, keep_data: bool) -> Result<String, ServerError> {
        let tenants = self.tenant_admin()?;
        tracing::info!(
            plugin = %self.shared.name,
            vhost = %self.shared.domain,
            "removal of tenant {domain} asked for"
        );
        let removal = Removal { export_to: None, keep_data };
        // The vhost may be this plugin's own: its plugins are retired, not
        // waited for, so this call finishes on the retired version.
        self.clock.excluding(|| tenants.remove(&domain, &removal)).map_err(lifecycle_error)
    }
}
