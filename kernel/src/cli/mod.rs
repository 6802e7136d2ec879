//! The `waxwing` command line: `serve`, `user`, `plugin`, `import`, `export`, `check-config`.
//!
//! Exit codes: 0 success, 1 failure (the reason on stderr as `error: ...`),
//! 2 usage errors (clap's).

mod args;
mod import;
mod migrate;
mod password;
mod plugins;
mod scaffold;
mod serve;
mod users;

use std::process::ExitCode;

use clap::Parser as _;

use crate::config::Config;

pub use args::{Cli, Command, PLUGIN_ABI, PluginCommand, UserAdd, UserCommand};

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
            ExitCode::FAILURE
        }
    }
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve => serve::serve(cli.config),
        Command::CheckConfig { file } => Ok(serve::check_config(&file)),
        Command::Import { file } => {
            let cfg = Config::load_or_default(cli.config.as_deref())?;
            serve::init_logging("warn")?;
            migrate::import(cfg, &file)
        }
        Command::Export { file, domain } => {
            let cfg = Config::load_or_default(cli.config.as_deref())?;
            serve::init_logging("warn")?;
            migrate::export(cfg, file.as_deref(), domain)
        }
        Command::User(cmd) => {
            let cfg = Config::load_or_default(cli.config.as_deref())?;
            serve::init_logging("warn")?;
            users::run(&cfg, cmd)
        }
        Command::Plugin(PluginCommand::New { name, dir, lang, sdk, repo }) => {
            scaffold::run(&name, lang, dir.as_deref(), sdk.as_deref(), repo.as_deref())
        }
        Command::Plugin(cmd) => {
            let cfg = Config::load_or_default(cli.config.as_deref())?;
            plugins::run(&cfg, cmd)
        }
    }
}
