//! The server under test: the real `waxwing` binary in a temporary data
//! directory, on ephemeral ports, reached through `listening.json`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long the server may take from spawn to `listening.json`.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a server may take to exit after SIGTERM, and a CLI command to finish.
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

/// Sections the harness writes itself; extra TOML must not repeat them.
const OWN_SECTIONS: &[&str] = &["[server]", "[listen]"];

/// One server under test. Dropping it kills the process (if still running)
/// and removes its directory; when a test panics, the log tail is printed.
pub struct Server {
    dir: PathBuf,
    config: PathBuf,
    data_dir: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    addrs: Option<Listening>,
    /// Extra environment for the server process.
    env: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
struct Listening {
    c2s: SocketAddr,
    direct_tls: SocketAddr,
    s2s: Option<SocketAddr>,
    component: Option<SocketAddr>,
    http: Option<SocketAddr>,
    https: Option<SocketAddr>,
    metrics: Option<SocketAddr>,
    admin_socket: PathBuf,
    pid: u32,
}

impl Server {
    /// Writes a config (the harness's `[server]` and `[listen]` sections plus
    /// `extra_toml`) and starts the server on it.
    pub fn start(extra_toml: &str) -> Server {
        let mut s = Server::configure(extra_toml);
        s.launch();
        s
    }

    /// Like [`Server::start`], then creates the given accounts.
    pub fn start_with_users(extra_toml: &str, users: &[(&str, &str)]) -> Server {
        let s = Server::start(extra_toml);
        if !users.is_empty() {
            s.add_users(users);
        }
        s
    }

    /// Like [`Server::start`], then creates `NAME@localhost` for each name, all
    /// with `password`.
    pub fn start_with_localhost_users(extra_toml: &str, names: &[&str], password: &str) -> Server {
        let jids: Vec<String> = names.iter().map(|n| format!("{n}@localhost")).collect();
        let users: Vec<(&str, &str)> = jids.iter().map(|j| (j.as_str(), password)).collect();
        Server::start_with_users(extra_toml, &users)
    }

    /// A fresh directory and config file, without starting anything: for the
    /// CLI with the server stopped.
    pub fn configure(extra_toml: &str) -> Server {
        Server::configure_listening("", extra_toml)
    }

    /// Like [`Server::configure`], with `listen_toml` (lines such as
    /// `s2s = ["127.0.0.1:0"]`) added to the harness's `[listen]` section.
    pub fn configure_listening(listen_toml: &str, extra_toml: &str) -> Server {
        Server::configure_full("", listen_toml, extra_toml)
    }

    /// Like [`Server::start`], with `server_toml` (lines such as
    /// `operators = ["root@a.test"]`) added to the harness's `[server]` section.
    pub fn start_with_server_toml(server_toml: &str, extra_toml: &str) -> Server {
        let mut s = Server::configure_full(server_toml, "", extra_toml);
        s.launch();
        s
    }

    /// A fresh directory and config: the harness's `[server]` section with
    /// `server_toml` added, its `[listen]` with `listen_toml`, then `extra_toml`.
    pub fn configure_full(server_toml: &str, listen_toml: &str, extra_toml: &str) -> Server {
        for own in OWN_SECTIONS {
            assert!(
                !extra_toml.lines().any(|l| l.trim() == *own),
                "the harness writes {own} itself; pass other sections only"
            );
        }
        // Every test server gets its HTTP ports on ephemeral ports too,
        // unless the test names them.
        let mut listen_toml = listen_toml.to_string();
        for key in ["http", "https", "metrics"] {
            let named = listen_toml.lines().any(|l| l.split('=').next().is_some_and(|k| k.trim() == key));
            if !named {
                listen_toml.push_str(&format!("\n{key} = [\"127.0.0.1:0\"]"));
            }
        }
        let dir = unique_temp_dir();
        let data_dir = dir.join("data");
        std::fs::create_dir_all(&data_dir).expect("creating the data dir");
        let config = dir.join("waxwing.toml");
        let text = format!(
            "[server]\ndata_dir = {data}\nlog_level = \"debug\"\nplugin_cache_dir = {cache}\n{server_toml}\n\n\
             [listen]\nc2s = [\"127.0.0.1:0\"]\nc2s_direct_tls = [\"127.0.0.1:0\"]\n{listen_toml}\n\n{extra_toml}\n",
            data = toml_string(&data_dir),
            // Shared by every test server: each compiles the plugins once per build.
            cache = toml_string(
                &binary().ancestors().nth(2).map(|t| t.join("plugin-cache")).unwrap_or_else(|| dir.join("cache"))
            ),
        );
        std::fs::write(&config, text).expect("writing the config file");
        let log = dir.join("server.log");
        Server { dir, config, data_dir, log, child: None, addrs: None, env: Vec::new() }
    }

