//! `waxwing serve` and `waxwing check-config`.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr as _;

use anyhow::anyhow;
use tracing_subscriber::filter::LevelFilter;

use crate::config::Config;

/// The environment variable that overrides `server.log_level`.
const LOG_ENV: &str = "WAXWING_LOG";

pub fn serve(config_path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let cfg = Config::load_or_default(config_path.as_deref())?;
    init_logging(&cfg.server.log_level)?;
    if config_path.is_none() {
        tracing::info!(data_dir = %cfg.server.data_dir.display(), "no --config given: using the built-in defaults");
    }
    crate::server::run(cfg, config_path)?;
    Ok(ExitCode::SUCCESS)
}

/// Logs go to stderr at `level`, or at `$WAXWING_LOG` when set.
pub fn init_logging(level: &str) -> anyhow::Result<()> {
    let level = match std::env::var(LOG_ENV) {
        Ok(env) => parse_level(&env).map_err(|e| anyhow!("{LOG_ENV}: {e}"))?,
        Err(_) => parse_level(level).map_err(|e| anyhow!("server.log_level: {e}"))?,
    };
    // A second initialisation (tests, or a caller that set its own) keeps the first.
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
    Ok(())
}

fn parse_level(text: &str) -> Result<LevelFilter, String> {
    LevelFilter::from_str(text.trim())
        .map_err(|_| format!("{text:?} is not a log level: use one of off, error, warn, info, debug, trace"))
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
    fn levels() {
        assert_eq!(parse_level("debug").unwrap(), LevelFilter::DEBUG);
        assert_eq!(parse_level("WARN").unwrap(), LevelFilter::WARN);
        assert!(parse_level("loud").unwrap_err().contains("\"loud\""));
    }

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
