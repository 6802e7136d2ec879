"""@xmpp/client (xmpp.js, from npm, pinned in tests/web/package-lock.json)
against Waxwing's XMPP over WebSocket (RFC 7395): tests/web/xmpp-client.mjs
connects to ws://127.0.0.1:<http port>/xmpp-websocket as romeo@localhost,
authenticates (it picks SCRAM-SHA-1: plain ws:// to loopback counts as
secure on both sides), binds, sends juliet (a slixmpp client on the c2s
port) a message, receives her reply, and closes cleanly: its <close/>
answered by the server's, then the WebSocket's closing handshake.

The script prints one JSON line per step; its stderr is every WebSocket
message each way (shown with the server's log when the test fails).
Missing node or tests/web/node_modules/@xmpp/client skips loudly, or fails
under WAXWING_REQUIRE_BROWSER (./dev test sets it) or CI, like the browser
tests.
"""

import asyncio
import json
import logging
import shutil
import time

import browser
import conftest
from conftest import PASSWORD, Client

logging.getLogger("slixmpp").setLevel(logging.WARNING)

SCRIPT = browser.WEB / "xmpp-client.mjs"
XMPP_CLIENT = browser.WEB / "node_modules" / "@xmpp" / "client" / "package.json"
# The whole exchange, node starting included.
FLOW_TIMEOUT = 15.0
ROMEO, JULIET = "romeo@localhost", "juliet@localhost"
FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"


def require():
    reasons = []
    if shutil.which("node") is None:
        reasons.append("node is not installed")
    if not XMPP_CLIENT.is_file():
        reasons.append(f"{XMPP_CLIENT.relative_to(conftest.REPO)} is missing")
    if reasons:
        conftest.not_available(
            "the @xmpp/client test",
            "; ".join(reasons) + ": ./dev setup installs them (npm ci --prefix tests/web)",
            "WAXWING_REQUIRE_BROWSER",
        )


class Node:
    """xmpp-client.mjs as a subprocess: its JSON lines, and its stderr (the
    frames) in a file."""

    def __init__(self, proc, log):
        self.proc = proc
        self.log = log
        self.lines = []

    async def next(self, want: str) -> dict:
        line = await asyncio.wait_for(self.proc.stdout.readline(), FLOW_TIMEOUT)
        if not line:
            raise AssertionError(f"xmpp-client.mjs exited ({await self.proc.wait()}) waiting for {want!r}")
        event = json.loads(line)
        self.lines.append(event)
        assert event["event"] == want, event
        return event

    def frames(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return "(none)"


async def exchange(server: conftest.Server, tmp_path) -> dict:
    host, port = server.http
    args = {
        "service": f"ws://{host}:{port}/xmpp-websocket",
        "domain": "localhost",
        "username": "romeo",
        "password": PASSWORD,
        "resource": "xmpp-js",
        "peer": JULIET,
        "text": "hello juliet, from @xmpp/client over WebSocket",
        "reply": "hello romeo, from slixmpp",
        "timeout": int(FLOW_TIMEOUT * 1000),
    }
    juliet = Client(server, JULIET, PASSWORD)
    log = tmp_path / "xmpp-client.log"
    node = None
    try:
        await juliet.online()
        await juliet.available()
        with open(log, "wb") as err:
            proc = await asyncio.create_subprocess_exec(
                "node", "--experimental-websocket", str(SCRIPT), json.dumps(args),
                cwd=browser.WEB, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=err,
            )
        node = Node(proc, log)
        try:
            online = await node.next("online")
            assert online["jid"] == f"{ROMEO}/xmpp-js", online
            assert online["mechanism"] in ("SCRAM-SHA-1", "PLAIN"), online
            await node.next("sent")
            msg = await juliet.next_message(lambda m: m["body"] == args["text"])
            assert msg["from"].full == online["jid"] and msg["type"] == "chat", msg
            juliet.send_message(mto=msg["from"], mbody=args["reply"], mtype="chat")
            got = await node.next("received")
            assert got["from"].split("/")[0] == JULIET and got["type"] == "chat", got
            closed = await node.next("closed")
            assert await asyncio.wait_for(proc.wait(), FLOW_TIMEOUT) == 0
        except BaseException:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            raise
        return {"online": online, "closed": closed, "frames": node.frames()}
    except BaseException:
        print(f"--- xmpp-client.mjs: {node.lines if node else None}\n{node.frames() if node else ''}--- end ---")
        print(server.log_tail(80))
        raise
    finally:
        await juliet.leave()


def test_xmpp_client_over_websocket(tmp_path):
    require()
    started = time.monotonic()
    with conftest.running(users=["romeo", "juliet"]) as server:
        result = asyncio.run(exchange(server, tmp_path))
        closed = result["closed"]
        # Its <close/> was answered by the server's, and the WebSocket closed
        # with its closing handshake.
        assert closed["close"] is not None and "<close" in closed["close"] and FRAMING in closed["close"], closed
        assert closed["clean"] is True, closed
        assert closed["status"] in ("offline", "disconnect"), closed
        # The server saw the session start and end.
        log = server.log.read_text(errors="replace")
        assert f"authenticated with {result['online']['mechanism']}" in log
        assert any("session ended" in line and f"jid={ROMEO}/xmpp-js" in line for line in log.splitlines()), log
    print(f"\n@xmpp/client: {result['online']['mechanism']}, closed {closed}, {time.monotonic() - started:.1f} s")
