//! The command line, as clap derive types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The plugin ABI this kernel provides: the WIT package in plugin-abi/wit.
/// Components built against 1.x load too (plugin-abi/COMPATIBILITY.md).
pub const PLUGIN_ABI: &str = "waxwing:plugin@2.2.0";

// concat! takes literals only, hence the ABI written out again; a test keeps
// it equal to PLUGIN_ABI and to the WIT file.
const LONG_VERSION: &str =
    concat!(env!("CARGO_PKG_VERSION"), "\nplugin ABI: waxwing:plugin@2.2.0 (also loads 1.x plugins)");

#[derive(Debug, Parser)]
#[command(
    name = "waxwing",
    version,
    long_version = LONG_VERSION,
    about = "An XMPP server whose extensions are sandboxed WebAssembly plugins"
)]
pub struct Cli {
    /// The config file (TOML); without it the embedded default is used.
    #[arg(long, short = 'c', global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server until SIGTERM or SIGINT.
    Serve,
    /// Manage accounts, through the running server or, when none runs, the data directory.
    #[command(subcommand)]
    User(UserCommand),
    /// Inspect and reload the plugins of the running server.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Import accounts and their data from a XEP-0227 (PIEFXIS) file, as
    /// `ejabberdctl export_piefxis` or Prosody's migrator write them. The
    /// server must be stopped.
    Import {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Export every account and its data as a XEP-0227 (PIEFXIS) file
    /// (standard output without FILE). The server must be stopped.
    Export {
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
        /// Only this virtual host's accounts.
        #[arg(long, value_name = "DOMAIN")]
        domain: Option<String>,
    },
    /// Check a config file (and the certificates it names) without starting anything.
    CheckConfig {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account, or many from a file.
    Add(UserAdd),
    /// Set an account's password.
    Passwd {
        /// A bare JID, user@domain.
        jid: String,
        /// Read from standard input when absent (safer: arguments show up in `ps`).
        password: Option<String>,
    },
    /// Delete an account.
    Del {
        /// A bare JID, user@domain.
        jid: String,
    },
    /// List accounts, one JID per line.
    List {
        /// Only this virtual host's accounts.
        #[arg(long, value_name = "DOMAIN")]
        domain: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct UserAdd {
    /// A bare JID, user@domain.
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    pub jid: Option<String>,
    /// Read from standard input when absent (safer: arguments show up in `ps`).
    #[arg(conflicts_with = "file")]
    pub password: Option<String>,
    /// Import accounts from FILE (`-` for standard input): one `jid password`
    /// per line; blank lines and lines starting with `#` are skipped.
    #[arg(long, short = 'f', value_name = "FILE")]
    pub file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Show each plugin's status per virtual host.
    List,
    /// Load a plugin's module again and swap it in without a restart.
    Reload {
        name: String,
        /// Only on this virtual host (default: every host that loads it).
        #[arg(long, value_name = "HOST")]
        vhost: Option<String>,
    },
    /// Create a new plugin (a Rust crate, a C file or a Python module) that
    /// builds outside the repository.
    New {
        name: String,
        /// Where to create it (default: ./NAME).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// The language to write it in.
        #[arg(long, value_enum, default_value_t = Lang::Rust)]
        lang: Lang,
        /// Rust: the SDK's folder (default: the sdk/ this binary was built from).
        #[arg(long, value_name = "DIR")]
        sdk: Option<PathBuf>,
        /// C and Python: the repository whose plugins/c/build.sh or
        /// plugins/python/build.sh builds it (default: the one this binary was
        /// built from).
        #[arg(long, value_name = "DIR")]
        repo: Option<PathBuf>,
    },
}

/// What `waxwing plugin new` writes a plugin in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    /// A crate on the SDK, built with cargo.
    Rust,
    /// One .c file on the C bindings of plugin-abi/wit, built by plugins/c/build.sh.
    C,
    /// An app.py for componentize-py, built by plugins/python/build.sh.
    Python,
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use clap::error::ErrorKind;

    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("waxwing").chain(args.iter().copied()))
    }

    #[test]
    fn commands_parse() {
        let c = parse(&["--config", "w.toml", "serve"]).unwrap();
        assert_eq!(c.config, Some(PathBuf::from("w.toml")));
        assert!(matches!(c.command, Command::Serve));

        let c = parse(&["user", "add", "a@b", "pw", "-c", "x.toml"]).unwrap();
        assert_eq!(c.config, Some(PathBuf::from("x.toml")), "--config works after the subcommand");
        let Command::User(UserCommand::Add(a)) = c.command else { panic!("{c:?}") };
        assert_eq!((a.jid.as_deref(), a.password.as_deref(), a.file), (Some("a@b"), Some("pw"), None));

        let c = parse(&["user", "add", "--file", "-"]).unwrap();
        let Command::User(UserCommand::Add(a)) = c.command else { panic!("{c:?}") };
        assert_eq!((a.jid, a.file), (None, Some(PathBuf::from("-"))));

        let c = parse(&["user", "passwd", "a@b"]).unwrap();
        assert!(matches!(c.command, Command::User(UserCommand::Passwd { password: None, .. })));
        let c = parse(&["user", "list", "--domain", "b"]).unwrap();
        assert!(matches!(c.command, Command::User(UserCommand::List { domain: Some(d) }) if d == "b"));
        let c = parse(&["user", "del", "a@b"]).unwrap();
        assert!(matches!(c.command, Command::User(UserCommand::Del { jid }) if jid == "a@b"));
        let c = parse(&["plugin", "reload", "muc", "--vhost", "b"]).unwrap();
        assert!(matches!(c.command, Command::Plugin(PluginCommand::Reload { vhost: Some(_), .. })));
        assert!(matches!(parse(&["plugin", "list"]).unwrap().command, Command::Plugin(PluginCommand::List)));
        let c = parse(&["plugin", "new", "motd"]).unwrap();
        assert!(matches!(c.command, Command::Plugin(PluginCommand::New { lang: Lang::Rust, .. })), "rust by default");
        let c = parse(&["plugin", "new", "motd", "--lang", "python", "--repo", "r"]).unwrap();
        let Command::Plugin(PluginCommand::New { lang, repo, .. }) = c.command else { panic!("{c:?}") };
        assert_eq!((lang, repo), (Lang::Python, Some(PathBuf::from("r"))));
        let c = parse(&["import", "dump.xml"]).unwrap();
        assert!(matches!(c.command, Command::Import { file } if file == Path::new("dump.xml")));
        let c = parse(&["export"]).unwrap();
        assert!(matches!(c.command, Command::Export { file: None, domain: None }));
        let c = parse(&["export", "out.xml", "--domain", "b"]).unwrap();
        assert!(matches!(c.command, Command::Export { file: Some(_), domain: Some(_) }));
        let c = parse(&["check-config", "w.toml"]).unwrap();
        assert!(matches!(c.command, Command::CheckConfig { file } if file == Path::new("w.toml")));
    }

    #[test]
    fn usage_errors() {
        let cases: [&[&str]; 10] = [
            &["import"],
            &["export", "a", "b"],
            &[],
            &["frobnicate"],
            &["user", "add"],
            &["user", "add", "a@b", "--file", "x"],
            &["user", "del"],
            &["user", "list", "extra"],
            &["plugin", "reload"],
            &["check-config"],
        ];
        for args in cases {
            let err = parse(args).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{args:?}: {err}");
        }
    }

    #[test]
    fn version_names_the_plugin_abi() {
        let err = parse(&["--version"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DisplayVersion);
        assert_eq!(err.exit_code(), 0);
        let text = err.to_string();
        assert!(text.contains(env!("CARGO_PKG_VERSION")) && text.contains(PLUGIN_ABI), "{text}");
        let wit = include_str!("../../../plugin-abi/wit/plugin.wit");
        assert!(wit.contains(&format!("package {PLUGIN_ABI};")), "the WIT package moved on from {PLUGIN_ABI}");
    }
}
