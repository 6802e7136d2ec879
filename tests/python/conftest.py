"""Fixtures for the slixmpp tests: the real waxwing binary in a temporary
directory on ephemeral ports, like the Rust harness (tests/src/server.rs).

The binary is $WAXWING_BIN, else <repo>/target/debug/waxwing.
"""

import asyncio
import contextlib
import ctypes
import json
import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import time

import pytest
import slixmpp

REPO = pathlib.Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0
EXIT_TIMEOUT = 30.0


def waxwing_bin() -> pathlib.Path:
    path = pathlib.Path(os.environ.get("WAXWING_BIN") or REPO / "target" / "debug" / "waxwing")
    if not path.is_file():
        pytest.fail(f"{path} does not exist: build it first: cargo build --workspace --bins or ./dev test")
    return path


def _die_with_parent():
    """In the child: be killed when the test process dies, however it dies."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Server:
    """One waxwing process. `extra_toml` may add any section but [server] and
    [listen]; `listen_toml` adds lines to [listen] (e.g. `s2s = ["127.0.0.33:5269"]`)."""

    def __init__(self, extra_toml: str = "", listen_toml: str = ""):
        for own in ("[server]", "[listen]"):
            assert own not in extra_toml.splitlines(), f"the fixture writes {own} itself"
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="waxwing-py-"))
        self.data_dir = self.dir / "data"
        self.data_dir.mkdir()
        self.config = self.dir / "waxwing.toml"
        self.config.write_text(
            "[server]\n"
            f"data_dir = {json.dumps(str(self.data_dir))}\n"
            # Compiled plugins are shared by every test server: compiling the
            # Python plugin costs tens of seconds, loading it back milliseconds.
            f"plugin_cache_dir = {json.dumps(str(waxwing_bin().parent.parent / 'plugin-cache'))}\n"
            'log_level = "debug"\n\n'
            "[listen]\n"
            'c2s = ["127.0.0.1:0"]\n'
            'c2s_direct_tls = ["127.0.0.1:0"]\n'
            f"{listen_toml}\n"
            + "".join(
                f'{key} = ["127.0.0.1:0"]\n'
                for key in ("http", "https", "metrics")
                if not any(line.split("=")[0].strip() == key for line in listen_toml.splitlines())
            )
            + "\n"
            f"{extra_toml}\n"
        )
        self.log = self.dir / "server.log"
        self.proc: subprocess.Popen | None = None
        self.c2s: tuple[str, int] | None = None
        self.direct_tls: tuple[str, int] | None = None
        # The first component (XEP-0114) port, when listen_toml asks for one.
        self.component: tuple[str, int] | None = None
        # The first plain HTTP and HTTPS ports (WebSocket, host-meta), when listening.
        self.http: tuple[str, int] | None = None
        self.https: tuple[str, int] | None = None

    @property
    def cert_path(self) -> str:
        return str(self.data_dir / "tls" / "localhost.crt")

    def start(self, timeout: float = START_TIMEOUT) -> "Server":
        """Starts the server and waits `timeout` s for it to listen (a large
        plugin compiles first: give it more)."""
        listening = self.data_dir / "listening.json"
        with contextlib.suppress(FileNotFoundError):
            listening.unlink()
        env = {k: v for k, v in os.environ.items() if k != "WAXWING_LOG"}
        env["NO_COLOR"] = "1"
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [str(waxwing_bin()), "--config", str(self.config), "serve"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + timeout
        while True:
            info = self._read_listening(listening)
            if info is not None:
                host, port = info["c2s"][0].rsplit(":", 1)
                self.c2s = (host, int(port))
                host, port = info["c2s_direct_tls"][0].rsplit(":", 1)
                self.direct_tls = (host, int(port))
                for key in ("component", "http", "https"):
                    if info.get(key):
                        host, port = info[key][0].rsplit(":", 1)
                        setattr(self, key, (host, int(port)))
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode} before listening\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"no listening.json within {timeout}s\n{self.log_tail()}")
            time.sleep(0.02)

    @staticmethod
    def _read_listening(path: pathlib.Path):
        try:
            info = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            return None
        if info.get("c2s") and info.get("c2s_direct_tls"):
            return info
        return None

    def cli(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(waxwing_bin()), "--config", str(self.config), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=EXIT_TIMEOUT,
        )

    def check_config(self, timeout: float = EXIT_TIMEOUT) -> subprocess.CompletedProcess:
        """`waxwing check-config` on this server's config file (it loads the
        plugins: a large one compiles first)."""
        return subprocess.run(
            [str(waxwing_bin()), "check-config", str(self.config)],
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def add_users(self, users: list[tuple[str, str]]) -> None:
        text = "".join(f"{jid} {pw}\n" for jid, pw in users)
        out = self.cli("user", "add", "--file", "-", input=text)
        assert out.returncode == 0, f"user add failed:\n{out.stdout}\n{out.stderr}\n{self.log_tail()}"

    def terminate(self) -> int:
        """SIGTERM, then wait for the exit; returns the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"the server did not exit after SIGTERM\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not os.environ.get("WAXWING_TEST_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "--- server log (tail) ---\n" + "\n".join(text.splitlines()[-lines:]) + "\n--- end of log ---"


