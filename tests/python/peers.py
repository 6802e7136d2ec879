"""Debian's Prosody (0.12) and ejabberd (23.01) as federation (s2s) peers on
loopback, for the federation tests.

Every server of a federation test has a loopback address of its own
(127.0.0.21, 127.0.0.22, ...) and listens for s2s on port 5269 of it:
Prosody dials 5269 when a domain has no SRV record and no other port, so the
only way to give each server its own s2s listener is its own address. Its
c2s listener is on that address too (5222 unless told otherwise).

Names come from one hosts file the test writes (`write_hosts`), never from
/etc/hosts or DNS (the machine may have no network: a query to the root
servers hangs):

- Prosody resolves through lua-unbound (net.unbound): the config's
  `unbound = { hoststxt = <hosts>; resolvconf = false;
  options = { ["local-zone"] = ". static" } }` makes libunbound answer A and
  AAAA from the file and everything else (the `_xmpp-server._tcp` SRV
  lookups) NXDOMAIN at once, without sending a packet; Prosody then falls
  back to the A record on port 5269.
- ejabberd (Debian's 23.01 with p1_xmpp 1.6.1) looks `_xmpp-server._tcp`
  SRV records up with Erlang's inet_res and A records with libc's
  getaddrinfo (/etc/hosts and the system's DNS, whatever Erlang is told). It
  gets an ERL_INETRC with no nameserver (`{resolv_conf, ""}`, the hosts file,
  `{lookup, [file]}`), so an SRV name it was not given fails with nxdomain at
  once, and at boot an SRV record `_xmpp-server._tcp.<name>` -> `<address>
  5269` for each name of the hosts file goes into the resolver's cache
  (inet_db:add_rr): the target is an address literal, which getaddrinfo
  parses without a lookup. Names written to the file after ejabberd started
  are unknown to it.

Each server runs as the current user with its config, data, certificate and
logs in a folder of its own under the caller's `tmpdir`, dies with the test
process (PR_SET_PDEATHSIG), and is stopped (its whole process group) when its
context manager exits; on an exception its log tail is printed. ejabberd runs
without epmd: its node is `ejabberd@<address>`, Erlang distribution on
`<address>:4370` (`-erl_epmd_port`, `-start_epmd false`, like ejabberdctl's
ERL_DIST_PORT), with a random cookie; `ctl` runs an ejabberdctl command
against it the way ejabberdctl does (a hidden `-dist_listen false` node running
ejabberd_ctl), as the current user.

Port 5269 is privileged: the peers need root (CI is root) or
net.ipv4.ip_unprivileged_port_start <= 5222.

    hosts = write_hosts(tmp / "hosts", {"127.0.0.21": served_names("prosody.test"),
                                        "127.0.0.22": served_names("ejabberd.test")})
    with prosody("prosody.test", "127.0.0.21", hosts, tmp, users={"alice": "pw"}) as p, \\
         ejabberd("ejabberd.test", "127.0.0.22", hosts, tmp, users={"bob": "pw"}) as e:
        ...  # p.c2s, p.cert_path, p.jid("alice"), e.register("carol", "pw"), e.ctl("connected_users")
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import errno
import ipaddress
import json
import os
import pathlib
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Iterable, Iterator, Mapping

S2S_PORT = 5269
C2S_PORT = 5222
# ejabberd's Erlang distribution, on its own address (no epmd).
DIST_PORT = 4370
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
CMD_TIMEOUT = 30.0

PROSODY = "/usr/bin/prosody"
PROSODYCTL = "/usr/bin/prosodyctl"
EJABBERDCTL = "/usr/sbin/ejabberdctl"


def _erl() -> str:
    return shutil.which("erl") or "/usr/bin/erl"


def _erl_libs() -> str:
    """Where Debian's ejabberd keeps its Erlang applications: ejabberdctl's ERL_LIBS."""
    try:
        m = re.search(r"^ERL_LIBS='(.*)'$", pathlib.Path(EJABBERDCTL).read_text(), re.M)
    except OSError:
        m = None
    return m.group(1) if m else "/usr/lib/x86_64-linux-gnu"


def _lua_of(script: str) -> str:
    """The Lua interpreter a script's #! line names (Debian's prosody: lua5.4)."""
    try:
        first = pathlib.Path(script).read_text().splitlines()[0]
    except (OSError, IndexError):
        return "lua5.4"
    return first.split()[-1].rsplit("/", 1)[-1] if first.startswith("#!") else "lua5.4"


def unavailable(kinds: Iterable[str] = ("prosody", "ejabberd")) -> str | None:
    """Why the peers `kinds` cannot run on this machine, or None.
    tests/peers/install.sh installs them."""
    reasons = []
    if shutil.which("openssl") is None:
        reasons.append("openssl is not installed")
    if "prosody" in kinds:
        if not (os.access(PROSODY, os.X_OK) and os.access(PROSODYCTL, os.X_OK)):
            reasons.append(f"{PROSODY} is not installed (Debian's prosody)")
        else:
            lua = _lua_of(PROSODY)
            ok = shutil.which(lua) is not None and subprocess.run(
                [lua, "-e", 'require "lunbound"'], capture_output=True).returncode == 0
            if not ok:
                reasons.append(f"{lua} cannot load lunbound (Debian's lua-unbound): "
                               "Prosody could not resolve names from a hosts file")
    if "ejabberd" in kinds:
        if not os.access(EJABBERDCTL, os.X_OK) or shutil.which("erl") is None:
            reasons.append(f"{EJABBERDCTL} or erl is not installed (Debian's ejabberd)")
    if os.geteuid() != 0:
        try:
            start = int(pathlib.Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
        except (OSError, ValueError):
            start = 1024
        low = min(C2S_PORT, S2S_PORT)
        if start > low:
            reasons.append(f"ports {C2S_PORT} and {S2S_PORT} need root "
                           f"(or net.ipv4.ip_unprivileged_port_start <= {low})")
    if not reasons:
        return None
    return "; ".join(reasons) + ": tests/peers/install.sh (./dev setup) installs the peers"


# ------------------------------------------------------------ names and certificates


def served_names(domain: str, muc: bool = True) -> list[str]:
    """The names a peer started with `muc` serves: the domain and its MUC
    service, conference.<domain>. Each must be in the hosts file for the
    other servers to reach it (dialback connects back to the name)."""
    return [domain] + ([f"conference.{domain}"] if muc else [])


def write_hosts(path: str | os.PathLike, names: Mapping[str, Iterable[str]]) -> pathlib.Path:
    """Writes a hosts file: one line per address with its names
    ({"127.0.0.21": ["prosody.test", "conference.prosody.test"], ...})."""
    path = pathlib.Path(path)
    lines = ["# written by tests/python/peers.py"]
    for address, domains in names.items():
        ipaddress.ip_address(address)
        lines.append(f"{address} {' '.join(domains)}")
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclasses.dataclass
class CA:
    """A test certificate authority: `cert` is what a peer trusts."""

    cert: pathlib.Path
    key: pathlib.Path


@dataclasses.dataclass
class Cert:
    """A server certificate (EC P-256) for `names`: self-signed, or signed by `ca`."""

    cert: pathlib.Path
    key: pathlib.Path
    names: list[str]
    ca: CA | None = None

    @property
    def trust(self) -> pathlib.Path:
        """What a client or peer trusts to verify this certificate: the CA's
        certificate, or the self-signed certificate itself."""
        return self.ca.cert if self.ca else self.cert

    def bundle(self) -> pathlib.Path:
        """Certificate, CA certificate (if any) and key in one PEM file, as
        ejabberd's `certfiles` wants them."""
        path = self.cert.with_name(self.cert.stem + "-bundle.pem")
        if not path.exists():
            parts = [self.cert.read_text()]
            if self.ca:
                parts.append(self.ca.cert.read_text())
            parts.append(self.key.read_text())
            path.write_text("".join(parts))
            path.chmod(0o600)
        return path


