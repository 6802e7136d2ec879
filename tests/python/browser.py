"""Converse.js in headless Chromium, for the browser tests: a real web client
logging in over WebSocket (RFC 7395), BOSH (XEP-0206) or whatever host-meta
(XEP-0156) says, sending and receiving chat messages.

Pieces (installed by ./dev setup: `npm ci --prefix tests/web`, Debian's chromium):

- tests/web/page/index.html: Converse.js from tests/web/node_modules,
  configured by its `?config=<JSON>` URL parameter, with a plugin putting
  `window.waxwing` (Converse's API, connection state, received and sent
  messages) on the page;
- tests/web/drive.mjs: playwright-core driving /usr/bin/chromium, one JSON
  request and answer per line on stdin/stdout;
- this module: a static HTTP server for tests/web on 127.0.0.1 (an ephemeral
  port, in a thread) and the driver as a subprocess.

    with browser.Browser(host_rules={"web.test:443": "127.0.0.41:5281"}) as b:
        alice = b.converse("alice", "alice@web.test", "pw", websocket_url="ws://127.0.0.41:5280/xmpp-websocket")
        alice.wait_connected()
        alice.send("bob@web.test", "hello")
        alice.wait_received("hi alice", frm="bob@web.test")
        url = alice.send_file("bob@web.test", "notes.txt", "text/plain", b"...")  # XEP-0363
        alice.screenshot(tmp_path / "alice.png")
        assert alice.foreign_requests() == []

Every wait is bounded (TIMEOUT unless given); a failed wait says what the
page saw (Converse's connection status, events, console tail).
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import functools
import http.server
import ipaddress
import json
import os
import pathlib
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.parse

REPO = pathlib.Path(__file__).resolve().parents[2]
WEB = REPO / "tests" / "web"
DRIVER = WEB / "drive.mjs"
CONVERSE_JS = WEB / "node_modules" / "converse.js" / "dist" / "converse.min.js"
PLAYWRIGHT = WEB / "node_modules" / "playwright-core" / "package.json"
CHROMIUM = "/usr/bin/chromium"

# How long one wait (login, a message, a page load) may take.
TIMEOUT = 10.0
# Launching Chromium.
LAUNCH_TIMEOUT = 30.0

# As root in a container: no sandbox; nothing reaching for Google's hosts
# (this machine's network is closed: those connections only fail, slowly).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-features=Translate,MediaRouter,OptimizationHints",
    # The servers' self-signed certificates (wss://, https:// BOSH,
    # host-meta); the contexts also set ignoreHTTPSErrors.
    "--ignore-certificate-errors",
]


def unavailable() -> str | None:
    """Why the browser tests cannot run here, or None."""
    reasons = []
    if shutil.which("node") is None:
        reasons.append("node is not installed")
    if not os.access(CHROMIUM, os.X_OK):
        reasons.append(f"{CHROMIUM} is not installed (Debian's chromium)")
    for path in (CONVERSE_JS, PLAYWRIGHT):
        if not path.is_file():
            reasons.append(f"{path.relative_to(REPO)} is missing")
    if not reasons:
        return None
    return "; ".join(reasons) + ": ./dev setup installs them (npm ci --prefix tests/web, apt-get install chromium)"


def require_browser() -> None:
    """Skips loudly when the browser tests cannot run here, or fails under
    WAXWING_REQUIRE_BROWSER (set by ./dev test) or CI."""
    reason = unavailable()
    if reason:
        import conftest

        conftest.not_available("the browser tests", reason, "WAXWING_REQUIRE_BROWSER")


def _die_with_parent_term():
    """In the child: SIGTERM when the test process dies (the driver then
    closes Chromium itself)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


class BrowserError(AssertionError):
    pass


