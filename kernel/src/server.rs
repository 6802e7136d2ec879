//! Starting and stopping the whole server: storage, accounts, plugins,
//! router, listeners, the admin channel, signals.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::json;

use crate::accounts::Accounts;
use crate::admin::{self, AdminApi};
use crate::c2s::{self, C2s};
use crate::component::{self, Components};
use crate::config::Config;
use crate::http::{self, Http};
use crate::plugins::{Kernel as _, PluginHost, StopRequest};
use crate::router::Router;
use crate::s2s::{self, S2s};
use crate::storage::Storage;
use crate::tenants::{Lifecycle, Removal, Tenant, Tenants};
use crate::uploads::Uploads;
use waxwing_xml::StreamErrorCondition;

/// How often certificate files are checked for a renewal.
const CERT_POLL: Duration = Duration::from_secs(2);

/// How the server stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// SIGTERM, SIGINT, or an admin's shutdown.
    Exit,
    /// An admin's restart: the caller starts the server again.
    Restart,
}

/// Serves until SIGTERM or SIGINT, or until an admin stops or restarts it.
/// Everything it opened (listeners, the database) is closed on return.
pub fn run(config: Config, config_path: Option<PathBuf>) -> anyhow::Result<Stopped> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(serve(config, config_path))
}

struct Admin {
    accounts: Accounts,
    router: Arc<Router>,
    reloader: Arc<Reloader>,
    s2s: Arc<S2s>,
    started: std::time::Instant,
    /// What `listening.json` holds: the addresses actually bound.
    listening: serde_json::Value,
    config_path: Option<PathBuf>,
}

/// What a reload and the tenant commands change: the tenants, and the
/// config the client connections read.
struct Reloader {
    /// The config the server started with: what a restart-needed change is
    /// measured against, however many reloads came between.
    started: Arc<Config>,
    tenants: Arc<Lifecycle>,
    c2s: Arc<C2s>,
    config_path: Option<PathBuf>,
}

impl Admin {
    fn uptime_secs(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// Import and export through the live plugins, beside the sessions.
    fn migrator(&self) -> crate::migrate::Migrator {
        crate::migrate::Migrator::live(self.router.plugins().clone(), self.accounts.clone(), self.router.domains())
    }
}

impl AdminApi for Admin {
    fn accounts(&self) -> &Accounts {
        &self.accounts
    }

    fn domains(&self) -> Vec<String> {
        self.router.domains()
    }

    fn plugin_list(&self) -> serde_json::Value {
        serde_json::to_value(self.router.plugins().list()).unwrap_or_else(|e| json!({ "error": e.to_string() }))
    }

    fn plugin_reload(&self, name: &str, vhost: Option<&str>) -> anyhow::Result<String> {
        self.router.plugins().reload(name, vhost)
    }

    fn on_user_created(&self, jid: &str) {
        self.router.account_event(jid, true);
    }

    fn on_user_deleted(&self, jid: &str) {
        self.router.account_event(jid, false);
    }

    fn status(&self) -> anyhow::Result<serde_json::Value> {
        let mut listening = self.listening.clone();
        if let Some(map) = listening.as_object_mut() {
            // The pid is shown on its own; listener kinds with nothing bound are left out.
            map.retain(|k, v| k == "admin_socket" || (k != "pid" && v.as_array().is_some_and(|a| !a.is_empty())));
        }
        let by_vhost: serde_json::Map<String, serde_json::Value> = self
            .router
            .domains()
            .into_iter()
            .map(|d| {
                let n = self.router.host(&d).map_or(0, |t| t.sessions.len());
                (d, json!(n))
            })
            .collect();
        Ok(json!({
            "status": "running",
            "pid": std::process::id(),
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_secs": self.uptime_secs(),
            "vhosts": self.router.domains(),
            "listening": listening,
            "sessions": self.router.session_count(),
            "sessions_by_vhost": by_vhost,
            "config": self.config_path.as_ref().map(|p| p.display().to_string()),
        }))
    }

    fn sessions(&self) -> anyhow::Result<Vec<admin::commands::SessionRow>> {
        let mut rows = Vec::new();
        for d in self.router.domains() {
            let Some(tenant) = self.router.host(&d) else { continue };
            for s in tenant.sessions.all() {
                let client = s.presence().last.as_deref().and_then(admin::commands::caps_node);
                rows.push(admin::commands::SessionRow {
                    jid: s.jid.to_string(),
                    resource: s.jid.resource().as_str().to_owned(),
                    ip: s.peer().map_or_else(|| "-".to_owned(), |p| p.ip().to_string()),
                    client: client.unwrap_or_else(|| "-".to_owned()),
                });
            }
        }
        rows.sort_by(|a, b| a.jid.cmp(&b.jid));
        Ok(rows)
    }