    /// Sets a variable in the server's environment from the next launch on.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.to_string()));
    }

    /// Starts (or restarts) the server process and waits for `listening.json`.
    pub fn launch(&mut self) {
        assert!(self.child.is_none(), "the server is already running");
        let listening = self.data_dir.join("listening.json");
        let _ = std::fs::remove_file(&listening);
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).expect("opening the log file");
        let mut cmd = Command::new(binary());
        cmd.arg("--config")
            .arg(&self.config)
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("cloning the log file handle"))
            .stderr(log)
            .env_remove("WAXWING_LOG")
            .env("NO_COLOR", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        let child = spawn_tied_to_this_process(cmd).unwrap_or_else(|e| panic!("spawning {}: {e}", binary().display()));
        self.child = Some(child);
        self.await_listening(|_| true, "before listening");
    }

    /// After the server restarted itself in the same process (an admin's
    /// restart re-executes it): waits for the `listening.json` it writes
    /// anew, newer than `since`, and takes the ports from it.
    pub fn await_relaunch(&mut self, since: std::time::SystemTime) {
        let fresh = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).is_ok_and(|t| t > since);
        self.await_listening(fresh, "instead of restarting");
    }

    /// Waits for a `listening.json` that `ready` accepts and takes the
    /// ports from it; fails the test (`exited_what` says when) if the
    /// process exits first or none comes within [`START_TIMEOUT`].
    fn await_listening(&mut self, ready: impl Fn(&Path) -> bool, exited_what: &str) {
        let listening = self.data_dir.join("listening.json");
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if ready(&listening)
                && let Some(l) = read_listening(&listening)
            {
                self.addrs = Some(l);
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                self.child = None;
                panic!("the server exited with {status} {exited_what}\n{}", self.log_tail(60));
            }
            if Instant::now() > deadline {
                panic!("the server wrote no {} within {START_TIMEOUT:?}\n{}", listening.display(), self.log_tail(60));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn listening(&self) -> &Listening {
        self.addrs.as_ref().expect("the server has not been started")
    }

    /// The STARTTLS client port.
    pub fn c2s_addr(&self) -> SocketAddr {
        self.listening().c2s
    }

    /// The first server-to-server (STARTTLS) port, if one was configured.
    pub fn s2s_addr(&self) -> SocketAddr {
        self.listening().s2s.expect("no s2s listener: configure one with configure_listening")
    }

    /// The first external component (XEP-0114) port, if one was configured.
    pub fn component_addr(&self) -> SocketAddr {
        self.listening().component.expect("no component listener: configure one with configure_listening")
    }

    /// The first plain HTTP port (WebSocket, host-meta).
    pub fn http_addr(&self) -> SocketAddr {
        self.listening().http.expect("no HTTP listener")
    }

    /// The first `/metrics` port.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.listening().metrics.expect("no metrics listener")
    }

    /// The first HTTPS port.
    pub fn https_addr(&self) -> SocketAddr {
        self.listening().https.expect("no HTTPS listener")
    }

    /// The generated development certificate of `domain`.
    pub fn cert_of(&self, domain: &str) -> PathBuf {
        self.data_dir.join("tls").join(format!("{domain}.crt"))
    }

    /// The direct-TLS (XEP-0368) client port.
    pub fn direct_tls_addr(&self) -> SocketAddr {
        self.listening().direct_tls
    }

    pub fn admin_socket(&self) -> PathBuf {
        self.listening().admin_socket.clone()
    }

    /// The pid the server reported in `listening.json`.
    pub fn pid(&self) -> u32 {
        self.listening().pid
    }

    pub fn config_path(&self) -> &Path {
        &self.config
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// A scratch directory of this server's, removed with it.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The generated development certificate of `localhost`.
    pub fn cert_path(&self) -> PathBuf {
        self.data_dir.join("tls").join("localhost.crt")
    }

    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// `waxwing --config FILE ARGS...`, with standard input closed.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_with_stdin(args, None)
    }

    /// `waxwing --config FILE ARGS...`, feeding `stdin`.
    pub fn cli_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new(binary());
        cmd.arg("--config").arg(&self.config).args(args);
        run_command(cmd, stdin)
    }

    /// Creates one account through `waxwing user add --file -`.
    pub fn add_user(&self, jid: &str, password: &str) {
        self.add_users(&[(jid, password)]);
    }

    /// Creates accounts in bulk through `waxwing user add --file -`: through
    /// the admin socket while the server runs, else in the data directory.
    pub fn add_users(&self, users: &[(&str, &str)]) {
        let input: String = users.iter().map(|(j, p)| format!("{j} {p}\n")).collect();
        let out = self.cli_with_stdin(&["user", "add", "--file", "-"], Some(&input));
        assert!(
            out.status.success(),
            "user add --file - failed ({}):\nstdout: {}\nstderr: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log_tail(30)
        );
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal(libc::SIGTERM);
        self.wait_exit(EXIT_TIMEOUT)
    }

    /// Sends a signal to the running server.
    pub fn signal(&self, sig: libc::c_int) {
        let child = self.child.as_ref().expect("the server is not running");
        let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
        // SAFETY: kill(2) with a pid we spawned and have not yet reaped.
        let rc = unsafe { libc::kill(pid, sig) };
        assert_eq!(rc, 0, "kill({pid}, {sig}): {}", std::io::Error::last_os_error());
    }

    /// Waits for the process to exit on its own; panics (after killing it) on timeout.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("the server is not running");
        let deadline = Instant::now() + timeout;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    self.addrs = None;
                    return status;
                }
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("the server did not exit within {timeout:?}\n{}", self.log_tail(60));
                }
                Err(e) => panic!("waiting for the server: {e}"),
            }
        }
    }

    /// The last `lines` lines of the server's log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        let start = all.len().saturating_sub(lines);
        format!(
            "--- server log {} (last {} lines) ---\n{}\n--- end of log ---",
            self.log.display(),
            lines,
            all[start..].join("\n")
        )
    }

    /// The whole server log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// No plugin call failed: every bad input was answered, not trapped on.
    pub fn assert_no_plugin_failures(&self) {
        let log = self.log_text();
        assert!(
            !log.contains("plugin call failed") && !log.contains("plugin reported an error"),
            "{}",
            self.log_tail(40)
        );
    }

    /// A guard that prints this server's log tail if the test panics while it lives:
    /// for shared servers, which are never dropped.
    pub fn log_on_panic(&self) -> LogOnPanic<'_> {
        LogOnPanic(self)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.log_tail(80));
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::env::var_os("WAXWING_TEST_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("keeping {}", self.dir.display());
        }
    }
}

