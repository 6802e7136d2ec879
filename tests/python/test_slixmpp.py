"""A real third-party client, slixmpp, against the waxwing binary.

Every test runs its coroutine with asyncio.run and bounds every wait.
"""

import asyncio
import contextlib
import logging

import slixmpp
from slixmpp.exceptions import IqError

from conftest import PASSWORD

TIMEOUT = 10.0

DISCO_INFO = "http://jabber.org/protocol/disco#info"
DISCO_ITEMS = "http://jabber.org/protocol/disco#items"

logging.getLogger("slixmpp").setLevel(logging.WARNING)


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
        self.add_event_handler("session_start", self._on_start)
        self.add_event_handler("auth_success", self._on_auth)
        self.add_event_handler("failed_auth", self._on_failed_auth)
        self.add_event_handler("disconnected", self._on_disconnected)
        self.add_event_handler("stream_error", self._on_stream_error)
        self.add_event_handler("message", self.messages.put_nowait)
        self.add_event_handler("presence", self.presences.put_nowait)

    def _on_start(self, _event):
        if not self.started.done():
            self.started.set_result(True)

    def _on_auth(self, _event):
        self.mechanism = self.plugin["feature_mechanisms"].mech.name

    def _on_failed_auth(self, stanza):
        if not self.auth_failed.done():
            self.auth_failed.set_result(stanza["condition"])

    def _on_disconnected(self, reason):
        if not self.gone.done():
            self.gone.set_result(reason)

    def _on_stream_error(self, error):
        self.stream_errors.append(error["condition"])

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
async def online(server, user, **kwargs):
    """A logged-in client as `user@localhost` (or a full JID), always disconnected afterwards."""
    jid = user if "@" in user else f"{user}@localhost"
    password = kwargs.pop("password", PASSWORD)
    c = Client(server, jid, password, **kwargs)
    try:
        await c.online()
        yield c
    finally:
        await c.leave()


def run(coro):
    asyncio.run(asyncio.wait_for(coro, 60))


def test_login_scram_sha_256_is_the_default_choice(server):
    async def main():
        async with online(server, "romeo") as c:
            assert c.mechanism == "SCRAM-SHA-256", c.mechanism
            assert c.boundjid.bare == "romeo@localhost"
            assert c.boundjid.resource

    run(main())


def test_login_scram_sha_1(server):
    async def main():
        async with online(server, "romeo", sasl_mech="SCRAM-SHA-1") as c:
            assert c.mechanism == "SCRAM-SHA-1", c.mechanism

    run(main())


def test_login_plain(server):
    async def main():
        async with online(server, "romeo", sasl_mech="PLAIN") as c:
            assert c.mechanism == "PLAIN", c.mechanism

    run(main())


def test_login_over_direct_tls(server):
    async def main():
        async with online(server, "romeo@localhost/direct", direct_tls=True) as c:
            assert c.boundjid.full == "romeo@localhost/direct"

    run(main())


def test_chat_both_ways(server):
    async def main():
        async with online(server, "juliet@localhost/balcony") as juliet, online(server, "romeo@localhost/garden") as romeo:
            romeo.send_message(mto=juliet.boundjid, mbody="But soft!", mtype="chat")
            msg = await juliet.next_message()
            assert msg["from"] == romeo.boundjid
            assert msg["body"] == "But soft!"
            assert msg["type"] == "chat"
            juliet.send_message(mto=romeo.boundjid, mbody="Wherefore art thou", mtype="chat")
            msg = await romeo.next_message()
            assert msg["from"] == juliet.boundjid
            assert msg["body"] == "Wherefore art thou"

    run(main())


def test_two_resources_of_one_account(server):
    async def main():
        async with online(server, "nurse@localhost/one") as one, online(server, "nurse@localhost/two") as two:
            assert one.boundjid.full == "nurse@localhost/one"
            assert two.boundjid.full == "nurse@localhost/two"
            one.send_message(mto="nurse@localhost/two", mbody="to my other self", mtype="chat")
            msg = await two.next_message()
            assert msg["from"].full == "nurse@localhost/one"
            assert msg["body"] == "to my other self"

    run(main())


