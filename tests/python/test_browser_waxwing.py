"""Converse.js in headless Chromium (browser.py) against Waxwing's own XMPP
over WebSocket (RFC 7395, kernel/src/http/websocket.rs) and host-meta
(XEP-0156, kernel/src/http/host_meta.rs): a real web client logs in as
romeo@localhost and chats both ways with juliet, a slixmpp client on the
same server's c2s port.

- over WebSocket: ws://127.0.0.1:<http port>/xmpp-websocket, plain, which
  Waxwing allows from loopback and counts as secure (SCRAM or PLAIN);
- by XEP-0156 discovery: Converse fetches https://localhost/.well-known/host-meta
  (port 443, which Chromium's --host-rules send to Waxwing's HTTPS port; its
  self-signed certificate is accepted), whose XRD names
  wss://<the request's Host>/xmpp-websocket: Chromium sends `Host:
  localhost`, so wss://localhost/xmpp-websocket, which the same rule maps to
  the HTTPS port again.
- over BOSH (XEP-0124/0206, kernel/src/http/bosh.rs):
  http://127.0.0.1:<http port>/http-bind, plain on loopback (secure),
  posted cross-origin (CORS preflight).
- HTTP upload (XEP-0363), over WebSocket: Converse finds upload.localhost
  and its limit by disco, and sends juliet a file through its upload button
  (a slot, then a cross-origin PUT from the page's origin to the kernel's
  /upload/: a CORS preflight, which Chromium's network log shows answered);
  juliet gets the URL (body and XEP-0066) and downloads the very bytes, and
  the page fetches them back cross-origin. Over https://localhost:<https
  port> (the default listeners) and http://localhost:<http port> (no HTTPS
  listener).

Each chat test checks the transport and URL Converse used, a message each
way (typed into the chat and shown in it), a screenshot of the logged-in page (a PNG),
and that the page asked for nothing beyond loopback. Over BOSH, besides: a
message to romeo while Converse is idle, its one request held by Waxwing,
comes back on that request at once (not at the end of `wait`); one that
reaches Waxwing while Converse has no request there at all (Strophe paused
after its held request came back) is kept and carried by the next request;
and logging out (Converse's logout: Strophe's `type='terminate'` body) is
answered with a terminate and ends the c2s session, as Waxwing's log says,
and the sid is gone (item-not-found). Chromium's network log
(`--log-net-log`, every byte) and Strophe's debug log (console.log) are kept
in the test's tmp dir, and the raw HTTP to Waxwing is printed when it fails.

Missing Chromium or tests/web/node_modules skips loudly (or fails under
WAXWING_REQUIRE_BROWSER, set by ./dev test, or CI).

WAXWING_SCREENSHOT=<path> also saves the websocket test's screenshot there
(how docs/converse-waxwing.png was made).
"""

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import os
import pathlib
import re
import shutil
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

import browser
import conftest
from conftest import PASSWORD, Client

logging.getLogger("slixmpp").setLevel(logging.WARNING)

# The whole chat, both clients included.
FLOW_TIMEOUT = 30.0
ROMEO, JULIET = "romeo@localhost", "juliet@localhost"


async def chat(page: browser.Converse, server: conftest.Server, tag: str) -> None:
    juliet = Client(server, JULIET, PASSWORD)
    try:
        await juliet.online()
        await juliet.available()
        # Converse -> slixmpp: typed into the chat, shown there, received.
        text = f"hello juliet, from Converse over {tag}"
        await asyncio.to_thread(page.send, JULIET, text)
        msg = await juliet.next_message(lambda m: m["body"] == text)
        assert msg["from"].bare == ROMEO and msg["type"] == "chat", msg
        # slixmpp -> Converse: received and shown in the chat with juliet.
        reply = f"hello romeo, from slixmpp ({tag})"
        juliet.send_message(mto=msg["from"], mbody=reply, mtype="chat")
        got = await asyncio.to_thread(page.wait_received, reply, JULIET)
        assert got["type"] == "chat", got
    finally:
        await juliet.leave()


