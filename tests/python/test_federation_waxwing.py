"""Waxwing federates with real servers: Debian's Prosody and ejabberd as
s2s peers (peers.py), both directions, by dialback and by SASL EXTERNAL.

One set of servers per authentication variant (the module-scoped `fed`
fixture), all on loopback addresses of their own with s2s on port 5269:

- Waxwing serves waxwing.test (and its MUC service conference.waxwing.test)
  on 127.0.0.33; it reaches the peers through `[s2s] routes`;
- Prosody serves prosody.test (conference.prosody.test) on 127.0.0.31;
- ejabberd serves ejabberd.test (conference.ejabberd.test) on 127.0.0.32;
- a second Prosody serves rogue.test on 127.0.0.34 with a certificate for
  another domain, wrong.test;

and the peers resolve every name from the one hosts file written before any
of them starts.

`dialback`: every certificate is self-signed, so no server can prove its
domain by certificate and every stream is authenticated by dialback
(XEP-0220) over STARTTLS. `sasl-external`: every certificate comes from one
test CA that all trust; Waxwing has `ca_file` = the CA,
`require_valid_certificate = true` and `dialback = false`, the peers their
secure options (Prosody's s2s_secure_auth, ejabberd without
mod_s2s_dialback), so every stream is authenticated by SASL EXTERNAL
(XEP-0178).

For each peer, in each variant:

- a Waxwing user and a peer user subscribe to each other (the handshake
  started from each side), see each other's presence and a change of it,
  and chat both ways;
- iqs across: software version and disco#info of the other server and
  disco#info of the other's MUC service, from each side;
- a peer user joins a room at conference.waxwing.test and talks with a
  Waxwing occupant, and a Waxwing user joins a room on the peer's MUC
  service and does the same;
- Waxwing's log says which method authenticated the streams both ways
  ("authenticated by SASL EXTERNAL" / "by dialback"), and never the other.

rogue.test's certificate (for wrong.test) proves nothing about rogue.test:
under dialback that does not matter (dialback proves the domain) and its
user chats with a Waxwing user; where Waxwing requires valid certificates
it is refused both ways: a message to the rogue user bounces with
remote-server-not-found (or -timeout), and the rogue user's message is
bounced back to them by their own server and never reaches Waxwing.

Every wait is bounded (conftest.TIMEOUT per step, FLOW_TIMEOUT per test).
Missing Prosody or ejabberd skips the tests loudly, or fails them when
WAXWING_REQUIRE_PEERS (set by ./dev test) or CI is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import pathlib
import re
import sys
import time
import xml.etree.ElementTree as ET

import pytest

import conftest
import peers
from conftest import PASSWORD, TIMEOUT, Client

WX_DOMAIN, WX_ADDR = "waxwing.test", "127.0.0.33"
PROSODY_DOMAIN, PROSODY_ADDR = "prosody.test", "127.0.0.31"
EJABBERD_DOMAIN, EJABBERD_ADDR = "ejabberd.test", "127.0.0.32"
ROGUE_DOMAIN, ROGUE_ADDR, ROGUE_CERT_NAME = "rogue.test", "127.0.0.34", "wrong.test"
WX_MUC = f"conference.{WX_DOMAIN}"
PEER_PASSWORD = "peer-pw-1"
# One test's whole conversation, s2s connections and authentication included.
FLOW_TIMEOUT = 45.0

KINDS = ["prosody", "ejabberd"]
AUTHS = ["dialback", "sasl-external"]
# Each test has accounts of its own: on Waxwing "<role>_<peer kind>", on the
# peers "<role>".
ROLES = ["chat", "iq", "host", "guest", "auth"]
WX_USERS = [f"{role}_{kind}" for role in ROLES for kind in KINDS] + ["rogue_friend", "bystander"]
PEER_USERS = {role: PEER_PASSWORD for role in ROLES}

ROSTER = "jabber:iq:roster"
VERSION = "jabber:iq:version"
DISCO_INFO = "http://jabber.org/protocol/disco#info"
MUC = "http://jabber.org/protocol/muc"
MUC_USER = "http://jabber.org/protocol/muc#user"
MUC_OWNER = "http://jabber.org/protocol/muc#owner"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
ONLINE = {"available", "chat", "away", "xa", "dnd"}


def require_peers():
    reason = peers.unavailable()
    if reason:
        conftest.not_available("the Waxwing federation tests", reason, "WAXWING_REQUIRE_PEERS")


# ------------------------------------------------------------ the servers


class WaxwingEndpoint:
    """What a conftest Client needs of a server (c2s, direct_tls, cert_path,
    log_tail) for a Waxwing vhost whose certificate is not the generated
    localhost.crt: the client trusts `trust` (the self-signed certificate
    itself, or the test CA)."""

    def __init__(self, server: conftest.Server, trust: pathlib.Path):
        self.server = server
        self.trust = trust

    @property
    def c2s(self):
        return self.server.c2s

    @property
    def direct_tls(self):
        return self.server.direct_tls

    @property
    def cert_path(self) -> str:
        return str(self.trust)

    def log_tail(self, lines: int = 60) -> str:
        return self.server.log_tail(lines)

    def jid(self, user: str) -> str:
        return f"{user}@{WX_DOMAIN}"


@dataclasses.dataclass
class Federation:
    auth: str
    wx: WaxwingEndpoint
    prosody: peers.Prosody
    ejabberd: peers.Ejabberd
    rogue: peers.Prosody

    def peer(self, kind: str) -> peers.Peer:
        return {"prosody": self.prosody, "ejabberd": self.ejabberd}[kind]

    def waxwing_log(self) -> str:
        return self.wx.server.log.read_text(errors="replace")

    def logs(self) -> str:
        """Every server's log tail, for a failure."""
        parts = [self.wx.server.log_tail(150)]
        parts += [p.log_tail(60) for p in (self.prosody, self.ejabberd, self.rogue)]
        return "\n".join(parts)


