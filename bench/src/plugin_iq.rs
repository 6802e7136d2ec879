//! Plugin-handled iq against kernel-native iq.

use std::time::{Duration, Instant};

use waxwing_tests::{RawClient, Server};

use crate::cpu::process_cpu;

const WARMUP: usize = 300;

struct Figures {
    label: &'static str,
    p50_us: f64,
    p99_us: f64,
    mean_us: f64,
    server_cpu_us: f64,
}

pub async fn run(n: usize) {
    let plugin = measure("plugin (wasm ping)", "", n).await;
    let native =
        measure("kernel-native", "[[vhost]]\ndomain = \"localhost\"\n[[vhost.plugin]]\nname = \"disco\"\n", n).await;
    println!("{:<22} {:>10} {:>10} {:>10} {:>16}", "iq answered by", "p50 µs", "p99 µs", "mean µs", "server CPU µs/iq");
    for f in [&plugin, &native] {
        println!("{:<22} {:>10.1} {:>10.1} {:>10.1} {:>16.1}", f.label, f.p50_us, f.p99_us, f.mean_us, f.server_cpu_us);
    }
    let ratio_rtt = plugin.mean_us / native.mean_us;
    let ratio_cpu = plugin.server_cpu_us / native.server_cpu_us;
    println!("plugin / native: round trip {ratio_rtt:.2}x, server CPU {ratio_cpu:.2}x  ({n} sequential requests each)");
    println!(
        "{}",
        serde_json::json!({
            "scenario": "plugin",
            "requests": n,
            "plugin": { "p50_us": plugin.p50_us, "p99_us": plugin.p99_us, "mean_us": plugin.mean_us, "server_cpu_us": plugin.server_cpu_us },
            "native": { "p50_us": native.p50_us, "p99_us": native.p99_us, "mean_us": native.mean_us, "server_cpu_us": native.server_cpu_us },
            "ratio_rtt": ratio_rtt,
            "ratio_server_cpu": ratio_cpu,
        })
    );
}

async fn measure(label: &'static str, config: &str, n: usize) -> Figures {
    let mut server = Server::start_with_users(config, &[("bench@localhost", "bench")]);
    let mut client = RawClient::login(&server, "bench@localhost", "bench").await;
    let ping = "<ping xmlns='urn:xmpp:ping'/>";
    for _ in 0..WARMUP {
        client.iq("get", Some("localhost"), ping).await;
    }
    let pid = server.pid();
    let cpu_before = process_cpu(pid).unwrap_or_default();
    let mut rtts = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let reply = client.iq("get", Some("localhost"), ping).await;
        rtts.push(t.elapsed());
        if reply.attr("type") != Some("result") {
            eprintln!("warning: {label}: unexpected answer {reply}");
        }
    }
    let cpu = process_cpu(pid).unwrap_or_default().saturating_sub(cpu_before);
    client.close().await;
    server.terminate();
    rtts.sort();
    let pick = |q: f64| rtts[((rtts.len() as f64 * q) as usize).min(rtts.len() - 1)];
    let mean = rtts.iter().sum::<Duration>() / rtts.len() as u32;
    Figures {
        label,
        p50_us: micros(pick(0.5)),
        p99_us: micros(pick(0.99)),
        mean_us: micros(mean),
        server_cpu_us: micros(cpu) / n as f64,
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