def _openssl(*args: str) -> None:
    out = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=CMD_TIMEOUT)
    if out.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{out.stderr}")


_EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "7"]


def make_ca(directory: str | os.PathLike, name: str = "Waxwing test CA") -> CA:
    """A CA (certificate and key) in `directory`, for certificates peers verify
    (SASL EXTERNAL): pass it to make_cert(ca=) and as the peers' `ca`."""
    d = pathlib.Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^A-Za-z0-9.-]+", "-", name).strip("-")
    ca = CA(cert=d / f"{slug}.crt", key=d / f"{slug}.key")
    _openssl("req", "-x509", *_EC, "-subj", f"/CN={name}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-keyout", str(ca.key), "-out", str(ca.cert))
    return ca


def make_cert(directory: str | os.PathLike, names: Iterable[str], ca: CA | None = None) -> Cert:
    """A certificate for `names` (the first is the CN, all are DNS SANs) in
    `directory`: self-signed, or signed by `ca`. Usable as a TLS server and
    client certificate (an s2s initiator presents it as a client)."""
    names = list(names)
    d = pathlib.Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    cert = Cert(cert=d / f"{names[0]}.crt", key=d / f"{names[0]}.key", names=names, ca=ca)
    signer = ["-CA", str(ca.cert), "-CAkey", str(ca.key)] if ca else []
    _openssl("req", "-x509", *_EC, *signer, "-subj", f"/CN={names[0]}",
             "-addext", "subjectAltName=" + ",".join(f"DNS:{n}" for n in names),
             "-addext", "basicConstraints=critical,CA:FALSE",
             "-addext", "keyUsage=critical,digitalSignature",
             "-addext", "extendedKeyUsage=serverAuth,clientAuth",
             "-keyout", str(cert.key), "-out", str(cert.cert))
    cert.key.chmod(0o600)
    return cert


