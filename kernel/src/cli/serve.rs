//! `waxwing serve` (and restart) and `waxwing check-config`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::anyhow;

use super::logging::init_logging;
use crate::config::Config;

pub fn serve(config_path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let cfg = Config::load_or_default(config_path.as_deref())?;
    init_logging(&cfg.server.log_level)?;
    if config_path.is_none() {
        tracing::info!(data_dir = %cfg.server.data_dir.display(), "no --config given: using the built-in defaults");
    }
    match crate::server::run(cfg, config_path)? {
        crate::server::Stopped::Exit => Ok(ExitCode::SUCCESS),
        crate::server::Stopped::Restart => Err(restart()),
    }
}

/// An admin's restart: this process becomes a fresh `waxwing` with the same
/// arguments, so it keeps its PID (and a service manager's trust) and reads
/// the config file and the binary as they are on disk now, an upgrade
/// included. Returns only if that fails.
fn restart() -> anyhow::Error {
    use std::os::unix::process::CommandExt as _;
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => return anyhow!("restarting: cannot find this program's file: {e}"),
    };
    // Once the binary was replaced on disk, Linux names the running image
    // "<path> (deleted)"; the new binary is at <path>.
    let exe = match exe.to_str().and_then(|p| p.strip_suffix(" (deleted)")) {
        Some(p) => PathBuf::from(p),
        None => exe,
    };
    tracing::info!("restarting: {}", exe.display());
    let err = std::process::Command::new(&exe).args(std::env::args_os().skip(1)).exec();
    anyhow!("restarting {}: {err}", exe.display())
}

/// Parses and validates the file, reads the certificates it names and loads
/// its plugins with their settings: everything `serve` would refuse.
pub fn check_config(file: &Path) -> ExitCode {
    let checked = Config::load(file).and_then(|cfg| {
        crate::tls::check_configured(&cfg)?;
        crate::plugins::PluginHost::check(&cfg)
    });
    match checked {
        Ok(()) => {
            println!("{}: ok", file.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_config_outcomes() {
        let dir = crate::testutil::tempdir("cli-check");
        let good = dir.join("good.toml");
        std::fs::write(&good, "[server]\nlog_level = \"debug\"\n").unwrap();
        assert_eq!(check_config(&good), ExitCode::SUCCESS);
        let bad = dir.join("bad.toml");
        std::fs::write(&bad, "[server]\nlog_level = \"loud\"\n").unwrap();
        assert_eq!(check_config(&bad), ExitCode::FAILURE);
        let certs = dir.join("certs.toml");
        std::fs::write(&certs, "[[vhost]]\ndomain = \"a.example\"\ncert = \"none.crt\"\nkey = \"none.key\"\n").unwrap();
        assert_eq!(check_config(&certs), ExitCode::FAILURE);
        assert_eq!(check_config(&dir.join("missing.toml")), ExitCode::FAILURE);
        let _ = std::fs::remove_dir_all(dir);
    }
}