@pytest.mark.parametrize("transport", ["websocket", "host-meta"])
def test_converse_chats_through_waxwing(tmp_path, transport):
    browser.require_browser()
    started = time.monotonic()
    with conftest.running(users=["romeo", "juliet"]) as server:
        host, http_port = server.http
        _, https_port = server.https
        # host-meta is always https://<domain>/.well-known/host-meta: port 443 of localhost.
        rules = {"localhost:443": f"127.0.0.1:{https_port}"} if transport == "host-meta" else {}
        try:
            with browser.Browser(host_rules=rules, log_dir=tmp_path / "browser") as b:
                if transport == "websocket":
                    url = f"ws://{host}:{http_port}/xmpp-websocket"
                    page = b.converse("romeo", ROMEO, PASSWORD, websocket_url=url)
                else:
                    url = "wss://localhost/xmpp-websocket"
                    page = b.converse("romeo", ROMEO, PASSWORD, discover=True)
                full = page.wait_connected()
                assert full.split("/")[0] == ROMEO, full
                assert page.transport() == "websocket"
                assert page.service() == url

                asyncio.run(asyncio.wait_for(chat(page, server, transport), FLOW_TIMEOUT))

                shot = page.screenshot(tmp_path / f"converse-{transport}.png")
                data = shot.read_bytes()
                assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000, (shot, len(data))
                if transport == "websocket" and os.environ.get("WAXWING_SCREENSHOT"):
                    shutil.copyfile(shot, os.environ["WAXWING_SCREENSHOT"])
                log = page.log()
                assert page.foreign_requests() == [], log["requests"]
                assert not log["failed"], log["failed"]
                if transport == "host-meta":
                    assert "https://localhost/.well-known/host-meta" in log["requests"], log["requests"]
        except BaseException:
            print(server.log_tail(80))
            raise
    print(f"\n{transport}: {time.monotonic() - started:.1f} s (Chromium {b.version})")


# -- BOSH


def netlog_exchanges(path, port: int) -> str:
    """The raw HTTP bytes Chromium sent to and read from 127.0.0.1:`port`,
    from its network log (`--log-net-log`, `--net-log-capture-mode=Everything`),
    per socket in order: what went over the wire, headers and bodies."""
    try:
        text = pathlib.Path(path).read_text(errors="replace")
    except OSError as e:
        return f"(no network log: {e})"
    try:
        log = json.loads(text)
    except ValueError:  # Chromium killed before it closed the log
        text = text.rstrip().rstrip(",")
        try:
            log = json.loads(text + "]}")
        except ValueError as e:
            return f"(unreadable network log: {e})"
    types = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    ours, out = set(), []
    for ev in log.get("events", []):
        kind, src, params = types.get(ev["type"]), ev["source"]["id"], ev.get("params") or {}
        if kind in ("TCP_CONNECT", "TCP_CONNECT_ATTEMPT") and str(params.get("address", "")).endswith(f":{port}"):
            ours.add(src)
        elif kind in ("SOCKET_BYTES_SENT", "SOCKET_BYTES_RECEIVED") and src in ours and "bytes" in params:
            arrow = ">>>" if kind == "SOCKET_BYTES_SENT" else "<<<"
            data = base64.b64decode(params["bytes"]).decode("utf-8", "replace")
            out.append(f"{arrow} socket {src} t={ev['time']}\n{data}")
    return "\n".join(out) or f"(no exchange with port {port} in the network log)"


def server_log_has(server: conftest.Server, pattern: str, timeout: float = 5.0) -> str:
    """Until Waxwing's log has a line matching `pattern`; returns it."""
    deadline = time.monotonic() + timeout
    while True:
        for line in server.log.read_text(errors="replace").splitlines():
            if re.search(pattern, line):
                return line
        if time.monotonic() > deadline:
            raise AssertionError(f"no line matching {pattern!r} in Waxwing's log within {timeout} s")
        time.sleep(0.1)