def waxwing_toml(auth: str, cert: peers.Cert) -> str:
    routes = {
        name: f"{address}:{peers.S2S_PORT}"
        for address, domain, muc in (
            (PROSODY_ADDR, PROSODY_DOMAIN, True),
            (EJABBERD_ADDR, EJABBERD_DOMAIN, True),
            (ROGUE_ADDR, ROGUE_DOMAIN, False),
        )
        for name in peers.served_names(domain, muc)
    }
    s2s = [
        "[s2s]",
        "routes = { " + ", ".join(f"{json.dumps(d)} = {json.dumps(a)}" for d, a in routes.items()) + " }",
        "connect_timeout_secs = 10",
    ]
    if auth == "sasl-external":
        s2s += [
            f"ca_file = {json.dumps(str(cert.ca.cert))}",
            "require_valid_certificate = true",
            "dialback = false",
        ]
    return "\n".join(s2s) + f"""

[[vhost]]
domain = {json.dumps(WX_DOMAIN)}
cert = {json.dumps(str(cert.cert))}
key = {json.dumps(str(cert.key))}
"""


@pytest.fixture(scope="module", params=AUTHS)
def fed(request, tmp_path_factory):
    """Waxwing, Prosody, ejabberd and the rogue Prosody, for one variant."""
    require_peers()
    auth = request.param
    tmp = tmp_path_factory.mktemp(f"federation-{auth}")
    hosts = peers.write_hosts(
        tmp / "hosts",
        {
            WX_ADDR: peers.served_names(WX_DOMAIN),
            PROSODY_ADDR: peers.served_names(PROSODY_DOMAIN),
            EJABBERD_ADDR: peers.served_names(EJABBERD_DOMAIN),
            ROGUE_ADDR: peers.served_names(ROGUE_DOMAIN, muc=False),
        },
    )
    ca = peers.make_ca(tmp / "ca") if auth == "sasl-external" else None
    secure = ca is not None

    def cert(domain: str, muc: bool = True) -> peers.Cert:
        return peers.make_cert(tmp / "certs" / domain, peers.served_names(domain, muc), ca)

    wx_cert = cert(WX_DOMAIN)
    # A certificate for another domain: from the CA (or self-signed), valid
    # in every way but for rogue.test. Its Prosody is not secure itself:
    # only Waxwing's checks may refuse it.
    rogue_cert = peers.make_cert(tmp / "certs" / ROGUE_CERT_NAME, [ROGUE_CERT_NAME], ca)
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(
            conftest.running(
                waxwing_toml(auth, wx_cert),
                WX_USERS,
                listen_toml=f's2s = ["{WX_ADDR}:{peers.S2S_PORT}"]',
                domain=WX_DOMAIN,
            )
        )
        p = stack.enter_context(
            peers.prosody(PROSODY_DOMAIN, PROSODY_ADDR, hosts, tmp, users=PEER_USERS,
                          secure=secure, cert=cert(PROSODY_DOMAIN))
        )
        e = stack.enter_context(
            peers.ejabberd(EJABBERD_DOMAIN, EJABBERD_ADDR, hosts, tmp, users=PEER_USERS,
                           secure=secure, cert=cert(EJABBERD_DOMAIN))
        )
        rogue = stack.enter_context(
            peers.prosody(ROGUE_DOMAIN, ROGUE_ADDR, hosts, tmp, users={"mallory": PEER_PASSWORD},
                          secure=False, cert=rogue_cert, muc=False)
        )
        yield Federation(auth, WaxwingEndpoint(server, wx_cert.trust), p, e, rogue)


