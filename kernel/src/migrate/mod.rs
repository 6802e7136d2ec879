//! Migration to and from other servers: XEP-0227 (PIEFXIS) import and
//! export, run by `waxwing import` and `waxwing export`: inside the running
//! server (over the admin socket, [`Migrator::live`]) or, when none runs, on
//! the data directory with plugins loaded here ([`Migrator::open`]).
//!
//! The kernel knows no plugin here either. It reads the file
//! ([`piefxis`]), creates each account (a plaintext `password`, or the
//! `<scram-credentials/>` the file carries), and hands every other child of
//! `<user/>` to the host's plugins as a stanza only the server itself can
//! send, from the host's own domain to the account's bare JID:
//!
//! - an element such as `<query xmlns='jabber:iq:roster'>`, `<vCard
//!   xmlns='vcard-temp'>` or `<query xmlns='jabber:iq:private'>` becomes an
//!   iq `set` carrying it: the plugin of that namespace takes it as an
//!   authoritative import (a roster keeps the subscription states written);
//! - each message of `<offline-messages/>` is routed to the (offline)
//!   account from its original sender, so the plugin that keeps offline
//!   messages stores it (its `<delay/>` from the host says when it arrived);
//! - a `<presence type='subscribe'/>` child (a request waiting for an
//!   answer, as Prosody writes them) is routed to the account from its sender.
//!
//! A user whose account or data fails is rolled back: the account is
//! deleted and the plugins hear `user-deleted`, so nothing of it stays.
//!
//! Export asks the same plugins with iq `get`s from the host: the roster
//! (every item, with subscription states; `<presence type='subscribe'/>`
//! children of the answer are requests waiting), the vCard, all private XML
//! (an empty `<query xmlns='jabber:iq:private'/>` from the server means all
//! of it) and the offline messages (XEP-0013's `<offline/>` from the server:
//! every stored message, stamped with its arrival, none deleted). Passwords
//! are not kept, so accounts are written with their SCRAM-SHA-1 and
//! SCRAM-SHA-256 credentials (XEP-0227 §4), which this server imports back.

pub mod piefxis;

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use anyhow::{Context as _, bail};
use waxwing_xml::{Element, StanzaError, ns};

use crate::accounts::{AccountError, Accounts, ScramCredentials, ScramHash};
use crate::config::Config;
use crate::plugins::{Address, Captured, EventKind, Handling, Kernel, Origin, PluginHost, SessionInfo, VhostPlugins};
use crate::storage::Storage;
use crate::xml::{Stanza, StanzaKind};
use piefxis::{Host, Location, NS_PIE, Scram, User};

pub const NS_ROSTER: &str = "jabber:iq:roster";
pub const NS_VCARD: &str = "vcard-temp";
pub const NS_PRIVATE: &str = "jabber:iq:private";
pub const NS_OFFLINE: &str = "http://jabber.org/protocol/offline";

/// Stanzas plugins may set off while one user is imported, at most.
const MAX_FOLLOW_UPS: usize = 100_000;

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportReport {
    /// Bare JIDs of the accounts created, in file order.
    pub imported: Vec<String>,
    /// What was not imported, with where it is in the file and why.
    pub failed: Vec<(Location, String)>,
    /// Data no plugin of the host took (skipped, the user imported anyway).
    pub warnings: Vec<String>,
}

/// The stopped server's storage, accounts and plugins, with a kernel that
/// routes what the plugins send among themselves.
pub struct Migrator {
    host: Arc<PluginHost>,
    accounts: Accounts,
    /// `None` inside a running server, whose router routes what plugins send.
    kernel: Option<Arc<LocalKernel>>,
    domains: Vec<String>,
    ids: AtomicU64,
}

impl Migrator {
    /// Opens the data directory and loads every vhost's plugins as `serve`
    /// does. Fails (with the storage layer's explanation) while a server
    /// holds the database.
    pub fn open(cfg: &Config) -> anyhow::Result<Migrator> {
        let storage = Storage::open(&cfg.server.data_dir)
            .with_context(|| format!("opening the data directory {}", cfg.server.data_dir.display()))?;
        let accounts = Accounts::new(storage.clone(), cfg.sasl.scram_iterations);
        Self::with_storage(cfg, storage, accounts)
    }

