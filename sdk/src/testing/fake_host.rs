//! The test's handle on this thread's fake host: set it up, read back what
//! the plugin did.

use waxwing_xml::{Element, ns};

use super::records::{PendingTimer, SentRequest};
use super::state::{Declared, State, with};
use crate::Capability;
use crate::bindings::waxwing::plugin::disco::HostInfo;
use crate::bindings::waxwing::plugin::host::Level;
use crate::bindings::waxwing::plugin::sessions::SessionInfo;
use crate::describe::Describe;
use crate::event::Event;
use crate::stanza::parse_client_xml;

/// This thread's fake host. All functions, no value: the state is
/// thread-local. Defaults after a reset: domain `example.org`, plugin name
/// `plugin`, clock at 1 700 000 000 000 ms, every capability granted,
/// everything else empty.
pub struct FakeHost;

impl FakeHost {
    /// Back to the defaults: empty storage, outbox, timers, sessions,
    /// accounts, datasets and log.
    pub fn reset() {
        with(|s| *s = State::default());
    }

    // ---- setting up ----

    /// The virtual host's domain ([`crate::domain()`], and where `sessions`
    /// and `filter_scope` accept accounts).
    pub fn set_domain(domain: &str) {
        with(|s| s.domain = domain.to_string());
    }

    /// This plugin's name, which owns the datasets it `put`s.
    pub fn set_plugin_name(name: &str) {
        with(|s| s.plugin = name.to_string());
    }

    /// What the kernel keeps of a plugin's description: its name, its
    /// service subdomain (a `from` it may send with) and the datasets it
    /// publishes and reads, to which `datasets` calls are then held.
    /// [`super::init`] declares the plugin's own. Set the domain first.
    pub fn declare(describe: &Describe) {
        let d = describe.description();
        let service = d.service_subdomain.as_ref().map(|sub| with(|s| format!("{sub}.{}", s.domain)));
        let declared = Declared {
            service,
            publishes: d.publishes.iter().map(|p| p.name.clone()).collect(),
            reads: d.reads.iter().map(|r| (r.plugin.clone(), r.dataset.clone())).collect(),
        };
        with(|s| {
            s.plugin = d.name.clone();
            s.declared = Some(declared);
        });
    }

    /// Sets the clock ([`crate::now_ms()`]).
    pub fn set_now_ms(now_ms: u64) {
        with(|s| s.now_ms = now_ms);
    }

    /// Moves the clock on by `ms` and returns the events of the timers now
    /// due, in the order they fire; they are no longer pending.
    pub fn advance(ms: u64) -> Vec<Event> {
        with(|s| {
            s.now_ms = s.now_ms.saturating_add(ms);
            let now = s.now_ms;
            let (mut due, pending): (Vec<_>, Vec<_>) = s.timers.drain(..).partition(|t| t.due_ms <= now);
            s.timers = pending;
            due.sort_by_key(|t| (t.due_ms, t.id));
            due.iter().map(PendingTimer::event).collect()
        })
    }

    /// Takes a capability away: calls that need it return `not-granted`.
    pub fn revoke(capability: Capability) {
        with(|s| s.revoked.insert(capability));
    }

    /// Gives a revoked capability back.
    pub fn grant(capability: Capability) {
        with(|s| s.revoked.remove(&capability));
    }

    /// The host's admins (bare JIDs), as its config's `admins`.
    pub fn set_admins(admins: &[&str]) {
        with(|s| s.admins = admins.iter().map(|a| a.to_string()).collect());
    }

    /// The ad-hoc commands the plugin declared: (node, name).
    pub fn commands() -> Vec<(String, String)> {
        with(|s| s.commands.iter().map(|c| (c.node.clone(), c.name.clone())).collect())
    }

    /// Grants or takes away `server`, which has no [`Capability`] (WIT 2.3).
    pub fn set_server_granted(granted: bool) {
        with(|s| s.server.granted = granted);
    }