def run(fed: Federation, flow):
    """Runs one test's coroutine with the whole flow bounded; on a failure
    the servers' log tails go to stderr (shown under the failed test)."""
    try:
        asyncio.run(asyncio.wait_for(flow, FLOW_TIMEOUT))
    except BaseException:
        print(f"\n{fed.logs()}", file=sys.stderr)
        raise


# ------------------------------------------------------------ the client


class FedClient(Client):
    """A conftest client that answers no subscription on its own (the test
    does each step and checks it arrived) and records every presence and
    message it receives, in order."""

    def __init__(self, server, jid, password):
        super().__init__(server, jid, password)
        if getattr(server, "domain", None) == ROGUE_DOMAIN:
            # rogue.test's certificate names wrong.test: its own user trusts
            # the certificate (or its CA) without checking the name.
            self.ssl_context.check_hostname = False
        self.roster.auto_authorize = None  # neither approve nor refuse (False refuses)
        self.roster.auto_subscribe = False
        self.seen: list = []  # presences
        self.got: list = []  # messages, errors included
        self.add_event_handler("message_error", self.messages.put_nowait)

    async def _wait(self, log: list, queue: asyncio.Queue, pred, what: str):
        deadline = time.monotonic() + TIMEOUT
        checked = 0
        while True:
            for item in log[checked:]:
                if pred(item):
                    return item
            checked = len(log)
            left = deadline - time.monotonic()
            if left <= 0:
                got = [summary(s) for s in log]
                raise AssertionError(f"{self.boundjid}: no {what} within {TIMEOUT}s; got {got}")
            with contextlib.suppress(asyncio.TimeoutError):
                log.append(await asyncio.wait_for(queue.get(), left))

    async def presence(self, frm: str, types=ONLINE, full: bool = False, pred=lambda p: True):
        """The first presence received (ever) of one of `types` from `frm`
        (a bare JID, or a full one with `full`) that also satisfies `pred`."""

        def match(p):
            sender = p["from"].full if full else p["from"].bare
            return sender == frm and p["type"] in types and pred(p)

        return await self._wait(self.seen, self.presences, match, f"presence {types} from {frm}")

    async def message(self, pred, what: str):
        """The first message received (ever) satisfying `pred`."""
        return await self._wait(self.got, self.messages, pred, what)

    async def ready(self):
        """Online, roster fetched (Prosody sends subscription presences and
        roster pushes only to an "interested" resource, RFC 6121 2.1.6),
        available presence reflected."""
        await self.online()
        await self.get_roster(timeout=TIMEOUT)
        await self.available()
        return self

    async def subscription(self, contact: str) -> str:
        """The contact's subscription in the whole roster, fetched from the
        server now (no version: a versioned get may answer with pushes)."""
        res = await self.query(None, ROSTER)
        for item in res.xml.iter(f"{{{ROSTER}}}item"):
            if item.get("jid") == contact:
                return item.get("subscription", "none")
        return "absent"

    async def query(self, to: str | None, xmlns: str):
        iq = self.make_iq_get(queryxmlns=xmlns, ito=to)
        return await iq.send(timeout=TIMEOUT)

    def join(self, room: str, nick: str):
        """A MUC join (XEP-0045 7.2) asking for no history."""
        p = self.make_presence(pto=f"{room}/{nick}")
        x = ET.SubElement(p.xml, f"{{{MUC}}}x")
        ET.SubElement(x, f"{{{MUC}}}history", maxstanzas="0")
        p.send()

    async def configure_instant(self, room: str):
        """Accepts the default configuration of a new room (XEP-0045 10.1.2):
        a locked room opens to others."""
        iq = self.make_iq_set(ito=room)
        q = ET.SubElement(iq.xml, f"{{{MUC_OWNER}}}query")
        ET.SubElement(q, "{jabber:x:data}x", type="submit")
        res = await iq.send(timeout=TIMEOUT)
        assert res["type"] == "result", res