    pub fn with_storage(cfg: &Config, storage: Storage, accounts: Accounts) -> anyhow::Result<Migrator> {
        let host = PluginHost::start(cfg, storage, accounts.clone()).context("loading plugins")?;
        let kernel = Arc::new(LocalKernel { queue: Mutex::default(), host: Arc::downgrade(&host) });
        let weak: Weak<dyn Kernel> = Arc::downgrade(&(kernel.clone() as Arc<dyn Kernel>));
        host.attach(weak);
        let domains = cfg.vhosts.iter().map(|v| v.domain.clone()).collect();
        Ok(Migrator { host, accounts, kernel: Some(kernel), domains, ids: AtomicU64::new(0) })
    }

    /// The running server's own plugins and accounts (`waxwing import` and
    /// `export` over the admin socket): what the plugins send meanwhile goes
    /// through the server's router like any other plugin's stanzas.
    pub fn live(host: Arc<PluginHost>, accounts: Accounts, domains: Vec<String>) -> Migrator {
        Migrator { host, accounts, kernel: None, domains, ids: AtomicU64::new(0) }
    }

    fn next_id(&self) -> String {
        format!("migrate-{}", self.ids.fetch_add(1, Ordering::Relaxed))
    }

    /// Imports every host and user of the file that this server can take.
    pub fn import_file(&self, path: &Path) -> anyhow::Result<ImportReport> {
        let doc = piefxis::read_file(path)?;
        Ok(self.import(doc))
    }

    pub fn import(&self, doc: piefxis::Document) -> ImportReport {
        let mut report = ImportReport { failed: doc.refused, ..ImportReport::default() };
        for host in doc.hosts {
            let Some(vp) = self.domains.contains(&host.jid).then(|| self.host.vhost(&host.jid)).flatten() else {
                report.failed.push((
                    host.at.clone(),
                    format!(
                        "<host jid='{}'> is not served by this server (served: {}): its {} users were not imported",
                        host.jid,
                        self.domains.join(", "),
                        host.users.len()
                    ),
                ));
                continue;
            };
            for user in &host.users {
                match self.import_user(&vp, &host.jid, user, &mut report.warnings) {
                    Ok(bare) => report.imported.push(bare),
                    Err(why) => report.failed.push((user.at.clone(), format!("<user name='{}'>: {why}", user.name))),
                }
            }
        }
        report.failed.sort_by(|a, b| (&a.0.file, a.0.line).cmp(&(&b.0.file, b.0.line)));
        report
    }

    fn import_user(
        &self,
        vp: &Arc<VhostPlugins>,
        domain: &str,
        user: &User,
        warnings: &mut Vec<String>,
    ) -> Result<String, String> {
        let bare = jid::BareJid::new(&format!("{}@{domain}", user.name))
            .map_err(|e| format!("{:?} is not a valid username: {e}", user.name))?;
        let node = bare.node().map(|n| n.as_str().to_string()).unwrap_or_default();
        let bare = bare.to_string();
        if self.accounts.exists(domain, &node).map_err(|e| e.to_string())? {
            return Err(format!("{bare} already exists here: nothing of it was imported"));
        }
        self.create_account(domain, &node, user).map_err(|e| match e {
            AccountError::Exists => format!("{bare} already exists here"),
            e => format!("{bare}: {e}"),
        })?;
        vp.emit(EventKind::UserCreated, &bare, "");
        for data in &user.data {
            if let Err(why) = self.import_data(vp, domain, &bare, data, warnings) {
                let _ = self.accounts.delete(domain, &node);
                vp.emit(EventKind::UserDeleted, &bare, "");
                self.drain();
                return Err(format!("{why}; the account and everything imported for it were removed again"));
            }
        }
        Ok(bare)
    }

