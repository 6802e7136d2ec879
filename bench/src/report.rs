//! Figures of one run: a human table on stdout, then one JSON line.

use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::cpu;

/// Server CPU and the load generator's own, across a measured phase.
pub struct CpuMeter {
    pid: Option<u32>,
    server_before: Option<cpu::Reading>,
    own_before: Duration,
    since: std::time::Instant,
}

impl CpuMeter {
    pub fn start(pid: Option<u32>) -> Self {
        CpuMeter {
            pid,
            server_before: pid.map(cpu::Reading::take),
            own_before: cpu::own_cpu(),
            since: std::time::Instant::now(),
        }
    }

    /// (server CPU and whether it is the precise per-thread figure, load
    /// generator CPU) since `start`.
    pub fn stop(&self) -> (Option<(Duration, bool)>, Duration) {
        let server = match (self.pid, &self.server_before) {
            (Some(pid), Some(before)) => cpu::Reading::take(pid).since(before),
            _ => None,
        };
        (server, cpu::own_cpu().saturating_sub(self.own_before))
    }
}

/// CPU over one or more measured windows, each a `CpuMeter` from start to
/// `add` (the MUC joins are measured one at a time, the pauses between them
/// left out).
#[derive(Default)]
pub struct CpuSum {
    windows: usize,
    server: Option<(Duration, bool)>,
    own: Duration,
    wall: Duration,
}

impl CpuSum {
    /// Adds the window from `meter`'s start to now.
    pub fn add(&mut self, meter: &CpuMeter) {
        let (server, own) = meter.stop();
        self.server = match (self.windows, self.server, server) {
            (0, _, s) => s,
            (_, Some((a, pa)), Some((b, pb))) => Some((a + b, pa && pb)),
            _ => None,
        };
        self.windows += 1;
        self.own += own;
        self.wall += meter.since.elapsed();
    }

    /// Server CPU so far, when the server's pid was given.
    pub fn server(&self) -> Option<Duration> {
        self.server.map(|(d, _)| d)
    }
}

pub struct Report {
    scenario: &'static str,
    rows: Vec<(String, Value, &'static str)>,
}

impl Report {
    pub fn new(scenario: &'static str) -> Self {
        Report { scenario, rows: Vec::new() }
    }

    pub fn add(&mut self, key: &str, value: impl Into<Value>, unit: &'static str) {
        self.rows.push((key.to_string(), value.into(), unit));
    }

    /// Rounds to 0.1 so the JSON stays readable.
    pub fn num(&mut self, key: &str, value: f64, unit: &'static str) {
        let v = if value.is_finite() { json!((value * 10.0).round() / 10.0) } else { Value::Null };
        self.rows.push((key.to_string(), v, unit));
    }

    /// p50/p99/p999/max of latencies in µs.
    pub fn latencies(&mut self, prefix: &str, mut us: Vec<u32>) {
        if us.is_empty() {
            return;
        }
        us.sort_unstable();
        let pick = |q: f64| us[((us.len() as f64 * q) as usize).min(us.len() - 1)];
        self.add(&format!("{prefix}_p50_us"), pick(0.5), "µs");
        self.add(&format!("{prefix}_p99_us"), pick(0.99), "µs");
        self.add(&format!("{prefix}_p999_us"), pick(0.999), "µs");
        self.add(&format!("{prefix}_max_us"), us[us.len() - 1], "µs");
    }

    /// Server CPU per unit and both processes' CPU as a share of the time
    /// since the meter started.
    pub fn cpu(&mut self, meter: &CpuMeter, units: u64, unit_name: &str) {
        let mut sum = CpuSum::default();
        sum.add(meter);
        self.cpu_sum(&sum, units, unit_name);
    }

    /// The same over several measured windows (`CpuSum`): shares are of
    /// the windows' time.
    pub fn cpu_sum(&mut self, sum: &CpuSum, units: u64, unit_name: &str) {
        let wall = sum.wall.as_secs_f64().max(1e-9);
        if let Some((s, precise)) = sum.server {
            self.num(&format!("server_cpu_us_per_{unit_name}"), s.as_secs_f64() * 1e6 / units.max(1) as f64, "µs");
            self.num("server_cpu_pct", s.as_secs_f64() * 100.0 / wall, "% of one core");
            // schedstat (ns, per thread) unless a thread exited: then 10 ms ticks.
            self.add("server_cpu_source", if precise { "schedstat" } else { "ticks" }, "");
        }
        self.num("loadgen_cpu_pct", sum.own.as_secs_f64() * 100.0 / wall, "% of one core");
    }

    pub fn print(&self, label: &str) {
        println!("{} against {label}", self.scenario);
        for (k, v, unit) in &self.rows {
            println!("  {k:<32} {:>14} {unit}", v.to_string());
        }
        let mut m = Map::new();
        m.insert("scenario".into(), json!(self.scenario));
        m.insert("server".into(), json!(label));
        for (k, v, _) in &self.rows {
            m.insert(k.clone(), v.clone());
        }
        println!("{}", Value::Object(m));
    }
}
