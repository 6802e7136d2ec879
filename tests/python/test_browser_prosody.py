"""The browser harness (browser.py) proven against Debian's Prosody 0.12,
which already serves WebSocket (RFC 7395) and BOSH (XEP-0206): Converse.js
in headless Chromium logs in as alice@web.test and chats with bob, a slixmpp
client on Prosody's c2s port.

- over WebSocket: ws://127.0.0.41:5280/xmpp-websocket;
- over BOSH: http://127.0.0.41:5280/http-bind;
- by XEP-0156 discovery: Converse fetches https://web.test/.well-known/host-meta
  (Chromium's --host-rules send web.test:443 to Prosody's HTTPS port,
  127.0.0.41:5281, whose self-signed certificate Chromium is told to
  accept), whose XRD names wss://web.test/xmpp-websocket.

Each checks the transport Converse used, a message each way (typed into the
chat and shown in it), a screenshot of the logged-in page (a PNG), and that
the page asked for nothing beyond loopback. The page is served from
127.0.0.1 on another port: every endpoint is cross-origin (CORS for BOSH
and host-meta; WebSocket has no CORS, Prosody checks no Origin).

Prosody runs on 127.0.0.41 with c2s on 5222, HTTP on 5280 and HTTPS on 5281,
no s2s. Missing Prosody skips loudly (or fails under WAXWING_REQUIRE_PEERS or
CI); missing Chromium or tests/web/node_modules likewise under
WAXWING_REQUIRE_BROWSER (./dev test sets both).
"""

import asyncio
import logging
import os
import time

import pytest

import browser
import conftest
import peers
from conftest import Client

logging.getLogger("slixmpp").setLevel(logging.WARNING)

ADDRESS = "127.0.0.41"
DOMAIN = "web.test"
HTTP_PORT, HTTPS_PORT = 5280, 5281
PASSWORD = "web-pw-1"
# The whole test, Prosody and Chromium starting included.
FLOW_TIMEOUT = 60.0

HOST_META = f"""<?xml version='1.0' encoding='utf-8'?>
<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>
  <Link rel="urn:xmpp:alt-connections:websocket" href="wss://{DOMAIN}/xmpp-websocket"/>
  <Link rel="urn:xmpp:alt-connections:xbosh" href="https://{DOMAIN}/http-bind"/>
</XRD>
"""


class WebProsody(peers.Prosody):
    """Prosody serving `domain` to clients only: c2s on address:5222, HTTP on
    address:5280 and HTTPS on :5281 with mod_websocket (/xmpp-websocket),
    mod_bosh (/http-bind) and mod_http_files serving <dir>/well-known at
    /.well-known (host-meta). No s2s, no MUC."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, muc=False, **kwargs)
        self.http_port, self.https_port = HTTP_PORT, HTTPS_PORT
        # Peer.start checks these two ports are free and waits for them: c2s and HTTP.
        self.s2s_port = self.http_port
        self.well_known = self.dir / "well-known"

    def write_config(self) -> None:
        q = peers._lua_string
        (self.dir / "data").mkdir(exist_ok=True)
        self.well_known.mkdir(exist_ok=True)
        (self.well_known / "host-meta").write_text(HOST_META)
        ssl = f"certificate = {q(self.cert.cert)}; key = {q(self.cert.key)};"
        self.config.write_text(f"""-- Written by tests/python/test_browser_prosody.py
