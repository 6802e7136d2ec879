//! The command line, as clap derive types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The plugin ABI this kernel provides: the WIT package in plugin-abi/wit.
/// Components built against 1.x load too (plugin-abi/COMPATIBILITY.md).
pub const PLUGIN_ABI: &str = "waxwing:plugin@2.4.0";

// concat! takes literals only, hence the ABI written out again; a test keeps
// it equal to PLUGIN_ABI and to the WIT file. `-V` and `--version` both print
// it (clap would give `-V` the short version only).
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\nplugin ABI: waxwing:plugin@2.4.0 (also loads 1.x plugins)");

/// The top-level help's closing section: what an operator needs without
/// reading the source. The ports are `config::ListenSection::default()`'s (a
/// test keeps them equal).
const AFTER_HELP: &str = "\
Config file:
  --config FILE, else $WAXWING_CONFIG, else /etc/waxwing/waxwing.toml when it
  exists, else the embedded default (relative paths in a file are taken from
  the file's own folder).

Default ports (on 127.0.0.1 in the embedded default; [listen] changes them):
  c2s 5222 (STARTTLS), c2s direct TLS 5223, http 5280 (WebSocket, BOSH),
  https 5281, metrics 5282 (/metrics); s2s 5269 is the port to give
  [listen] s2s (the embedded default serves only localhost, so no s2s).

Data folder:
  [server] data_dir (default ./data beside the config file): the database
  (db/), generated certificates (tls/), uploads, and the admin socket
  (admin.sock, mode 0600) that `status`, `sessions`, `user` and the other
  commands use to talk to a running server.

Signals: SIGTERM and SIGINT stop the server; SIGHUP reloads the config file
  (the same as `waxwing reload`).

Logging: to standard error at [server] log_level; WAXWING_LOG (off, error,
  warn, info, debug, trace) overrides it.

Exit codes: 0 success, 1 failure (`error: ...` on standard error), 2 usage,
  3 the command needs a running server and none answers.";

#[derive(Debug, Parser)]
#[command(
    name = "waxwing",
    version = VERSION,
    long_version = VERSION,
    about = "An XMPP server whose extensions are sandboxed WebAssembly plugins",
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// The config file (TOML). Without it: $WAXWING_CONFIG, else
    /// /etc/waxwing/waxwing.toml when it exists, else the embedded default.
    #[arg(long, short = 'c', global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server until SIGTERM or SIGINT (SIGHUP reloads the config).
    Serve,
    /// Whether the server runs: pid, version, uptime, vhosts, listening
    /// addresses, sessions. Exit 0 running, 3 not running.
    Status {
        /// One JSON object instead of `key: value` lines.
        #[arg(long)]
        json: bool,
    },
    /// The connected clients, one session a line: JID, resource, client IP,
    /// client software (its XEP-0115 caps node, `-` when unknown).
    Sessions {
        /// Only this virtual host's sessions.
        #[arg(long, value_name = "DOMAIN")]
        domain: Option<String>,
        /// A JSON array of objects instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// End sessions with a `policy-violation` stream error: a full JID ends
    /// that session, a bare JID every session of the account.
    Kick {
        /// user@domain/resource or user@domain.
        jid: String,
        /// The text sent with the stream error.
        #[arg(long, value_name = "TEXT", default_value = "ended by the server's administrator")]
        reason: String,
    },
    /// Counters: registered users, online sessions, uptime, s2s streams,
    /// stanzas routed.
    Stats {
        /// One JSON object instead of `key: value` lines.
        #[arg(long)]
        json: bool,
    },
    /// Send a message, from the domain, to every online session of the
    /// virtual hosts (or of one).
    Announce {
        /// Only this virtual host's sessions.
        #[arg(long, value_name = "DOMAIN")]
        domain: Option<String>,
        /// The message body.
        message: String,
    },
    /// Re-read the running server's config file and apply what changed in
    /// its plugins (what SIGHUP does), and print the summary.
    Reload,
    /// Stop the running server, as SIGTERM does: every session is told
    /// `<system-shutdown/>` with MESSAGE. Prints `stopping`.
    Stop(StopArgs),
    /// Restart the running server in the same process (same PID; the binary
    /// and the config file as they are on disk now). Prints `restarting`.
    Restart(StopArgs),
    /// Check the config, the certificates or the DNS records a domain needs.
    #[command(subcommand)]
    Check(CheckCommand),
    /// Manage accounts, through the running server or, when none runs, the
    /// data directory (which must hold a database already).
    #[command(subcommand)]
    User(UserCommand),
    /// Inspect and reload the plugins of the running server.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Add, change, list and remove the running server's tenants (virtual
    /// hosts) without a restart; tenants added here are kept across
    /// restarts. The config file's own [[vhost]] tables change by editing
    /// the file and `waxwing reload`.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Import accounts and their data from a XEP-0227 (PIEFXIS) file, as
    /// `ejabberdctl export_piefxis` or Prosody's migrator write them: into the
    /// running server's plugins (the server reads FILE itself, so it must be
    /// readable by the server's user), or, with no server running, into the
    /// data directory.
    Import {
        /// The PIEFXIS file (XInclude'd files are read from beside it).
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Export every account and its data as a XEP-0227 (PIEFXIS) file (mode
    /// 0600; standard output without FILE), from the running server or, with
    /// none running, from the data directory.
    Export {
        /// Where to write the export (default: standard output).
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
        /// Only this virtual host's accounts.
        #[arg(long, value_name = "DOMAIN")]
        domain: Option<String>,
    },
    /// The same as `waxwing check config FILE`.
    CheckConfig {
        /// The config file to check.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum CheckCommand {
    /// Parse and validate a config file, read the certificates it names and
    /// load its plugins: everything `serve` would refuse. Exit 0 `FILE: ok`.
    Config {
        /// The file to check (default: the one --config, $WAXWING_CONFIG or
        /// the default path names).
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// Each vhost's certificate: names covered, expiry. Exit 1 when one is
    /// missing, expired, expires within 14 days or does not name its vhost.
    Certs,
    /// The DNS records a domain needs: SRV _xmpp-client._tcp,
    /// _xmpps-client._tcp, _xmpp-server._tcp, _xmpps-server._tcp and A/AAAA,
    /// compared with the configured listeners (asks [s2s] dns_server when
    /// set, else the system's resolver). Exit 1 when one needed is missing.
    Dns {
        /// The domain (default: every vhost).
        #[arg(value_name = "DOMAIN")]
        domain: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait first (at most a day), for clients to be told.
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    pub delay: u64,
    /// The text of the stream error every session gets.
    #[arg(long, value_name = "TEXT")]
    pub message: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account, or many from a file. Passwords must have at least
    /// 6 characters (the one policy of every way accounts are made).
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
        /// A JSON array of JIDs instead of lines.
        #[arg(long)]
        json: bool,
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
    /// per line, the password the rest of the line after one space (only the
    /// line end is stripped); blank lines and lines starting with `#` are
    /// skipped.
    #[arg(long, short = 'f', value_name = "FILE")]
    pub file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Every tenant: domain, where it is defined (config or runtime),
    /// sessions, open connections.
    List {
        /// A JSON array with each tenant's quotas too.
        #[arg(long)]
        json: bool,
    },
    /// Serve a new domain now: its certificate, the default plugins (or
    /// FILE's), its admins and quotas. Prints what was loaded.
    Add(TenantArgs),
    /// Replace a runtime tenant's table (certificate, admins, quotas,
    /// plugins) with the one given; its sessions stay connected.
    Change(TenantArgs),
    /// Stop serving a runtime tenant: its sessions are closed with
    /// `<host-gone/>`, and its accounts and data deleted (or exported, or kept).
    Remove {
        /// The tenant's domain.
        domain: String,
        /// Export its accounts and their data (XEP-0227) to FILE first; the
        /// server writes FILE, so give a path its user may write.
        #[arg(long, value_name = "FILE")]
        export: Option<PathBuf>,
        /// Keep its data in the database instead of deleting it.
        #[arg(long)]
        keep_data: bool,
    },
}

#[derive(Debug, Args)]
pub struct TenantArgs {
    /// The tenant's domain.
    pub domain: String,
    /// The certificate chain (PEM); a development certificate is generated
    /// when absent. Reloaded whenever the file changes.
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// An admin of this tenant (a bare JID); repeat for more.
    #[arg(long = "admin", value_name = "JID")]
    pub admins: Vec<String>,
    /// A quota of this tenant, as KEY=NUMBER (the keys of `[quotas]`, such
    /// as accounts=100 or session_stanzas_per_sec=20); repeat for more.
    #[arg(long = "quota", value_name = "KEY=NUMBER")]
    pub quotas: Vec<String>,
    /// The rest of the tenant's table (`[[plugin]]` tables, quotas) from a
    /// TOML file written as a config file's [[vhost]] table without the
    /// `vhost.` prefix; relative paths in it are taken from its folder.
    #[arg(long, value_name = "FILE")]
    pub from_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Show each plugin's status per virtual host.
    List,
    /// Load a plugin's module again and swap it in without a restart.
    Reload {
        /// The plugin's name, as `plugin list` shows it.
        name: String,
        /// Only on this virtual host (default: every host that loads it).
        #[arg(long, value_name = "HOST")]
        vhost: Option<String>,
    },
    /// Create a new plugin (a Rust crate, a C file or a Python module) that
    /// builds outside the repository.
    New {
        /// The plugin's name (a Rust crate name: letters, digits, `_`, `-`).
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
        assert!(matches!(c.command, Command::User(UserCommand::List { domain: Some(d), json: false }) if d == "b"));
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
        let c = parse(&["check", "config"]).unwrap();
        assert!(matches!(c.command, Command::Check(CheckCommand::Config { file: None })));
        let c = parse(&["check", "dns", "a.example"]).unwrap();
        assert!(matches!(c.command, Command::Check(CheckCommand::Dns { domain: Some(d) }) if d == "a.example"));
        assert!(matches!(parse(&["check", "certs"]).unwrap().command, Command::Check(CheckCommand::Certs)));
        assert!(matches!(parse(&["status", "--json"]).unwrap().command, Command::Status { json: true }));
        let c = parse(&["sessions", "--domain", "b"]).unwrap();
        assert!(matches!(c.command, Command::Sessions { domain: Some(_), json: false }));
        let c = parse(&["kick", "a@b/r"]).unwrap();
        assert!(
            matches!(c.command, Command::Kick { jid, reason } if jid == "a@b/r" && reason.contains("administrator"))
        );
        assert!(matches!(parse(&["stats"]).unwrap().command, Command::Stats { json: false }));
        let c = parse(&["announce", "--domain", "b", "going down at 5"]).unwrap();
        assert!(matches!(c.command, Command::Announce { domain: Some(_), message } if message == "going down at 5"));
        assert!(matches!(parse(&["reload"]).unwrap().command, Command::Reload));
    }

    #[test]
    fn usage_errors() {
        let cases: [&[&str]; 16] = [
            &["kick"],
            &["announce"],
            &["check"],
            &["check", "dns", "a", "b"],
            &["status", "extra"],
            &["reload", "--json"],
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
    fn short_and_long_version_agree() {
        let short = parse(&["-V"]).unwrap_err();
        let long = parse(&["--version"]).unwrap_err();
        assert_eq!(short.kind(), ErrorKind::DisplayVersion);
        assert_eq!(short.to_string(), long.to_string());
    }

    #[test]
    fn help_documents_ports_data_signals_and_logging() {
        use clap::CommandFactory as _;
        let help = Cli::command().render_long_help().to_string();
        let listen = crate::config::Config::default().listen;
        for addrs in [&listen.c2s, &listen.c2s_direct_tls, &listen.http, &listen.https, &listen.metrics] {
            for a in addrs {
                assert!(help.contains(&a.port().to_string()), "port {} is not in the help", a.port());
            }
        }
        for want in
            ["5269", "WAXWING_CONFIG", "/etc/waxwing/waxwing.toml", "data_dir", "SIGHUP", "WAXWING_LOG", "admin.sock"]
        {
            assert!(help.contains(want), "{want} is not in the help:\n{help}");
        }
        // Every argument of every command says what it is.
        fn walk(cmd: &clap::Command, path: &str) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                assert!(arg.get_help().is_some() || arg.get_long_help().is_some(), "{path} {id} has no help");
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()));
            }
        }
        walk(&Cli::command(), "waxwing");
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