def summary(stanza) -> tuple:
    body = stanza.xml.findtext("{jabber:client}body")
    return (stanza.name, stanza["type"], stanza["from"].full, body)


def statuses(p) -> set[str]:
    return {s.get("code") for s in p.xml.iter(f"{{{MUC_USER}}}status")}


def error_condition(stanza) -> str | None:
    err = stanza.xml.find("{jabber:client}error")
    if err is None:
        return None
    for child in err:
        if child.tag.startswith(f"{{{STANZAS}}}") and not child.tag.endswith("}text"):
            return child.tag.split("}", 1)[1]
    return None


def identities(res) -> list[tuple[str, str]]:
    return [(i.get("category"), i.get("type")) for i in res.xml.iter(f"{{{DISCO_INFO}}}identity")]


@contextlib.asynccontextmanager
async def clients(*specs):
    """FedClients for (server, jid) pairs, ready, all disconnected afterwards."""
    made = []
    try:
        for server, jid in specs:
            c = FedClient(server, jid, PASSWORD if server_is_waxwing(server) else PEER_PASSWORD)
            made.append(c)
            await c.ready()
        yield made
    finally:
        for c in made:
            await c.leave()


def server_is_waxwing(server) -> bool:
    return isinstance(server, WaxwingEndpoint)


# ------------------------------------------------------------ the tests


@pytest.mark.parametrize("kind", KINDS)
def test_contacts_subscribe_see_presence_and_chat(fed, kind):
    peer = fed.peer(kind)
    w_jid, r_jid = fed.wx.jid(f"chat_{kind}"), peer.jid("chat")

    async def flow():
        async with clients((fed.wx, w_jid), (peer, r_jid)) as (w, r):
            # The Waxwing user asks, the peer user approves: the peer user's
            # presence reaches Waxwing.
            w.send_presence(pto=r_jid, ptype="subscribe")
            await r.presence(w_jid, {"subscribe"})
            r.send_presence(pto=w_jid, ptype="subscribed")
            await w.presence(r_jid, {"subscribed"})
            await w.presence(r.boundjid.full, full=True)

            # The peer user asks, the Waxwing user approves.
            r.send_presence(pto=w_jid, ptype="subscribe")
            await w.presence(r_jid, {"subscribe"})
            w.send_presence(pto=r_jid, ptype="subscribed")
            await r.presence(w_jid, {"subscribed"})
            await r.presence(w.boundjid.full, full=True)

            assert await w.subscription(r_jid) == "both"
            assert await r.subscription(w_jid) == "both"

            # A presence change each way.
            w.send_presence(pshow="away", pstatus="out to lunch")
            p = await r.presence(w.boundjid.full, full=True, pred=lambda p: p["show"] == "away")
            assert p["status"] == "out to lunch"
            r.send_presence(pshow="dnd", pstatus="busy")
            p = await w.presence(r.boundjid.full, full=True, pred=lambda p: p["show"] == "dnd")
            assert p["status"] == "busy"

            # A chat message each way.
            w.send_message(mto=r_jid, mbody=f"hello {kind}, from waxwing", mtype="chat")
            m = await r.message(lambda m: m["body"] == f"hello {kind}, from waxwing", "waxwing's chat")
            assert m["from"].full == w.boundjid.full and m["type"] == "chat"
            r.send_message(mto=w.boundjid.full, mbody=f"hello waxwing, from {kind}", mtype="chat")
            m = await w.message(lambda m: m["body"] == f"hello waxwing, from {kind}", f"{kind}'s chat")
            assert m["from"].full == r.boundjid.full and m["type"] == "chat"

    run(fed, flow())