# ------------------------------------------------------------ processes


def _die_with_parent() -> None:
    """In the child: be killed when the test process dies, however it dies."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _answers(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.5):
            return True
    except OSError:
        return False


def _check_free(address: str, port: int) -> None:
    """Fails clearly when someone already listens where a peer must (a
    server left over, or a system service on 0.0.0.0)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((address, port))
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            who = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True).stdout
            raise RuntimeError(f"{address}:{port} is taken; listening on port {port}:\n{who}") from None
        raise
    finally:
        s.close()


def _lua_string(s: str | os.PathLike) -> str:
    return json.dumps(str(s))  # a JSON string is a Lua string for these (paths, names)


def _loopback(address: str) -> str:
    ip = ipaddress.ip_address(address)
    if ip.version != 4 or not ip.is_loopback:
        raise ValueError(f"{address}: a peer listens on a 127.0.0.x address of its own")
    return address


class Peer:
    """One server. `c2s` is (address, port), `cert_path` what a client trusts,
    `names` the domains it serves, `dir` its folder (config, data, logs)."""

    kind = "peer"

    def __init__(
        self,
        domain: str,
        address: str,
        hosts_file: str | os.PathLike,
        tmpdir: str | os.PathLike,
        *,
        secure: bool = False,
        cert: Cert | None = None,
        ca: CA | str | os.PathLike | None = None,
        c2s_port: int = C2S_PORT,
        muc: bool = True,
        debug: bool = True,
        extra_config: str = "",
    ):
        self.domain = domain
        self.address = _loopback(address)
        self.hosts_file = pathlib.Path(hosts_file).resolve()
        if not self.hosts_file.is_file():
            raise FileNotFoundError(self.hosts_file)
        pathlib.Path(tmpdir).mkdir(parents=True, exist_ok=True)
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix=f"{self.kind}-{domain}-", dir=tmpdir)).resolve()
        self.names = served_names(domain, muc)
        self.muc = muc
        self.secure = secure
        self.debug = debug
        self.extra_config = extra_config
        self.c2s_port = c2s_port
        self.s2s_port = S2S_PORT
        self.cert = cert or make_cert(self.dir / "tls", self.names)
        if isinstance(ca, CA):
            ca = ca.cert
        if ca is None and self.cert.ca is not None:
            ca = self.cert.ca.cert
        # What this server trusts to verify its peers' certificates (None:
        # the system's CAs, which trust no test certificate: dialback).
        self.ca = pathlib.Path(ca).resolve() if ca is not None else None
        self.proc: subprocess.Popen | None = None
        self.stdout_log = self.dir / "stdout.log"

    # -- what a client needs (the same attributes as conftest.Server)
    @property
    def c2s(self) -> tuple[str, int]:
        return (self.address, self.c2s_port)

    direct_tls = None

    @property
    def cert_path(self) -> str:
        return str(self.cert.trust)

    def jid(self, user: str) -> str:
        return f"{user}@{self.domain}"

    # -- life cycle
    def command(self) -> tuple[list[str], dict[str, str]]:
        raise NotImplementedError

    def write_config(self) -> None:
        raise NotImplementedError

    def register(self, user: str, password: str) -> None:
        raise NotImplementedError

    def log_files(self) -> list[pathlib.Path]:
        return [self.stdout_log]

    def start(self, timeout: float = START_TIMEOUT) -> "Peer":
        for port in (self.c2s_port, self.s2s_port):
            _check_free(self.address, port)
        self.write_config()
        argv, env = self.command()
        with open(self.stdout_log, "ab") as out:
            self.proc = subprocess.Popen(
                argv,
                cwd=self.dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() ends all of it
                preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + timeout
        waiting = [self.c2s_port, self.s2s_port]
        while waiting:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.kind} exited with {self.proc.returncode} before listening\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{self.kind} is not listening on {self.address}:{waiting} after {timeout} s\n{self.log_tail()}")
            waiting = [p for p in waiting if not _answers(self.address, p)]
            if waiting:
                time.sleep(0.05)
        return self

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM to its process group, SIGKILL to what is left of it after
        the leader exits or `timeout` s."""
        if self.proc is None:
            return
        pid = self.proc.pid  # start_new_session: the group's id is the leader's pid
        if self.proc.returncode is None:
            # Until the leader is reaped its pid, the group's id, is ours.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is None:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        self.proc.wait()

    def log_tail(self, lines: int = 80) -> str:
        parts = []
        for path in self.log_files():
            try:
                text = path.read_text(errors="replace")
            except FileNotFoundError:
                continue
            if text.strip():
                tail = "\n".join(text.splitlines()[-lines:])
                parts.append(f"--- {self.kind} {self.domain}: {path} (tail) ---\n{tail}")
        if not parts:
            return f"({self.kind} {self.domain}: no log)"
        return "\n".join(parts) + f"\n--- end of {self.kind} {self.domain} logs ---"

    def _run(self, argv: list[str], env: dict[str, str] | None = None, what: str = "") -> subprocess.CompletedProcess:
        out = subprocess.run(argv, cwd=self.dir, env=env, capture_output=True, text=True, timeout=CMD_TIMEOUT)
        if out.returncode != 0:
            raise RuntimeError(
                f"{what or argv[0]} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}\n{self.log_tail(30)}")
        return out


# ------------------------------------------------------------ Prosody


class Prosody(Peer):
    """Prosody 0.12: `prosody -F --config <dir>/prosody.cfg.lua`."""

    kind = "prosody"

    @property
    def config(self) -> pathlib.Path:
        return self.dir / "prosody.cfg.lua"

    @property
    def log(self) -> pathlib.Path:
        return self.dir / "prosody.log"

    def log_files(self) -> list[pathlib.Path]:
        return [self.log, self.stdout_log]

    def write_config(self) -> None:
        q = _lua_string
        (self.dir / "data").mkdir(exist_ok=True)
        ssl = f"certificate = {q(self.cert.cert)}; key = {q(self.cert.key)};"
        if self.ca:
            ssl += f" cafile = {q(self.ca)};"
        components = ""
        if self.muc:
            components = f'\nComponent {q("conference." + self.domain)} "muc"\n'
        self.config.write_text(f"""-- Written by tests/python/peers.py: {self.domain} on {self.address}, s2s on {S2S_PORT}.
