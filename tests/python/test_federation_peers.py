"""Prosody and ejabberd federate through the federation harness (peers.py):
the harness itself, before any Waxwing federation test relies on it.

Prosody serves prosody.test on 127.0.0.21 and ejabberd serves ejabberd.test
on 127.0.0.22, each with s2s on 5269 of its own address, both resolving
names from the one hosts file the test writes. Their certificates are
self-signed, so each authenticates the other by dialback (XEP-0220) over
STARTTLS. Two slixmpp clients, alice@prosody.test and bob@ejabberd.test:

- alice subscribes to bob and bob approves, then bob to alice and alice
  approves (RFC 6121 3.1, each stanza crossing s2s), and each sees the
  other's available presence; both rosters end with subscription "both";
- a chat message each way;
- alice asks ejabberd.test its software version (XEP-0092) and disco#info
  of conference.ejabberd.test (a second s2s route, to a subdomain), bob asks
  disco#info of prosody.test (XEP-0030).

Every wait is bounded (TIMEOUT, and the whole flow FLOW_TIMEOUT). Missing
Prosody or ejabberd skips the test loudly, or fails it when
WAXWING_REQUIRE_PEERS (set by ./dev test) or CI is set.
"""

import asyncio
import logging
import time

import pytest

import conftest
import peers
from conftest import TIMEOUT, Client

logging.getLogger("slixmpp").setLevel(logging.WARNING)

PROSODY_ADDR, EJABBERD_ADDR = "127.0.0.21", "127.0.0.22"
PROSODY_DOMAIN, EJABBERD_DOMAIN = "prosody.test", "ejabberd.test"
PASSWORD = "peer-pw-1"
# The whole conversation, s2s connections and dialback included.
FLOW_TIMEOUT = 40.0

ROSTER = "jabber:iq:roster"
VERSION = "jabber:iq:version"
DISCO_INFO = "http://jabber.org/protocol/disco#info"
ONLINE = {"available", "chat", "away", "xa", "dnd"}


def require_peers():
    reason = peers.unavailable()
    if reason:
        conftest.not_available("the federation peers test", reason, "WAXWING_REQUIRE_PEERS")


class PeerClient(Client):
    """A conftest client that answers no subscription on its own: the test
    does each step of the handshake and checks it arrived."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.roster.auto_authorize = None  # neither approve nor refuse (False refuses)
        self.roster.auto_subscribe = False
        self.seen = []  # every presence received, in order

    async def presence(self, frm: str, types=ONLINE, full: bool = False):
        """Waits until a presence of one of `types` from `frm` (a bare JID, or
        a full one with `full`) has been received; returns it."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            for p in self.seen:
                sender = p["from"].full if full else p["from"].bare
                if sender == frm and p["type"] in types:
                    return p
            left = deadline - time.monotonic()
            if left <= 0:
                got = [(p["from"].full, p["type"]) for p in self.seen]
                raise AssertionError(f"{self.boundjid}: no presence {types} from {frm} within {TIMEOUT}s; got {got}")
            try:
                self.seen.append(await asyncio.wait_for(self.presences.get(), left))
            except asyncio.TimeoutError:
                pass

    async def subscription(self, contact: str) -> str:
        """The contact's subscription in the whole roster, fetched from the
        server now (no version: a versioned get may answer with pushes)."""
        res = await self.query(None, ROSTER)
        for item in res.xml.iter(f"{{{ROSTER}}}item"):
            if item.get("jid") == contact:
                return item.get("subscription", "none")
        return "absent"

    async def query(self, to: str, xmlns: str):
        iq = self.make_iq_get(queryxmlns=xmlns, ito=to)
        return await iq.send(timeout=TIMEOUT)