@pytest.mark.parametrize("kind", KINDS)
def test_iqs_reach_the_other_server_and_its_muc_service(fed, kind):
    peer = fed.peer(kind)

    async def flow():
        async with clients((fed.wx, fed.wx.jid(f"iq_{kind}")), (peer, peer.jid("iq"))) as (w, r):
            # Waxwing user -> the peer server and its MUC service.
            res = await w.query(peer.domain, VERSION)
            assert res["type"] == "result" and res["from"].full == peer.domain, res
            name = res.xml.findtext(f"{{{VERSION}}}query/{{{VERSION}}}name")
            assert name == {"prosody": "Prosody", "ejabberd": "ejabberd"}[kind], res
            res = await w.query(peer.domain, DISCO_INFO)
            assert ("server", "im") in identities(res), res
            res = await w.query(f"conference.{peer.domain}", DISCO_INFO)
            assert res["from"].full == f"conference.{peer.domain}"
            assert ("conference", "text") in identities(res), res

            # Peer user -> Waxwing and its MUC service.
            res = await r.query(WX_DOMAIN, VERSION)
            assert res["type"] == "result" and res["from"].full == WX_DOMAIN, res
            assert res.xml.findtext(f"{{{VERSION}}}query/{{{VERSION}}}name") == "Waxwing", res
            res = await r.query(WX_DOMAIN, DISCO_INFO)
            assert ("server", "im") in identities(res), res
            features = {f.get("var") for f in res.xml.iter(f"{{{DISCO_INFO}}}feature")}
            assert VERSION in features, features
            res = await r.query(WX_MUC, DISCO_INFO)
            assert res["from"].full == WX_MUC
            assert ("conference", "text") in identities(res), res

    run(fed, flow())


async def room_talk(owner: FedClient, guest: FedClient, room: str):
    """`owner` creates `room` (instant), `guest` joins it, and they exchange
    groupchat messages, each seeing both."""
    owner.join(room, "owner")
    me = await owner.presence(f"{room}/owner", full=True, pred=lambda p: "110" in statuses(p))
    assert "201" in statuses(me), f"a new room: {me}"
    await owner.configure_instant(room)

    guest.join(room, "guest")
    # The guest sees the owner, then itself (110); the owner sees the guest.
    await guest.presence(f"{room}/owner", full=True)
    await guest.presence(f"{room}/guest", full=True, pred=lambda p: "110" in statuses(p))
    await owner.presence(f"{room}/guest", full=True)

    def groupchat(nick: str, body: str):
        return lambda m: (
            m["type"] == "groupchat" and m["from"].full == f"{room}/{nick}" and m["body"] == body
        )

    guest.send_message(mto=room, mbody="hello room", mtype="groupchat")
    for c in (owner, guest):
        await c.message(groupchat("guest", "hello room"), f"the guest's groupchat in {room}")
    owner.send_message(mto=room, mbody="welcome, guest", mtype="groupchat")
    for c in (owner, guest):
        await c.message(groupchat("owner", "welcome, guest"), f"the owner's groupchat in {room}")


@pytest.mark.parametrize("kind", KINDS)
def test_a_peer_user_talks_in_a_waxwing_room(fed, kind):
    peer = fed.peer(kind)
    room = f"lounge_{kind}@{WX_MUC}"

    async def flow():
        async with clients((fed.wx, fed.wx.jid(f"host_{kind}")), (peer, peer.jid("guest"))) as (w, r):
            await room_talk(w, r, room)

    run(fed, flow())


@pytest.mark.parametrize("kind", KINDS)
def test_a_waxwing_user_talks_in_a_peer_room(fed, kind):
    peer = fed.peer(kind)
    room = f"den@conference.{peer.domain}"

    async def flow():
        async with clients((peer, peer.jid("host")), (fed.wx, fed.wx.jid(f"guest_{kind}"))) as (r, w):
            await room_talk(r, w, room)

    run(fed, flow())


# Waxwing's info lines (kernel/src/s2s/inbound.rs, outbound.rs).
INBOUND_AUTH = re.compile(r'server-to-server stream authenticated by (SASL EXTERNAL|dialback)')
OUTBOUND_AUTH = re.compile(r'server-to-server connection authenticated by (SASL EXTERNAL|dialback)')
FIELD = r'\b{}="?([A-Za-z0-9.-]+)"?'


