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
use crate::plugins::PluginHost;
use crate::router::Router;
use crate::s2s::{self, S2s};
use crate::storage::Storage;
use crate::uploads::Uploads;
use waxwing_xml::StreamErrorCondition;

/// Serves until SIGTERM or SIGINT.
pub fn run(config: Config, config_path: Option<PathBuf>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(serve(config, config_path))
}

struct Admin {
    accounts: Accounts,
    router: Arc<Router>,
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
}

async fn serve(config: Config, config_path: Option<PathBuf>) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let storage = Storage::open(&config.server.data_dir)?;
    let accounts = Accounts::new(storage.clone(), config.sasl.scram_iterations);
    let plugins = PluginHost::start(&config, storage.clone(), accounts.clone()).context("loading plugins")?;
    let router = Router::with_components(
        config.vhosts.iter().map(|v| v.domain.clone()),
        config.components.iter().map(|c| c.domain.clone()),
        plugins.clone(),
        accounts.clone(),
    );
    let tls = crate::tls::load(&config).context("setting up TLS")?;
    let s2s = S2s::start(config.clone(), tls.clone(), &router)?;
    let components = Components::new(&config, router.clone());
    let ctx = C2s::new(config.clone(), tls, accounts.clone(), router.clone());

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
    let api: Arc<dyn AdminApi> = Arc::new(Admin { accounts: accounts.clone(), router: router.clone() });
    let _admin = admin::serve(admin_path.clone(), api).await?;
    bound["admin_socket"] = json!(admin_path);
    bound["pid"] = json!(std::process::id());
    // Tests and scripts read the ports actually bound (the config may say port 0).
    let listening = config.server.data_dir.join("listening.json");
    std::fs::write(&listening, bound.to_string()).with_context(|| format!("writing {}", listening.display()))?;
    tracing::info!("waxwing {} serving {}", env!("CARGO_PKG_VERSION"), router.domains().join(", "));

    wait_for_signals(&router, config_path.as_deref()).await;

    tracing::info!("shutting down: closing {} sessions", router.session_count());
    router.close_all(StreamErrorCondition::SystemShutdown, "the server is shutting down");
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
    Ok(())
}

async fn wait_for_signals(router: &Arc<Router>, config_path: Option<&std::path::Path>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) =
        (signal(SignalKind::terminate()), signal(SignalKind::interrupt()), signal(SignalKind::hangup()))
    else {
        tracing::error!("could not install signal handlers; stopping on Ctrl-C only");
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => return,
            _ = int.recv() => return,
            _ = hup.recv() => {
                // Recompiling plugins takes a while: keep it off the async workers.
                let (router, path) = (router.clone(), config_path.map(std::path::Path::to_path_buf));
                tokio::task::spawn_blocking(move || reload_config(&router, path.as_deref()));
            }
        }
    }
}

/// SIGHUP: re-read the config file and apply plugin changes. A bad file is
/// reported and changes nothing.
fn reload_config(router: &Arc<Router>, config_path: Option<&std::path::Path>) {
    let Some(path) = config_path else {
        tracing::info!("SIGHUP: running on the embedded default config; nothing to reload");
        return;
    };
    match Config::load(path).and_then(|cfg| router.plugins().apply_config(&cfg)) {
        Ok(summary) => tracing::info!("config reloaded: {summary}"),
        Err(e) => tracing::error!("config reload failed, keeping the running config: {e:#}"),
    }
}