    fn kick(&self, bare: &str, resource: Option<&str>, reason: &str) -> anyhow::Result<Vec<String>> {
        let bare = jid::BareJid::new(bare)?;
        let (Some(node), Some(tenant)) = (bare.node(), self.router.host(bare.domain().as_str())) else {
            return Ok(Vec::new());
        };
        let sessions: Vec<_> = match resource {
            Some(r) => tenant.sessions.get(node.as_str(), r).into_iter().collect(),
            None => tenant.sessions.of(node.as_str()),
        };
        // The same stream error a plugin's `accounts.end-session` sends.
        for s in &sessions {
            s.send(crate::router::Outbound::Close(StreamErrorCondition::PolicyViolation, Some(reason.to_owned())));
        }
        Ok(sessions.iter().map(|s| s.jid.to_string()).collect())
    }

    fn stats(&self) -> anyhow::Result<serde_json::Value> {
        let s2s = self.s2s.stats();
        let mut routed = serde_json::Map::new();
        let mut total = 0;
        for (source, _kind, n) in self.router.stanza_counts() {
            total += n;
            let entry = routed.entry(source.as_str()).or_insert(json!(0));
            *entry = json!(entry.as_u64().unwrap_or(0) + n);
        }
        Ok(json!({
            "online_sessions": self.router.session_count(),
            "uptime_secs": self.uptime_secs(),
            "s2s_outgoing": s2s.outgoing,
            "s2s_incoming": s2s.incoming,
            "s2s_queued": s2s.queued,
            "stanzas_routed": total,
            "stanzas_routed_by_source": routed,
        }))
    }

    fn announce(&self, domain: &str, message: &str) -> anyhow::Result<usize> {
        let Some(tenant) = self.router.host(domain) else { return Ok(0) };
        let sessions = tenant.sessions.all();
        for s in &sessions {
            let el = waxwing_xml::Element::new("message", waxwing_xml::ns::CLIENT)
                .with_attr("from", domain)
                .with_attr("to", s.jid.to_string())
                .with_attr("type", "normal")
                .with_child(waxwing_xml::Element::new("body", waxwing_xml::ns::CLIENT).with_text(message.to_owned()));
            self.router.deliver_to_session(s, &el);
        }
        Ok(sessions.len())
    }

    fn reload(&self) -> anyhow::Result<String> {
        self.reloader.reload()
    }

    fn tenant_list(&self) -> anyhow::Result<serde_json::Value> {
        Ok(serde_json::to_value(self.reloader.tenants.list())?)
    }

    fn tenant_add(&self, config: &str) -> anyhow::Result<String> {
        self.reloader.tenants.add(config)
    }

    fn tenant_change(&self, config: &str) -> anyhow::Result<String> {
        self.reloader.tenants.change(config)
    }

    fn tenant_remove(&self, domain: &str, removal: &Removal) -> anyhow::Result<String> {
        self.reloader.tenants.remove(domain, removal)
    }

    fn stop(&self, restart: bool, delay: Duration, reason: &str) -> anyhow::Result<()> {
        let at = std::time::Instant::now() + delay;
        self.router.request_stop(StopRequest { at, reason: reason.to_string(), restart });
        Ok(())
    }

    fn import(&self, path: &std::path::Path) -> anyhow::Result<serde_json::Value> {
        let m = self.migrator();
        let report = m.import_file(path)?;
        let failed: Vec<serde_json::Value> =
            report.failed.iter().map(|(at, why)| json!({"at": at.to_string(), "why": why})).collect();
        Ok(json!({"imported": report.imported, "failed": failed, "warnings": report.warnings}))
    }