    fn create_account(&self, domain: &str, node: &str, user: &User) -> Result<(), AccountError> {
        if let Some(pw) = &user.password {
            return self.accounts.create_imported(domain, node, pw);
        }
        let find = |mech: &str, hash: ScramHash| -> Result<Option<ScramCredentials>, AccountError> {
            let Some(s) = user.scram.iter().find(|s| s.mechanism == mech) else { return Ok(None) };
            if s.stored_key.len() != hash.output_len() || s.server_key.len() != hash.output_len() {
                return Err(AccountError::InvalidPassword(format!("the {mech} keys have the wrong length")));
            }
            let iterations = NonZeroU32::new(s.iterations)
                .ok_or_else(|| AccountError::InvalidPassword(format!("{mech} with no iterations")))?;
            Ok(Some(ScramCredentials {
                salt: s.salt.clone(),
                iterations,
                stored_key: s.stored_key.clone(),
                server_key: s.server_key.clone(),
            }))
        };
        let sha1 = find("SCRAM-SHA-1", ScramHash::Sha1)?;
        let sha256 = find("SCRAM-SHA-256", ScramHash::Sha256)?;
        if sha1.is_none() && sha256.is_none() {
            let carried: Vec<&str> = user.scram.iter().map(|s| s.mechanism.as_str()).collect();
            return Err(AccountError::InvalidPassword(if carried.is_empty() {
                "no password and no SCRAM credentials".into()
            } else {
                format!("no password, and only SCRAM credentials this server cannot use ({})", carried.join(", "))
            }));
        }
        self.accounts.import_credentials(domain, node, sha1.as_ref(), sha256.as_ref())
    }

    /// One child of `<user/>`, handed to the plugins.
    fn import_data(
        &self,
        vp: &Arc<VhostPlugins>,
        domain: &str,
        bare: &str,
        data: &Element,
        warnings: &mut Vec<String>,
    ) -> Result<(), String> {
        let what = format!("<{} xmlns='{}'>", data.name, data.ns);
        if data.is("offline-messages", NS_PIE) {
            for message in data.elements() {
                self.import_offline(vp, bare, message)?;
            }
            return Ok(());
        }
        if data.name == "presence" && (data.ns == ns::CLIENT || data.ns == NS_PIE) {
            return self.import_presence(vp, bare, data, warnings);
        }
        if data.ns == NS_PIE || data.ns.is_empty() {
            warnings.push(format!("{bare}: {what} is not something this server imports; skipped"));
            return Ok(());
        }
        let iq = Element::new("iq", ns::CLIENT)
            .with_attr("type", "set")
            .with_attr("id", self.next_id())
            .with_attr("from", domain)
            .with_attr("to", bare)
            .with_child(data.clone());
        let stanza = Stanza::parse(iq).map_err(|(_, e)| format!("{what}: {e}"))?;
        let outcome = vp.handle_captured(&stanza, Address::Bare, false);
        self.drain();
        match outcome {
            Captured::Done => Ok(()),
            Captured::Reply(r) if r.attr("type") != Some("error") => Ok(()),
            Captured::Reply(r) => Err(format!("{what} was refused: {}", error_text(&r))),
            Captured::Error(e) => Err(format!("{what} was refused: {}", describe(&e))),
            Captured::NotHandled => {
                warnings.push(format!("{bare}: no plugin of {domain} imports {what}; skipped"));
                Ok(())
            }
        }
    }

    fn import_offline(&self, vp: &Arc<VhostPlugins>, bare: &str, message: &Element) -> Result<(), String> {
        let mut m = message.clone();
        m.map_ns(NS_PIE, ns::CLIENT);
        if !m.is("message", ns::CLIENT) {
            return Err(format!("<offline-messages/> holds <{} xmlns='{}'>, not a message", m.name, m.ns));
        }
        if m.attr("from").is_none_or(str::is_empty) {
            return Err("an offline message without a 'from'".into());
        }
        m.set_attr("to", bare);
        let stanza = Stanza::parse(m).map_err(|(_, e)| format!("an offline message: {}", describe(&e)))?;
        match vp.handle_stanza(&stanza, Address::Bare) {
            Handling::Done => {}
            Handling::Error(e) => return Err(format!("an offline message was refused: {}", describe(&e))),
            Handling::NotHandled => {
                if !vp.subscribes(EventKind::MessageUndeliverable) {
                    return Err("no plugin of this host keeps offline messages".into());
                }
                vp.emit(EventKind::MessageUndeliverable, bare, &stanza.to_client_xml());
            }
        }
        self.drain();
        Ok(())
    }