    /// A plugin of the host, as `server.plugins` and `settings-of` show it.
    pub fn add_host_plugin(info: crate::server::PluginInfo, settings: crate::server::PluginSettings) {
        with(|s| s.server.plugins.push((info, settings)));
    }

    /// The admins added through `server.set-admins`.
    pub fn added_admins() -> Vec<String> {
        with(|s| s.server.added_admins.clone())
    }

    /// The plugins reloaded through `server.reload-plugin`, in order.
    pub fn reloaded_plugins() -> Vec<String> {
        with(|s| s.server.reloaded.clone())
    }

    /// `server.configure-plugin` calls: (plugin, the changes as JSON), in order.
    pub fn configured_plugins() -> Vec<(String, String)> {
        with(|s| s.server.configured.clone())
    }

    /// The last `server.shutdown`: (delay in ms, reason, restart).
    pub fn stop_requested() -> Option<(u64, String, bool)> {
        with(|s| s.server.stop.clone())
    }

    /// The server's operators, as `server.is-operator` answers (WIT 2.4).
    pub fn set_operators(operators: &[&str]) {
        with(|s| s.server.operators = operators.iter().map(|o| o.to_string()).collect());
    }

    /// A tenant of the server, as `server.tenants` lists it.
    pub fn add_tenant(info: crate::server::TenantInfo) {
        with(|s| s.server.tenants.push(info));
    }

    /// The tables given to `server.add-tenant`, in order.
    pub fn added_tenants() -> Vec<String> {
        with(|s| s.server.added_tenants.clone())
    }

    /// The tables given to `server.change-tenant`, in order.
    pub fn changed_tenants() -> Vec<String> {
        with(|s| s.server.changed_tenants.clone())
    }

    /// `server.remove-tenant` calls: (domain, keep-data), in order.
    pub fn removed_tenants() -> Vec<(String, bool)> {
        with(|s| s.server.removed_tenants.clone())
    }

    /// Grants or takes away `uploads`, which has no [`Capability`] (WIT 2.2).
    pub fn set_uploads_granted(granted: bool) {
        with(|s| s.uploads.granted = granted);
    }

    /// The kernel's own cap on a slot's size (`[uploads] max_file_size`).
    pub fn set_upload_limit(bytes: u64) {
        with(|s| s.uploads.max_file_size = bytes);
    }

    /// The slots granted and not deleted: (id, what was asked), in order.
    pub fn upload_slots() -> Vec<(String, crate::uploads::SlotRequest)> {
        with(|s| {
            s.uploads
                .slots
                .iter()
                .map(|(id, r)| {
                    let req = crate::uploads::SlotRequest {
                        owner: r.owner.clone(),
                        filename: r.filename.clone(),
                        size: r.size,
                        content_type: r.content_type.clone(),
                        put_valid_ms: r.put_valid_ms,
                        keep_ms: r.keep_ms,
                    };
                    (id.clone(), req)
                })
                .collect()
        })
    }

    /// A session: its full JID and the last presence it sent (serialized),
    /// whose `<priority/>` and type make its priority and availability.
    /// Replaces a session with the same JID.
    ///
    /// # Panics
    /// When `presence` is not XML: a mistake in the test.
    pub fn add_session(full_jid: &str, presence: Option<&str>) {
        let (priority, available) = match presence {
            None => (0, false),
            Some(xml) => {
                let el = parse_client_xml(xml).unwrap_or_else(|e| panic!("presence of {full_jid}: {e}"));
                let priority = el.child("priority", ns::CLIENT).and_then(|p| p.text().trim().parse().ok());
                (priority.unwrap_or(0), el.attr("type").is_none())
            }
        };
        let info = SessionInfo {
            jid: full_jid.to_string(),
            priority,
            available,
            presence: presence.unwrap_or_default().to_string(),
        };
        with(|s| {
            s.sessions.retain(|x| x.jid != full_jid);
            s.sessions.push(info);
        });
    }

    /// Ends a session.
    pub fn remove_session(full_jid: &str) {
        with(|s| s.sessions.retain(|x| x.jid != full_jid));
    }

