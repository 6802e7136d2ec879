//! `waxwing-bench`: measurements, never assertions. Prints a table and one
//! JSON line per scenario.
//!
//! Load scenarios against any XMPP server (`--server HOST:PORT --domain D
//! --ca CERT.pem`, STARTTLS + SCRAM logins, one tokio runtime):
//! `login`, `idle`, `messages`, `muc`, `pubsub`, `iq`, and `register`
//! (creates the accounts in-band). With `--pid` the server's CPU and memory
//! are read from /proc. `s2s` connects to two servers (`--to-server
//! HOST:PORT --to-domain D --to-pid PID`): messages from users of one to
//! users of the other, across server-to-server. See bench/README.md.
//!
//! And the self-contained `plugin [N]`: round trip and server CPU of an iq
//! answered by a wasm plugin (XEP-0199 ping, default config) against the
//! same iq answered by the kernel natively, on servers it starts itself.

mod conn;
mod cpu;
mod load;
mod muc;
mod plugin_iq;
mod pubsub;
mod report;
mod s2s;
mod scan;
mod scram;
mod web;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(name = "waxwing-bench", about = "Load and latency benchmarks for XMPP servers")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
    /// Runtime worker threads of the load generator.
    #[arg(long, global = true, default_value_t = 1)]
    threads: usize,
}

#[derive(Subcommand)]
enum Scenario {
    /// Logins (TLS + SCRAM + bind, then close) at --concurrency: logins/s, latency.
    Login(Common),
    /// Holds --concurrency sessions: server RSS per session (--transport
    /// websocket|bosh with --http-url: over the web transports).
    Idle(Common),
    /// --pairs sender/receiver pairs, --count messages each, --window in flight, optionally --rate paced
    /// (--transport websocket with --http-url: both ends over WebSocket).
    Messages(Common),
    /// MUC: --rooms rooms of --occupants, --senders of each send --count groupchat
    /// messages at --rate; a room of --big-room that --newcomers join one by one.
    Muc(Common),
    /// PubSub: one node, --subscribers subscribers, --count items published;
    /// a node of --big-node subscribers (one session each), --big-publishes items one at a time.
    Pubsub(Common),
    /// XEP-0199 pings to the server from --concurrency sessions, --count in all.
    Iq(Common),
    /// Creates the accounts by in-band registration (XEP-0077).
    Register(Common),
    /// Across server-to-server: --pairs senders at --server send --count chat
    /// messages each to as many receivers at --to-server, --window in flight,
    /// optionally --rate paced; both servers' CPU (--pid, --to-pid).
    S2s(S2sArgs),
    /// Waxwing only, servers of its own: wasm-plugin iq vs kernel-native iq.
    Plugin {
        #[arg(default_value_t = 5000)]
        requests: usize,
    },
}