def auth_lines(log: str) -> list[tuple[str, str, str, str]]:
    """(direction, method, local, remote) for each authentication Waxwing logged."""
    out = []
    for line in log.splitlines():
        for direction, pattern in (("in", INBOUND_AUTH), ("out", OUTBOUND_AUTH)):
            m = pattern.search(line)
            if m:
                local = re.search(FIELD.format("local"), line)
                remote = re.search(FIELD.format("remote"), line)
                out.append((direction, m.group(1), local and local.group(1), remote and remote.group(1)))
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_waxwing_logs_how_each_stream_was_authenticated(fed, kind):
    peer = fed.peer(kind)
    method = {"dialback": "dialback", "sasl-external": "SASL EXTERNAL"}[fed.auth]

    async def flow():
        async with clients((fed.wx, fed.wx.jid(f"auth_{kind}")), (peer, peer.jid("auth"))) as (w, r):
            # An iq each way: both directions have an authenticated stream
            # (each answer comes back on the other direction's stream).
            assert (await w.query(peer.domain, VERSION))["type"] == "result"
            assert (await r.query(WX_DOMAIN, VERSION))["type"] == "result"

    run(fed, flow())
    got = auth_lines(fed.waxwing_log())
    mine = [g for g in got if g[3] in peers.served_names(peer.domain)]
    for direction in ("in", "out"):
        assert (direction, method, WX_DOMAIN, peer.domain) in mine, (
            f"no {direction}bound '{method}' line for {WX_DOMAIN} <-> {peer.domain}: {got}\n{fed.wx.log_tail(80)}"
        )
    assert all(g[1] == method for g in got), f"every stream is authenticated by {method}: {got}"


def test_a_certificate_for_another_domain(fed):
    """rogue.test presents a certificate for wrong.test: accepted by dialback
    when Waxwing does not require valid certificates, refused both ways when
    it does."""
    rogue = fed.rogue
    m_jid, w_jid = rogue.jid("mallory"), fed.wx.jid("rogue_friend")
    refused = fed.auth == "sasl-external"

    async def flow():
        async with clients((fed.wx, w_jid), (rogue, m_jid), (fed.wx, fed.wx.jid("bystander"))) as (w, m, b):
            # Waxwing -> rogue.test.
            w.send_message(mto=m_jid, mbody="to the rogue", mtype="chat")
            if refused:
                bounce = await w.message(
                    lambda x: x["type"] == "error" and x["from"].bare == m_jid, "the bounce from rogue.test"
                )
                assert error_condition(bounce) in ("remote-server-not-found", "remote-server-timeout"), bounce
            else:
                got = await m.message(lambda x: x["body"] == "to the rogue", "waxwing's message")
                assert got["from"].full == w.boundjid.full

            # rogue.test -> Waxwing.
            m.send_message(mto=w_jid, mbody="from the rogue", mtype="chat")
            if refused:
                # Its own server gives the message back: it can no longer
                # arrive. A marker sent after that by a local user shows it
                # never did.
                bounce = await m.message(
                    lambda x: x["type"] == "error" and x["from"].bare == w_jid, "the bounce from rogue.test's server"
                )
                assert error_condition(bounce) in ("remote-server-not-found", "remote-server-timeout"), bounce
                b.send_message(mto=w_jid, mbody="marker", mtype="chat")
                await w.message(lambda x: x["body"] == "marker", "the marker")
                assert not [x for x in w.got if x["from"].bare == m_jid and x["type"] != "error"], [
                    summary(x) for x in w.got
                ]
            else:
                got = await w.message(lambda x: x["body"] == "from the rogue", "the rogue's message")
                assert got["from"].full == m.boundjid.full

    run(fed, flow())
    rogue_auth = [g for g in auth_lines(fed.waxwing_log()) if g[3] == ROGUE_DOMAIN]
    if refused:
        assert rogue_auth == [], rogue_auth
        assert "'rogue.test' presented no certificate that proves its domain" in fed.waxwing_log()
    else:
        assert ("in", "dialback", WX_DOMAIN, ROGUE_DOMAIN) in rogue_auth, rogue_auth
        assert ("out", "dialback", WX_DOMAIN, ROGUE_DOMAIN) in rogue_auth, rogue_auth
