//! A process's CPU time, read from /proc: the server's own cost of a
//! workload, independent of what the load generator spends.

use std::time::Duration;

/// User + system CPU time consumed so far by `pid`.
pub fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let ticks = clock_ticks();
    Some(Duration::from_secs_f64((utime + stime) as f64 / ticks as f64))
}

fn clock_ticks() -> u64 {
    // SC_CLK_TCK is 100 on every Linux this runs on; getconf confirms when present.
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// Resident set size of `pid` in KiB (VmRSS).
pub fn process_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time of this process (the load generator) so far.
pub fn own_cpu() -> Duration {
    process_cpu(std::process::id()).unwrap_or_default()
}

/// On-CPU time of each thread of `pid` in ns (`/proc/PID/task/TID/schedstat`):
/// precise where utime/stime count 10 ms ticks, but blind to threads that
/// exit in between.
pub fn thread_cpu_ns(pid: u32) -> Option<std::collections::HashMap<u32, u64>> {
    let mut out = std::collections::HashMap::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let Ok(entry) = entry else { continue };
        let Some(tid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("schedstat")) else { continue };
        if let Some(ns) = stat.split_whitespace().next().and_then(|s| s.parse().ok()) {
            out.insert(tid, ns);
        }
    }
    Some(out)
}

/// CPU time of `pid` between two readings: from the threads' schedstat when
/// every thread of the first reading is still there, else from the ticks.
pub struct Reading {
    ticks: Option<Duration>,
    threads: Option<std::collections::HashMap<u32, u64>>,
}

impl Reading {
    pub fn take(pid: u32) -> Reading {
        Reading { threads: thread_cpu_ns(pid), ticks: process_cpu(pid) }
    }

    /// CPU used since `earlier`, and whether it is the precise figure.
    pub fn since(&self, earlier: &Reading) -> Option<(Duration, bool)> {
        if let (Some(now), Some(then)) = (&self.threads, &earlier.threads)
            && then.keys().all(|tid| now.contains_key(tid))
        {
            let ns: u64 = now.iter().map(|(tid, ns)| ns.saturating_sub(then.get(tid).copied().unwrap_or(0))).sum();
            return Some((Duration::from_nanos(ns), true));
        }
        Some((self.ticks?.saturating_sub(earlier.ticks?), false))
    }
}
