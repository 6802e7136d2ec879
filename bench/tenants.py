#!/usr/bin/env python3
"""Many tenants on one server (issue 15): start time, memory per tenant, and
the time to add and to remove one tenant while a load runs, for Waxwing,
Prosody and ejabberd from Debian's packages.

    .venv/bin/python bench/tenants.py [--tenants 1000] [--sizes 1,100] [--accounts 10]
                                      [--servers waxwing,prosody,ejabberd] [--keep]

For each server and each size N (the --sizes, then --tenants): a config with
N tenants `t1.bench` .. `tN.bench`, each with --accounts accounts `u1` ..
(password `bench-pw`) and each server's usual IM features per tenant
(Waxwing: its 18 default plugins; Prosody and ejabberd: the modules listed in
bench/README.md, MUC and PubSub services included); the accounts made before
the measured start. Then:

- start: from spawning the server until it listens (Waxwing: listening.json
  written; the peers: their c2s port answers), and until a client has
  logged in (STARTTLS, SCRAM, bind) to u1@t1.bench;
- RSS (VmRSS of the server process) once the start settled, and after one
  login per tenant (u1@tK, each closed after bind): per tenant is the slope
  between the smallest and the largest N;
- with the largest N only, while `waxwing-bench messages` runs paced
  against t1.bench: the time to add tenant t(N+1).bench and to remove it,
  from the command until a new stream to that domain is answered with
  features (added) or with `host-unknown` (removed). Waxwing: `waxwing
  tenant add|remove` when the binary has them, else the config file edited
  and `waxwing reload`; Prosody: the config edited and `prosodyctl reload`
  (SIGHUP), which does not activate or deactivate hosts in 0.12, so then
  its shell's `host:activate` / `host:deactivate` as well; ejabberd: the
  config edited and `ejabberdctl reload_config`.

Prints one table and one JSON line per server and size. A measurement,
never asserted. Prosody and ejabberd run as tests/python/peers.py runs them
(each on a loopback address of its own; ejabberd without epmd, `ctl` for
ejabberdctl), with the no-limits settings of bench/side-by-side.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import pathlib
import re
import secrets
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests" / "python"))

import peers  # noqa: E402  (Prosody and ejabberd on loopback, as the federation tests run them)

PASSWORD = "bench-pw"
SUFFIX = "bench.test"
WAXWING_ADDR = "127.0.0.41"
PROSODY_ADDR = "127.0.0.42"
EJABBERD_ADDR = "127.0.0.43"
C2S_PORT = 5222
START_TIMEOUT = 600.0
CHANGE_TIMEOUT = 60.0
# Prosody's reload does not (de)activate hosts: how long to wait before
# concluding so.
RELOAD_ONLY_WAIT = 5.0


def log(msg: str) -> None:
    print(f"[tenants {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def domain(i: int) -> str:
    return f"t{i}.{SUFFIX}"


def rss_kib(pid: int) -> int:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_ticks(pid: int) -> int:
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def settle(pid: int, quiet: float = 0.05, window: float = 0.5, limit: float = 120.0) -> None:
    """Waits until the process uses under `quiet` of a core over `window` s."""
    hz = os.sysconf("SC_CLK_TCK")
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = cpu_ticks(pid)
        time.sleep(window)
        if (cpu_ticks(pid) - before) / hz / window < quiet:
            return


# ------------------------------------------------------------ a minimal client


class Stream:
    """Just enough XMPP client for a login: STARTTLS, SCRAM-SHA-256 or -1, bind."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer, self.buf = reader, writer, ""

    async def until(self, pattern: str, timeout: float) -> re.Match:
        rx = re.compile(pattern, re.S)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.buf)
            if m:
                self.buf = self.buf[m.end():]
                return m
            if "<stream:error" in self.buf and "</stream:error>" in self.buf:
                raise ConnectionError(f"stream error: {self.buf[self.buf.index('<stream:error'):][:300]}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"waiting for {pattern!r}; got {self.buf[-300:]!r}")
            chunk = await asyncio.wait_for(self.reader.read(65536), left)
            if not chunk:
                raise ConnectionError(f"closed while waiting for {pattern!r}; got {self.buf[-300:]!r}")
            self.buf += chunk.decode("utf-8", "replace")

    def send(self, text: str) -> None:
        self.writer.write(text.encode())

    def header(self, to: str) -> None:
        self.send(f"<?xml version='1.0'?><stream:stream to='{to}' xmlns='jabber:client' "
                  "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>")

    async def features(self, timeout: float) -> str:
        return (await self.until(r"<stream:features\s*/>|<stream:features.*?</stream:features>", timeout)).group(0)


# SCRAM's salted password per (password, salt, iterations), as clients keep it:
# the generator's PBKDF2 stays out of the figures' way.
_salted: dict[tuple[str, bytes, int, str], bytes] = {}


async def login(addr: tuple[str, int], dom: str, user: str, ctx: ssl.SSLContext, timeout: float = 30.0) -> None:
    reader, writer = await asyncio.wait_for(asyncio.open_connection(*addr), timeout)
    s = Stream(reader, writer)
    try:
        s.header(dom)
        await s.features(timeout)
        s.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        await s.until(r"<proceed[^>]*/>", timeout)
        await asyncio.wait_for(writer.start_tls(ctx, server_hostname=dom), timeout)
        s.buf = ""
        s.header(dom)
        feats = await s.features(timeout)
        algo = "sha256" if "SCRAM-SHA-256<" in feats else "sha1"
        mech = "SCRAM-SHA-256" if algo == "sha256" else "SCRAM-SHA-1"
        nonce = base64.b64encode(secrets.token_bytes(18)).decode()
        first_bare = f"n={user},r={nonce}"
        s.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='{mech}'>"
               f"{base64.b64encode(('n,,' + first_bare).encode()).decode()}</auth>")
        m = await s.until(r"<challenge[^>]*>([^<]*)</challenge>|<failure.*?</failure>", timeout)
        if m.group(1) is None:
            raise PermissionError(f"{user}@{dom}: {m.group(0)}")
        server_first = base64.b64decode(m.group(1)).decode()
        attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
        salt, iters = base64.b64decode(attrs["s"]), int(attrs["i"])
        key = (PASSWORD, salt, iters, algo)
        if key not in _salted:
            _salted[key] = hashlib.pbkdf2_hmac(algo, PASSWORD.encode(), salt, iters)
        salted = _salted[key]
        client_key = hmac.new(salted, b"Client Key", algo).digest()
        stored = hashlib.new(algo, client_key).digest()
        final_bare = f"c=biws,r={attrs['r']}"
        auth_msg = f"{first_bare},{server_first},{final_bare}".encode()
        sig = hmac.new(stored, auth_msg, algo).digest()
        proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, sig))).decode()
        s.send(f"<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
               f"{base64.b64encode(f'{final_bare},p={proof}'.encode()).decode()}</response>")
        m = await s.until(r"<success[^>]*/>|<success.*?</success>|<failure.*?</failure>", timeout)
        if m.group(0).startswith("<failure"):
            raise PermissionError(f"{user}@{dom}: {m.group(0)}")
        s.buf = ""
        s.header(dom)
        await s.features(timeout)
        s.send("<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
        await s.until(r"<jid>[^<]+</jid>", timeout)
        s.send("</stream:stream>")
        await writer.drain()
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def probe(addr: tuple[str, int], dom: str, timeout: float = 5.0) -> str:
    """'served' when a stream to `dom` gets features, 'unknown' on
    host-unknown, else what happened."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(*addr), timeout)
    except OSError as e:
        return f"connect: {e}"
    s = Stream(reader, writer)
    try:
        s.header(dom)
        await s.features(timeout)
        return "served"
    except ConnectionError as e:
        return "unknown" if "host-unknown" in str(e) else str(e)
    except (TimeoutError, asyncio.TimeoutError) as e:
        return f"timeout: {e}"
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def login_each(addr, doms: list[str], ctx, concurrency: int = 8) -> float:
    """u1 of every domain logs in once; returns the seconds it took."""
    sem = asyncio.Semaphore(concurrency)

    async def one(d: str) -> None:
        async with sem:
            await login(addr, d, "u1", ctx)

    t0 = time.monotonic()
    await asyncio.gather(*(one(d) for d in doms))
    return time.monotonic() - t0


def wait_for(addr, dom: str, want: str, timeout: float) -> float | None:
    """Seconds until probing `dom` answers `want`; None after `timeout`."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if asyncio.run(probe(addr, dom)) == want:
            return time.monotonic() - t0
        time.sleep(0.01)
    return None


def tls_context(cert: pathlib.Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(cert))
    return ctx


# ------------------------------------------------------------ servers


class Target:
    """One server under test at one size."""

    name = "?"
    addr: tuple[str, int]
    pid: int

    def __init__(self, work: pathlib.Path, n: int, accounts: int, cert):
        self.work, self.n, self.accounts, self.cert = work, n, accounts, cert
        self.tenants = [domain(i) for i in range(1, n + 1)]

    def prepare(self) -> None:
        """Config and accounts, before the measured start."""

    def spawn(self) -> None:
        raise NotImplementedError

    def listening(self) -> bool:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def methods(self) -> list[str]:
        """Ways this server adds and removes a tenant, each measured."""
        return ["reload"]

    def add(self, dom: str, method: str) -> dict:
        raise NotImplementedError

    def remove(self, dom: str, method: str) -> dict:
        raise NotImplementedError


def timed_run(argv: list[str], **kwargs) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.monotonic()
    out = subprocess.run(argv, capture_output=True, text=True, timeout=300, **kwargs)
    dt = time.monotonic() - t0
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])}...: exit {out.returncode}\n{out.stdout}\n{out.stderr}")
    return dt, out