def not_available(what: str, message: str, required_env: str) -> None:
    """For a test that needs a plugin or toolchain this machine lacks: fails
    when `required_env` (./dev test sets it) or CI says it must run, else
    skips loudly."""
    if os.environ.get(required_env) or os.environ.get("CI"):
        pytest.fail(f"{message} ({required_env} or CI is set)")
    print(f"\n!!! SKIPPING {what}: {message}\n")
    pytest.skip(f"!!! NOT TESTED: {message}")


def with_plugin(name: str, wasm: pathlib.Path, table: str) -> str:
    """A `localhost` vhost with the built-in disco and ping, and the plugin
    `name` loaded from `wasm` with `table` (TOML) as its config."""
    return f"""
[[vhost]]
domain = "localhost"

[[vhost.plugin]]
name = "disco"
[[vhost.plugin]]
name = "ping"

[[vhost.plugin]]
name = "{name}"
source = {json.dumps(str(wasm))}
[vhost.plugin.config]
{table}"""


def require_wasm(wasm: pathlib.Path, what: str, build_hint: str, required_env: str) -> None:
    """[`not_available`] unless the plugin component `wasm` was built."""
    if not wasm.is_file():
        not_available(what, f"{wasm} is missing: {build_hint}", required_env)


PASSWORD = "slix-pw-1"
USERS = ["romeo", "juliet", "nurse", "tybalt", "mercutio", "benvolio"]


@contextlib.contextmanager
def running(extra_toml: str = "", users=(), timeout: float = START_TIMEOUT, *, listen_toml: str = "", domain="localhost"):
    """A started server on `extra_toml` with the accounts `users` (names on
    `domain`, all with PASSWORD), stopped on the way out however it ends."""
    s = Server(extra_toml, listen_toml)
    try:
        s.start(timeout)
        if users:
            s.add_users([(f"{u}@{domain}", PASSWORD) for u in users])
        yield s
    finally:
        s.stop()


def check_config(extra_toml: str) -> subprocess.CompletedProcess:
    """`waxwing check-config` on a fresh config with `extra_toml`."""
    s = Server(extra_toml)
    try:
        return s.check_config()
    finally:
        s.stop()


@pytest.fixture(scope="module")
def server():
    with running(users=USERS) as s:
        yield s


@pytest.fixture
def fresh_server():
    with running() as s:
        yield s


# ------------------------------------------------------------ the client

# How long a client waits for any one thing.
TIMEOUT = 10.0