    fn export(&self, domain: Option<&str>) -> anyhow::Result<String> {
        let m = self.migrator();
        Ok(crate::migrate::piefxis::write(&m.export(domain)?))
    }
}

async fn serve(config: Config, config_path: Option<PathBuf>) -> anyhow::Result<Stopped> {
    let started = std::time::Instant::now();
    let config = Arc::new(config);
    let storage = Storage::open(&config.server.data_dir)?;
    let accounts = Accounts::new(storage.clone(), config.sasl.scram_iterations);
    let plugins = PluginHost::start(&config, storage.clone(), accounts.clone()).context("loading plugins")?;
    let tenants = Tenants::new(config.vhosts.iter().map(|v| Tenant::new(v.domain.clone(), config.quotas_for(v))));
    let router = Router::with_tenants(
        Arc::new(tenants),
        config.components.iter().map(|c| c.domain.clone()),
        plugins.clone(),
        accounts.clone(),
    );
    let tls = crate::tls::load(&config).context("setting up TLS")?;
    let _cert_watcher = crate::tls::spawn_cert_watcher(&tls, CERT_POLL);
    let lifecycle = Arc::new(Lifecycle::new(router.clone(), tls.clone(), storage.clone(), config.clone()));
    let weak: std::sync::Weak<dyn crate::tenants::TenantAdmin> =
        Arc::downgrade(&(lifecycle.clone() as Arc<dyn crate::tenants::TenantAdmin>));
    router.attach_tenant_admin(weak);
    let stored = lifecycle.serve_stored().context("reading the tenants added at runtime")?;
    if stored > 0 {
        tracing::info!("serving {stored} tenants added at runtime");
    }
    let s2s = S2s::start(config.clone(), tls.clone(), &router)?;
    let components = Components::new(&config, router.clone());
    let ctx = C2s::new(config.clone(), tls, accounts.clone(), router.clone());
    let reloader = Arc::new(Reloader {
        started: config.clone(),
        tenants: lifecycle,
        c2s: ctx.clone(),
        config_path: config_path.clone(),
    });

    let uploads = Uploads::open(&config, storage.clone()).context("opening the uploads folder")?;
    plugins.attach_uploads(uploads.clone());
    let _sweeper = uploads.spawn_sweeper();
    let web = Http::new(ctx.clone(), Some(s2s.clone()), Some(uploads));

    let mut bound = json!({
        "c2s": [], "c2s_direct_tls": [], "s2s": [], "s2s_direct_tls": [], "component": [],
        "http": [], "https": [], "metrics": [],
    });
    for (addrs, direct, key) in
        [(&config.listen.c2s, false, "c2s"), (&config.listen.c2s_direct_tls, true, "c2s_direct_tls")]
    {
        for addr in addrs {
            let (local, _task) = c2s::listen(ctx.clone(), *addr, direct).await?;
            tracing::info!("listening for clients on {local}{}", if direct { " (direct TLS)" } else { "" });
            if let Some(list) = bound[key].as_array_mut() {
                list.push(json!(local.to_string()));
            }
        }
    }
    for (addrs, direct, key) in
        [(&config.listen.s2s, false, "s2s"), (&config.listen.s2s_direct_tls, true, "s2s_direct_tls")]
    {
        for addr in addrs {
            let (local, _task) = s2s::listen(s2s.clone(), *addr, direct).await?;
            tracing::info!("listening for servers on {local}{}", if direct { " (direct TLS)" } else { "" });
            if let Some(list) = bound[key].as_array_mut() {
                list.push(json!(local.to_string()));
            }
        }
    }
    for addr in &config.listen.component {
        let (local, _task) = component::listen(components.clone(), *addr).await?;
        tracing::info!("listening for components on {local}");
        if let Some(list) = bound["component"].as_array_mut() {
            list.push(json!(local.to_string()));
        }
    }
    for (addrs, tls, key, serves) in [
        (&config.listen.http, false, "http", http::Serves::Clients),
        (&config.listen.https, true, "https", http::Serves::Clients),
        (&config.listen.metrics, false, "metrics", http::Serves::Metrics),
    ] {
        for addr in addrs {
            let (local, _task) = http::listen(web.clone(), *addr, tls, serves).await?;
            tracing::info!("listening for {key} on {local}");
            if let Some(list) = bound[key].as_array_mut() {
                list.push(json!(local.to_string()));
            }
        }
    }
    let admin_path = config.admin_socket();
    let api: Arc<dyn AdminApi> = Arc::new(Admin {
        accounts: accounts.clone(),
        router: router.clone(),
        reloader: reloader.clone(),
        s2s: s2s.clone(),
        started,
        listening: bound.clone(),
        config_path: config_path.clone(),
    });
    let _admin = admin::serve(admin_path.clone(), api).await?;
    bound["admin_socket"] = json!(admin_path);
    bound["pid"] = json!(std::process::id());
    // Tests and scripts read the ports actually bound (the config may say port 0).
    let listening = config.server.data_dir.join("listening.json");
    std::fs::write(&listening, bound.to_string()).with_context(|| format!("writing {}", listening.display()))?;
    tracing::info!("waxwing {} serving {}", env!("CARGO_PKG_VERSION"), router.domains().join(", "));

    let stop = wait_for_stop(&router, &reloader).await;
    let (stopped, reason) = match &stop {
        Some(r) if r.restart => (Stopped::Restart, or_default(&r.reason, "the server is restarting")),
        Some(r) => (Stopped::Exit, or_default(&r.reason, "the server is shutting down")),
        None => (Stopped::Exit, "the server is shutting down".to_string()),
    };

    tracing::info!("shutting down: closing {} sessions", router.session_count());
    router.close_all(StreamErrorCondition::SystemShutdown, &reason);
    ctx.begin_shutdown();
    s2s.begin_shutdown();
    // Give connection tasks a moment to write their closing stream errors.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while (router.session_count() > 0 || ctx.open_connections() > 0) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = std::fs::remove_file(&listening);
    let _ = std::fs::remove_file(&admin_path);
    storage.flush().context("flushing the database at shutdown")?;
    tracing::info!("stopped");
    Ok(stopped)
}

fn or_default(text: &str, default: &str) -> String {
    if text.trim().is_empty() { default.to_string() } else { text.to_string() }
}

/// Waits for SIGTERM or SIGINT (`None`), or for the time an admin's stop
/// request names (a later request replaces an earlier one); reloads the
/// config on SIGHUP meanwhile.
async fn wait_for_stop(router: &Arc<Router>, reloader: &Arc<Reloader>) -> Option<StopRequest> {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) =
        (signal(SignalKind::terminate()), signal(SignalKind::interrupt()), signal(SignalKind::hangup()))
    else {
        tracing::error!("could not install signal handlers; stopping on Ctrl-C only");
        let _ = tokio::signal::ctrl_c().await;
        return None;
    };
    let mut requests = router.stop_requests();
    let mut pending: Option<StopRequest> = None;
    let mut watching = true;
    // However soon a stop is asked for, the answer to whoever asked (a
    // plugin's command reply and announcement, the admin socket's reply)
    // goes out first.
    const LEAST_NOTICE: Duration = Duration::from_secs(1);
    loop {
        let due = pending.as_ref().map(|r| tokio::time::Instant::from_std(r.at));
        tokio::select! {
            _ = term.recv() => return None,
            _ = int.recv() => return None,
            () = sleep_until(due) => return pending,
            changed = requests.changed(), if watching => {
                if changed.is_err() {
                    watching = false;
                    continue;
                }
                pending = requests.borrow_and_update().clone().map(|mut r| {
                    r.at = r.at.max(std::time::Instant::now() + LEAST_NOTICE);
                    r
                });
                if let Some(r) = &pending {
                    let secs = r.at.saturating_duration_since(std::time::Instant::now()).as_secs();
                    tracing::warn!("an admin asked to {} the server in {secs} s", if r.restart { "restart" } else { "stop" });
                }
            }
            _ = hup.recv() => {
                // Recompiling plugins takes a while: keep it off the async workers.
                let reloader = reloader.clone();
                tokio::task::spawn_blocking(move || match reloader.reload() {
                    Ok(summary) => tracing::info!("config reloaded: {summary}"),
                    Err(e) => tracing::error!("config reload failed, keeping the running config: {e:#}"),
                });
            }
        }
    }
}

