//! The control channel: a Unix socket, mode 0600, speaking one JSON object
//! per line. A request is `{"cmd": "...", ...}`; the reply is
//! `{"ok": true, "result": ...}` or `{"ok": false, "error": "message"}`.
//!
//! Commands: `ping`, `user-add` {users: [{jid, password}]}, `user-passwd`
//! {jid, password}, `user-del` {jid}, `user-list` {domain?}, `plugin-list`,
//! `plugin-reload` {name, vhost?}.
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

use crate::accounts::Accounts;

pub use client::{AdminError, interpret, request};
pub use local::LocalAdmin;
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
}
