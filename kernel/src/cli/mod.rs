//! The `waxwing` command line: `serve`, `status`, `sessions`, `kick`,
//! `stats`, `announce`, `reload`, `check`, `user`, `plugin`, `import`,
//! `export` (and `check-config`, the older name of `check config`).
//!
//! The config is found as prosodyctl finds its own: `--config FILE`, else
//! `$WAXWING_CONFIG`, else `/etc/waxwing/waxwing.toml` when it exists, else
//! the embedded default ([`ConfigSource`]).
//!
//! Exit codes, for scripts: 0 success, 1 failure (the reason on stderr as
//! `error: ...`), 2 usage errors (clap's), 3 the command needs a running
//! server and none answers on the admin socket ([`NotRunning`]).

mod args;
mod check;
mod control;
mod import;
mod logging;
mod migrate;
mod password;
mod plugins;
mod scaffold;
mod serve;
mod tenants;
mod users;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser as _;

use crate::config::{Config, ConfigSource};

pub use args::{CheckCommand, Cli, Command, PLUGIN_ABI, PluginCommand, UserAdd, UserCommand};
pub(crate) use logging::set_log_level;

/// The exit code of a command that needs a running server when none runs
/// (LSB's "program is not running", as `systemctl status` uses it).
pub const EXIT_NOT_RUNNING: u8 = 3;

/// No server answers on the admin socket; the command needs one.
#[derive(Debug, thiserror::Error)]
#[error(
    "no server is running: nothing answers on the admin socket {} (config: {config}); start it with \
     `waxwing serve`, or point this command at the right server with --config FILE or WAXWING_CONFIG",
    socket.display()
)]
pub struct NotRunning {
    pub socket: PathBuf,
    /// Where the config came from, as [`ConfigSource::describe`] says it.
    pub config: String,
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.downcast_ref::<NotRunning>().is_some() { ExitCode::from(EXIT_NOT_RUNNING) } else { ExitCode::FAILURE }
        }
    }
}

/// The config the command works on, and where it came from.
pub struct Found {
    pub cfg: Config,
    pub source: ConfigSource,
}

impl Found {
    fn discover(flag: Option<&std::path::Path>) -> anyhow::Result<Found> {
        let source = ConfigSource::discover(flag);
        Ok(Found { cfg: source.load()?, source })
    }

    fn not_running(&self) -> NotRunning {
        NotRunning { socket: self.cfg.admin_socket(), config: self.source.describe() }
    }
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let flag = cli.config.as_deref();
    match cli.command {
        Command::Serve => serve::serve(ConfigSource::discover(flag).path().map(PathBuf::from)),
        Command::CheckConfig { file } => Ok(serve::check_config(&file)),
        Command::Check(CheckCommand::Config { file }) => match file {
            Some(f) => Ok(serve::check_config(&f)),
            None => match ConfigSource::discover(flag).path() {
                Some(p) => Ok(serve::check_config(p)),
                None => check::embedded_config(),
            },
        },
        Command::Check(CheckCommand::Certs) => check::certs(&Found::discover(flag)?.cfg),
        Command::Check(CheckCommand::Dns { domain }) => check::dns(&Found::discover(flag)?.cfg, domain.as_deref()),
        Command::Status { json } => control::status(&Found::discover(flag)?, json),
        Command::Sessions { domain, json } => control::sessions(&Found::discover(flag)?, domain, json),
        Command::Kick { jid, reason } => control::kick(&Found::discover(flag)?, &jid, &reason),
        Command::Stats { json } => control::stats(&Found::discover(flag)?, json),
        Command::Announce { domain, message } => control::announce(&Found::discover(flag)?, domain, &message),
        Command::Reload => control::reload(&Found::discover(flag)?),
        Command::Stop(a) => control::stop(&Found::discover(flag)?, false, &a),
        Command::Restart(a) => control::stop(&Found::discover(flag)?, true, &a),
        Command::Import { file } => {
            let found = Found::discover(flag)?;
            logging::init_logging("warn")?;
            migrate::import(found, &file)
        }
        Command::Export { file, domain } => {
            let found = Found::discover(flag)?;
            logging::init_logging("warn")?;
            migrate::export(found, file.as_deref(), domain)
        }
        Command::User(cmd) => {
            let found = Found::discover(flag)?;
            logging::init_logging("warn")?;
            users::run(&found, cmd)
        }
        Command::Plugin(PluginCommand::New { name, dir, lang, sdk, repo }) => {
            scaffold::run(&name, lang, dir.as_deref(), sdk.as_deref(), repo.as_deref())
        }
        Command::Plugin(cmd) => plugins::run(&Found::discover(flag)?, cmd),
        Command::Tenant(cmd) => tenants::run(&Found::discover(flag)?, cmd),
    }
}