class Client(slixmpp.ClientXMPP):
    """A slixmpp client that connects where the fixture says and trusts the
    server's generated certificate, and records what happens to it."""

    def __init__(self, server, jid, password, *, sasl_mech=None, direct_tls=False, plugins=()):
        super().__init__(jid, password, sasl_mech=sasl_mech)
        self.wx = server
        self.direct_tls = direct_tls
        # Only the port we mean: no direct-TLS attempt on the STARTTLS port or
        # the reverse, never plaintext.
        self.enable_direct_tls = direct_tls
        self.enable_starttls = not direct_tls
        self.enable_plaintext = False
        self.ca_certs = server.cert_path
        for p in plugins:
            self.register_plugin(p)
        loop = asyncio.get_running_loop()
        self.started = loop.create_future()
        self.auth_failed = loop.create_future()
        self.gone = loop.create_future()
        self.stream_errors = []
        self.messages: asyncio.Queue = asyncio.Queue()
        self.presences: asyncio.Queue = asyncio.Queue()
        self.mechanism = None
        self.add_event_handler("session_start", lambda _e: self._settle(self.started, True))
        self.add_event_handler("auth_success", self._on_auth)
        self.add_event_handler("failed_auth", lambda s: self._settle(self.auth_failed, s["condition"]))
        self.add_event_handler("disconnected", lambda r: self._settle(self.gone, r))
        self.add_event_handler("stream_error", lambda e: self.stream_errors.append(e["condition"]))
        self.add_event_handler("message", self._on_message)
        self.add_event_handler("presence", self.presences.put_nowait)

    @staticmethod
    def _settle(fut, value):
        if not fut.done():
            fut.set_result(value)

    def _on_auth(self, _event):
        self.mechanism = self.plugin["feature_mechanisms"].mech.name

    def _on_message(self, msg):
        self.messages.put_nowait(msg)

    def start(self):
        addr = self.wx.direct_tls if self.direct_tls else self.wx.c2s
        self.connect(addr[0], addr[1])

    async def online(self):
        """Connects and waits for the session; fails on an auth failure or disconnect."""
        self.start()
        done, _ = await asyncio.wait(
            [self.started, self.auth_failed, self.gone], timeout=TIMEOUT, return_when=asyncio.FIRST_COMPLETED
        )
        assert self.started in done, (
            f"{self.boundjid} did not get a session: "
            f"auth_failed={self.auth_failed.result() if self.auth_failed.done() else None} "
            f"gone={self.gone.result() if self.gone.done() else None}\n{self.wx.log_tail()}"
        )
        return self

    async def leave(self):
        if self.gone.done():
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.disconnect(wait=1.0), TIMEOUT)
        if not self.gone.done():
            self.abort()

    async def next_message(self, pred=lambda m: True):
        while True:
            msg = await asyncio.wait_for(self.messages.get(), TIMEOUT)
            if pred(msg):
                return msg

    async def available(self, priority=0):
        """Sends presence and waits for the server to reflect it: it is recorded."""
        me = self.boundjid.full
        self.send_presence(ppriority=priority)
        while True:
            pres = await asyncio.wait_for(self.presences.get(), TIMEOUT)
            if pres["from"].full == me:
                return


@contextlib.asynccontextmanager
async def online(server, user, *, client=Client, password=PASSWORD, **kwargs):
    """A `client` logged in as `user@localhost` (or a full JID), always disconnected afterwards."""
    jid = user if "@" in user else f"{user}@localhost"
    c = client(server, jid, password, **kwargs)
    try:
        await c.online()
        yield c
    finally:
        await c.leave()


# ------------------------------------------------------------ the IM plugins

# THE switch: False while the IM plugins are not in the default config (the
# fixture then lists them from their built .wasm); True once they are, and
# `im_server` runs on the default config like `server`. WAXWING_IM_DEFAULT=1
# (or 0) overrides it for one run.
IM_PLUGINS_ARE_DEFAULT = True