pub struct LogOnPanic<'a>(&'a Server);

impl Drop for LogOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.0.log_tail(80));
        }
    }
}

/// A server shared by the tests of one file, started on first use. Shared
/// servers are never dropped: they die with the test process (see
/// [`spawn_tied_to_this_process`]) and an exit hook removes their directories.
pub fn shared(slot: &'static OnceLock<Server>, extra_toml: &str, users: &[(&str, &str)]) -> &'static Server {
    shared_listening(slot, "", extra_toml, users)
}

/// Like [`shared`], with `listen_toml` added to the `[listen]` section (see
/// [`Server::configure_listening`]).
pub fn shared_listening(
    slot: &'static OnceLock<Server>,
    listen_toml: &str,
    extra_toml: &str,
    users: &[(&str, &str)],
) -> &'static Server {
    slot.get_or_init(|| {
        let mut s = Server::configure_listening(listen_toml, extra_toml);
        s.launch();
        if !users.is_empty() {
            s.add_users(users);
        }
        register_exit_cleanup(&s);
        s
    })
}

/// Shared servers' (pid, directory), cleaned up when the process exits.
static AT_EXIT: Mutex<Vec<(u32, PathBuf)>> = Mutex::new(Vec::new());

fn register_exit_cleanup(s: &Server) {
    static HOOK: OnceLock<()> = OnceLock::new();
    HOOK.get_or_init(|| {
        // SAFETY: registers a plain extern "C" function with no captured state.
        unsafe {
            libc::atexit(cleanup_at_exit);
        }
    });
    let pid = s.child.as_ref().map(|c| c.id()).unwrap_or(0);
    AT_EXIT.lock().unwrap_or_else(|e| e.into_inner()).push((pid, s.dir.clone()));
}