run_as_root = {"true" if os.geteuid() == 0 else "false"}
data_path = {q(self.dir / "data")}
log = {{ {"debug" if self.debug else "info"} = {q(self.log)} }}
interfaces = {{ {q(self.address)} }}
c2s_ports = {{ {self.c2s_port} }}
c2s_direct_tls_ports = {{ }}
s2s_ports = {{ }}
s2s_direct_tls_ports = {{ }}
component_ports = {{ }}
http_ports = {{ {self.http_port} }}
http_interfaces = {{ {q(self.address)} }}
https_ports = {{ {self.https_port} }}
https_interfaces = {{ {q(self.address)} }}
https_ssl = {{ {ssl} }}
-- Requests whose Host names no VirtualHost (an address) go to this one.
http_default_host = {q(self.domain)}
modules_enabled = {{
    "roster"; "saslauth"; "tls"; "disco"; "ping"; "version"; "time";
    "private"; "vcard_legacy"; "carbons"; "pep"; "blocklist";
    "bosh"; "websocket"; "http_files";
}}
-- The WebSocket and BOSH sessions count as encrypted over plain http on loopback.
consider_websocket_secure = true
consider_bosh_secure = true
-- Deprecated in 0.12 (CORS is on by default for BOSH and WebSocket) but harmless.
cross_domain_websocket = true
cross_domain_bosh = true
http_files_dir = {q(self.well_known)}
http_paths = {{ files = "/.well-known" }}
authentication = "internal_hashed"
storage = "internal"
allow_registration = false
c2s_require_encryption = true
ssl = {{ {ssl} }}
certificates = {q(self.cert.cert.parent)}

VirtualHost {q(self.domain)}
    ssl = {{ {ssl} }}
""")


def require():
    reason = peers.unavailable(["prosody"])
    if reason:
        conftest.not_available("the browser test against Prosody", reason, "WAXWING_REQUIRE_PEERS")
    browser.require_browser()


async def chat(page: browser.Converse, prosody: WebProsody, tag: str) -> None:
    alice, bob = prosody.jid("alice"), prosody.jid("bob")
    bob_client = Client(prosody, bob, PASSWORD)
    try:
        await bob_client.online()
        await bob_client.available()
        # Converse -> slixmpp: typed into the chat, shown there, received.
        text = f"hello bob, from Converse over {tag}"
        await asyncio.to_thread(page.send, bob, text)
        msg = await bob_client.next_message(lambda m: m["body"] == text)
        assert msg["from"].bare == alice and msg["type"] == "chat", msg
        # slixmpp -> Converse: received and shown in the chat with bob.
        reply = f"hello alice, from slixmpp ({tag})"
        bob_client.send_message(mto=msg["from"], mbody=reply, mtype="chat")
        got = await asyncio.to_thread(page.wait_received, reply, bob)
        assert got["type"] == "chat", got
    finally:
        await bob_client.leave()


@pytest.mark.parametrize("transport", ["websocket", "bosh", "host-meta"])
def test_converse_chats_through_prosody(tmp_path, transport):
    require()
    started = time.monotonic()
    hosts = peers.write_hosts(tmp_path / "hosts", {ADDRESS: [DOMAIN]})
    users = {"alice": PASSWORD, "bob": PASSWORD}
    # host-meta is always https://<domain>/.well-known/host-meta: port 443 of web.test.
    rules = {f"{DOMAIN}:443": f"{ADDRESS}:{HTTPS_PORT}"} if transport == "host-meta" else {}
    with (
        peers._running(WebProsody(DOMAIN, ADDRESS, hosts, tmp_path), users) as prosody,
        browser.Browser(host_rules=rules, log_dir=tmp_path / "browser") as b,
    ):
        alice = prosody.jid("alice")
        if transport == "websocket":
            page = b.converse("alice", alice, PASSWORD, websocket_url=f"ws://{ADDRESS}:{HTTP_PORT}/xmpp-websocket")
        elif transport == "bosh":
            page = b.converse("alice", alice, PASSWORD, bosh_service_url=f"http://{ADDRESS}:{HTTP_PORT}/http-bind")
        else:
            page = b.converse("alice", alice, PASSWORD, discover=True)
        full = page.wait_connected()
        assert full.split("/")[0] == alice, full
        want = "bosh" if transport == "bosh" else "websocket"
        assert page.transport() == want
        if transport == "host-meta":
            assert page.service() == f"wss://{DOMAIN}/xmpp-websocket"

        asyncio.run(asyncio.wait_for(chat(page, prosody, transport), FLOW_TIMEOUT))

        shot = page.screenshot(tmp_path / f"converse-{transport}.png")
        data = shot.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000, (shot, len(data))
        assert page.foreign_requests() == [], page.log()["requests"]
        assert not page.log()["failed"], page.log()["failed"]
    print(f"\n{transport}: {time.monotonic() - started:.1f} s (Chromium {b.version})")