class Browser:
    """One Chromium (through tests/web/drive.mjs) and the static server for
    the page. `host_rules` maps "name:port" (or "name") to "address:port" (or
    "address") for every connection Chromium makes (its --host-rules): how
    `https://<domain>/.well-known/host-meta` reaches a test server on
    loopback. `args`: more Chromium flags. `log_dir`: where the driver's
    stderr goes (default: a temp dir, removed on close unless
    WAXWING_TEST_KEEP is set)."""

    def __init__(self, *, host_rules: dict[str, str] | None = None, args=(), log_dir=None):
        self.host_rules = dict(host_rules or {})
        self.args = list(args)
        self._own_dir = log_dir is None
        self.dir = pathlib.Path(log_dir or tempfile.mkdtemp(prefix="waxwing-browser-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.httpd: http.server.ThreadingHTTPServer | None = None
        self.proc: subprocess.Popen | None = None
        self._answers: queue.Queue = queue.Queue()
        self._next_id = 1
        self.version = None
        self.pages: dict[str, Converse] = {}

    # -- life cycle
    def __enter__(self) -> "Browser":
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def start(self) -> "Browser":
        handler = functools.partial(_Quiet, directory=str(WEB))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, name="web-tests-http", daemon=True).start()
        args = CHROMIUM_ARGS + self.args
        if self.host_rules:
            args.append("--host-rules=" + ",".join(f"MAP {k} {v}" for k, v in self.host_rules.items()))
        launch = {"executable": CHROMIUM, "args": args, "timeout": int(LAUNCH_TIMEOUT * 1000)}
        self.stderr_path = self.dir / "driver.log"
        with open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen(
                ["node", str(DRIVER), json.dumps(launch)],
                cwd=WEB,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                preexec_fn=_die_with_parent_term,
            )
        threading.Thread(target=self._read, name="web-tests-driver", daemon=True).start()
        self.version = self._answer(0, LAUNCH_TIMEOUT, "launch")["version"]
        return self

    def close(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                with contextlib.suppress(Exception):
                    self.call("quit", timeout=10)
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.terminate()  # the driver closes Chromium on SIGTERM
                    try:
                        self.proc.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        self.proc.kill()
                        self.proc.wait()
            with contextlib.suppress(Exception):
                self.proc.stdin.close()
            self.proc = None
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None
        if self._own_dir and not os.environ.get("WAXWING_TEST_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- the driver's protocol
    def _read(self):
        for line in self.proc.stdout:
            try:
                self._answers.put(json.loads(line))
            except ValueError:
                self._answers.put({"id": None, "ok": False, "error": f"not JSON: {line!r}"})
        self._answers.put(None)  # the driver exited

    def _driver_log(self, lines=40) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""
        tail = "\n".join(text.splitlines()[-lines:])
        return f"\n--- driver stderr (tail) ---\n{tail}\n--- end ---" if tail else ""

    def _answer(self, want_id: int, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"the driver did not answer {what} within {timeout} s{self._driver_log()}")
            try:
                ans = self._answers.get(timeout=left)
            except queue.Empty:
                continue
            if ans is None:
                self._answers.put(None)
                raise BrowserError(f"the driver exited ({self.proc and self.proc.poll()}) during {what}{self._driver_log()}")
            if ans.get("id") != want_id:
                continue  # the late answer of a call that timed out here
            if not ans["ok"]:
                raise BrowserError(f"{what}: {ans['error']}")
            return ans["result"]

    def call(self, op: str, timeout: float = TIMEOUT, **params):
        """One request to the driver; its own timeouts are in ms, ours in s
        with a margin on top."""
        if self.proc is None or self.proc.poll() is not None:
            raise BrowserError(f"the driver is not running{self._driver_log()}")
        rid = self._next_id
        self._next_id += 1
        if "timeout" in params:
            params["timeout"] = int(params["timeout"] * 1000)
        self.proc.stdin.write((json.dumps({"id": rid, "op": op, **params}) + "\n").encode())
        self.proc.stdin.flush()
        return self._answer(rid, timeout + 5, op)

    # -- pages
    def url(self, config: dict) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/page/index.html?" + urllib.parse.urlencode({"config": json.dumps(config)})

    def converse(
        self,
        name: str,
        jid: str,
        password: str,
        *,
        websocket_url: str | None = None,
        bosh_service_url: str | None = None,
        discover: bool = False,
        timeout: float = TIMEOUT,
        **settings,
    ) -> "Converse":
        """Opens the page as `name` (a browser context of its own) with
        Converse logging `jid` in: over `websocket_url`, `bosh_service_url`,
        or with `discover` the URLs from https://<domain>/.well-known/host-meta
        (XEP-0156). `settings`: any other Converse option."""
        if not (websocket_url or bosh_service_url or discover):
            raise ValueError("give websocket_url, bosh_service_url or discover=True")
        config = {"jid": jid, "password": password, "discover_connection_methods": discover, **settings}
        if websocket_url:
            config["websocket_url"] = websocket_url
        if bosh_service_url:
            config["bosh_service_url"] = bosh_service_url
        page = Converse(self, name, jid)
        self.call("open", timeout=timeout, page=name, url=self.url(config))
        self.pages[name] = page
        return page


def _quote(s: str) -> str:
    return json.dumps(s)


class Converse:
    """One Converse page (one account, one browser context)."""

    def __init__(self, browser: Browser, name: str, jid: str):
        self.browser = browser
        self.name = name
        self.jid = jid

    def eval(self, body: str, arg=None, timeout: float = TIMEOUT):
        """The result of `async (arg) => { body }` in the page (JSON)."""
        return self.browser.call("eval", timeout=timeout, page=self.name, body=body, arg=arg)

    def wait(self, body: str, arg=None, timeout: float = TIMEOUT, what: str = ""):
        """Until `(arg) => { body }` (synchronous) returns something truthy in
        the page; returns it. Fails with what the page saw."""
        try:
            return self.browser.call("wait", timeout=timeout, page=self.name, body=body, arg=arg)
        except BrowserError as e:
            raise BrowserError(f"{self.name}: {what or body}: {e}\n{self.diagnose()}") from None

    def state(self) -> dict:
        """Converse's connection status, the page's events and messages."""
        return self.eval(
            "const w = window.waxwing; if (!w) return {error: 'no window.waxwing: the page did not load'};"
            " return {status: w.status(), connected: w.connected, events: w.events, error: w.error,"
            " received: w.received, sent: w.sent};"
        )

    def log(self) -> dict:
        """{console: [...], requests: [every URL the page asked for], failed: [...]}"""
        return self.browser.call("log", page=self.name)

    def foreign_requests(self, allowed_hosts=()) -> list[str]:
        """URLs the page asked for that are not on loopback nor in the
        browser's host_rules nor `allowed_hosts`: the page must work offline."""
        ok = set(allowed_hosts) | {k.split(":")[0] for k in self.browser.host_rules}
        out = []
        for url in self.log()["requests"]:
            u = urllib.parse.urlsplit(url)
            if u.scheme in ("data", "blob", "about"):
                continue
            host = u.hostname or ""
            if host in ok or host == "localhost":
                continue
            with contextlib.suppress(ValueError):
                if ipaddress.ip_address(host).is_loopback:
                    continue
            out.append(url)
        return out

    def diagnose(self, lines: int = 40) -> str:
        parts = []
        with contextlib.suppress(Exception):
            st = self.state()
            parts.append(f"converse status {st.get('status')}, events {st.get('events')}, error {st.get('error')}")
        with contextlib.suppress(Exception):
            log = self.log()
            parts.append(f"failed requests: {log['failed']}")
            parts.append("--- console (tail) ---\n" + "\n".join(log["console"][-lines:]) + "\n--- end ---")
        return "\n".join(parts) + self.browser._driver_log(10)

    # -- what a user does and sees
    def wait_connected(self, timeout: float = TIMEOUT) -> str:
        """Until Converse is logged in: its `connected` event came (the
        session is bound) and the control box shows the user's profile with
        an online status (what a user sees). Fails at once on AUTHFAIL or
        CONNFAIL, and on DISCONNECTED once Converse said `disconnected`:
        DISCONNECTED is also Converse's status before it starts connecting
        (while it fetches host-meta, say). Returns the bound full JID."""
        jid = self.wait(
            """const w = window.waxwing;
            if (!w || w.error) return {error: w ? w.error : 'no window.waxwing'};
            const [status, message] = w.status() || [];
            const ended = w.events.some(([e]) => e === 'disconnected');
            if (['AUTHFAIL', 'CONNFAIL', 'CONNTIMEOUT', 'ERROR'].includes(status) || (status === 'DISCONNECTED' && ended))
                return {error: `${status} ${message}`};
            const shown = document.querySelector('converse-user-profile .xmpp-status [data-value="online"]');
            return w.connected && shown && status === 'CONNECTED' ? {jid: w.connection().jid} : false;""",
            timeout=timeout,
            what="logged in",
        )
        if "error" in jid:
            raise BrowserError(f"{self.name}: Converse did not log in: {jid['error']}\n{self.diagnose()}")
        return jid["jid"]

    def transport(self) -> str:
        """'websocket' or 'bosh': what Converse connected with."""
        return self.eval(
            "const api = window.waxwing.api;"
            " return api.connection.isType('websocket') ? 'websocket' : api.connection.isType('bosh') ? 'bosh' : '?';"
        )

    def service(self) -> str:
        """The URL Converse connected to (after host-meta discovery, the one it found)."""
        return self.eval("return window.waxwing.connection().service;")

    def open_chat(self, jid: str, timeout: float = TIMEOUT) -> None:
        """Opens the one-to-one chat with `jid` and waits for its text area."""
        self.eval(f"await window.waxwing.api.chats.open({_quote(jid)}); return null;", timeout=timeout)
        self.wait(
            f"return !!document.querySelector({_quote(self._chat(jid) + ' .chat-textarea')});",
            timeout=timeout,
            what=f"the chat with {jid} open",
        )

    @staticmethod
    def _chat(jid: str) -> str:
        return f"converse-chat[jid={_quote(jid)}]"

    def send(self, to: str, text: str, timeout: float = TIMEOUT) -> None:
        """Types `text` into the chat with `to` (opened if need be) and
        presses Enter, as a user does; waits until Converse sent it and shows
        it in the chat."""
        self.open_chat(to, timeout)
        area = self._chat(to) + " .chat-textarea"
        self.browser.call("fill", timeout=timeout, page=self.name, selector=area, text=text)
        self.browser.call("press", timeout=timeout, page=self.name, selector=area, key="Enter")
        self.wait(
            "return window.waxwing.sent.some((m) => m.to === arg.to && m.body === arg.text);",
            {"to": to, "text": text},
            timeout=timeout,
            what=f"Converse sent {text!r} to {to}",
        )
        self.wait_shown(to, text, timeout)

    def wait_upload_service(self, domain: str, timeout: float = TIMEOUT) -> str:
        """Until Converse's disco of `domain` has an item with the HTTP
        upload feature (XEP-0363); returns its JID. Converse decides whether
        a chat's toolbar gets the paperclip when the chat first renders,
        from what its disco has found by then (api.disco.supports, which
        counts only the items already known): a chat opened before the
        server's disco#items and the service's disco#info are back never
        shows it. A user who waits a moment sees it; so does this."""
        return self.wait(
            """try {
                const items = window.waxwing.api.disco.entities.items(arg.domain);
                const item = items.find((e) => e.features.findWhere({var: arg.ns}));
                return item ? item.get('jid') : false;
            } catch (e) { return false; /* disco not initialized yet */ }""",
            {"domain": domain, "ns": "urn:xmpp:http:upload:0"},
            timeout=timeout,
            what=f"Converse's disco found an HTTP upload service on {domain}",
        )

    def send_file(self, to: str, name: str, mime_type: str, data: bytes, timeout: float = TIMEOUT) -> str:
        """Picks `data` as the file `name` (of `mime_type`) in the chat with
        `to`, as a user does with the toolbar's paperclip: Converse shows it
        only once disco finds an HTTP upload service (XEP-0363) on the
        user's domain, and its hidden file input takes the file. Converse
        then asks for a slot, PUTs the file and sends the GET URL (body and
        XEP-0066 OOB). Waits for that message and returns the URL; fails with
        Converse's own error message if the upload did not go through."""
        self.wait_upload_service(self.jid.split("@")[-1].split("/")[0], timeout)
        self.open_chat(to, timeout)
        picker = self._chat(to) + " converse-chat-toolbar input.fileupload[type=file]"
        self.wait(
            "return !!document.querySelector(arg);",
            picker,
            timeout=timeout,
            what=f"the file upload button in the chat with {to} (disco found the upload service)",
        )
        files = [{"name": name, "mimeType": mime_type, "base64": base64.b64encode(data).decode()}]
        self.browser.call("files", timeout=timeout, page=self.name, selector=picker, files=files)
        got = self.wait(
            """const sent = window.waxwing.sent.find((m) => m.to === arg.to && m.body);
            if (sent) return {url: sent.body};
            const chat = window.waxwing.chatbox(arg.to);
            const failed = chat ? chat.messages.filter((m) => m.get('type') === 'error') : [];
            return failed.length ? {error: failed.map((m) => m.get('message')).join('; ')} : false;""",
            {"to": to},
            timeout=timeout,
            what=f"Converse uploaded {name!r} and sent its URL to {to}",
        )
        if "error" in got:
            raise BrowserError(f"{self.name}: the upload of {name!r} failed in Converse: {got['error']}\n{self.diagnose()}")
        return got["url"]

    def wait_received(self, text: str, frm: str | None = None, timeout: float = TIMEOUT) -> dict:
        """Until a message with body `text` (from the bare JID `frm`, if
        given) has been received and is shown in its chat; returns
        {from, type, body}."""
        msg = self.wait(
            """return window.waxwing.received.find((m) => m.body === arg.text
                && (!arg.frm || m.from.split('/')[0] === arg.frm)) || false;""",
            {"text": text, "frm": frm},
            timeout=timeout,
            what=f"a message {text!r} from {frm or 'anyone'}",
        )
        self.wait_shown(msg["from"].split("/")[0], text, timeout)
        return msg

    def wait_shown(self, jid: str, text: str, timeout: float = TIMEOUT) -> None:
        """Until the chat with `jid` shows a message `text` (the DOM)."""
        self.browser.call("eval", page=self.name, body=f"await window.waxwing.api.chats.open({_quote(jid)}); return null;")
        self.wait(
            """return [...document.querySelectorAll(arg.sel)].some((e) => e.textContent.trim() === arg.text);""",
            {"sel": self._chat(jid) + " .chat-msg__text", "text": text},
            timeout=timeout,
            what=f"{text!r} shown in the chat with {jid}",
        )

    def screenshot(self, path) -> pathlib.Path:
        """A PNG of the page as it is now."""
        path = pathlib.Path(path).resolve()
        self.browser.call("screenshot", page=self.name, path=str(path))
        return path

    def close(self) -> None:
        self.browser.call("close", page=self.name)
        self.browser.pages.pop(self.name, None)