    /// An account on the fake host's domain.
    ///
    /// # Panics
    /// When `username` is not a valid node: a mistake in the test.
    pub fn add_account(username: &str, password: &str) {
        let user = super::calls::accounts::username(username).unwrap_or_else(|e| panic!("{e:?}"));
        with(|s| s.accounts.insert(user, password.to_string()));
    }

    /// What [`crate::disco::host`] answers (by default: the domain, nothing
    /// declared).
    pub fn set_host_info(info: HostInfo) {
        with(|s| s.host_info = Some(info));
    }

    /// An entry of `plugin`'s dataset, for this plugin to read.
    pub fn set_dataset(plugin: &str, dataset: &str, key: &str, value: &[u8]) {
        with(|s| {
            s.datasets
                .entry((plugin.to_string(), dataset.to_string()))
                .or_default()
                .insert(key.to_string(), value.to_vec())
        });
    }

    // ---- reading back ----

    /// Every `kv` entry, in key order.
    pub fn kv_entries() -> Vec<(Vec<u8>, Vec<u8>)> {
        with(|s| s.kv.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }

    /// How many host `batch` calls were made (what [`crate::kv::batch`]
    /// split a batch into).
    pub fn kv_batch_calls() -> usize {
        with(|s| s.kv_batches)
    }

    /// Every `mem` entry, in key order.
    pub fn mem_entries() -> Vec<(String, Vec<u8>)> {
        with(|s| s.mem.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }

    /// The stanzas sent so far, one per recipient of a `send_many`, parsed
    /// with `jabber:client` as their namespace. Requests are apart:
    /// [`FakeHost::requests`].
    pub fn sent() -> Vec<Element> {
        with(|s| s.sent.clone())
    }

    /// The stanzas sent so far, emptying the outbox.
    pub fn take_sent() -> Vec<Element> {
        with(|s| std::mem::take(&mut s.sent))
    }

    /// The iqs sent with [`crate::route::request`]; answer one with
    /// [`SentRequest::answer`].
    pub fn requests() -> Vec<SentRequest> {
        with(|s| s.requests.clone())
    }

    /// The requests so far, emptying their list.
    pub fn take_requests() -> Vec<SentRequest> {
        with(|s| std::mem::take(&mut s.requests))
    }

    /// Timers set and neither cancelled nor fired yet, in the order set.
    pub fn timers() -> Vec<PendingTimer> {
        with(|s| s.timers.clone())
    }

    /// The sessions set up, as [`crate::sessions::of`] reports them.
    pub fn sessions() -> Vec<SessionInfo> {
        with(|s| s.sessions.clone())
    }

    /// The password of an account, `None` when there is no such account.
    pub fn account_password(username: &str) -> Option<String> {
        let user = super::calls::accounts::username(username).ok()?;
        with(|s| s.accounts.get(&user).cloned())
    }

    /// Every entry of `plugin`'s dataset, in key order.
    pub fn dataset_entries(plugin: &str, dataset: &str) -> Vec<(String, Vec<u8>)> {
        with(|s| {
            s.datasets
                .get(&(plugin.to_string(), dataset.to_string()))
                .map(|d| d.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default()
        })
    }

    /// The accounts the plugin's filter scope watches, in order.
    pub fn watched() -> Vec<String> {
        with(|s| s.watched.iter().cloned().collect())
    }

    /// Whether the filter scope admits what other servers send
    /// (`filter_scope::watch_remote`).
    pub fn watches_remote() -> bool {
        with(|s| s.watches_remote)
    }

    /// Every line logged, panics included.
    pub fn logs() -> Vec<(Level, String)> {
        with(|s| s.logs.clone())
    }

    /// The lines logged at `level`.
    pub fn logs_at(level: Level) -> Vec<String> {
        with(|s| s.logs.iter().filter(|(l, _)| *l == level).map(|(_, m)| m.clone()).collect())
    }

    /// Every line logged, emptying the log.
    pub fn take_logs() -> Vec<(Level, String)> {
        with(|s| std::mem::take(&mut s.logs))
    }
}
