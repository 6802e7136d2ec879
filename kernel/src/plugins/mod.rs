//! The wasm host: loads each virtual host's plugins (WebAssembly components
//! built against `plugin-abi/wit`), links the host functions they may call,
//! keeps a small pool of live instances per plugin version, enforces the
//! sandbox (deadline, memory cap, capability grants) and swaps versions while
//! stanzas keep flowing.
//!
//! The router sees only [`PluginHost`], [`VhostPlugins`] and the plain types
//! below; nothing wasmtime-specific crosses this module's boundary.
//!
//! Layout: `engine` (the process-wide wasmtime engine, compile cache, ABI
//! check), `bindings` (generated WIT types and conversions), `store` (per
//! instance state), `host_calls`/`outgoing`/`timers`/`wasi_shim` (what a
//! plugin can call), `instance_pool` (live instances of one version), `idle`
//! (idle instances of every version, swept after a minute unused), `plugin`
//! (one plugin on one vhost: versions, health, hot swap), `routes`, `vhost`,
//! `plugin_host`, `status`.

mod bindings;
pub mod builtin;
mod call_clock;
mod commands;
mod engine;
mod filter_scope;
mod guest;
mod host_calls;
mod idle;
mod instance_pool;
mod outgoing;
mod pending_writes;
mod plugin;
mod plugin_host;
mod requests;
mod routes;
mod runtime_settings;
mod settings;
mod status;
mod store;
mod tenant_budget;
mod timers;
mod vhost;
mod wasi_shim;

#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_runtime;
#[cfg(test)]
mod tests_swap;

pub use plugin_host::PluginHost;
pub(crate) use settings::parse_size;
pub use status::{PluginState, PluginStatus};
pub use vhost::{Captured, StreamFeatures, VhostPlugins};

/// Who a stanza is addressed to, as seen from the vhost (mirrors the WIT `address`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Address {
    /// The vhost's own domain, or no `to` at all.
    Host,
    /// A local account's bare JID.
    Bare,
    /// A local full JID.
    Full,
    /// The plugin's own service subdomain, with or without node or resource.
    Service,
    /// Any other domain: another plugin's service or a remote server.
    Elsewhere,
}

/// One online session, as plugins see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// Full JID.
    pub jid: String,
    pub priority: i8,
    /// Whether the session has sent available presence.
    pub available: bool,
    /// The session's last presence stanza, serialized, or "".
    pub presence: String,
}

/// Which plugin sent a stanza, on which vhost.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub vhost: &'a str,
    pub plugin: &'a str,
}

/// What plugins need from the rest of the kernel; implemented by the router.
pub trait Kernel: Send + Sync + 'static {
    fn sessions_of(&self, bare_jid: &str) -> Vec<SessionInfo>;
    /// Route a stanza a plugin sent (already parsed and checked: its `from` is
    /// on the plugin's vhost or service subdomain, or its `to` is on the vhost).
    fn route_from_plugin(&self, stanza: waxwing_xml::Element, origin: &Origin<'_>);
    /// Route the same stanza to each of `to` (`route.send-many`), in order.
    fn route_many_from_plugin(&self, stanza: waxwing_xml::Element, to: Vec<jid::Jid>, origin: &Origin<'_>) {
        for recipient in to {
            let mut one = stanza.clone();
            one.set_attr("to", recipient.to_string());
            self.route_from_plugin(one, origin);
        }
    }
    /// A plugin created or deleted an account: close a deleted one's
    /// sessions and tell the vhost's plugins.
    fn account_changed(&self, bare_jid: &str, created: bool);
    /// Full JIDs of every session of `domain`, sorted.
    fn online(&self, _domain: &str) -> Vec<String> {
        Vec::new()
    }
    /// Closes one session (`policy-violation`, `reason`); false when there is none.
    fn end_session(&self, _full_jid: &str, _reason: &str) -> bool {
        false
    }
    /// Whether this server answers for `domain` itself (a vhost, a plugin's
    /// service subdomain, a component's domain); a stanza from any other
    /// came from another server (`filter-scope.watch-remote`). A kernel
    /// without other servers serves every domain it sees.
    fn is_local_domain(&self, _domain: &str) -> bool {
        true
    }
    /// Stops (or restarts) the server at `request.at`, replacing an earlier
    /// request; false when this kernel is no running server.
    fn request_stop(&self, _request: StopRequest) -> bool {
        false
    }
    /// The server's tenants, for operators' commands; `None` when this
    /// kernel is no running server.
    fn tenants(&self) -> Option<std::sync::Arc<dyn crate::tenants::TenantAdmin>> {
        None
    }
}

/// A plugin's `server.shutdown`: when, what sessions are told, and whether
/// the server starts again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopRequest {
    pub at: std::time::Instant,
    pub reason: String,
    pub restart: bool,
}

/// What became of a stanza offered to the plugins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handling {
    /// A plugin handled it (any reply has already been routed).
    Done,
    /// Reply to the sender with this error.
    Error(waxwing_xml::StanzaError),
    /// No plugin took it: the kernel's default applies.
    NotHandled,
}

/// What the filters decided about a stanza before routing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Drop,
    Rewrite(waxwing_xml::Element),
    Reject(waxwing_xml::StanzaError),
}

/// Events plugins can subscribe to (mirrors the WIT `event-kind`). Timers
/// and iq responses need no subscription: they reach the plugin that asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    SessionStarted,
    SessionEnded,
    PresenceChanged,
    UserCreated,
    UserDeleted,
    MessageUndeliverable,
}
