//! `server` (WIT 2.3): the running server's administration, under the
//! operator's `server` grant. The work is the vhost's (`vhost/admin.rs`)
//! and the router's (stopping); this is the boundary: the grant, the
//! arguments, the conversion of errors, and the call's clock, which the
//! kernel's own work (compiling a plugin) does not run down.

use std::time::{Duration, Instant};

use super::super::bindings::waxwing::plugin::server::{self as wit, AdminList, PluginInfo, ServerError};
use crate::plugins::StopRequest;
use crate::plugins::store::StoreData;
use crate::plugins::vhost::{ChangeError, VhostPlugins};

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
}