run_as_root = {"true" if os.geteuid() == 0 else "false"}
data_path = {q(self.dir / "data")}
log = {{ {"debug" if self.debug else "info"} = {q(self.log)} }}
interfaces = {{ {q(self.address)} }}
c2s_ports = {{ {self.c2s_port} }}
c2s_direct_tls_ports = {{ }}
s2s_ports = {{ {S2S_PORT} }}
s2s_direct_tls_ports = {{ }}
component_ports = {{ }}
http_ports = {{ }}
https_ports = {{ }}
modules_enabled = {{
    "roster"; "saslauth"; "tls"; "dialback"; "disco"; "ping"; "version"; "time";
    "uptime"; "private"; "vcard_legacy"; "carbons"; "pep"; "blocklist";
}}
authentication = "internal_hashed"
storage = "internal"
allow_registration = false
c2s_require_encryption = true
-- STARTTLS on every s2s stream; with secure auth off, a certificate that
-- does not verify falls back to dialback (XEP-0220).
s2s_require_encryption = true
s2s_secure_auth = {"true" if self.secure else "false"}
s2s_timeout = 15
ssl = {{ {ssl} }}
certificates = {q(self.cert.cert.parent)}
-- Names from the harness's hosts file, never from DNS: A/AAAA from the file,
-- NXDOMAIN for everything else (SRV), with no query sent anywhere.
unbound = {{
    hoststxt = {q(self.hosts_file)};
    resolvconf = false;
    options = {{ ["local-zone"] = ". static" }};
}}
{self.extra_config}