def test_message_to_bare_jid_reaches_the_highest_priority_resource(server):
    async def main():
        async with online(server, "tybalt@localhost/high") as high, online(
            server, "tybalt@localhost/low"
        ) as low, online(server, "mercutio") as sender:
            await high.available(priority=10)
            await low.available(priority=1)
            sender.send_message(mto="tybalt@localhost", mbody="to the bare JID", mtype="chat")
            sender.send_message(mto="tybalt@localhost/low", mbody="marker", mtype="chat")
            msg = await high.next_message()
            assert msg["body"] == "to the bare JID"
            assert msg["from"] == sender.boundjid
            # The low-priority resource sees the marker first: the bare message never reached it.
            msg = await low.next_message()
            assert msg["body"] == "marker"

    run(main())


def test_xep0199_ping_the_server(server):
    async def main():
        async with online(server, "benvolio", plugins=["xep_0199"]) as c:
            iq = await c.plugin["xep_0199"].send_ping("localhost", timeout=TIMEOUT)
            assert iq["type"] == "result"
            assert iq["from"] == "localhost"

    run(main())


def test_xep0030_disco_info_lists_the_plugin_features(server):
    async def main():
        async with online(server, "benvolio", plugins=["xep_0030"]) as c:
            iq = await c.plugin["xep_0030"].get_info(jid="localhost", local=False, cached=False, timeout=TIMEOUT)
            features = set(iq["disco_info"]["features"])
            for want in ("urn:xmpp:ping", "urn:xmpp:time", "jabber:iq:version", DISCO_INFO, DISCO_ITEMS):
                assert want in features, f"{want} missing from {sorted(features)}"
            identities = {(cat, typ) for cat, typ, _lang, _name in iq["disco_info"]["identities"]}
            assert ("server", "im") in identities, identities

    run(main())


def test_xep0092_version(server):
    async def main():
        async with online(server, "benvolio", plugins=["xep_0092"]) as c:
            iq = await c.plugin["xep_0092"].get_version("localhost", timeout=TIMEOUT)
            assert iq["type"] == "result"
            assert iq["software_version"]["name"] == "Waxwing"
            assert iq["software_version"]["version"]

    run(main())


def test_unknown_iq_to_the_server_is_an_error(server):
    async def main():
        async with online(server, "benvolio") as c:
            iq = c.make_iq_get(queryxmlns="urn:example:nothing-here", ito="localhost")
            try:
                await iq.send(timeout=TIMEOUT)
            except IqError as e:
                assert e.iq["error"]["condition"] == "service-unavailable"
            else:
                raise AssertionError("an unknown iq was answered with a result")

    run(main())


def test_wrong_password_fails_with_an_auth_failure(server):
    async def main():
        c = Client(server, "romeo@localhost", "not the password")
        try:
            c.start()
            done, _ = await asyncio.wait([c.started, c.auth_failed], timeout=TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
            assert c.auth_failed in done, "no failed_auth event"
            assert not c.started.done(), "a session started with a wrong password"
            assert c.auth_failed.result() == "not-authorized", c.auth_failed.result()
        finally:
            await c.leave()

    run(main())


def test_server_shutdown_disconnects_clients(fresh_server):
    fresh_server.add_users([("alpha@localhost", PASSWORD), ("beta@localhost", PASSWORD)])

    async def main():
        a = await Client(fresh_server, "alpha@localhost", PASSWORD).online()
        b = await Client(fresh_server, "beta@localhost/b", PASSWORD).online()
        # Don't let slixmpp reconnect to a server that is going away.
        for c in (a, b):
            c.add_event_handler("disconnected", lambda _r, c=c: c.cancel_connection_attempt())
        code = await asyncio.wait_for(asyncio.to_thread(fresh_server.terminate), 40)
        assert code == 0, f"exit code {code}\n{fresh_server.log_tail()}"
        for c in (a, b):
            await asyncio.wait_for(asyncio.shield(c.gone), TIMEOUT)
            assert "system-shutdown" in c.stream_errors, c.stream_errors

    run(main())
