//! `waxwing-bench`: measurements, never assertions. Prints a table and one
//! JSON line per scenario.
//!
//! Scenarios:
//! - `plugin [N]`: round trip and server CPU of an iq answered by a wasm
//!   plugin (XEP-0199 ping, default config) against the same iq answered by
//!   the kernel natively (a server with the ping plugin not loaded).

mod cpu;
mod plugin_iq;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match args.first().map(String::as_str) {
        Some("plugin") => {
            let n = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5000);
            runtime.block_on(plugin_iq::run(n));
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("usage: waxwing-bench plugin [REQUESTS]");
            ExitCode::from(2)
        }
    }
}