VirtualHost {q(self.domain)}
    ssl = {{ {ssl} }}
{components}""")

    def command(self) -> tuple[list[str], dict[str, str]]:
        env = dict(os.environ)
        return [PROSODY, "--config", str(self.config), "-F"], env

    def prosodyctl(self, *args: str) -> subprocess.CompletedProcess:
        """`prosodyctl --config <this config> ARGS` (fails on a non-zero exit)."""
        return self._run([PROSODYCTL, "--config", str(self.config), *args], what=f"prosodyctl {args[0] if args else ''}")

    def register(self, user: str, password: str) -> None:
        self.prosodyctl("register", user, self.domain, password)


# ------------------------------------------------------------ ejabberd


class Ejabberd(Peer):
    """ejabberd 23.01, started the way `ejabberdctl foreground` starts it
    but as the current user and without epmd: node `ejabberd@<address>`,
    distribution on <address>:4370."""

    kind = "ejabberd"

    def __init__(self, *args, tls: str = "required", **kwargs):
        super().__init__(*args, **kwargs)
        self.tls = tls  # s2s_use_starttls: required | optional | false
        self.node = f"ejabberd@{self.address}"
        self.cookie = secrets.token_hex(16)
        self.dist_port = DIST_PORT

    @property
    def config(self) -> pathlib.Path:
        return self.dir / "ejabberd.yml"

    @property
    def log(self) -> pathlib.Path:
        return self.dir / "logs" / "ejabberd.log"

    def log_files(self) -> list[pathlib.Path]:
        return [self.log, self.dir / "logs" / "error.log", self.stdout_log]

    def write_config(self) -> None:
        q = json.dumps  # a JSON string is a YAML string
        (self.dir / "db").mkdir(exist_ok=True)
        (self.dir / "logs").mkdir(exist_ok=True)
        a, b, c, d = self.address.split(".")
        # No nameserver: an SRV name not put in the cache (_srv_records)
        # fails at once; inet:gethostbyname reads the hosts file.
        (self.dir / "inetrc").write_text(
            f"{{hosts_file, {q(str(self.hosts_file))}}}.\n"
            "{lookup, [file]}.\n"
            '{resolv_conf, ""}.\n'
            '{host, {127,0,0,1}, ["localhost"]}.\n'
        )
        ca = ""
        if self.ca:
            ca = f"ca_file: {q(str(self.ca))}\ns2s_cafile: {q(str(self.ca))}\n"
        muc = ""
        if self.muc:
            muc = f"  mod_muc:\n    host: {q('conference.' + self.domain)}\n    access_create: all\n"
        # Without mod_s2s_dialback a peer must authenticate with SASL EXTERNAL.
        dialback = "" if self.secure else "  mod_s2s_dialback: {}\n"
        self.config.write_text(f"""# Written by tests/python/peers.py: {self.domain} on {self.address}, s2s on {S2S_PORT}.
