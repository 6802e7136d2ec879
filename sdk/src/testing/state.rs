//! The fake host's state: one per thread, so each test (cargo runs every
//! test on a thread of its own) starts from an empty host.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashSet};

use waxwing_xml::Element;

use super::records::{PendingTimer, SentRequest};
use crate::Capability;
use crate::bindings::waxwing::plugin::commands::Command;
use crate::bindings::waxwing::plugin::disco::HostInfo;
use crate::bindings::waxwing::plugin::host::Level;
use crate::bindings::waxwing::plugin::server::{PluginInfo, PluginSettings, TenantInfo};
use crate::bindings::waxwing::plugin::sessions::SessionInfo;
use crate::bindings::waxwing::plugin::types::HostError;
use crate::bindings::waxwing::plugin::uploads::SlotRequest;

/// 2023-11-14T22:13:20Z: a fixed, recognisable instant.
pub(crate) const DEFAULT_NOW_MS: u64 = 1_700_000_000_000;
pub(crate) const DEFAULT_DOMAIN: &str = "example.org";
pub(crate) const DEFAULT_PLUGIN: &str = "plugin";
const DEFAULT_SEED: u64 = 0x9E37_79B9_7F4A_7C15;

/// What a description declared that the kernel holds a plugin to.
pub(crate) struct Declared {
    /// The full service domain (`conference.example.org`), if any.
    pub(crate) service: Option<String>,
    pub(crate) publishes: Vec<String>,
    pub(crate) reads: Vec<(String, String)>,
}

pub(crate) struct State {
    pub(crate) domain: String,
    pub(crate) plugin: String,
    pub(crate) declared: Option<Declared>,
    pub(crate) now_ms: u64,
    pub(crate) revoked: HashSet<Capability>,
    pub(crate) kv: BTreeMap<Vec<u8>, Vec<u8>>,
    pub(crate) kv_batches: usize,
    pub(crate) mem: BTreeMap<String, Vec<u8>>,
    pub(crate) sent: Vec<Element>,
    pub(crate) requests: Vec<SentRequest>,
    pub(crate) next_request: u64,
    pub(crate) timers: Vec<PendingTimer>,
    pub(crate) next_timer: u64,
    pub(crate) sessions: Vec<SessionInfo>,
    pub(crate) accounts: BTreeMap<String, String>,
    pub(crate) host_info: Option<HostInfo>,
    pub(crate) datasets: BTreeMap<(String, String), BTreeMap<String, Vec<u8>>>,
    pub(crate) watched: BTreeSet<String>,
    pub(crate) watches_remote: bool,
    pub(crate) logs: Vec<(Level, String)>,
    pub(crate) rng: u64,
    pub(crate) uploads: FakeUploads,
    pub(crate) admins: Vec<String>,
    /// Usernames of disabled accounts.
    pub(crate) disabled: BTreeSet<String>,
    pub(crate) commands: Vec<Command>,
    pub(crate) server: FakeServer,
}

/// The kernel's side of `server`: its grant, the host's plugins, and what
/// the plugin asked of it.
#[derive(Default)]
pub(crate) struct FakeServer {
    pub(crate) granted: bool,
    pub(crate) added_admins: Vec<String>,
    pub(crate) plugins: Vec<(PluginInfo, PluginSettings)>,
    pub(crate) reloaded: Vec<String>,
    pub(crate) configured: Vec<(String, String)>,
    pub(crate) stop: Option<(u64, String, bool)>,
    pub(crate) operators: Vec<String>,
    pub(crate) tenants: Vec<TenantInfo>,
    /// The tables `add-tenant` was given, in order.
    pub(crate) added_tenants: Vec<String>,
    /// The tables `change-tenant` was given, in order.
    pub(crate) changed_tenants: Vec<String>,
    /// (domain, keep-data) of each `remove-tenant`, in order.
    pub(crate) removed_tenants: Vec<(String, bool)>,
}

/// The kernel's side of `uploads`: its grant, its size cap, the slots given.
pub(crate) struct FakeUploads {
    pub(crate) granted: bool,
    pub(crate) max_file_size: u64,
    pub(crate) next: u64,
    pub(crate) slots: Vec<(String, SlotRequest)>,
}

impl Default for State {
    fn default() -> Self {
        State {
            domain: DEFAULT_DOMAIN.to_string(),
            plugin: DEFAULT_PLUGIN.to_string(),
            declared: None,
            now_ms: DEFAULT_NOW_MS,
            revoked: HashSet::new(),
            kv: BTreeMap::new(),
            kv_batches: 0,
            mem: BTreeMap::new(),
            sent: Vec::new(),
            requests: Vec::new(),
            next_request: 1,
            timers: Vec::new(),
            next_timer: 1,
            sessions: Vec::new(),
            accounts: BTreeMap::new(),
            host_info: None,
            datasets: BTreeMap::new(),
            watched: BTreeSet::new(),
            watches_remote: false,
            logs: Vec::new(),
            rng: DEFAULT_SEED,
            uploads: FakeUploads { granted: true, max_file_size: 100 << 20, next: 0, slots: Vec::new() },
            admins: Vec::new(),
            disabled: BTreeSet::new(),
            commands: Vec::new(),
            server: FakeServer { granted: true, ..FakeServer::default() },
        }
    }
}

impl State {
    /// What the kernel checks first on every call that needs a grant.
    pub(crate) fn need(&self, capability: Capability) -> Result<(), HostError> {
        if self.revoked.contains(&capability) { Err(HostError::NotGranted(capability)) } else { Ok(()) }
    }
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

/// Runs `f` on this thread's fake host.
pub(crate) fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    STATE.with(|s| f(&mut s.borrow_mut()))
}

/// Like [`with`], but does nothing when the state is out of reach: for the
/// log, which the panic hook calls, possibly while a call holds the state or
/// while the thread is being torn down.
pub(crate) fn try_with(f: impl FnOnce(&mut State)) {
    let _ = STATE.try_with(|s| {
        if let Ok(mut s) = s.try_borrow_mut() {
            f(&mut s);
        }
    });
}