    fn import_presence(
        &self,
        vp: &Arc<VhostPlugins>,
        bare: &str,
        presence: &Element,
        warnings: &mut Vec<String>,
    ) -> Result<(), String> {
        let mut p = presence.clone();
        p.map_ns(NS_PIE, ns::CLIENT);
        if p.attr("type") != Some("subscribe") {
            warnings.push(format!("{bare}: a <presence/> that is no subscription request; skipped"));
            return Ok(());
        }
        if p.attr("from").is_none_or(str::is_empty) {
            return Err("a subscription request without a 'from'".into());
        }
        p.set_attr("to", bare);
        let stanza = Stanza::parse(p).map_err(|(_, e)| format!("a subscription request: {}", describe(&e)))?;
        let handling = vp.handle_stanza(&stanza, Address::Bare);
        self.drain();
        match handling {
            Handling::Done => Ok(()),
            Handling::Error(e) => Err(format!("a subscription request was refused: {}", describe(&e))),
            Handling::NotHandled => {
                warnings.push(format!("{bare}: no plugin keeps subscription requests; one skipped"));
                Ok(())
            }
        }
    }

    /// Routes what the plugins sent meanwhile: answers to their own
    /// requests go back to them, iqs and presence to a local account or the
    /// host go to that host's plugins; everything else (pushes to sessions,
    /// which there are none of) is dropped.
    fn drain(&self) {
        let Some(kernel) = &self.kernel else { return };
        for _ in 0..MAX_FOLLOW_UPS {
            let Some(el) = kernel.pop() else { return };
            let Ok(stanza) = Stanza::parse(el) else { continue };
            let ty = stanza.type_attr().to_string();
            if stanza.kind == StanzaKind::Iq && (ty == "result" || ty == "error") {
                self.host.take_answer(&stanza);
                continue;
            }
            let Some(to) = stanza.to.clone() else { continue };
            let Some(vp) = self.host.vhost(to.domain().as_str()) else { continue };
            let addressed = match (to.node(), to.resource()) {
                (None, None) => Address::Host,
                (Some(_), None) => Address::Bare,
                _ => continue,
            };
            if stanza.kind == StanzaKind::Message {
                continue;
            }
            if let Handling::Error(e) = vp.handle_stanza(&stanza, addressed)
                && stanza.kind == StanzaKind::Iq
            {
                kernel.push(stanza.error_reply(&e));
            }
        }
        tracing::warn!("plugins kept sending stanzas to each other; {MAX_FOLLOW_UPS} routed, the rest dropped");
        while kernel.pop().is_some() {}
    }

    /// Every account of the served hosts (or of `only`), with its data.
    pub fn export(&self, only: Option<&str>) -> anyhow::Result<Vec<Host>> {
        let domains: Vec<String> = match only {
            Some(d) if self.domains.iter().any(|x| x == d) => vec![d.to_string()],
            Some(d) => bail!("this server does not serve the domain {d:?} (served: {})", self.domains.join(", ")),
            None => self.domains.clone(),
        };
        let mut hosts = Vec::new();
        for domain in domains {
            let vp = self.host.vhost(&domain).with_context(|| format!("no plugins loaded for {domain}"))?;
            let mut host =
                Host { jid: domain.clone(), at: Location { file: String::new(), line: 0 }, users: Vec::new() };
            for node in self.accounts.list(&domain).with_context(|| format!("listing the accounts of {domain}"))? {
                host.users.push(self.export_user(&vp, &domain, &node)?);
            }
            hosts.push(host);
        }
        Ok(hosts)
    }

    fn export_user(&self, vp: &Arc<VhostPlugins>, domain: &str, node: &str) -> anyhow::Result<User> {
        let bare = format!("{node}@{domain}");
        let mut user = User {
            name: node.to_string(),
            at: Location { file: String::new(), line: 0 },
            password: None,
            scram: Vec::new(),
            data: Vec::new(),
        };
        for (hash, mechanism) in [(ScramHash::Sha1, "SCRAM-SHA-1"), (ScramHash::Sha256, "SCRAM-SHA-256")] {
            if let Some(c) = self.accounts.scram_credentials(domain, node, hash).with_context(|| bare.clone())? {
                user.scram.push(Scram {
                    mechanism: mechanism.into(),
                    iterations: c.iterations.get(),
                    salt: c.salt,
                    stored_key: c.stored_key,
                    server_key: c.server_key,
                });
            }
        }
        let mut pending = Vec::new();
        if let Some(mut roster) = self.ask(vp, domain, &bare, Element::new("query", NS_ROSTER)) {
            roster.children.retain(|n| match n {
                waxwing_xml::Node::Element(e) if e.name == "presence" => {
                    pending.push(e.clone());
                    false
                }
                _ => true,
            });
            roster.remove_attr("ver");
            if !piefxis::is_empty(&roster) {
                user.data.push(roster);
            }
        }
        user.data.append(&mut pending);
        for payload in [Element::new("vCard", NS_VCARD), Element::new("query", NS_PRIVATE)] {
            if let Some(answer) = self.ask(vp, domain, &bare, payload)
                && !piefxis::is_empty(&answer)
            {
                user.data.push(answer);
            }
        }
        if let Some(offline) = self.ask(vp, domain, &bare, Element::new("offline", NS_OFFLINE)) {
            let messages: Vec<Element> = offline.elements().filter(|m| m.name == "message").cloned().collect();
            if !messages.is_empty() {
                let mut el = Element::new("offline-messages", NS_PIE);
                for m in messages {
                    el.push_child(m);
                }
                user.data.push(el);
            }
        }
        Ok(user)
    }

