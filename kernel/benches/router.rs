//! The router without sockets: a stanza from one bound session through
//! `Router::from_client` (checks, `from` stamp, address parsing, the plugins'
//! `wants()` pre-filter, delivery) to the other session's outbound queue,
//! serialised once, as `c2s/session.rs` hands it over.
//!
//! Two servers: the default plugins (disco, ping, time, version: what
//! `./dev serve` runs) and none at all, so the cost the plugin layer adds to
//! a stanza no plugin wants shows as the difference.
//!
//! `cargo bench -p waxwing --bench router --profile dev`.

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use tokio::sync::mpsc;
use waxwing::accounts::Accounts;
use waxwing::config::Config;
use waxwing::plugins::PluginHost;
use waxwing::router::{Outbound, Router, Session};
use waxwing::storage::Storage;
use waxwing_xml::Element;

struct Bed {
    router: Arc<Router>,
    alice: Arc<Session>,
    bob_rx: mpsc::UnboundedReceiver<Outbound>,
    alice_rx: mpsc::UnboundedReceiver<Outbound>,
    dir: PathBuf,
}

impl Drop for Bed {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A router for `localhost` with alice/desk and bob/desk bound and available.
fn bed(label: &str, default_plugins: bool) -> Bed {
    let dir = std::env::temp_dir().join(format!("waxwing-router-bench-{}-{label}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let storage = Storage::open(&dir).expect("opening the storage");
    let accounts = Accounts::new(storage.clone(), 4096);
    let mut cfg = Config::default();
    cfg.server.data_dir = dir.clone();
    cfg.server.plugin_cache_dir = Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/plugin-cache"));
    if !default_plugins {
        for v in &mut cfg.vhosts {
            v.plugins.clear();
        }
    }
    let host = PluginHost::start(&cfg, storage, accounts.clone()).expect("starting the plugin host");
    let router = Router::new(["localhost".to_string()], host, accounts);
    let table = router.host("localhost").expect("the localhost table");
    let (alice_tx, alice_rx) = mpsc::unbounded_channel();
    let (bob_tx, bob_rx) = mpsc::unbounded_channel();
    let alice = table.sessions.bind("alice", Some("desk"), alice_tx).expect("binding alice");
    let bob = table.sessions.bind("bob", Some("desk"), bob_tx).expect("binding bob");
    for s in [&alice, &bob] {
        let mut p = s.presence();
        p.available = true;
        s.set_presence(p);
    }
    Bed { router, alice, bob_rx, alice_rx, dir }
}

fn parse(xml: &str) -> Element {
    Element::parse(xml).expect("a well-formed stanza")
}

/// Routes `el` from alice and takes what arrives in `rx`'s queue.
fn route_once(bed: &Bed, el: Element, to_bob: bool, rx: &mut mpsc::UnboundedReceiver<Outbound>) {
    bed.router.from_client(&bed.alice, el).expect("a routable stanza");
    let mut got = 0;
    while let Ok(out) = rx.try_recv() {
        black_box(out);
        got += 1;
    }
    assert_eq!(got, 1, "expected one stanza in {}'s queue", if to_bob { "bob" } else { "alice" });
}

fn routing(c: &mut Criterion) {
    let message_full = parse(
        "<message xmlns='jabber:client' to='bob@localhost/desk' id='m1' type='chat'>\
         <body>Wherefore art thou?</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>",
    );
    let message_bare =
        parse("<message xmlns='jabber:client' to='bob@localhost' id='m2' type='chat'><body>hi</body></message>");
    let ping = parse("<iq xmlns='jabber:client' to='localhost' id='p1' type='get'><ping xmlns='urn:xmpp:ping'/></iq>");
    let unknown_iq =
        parse("<iq xmlns='jabber:client' to='localhost' id='q1' type='get'><query xmlns='urn:example:none'/></iq>");

    for (label, plugins) in [("default_plugins", true), ("no_plugins", false)] {
        let mut bed = bed(label, plugins);
        let mut group = c.benchmark_group(format!("router/{label}"));
        group.bench_function("element_clone_baseline", |b| {
            b.iter(|| black_box(message_full.clone()));
        });
        let mut bob_rx = std::mem::replace(&mut bed.bob_rx, mpsc::unbounded_channel().1);
        let mut alice_rx = std::mem::replace(&mut bed.alice_rx, mpsc::unbounded_channel().1);
        group.bench_function("message_to_full_jid", |b| {
            b.iter_batched(
                || message_full.clone(),
                |el| route_once(&bed, el, true, &mut bob_rx),
                BatchSize::SmallInput,
            );
        });
        group.bench_function("message_to_bare_jid", |b| {
            b.iter_batched(
                || message_bare.clone(),
                |el| route_once(&bed, el, true, &mut bob_rx),
                BatchSize::SmallInput,
            );
        });
        // With the default plugins the ping plugin (wasm) answers; without, the kernel.
        group.bench_function("iq_ping_to_server", |b| {
            b.iter_batched(|| ping.clone(), |el| route_once(&bed, el, false, &mut alice_rx), BatchSize::SmallInput);
        });
        group.bench_function("iq_unknown_to_server_error_reply", |b| {
            b.iter_batched(
                || unknown_iq.clone(),
                |el| route_once(&bed, el, false, &mut alice_rx),
                BatchSize::SmallInput,
            );
        });
        group.finish();
    }
}

criterion_group!(benches, routing);
criterion_main!(benches);