async def conversation(p: peers.Prosody, e: peers.Ejabberd):
    alice_jid, bob_jid = p.jid("alice"), e.jid("bob")
    alice = PeerClient(p, alice_jid, PASSWORD)
    bob = PeerClient(e, bob_jid, PASSWORD)
    try:
        for c in (alice, bob):
            await c.online()
            # A client that asked for its roster is "interested" (RFC 6121
            # 2.1.6): Prosody sends subscription presences and roster pushes
            # to no other.
            await c.get_roster(timeout=TIMEOUT)
            await c.available()

        # alice asks, bob approves: bob's presence reaches alice.
        alice.send_presence(pto=bob_jid, ptype="subscribe")
        await bob.presence(alice_jid, {"subscribe"})
        bob.send_presence(pto=alice_jid, ptype="subscribed")
        await alice.presence(bob_jid, {"subscribed"})
        await alice.presence(bob.boundjid.full, full=True)

        # bob asks, alice approves: alice's presence reaches bob.
        bob.send_presence(pto=alice_jid, ptype="subscribe")
        await alice.presence(bob_jid, {"subscribe"})
        alice.send_presence(pto=bob_jid, ptype="subscribed")
        await bob.presence(alice_jid, {"subscribed"})
        await bob.presence(alice.boundjid.full, full=True)

        assert await alice.subscription(bob_jid) == "both"
        assert await bob.subscription(alice_jid) == "both"

        # A chat message each way.
        alice.send_message(mto=bob_jid, mbody="hello bob, from prosody", mtype="chat")
        msg = await bob.next_message(lambda m: m["body"] == "hello bob, from prosody")
        assert msg["from"].full == alice.boundjid.full and msg["type"] == "chat"
        bob.send_message(mto=alice_jid, mbody="hello alice, from ejabberd", mtype="chat")
        msg = await alice.next_message(lambda m: m["body"] == "hello alice, from ejabberd")
        assert msg["from"].full == bob.boundjid.full and msg["type"] == "chat"

        # iqs to the other server and its MUC service.
        res = await alice.query(EJABBERD_DOMAIN, VERSION)
        assert res["from"].full == EJABBERD_DOMAIN
        assert res.xml.findtext(f"{{{VERSION}}}query/{{{VERSION}}}name") == "ejabberd"
        res = await alice.query(f"conference.{EJABBERD_DOMAIN}", DISCO_INFO)
        identities = [(i.get("category"), i.get("type")) for i in res.xml.iter(f"{{{DISCO_INFO}}}identity")]
        assert ("conference", "text") in identities, identities
        res = await bob.query(PROSODY_DOMAIN, DISCO_INFO)
        assert res["from"].full == PROSODY_DOMAIN
        identities = [(i.get("category"), i.get("type")) for i in res.xml.iter(f"{{{DISCO_INFO}}}identity")]
        assert ("server", "im") in identities, identities
        features = {f.get("var") for f in res.xml.iter(f"{{{DISCO_INFO}}}feature")}
        assert VERSION in features, features
    finally:
        await alice.leave()
        await bob.leave()


@pytest.mark.parametrize("auth", ["dialback", "sasl-external"])
def test_prosody_and_ejabberd_federate(tmp_path, auth):
    require_peers()
    hosts = peers.write_hosts(
        tmp_path / "hosts",
        {
            PROSODY_ADDR: peers.served_names(PROSODY_DOMAIN),
            EJABBERD_ADDR: peers.served_names(EJABBERD_DOMAIN),
        },
    )
    certs = {}
    if auth == "sasl-external":
        # Certificates from one test CA both trust, and no dialback on either side.
        ca = peers.make_ca(tmp_path / "ca")
        for domain in (PROSODY_DOMAIN, EJABBERD_DOMAIN):
            certs[domain] = dict(cert=peers.make_cert(tmp_path / "ca", peers.served_names(domain), ca), secure=True)
    with (
        peers.prosody(PROSODY_DOMAIN, PROSODY_ADDR, hosts, tmp_path, users={"alice": PASSWORD},
                      **certs.get(PROSODY_DOMAIN, {})) as p,
        peers.ejabberd(EJABBERD_DOMAIN, EJABBERD_ADDR, hosts, tmp_path, users={"bob": PASSWORD},
                       **certs.get(EJABBERD_DOMAIN, {})) as e,
    ):
        asyncio.run(asyncio.wait_for(conversation(p, e), FLOW_TIMEOUT))
        mech = "EXTERNAL" if auth == "sasl-external" else "dialback"
        log = e.log.read_text(errors="replace")
        assert f"Accepted inbound s2s {mech} authentication {PROSODY_DOMAIN} -> {EJABBERD_DOMAIN}" in log
