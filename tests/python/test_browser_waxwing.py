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

Each checks the transport and URL Converse used, a message each way (typed
into the chat and shown in it), a screenshot of the logged-in page (a PNG),
and that the page asked for nothing beyond loopback. Missing Chromium or
tests/web/node_modules skips loudly (or fails under WAXWING_REQUIRE_BROWSER,
set by ./dev test, or CI).

WAXWING_SCREENSHOT=<path> also saves the websocket test's screenshot there
(how docs/converse-waxwing.png was made).
"""

import asyncio
import logging
import os
import shutil
import time

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