#[derive(Args)]
struct Common {
    /// The server's STARTTLS client port.
    #[arg(long, default_value = "127.0.0.1:5222")]
    server: SocketAddr,
    #[arg(long, default_value = "localhost")]
    domain: String,
    /// PEM certificate(s) to trust for the server's TLS certificate.
    #[arg(long)]
    ca: PathBuf,
    /// The server's pid, for its CPU time and RSS from /proc.
    #[arg(long)]
    pid: Option<u32>,
    /// A name for the server in the output.
    #[arg(long, default_value = "server")]
    label: String,
    /// Accounts are PREFIX1 .. PREFIX{users} at the domain.
    #[arg(long, default_value = "bench")]
    prefix: String,
    #[arg(long, default_value = "bench-password")]
    password: String,
    /// How many accounts exist.
    #[arg(long, default_value_t = 200)]
    users: usize,
    #[arg(long, default_value_t = 20)]
    login_concurrency: usize,
    #[arg(long, default_value_t = 10)]
    concurrency: usize,
    /// Logins (login), pings (iq), or messages per sender (messages, s2s, muc, pubsub).
    #[arg(long, default_value_t = 1000)]
    count: usize,
    /// Stanzas in flight per sender.
    #[arg(long, default_value_t = 10)]
    window: usize,
    #[arg(long, default_value_t = 20)]
    pairs: usize,
    #[arg(long, default_value_t = 5)]
    rooms: usize,
    #[arg(long, default_value_t = 10)]
    occupants: usize,
    /// Occupants of each room that send (muc).
    #[arg(long, default_value_t = 2)]
    senders: usize,
    /// Occupants of the large room newcomers join (muc); 0 leaves it out.
    #[arg(long, default_value_t = 0)]
    big_room: usize,
    /// Newcomers timed joining the large room, one after another.
    #[arg(long, default_value_t = 5)]
    newcomers: usize,
    /// Messages one occupant sends to the large room (muc_big); 0 leaves it out.
    #[arg(long, default_value_t = 0)]
    big_count: usize,
    /// Their rate, messages/s (0: as fast as the window allows).
    #[arg(long, default_value_t = 10.0)]
    big_rate: f64,
    /// Subscribers of the node --count items are published to (pubsub); 0 leaves it out.
    #[arg(long, default_value_t = 50)]
    subscribers: usize,
    /// Subscribers of the large node, each its own session (pubsub); 0 leaves it out.
    #[arg(long, default_value_t = 0)]
    big_node: usize,
    /// Items published to the large node, one at a time.
    #[arg(long, default_value_t = 5)]
    big_publishes: usize,
    /// Messages per second over all pairs (messages; reported as scenario
    /// `messages_paced`) or all senders (muc), paced; 0: as fast as the
    /// window allows.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Seconds the idle scenario holds its sessions.
    #[arg(long, default_value_t = 5)]
    hold: u64,
    /// Seconds any single wait may take.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// Resume TLS sessions (tickets) on later connections; by default every
    /// connection makes a full handshake.
    #[arg(long)]
    tls_resume: bool,
    #[arg(long)]
    muc_domain: Option<String>,
    #[arg(long)]
    pubsub_domain: Option<String>,
    /// What carries the sessions of `idle` (tcp, websocket, bosh) and
    /// `messages` (tcp, websocket): reported as idle_ws, idle_bosh, messages_ws.
    #[arg(long, value_enum, default_value_t = Transport::Tcp)]
    transport: Transport,
    /// The server's plain-HTTP listener for the web transports: http://IP:PORT.
    #[arg(long)]
    http_url: Option<String>,
    /// XMPP over WebSocket (RFC 7395) at this path of --http-url.
    #[arg(long, default_value = "/xmpp-websocket")]
    ws_path: String,
    /// BOSH (XEP-0206) at this path of --http-url.
    #[arg(long, default_value = "/http-bind")]
    bosh_path: String,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Transport {
    /// STARTTLS on the client port (--server).
    Tcp,
    /// RFC 7395 over ws:// at --http-url.
    Websocket,
    /// XEP-0206 over http:// at --http-url.
    Bosh,
}

/// `s2s`: the sending server is `--server`/`--domain`/`--pid`/`--label`, the
/// receiving one these; the same account names and password on both.
#[derive(Args)]
struct S2sArgs {
    #[command(flatten)]
    common: Common,
    /// The receiving server's STARTTLS client port.
    #[arg(long)]
    to_server: SocketAddr,
    /// The receiving server's domain.
    #[arg(long)]
    to_domain: String,
    /// PEM certificate(s) to trust for its TLS certificate (default: --ca).
    #[arg(long)]
    to_ca: Option<PathBuf>,
    /// Its pid, for its CPU time from /proc.
    #[arg(long)]
    to_pid: Option<u32>,
    /// A name for it in the output.
    #[arg(long, default_value = "receiver")]
    to_label: String,
    /// Address the receivers' bare JIDs (the receiving server picks the
    /// session) instead of their full JIDs.
    #[arg(long)]
    bare: bool,
}

impl S2sArgs {
    fn remote(&self) -> Result<s2s::Remote, String> {
        let c = &self.common;
        let ca = self.to_ca.as_ref().unwrap_or(&c.ca);
        let target =
            conn::Target::new(self.to_server, &self.to_domain, ca, Duration::from_secs(c.timeout), c.tls_resume)?;
        Ok(s2s::Remote { target, pid: self.to_pid, label: self.to_label.clone(), bare: self.bare })
    }
}

impl Common {
    fn opts(self) -> Result<load::Opts, String> {
        let http = match &self.http_url {
            Some(url) => Some(web::Http::parse(url, self.ws_path.clone(), self.bosh_path.clone())?),
            None if self.transport != Transport::Tcp => {
                return Err("--transport websocket|bosh needs --http-url".into());
            }
            None => None,
        };
        let target =
            conn::Target::new(self.server, &self.domain, &self.ca, Duration::from_secs(self.timeout), self.tls_resume)?;
        Ok(load::Opts {
            muc_domain: self.muc_domain.unwrap_or_else(|| format!("conference.{}", self.domain)),
            pubsub_domain: self.pubsub_domain.unwrap_or_else(|| format!("pubsub.{}", self.domain)),
            target,
            pid: self.pid,
            label: self.label,
            prefix: self.prefix,
            password: self.password,
            users: self.users,
            login_concurrency: self.login_concurrency,
            concurrency: self.concurrency,
            count: self.count,
            window: self.window,
            pairs: self.pairs,
            rooms: self.rooms,
            occupants: self.occupants,
            senders: self.senders,
            big_room: self.big_room,
            newcomers: self.newcomers,
            big_count: self.big_count,
            big_rate: self.big_rate,
            subscribers: self.subscribers,
            big_node: self.big_node,
            big_publishes: self.big_publishes,
            hold: Duration::from_secs(self.hold),
            rate: self.rate,
            http,
        })
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime =
        match tokio::runtime::Builder::new_multi_thread().worker_threads(cli.threads.max(1)).enable_all().build() {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: starting the runtime: {e}");
                return ExitCode::FAILURE;
            }
        };
    let mut remote_of_s2s = None;
    let (name, common) = match cli.scenario {
        Scenario::Plugin { requests } => {
            runtime.block_on(plugin_iq::run(requests));
            return ExitCode::SUCCESS;
        }
        Scenario::Login(c) => ("login", c),
        Scenario::Idle(c) => match c.transport {
            Transport::Tcp => ("idle", c),
            Transport::Websocket => ("idle_ws", c),
            Transport::Bosh => ("idle_bosh", c),
        },
        Scenario::Messages(c) => match c.transport {
            Transport::Tcp => ("messages", c),
            Transport::Websocket => ("messages_ws", c),
            Transport::Bosh => {
                eprintln!("error: messages over BOSH is not implemented (--transport tcp or websocket)");
                return ExitCode::from(2);
            }
        },
        Scenario::Muc(c) => ("muc", c),
        Scenario::Pubsub(c) => ("pubsub", c),
        Scenario::Iq(c) => ("iq", c),
        Scenario::Register(c) => ("register", c),
        Scenario::S2s(a) => {
            let remote = match a.remote() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            remote_of_s2s = Some(remote);
            ("s2s", a.common)
        }
    };
    let opts = match common.opts() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    // s2s reports under "SENDER->RECEIVER".
    let label = match &remote_of_s2s {
        Some(r) => format!("{}->{}", opts.label, r.label),
        None => opts.label.clone(),
    };
    // Finished reports, printed even when the scenario fails later (muc has parts).
    let mut reports = Vec::new();
    let result = runtime.block_on(async {
        let one = match name {
            "muc" => return muc::run(&opts, &mut reports).await,
            "pubsub" => return pubsub::run(&opts, &mut reports).await,
            "login" => load::login(&opts).await,
            "idle" => load::idle(&opts).await,
            "messages" => load::messages(&opts).await,
            "idle_ws" => web::idle_ws(&opts).await,
            "idle_bosh" => web::idle_bosh(&opts).await,
            "messages_ws" => web::messages_ws(&opts).await,
            "iq" => load::iq(&opts).await,
            "s2s" => match &remote_of_s2s {
                Some(remote) => s2s::run(&opts, remote).await,
                None => Err("s2s needs --to-server".into()),
            },
            _ => load::register(&opts).await,
        };
        reports.push(one?);
        Ok(())
    });
    for report in &reports {
        report.print(&label);
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {name} against {label}: {e}");
            ExitCode::FAILURE
        }
    }
}