class Waxwing(Target):
    name = "waxwing"

    def __init__(self, *args, bin_path: pathlib.Path, **kwargs):
        super().__init__(*args, **kwargs)
        self.bin = bin_path
        self.dir = self.work / f"waxwing-{self.n}"
        self.data = self.dir / "data"
        self.config = self.dir / "waxwing.toml"
        self.addr = (WAXWING_ADDR, C2S_PORT)
        self.proc: subprocess.Popen | None = None
        self.extra: list[str] = []

    def vhost(self, d: str) -> str:
        return f'[[vhost]]\ndomain = "{d}"\ncert = "{self.cert.cert}"\nkey = "{self.cert.key}"\n'

    def write_config(self) -> None:
        self.config.write_text(
            "[server]\n"
            f'data_dir = "{self.data}"\n'
            'log_level = "warn"\n'
            f'plugin_cache_dir = "{REPO / "target" / "plugin-cache"}"\n\n'
            "[listen]\n"
            f'c2s = ["{WAXWING_ADDR}:{C2S_PORT}"]\n'
            "c2s_direct_tls = []\nhttp = []\nhttps = []\nmetrics = []\n\n"
            + "\n".join(self.vhost(d) for d in self.tenants + self.extra)
        )

    def cli(self, *args: str, input: str | None = None) -> tuple[float, subprocess.CompletedProcess]:
        return timed_run([str(self.bin), "--config", str(self.config), *args], input=input)

    def prepare(self) -> None:
        # The accounts go in through a first run's admin socket (`waxwing
        # user` opens no data directory a server has not made); that run
        # also fills the shared cache of compiled plugins, so the measured
        # start loads them and compiles nothing.
        self.data.mkdir(parents=True)
        self.write_config()
        self.spawn()
        t0 = time.monotonic()
        while not self.listening():
            if time.monotonic() - t0 > START_TIMEOUT:
                raise RuntimeError(f"waxwing: not listening after {START_TIMEOUT} s")
            time.sleep(0.05)
        users = "".join(f"u{j}@{d} {PASSWORD}\n" for d in self.tenants for j in range(1, self.accounts + 1))
        dt, _ = self.cli("user", "add", "--file", "-", input=users)
        log(f"waxwing: {self.n * self.accounts} accounts (waxwing user add --file -, over the admin socket) "
            f"in {dt:.1f} s")
        self.stop()

    def spawn(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.data / "listening.json").unlink()
        out = open(self.dir / "waxwing.log", "ab")
        self.proc = subprocess.Popen([str(self.bin), "--config", str(self.config), "serve"],
                                     stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True, preexec_fn=peers._die_with_parent)
        self.pid = self.proc.pid

    def listening(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            tail = (self.dir / "waxwing.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"waxwing exited with {self.proc.returncode}\n{tail}")
        return (self.data / "listening.json").is_file()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def methods(self) -> list[str]:
        out = subprocess.run([str(self.bin), "--help"], capture_output=True, text=True)
        # `waxwing tenant` (runtime tenants, over the admin socket) where this
        # build has it; the config file and `waxwing reload` always.
        return (["tenant"] if re.search(r"^\s+tenant\b", out.stdout, re.M) else []) + ["reload"]

    def add(self, dom: str, method: str) -> dict:
        if method == "tenant":
            dt, _ = self.cli("tenant", "add", dom, "--cert", str(self.cert.cert), "--key", str(self.cert.key))
            return {"how": "waxwing tenant add", "command_s": dt}
        self.extra.append(dom)
        self.write_config()
        dt, _ = self.cli("reload")
        return {"how": "config + waxwing reload", "command_s": dt}

    def remove(self, dom: str, method: str) -> dict:
        if method == "tenant":
            dt, _ = self.cli("tenant", "remove", dom)
            return {"how": "waxwing tenant remove", "command_s": dt}
        self.extra.remove(dom)
        self.write_config()
        dt, _ = self.cli("reload")
        return {"how": "config + waxwing reload", "command_s": dt}


def prosody_data_name(d: str) -> str:
    """Prosody's datamanager encodes every non-alphanumeric byte of a host as %xx."""
    return re.sub(r"[^A-Za-z0-9]", lambda m: f"%{ord(m.group(0)):02x}", d)


def scram_sha1_file(password: str) -> str:
    salt = secrets.token_hex(16)
    salted = hashlib.pbkdf2_hmac("sha1", password.encode(), salt.encode(), 4096)
    client_key = hmac.new(salted, b"Client Key", "sha1").digest()
    stored = hashlib.sha1(client_key).hexdigest()
    server = hmac.new(salted, b"Server Key", "sha1").hexdigest()
    return (f'return {{\n\t["iteration_count"] = 4096;\n\t["salt"] = "{salt}";\n'
            f'\t["stored_key"] = "{stored}";\n\t["server_key"] = "{server}";\n}};\n')


class ProsodyTenants(peers.Prosody):
    """peers.Prosody serving many VirtualHosts, each with MUC and PubSub
    components, the modules of side-by-side plus what the default Waxwing
    plugins cover, no limits, no archive."""

    def __init__(self, tenants: list[str], *args, **kwargs):
        self.tenants = list(tenants)
        super().__init__(*args, **kwargs)

    def write_config(self) -> None:
        q = peers._lua_string
        (self.dir / "data").mkdir(exist_ok=True)
        ssl_ = f"certificate = {q(self.cert.cert)}; key = {q(self.cert.key)};"
        hosts = "".join(
            f"VirtualHost {q(d)}\n"
            f"Component {q('conference.' + d)} \"muc\"\n    muc_room_locking = false\n"
            f"Component {q('pubsub.' + d)} \"pubsub\"\n"
            for d in self.tenants
        )
        self.config.write_text(f"""-- Written by bench/tenants.py: {len(self.tenants)} tenants, no limits, no archive.
run_as_root = {"true" if os.geteuid() == 0 else "false"}
pidfile = {q(self.dir / "prosody.pid")}
data_path = {q(self.dir / "data")}
log = {{ warn = {q(self.log)} }}
interfaces = {{ {q(self.address)} }}
c2s_ports = {{ {self.c2s_port} }}
c2s_direct_tls_ports = {{ }}
s2s_ports = {{ {peers.S2S_PORT} }}
s2s_direct_tls_ports = {{ }}
component_ports = {{ }}
http_ports = {{ }}
https_ports = {{ }}
modules_enabled = {{
    "roster"; "saslauth"; "tls"; "disco"; "ping"; "time"; "version"; "private"; "vcard_legacy";
    "carbons"; "pep"; "blocklist"; "register"; "offline"; "adhoc"; "admin_adhoc"; "admin_shell";
}}
modules_disabled = {{ "s2s" }}
authentication = "internal_hashed"
storage = "internal"
allow_registration = false
c2s_require_encryption = true
ssl = {{ {ssl_} }}
unbound = {{
    hoststxt = {q(self.hosts_file)};
    resolvconf = false;
    options = {{ ["local-zone"] = ". static" }};
}}

{hosts}""")

    def start(self, timeout: float = START_TIMEOUT) -> "ProsodyTenants":
        # No s2s listener to wait for: it is disabled.
        self.s2s_port = self.c2s_port
        return super().start(timeout)


class Prosody(Target):
    name = "prosody"

    def __init__(self, *args, hosts: pathlib.Path, **kwargs):
        super().__init__(*args, **kwargs)
        self.peer = ProsodyTenants(self.tenants, SUFFIX, PROSODY_ADDR, hosts, self.work / f"prosody-{self.n}",
                                   cert=self.cert, muc=False, debug=False)
        self.addr = (PROSODY_ADDR, C2S_PORT)

    def prepare(self) -> None:
        self.peer.write_config()
        t0 = time.monotonic()
        for d in self.tenants:
            write_prosody_accounts(self.peer.dir / "data", d, self.accounts)
        log(f"prosody: {self.n * self.accounts} accounts (written to its data dir) in {time.monotonic() - t0:.1f} s")

    def spawn(self) -> None:
        peers._check_free(PROSODY_ADDR, C2S_PORT)
        argv, env = self.peer.command()
        out = open(self.peer.stdout_log, "ab")
        self.peer.proc = subprocess.Popen(argv, cwd=self.peer.dir, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                          stderr=subprocess.STDOUT, start_new_session=True,
                                          preexec_fn=peers._die_with_parent)
        self.pid = self.peer.proc.pid

    def listening(self) -> bool:
        if self.peer.proc.poll() is not None:
            raise RuntimeError(f"prosody exited\n{self.peer.log_tail()}")
        return peers._answers(PROSODY_ADDR, C2S_PORT)

    def stop(self) -> None:
        self.peer.stop()

    def _set_tenants(self, tenants: list[str]) -> None:
        self.peer.tenants = tenants
        self.peer.write_config()

    def add(self, dom: str, method: str) -> dict:
        write_prosody_accounts(self.peer.dir / "data", dom, self.accounts)
        self._set_tenants(self.tenants + [dom])
        dt, _ = timed_run([peers.PROSODYCTL, "--config", str(self.peer.config), "reload"])
        if wait_for(self.addr, dom, "served", RELOAD_ONLY_WAIT) is not None:
            return {"how": "config + prosodyctl reload", "command_s": dt}
        t0 = time.monotonic()
        for h in (dom, f"conference.{dom}", f"pubsub.{dom}"):
            timed_run([peers.PROSODYCTL, "--config", str(self.peer.config), "shell", "host", "activate", h])
        # Timed from the shell's commands: the reload's wait is not Prosody's cost.
        return {"how": "config + prosodyctl reload (not enough) + shell host:activate", "command_s": time.monotonic() - t0,
                "started": t0}

    def remove(self, dom: str, method: str) -> dict:
        self._set_tenants(self.tenants)
        dt, _ = timed_run([peers.PROSODYCTL, "--config", str(self.peer.config), "reload"])
        if wait_for(self.addr, dom, "unknown", RELOAD_ONLY_WAIT) is not None:
            return {"how": "config + prosodyctl reload", "command_s": dt}
        t0 = time.monotonic()
        for h in (f"pubsub.{dom}", f"conference.{dom}", dom):
            timed_run([peers.PROSODYCTL, "--config", str(self.peer.config), "shell", "host", "deactivate", h])
        return {"how": "config + prosodyctl reload (not enough) + shell host:deactivate",
                "command_s": time.monotonic() - t0, "started": t0}


def write_prosody_accounts(data: pathlib.Path, d: str, n: int) -> None:
    accounts = data / prosody_data_name(d) / "accounts"
    accounts.mkdir(parents=True, exist_ok=True)
    for j in range(1, n + 1):
        (accounts / f"u{j}.dat").write_text(scram_sha1_file(PASSWORD))


class EjabberdTenants(peers.Ejabberd):
    """peers.Ejabberd serving many hosts, the modules of side-by-side plus
    what the default Waxwing plugins cover, no shapers, no archive."""

    def __init__(self, tenants: list[str], *args, **kwargs):
        self.tenants = list(tenants)
        super().__init__(*args, **kwargs)

    def write_config(self) -> None:
        q = json.dumps
        (self.dir / "db").mkdir(exist_ok=True)
        (self.dir / "logs").mkdir(exist_ok=True)
        a, b, c, d = self.address.split(".")
        (self.dir / "inetrc").write_text(
            f"{{hosts_file, {q(str(self.hosts_file))}}}.\n{{lookup, [file]}}.\n{{resolv_conf, \"\"}}.\n")
        hosts = ", ".join(q(t) for t in self.tenants)
        self.config.write_text(f"""# Written by bench/tenants.py: {len(self.tenants)} tenants, no shapers, no archive.
hosts: [{hosts}]
loglevel: warning
certfiles: [{q(str(self.cert.bundle()))}]
auth_method: internal
auth_password_format: scram
auth_scram_hash: sha256
shaper: {{}}
shaper_rules: {{}}
listen:
  -
    port: {self.c2s_port}
    ip: {q(self.address)}
    module: ejabberd_c2s
    backlog: 1024
    starttls_required: true
    max_stanza_size: 262144
    shaper: none
modules:
  mod_adhoc: {{}}
  mod_blocking: {{}}
  mod_caps: {{}}
  mod_carboncopy: {{}}
  mod_configure: {{}}
  mod_disco: {{}}
  mod_last: {{}}
  mod_muc:
    host: "conference.@HOST@"
    access_create: all
  mod_offline: {{}}
  mod_ping: {{}}
  mod_privacy: {{}}
  mod_private: {{}}
  mod_pubsub:
    host: "pubsub.@HOST@"
    access_createnode: all
    plugins: [flat, pep]
  mod_register: {{}}
  mod_roster: {{}}
  mod_time: {{}}
  mod_vcard: {{}}
  mod_version: {{}}
""")
        self._dist_interface = f"{{{a},{b},{c},{d}}}"

    def _srv_records(self) -> str:
        return "ok."

    def start(self, timeout: float = START_TIMEOUT) -> "EjabberdTenants":
        self.s2s_port = self.c2s_port  # no s2s listener
        return super().start(timeout)

    def rpc_eval(self, expr: str) -> subprocess.CompletedProcess:
        """Evaluates `expr` (which must end by halting) on a hidden node of
        our own connected to ejabberd's, as ctl does."""
        argv = [peers._erl(), "-name", f"bulk-{secrets.token_hex(4)}@{self.address}", *self._dist(),
                "-dist_listen", "false", "-hidden", "-noinput", "-eval", expr]
        out = subprocess.run(argv, cwd=self.dir, env=self._env(), capture_output=True, text=True, timeout=1800)
        if out.returncode != 0:
            raise RuntimeError(f"bulk registration failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
        return out


class Ejabberd(Target):
    name = "ejabberd"

    def __init__(self, *args, hosts: pathlib.Path, **kwargs):
        super().__init__(*args, **kwargs)
        self.peer = EjabberdTenants(self.tenants, SUFFIX, EJABBERD_ADDR, hosts, self.work / f"ejabberd-{self.n}",
                                    cert=self.cert, muc=False, debug=False)
        self.addr = (EJABBERD_ADDR, C2S_PORT)

    def register(self) -> None:
        """Accounts in one Erlang process (ejabberd_auth:try_register over
        rpc), not one ejabberdctl start per account; the names are made
        there, so the command line stays short at any size."""
        node = self.peer.node
        expr = (
            f"R = [rpc:call('{node}', ejabberd_auth, try_register,"
            f" [list_to_binary(\"u\" ++ integer_to_list(J)),"
            f" list_to_binary(\"t\" ++ integer_to_list(I) ++ \".{SUFFIX}\"), <<\"{PASSWORD}\">>])"
            f" || I <- lists:seq(1, {self.n}), J <- lists:seq(1, {self.accounts})],"
            " Bad = [X || X <- R, X =/= ok, X =/= {error, exists}],"
            " case Bad of [] -> halt(0); _ -> io:format(\"~p~n\", [lists:sublist(Bad, 3)]), halt(1) end."
        )
        # Its c2s port answers before every host's tables exist (a thousand
        # hosts: a minute or more): until then try_register fails with
        # no_exists, so try again.
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                self.peer.rpc_eval(expr)
                return
            except RuntimeError as e:
                if "no_exists" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(5)

    def prepare(self) -> None:
        # Accounts live in its Mnesia: made on a first run, then the measured
        # start is the second.
        self.peer.start()
        t0 = time.monotonic()
        self.register()
        log(f"ejabberd: {self.n * self.accounts} accounts (ejabberd_auth over rpc) in {time.monotonic() - t0:.1f} s")
        self.peer.stop()

    def spawn(self) -> None:
        peers._check_free(EJABBERD_ADDR, C2S_PORT)
        argv, env = self.peer.command()
        out = open(self.peer.stdout_log, "ab")
        self.peer.proc = subprocess.Popen(argv, cwd=self.peer.dir, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                          stderr=subprocess.STDOUT, start_new_session=True,
                                          preexec_fn=peers._die_with_parent)
        self.pid = self.peer.proc.pid

    def listening(self) -> bool:
        if self.peer.proc.poll() is not None:
            raise RuntimeError(f"ejabberd exited\n{self.peer.log_tail()}")
        return peers._answers(EJABBERD_ADDR, C2S_PORT)

    def stop(self) -> None:
        self.peer.stop()

    def add(self, dom: str, method: str) -> dict:
        self.peer.tenants = self.tenants + [dom]
        self.peer.write_config()
        t0 = time.monotonic()
        self.peer.ctl("reload_config")
        dt = time.monotonic() - t0
        return {"how": "config + ejabberdctl reload_config", "command_s": dt}

    def remove(self, dom: str, method: str) -> dict:
        self.peer.tenants = self.tenants
        self.peer.write_config()
        t0 = time.monotonic()
        self.peer.ctl("reload_config")
        return {"how": "config + ejabberdctl reload_config", "command_s": time.monotonic() - t0}


# ------------------------------------------------------------ the measurement


def measure_start(t: Target, ctx: ssl.SSLContext) -> dict:
    t.spawn()
    t0 = time.monotonic()
    while not t.listening():
        if time.monotonic() - t0 > START_TIMEOUT:
            raise RuntimeError(f"{t.name}: not listening after {START_TIMEOUT} s")
        time.sleep(0.01)
    listen_s = time.monotonic() - t0
    while True:
        try:
            asyncio.run(login(t.addr, domain(1), "u1", ctx, timeout=10))
            break
        except (OSError, ConnectionError, TimeoutError, asyncio.TimeoutError) as e:
            if time.monotonic() - t0 > START_TIMEOUT:
                raise RuntimeError(f"{t.name}: no login after {START_TIMEOUT} s: {e}")
            time.sleep(0.05)
    login_s = time.monotonic() - t0
    settle(t.pid)
    return {"listen_s": round(listen_s, 3), "first_login_s": round(login_s, 3), "rss_kib_started": rss_kib(t.pid)}


def run_load(bench: pathlib.Path, t: Target, cert: pathlib.Path, seconds: float, rate: float) -> subprocess.Popen:
    pairs = 5
    count = max(1, int(seconds * rate / pairs))
    argv = [str(bench), "messages", "--server", f"{t.addr[0]}:{t.addr[1]}", "--domain", domain(1), "--ca", str(cert),
            "--pid", str(t.pid), "--label", t.name, "--prefix", "u", "--users", str(2 * pairs), "--password", PASSWORD,
            "--pairs", str(pairs), "--count", str(count), "--window", "10", "--rate", str(rate), "--timeout", "30"]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def measure_changes(t: Target, bench: pathlib.Path, cert: pathlib.Path, rate: float) -> dict:
    methods = t.methods()
    load = run_load(bench, t, cert, seconds=10 + 15 * len(methods), rate=rate)
    time.sleep(5)  # the load's logins done, messages flowing
    out: dict = {"changes": []}
    try:
        for k, method in enumerate(methods):
            new = domain(t.n + 1 + k)
            t0 = time.monotonic()
            add = t.add(new, method)
            t0 = add.get("started", t0)
            served = wait_for(t.addr, new, "served", CHANGE_TIMEOUT)
            c = {"add_s": None if served is None else round(time.monotonic() - t0, 3),
                 "add_how": add["how"], "add_command_s": round(add["command_s"], 3)}
            time.sleep(2)
            t0 = time.monotonic()
            rem = t.remove(new, method)
            t0 = rem.get("started", t0)
            gone = wait_for(t.addr, new, "unknown", CHANGE_TIMEOUT)
            c.update({"remove_s": None if gone is None else round(time.monotonic() - t0, 3),
                      "remove_how": rem["how"], "remove_command_s": round(rem["command_s"], 3)})
            out["changes"].append(c)
            # The first way is the server's own: its figures head the table.
            if k == 0:
                out["add_s"], out["remove_s"] = c["add_s"], c["remove_s"]
            time.sleep(2)
    finally:
        try:
            stdout, stderr = load.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            load.kill()
            stdout, stderr = load.communicate()
    line = next((l for l in stdout.splitlines() if l.startswith("{")), None)
    if line:
        r = json.loads(line)
        out["load"] = {k: r.get(k) for k in ("messages_per_s", "latency_p50_us", "latency_p99_us", "lost")}
    else:
        out["load"] = {"error": (stderr or stdout).strip().splitlines()[-1:] or "no output"}
    return out


def run_server(kind: str, n: int, args, work: pathlib.Path, cert, hosts, bench, waxwing_bin, largest: bool) -> dict:
    if kind == "waxwing":
        t: Target = Waxwing(work, n, args.accounts, cert, bin_path=waxwing_bin)
    elif kind == "prosody":
        t = Prosody(work, n, args.accounts, cert, hosts=hosts)
    else:
        t = Ejabberd(work, n, args.accounts, cert, hosts=hosts)
    ctx = tls_context(cert.cert)
    t.prepare()
    try:
        log(f"{kind}: starting with {n} tenants")
        r = {"server": kind, "tenants": n, "accounts_each": args.accounts}
        r.update(measure_start(t, ctx))
        log(f"{kind}: {n} tenants: listening after {r['listen_s']} s, first login after {r['first_login_s']} s, "
            f"RSS {r['rss_kib_started']} KiB")
        r["login_each_s"] = round(asyncio.run(login_each(t.addr, t.tenants, ctx)), 3)
        settle(t.pid)
        r["rss_kib_after_logins"] = rss_kib(t.pid)
        if largest and not args.no_changes:
            r.update(measure_changes(t, bench, cert.cert, args.rate))
        if largest and args.idle_wait > 0:
            # Waxwing drops plugin instances unused for a minute (its sweep
            # looks every 10 s): what a tenant costs once nobody uses it.
            log(f"{kind}: waiting {args.idle_wait} s for idle state to be let go of")
            time.sleep(args.idle_wait)
            r["rss_kib_idle"] = rss_kib(t.pid)
        return r
    finally:
        t.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tenants", type=int, default=1000, help="the largest size (default 1000)")
    ap.add_argument("--sizes", default="1,100", help="smaller sizes measured first, comma-separated")
    ap.add_argument("--accounts", type=int, default=10, help="accounts per tenant")
    ap.add_argument("--servers", default="waxwing,prosody,ejabberd")
    ap.add_argument("--rate", type=float, default=200.0, help="messages/s of the load during add and remove")
    ap.add_argument("--no-changes", action="store_true", help="skip adding and removing a tenant")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--idle-wait", type=int, default=80,
                    help="seconds to wait at the largest size before reading RSS again (0: not at all)")
    args = ap.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()} | {args.tenants})
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    waxwing_bin = REPO / "target" / "debug" / "waxwing"
    bench = REPO / "target" / "debug" / "waxwing-bench"
    for p in ([waxwing_bin] if "waxwing" in servers else []) + ([] if args.no_changes else [bench]):
        if not p.is_file():
            raise SystemExit(f"{p} is missing: cargo build --workspace --bins")
    missing = peers.unavailable()
    if missing and any(s in servers for s in ("prosody", "ejabberd")):
        log(f"peers skipped: {missing}")
        servers = [s for s in servers if s == "waxwing"]
    work = pathlib.Path(tempfile.mkdtemp(prefix="waxwing-tenants-"))
    log(f"working in {work}")
    results = []
    try:
        # One certificate for every tenant and its services: *.bench, and
        # *.tN.bench would need one per tenant; the services are not logged
        # into, so the tenants' own names are what clients check.
        cert = peers.make_cert(work / "tls", [f"*.{SUFFIX}", SUFFIX])
        hosts = peers.write_hosts(work / "hosts", {
            PROSODY_ADDR: [SUFFIX], EJABBERD_ADDR: [SUFFIX]})
        for kind in servers:
            for n in sizes:
                try:
                    r = run_server(kind, n, args, work, cert, hosts, bench, waxwing_bin, n == max(sizes))
                except Exception as e:  # noqa: BLE001 - one failure should not lose the other servers' figures
                    log(f"{kind} with {n} tenants failed: {e}")
                    r = {"server": kind, "tenants": n, "failed": str(e)[:2000]}
                results.append(r)
                print(json.dumps(r), flush=True)
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    table(results, sizes)