    /// An iq get from the host to the account; the payload of a result.
    fn ask(&self, vp: &Arc<VhostPlugins>, domain: &str, bare: &str, payload: Element) -> Option<Element> {
        let what = format!("<{} xmlns='{}'/>", payload.name, payload.ns);
        let iq = Element::new("iq", ns::CLIENT)
            .with_attr("type", "get")
            .with_attr("id", self.next_id())
            .with_attr("from", domain)
            .with_attr("to", bare)
            .with_child(payload);
        let stanza = Stanza::parse(iq).ok()?;
        let outcome = vp.handle_captured(&stanza, Address::Bare, false);
        self.drain();
        match outcome {
            Captured::Reply(r) if r.attr("type") == Some("result") => r.first_element().cloned(),
            Captured::Reply(r) => {
                tracing::debug!("{bare}: {what} answered {}", error_text(&r));
                None
            }
            Captured::Error(e) => {
                tracing::debug!("{bare}: {what} answered {}", describe(&e));
                None
            }
            Captured::Done | Captured::NotHandled => None,
        }
    }
}

fn describe(e: &StanzaError) -> String {
    let el = e.reply_to(&Element::new("iq", ns::CLIENT));
    error_text(&el)
}

/// The condition and text of an error stanza.
fn error_text(stanza: &Element) -> String {
    let Some(error) = stanza.child("error", ns::CLIENT).or_else(|| stanza.elements().find(|e| e.name == "error"))
    else {
        return stanza.to_xml();
    };
    let condition = error.elements().find(|e| e.ns == ns::STANZA_ERRORS && e.name != "text").map(|e| e.name.clone());
    let text = error.elements().find(|e| e.name == "text").map(Element::text);
    match (condition, text) {
        (Some(c), Some(t)) => format!("{c} ({t})"),
        (Some(c), None) => c,
        (None, _) => error.to_xml(),
    }
}

/// The plugins' kernel while migrating: no sessions, and what they send
/// waits in a queue for [`Migrator::drain`].
struct LocalKernel {
    queue: Mutex<VecDeque<Element>>,
    host: Weak<PluginHost>,
}

impl LocalKernel {
    fn pop(&self) -> Option<Element> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front()
    }

    fn push(&self, el: Element) {
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).push_back(el);
    }
}

impl Kernel for LocalKernel {
    fn sessions_of(&self, _bare_jid: &str) -> Vec<SessionInfo> {
        Vec::new()
    }

    fn route_from_plugin(&self, stanza: Element, _origin: &Origin<'_>) {
        self.push(stanza);
    }

    fn account_changed(&self, bare_jid: &str, created: bool) {
        let Some(host) = self.host.upgrade() else { return };
        let Some(domain) = bare_jid.rsplit('@').next() else { return };
        if let Some(vp) = host.vhost(domain) {
            vp.emit(if created { EventKind::UserCreated } else { EventKind::UserDeleted }, bare_jid, "");
        }
    }
}

/// Runs `f` on a thread of a runtime of its own: plugins' timers want one,
/// and plugin calls hand work over as they do in the server.
pub fn with_runtime<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> anyhow::Result<T> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting a runtime")?;
    let out =
        rt.block_on(async move { tokio::task::spawn_blocking(f).await }).context("the migration thread panicked")?;
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    Ok(out)
}

/// An export holds every account's SCRAM credentials: its file is readable
/// by its owner only, and on disk before this returns.
pub fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests;
