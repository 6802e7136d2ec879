//! Figures for the design notes: the cost of one plugin call through the
//! kernel's path (route match, stanza record, wasm call, reply parse), with
//! and without fresh instances, and the pause a hot swap causes callers.
//!
//! `cargo bench -p waxwing --bench plugin_call --profile dev` (dependencies
//! are optimised in the dev profile; the kernel's own code is not, so the
//! figures are upper bounds). Needs the plugins `cargo build` puts in
//! `target/plugins/wasm32-wasip2/release/`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use waxwing::accounts::Accounts;
use waxwing::config::{Config, PluginConfig, PluginLimits, VhostConfig};
use waxwing::plugins::{Address, Handling, Kernel, Origin, PluginHost, SessionInfo};
use waxwing::storage::Storage;
use waxwing::xml::{Stanza, StanzaKind};
use waxwing_xml::Element;

struct NullKernel;

impl Kernel for NullKernel {
    fn sessions_of(&self, _: &str) -> Vec<SessionInfo> {
        Vec::new()
    }
    fn route_from_plugin(&self, _: Element, _: &Origin<'_>) {}
    fn account_changed(&self, _: &str, _: bool) {}
}

fn wasm(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/plugins/wasm32-wasip2/release")
        .join(format!("{name}.wasm"))
}

fn host(
    plugins: Vec<PluginConfig>,
    limits: PluginLimits,
) -> anyhow::Result<(Arc<PluginHost>, Arc<dyn Kernel>, PathBuf)> {
    let dir = std::env::temp_dir().join(format!("waxwing-bench-{}-{}", std::process::id(), plugins[0].name));
    let _ = std::fs::remove_dir_all(&dir);
    let storage = Storage::open(&dir)?;
    let accounts = Accounts::new(storage.clone(), 4096);
    let vhosts = vec![VhostConfig {
        domain: "localhost".into(),
        cert: None,
        key: None,
        admins: Vec::new(),
        quotas: Default::default(),
        plugins,
    }];
    let mut cfg = Config { plugin_limits: limits, vhosts, ..Config::default() };
    cfg.server.data_dir = dir.clone();
    cfg.server.plugin_cache_dir = Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/plugin-cache"));
    let host = PluginHost::start(&cfg, storage, accounts)?;
    let kernel: Arc<dyn Kernel> = Arc::new(NullKernel);
    host.attach(Arc::downgrade(&kernel) as Weak<dyn Kernel>);
    Ok((host, kernel, dir))
}

fn plugin(name: &str, path: PathBuf) -> PluginConfig {
    PluginConfig {
        name: name.into(),
        source: path.to_string_lossy().into_owned(),
        config: toml::Table::new(),
        grants: Some(Vec::new()),
    }
}

fn stanza(payload: &str) -> anyhow::Result<Stanza> {
    let xml = format!("<iq xmlns='jabber:client' type='get' id='b' from='u@localhost/r' to='localhost'>{payload}</iq>");
    Stanza::parse(Element::parse(&xml)?).map_err(|(_, e)| anyhow::anyhow!("{e}"))
}

fn per_call(label: &str, n: u32, mut f: impl FnMut()) {
    for _ in 0..n / 10 {
        f();
    }
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    println!("{label:<48} {:>9.0} ns/call ({n} calls)", t.elapsed().as_nanos() as f64 / f64::from(n));
}

fn main() -> anyhow::Result<()> {
    // Shows the kernel's "plugin swapped" lines, which carry the swap itself in µs.
    tracing_subscriber::fmt().with_max_level(tracing::Level::INFO).with_target(false).init();
    let limits = PluginLimits::default();
    let (ping_host, _k, dir) = host(vec![plugin("ping", wasm("ping"))], limits.clone())?;
    println!("pooling allocator: {}", ping_host.pooling_allocator());
    let vp = ping_host.vhost("localhost").ok_or_else(|| anyhow::anyhow!("no vhost"))?;
    let ping = stanza("<ping xmlns='urn:xmpp:ping'/>")?;
    per_call("wants() pre-filter, no wasm", 1_000_000, || {
        assert!(vp.wants(StanzaKind::Iq, "get", Address::Host, "urn:xmpp:ping", "ping"));
    });
    per_call("ping: handle_stanza, live instance", 100_000, || {
        assert_eq!(vp.handle_stanza(&ping, Address::Host), Handling::Done);
    });
    drop((vp, ping_host));
    let _ = std::fs::remove_dir_all(dir);

    let fresh = PluginLimits { recycle_after_calls: 1, ..limits.clone() };
    let (fresh_host, _k2, dir) = host(vec![plugin("ping", wasm("ping"))], fresh)?;
    let vp = fresh_host.vhost("localhost").ok_or_else(|| anyhow::anyhow!("no vhost"))?;
    let ping = stanza("<ping xmlns='urn:xmpp:ping'/>")?;
    per_call("ping: fresh instance + init every call", 5_000, || {
        assert_eq!(vp.handle_stanza(&ping, Address::Host), Handling::Done);
    });
    drop((vp, fresh_host));
    let _ = std::fs::remove_dir_all(dir);

    hot_swap(limits)
}

/// One thread calls echo without pause while the main thread swaps v1 and v2
/// back and forth; compares the callers' worst latency with and without swaps.
fn hot_swap(limits: PluginLimits) -> anyhow::Result<()> {
    let work = std::env::temp_dir().join(format!("waxwing-bench-swap-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let source = work.join("echo.wasm");
    std::fs::copy(wasm("echo_v1"), &source)?;
    let (host, _k, dir) = host(vec![plugin("echo", source.clone())], limits)?;
    let vp = host.vhost("localhost").ok_or_else(|| anyhow::anyhow!("no vhost"))?;
    let echo = stanza("<e xmlns='urn:waxwing:test:echo'/>")?;

    let measure = |stop: &AtomicBool| {
        let mut took = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let t = Instant::now();
            assert_eq!(vp.handle_stanza(&echo, Address::Host), Handling::Done);
            took.push(t.elapsed());
        }
        took.sort();
        took
    };
    let stop = AtomicBool::new(false);
    let quiet = std::thread::scope(|s| {
        let h = s.spawn(|| measure(&stop));
        std::thread::sleep(Duration::from_millis(500));
        stop.store(true, Ordering::Relaxed);
        h.join().map_err(|_| anyhow::anyhow!("caller panicked"))
    })?;
    stop.store(false, Ordering::Relaxed);
    let mut reloads = Vec::new();
    let swapping = std::thread::scope(|s| -> anyhow::Result<Vec<Duration>> {
        let h = s.spawn(|| measure(&stop));
        for i in 0..10 {
            std::fs::copy(wasm(if i % 2 == 0 { "echo_v2" } else { "echo_v1" }), &source)?;
            let t = Instant::now();
            host.reload("echo", None)?;
            reloads.push(t.elapsed());
        }
        stop.store(true, Ordering::Relaxed);
        h.join().map_err(|_| anyhow::anyhow!("caller panicked"))
    })?;
    reloads.sort();
    println!(
        "hot swap: reload (compile, describe, init, migrate, swap) median {:?}, max {:?}",
        reloads[reloads.len() / 2],
        reloads[reloads.len() - 1]
    );
    for (label, t) in [("without swaps", &quiet), ("during 10 swaps", &swapping)] {
        let pct = |p: usize| t.get(t.len() * p / 100).copied().unwrap_or_default();
        println!(
            "hot swap: caller {label:<16} p50 {:?}, p99 {:?}, max {:?} ({} calls, all answered)",
            pct(50),
            pct(99),
            t.last().copied().unwrap_or_default(),
            t.len()
        );
    }
    drop((vp, host));
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::remove_dir_all(work);
    Ok(())
}
