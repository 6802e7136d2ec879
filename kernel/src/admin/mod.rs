//! The control channel: a Unix socket, mode 0600, speaking one JSON object
//! per line. A request is `{"cmd": "...", ...}`; the reply is
//! `{"ok": true, "result": ...}` or `{"ok": false, "error": "message"}`.
//!
//! Commands: `ping`, `user-add` {users: [{jid, password}]}, `user-passwd`
//! {jid, password}, `user-del` {jid}, `user-list` {domain?}, `plugin-list`,
//! `plugin-reload` {name, vhost?}; and, only a running server answering them:
//! `status` (pid, version, uptime, vhosts, listening addresses, sessions),
//! `sessions` {domain?} (JID, resource, IP, client), `kick` {jid, reason?}
//! (full JID: that session; bare: all of the account's; `policy-violation`),
//! `stats` (registered users, sessions, uptime, s2s streams, stanzas
//! routed), `announce` {domain?, message} (a message from the domain to
//! every online session; the result is how many), `reload` (the config file
//! again, as SIGHUP; the summary, or why the file was refused), `stop`
//! {restart?, delay_secs?, reason?} (as SIGTERM, after the delay; a restart
//! re-executes the server in the same process), `import`
//! {path} (a XEP-0227 file the server reads, into its live plugins) and
//! `export` {domain?} (the XEP-0227 text).
//!
//! Every account made or password set through here meets the kernel's one
//! password policy ([`crate::accounts::policy`]).
//!
//! [`commands`] executes a request against an [`AdminApi`]; the socket
//! server and the CLI's offline path ([`LocalAdmin`], used when no server is
//! running) both go through it, so a command behaves the same either way.

mod client;
pub mod commands;
mod local;
mod parallel;
mod server;

#[cfg(test)]
mod tests;

use std::path::Path;

use anyhow::bail;
use serde_json::Value;

use crate::accounts::Accounts;
use commands::SessionRow;

pub use client::{AdminError, interpret, request};
pub use local::{LocalAdmin, has_database};
pub use server::{MAX_LINE, serve};

/// What the admin commands need from the running server (or from the
/// offline stand-in).
pub trait AdminApi: Send + Sync + 'static {
    fn accounts(&self) -> &Accounts;
    /// The virtual hosts served; JIDs in requests must be under one of them.
    fn domains(&self) -> Vec<String>;
    fn plugin_list(&self) -> serde_json::Value;
    fn plugin_reload(&self, name: &str, vhost: Option<&str>) -> anyhow::Result<String>;
    /// Called after an account was created, so plugins can hear of it.
    fn on_user_created(&self, _jid: &str) {}
    /// Called after an account was deleted, so plugins can drop its data.
    fn on_user_deleted(&self, _jid: &str) {}

    // What follows only a running server can answer; the offline stand-in
    // keeps these defaults.

    fn status(&self) -> anyhow::Result<Value> {
        bail!("{}", needs_server("status"))
    }
    /// Every bound session of every vhost.
    fn sessions(&self) -> anyhow::Result<Vec<SessionRow>> {
        bail!("{}", needs_server("sessions"))
    }
    /// Ends `bare`'s session `resource`, or all of them; the full JIDs ended.
    fn kick(&self, _bare: &str, _resource: Option<&str>, _reason: &str) -> anyhow::Result<Vec<String>> {
        bail!("{}", needs_server("kick"))
    }
    /// Uptime, sessions, s2s streams, stanzas (registered users are added by the caller).
    fn stats(&self) -> anyhow::Result<Value> {
        bail!("{}", needs_server("stats"))
    }
    /// Sends `message` to every session of `domain`; how many got it.
    fn announce(&self, _domain: &str, _message: &str) -> anyhow::Result<usize> {
        bail!("{}", needs_server("announce"))
    }
    /// Re-reads the config file; the summary of what changed.
    fn reload(&self) -> anyhow::Result<String> {
        bail!("{}", needs_server("reload"))
    }
    /// Stops (or restarts) the server after `delay`, telling every session
    /// `reason` ("" for the default text).
    fn stop(&self, _restart: bool, _delay: std::time::Duration, _reason: &str) -> anyhow::Result<()> {
        bail!("{}", needs_server("stop"))
    }
    fn import(&self, _path: &Path) -> anyhow::Result<Value> {
        bail!("{}", needs_server("import"))
    }
    /// The XEP-0227 text of every account (or `domain`'s).
    fn export(&self, _domain: Option<&str>) -> anyhow::Result<String> {
        bail!("{}", needs_server("export"))
    }
    /// Every tenant: domain, where it is defined, sessions, quotas.
    fn tenant_list(&self) -> anyhow::Result<Value> {
        bail!("{}", needs_server("tenant list"))
    }
    /// Serves a new tenant (its table as TOML); what was done.
    fn tenant_add(&self, _config: &str) -> anyhow::Result<String> {
        bail!("{}", needs_server("tenant add"))
    }
    /// Replaces a runtime tenant's table; what changed.
    fn tenant_change(&self, _config: &str) -> anyhow::Result<String> {
        bail!("{}", needs_server("tenant change"))
    }
    /// Stops serving a runtime tenant; what became of it and its data.
    fn tenant_remove(&self, _domain: &str, _removal: &crate::tenants::Removal) -> anyhow::Result<String> {
        bail!("{}", needs_server("tenant remove"))
    }
}

fn needs_server(cmd: &str) -> String {
    format!("`{cmd}` needs a running server (start it with `waxwing serve`)")
}