extern "C" fn cleanup_at_exit() {
    let entries = std::mem::take(&mut *AT_EXIT.lock().unwrap_or_else(|e| e.into_inner()));
    for (pid, dir) in entries {
        if let Ok(pid) = libc::pid_t::try_from(pid)
            && pid > 0
        {
            // SAFETY: signalling and reaping our own child processes.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
        }
        if std::env::var_os("WAXWING_TEST_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A `[[vhost]]` for `localhost` loading these embedded plugins, in order,
/// each with its default grants and, where the second string is not empty,
/// that TOML as its `[vhost.plugin.config]` table.
pub fn vhost_with_plugins(plugins: &[(&str, &str)]) -> String {
    let mut toml = String::from("[[vhost]]\ndomain = \"localhost\"\n");
    for (name, config) in plugins {
        toml.push_str(&format!("[[vhost.plugin]]\nname = \"{name}\"\nsource = \"builtin\"\n"));
        if !config.is_empty() {
            toml.push_str(&format!("[vhost.plugin.config]\n{config}\n"));
        }
    }
    toml
}

/// A plugin component `kernel/build.rs` built into `<target>/plugins`, for
/// the test-only plugins that are not embedded.
pub fn built_plugin(name: &str) -> PathBuf {
    let target = binary().ancestors().nth(2).map(Path::to_path_buf).expect("the binary lives in <target>/debug");
    let path = target.join("plugins/wasm32-wasip2/release").join(format!("{name}.wasm"));
    assert!(path.is_file(), "{} is missing: kernel/build.rs builds the plugins", path.display());
    path
}

/// The server binary: `$WAXWING_BIN`, else `<target>/debug/waxwing` next to
/// the test executable (`<target>/debug/deps/<test>`).
pub fn binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("WAXWING_BIN") {
            let p = PathBuf::from(p);
            assert!(
                p.is_file(),
                "WAXWING_BIN={} does not exist: build it first: cargo build --workspace --bins or ./dev test",
                p.display()
            );
            return p;
        }
        let exe = std::env::current_exe().expect("locating the test executable");
        let candidates: Vec<PathBuf> = exe
            .ancestors()
            .skip(1)
            .take(3)
            .map(|dir| dir.join(format!("waxwing{}", std::env::consts::EXE_SUFFIX)))
            .collect();
        candidates.iter().find(|p| p.is_file()).cloned().unwrap_or_else(|| {
            panic!(
                "the waxwing binary is missing (looked at {candidates:?}): build it first: \
                 cargo build --workspace --bins or ./dev test (or set WAXWING_BIN)"
            )
        })
    })
    .clone()
}

fn unique_temp_dir() -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("waxwing-e2e-{}-{n}-{nanos:08x}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}

/// A TOML basic string for a path.
fn toml_string(p: &Path) -> String {
    serde_json::to_string(&p.to_string_lossy()).expect("a string serialises")
}

fn read_listening(path: &Path) -> Option<Listening> {
    let text = std::fs::read_to_string(path).ok()?;
    // The file may be caught half written; a parse failure means "not yet".
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let first = |key: &str| -> Option<SocketAddr> { v[key].as_array()?.first()?.as_str()?.parse().ok() };
    Some(Listening {
        c2s: first("c2s")?,
        direct_tls: first("c2s_direct_tls")?,
        s2s: first("s2s"),
        component: first("component"),
        http: first("http"),
        https: first("https"),
        metrics: first("metrics"),
        admin_socket: PathBuf::from(v["admin_socket"].as_str()?),
        pid: u32::try_from(v["pid"].as_u64()?).ok()?,
    })
}

type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

/// Spawns `cmd` so that it is killed when this test process dies, however it
/// dies. PR_SET_PDEATHSIG fires when the *thread* that spawned the child
/// exits, and test threads come and go, so every server is spawned from one
/// thread that lives as long as the process.
fn spawn_tied_to_this_process(cmd: Command) -> std::io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("waxwing-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    use std::os::unix::process::CommandExt as _;
                    // SAFETY: only async-signal-safe calls (prctl, getppid) between fork and exec.
                    unsafe {
                        cmd.pre_exec(|| {
                            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                                return Err(std::io::Error::last_os_error());
                            }
                            // The parent may have died before prctl took effect.
                            if libc::getppid() == 1 {
                                return Err(std::io::Error::other("parent already gone"));
                            }
                            Ok(())
                        });
                    }
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("starting the spawner thread");
        Mutex::new(tx)
    });
    let (tx, rx) = mpsc::channel();
    spawner.lock().unwrap_or_else(|e| e.into_inner()).send((cmd, tx)).expect("the spawner thread is alive");
    rx.recv_timeout(Duration::from_secs(30)).map_err(|e| std::io::Error::other(format!("spawner: {e}")))?
}

/// Runs a command to completion with a time limit, feeding `stdin`.
pub fn run_command(mut cmd: Command, stdin: Option<&str>) -> Output {
    use std::io::{Read as _, Write as _};
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("WAXWING_LOG");
    let shown = format!("{cmd:?}");
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawning {shown}: {e}"));
    let feeder = stdin.map(|text| {
        let mut pipe = child.stdin.take().expect("piped stdin");
        let text = text.to_owned();
        std::thread::spawn(move || {
            let _ = pipe.write_all(text.as_bytes());
        })
    });
    let mut out_pipe = child.stdout.take().expect("piped stdout");
    let mut err_pipe = child.stderr.take().expect("piped stderr");
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out_pipe.read_to_end(&mut v);
        v
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err_pipe.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + EXIT_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{shown} did not finish within {EXIT_TIMEOUT:?}");
            }
            Err(e) => panic!("waiting for {shown}: {e}"),
        }
    };
    if let Some(f) = feeder {
        let _ = f.join();
    }
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    Output { status, stdout, stderr }
}

/// `waxwing ARGS...` without a config file.
pub fn waxwing(args: &[&str]) -> Output {
    let mut cmd = Command::new(binary());
    cmd.args(args);
    run_command(cmd, None)
}