def table(results: list[dict], sizes: list[int]) -> None:
    by = {(r["server"], r["tenants"]): r for r in results}
    servers = list(dict.fromkeys(r["server"] for r in results))
    lo, hi = min(sizes), max(sizes)
    rows = []
    for n in sizes:
        rows.append((f"listening after start, {n} tenants (s)", lambda r: r.get("listen_s"), n))
        rows.append((f"first login after start, {n} tenants (s)", lambda r: r.get("first_login_s"), n))
        rows.append((f"RSS after start, {n} tenants (MiB)", lambda r: mib(r.get("rss_kib_started")), n))
        rows.append((f"RSS after a login per tenant, {n} (MiB)", lambda r: mib(r.get("rss_kib_after_logins")), n))
    print()
    print(f"{'':<48}" + "".join(f"{s:>12}" for s in servers))
    for label, f, n in rows:
        print(f"{label:<48}" + "".join(f"{fmt(f(by.get((s, n), {}))):>12}" for s in servers))

    def slope(s: str, key: str):
        a, b = by.get((s, lo), {}).get(key), by.get((s, hi), {}).get(key)
        return None if a is None or b is None or hi == lo else (b - a) / (hi - lo)

    print(f"{f'KiB per tenant after start ({lo}->{hi})':<48}"
          + "".join(f"{fmt(slope(s, 'rss_kib_started')):>12}" for s in servers))
    print(f"{f'KiB per tenant after logins ({lo}->{hi})':<48}"
          + "".join(f"{fmt(slope(s, 'rss_kib_after_logins')):>12}" for s in servers))
    print(f"{f'RSS {hi} tenants, after the idle wait (MiB)':<48}"
          + "".join(f"{fmt(mib(by.get((s, hi), {}).get('rss_kib_idle'))):>12}" for s in servers))
    for key, label in (("add_s", "add one tenant under load (s)"), ("remove_s", "remove it under load (s)")):
        print(f"{label:<48}" + "".join(f"{fmt(by.get((s, hi), {}).get(key)):>12}" for s in servers))
    for s in servers:
        r = by.get((s, hi), {})
        for c in r.get("changes", []):
            print(f"{s}: add by {c['add_how']}: {fmt(c['add_s'])} s (the command {c['add_command_s']} s); "
                  f"remove by {c['remove_how']}: {fmt(c['remove_s'])} s (the command {c['remove_command_s']} s)")
        if "load" in r:
            print(f"{s}: the load meanwhile: {r['load']}")
        if "failed" in r:
            print(f"{s}: failed: {r['failed'][:300]}")


def mib(kib):
    return None if kib is None else kib / 1024


def fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.1f}" if abs(v) >= 10 else f"{v:.2f}"
    return str(v)


if __name__ == "__main__":
    main()