hosts: [{q(self.domain)}]
loglevel: {"debug" if self.debug else "info"}
certfiles: [{q(str(self.cert.bundle()))}]
{ca}auth_method: internal
auth_password_format: scram
s2s_use_starttls: {self.tls}
s2s_dns_timeout: 3
s2s_dns_retries: 1
s2s_max_retry_delay: 5
outgoing_s2s_families: [ipv4]
outgoing_s2s_ipv4_address: {q(self.address)}
outgoing_s2s_port: {S2S_PORT}
outgoing_s2s_timeout: 10
listen:
  -
    port: {self.c2s_port}
    ip: {q(self.address)}
    module: ejabberd_c2s
    starttls_required: true
  -
    port: {S2S_PORT}
    ip: {q(self.address)}
    module: ejabberd_s2s_in
modules:
  mod_disco: {{}}
  mod_ping: {{}}
  mod_roster: {{}}
  mod_version: {{}}
  mod_time: {{}}
  mod_last: {{}}
  mod_offline: {{}}
  mod_private: {{}}
  mod_vcard: {{}}
  mod_caps: {{}}
  mod_carboncopy: {{}}
{dialback}{muc}{self.extra_config}
""")
        self._dist_interface = f"{{{a},{b},{c},{d}}}"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            ERL_LIBS=_erl_libs(),
            EJABBERD_CONFIG_PATH=str(self.config),
            EJABBERD_LOG_PATH=str(self.log),
            ERL_CRASH_DUMP=str(self.dir / "logs" / "erl_crash.dump"),
            ERL_INETRC=str(self.dir / "inetrc"),
            HOME=str(self.dir),
        )
        for k in ("ERL_EPMD_ADDRESS", "ERL_EPMD_PORT", "ERL_FLAGS", "ERL_AFLAGS", "ERL_ZFLAGS"):
            env.pop(k, None)
        return env

    def _dist(self) -> list[str]:
        return ["-setcookie", self.cookie, "-start_epmd", "false", "-erl_epmd_port", str(self.dist_port)]

    def _srv_records(self) -> str:
        """An Erlang expression that puts an `_xmpp-server._tcp` SRV record
        for each name of the hosts file, targeting its address literally on
        5269, in the resolver's cache (inet_db). Debian's ejabberd 23.01
        (p1_xmpp 1.6.1) looks SRV up with inet_res, which answers from that
        cache, but the A records with net:getaddrinfo (libc: /etc/hosts and
        the system's DNS, whatever ERL_INETRC says); an address literal as
        the SRV target needs no lookup at all."""
        pairs = []
        for line in self.hosts_file.read_text().splitlines():
            fields = line.split("#", 1)[0].split()
            if len(fields) >= 2 and ipaddress.ip_address(fields[0]).version == 4:
                pairs += [f"{{{json.dumps(n)}, {json.dumps(fields[0])}}}" for n in fields[1:] if n != "localhost"]
        return (
            f"[ok = inet_db:add_rr(\"_xmpp-server._tcp.\" ++ N, in, srv, 604800, {{0, 0, {S2S_PORT}, A}})"
            f" || {{N, A}} <- [{', '.join(pairs)}]]."
        )

    def command(self) -> tuple[list[str], dict[str, str]]:
        argv = [
            _erl(), "-name", self.node, *self._dist(),
            "-kernel", "inet_dist_use_interface", self._dist_interface,
            "+K", "true", "+P", "250000", "-noinput",
            "-mnesia", "dir", json.dumps(str(self.dir / "db")),
            "-eval", self._srv_records(),
            "-s", "ejabberd",
        ]
        return argv, self._env()

    def start(self, timeout: float = START_TIMEOUT) -> "Ejabberd":
        _check_free(self.address, self.dist_port)
        super().start(timeout)
        return self

    def ctl(self, *args: str) -> subprocess.CompletedProcess:
        """An ejabberdctl command on this node (`ctl("register", "bob",
        domain, "pw")`, `ctl("connected_users")`), run as ejabberdctl runs it:
        a hidden node without a listener running ejabberd_ctl. Fails on a
        non-zero exit."""
        argv = [
            _erl(), "-name", f"ctl-{secrets.token_hex(4)}@{self.address}", *self._dist(),
            "-dist_listen", "false", "-hidden", "-noinput",
            "-s", "ejabberd_ctl", "-extra", self.node, *args,
        ]
        return self._run(argv, env=self._env(), what=f"ejabberdctl {args[0] if args else ''}")

    def register(self, user: str, password: str) -> None:
        self.ctl("register", user, self.domain, password)


# ------------------------------------------------------------ context managers


@contextlib.contextmanager
def _running(peer: Peer, users: Mapping[str, str]) -> Iterator[Peer]:
    try:
        peer.start()  # its errors carry the log tail
        for user, password in users.items():
            peer.register(user, password)
        try:
            yield peer
        except BaseException as e:
            if type(e).__name__ != "Skipped":
                print(f"\n{peer.log_tail()}", file=sys.stderr)
            raise
    finally:
        peer.stop()


@contextlib.contextmanager
def prosody(
    domain: str,
    address: str,
    hosts_file: str | os.PathLike,
    tmpdir: str | os.PathLike,
    users: Mapping[str, str] = {},
    secure: bool = False,
    cert: Cert | None = None,
    **kwargs,
) -> Iterator[Prosody]:
    """A running Prosody serving `domain` (and conference.<domain> unless
    muc=False) with c2s on address:5222 (c2s_port=) and s2s on address:5269,
    the accounts `users` ({name: password}) registered. `secure`:
    s2s_secure_auth (no dialback: peers need a certificate it verifies
    against `ca`). `cert`: from make_cert (default: a self-signed one for its
    names). Other options: ca, c2s_port, muc, debug, extra_config (Lua for
    the global section). Stopped on the way out; its logs printed on an
    exception."""
    with _running(Prosody(domain, address, hosts_file, tmpdir, secure=secure, cert=cert, **kwargs), users) as p:
        yield p


@contextlib.contextmanager
def ejabberd(
    domain: str,
    address: str,
    hosts_file: str | os.PathLike,
    tmpdir: str | os.PathLike,
    users: Mapping[str, str] = {},
    secure: bool = False,
    cert: Cert | None = None,
    **kwargs,
) -> Iterator[Ejabberd]:
    """A running ejabberd, as `prosody`. `secure`: no mod_s2s_dialback (peers
    must authenticate with SASL EXTERNAL against `ca`). `tls` is
    s2s_use_starttls (default "required"); extra_config is YAML appended to
    the modules section's end (indent two spaces for a module, none for a
    top-level option not already written)."""
    with _running(Ejabberd(domain, address, hosts_file, tmpdir, secure=secure, cert=cert, **kwargs), users) as e:
        yield e