async fn sleep_until(due: Option<tokio::time::Instant>) {
    match due {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Reloader {
    /// What SIGHUP and `waxwing reload` do: the summary of what changed, or
    /// why the file was refused (and nothing changed).
    fn reload(&self) -> anyhow::Result<String> {
        let Some(path) = self.config_path.as_deref() else {
            return Ok("running on the embedded default config; nothing to reload".to_owned());
        };
        let refused = || format!("reloading {} (the running config is kept)", path.display());
        let new = Arc::new(Config::load(path).with_context(refused)?);
        let old = self.c2s.config().clone();
        let mut changes = self.tenants.reload(new.clone()).with_context(refused)?;
        if old.limits != new.limits {
            changes.push("limits changed: they apply to client connections and sessions from now on".to_owned());
        }
        if old.server.log_level != new.server.log_level {
            crate::cli::set_log_level(&new.server.log_level).with_context(refused)?;
            changes.push(format!("server.log_level: {} -> {}", old.server.log_level, new.server.log_level));
        }
        let restart = crate::config::restart_needed(&self.started, &new);
        if !restart.is_empty() {
            // At warn: the info summary is lost when the new level is higher.
            let line = format!("needs a restart to take effect: {}", restart.join(", "));
            tracing::warn!("{line}");
            changes.push(line);
        }
        self.c2s.set_config(new);
        Ok(if changes.is_empty() { "nothing changed".to_owned() } else { changes.join("\n") })
    }
}