# Each IM plugin and its grants, as an operator would configure them.
IM_PLUGINS = {
    "roster": ["kv", "mem", "route", "sessions", "timers"],
    "offline": ["kv", "mem", "route", "sessions"],
    "carbons": ["mem", "route", "sessions"],
    "blocking": ["kv", "mem", "route", "sessions"],
    "register": ["kv", "mem", "route", "accounts", "timers"],
    "vcard": ["kv", "mem", "route", "sessions"],
    "private": ["kv"],
    "caps": ["kv", "mem", "route", "sessions"],
}
# Plugin config tables, where one is given.
IM_PLUGIN_CONFIG = {"register": {"allow_registration": True}}
BUILTIN_PLUGINS = ["disco", "ping", "time", "version"]
PLUGIN_WASM_DIR = REPO / "target" / "plugins" / "wasm32-wasip2" / "release"


def im_plugins_are_default() -> bool:
    env = os.environ.get("WAXWING_IM_DEFAULT")
    return IM_PLUGINS_ARE_DEFAULT if env is None else env == "1"


def plugin_wasm(name: str) -> pathlib.Path:
    path = PLUGIN_WASM_DIR / f"{name}.wasm"
    if not path.is_file():
        pytest.fail(
            f"{path} is missing: build it with cargo build --manifest-path plugins/Cargo.toml -p {name} "
            "--target wasm32-wasip2 --release --target-dir target/plugins"
        )
    return path


def plugin_is_skeleton(name: str) -> bool:
    """Whether plugins/<name> is still the placeholder that serves nothing."""
    src = REPO / "plugins" / name / "src" / "lib.rs"
    try:
        return "struct Skeleton" in src.read_text()
    except FileNotFoundError:
        return True


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return json.dumps(v)


def im_config(plugin_config: dict | None = None) -> str:
    """The extra TOML for a server with the IM plugins: nothing once they are
    the default, else the built-in plugins plus each IM plugin's .wasm.
    `plugin_config` ({plugin: {key: value}}) replaces plugins' config tables,
    which needs the explicit list whatever the default."""
    if im_plugins_are_default() and not plugin_config:
        return ""
    configs = {**IM_PLUGIN_CONFIG, **(plugin_config or {})}
    out = ['[[vhost]]\ndomain = "localhost"\n']
    for name in BUILTIN_PLUGINS:
        out.append(f'[[vhost.plugin]]\nname = "{name}"\nsource = "builtin"\n')
    for name, grants in IM_PLUGINS.items():
        text = (
            f'[[vhost.plugin]]\nname = "{name}"\nsource = {json.dumps(str(plugin_wasm(name)))}\n'
            f"grants = {json.dumps(grants)}\n"
        )
        cfg = configs.get(name)
        if cfg:
            text += "[vhost.plugin.config]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in cfg.items())
        out.append(text)
    return "\n".join(out)


IM_USERS = [
    "ann", "ben",  # roster and presence
    "olive", "oscar",  # offline messages
    "bea", "bill", "carl",  # blocking
    "vera", "vic",  # vCards
    "cara", "cody",  # carbons
]


@pytest.fixture(scope="module")
def im_server():
    """A server with the IM plugins and the IM_USERS accounts."""
    with running(im_config(), IM_USERS) as s:
        yield s


@pytest.fixture
def fresh_im_server():
    """A server with the IM plugins and no accounts."""
    with running(im_config()) as s:
        yield s


def pytest_configure(config):
    config.addinivalue_line("markers", "needs_plugins(*names): the IM plugins a flow exercises")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Show the server log under a failed test, and which plugins it waits on."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for name, s in (item.funcargs.items() if hasattr(item, "funcargs") else ()):
            if isinstance(s, Server):
                report.sections.append((f"waxwing log ({name})", s.log_tail(80)))
        for mark in item.iter_markers("needs_plugins"):
            waiting = [n for n in mark.args if plugin_is_skeleton(n)]
            if waiting:
                report.sections.append(("plugins still skeletons", ", ".join(waiting)))