def post_bosh(url: str, body: str) -> str:
    req = urllib.request.Request(url, body.encode(), {"Content-Type": "text/xml; charset=utf-8"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read().decode()


# Strophe's BOSH requests as the page sees them: each {rid, age (s)}.
REQUESTS_JS = "const p = window.waxwing.connection()._proto; return p._requests.map((r) => ({rid: r.rid, age: r.age()}));"
# How long Converse must have had one request held, nothing else going on, to count as idle.
IDLE = 2.0
# A message pushed on a held request arrives at once: well under `wait` (60 s).
PROMPT = 3.0
# While Strophe is paused and nothing is held, nothing can come: this long to be sure.
GAP = 1.0


async def bosh_flow(page: browser.Converse, server: conftest.Server, url: str) -> None:
    juliet = Client(server, JULIET, PASSWORD)
    try:
        await juliet.online()
        await juliet.available()
        # Converse -> slixmpp and back, as over WebSocket.
        text = "hello juliet, from Converse over bosh"
        await asyncio.to_thread(page.send, JULIET, text)
        msg = await juliet.next_message(lambda m: m["body"] == text)
        assert msg["from"].bare == ROMEO and msg["type"] == "chat", msg
        romeo = msg["from"]
        reply = "hello romeo, from slixmpp (bosh)"
        juliet.send_message(mto=romeo, mbody=reply, mtype="chat")
        got = await asyncio.to_thread(page.wait_received, reply, JULIET)
        assert got["type"] == "chat", got

        # Idle: one request held at Waxwing for IDLE s, nothing else in flight.
        held = await asyncio.to_thread(
            page.wait,
            f"const p = window.waxwing.connection()._proto;"
            f" return p._requests.length === 1 && p._requests[0].age() > {IDLE} && p._requests[0].rid;",
            what=f"one BOSH request held for {IDLE} s (Converse idle)",
        )
        idle = "while Converse is idle"
        sent_at = time.monotonic()
        juliet.send_message(mto=romeo, mbody=idle, mtype="chat")
        await asyncio.to_thread(page.wait_received, idle, JULIET, PROMPT)
        took = time.monotonic() - sent_at
        assert took < PROMPT, took
        print(f"\nidle: pushed on the held request in {took:.2f} s")
        rids = [r["rid"] for r in await asyncio.to_thread(page.eval, REQUESTS_JS)]
        assert str(held) not in map(str, rids), (held, rids)  # it came back, with the message

        # Between held requests: Strophe paused, so when its held request
        # comes back (with `first`) it sends no other; `second` then reaches
        # Waxwing with no request to carry it, and must wait for the next.
        # Strophe sends its next request ~100 ms after the last came back:
        # pause only once that one is held, or `first` has nothing to ride on.
        await asyncio.to_thread(
            page.wait,
            "const c = window.waxwing.connection(), p = c._proto;"
            " if (p._requests.length === 1 && p._requests[0].age() > 0.5) { c.pause(); return true; }"
            " return false;",
            what="one BOSH request held, then Strophe paused",
        )
        first, second = "first, while paused", "second, between requests"
        juliet.send_message(mto=romeo, mbody=first, mtype="chat")
        await asyncio.to_thread(page.wait_received, first, JULIET, PROMPT)
        await asyncio.to_thread(
            page.wait,
            "return window.waxwing.connection()._proto._requests.length === 0;",
            what="no BOSH request in flight while paused",
        )
        juliet.send_message(mto=romeo, mbody=second, mtype="chat")
        await asyncio.sleep(GAP)
        st = await asyncio.to_thread(page.state)
        assert second not in [m["body"] for m in st["received"]], st["received"]
        assert await asyncio.to_thread(page.eval, REQUESTS_JS) == []
        await asyncio.to_thread(page.eval, "window.waxwing.connection().resume(); return null;")
        resumed_at = time.monotonic()
        await asyncio.to_thread(page.wait_received, second, JULIET, PROMPT)
        took = time.monotonic() - resumed_at
        assert took < PROMPT, took
        print(f"gap: kept {GAP} s with no request held, then carried by the next in {took:.2f} s")
        # And the session still works both ways after that.
        after = "after the pause, from Converse"
        await asyncio.to_thread(page.send, JULIET, after)
        await juliet.next_message(lambda m: m["body"] == after)

        # Logout: Strophe's type='terminate' body with unavailable presence.
        sid = await asyncio.to_thread(page.eval, "return window.waxwing.connection()._proto.sid;")
        assert sid, sid
        # Converse drops its connection object on logout: keep Strophe's to look at.
        await asyncio.to_thread(
            page.eval,
            "const c = window.strophe_before_logout = window.waxwing.connection();"
            " await window.waxwing.api.user.logout(); return null;",
        )
        await asyncio.to_thread(
            page.wait,
            # Converse keeps its last status on a logout; Strophe's connection says.
            "const w = window.waxwing, c = window.strophe_before_logout;"
            " return !w.connected && w.events.some(([e]) => e === 'disconnected')"
            " && !c.connected && !c.authenticated && c._proto.sid === null;",
            what="Converse logged out (disconnected)",
        )
        line = server_log_has(server, rf"session ended.*{re.escape(romeo.full)}|{re.escape(romeo.full)}.*session ended")
        print(f"\nWaxwing: {line.strip()}")
        # The sid is gone: a request in it is refused.
        gone = await asyncio.to_thread(post_bosh, url, f"<body xmlns='http://jabber.org/protocol/httpbind' sid='{sid}' rid='1'/>")
        assert "type='terminate'" in gone.replace('"', "'") and "item-not-found" in gone, gone
        # Strophe's terminate was answered by Waxwing's (Converse logs what came in).
        console = (await asyncio.to_thread(page.log))["console"]
        answered = [c for c in console if "darkgoldenrod" in c and re.search(r"<body [^>]*type=.terminate", c)]
        assert answered, console[-20:]
        st = await asyncio.to_thread(page.state)
        assert [e for e, _ in st["events"]].count("connected") == 1, st["events"]
        assert "disconnected" in [e for e, _ in st["events"]], st["events"]
    finally:
        await juliet.leave()


def test_converse_chats_through_waxwing_bosh(tmp_path):
    browser.require_browser()
    started = time.monotonic()
    netlog = tmp_path / "netlog.json"
    args = [f"--log-net-log={netlog}", "--net-log-capture-mode=Everything"]
    with conftest.running(users=["romeo", "juliet"]) as server:
        host, http_port = server.http
        url = f"http://{host}:{http_port}/http-bind"
        try:
            with browser.Browser(args=args, log_dir=tmp_path / "browser") as b:
                page = b.converse("romeo", ROMEO, PASSWORD, bosh_service_url=url)
                try:
                    full = page.wait_connected()
                    assert full.split("/")[0] == ROMEO, full
                    assert page.transport() == "bosh"
                    assert page.service() == url
                    shot = page.screenshot(tmp_path / "converse-bosh.png")
                    data = shot.read_bytes()
                    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000, (shot, len(data))

                    asyncio.run(asyncio.wait_for(bosh_flow(page, server, url), FLOW_TIMEOUT))

                    log = page.log()
                    assert page.foreign_requests() == [], log["requests"]
                    assert not log["failed"], log["failed"]
                    assert url in log["requests"], log["requests"]
                finally:
                    with contextlib.suppress(Exception):
                        (tmp_path / "console.log").write_text("\n".join(page.log()["console"]))
        except BaseException:
            print(server.log_tail(120))
            print("--- HTTP to Waxwing (Chromium's network log) ---")
            print(netlog_exchanges(netlog, http_port)[-30_000:])
            raise
    print(f"\nbosh: {time.monotonic() - started:.1f} s (Chromium {b.version})")


# -- HTTP upload (XEP-0363)

UPLOAD_NAME = "wax wing é.bin"
# Not a CORS-safelisted type: the PUT's Content-Type must be allowed by the preflight too.
UPLOAD_TYPE = "application/octet-stream"


def upload_bytes(n: int) -> bytes:
    """`n` bytes, none of its 64 KiB chunks alike."""
    out, i = bytearray(), 0
    while len(out) < n:
        out += hashlib.sha256(b"converse %d" % i).digest()
        i += 1
    return bytes(out[:n])


def download(url: str, cafile: str):
    """GET `url` as juliet's side would (trusting the server's certificate):
    (status, headers, body)."""
    ctx = ssl.create_default_context(cafile=cafile) if url.startswith("https:") else None
    try:
        with urllib.request.urlopen(url, timeout=10, context=ctx) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def netlog_plaintext(path) -> list[str]:
    """Every HTTP/1.1 byte Chromium sent or read, per event, as text
    (decrypted for TLS): what went over the wire to any server."""
    text = pathlib.Path(path).read_text(errors="replace")
    try:
        log = json.loads(text)
    except ValueError:
        # Not closed (Chromium killed): the constants on the first line, then
        # one event a line; a torn last line is dropped.
        lines = text.splitlines()
        log = {"constants": json.loads(lines[0].rstrip().rstrip(",") + "}")["constants"], "events": []}
        for line in lines[2:]:
            with contextlib.suppress(ValueError):
                log["events"].append(json.loads(line.rstrip().rstrip(",")))
    types = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    wanted = {"SOCKET_BYTES_SENT", "SOCKET_BYTES_RECEIVED", "SSL_SOCKET_BYTES_SENT", "SSL_SOCKET_BYTES_RECEIVED"}
    return [
        base64.b64decode(ev["params"]["bytes"]).decode("utf-8", "replace")
        for ev in log.get("events", [])
        if types.get(ev.get("type")) in wanted and "bytes" in (ev.get("params") or {})
    ]


async def upload_flow(page: browser.Converse, server: conftest.Server, data: bytes) -> str:
    juliet = Client(server, JULIET, PASSWORD)
    try:
        await juliet.online()
        await juliet.available()
        url = await asyncio.to_thread(page.send_file, JULIET, UPLOAD_NAME, UPLOAD_TYPE, data)
        # juliet gets the GET URL as the body and as XEP-0066 out-of-band data.
        msg = await juliet.next_message(lambda m: m["body"] == url)
        assert msg["from"].bare == ROMEO and msg["type"] == "chat", msg
        oob = msg.xml.find("{jabber:x:oob}x/{jabber:x:oob}url")
        assert oob is not None and oob.text == url, msg
        # ... and downloads what the page uploaded.
        status, headers, body = await asyncio.to_thread(download, url, server.cert_path)
        assert status == 200, (status, body[:300])
        assert len(body) == len(data) and body == data, (len(body), len(data))
        assert headers["Content-Type"] == UPLOAD_TYPE, dict(headers)
        return url
    finally:
        await juliet.leave()


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_converse_uploads_a_file_through_waxwing(tmp_path, scheme):
    """Converse over WebSocket sends a file to juliet (slixmpp) through its
    upload button: the service found by disco on `localhost`, a slot from
    upload.localhost, the PUT from the page's origin (http://127.0.0.1:<the
    page's port>) to another (the kernel's listener: a CORS preflight, as
    the file's type is not a safelisted one), and its URL in a message.
    `https`: the default listeners, so URLs are https://localhost:<https
    port>; `http`: no HTTPS listener, so http://localhost:<http port>. juliet
    downloads the very bytes, and so does the page itself with fetch()
    (cross-origin: the GET's Access-Control-Allow-Origin)."""
    browser.require_browser()
    started = time.monotonic()
    netlog = tmp_path / "netlog.json"
    args = [f"--log-net-log={netlog}", "--net-log-capture-mode=Everything"]
    listen = "https = []" if scheme == "http" else ""
    data = upload_bytes(150_001)
    with conftest.running(users=["romeo", "juliet"], listen_toml=listen) as server:
        host, http_port = server.http
        files_port = server.https[1] if scheme == "https" else http_port
        base = f"{scheme}://localhost:{files_port}/upload/"
        try:
            with browser.Browser(args=args, log_dir=tmp_path / "browser") as b:
                page = b.converse("romeo", ROMEO, PASSWORD, websocket_url=f"ws://{host}:{http_port}/xmpp-websocket")
                try:
                    page.wait_connected()
                    assert page.transport() == "websocket"
                    # What Converse found by disco: the service and its limit (XEP-0128 form).
                    assert page.wait_upload_service("localhost") == "upload.localhost"
                    found = page.eval(
                        """const [item] = await window.waxwing.api.disco.features.get(arg, 'localhost');
                        const form = item?.dataforms.where({FORM_TYPE: {value: arg, type: 'hidden'}}).pop();
                        return {jid: item?.id ?? null, max: form?.attributes['max-file-size']?.value ?? null};""",
                        "urn:xmpp:http:upload:0",
                    )
                    assert found == {"jid": "upload.localhost", "max": str(10 << 20)}, found

                    url = asyncio.run(asyncio.wait_for(upload_flow(page, server, data), FLOW_TIMEOUT))
                    assert url.startswith(base), (url, base)
                    assert urllib.parse.unquote(url.rsplit("/", 1)[1]) == UPLOAD_NAME, url
                    origin = page.eval("return location.origin;")
                    assert origin.startswith("http://127.0.0.1:") and not url.startswith(origin), (origin, url)

                    # The page reads the file back cross-origin, as web clients
                    # do to show (or decrypt) media.
                    got = page.eval(
                        """const r = await fetch(arg, {mode: 'cors'});
                        const bytes = new Uint8Array(await r.arrayBuffer());
                        const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
                        return {status: r.status, type: r.headers.get('content-type'), length: bytes.length,
                                sha256: [...digest].map((b) => b.toString(16).padStart(2, '0')).join('')};""",
                        url,
                    )
                    assert got == {
                        "status": 200,
                        "type": UPLOAD_TYPE,
                        "length": len(data),
                        "sha256": hashlib.sha256(data).hexdigest(),
                    }, got
                    # The chat shows the file's URL as a link.
                    page.wait(
                        "return [...document.querySelectorAll(arg.sel)].some((a) => a.href === arg.url);",
                        {"sel": page._chat(JULIET) + " .chat-msg__text a", "url": url},
                        what="the uploaded file's link shown in the chat",
                    )
                    log = page.log()
                    assert page.foreign_requests() == [], log["requests"]
                    assert not log["failed"], log["failed"]
                    assert any(r.startswith(base) and "token=" in r for r in log["requests"]), log["requests"]
                finally:
                    with contextlib.suppress(Exception):
                        (tmp_path / "console.log").write_text("\n".join(page.log()["console"]))
            # Chromium's own record (closed with the browser): the preflight
            # for the PUT, and Waxwing's answer allowing it.
            wire = netlog_plaintext(netlog)
            path = urllib.parse.urlsplit(url).path
            preflight = [t for t in wire if t.startswith(f"OPTIONS {path}?token=")]
            assert preflight, [t.split("\r\n", 1)[0] for t in wire]
            asked = preflight[0].lower()
            assert "access-control-request-method: put" in asked and "origin: http://127.0.0.1:" in asked, asked
            allowed = [t.lower() for t in wire if t.lower().startswith("http/1.1 2") and "access-control-allow-methods" in t.lower()]
            assert any("put" in t.split("access-control-allow-methods:", 1)[1].split("\r\n", 1)[0] for t in allowed), allowed
            put = [t for t in wire if t.startswith(f"PUT {path}?token=")]
            assert put and f"content-length: {len(data)}" in put[0].lower(), put[:1]
        except BaseException:
            print(server.log_tail(80))
            raise
    print(f"\nupload ({scheme}): {time.monotonic() - started:.1f} s (Chromium {b.version})")
