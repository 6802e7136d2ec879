"""XEP-0163 Personal Eventing Protocol as a stock client (slixmpp) uses it:
the `pep` plugin makes every account's bare JID a pubsub service, on the
default config (caps, roster, vcard, pubsub and pep among the defaults).

The clients publish with slixmpp's own plugins where it has a call
(xep_0172 nickname, xep_0084 avatar, xep_0222 / xep_0223 public and private
storage, xep_0402 bookmarks stored the XEP-0223 way, xep_0054 vCards) and
raw stanzas where it has none (OMEMO, markers, bad requests). Their interest
in a node is what XEP-0163 §approach-filter says: `<node>+notify` in their
XEP-0115 caps (slixmpp's `xep_0163.add_interest`), sent in presence; the
server checks the caps with a disco#info query that slixmpp answers, and a
client goes on only once the caps plugin says its caps are verified.

Each test names its flow and points at its section of XEP-0163 (1.2.2),
XEP-0060 (1.30, by anchor), XEP-0222, XEP-0223, XEP-0402, XEP-0084,
XEP-0172, XEP-0384 (0.9 and the legacy eu.siacs.conversations.axolotl
namespace) and XEP-0398. The tests share one server (`pep_server`) and each
uses accounts of its own, named after XEP-0163's cast: juliet-<tag> publishes
(resources "balcony" and "chamber"), romeo-<tag> has a mutual presence
subscription with her, benvolio-<tag> has none.

Every client queues each message it gets (`inbox`) in arrival order. That a
notification did NOT arrive is shown with a marker: Juliet publishes an
item to an open node of her own (MARK) that every watcher hears (her
resources and Romeo by caps +notify and presence, Benvolio by an explicit
subscription of his full JID); each watcher's stanzas before the marker are
exactly what the action under test sent it. Every test runs its coroutine
with asyncio.run and bounds every wait.
"""

import asyncio
import base64
import contextlib
import dataclasses
import datetime
import hashlib
import itertools
import logging
import struct
import xml.etree.ElementTree as ET
import zlib

import pytest
from slixmpp.exceptions import IqError
from slixmpp.xmlstream import ElementBase
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

import conftest
from conftest import PASSWORD, TIMEOUT, Server

logging.getLogger("slixmpp").setLevel(logging.WARNING)

DOMAIN = "localhost"

NS_CLIENT = "jabber:client"
NS_PUBSUB = "http://jabber.org/protocol/pubsub"
NS_OWNER = NS_PUBSUB + "#owner"
NS_EVENT = NS_PUBSUB + "#event"
NS_ERRORS = NS_PUBSUB + "#errors"
NS_PUBLISH_OPTIONS = NS_PUBSUB + "#publish-options"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
NS_DATA = "jabber:x:data"
NS_DELAY = "urn:xmpp:delay"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_VCARD = "vcard-temp"
NS_CAPS_RECORD = "urn:waxwing:caps:0"
NS_VCARD_UPDATE = "vcard-temp:x:update"

NS_NICK = "http://jabber.org/protocol/nick"
NS_AVATAR_DATA = "urn:xmpp:avatar:data"
NS_AVATAR_META = "urn:xmpp:avatar:metadata"
NS_BOOKMARKS = "urn:xmpp:bookmarks:1"
NS_TUNE = "http://jabber.org/protocol/tune"
NS_GEOLOC = "http://jabber.org/protocol/geoloc"
NODE_PUBLIC = "urn:xmpp:tmp:pubkey"  # XEP-0222's example node
NODE_PRIVATE = "storage:bookmarks"  # XEP-0223's example node
NS_AXOLOTL = "eu.siacs.conversations.axolotl"
AXOLOTL_DEVICELIST = NS_AXOLOTL + ".devicelist"
AXOLOTL_BUNDLES = NS_AXOLOTL + ".bundles"
NS_OMEMO2 = "urn:xmpp:omemo:2"
OMEMO2_DEVICES = NS_OMEMO2 + ":devices"
OMEMO2_BUNDLES = NS_OMEMO2 + ":bundles"
MARK = "urn:example:pep-test:mark"

# What every test client asks to be notified of (XEP-0163 §approach-filter).
# Not the tune (the filter test), nor the avatar data (XEP-0084
# §process-subretrieve: clients fetch it), nor the OMEMO bundles (fetched to
# build a session, XEP-0384 §usecases-building).
NOTIFY = (NS_NICK, NS_AVATAR_META, NS_BOOKMARKS, NODE_PUBLIC, NODE_PRIVATE, AXOLOTL_DEVICELIST, OMEMO2_DEVICES, MARK)

# XEP-0060 features a PEP service must advertise on the bare JID (XEP-0163
# §support-owner: "all supported XEP-0060 features") that these tests use,
# or XEP-0163 §defaults requires (open/roster/whitelist access), plus XEP-0398.
PEP_FEATURES = {NS_PUBSUB + "#" + f for f in (
    "access-presence", "auto-create", "auto-subscribe",
    "config-node", "create-nodes", "delete-items", "filtered-notifications", "persistent-items", "publish",
    "publish-options", "retrieve-items", "subscribe",
)} | {"urn:xmpp:pep-vcard-conversion:0"}

PLUGINS = ("xep_0030", "xep_0004", "xep_0060", "xep_0115", "xep_0163", "xep_0172", "xep_0084", "xep_0402",
           "xep_0222", "xep_0223", "xep_0054", "xep_0203")

# One set of accounts per test.
TAGS = ["disco", "items", "notify", "filter", "bookmarks", "public", "private", "precond", "axolotl", "omemo2",
        "last", "late", "revoke", "pep2vcard", "vcard2pep", "hash", "foreign", "malformed"]


def cast_names(tag):
    return f"juliet-{tag}", f"romeo-{tag}", f"benvolio-{tag}"


USERS = [u for tag in TAGS for u in cast_names(tag)] + ["lonely", "autocreate", "serverdisco"]


@pytest.fixture(scope="module")
def pep_server():
    with conftest.running(users=USERS) as s:
        yield s


def run(coro):
    asyncio.run(asyncio.wait_for(coro, 120))


def q(tag: str) -> str:
    return f"{{{NS_CLIENT}}}{tag}"


def el(ns, tag, attrib=None, *children, text=None):
    e = ET.Element(f"{{{ns}}}{tag}", attrib or {})
    e.extend(children)
    if text is not None:
        e.text = text
    return e


def tiny_png(rgb=(200, 30, 60)) -> bytes:
    """A valid 1x1 RGB PNG."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" + bytes(rgb))) + chunk(b"IEND", b""))


# ------------------------------------------------------------ the client


class PepClient(conftest.Client):
    """Queues every message in `inbox`, in arrival order. Online means: the
    roster fetched, the +notify interests in its caps, available presence
    sent and reflected, and the caps verified by the server."""

    def __init__(self, server, jid, password, *, notify=NOTIFY, caps=True):
        super().__init__(server, jid, password, plugins=PLUGINS)
        self.notify = tuple(notify)
        # caps=False: a client that sends no XEP-0115 caps at all.
        self.caps = caps
        self.plugin["xep_0115"].broadcast = caps
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.register_handler(
            Callback("pep-test message", MatchXPath(f"{{{self.default_ns}}}message"), self.inbox.put_nowait)
        )
        # XEP-0402 §adding-a-bookmark: the publish-options of a bookmark
        # (xep_0223 adds persist_items and the whitelist).
        self.plugin["xep_0223"].node_profiles[NS_BOOKMARKS] = {
            "pubsub#max_items": "max",
            "pubsub#send_last_published_item": "never",
        }

    def _on_message(self, msg):
        pass  # everything is in `inbox`

    async def online(self):
        await super().online()
        await asyncio.wait_for(self.get_roster(), TIMEOUT)
        if not self.caps:
            await self.available()
            return self
        for ns in self.notify:
            self.plugin["xep_0163"].add_interest(ns)
        await asyncio.wait_for(self.plugin["xep_0115"].update_caps(broadcast=False), TIMEOUT)
        await self.available()
        await self.caps_verified()
        return self

    @property
    def jid(self) -> str:
        return self.boundjid.full

    @property
    def bare(self) -> str:
        return self.boundjid.bare

    async def caps_verified(self):
        """Waits (bounded) until the caps plugin has verified this session's
        caps with every +notify in them (`urn:waxwing:caps:0`, own sessions)."""
        want = {ns + "+notify" for ns in self.notify}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TIMEOUT
        last = None
        while True:
            iq = self.make_iq_get(ito=DOMAIN)
            iq.append(el(NS_CAPS_RECORD, "caps", {"jid": self.jid}))
            try:
                r = await iq.send(timeout=TIMEOUT)
                rec = r.xml.find(f"{{{NS_CAPS_RECORD}}}caps")
                last = r
                if rec is not None and rec.get("verified") == "true":
                    have = {f.get("var") for f in rec.iter(f"{{{NS_DISCO_INFO}}}feature")}
                    assert want <= have, f"{self.jid}: verified caps lack {want - have}: {r}"
                    return
            except IqError as e:
                last = e.iq  # item-not-found: the presence is not recorded yet
            if loop.time() > deadline:
                raise AssertionError(f"{self.jid}: caps not verified within {TIMEOUT}s: {last}\n{self.wx.log_tail()}")
            await asyncio.sleep(0.05)


def online(server, user, resource, **kwargs):
    """A PepClient logged in as user@localhost/resource (`user` a local part
    or a bare JID), always disconnected afterwards."""
    local = user.partition("@")[0]
    return conftest.online(server, f"{local}@{DOMAIN}/{resource}", client=PepClient, **kwargs)


async def eventually(cond, what):
    """Waits (bounded) for state that changes on its own to hold."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while True:
        if await cond():
            return
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def befriend(a, b):
    """RFC 6121 §3: `a` asks for `b`'s presence; both slixmpp clients approve
    and ask back on their own, until both rosters say "both"."""
    await asyncio.wait_for(a.update_roster(b.bare, name=b.boundjid.user), TIMEOUT)
    a.send_presence_subscription(pto=b.bare)

    async def mutual():
        return (a.client_roster[b.bare]["subscription"] == "both"
                and b.client_roster[a.bare]["subscription"] == "both")

    await eventually(mutual, f"a mutual subscription of {a.bare} and {b.bare}")


# ------------------------------------------------------------ reading stanzas


def canon(e):
    """An element as comparable data: tag, attributes, trimmed text, children."""
    if e is None:
        return None
    return (e.tag, tuple(sorted(e.attrib.items())), (e.text or "").strip(), tuple(canon(c) for c in e))


def first_child(e):
    return next(iter(e), None)


@dataclasses.dataclass
class Event:
    frm: str
    to: str
    type: str | None
    node: str | None
    items: list  # [(id, payload element or None)]
    retracts: list  # [id]
    delay: object  # the <delay/> element or None
    stanza: object


def event_of(s):
    """The XEP-0060 §7.1.2.1 notification a message carries, else None."""
    if s.xml.tag != q("message"):
        return None
    ev = s.xml.find(f"{{{NS_EVENT}}}event")
    if ev is None:
        return None
    items = ev.find(f"{{{NS_EVENT}}}items")
    node = items.get("node") if items is not None else None
    its = [] if items is None else [(i.get("id"), first_child(i)) for i in items.findall(f"{{{NS_EVENT}}}item")]
    rts = [] if items is None else [r.get("id") for r in items.findall(f"{{{NS_EVENT}}}retract")]
    return Event(s.xml.get("from") or "", s.xml.get("to") or "", s.xml.get("type"), node, its, rts,
                 s.xml.find(f"{{{NS_DELAY}}}delay"), s)


def is_event(s, node):
    ev = event_of(s)
    return ev is not None and ev.node == node


def is_mark(s, token=None):
    ev = event_of(s)
    return ev is not None and ev.node == MARK and (token is None or token in [i for i, _ in ev.items])


def show(stanzas):
    return "\n".join(str(s) for s in stanzas) or "(nothing)"


def check_items_event(s, owner, to, node, items, what):
    """`s` must be a headline from the owner's bare JID (XEP-0163
    §notify-addressing) to `to` with exactly these (id, payload) items."""
    ev = event_of(s)
    assert ev is not None, f"{what}: not a pubsub event: {s}"
    assert (ev.frm, ev.to, ev.type, ev.node) == (owner, to, "headline", node), (
        f"{what}: expected a headline from {owner} to {to} about {node}: {s}")
    assert ev.retracts == [], f"{what}: {s}"
    assert [(i, canon(p)) for i, p in ev.items] == [(i, canon(p)) for i, p in items], (
        f"{what}: expected the items {[(i, ET.tostring(p).decode() if p is not None else None) for i, p in items]}, "
        f"got {s}")
    return ev


def error_of(stanza):
    """(type, defined condition, pubsub#errors condition or None) of an error stanza."""
    err = stanza.xml.find(q("error"))
    assert err is not None, f"no <error/> in {stanza}"
    conds = [c.tag.rpartition("}")[2] for c in err
             if c.tag.startswith(f"{{{NS_STANZAS}}}") and not c.tag.endswith("}text")]
    apps = [c for c in err if c.tag.startswith(f"{{{NS_ERRORS}}}")]
    return err.get("type"), (conds[0] if conds else None), (apps[0].tag.rpartition("}")[2] if apps else None)


ANY = object()


# ------------------------------------------------------------ requests


async def send_iq(c, itype, to, payload):
    iq = c.make_iq(ito=to, itype=itype)
    iq.append(payload)
    return await iq.send(timeout=TIMEOUT)


async def refused(c, itype, to, payload, etype, condition, app, what):
    """The iq must fail with exactly (etype, condition, app); app ANY: whatever
    pubsub#errors condition (XEP-0060 shows none there)."""
    try:
        res = await send_iq(c, itype, to, payload)
    except IqError as e:
        got = error_of(e.iq)
        want = (etype, condition, got[2] if app is ANY else app)
        assert got == want, f"{what}: expected {want}, got {got}: {e.iq}"
        return e.iq
    raise AssertionError(f"{what} succeeded: {res}")


def pubsub(*children, ns=NS_PUBSUB):
    return el(ns, "pubsub", None, *children)


def form(form_type, fields, ftype="submit"):
    x = el(NS_DATA, "x", {"type": ftype})
    ft = ET.SubElement(x, f"{{{NS_DATA}}}field", {"var": "FORM_TYPE", "type": "hidden"})
    ET.SubElement(ft, f"{{{NS_DATA}}}value").text = form_type
    for var, value in fields.items():
        f = ET.SubElement(x, f"{{{NS_DATA}}}field", {"var": var})
        for v in value if isinstance(value, list) else [value]:
            ET.SubElement(f, f"{{{NS_DATA}}}value").text = v
    return x


def publish_request(node, item_id, *payloads, options=None, with_item=True):
    pub = el(NS_PUBSUB, "publish", {} if node is None else {"node": node})
    if with_item:
        item = ET.SubElement(pub, f"{{{NS_PUBSUB}}}item", {} if item_id is None else {"id": item_id})
        item.extend(payloads)
    ps = pubsub(pub)
    if options is not None:
        ps.append(el(NS_PUBSUB, "publish-options", None, form(NS_PUBLISH_OPTIONS, options)))
    return ps


async def publish(c, node, item_id, payload, *, options=None, to=None):
    """A raw publish (no 'to': the own PEP service, XEP-0163 §publish)."""
    return await send_iq(c, "set", to, publish_request(node, item_id, payload, options=options))


async def items_of(c, owner, node, *, ids=(), max_items=None):
    """XEP-0060 §6.5: the (id, payload) items `c` gets from `owner`'s node."""
    req = el(NS_PUBSUB, "items", {"node": node, **({"max_items": str(max_items)} if max_items else {})})
    for i in ids:
        ET.SubElement(req, f"{{{NS_PUBSUB}}}item", {"id": i})
    r = await send_iq(c, "get", owner, pubsub(req))
    got = r.xml.find(f"{{{NS_PUBSUB}}}pubsub/{{{NS_PUBSUB}}}items")
    assert got is not None and got.get("node") == node, f"no <items node='{node}'/> in {r}"
    return [(i.get("id"), first_child(i)) for i in got.findall(f"{{{NS_PUBSUB}}}item")]


def same_items(got, want):
    return sorted((i, canon(p)) for i, p in got) == sorted((i, canon(p)) for i, p in want)


def show_items(items):
    return [(i, ET.tostring(p).decode() if p is not None else None) for i, p in items]


async def node_config(c, node):
    """XEP-0060 §8.2: the owner's configuration form, as {var: [values]}."""
    r = await send_iq(c, "get", None, pubsub(el(NS_OWNER, "configure", {"node": node}), ns=NS_OWNER))
    x = r.xml.find(f"{{{NS_OWNER}}}pubsub/{{{NS_OWNER}}}configure/{{{NS_DATA}}}x")
    assert x is not None, f"no configuration form: {r}"
    return {f.get("var"): [v.text or "" for v in f.findall(f"{{{NS_DATA}}}value")]
            for f in x.findall(f"{{{NS_DATA}}}field")}


def boolean(values):
    assert len(values) == 1 and values[0] in ("0", "1", "true", "false"), f"not an xs:boolean: {values}"
    return values[0] in ("1", "true")


async def subscribe(c, owner, node, jid):
    r = await send_iq(c, "set", owner, pubsub(el(NS_PUBSUB, "subscribe", {"node": node, "jid": jid})))
    sub = r.xml.find(f"{{{NS_PUBSUB}}}pubsub/{{{NS_PUBSUB}}}subscription")
    assert sub is not None, f"no <subscription/> in {r}"
    return sub


async def disco_info(c, to, node=None):
    r = await send_iq(c, "get", to, el(NS_DISCO_INFO, "query", {"node": node} if node else {}))
    query = r.xml.find(f"{{{NS_DISCO_INFO}}}query")
    ids = {(i.get("category"), i.get("type")) for i in query.findall(f"{{{NS_DISCO_INFO}}}identity")}
    feats = {f.get("var") for f in query.findall(f"{{{NS_DISCO_INFO}}}feature")}
    return ids, feats, r


async def disco_items(c, to):
    r = await send_iq(c, "get", to, el(NS_DISCO_ITEMS, "query"))
    query = r.xml.find(f"{{{NS_DISCO_ITEMS}}}query")
    assert query is not None, f"no disco#items <query/>: {r}"
    return [(i.get("jid"), i.get("node")) for i in query.findall(f"{{{NS_DISCO_ITEMS}}}item")], r


# ------------------------------------------------------------ waiting and markers


async def next_in(c, pred, what):
    """The next stanza in `c`'s inbox matching `pred`, and the stanzas before
    it (markers left out)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    before = []
    while True:
        try:
            s = await asyncio.wait_for(c.inbox.get(), max(deadline - loop.time(), 0.001))
        except TimeoutError:
            raise AssertionError(f"{c.jid} waited {TIMEOUT}s for {what}; got meanwhile:\n{show(before)}") from None
        if pred(s):
            return s, before
        if not is_mark(s):
            before.append(s)


_marks = itertools.count(1)


def mark_payload():
    return el(MARK, "mark")


async def publish_mark(owner):
    token = f"mark-{next(_marks)}"
    # An open node (XEP-0060 access-open), so that one without a presence
    # subscription may subscribe to it.
    await publish(owner, MARK, token, mark_payload(), options={"pubsub#access_model": "open"})
    return token


async def mark(owner, *watchers):
    """`owner` publishes a marker; returns, for each watcher, what it got before it."""
    token = await publish_mark(owner)
    out = []
    for c in watchers:
        _, before = await next_in(c, lambda s: is_mark(s, token), f"the marker {token} of {owner.bare}")
        out.append(before)
    return out


async def nothing_more(owner, *watchers):
    for c, got in zip(watchers, await mark(owner, *watchers)):
        assert got == [], f"{c.jid} got unexpected stanzas:\n{show(got)}"


@dataclasses.dataclass
class Cast:
    juliet: PepClient  # the publisher, resource "balcony"
    chamber: PepClient | None  # Juliet's other resource
    romeo: PepClient  # mutual presence subscription with Juliet
    benvolio: PepClient | None  # no subscription; subscribed to MARK by full JID

    @property
    def watchers(self):
        return [c for c in (self.juliet, self.chamber, self.romeo, self.benvolio) if c is not None]


@contextlib.asynccontextmanager
async def cast(server, tag, *, chamber=True, benvolio=True):
    """Juliet (and her second resource), Romeo with a mutual presence
    subscription, Benvolio with none: online, caps verified, and each
    hearing Juliet's marker node."""
    j, r, b = cast_names(tag)
    async with contextlib.AsyncExitStack() as stack:
        juliet = await stack.enter_async_context(online(server, j, "balcony"))
        ch = await stack.enter_async_context(online(server, j, "chamber")) if chamber else None
        romeo = await stack.enter_async_context(online(server, r, "orchard"))
        ben = await stack.enter_async_context(online(server, b, "street")) if benvolio else None
        await befriend(juliet, romeo)
        await publish_mark(juliet)  # creates the open marker node
        if ben is not None:
            # XEP-0163 §notify-num 1: subscribed by full JID, one notification to it.
            sub = await subscribe(ben, juliet.bare, MARK, ben.jid)
            assert sub.get("subscription") == "subscribed", f"Benvolio's subscription to the open marker node: {sub}"
        c = Cast(juliet, ch, romeo, ben)
        for w, got in zip(c.watchers, await mark(juliet, *c.watchers)):
            assert got == [], f"{w.jid} got stanzas before anything was published:\n{show(got)}"
        yield c


# ------------------------------------------------------------ payloads


def nick(text):
    return el(NS_NICK, "nick", text=text)


def tune(artist, title):
    return el(NS_TUNE, "tune", None, el(NS_TUNE, "artist", text=artist), el(NS_TUNE, "title", text=title))


def avatar_data(image):
    return el(NS_AVATAR_DATA, "data", text=base64.b64encode(image).decode())


def avatar_info(image, **extra):
    return {"id": hashlib.sha1(image).hexdigest(), "type": "image/png", "bytes": str(len(image)),
            "width": "1", "height": "1", **extra}


def avatar_metadata(*infos):
    return el(NS_AVATAR_META, "metadata", None, *(el(NS_AVATAR_META, "info", i) for i in infos))


def conference(name, nick_, autojoin="true"):
    return el(NS_BOOKMARKS, "conference", {"name": name, "autojoin": autojoin}, el(NS_BOOKMARKS, "nick", text=nick_))


def slix_conference(name, nick_):
    """The same conference as slixmpp's xep_0402 builds it."""
    from slixmpp.plugins.xep_0402.stanza import Conference

    c = Conference()
    c["name"] = name
    c["autojoin"] = True
    c["nick"] = nick_
    return c


def axolotl_devicelist(*ids):
    return el(NS_AXOLOTL, "list", None, *(el(NS_AXOLOTL, "device", {"id": i}) for i in ids))


def axolotl_bundle(seed):
    k = lambda n: base64.b64encode(hashlib.sha256(f"{seed}-{n}".encode()).digest()).decode()  # noqa: E731
    return el(NS_AXOLOTL, "bundle", None,
              el(NS_AXOLOTL, "signedPreKeyPublic", {"signedPreKeyId": "1"}, text=k("spk")),
              el(NS_AXOLOTL, "signedPreKeySignature", text=k("spks")),
              el(NS_AXOLOTL, "identityKey", text=k("ik")),
              el(NS_AXOLOTL, "prekeys", None,
                 *(el(NS_AXOLOTL, "preKeyPublic", {"preKeyId": str(i)}, text=k(f"pk{i}")) for i in (1, 2, 3))))


def omemo2_devices():
    return el(NS_OMEMO2, "devices", None,
              el(NS_OMEMO2, "device", {"id": "12345", "label": "Dino on Lenovo Thinkpad T495",
                                       "labelsig": "b64/encoded/data"}),
              el(NS_OMEMO2, "device", {"id": "4223"}))


def omemo2_bundle(seed):
    k = lambda n: base64.b64encode(hashlib.sha256(f"{seed}-{n}".encode()).digest()).decode()  # noqa: E731
    return el(NS_OMEMO2, "bundle", None,
              el(NS_OMEMO2, "spk", {"id": "1"}, text=k("spk")),
              el(NS_OMEMO2, "spks", text=k("spks")),
              el(NS_OMEMO2, "ik", text=k("ik")),
              el(NS_OMEMO2, "prekeys", None, *(el(NS_OMEMO2, "pk", {"id": str(i)}, text=k(f"pk{i}")) for i in (1, 2))))


OPEN = {"pubsub#access_model": "open"}
BOOKMARK_OPTIONS = {"pubsub#persist_items": "true", "pubsub#max_items": "max",
                    "pubsub#send_last_published_item": "never", "pubsub#access_model": "whitelist"}


def slix_options(c, fields):
    """publish-options as a slixmpp form, for its plugins' `options=`."""
    f = c.plugin["xep_0004"].make_form(ftype="submit")
    f.add_field(var="FORM_TYPE", ftype="hidden", value=NS_PUBLISH_OPTIONS)
    for var, value in fields.items():
        f.add_field(var=var, value=value)
    return f


def max_items_is_max(values):
    # "max" means the service's largest max_items (max_items_limit, 10000 by default).
    return values in (["max"], ["10000"])


# ============================================================ discovery


def test_bare_jid_answers_disco_info_as_a_pep_service(pep_server):
    """XEP-0163 §support-owner: the account's bare JID has the identities
    account/registered and pubsub/pep and the XEP-0060 features it supports;
    XEP-0398 §disco: urn:xmpp:pep-vcard-conversion:0 on the account;
    §support-contact: a contact's query gets the same service."""

    async def main():
        async with cast(pep_server, "disco", chamber=False, benvolio=False) as c:
            ids, feats, r = await disco_info(c.juliet, c.juliet.bare)
            assert {("account", "registered"), ("pubsub", "pep")} <= ids, f"identities: {r}"
            assert PEP_FEATURES <= feats, f"missing features {sorted(PEP_FEATURES - feats)}: {r}"
            assert r.xml.get("from") == c.juliet.bare, r

            ids, feats, r = await disco_info(c.romeo, c.juliet.bare)
            assert ("pubsub", "pep") in ids, f"a contact's view of the account: {r}"
            assert r.xml.get("from") == c.juliet.bare, r

    run(main())


def test_server_disco_announces_pep_and_publish_options(pep_server):
    """XEP-0222 §support and XEP-0223 §support: a disco#info query to the
    server "MUST return an identity of pubsub/pep and include the
    publish-options feature"."""

    async def main():
        async with online(pep_server, "serverdisco", "desk") as c:
            ids, feats, r = await disco_info(c, DOMAIN)
            assert ("pubsub", "pep") in ids, f"no pubsub/pep identity on {DOMAIN}: {r}"
            assert NS_PUBSUB + "#publish-options" in feats, f"no publish-options on {DOMAIN}: {r}"

    run(main())


def test_disco_items_lists_the_nodes_each_asker_may_see(pep_server):
    """XEP-0163 §support-contact: disco#items on the bare JID lists only the
    nodes the asker may subscribe to or retrieve from: the owner all of them,
    a contact the presence and open ones, a stranger the open ones. An
    account without nodes answers an empty list, not an error."""

    async def main():
        async with cast(pep_server, "items", chamber=False) as c, online(pep_server, "lonely", "desk") as lonely:
            j = c.juliet
            await asyncio.wait_for(j.plugin["xep_0172"].publish_nick("Juliet", timeout=TIMEOUT), TIMEOUT)
            await asyncio.wait_for(j.plugin["xep_0223"].store(
                slix_conference("The Play", "JC"), node=NS_BOOKMARKS, id="theplay@conference.localhost",
                timeout=TIMEOUT), TIMEOUT)
            await publish(j, AXOLOTL_DEVICELIST, "current", axolotl_devicelist("1234"), options=OPEN)

            everything = {NS_NICK, NS_BOOKMARKS, AXOLOTL_DEVICELIST, MARK}
            for who, want in ((j, everything), (c.romeo, {NS_NICK, AXOLOTL_DEVICELIST, MARK}),
                              (c.benvolio, {AXOLOTL_DEVICELIST, MARK})):
                got, r = await disco_items(who, j.bare)
                assert all(jid == j.bare for jid, _ in got), f"items must name the service {j.bare}: {r}"
                assert sorted(n for _, n in got) == sorted(want), f"{who.bare} sees {sorted(n for _, n in got)}: {r}"

            for who in (lonely, j):
                got, r = await disco_items(who, lonely.bare)
                assert got == [], f"{who.bare} asking an account without nodes: {r}"
                assert r.xml.get("type") == "result", r

    run(main())


# ============================================================ notifications


def test_contacts_with_notify_get_nick_and_avatar_metadata_strangers_nothing(pep_server):
    """XEP-0163 §notify and §approach-filter, XEP-0172 §manage, XEP-0084 §process: the
    nickname and the avatar metadata reach the contact's session and the
    owner's resources that advertise +notify, from the bare JID, as
    headlines; the avatar data reaches no one (nobody asked for it); the
    stranger gets nothing and may not read the presence-access nodes
    (XEP-0060 subscriber-retrieve-error-presence)."""
    image = tiny_png()
    info = avatar_info(image)

    async def main():
        async with cast(pep_server, "notify") as c:
            j = c.juliet
            x = j.plugin
            await asyncio.wait_for(x["xep_0172"].publish_nick("Juliet Capulet", timeout=TIMEOUT), TIMEOUT)
            await asyncio.wait_for(x["xep_0084"].publish_avatar(image, timeout=TIMEOUT), TIMEOUT)
            await asyncio.wait_for(x["xep_0084"].publish_avatar_metadata(info, timeout=TIMEOUT), TIMEOUT)

            got = await mark(j, *c.watchers)
            for w, before in zip((j, c.chamber, c.romeo), got):
                assert len(before) == 2, f"{w.jid}: expected the nick and the avatar metadata, got:\n{show(before)}"
                check_items_event(before[0], j.bare, w.jid, NS_NICK, [("current", nick("Juliet Capulet"))],
                                  f"{w.jid}'s nickname notification")
                check_items_event(before[1], j.bare, w.jid, NS_AVATAR_META, [(info["id"], avatar_metadata(info))],
                                  f"{w.jid}'s avatar metadata notification")
            assert got[3] == [], f"Benvolio (no subscription) got:\n{show(got[3])}"

            # The contact fetches the data the metadata points at (XEP-0084 §process-subretrieve).
            iq = await asyncio.wait_for(
                c.romeo.plugin["xep_0084"].retrieve_avatar(j.bare, info["id"], timeout=TIMEOUT), TIMEOUT)
            got = iq.xml.findall(f"{{{NS_PUBSUB}}}pubsub/{{{NS_PUBSUB}}}items/{{{NS_PUBSUB}}}item")
            assert [i.get("id") for i in got] == [info["id"]], iq
            assert canon(first_child(got[0])) == canon(avatar_data(image)), f"the avatar data: {iq}"
            items = await items_of(c.romeo, j.bare, NS_NICK)
            assert same_items(items, [("current", nick("Juliet Capulet"))]), show_items(items)

            for node in (NS_NICK, NS_AVATAR_DATA, NS_AVATAR_META):
                await refused(c.benvolio, "get", j.bare, pubsub(el(NS_PUBSUB, "items", {"node": node})),
                              "auth", "not-authorized", "presence-subscription-required",
                              f"a stranger reading {node}")

    run(main())


def test_a_node_the_contact_has_no_notify_for_is_not_delivered(pep_server):
    """XEP-0060 §filtered-notifications: "The server MUST NOT send
    notifications related to any NodeIDs that the contact's client has not
    asked for" (no tune+notify anywhere), though the contact may read it."""

    async def main():
        async with cast(pep_server, "filter", benvolio=False) as c:
            song = tune("Gerald Finzi", "Introduction (Allegro vigoroso)")
            await publish(c.juliet, NS_TUNE, "current", song)
            for w, got in zip(c.watchers, await mark(c.juliet, *c.watchers)):
                assert got == [], f"{w.jid} has no tune+notify but got:\n{show(got)}"
            items = await items_of(c.romeo, c.juliet.bare, NS_TUNE)
            assert same_items(items, [("current", song)]), f"the tune was published: {show_items(items)}"
            # The same contact does get a node it asked for.
            await publish(c.juliet, NS_NICK, "current", nick("J"))
            got = (await mark(c.juliet, c.romeo))[0]
            assert len(got) == 1, show(got)
            check_items_event(got[0], c.juliet.bare, c.romeo.jid, NS_NICK, [("current", nick("J"))], "the nick")

    run(main())


# ============================================================ XEP-0402, 0222, 0223


def test_bookmarks_reach_only_the_owners_resources(pep_server):
    """XEP-0402 §adding-a-bookmark and §notifications with XEP-0223: a
    bookmark published with its publish-options (persist_items, max_items
    max, send_last_published_item never, access_model whitelist) reaches
    the owner's resources and not the contact who asked for +notify; every
    bookmark is kept; the contact may neither read nor subscribe (XEP-0060
    subscriber-retrieve-error-whitelist, subscriber-subscribe-error-whitelist);
    a new resource is not sent the last one (never); a retract with notify
    reaches the resources (XEP-0402 §removing-a-bookmark)."""
    play, orchard = "theplay@conference.localhost", "orchard@conference.localhost"

    async def main():
        async with cast(pep_server, "bookmarks", benvolio=False) as c:
            j = c.juliet
            store = j.plugin["xep_0223"].store
            await asyncio.wait_for(store(slix_conference("The Play's the Thing", "JC"), node=NS_BOOKMARKS, id=play,
                                         timeout=TIMEOUT), TIMEOUT)
            got = await mark(j, j, c.chamber, c.romeo)
            for w, before in zip((j, c.chamber), got):
                assert len(before) == 1, f"{w.jid}: expected the bookmark, got:\n{show(before)}"
                check_items_event(before[0], j.bare, w.jid, NS_BOOKMARKS,
                                  [(play, conference("The Play's the Thing", "JC"))], f"{w.jid}'s bookmark")
            assert got[2] == [], f"the contact got the owner's bookmark (whitelist):\n{show(got[2])}"

            # A second bookmark: the same publish-options match; both are kept.
            await asyncio.wait_for(store(slix_conference("The Orchard", "JC"), node=NS_BOOKMARKS, id=orchard,
                                         timeout=TIMEOUT), TIMEOUT)
            got = await mark(j, c.chamber, c.romeo)
            assert len(got[0]) == 1, f"the other resource: expected the second bookmark, got:\n{show(got[0])}"
            check_items_event(got[0][0], j.bare, c.chamber.jid, NS_BOOKMARKS,
                              [(orchard, conference("The Orchard", "JC"))], "the second bookmark")
            assert got[1] == [], f"the contact got the owner's bookmark (whitelist):\n{show(got[1])}"
            items = await items_of(j, j.bare, NS_BOOKMARKS)
            want = [(play, conference("The Play's the Thing", "JC")), (orchard, conference("The Orchard", "JC"))]
            assert same_items(items, want), f"every bookmark is kept (max_items=max): {show_items(items)}"
            cfg = await node_config(j, NS_BOOKMARKS)
            assert cfg.get("pubsub#access_model") == ["whitelist"], cfg
            assert boolean(cfg.get("pubsub#persist_items", [])) is True, cfg
            assert cfg.get("pubsub#send_last_published_item") == ["never"], cfg
            assert max_items_is_max(cfg.get("pubsub#max_items")), cfg

            await refused(c.romeo, "get", j.bare, pubsub(el(NS_PUBSUB, "items", {"node": NS_BOOKMARKS})),
                          "cancel", "not-allowed", "closed-node", "a contact reading the bookmarks")
            await refused(c.romeo, "set", j.bare,
                          pubsub(el(NS_PUBSUB, "subscribe", {"node": NS_BOOKMARKS, "jid": c.romeo.bare})),
                          "cancel", "not-allowed", "closed-node", "a contact subscribing to the bookmarks")

            # A new resource is not sent the last bookmark (send_last_published_item=never).
            async with online(pep_server, j.bare, "nursery") as nursery:
                got = (await mark(j, nursery))[0]
                assert got == [], f"a new resource got, with send_last_published_item=never:\n{show(got)}"

                retract = el(NS_PUBSUB, "retract", {"node": NS_BOOKMARKS, "notify": "true"},
                             el(NS_PUBSUB, "item", {"id": play}))
                await send_iq(j, "set", None, pubsub(retract))
                got = await mark(j, c.chamber, nursery, c.romeo)
                for w, before in zip((c.chamber, nursery), got[:2]):
                    assert len(before) == 1, f"{w.jid}: expected the retraction, got:\n{show(before)}"
                    ev = event_of(before[0])
                    assert ev is not None and (ev.frm, ev.node, ev.retracts, ev.items) == (
                        j.bare, NS_BOOKMARKS, [play], []), f"{w.jid}: {before[0]}"
                assert got[2] == [], f"the contact heard of the retraction:\n{show(got[2])}"
            items = await items_of(j, j.bare, NS_BOOKMARKS)
            assert same_items(items, [(orchard, conference("The Orchard", "JC"))]), show_items(items)

    run(main())


def test_public_data_is_for_contacts_and_never_sent_as_last_item(pep_server):
    """XEP-0222 §howitworks and §approach (slixmpp's xep_0222.store:
    persist_items true, send_last_published_item never; the default PEP
    access model, presence): contacts with +notify are sent it, contacts
    may read it, a stranger may not (XEP-0060 subscriber-retrieve-error-presence),
    and a contact's new session is not sent it."""
    key = el(NODE_PUBLIC, "key", None, el(NODE_PUBLIC, "x509cert", text="der-encoded-cert"))

    async def main():
        async with cast(pep_server, "public") as c:
            j = c.juliet
            await asyncio.wait_for(j.plugin["xep_0222"].store(ElementBase(xml=key), node=NODE_PUBLIC,
                                                              id="julietRSAkey1hash", timeout=TIMEOUT), TIMEOUT)
            got = await mark(j, *c.watchers)
            for w, before in zip((j, c.chamber, c.romeo), got):
                assert len(before) == 1, f"{w.jid}: expected the key, got:\n{show(before)}"
                check_items_event(before[0], j.bare, w.jid, NODE_PUBLIC, [("julietRSAkey1hash", key)], f"{w.jid}")
            assert got[3] == [], f"Benvolio got:\n{show(got[3])}"

            cfg = await node_config(j, NODE_PUBLIC)
            assert cfg.get("pubsub#send_last_published_item") == ["never"], cfg
            assert boolean(cfg.get("pubsub#persist_items", [])) is True, cfg
            assert cfg.get("pubsub#access_model") == ["presence"], f"the PEP default access model: {cfg}"

            assert same_items(await items_of(c.romeo, j.bare, NODE_PUBLIC), [("julietRSAkey1hash", key)])
            await refused(c.benvolio, "get", j.bare, pubsub(el(NS_PUBSUB, "items", {"node": NODE_PUBLIC})),
                          "auth", "not-authorized", "presence-subscription-required", "a stranger reading the key")

            async with online(pep_server, c.romeo.bare, "tablet") as tablet:
                got = (await mark(j, tablet))[0]
                assert got == [], f"a contact's new session got, with send_last_published_item=never:\n{show(got)}"

    run(main())


def test_private_data_is_for_the_owner_only(pep_server):
    """XEP-0223 §approach (persist_items true, access_model whitelist, by
    slixmpp's xep_0223.store): the owner's resources get and read it; a
    contact and a stranger get no notification and, reading it, not-allowed
    with closed-node (XEP-0060 subscriber-retrieve-error-whitelist: XEP-0223
    names no error of its own)."""
    storage = el(NODE_PRIVATE, "storage", None,
                 el(NODE_PRIVATE, "conference", {"autojoin": "true", "jid": "theplay@conference.localhost",
                                                 "name": "The Play's the Thing"},
                    el(NODE_PRIVATE, "nick", text="JC"), el(NODE_PRIVATE, "password", text="Gl0b3")))

    async def main():
        async with cast(pep_server, "private") as c:
            j = c.juliet
            await asyncio.wait_for(j.plugin["xep_0223"].store(ElementBase(xml=storage), node=NODE_PRIVATE,
                                                              id="current", timeout=TIMEOUT), TIMEOUT)
            got = await mark(j, *c.watchers)
            for w, before in zip((j, c.chamber), got):
                assert len(before) == 1, f"{w.jid}: expected the private item, got:\n{show(before)}"
                check_items_event(before[0], j.bare, w.jid, NODE_PRIVATE, [("current", storage)], w.jid)
            for w, before in zip((c.romeo, c.benvolio), got[2:]):
                assert before == [], f"{w.jid} got the owner's private data:\n{show(before)}"

            assert same_items(await items_of(c.chamber, j.bare, NODE_PRIVATE), [("current", storage)])
            cfg = await node_config(j, NODE_PRIVATE)
            assert cfg.get("pubsub#access_model") == ["whitelist"], cfg
            assert boolean(cfg.get("pubsub#persist_items", [])) is True, cfg
            for who in (c.romeo, c.benvolio):
                await refused(who, "get", j.bare, pubsub(el(NS_PUBSUB, "items", {"node": NODE_PRIVATE})),
                              "cancel", "not-allowed", "closed-node", f"{who.bare} reading private data")
                await refused(who, "get", j.bare,
                              pubsub(el(NS_PUBSUB, "items", {"node": NODE_PRIVATE},
                                        el(NS_PUBSUB, "item", {"id": "current"}))),
                              "cancel", "not-allowed", "closed-node", f"{who.bare} reading the private item by id")
            got, _ = await disco_items(c.romeo, j.bare)
            assert NODE_PRIVATE not in [n for _, n in got], f"a contact sees the private node: {got}"

    run(main())


def test_publish_options_that_do_not_match_the_node_conflict(pep_server):
    """XEP-0060 publisher-publish-options: on an existing node a precondition
    not met fails with conflict and precondition-not-met, and nothing is
    published; matching ones publish; an unknown field is refused."""

    async def main():
        async with cast(pep_server, "precond", chamber=False, benvolio=False) as c:
            j = c.juliet
            await publish(j, NS_NICK, "current", nick("Juliet"))  # auto-created with the PEP defaults
            await publish(j, NS_BOOKMARKS, "theplay@conference.localhost", conference("The Play", "JC"),
                          options=BOOKMARK_OPTIONS)
            got = await mark(j, j, c.romeo)
            assert [event_of(s).node if event_of(s) else s for s in got[0]] == [NS_NICK, NS_BOOKMARKS], show(got[0])
            assert [event_of(s).node if event_of(s) else s for s in got[1]] == [NS_NICK], show(got[1])

            await refused(j, "set", None,
                          publish_request(NS_NICK, "current", nick("Whitelisted"),
                                          options={"pubsub#access_model": "whitelist"}),
                          "cancel", "conflict", "precondition-not-met", "a nick publish wanting a whitelist")
            await refused(j, "set", None,
                          publish_request(NS_BOOKMARKS, "orchard@conference.localhost", conference("Orchard", "JC"),
                                          options={**BOOKMARK_OPTIONS, "pubsub#access_model": "open"}),
                          "cancel", "conflict", "precondition-not-met", "a bookmark publish wanting an open node")
            await refused(j, "set", None,
                          publish_request(NS_BOOKMARKS, "orchard@conference.localhost", conference("Orchard", "JC"),
                                          options={**BOOKMARK_OPTIONS, "pubsub#max_items": "1"}),
                          "cancel", "conflict", "precondition-not-met", "a bookmark publish wanting max_items 1")

            # Nothing of the refused publishes reached anyone or was stored.
            for w, got in zip((j, c.romeo), await mark(j, j, c.romeo)):
                assert got == [], f"{w.jid} was notified of a refused publish:\n{show(got)}"
            assert same_items(await items_of(j, j.bare, NS_NICK), [("current", nick("Juliet"))])
            assert same_items(await items_of(j, j.bare, NS_BOOKMARKS),
                              [("theplay@conference.localhost", conference("The Play", "JC"))])
            await refused(c.romeo, "get", j.bare, pubsub(el(NS_PUBSUB, "items", {"node": NS_BOOKMARKS})),
                          "cancel", "not-allowed", "closed-node", "the bookmarks are still whitelisted")

            # Preconditions that hold publish (slixmpp's XEP-0004 booleans are "1").
            await publish(j, NS_NICK, "current", nick("Jules"), options={"pubsub#access_model": "presence"})
            await asyncio.wait_for(j.plugin["xep_0223"].store(slix_conference("Orchard", "JC"), node=NS_BOOKMARKS,
                                                              id="orchard@conference.localhost", timeout=TIMEOUT),
                                   TIMEOUT)
            assert len(await items_of(j, j.bare, NS_BOOKMARKS)) == 2

            # "it MUST reject the publication upon encountering unknown fields"
            try:
                r = await publish(j, NS_NICK, "current", nick("Unknown"), options={"pubsub#frobnicate": "1"})
            except IqError:
                pass
            else:
                raise AssertionError(f"a publish-options form with an unknown field was accepted: {r}")
            assert same_items(await items_of(j, j.bare, NS_NICK), [("current", nick("Jules"))])

    run(main())


# ============================================================ OMEMO


def test_omemo_legacy_devicelist_and_bundle_are_open_to_strangers(pep_server):
    """XEP-0384 (the eu.siacs.conversations.axolotl namespace Conversations
    uses): the device list and a bundle node per device, published with
    access_model open, are readable without a presence subscription; the
    device list reaches contacts with +notify, the bundle no one."""
    devices = axolotl_devicelist("1234", "5678")
    bundle = axolotl_bundle("1234")

    async def main():
        async with cast(pep_server, "axolotl") as c:
            j = c.juliet
            await publish(j, AXOLOTL_DEVICELIST, "current", devices, options=OPEN)
            await publish(j, f"{AXOLOTL_BUNDLES}:1234", "current", bundle, options=OPEN)
            got = await mark(j, *c.watchers)
            for w, before in zip((j, c.chamber, c.romeo), got):
                assert len(before) == 1, f"{w.jid}: expected the device list only, got:\n{show(before)}"
                check_items_event(before[0], j.bare, w.jid, AXOLOTL_DEVICELIST, [("current", devices)], w.jid)
            assert got[3] == [], f"Benvolio (no subscription) got:\n{show(got[3])}"

            ben = c.benvolio
            assert same_items(await items_of(ben, j.bare, AXOLOTL_DEVICELIST), [("current", devices)])
            assert same_items(await items_of(ben, j.bare, f"{AXOLOTL_BUNDLES}:1234"), [("current", bundle)])
            assert same_items(await items_of(ben, j.bare, f"{AXOLOTL_BUNDLES}:1234", ids=["current"]),
                              [("current", bundle)])
            await refused(ben, "get", j.bare, pubsub(el(NS_PUBSUB, "items", {"node": f"{AXOLOTL_BUNDLES}:5678"})),
                          "cancel", "item-not-found", ANY, "a bundle never published")
            for node in (AXOLOTL_DEVICELIST, f"{AXOLOTL_BUNDLES}:1234"):
                assert (await node_config(j, node)).get("pubsub#access_model") == ["open"], node

    run(main())


def test_omemo2_devices_and_bundles_keep_every_item_and_are_open(pep_server):
    """XEP-0384 §devices and §bundles: the devices node (access_model open)
    and one bundles node holding one item per device (max_items max,
    access_model open), readable by a stranger in full, by id and newest
    first (XEP-0060 subscriber-retrieve-requestrecent)."""
    devices = omemo2_devices()
    b1, b2 = omemo2_bundle("12345"), omemo2_bundle("4223")

    async def main():
        async with cast(pep_server, "omemo2") as c:
            j = c.juliet
            await publish(j, OMEMO2_DEVICES, "current", devices, options=OPEN)
            for item_id, bundle in (("12345", b1), ("4223", b2)):
                await publish(j, OMEMO2_BUNDLES, item_id, bundle, options={"pubsub#max_items": "max", **OPEN})
            got = await mark(j, *c.watchers)
            for w, before in zip((j, c.chamber, c.romeo), got):
                assert len(before) == 1, f"{w.jid}: expected the devices only, got:\n{show(before)}"
                check_items_event(before[0], j.bare, w.jid, OMEMO2_DEVICES, [("current", devices)], w.jid)
            assert got[3] == [], f"Benvolio (no subscription) got:\n{show(got[3])}"

            ben = c.benvolio
            assert same_items(await items_of(ben, j.bare, OMEMO2_DEVICES), [("current", devices)])
            items = await items_of(ben, j.bare, OMEMO2_BUNDLES)
            assert same_items(items, [("12345", b1), ("4223", b2)]), f"both bundles kept: {show_items(items)}"
            assert same_items(await items_of(ben, j.bare, OMEMO2_BUNDLES, ids=["12345"]), [("12345", b1)])
            newest = await items_of(ben, j.bare, OMEMO2_BUNDLES, max_items=1)
            assert same_items(newest, [("4223", b2)]), f"max_items='1' is the newest: {show_items(newest)}"
            cfg = await node_config(j, OMEMO2_BUNDLES)
            assert max_items_is_max(cfg.get("pubsub#max_items")) and cfg.get("pubsub#access_model") == ["open"], cfg
            # The same preconditions publish again; a bundle republished replaces its item.
            b1_new = omemo2_bundle("12345-rotated")
            await publish(j, OMEMO2_BUNDLES, "12345", b1_new, options={"pubsub#max_items": "max", **OPEN})
            items = await items_of(ben, j.bare, OMEMO2_BUNDLES)
            assert same_items(items, [("12345", b1_new), ("4223", b2)]), show_items(items)

    run(main())


# ============================================================ nodes and defaults


def test_publish_auto_creates_a_node_with_the_pep_defaults(pep_server):
    """XEP-0163 §publish ("the PEP service MUST create the node") and
    §defaults: a node that does not exist (XEP-0060
    subscriber-retrieve-error-node) is created by the first publish, with
    the presence access model and send_last_published_item
    on_sub_and_presence; the PEP default max_items is 1, so a second item
    replaces the first; a publish without an id gets one (XEP-0060
    publisher-publish-success: the result SHOULD name it)."""
    venice = el(NS_GEOLOC, "geoloc", None, el(NS_GEOLOC, "locality", text="Venice"))
    verona = el(NS_GEOLOC, "geoloc", None, el(NS_GEOLOC, "locality", text="Verona"))
    mantua = el(NS_GEOLOC, "geoloc", None, el(NS_GEOLOC, "locality", text="Mantua"))

    async def main():
        async with online(pep_server, "autocreate", "desk") as j:
            await refused(j, "get", j.bare, pubsub(el(NS_PUBSUB, "items", {"node": NS_GEOLOC})),
                          "cancel", "item-not-found", ANY, "a node not created yet")
            await publish(j, NS_GEOLOC, "venice", venice)
            assert same_items(await items_of(j, j.bare, NS_GEOLOC), [("venice", venice)])
            got, _ = await disco_items(j, j.bare)
            assert [n for _, n in got] == [NS_GEOLOC], got

            cfg = await node_config(j, NS_GEOLOC)
            assert cfg.get("pubsub#access_model") == ["presence"], cfg
            assert cfg.get("pubsub#send_last_published_item") == ["on_sub_and_presence"], cfg
            assert cfg.get("pubsub#max_items") == ["1"], cfg
            assert boolean(cfg.get("pubsub#deliver_notifications", [])) is True, cfg

            await publish(j, NS_GEOLOC, "verona", verona)
            items = await items_of(j, j.bare, NS_GEOLOC)
            assert same_items(items, [("verona", verona)]), f"max_items 1 keeps the newest: {show_items(items)}"

            r = await send_iq(j, "set", None, publish_request(NS_GEOLOC, None, mantua))
            items = await items_of(j, j.bare, NS_GEOLOC)
            assert len(items) == 1 and items[0][0] and canon(items[0][1]) == canon(mantua), show_items(items)
            named = r.xml.find(f"{{{NS_PUBSUB}}}pubsub/{{{NS_PUBSUB}}}publish/{{{NS_PUBSUB}}}item")
            assert named is not None and named.get("id") == items[0][0], (
                f"the result SHOULD name the generated id {items[0][0]}: {r}")

    run(main())


def test_last_item_reaches_a_contact_coming_online(pep_server):
    """XEP-0163 §notify-when 2 and §notify-last: a contact's newly available
    resource with +notify is sent the last item (the newest, with a delay);
    a later presence of a resource already online is not initial presence
    and triggers nothing."""

    async def main():
        async with cast(pep_server, "last", chamber=False, benvolio=False) as c:
            j, romeo_user = c.juliet, c.romeo.bare
            await c.romeo.leave()
            start = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
            for text in ("Rosaline?", "Juliet"):
                await asyncio.wait_for(j.plugin["xep_0172"].publish_nick(text, timeout=TIMEOUT), TIMEOUT)

            async with online(pep_server, romeo_user, "phone") as phone:
                s, before = await next_in(phone, lambda s: is_event(s, NS_NICK), "the last nick on coming online")
                assert before == [], f"before the last item:\n{show(before)}"
                ev = check_items_event(s, j.bare, phone.jid, NS_NICK, [("current", nick("Juliet"))], "the last nick")
                assert ev.delay is not None, f"the last published item carries a delay (XEP-0163 §notify-last): {s}"
                stamp = datetime.datetime.fromisoformat(ev.delay.get("stamp").replace("Z", "+00:00"))
                assert start <= stamp <= datetime.datetime.now(datetime.timezone.utc), s

                # Not initial presence: a status change sends nothing again.
                phone.send_presence(pstatus="Reading")
                await phone.available()

                # Another resource coming online gets it; the first not again.
                async with online(pep_server, romeo_user, "laptop") as laptop:
                    s, before = await next_in(laptop, lambda s: is_event(s, NS_NICK), "the last nick")
                    assert before == [], show(before)
                    check_items_event(s, j.bare, laptop.jid, NS_NICK, [("current", nick("Juliet"))], "the last nick")
                    for w, got in zip((phone, laptop), await mark(j, phone, laptop)):
                        assert got == [], f"{w.jid} got, after its last item:\n{show(got)}"

                    # A resource without caps asked for nothing: no last item,
                    # no notification (XEP-0163 §notify-num 3), while each
                    # resource that asked gets one of the next.
                    # The pager hears the marker by subscribing its full JID
                    # (§notify-num 1: one notification, to that JID).
                    async with online(pep_server, romeo_user, "pager", caps=False) as pager:
                        sub = await subscribe(pager, j.bare, MARK, pager.jid)
                        assert sub.get("subscription") == "subscribed", sub
                        await asyncio.wait_for(j.plugin["xep_0172"].publish_nick("Juliet C.", timeout=TIMEOUT), TIMEOUT)
                        got = await mark(j, phone, laptop, pager)
                        for w, before in zip((phone, laptop), got):
                            assert len(before) == 1, f"{w.jid}: expected the new nick once, got:\n{show(before)}"
                            check_items_event(before[0], j.bare, w.jid, NS_NICK, [("current", nick("Juliet C."))],
                                              w.jid)
                        assert got[2] == [], f"a resource without caps got:\n{show(got[2])}"

            # The owner's own new resource is sent the last item too (§notify-last).
            async with online(pep_server, j.bare, "nurse") as nurse:
                s, before = await next_in(nurse, lambda s: is_event(s, NS_NICK), "Juliet's own last nick")
                assert before == [], show(before)
                ev = check_items_event(s, j.bare, nurse.jid, NS_NICK, [("current", nick("Juliet C."))], "her last nick")
                assert ev.delay is not None, s

    run(main())


def test_a_contact_that_starts_asking_gets_the_last_item(pep_server):
    """The PEP rule (XEP-0163 §4.3.2) "when such a contact ... first advertises the
    +notify, it gets the last item of each such node" (XEP-0163
    §approach-filter: caps name what a contact wants, and they may change):
    Romeo adds tune+notify to his caps, as slixmpp's add_interest does, and
    is sent the tune published before."""
    song = tune("Gerald Finzi", "Introduction (Allegro vigoroso)")

    async def main():
        async with cast(pep_server, "late", chamber=False, benvolio=False) as c:
            j, romeo = c.juliet, c.romeo
            await publish(j, NS_TUNE, "current", song)
            got = (await mark(j, romeo))[0]
            assert got == [], f"no tune+notify yet, but got:\n{show(got)}"

            romeo.notify += (NS_TUNE,)
            romeo.plugin["xep_0163"].add_interest(NS_TUNE)
            await asyncio.wait_for(romeo.plugin["xep_0115"].update_caps(broadcast=False), TIMEOUT)
            await romeo.available()
            await romeo.caps_verified()
            s, before = await next_in(romeo, lambda st: is_event(st, NS_TUNE), "the last tune once asked for")
            assert before == [], show(before)
            check_items_event(s, j.bare, romeo.jid, NS_TUNE, [("current", song)], "the last tune")
            got = (await mark(j, romeo))[0]
            assert got == [], f"after the last tune:\n{show(got)}"

    run(main())


def test_a_revoked_presence_subscription_ends_the_notifications(pep_server):
    """XEP-0163 §impl-subscriptions: access is recalculated when a presence
    subscription changes; once Juliet cancels Romeo's subscription to her
    presence (RFC 6121 §3.2) he is no longer sent her nick nor may read it
    (XEP-0060 subscriber-retrieve-error-presence). Romeo hears the marker by
    an explicit subscription of his full JID to the open marker node."""

    async def main():
        async with cast(pep_server, "revoke", chamber=False, benvolio=False) as c:
            j, romeo = c.juliet, c.romeo
            sub = await subscribe(romeo, j.bare, MARK, romeo.jid)
            assert sub.get("subscription") == "subscribed", sub
            await publish(j, NS_NICK, "current", nick("Juliet"))
            got = (await mark(j, romeo))[0]
            assert [event_of(s).node if event_of(s) else s for s in got] == [NS_NICK], show(got)

            j.client_roster[romeo.bare].unauthorize()

            async def revoked():
                return (j.client_roster[romeo.bare]["subscription"] == "to"
                        and romeo.client_roster[j.bare]["subscription"] == "from")

            await eventually(revoked, "Romeo's subscription to Juliet's presence cancelled")
            await refused(romeo, "get", j.bare, pubsub(el(NS_PUBSUB, "items", {"node": NS_NICK})),
                          "auth", "not-authorized", "presence-subscription-required", "the nick after the revocation")
            await publish(j, NS_NICK, "current", nick("Capulet"))
            got = (await mark(j, romeo))[0]
            # A notice of the cancelled subscription is allowed (XEP-0163
            # §impl-subscriptions MAY), items are not.
            leaked = [s for s in got if event_of(s) is None or event_of(s).items or event_of(s).retracts]
            assert leaked == [], f"Romeo got after losing access:\n{show(leaked)}"

    run(main())


def test_items_and_configuration_survive_a_restart():
    """XEP-0223 §approach and XEP-0222 (persist_items), the plugin's promise "Items
    persist in RocksDB before the publish is acknowledged": after a restart
    the items, their node configuration (whitelist, max_items) and the
    contact's last-item delivery are all there."""
    s = Server()
    juliet, romeo, benvolio = "juliet", "romeo", "benvolio"
    b1, b2 = omemo2_bundle("1"), omemo2_bundle("2")
    play, orchard = "theplay@conference.localhost", "orchard@conference.localhost"

    async def before():
        async with online(s, juliet, "balcony") as j, online(s, romeo, "orchard") as r:
            await befriend(j, r)
            await asyncio.wait_for(j.plugin["xep_0172"].publish_nick("Juliet", timeout=TIMEOUT), TIMEOUT)
            for item_id, name in ((play, "The Play"), (orchard, "The Orchard")):
                await asyncio.wait_for(j.plugin["xep_0223"].store(
                    slix_conference(name, "JC"), node=NS_BOOKMARKS, id=item_id, timeout=TIMEOUT), TIMEOUT)
            for item_id, bundle in (("1", b1), ("2", b2)):
                await publish(j, OMEMO2_BUNDLES, item_id, bundle, options={"pubsub#max_items": "max", **OPEN})

    async def after():
        async with online(s, juliet, "balcony") as j:
            assert same_items(await items_of(j, j.bare, NS_NICK), [("current", nick("Juliet"))])
            assert same_items(await items_of(j, j.bare, NS_BOOKMARKS),
                              [(play, conference("The Play", "JC")), (orchard, conference("The Orchard", "JC"))])
            cfg = await node_config(j, NS_BOOKMARKS)
            assert cfg.get("pubsub#access_model") == ["whitelist"], cfg
            assert max_items_is_max(cfg.get("pubsub#max_items")), cfg
            async with online(s, romeo, "orchard") as r:
                ev, before_it = await next_in(r, lambda st: is_event(st, NS_NICK), "the last nick after the restart")
                assert before_it == [], show(before_it)
                check_items_event(ev, j.bare, r.jid, NS_NICK, [("current", nick("Juliet"))], "the last nick")
                await refused(r, "get", j.bare, pubsub(el(NS_PUBSUB, "items", {"node": NS_BOOKMARKS})),
                              "cancel", "not-allowed", "closed-node", "the bookmarks after the restart")
            async with online(s, benvolio, "street") as b:
                assert same_items(await items_of(b, j.bare, OMEMO2_BUNDLES), [("1", b1), ("2", b2)])

    try:
        s.start()
        s.add_users([(f"{u}@{DOMAIN}", PASSWORD) for u in (juliet, romeo, benvolio)])
        run(before())
        assert s.terminate() == 0, s.log_tail()
        s.start()
        run(after())
    except BaseException:
        print(s.log_tail(80))
        raise
    finally:
        s.stop()


# ============================================================ XEP-0398


async def vcard_of(c, jid):
    iq = await asyncio.wait_for(c.plugin["xep_0054"].get_vcard(jid, local=False, cached=False, timeout=TIMEOUT),
                                TIMEOUT)
    return iq.xml.find(f"{{{NS_VCARD}}}vCard")


def test_pep_avatar_becomes_the_vcard_photo(pep_server):
    """XEP-0398 §pep2vcard: publishing the avatar metadata puts the data of
    the info without a url into the vCard's PHOTO (which a contact's
    vcard-temp get shows), keeping the rest of the vCard. The avatar is
    published open, as Conversations does (XEP-0398 §security)."""
    image = tiny_png((10, 200, 10))
    info = avatar_info(image)
    external = {"id": "e" * 40, "type": "image/gif", "bytes": "4096", "url": "https://example.org/juliet.gif"}

    async def main():
        async with cast(pep_server, "pep2vcard", chamber=False, benvolio=False) as c:
            j = c.juliet
            card = j.plugin["xep_0054"].make_vcard()
            card["FN"] = "Juliet Capulet"
            await asyncio.wait_for(j.plugin["xep_0054"].publish_vcard(card, timeout=TIMEOUT), TIMEOUT)

            x84 = j.plugin["xep_0084"]
            await asyncio.wait_for(x84.publish_avatar(image, options=slix_options(j, OPEN), timeout=TIMEOUT), TIMEOUT)
            await publish(j, NS_AVATAR_META, info["id"], avatar_metadata(external, info), options=OPEN)

            async def has_photo():
                v = await vcard_of(c.romeo, j.bare)
                return v is not None and v.find(f"{{{NS_VCARD}}}PHOTO") is not None

            await eventually(has_photo, "a PHOTO in Juliet's vCard")
            v = await vcard_of(c.romeo, j.bare)
            photo = v.find(f"{{{NS_VCARD}}}PHOTO")
            assert photo.findtext(f"{{{NS_VCARD}}}TYPE") == "image/png", ET.tostring(v).decode()
            binval = photo.findtext(f"{{{NS_VCARD}}}BINVAL") or ""
            assert base64.b64decode(binval) == image, f"the PHOTO is the PEP avatar: {ET.tostring(v).decode()}"
            assert photo.find(f"{{{NS_VCARD}}}EXTVAL") is None, ET.tostring(v).decode()
            assert v.findtext(f"{{{NS_VCARD}}}FN") == "Juliet Capulet", (
                f"the rest of the vCard is kept: {ET.tostring(v).decode()}")

            # The contact got the metadata once: no echo back from the vCard.
            got = (await mark(j, c.romeo))[0]
            metas = [st for st in got if is_event(st, NS_AVATAR_META)]
            assert len(metas) == 1 and len(got) == 1, f"one metadata notification:\n{show(got)}"
            check_items_event(metas[0], j.bare, c.romeo.jid, NS_AVATAR_META,
                              [(info["id"], avatar_metadata(external, info))], "the metadata")

    run(main())


def test_vcard_photo_is_published_as_the_pep_avatar(pep_server):
    """XEP-0398 §vcard2pep: a vCard set with a PHOTO publishes the image to
    urn:xmpp:avatar:data (id its SHA-1) and then one info for it to
    urn:xmpp:avatar:metadata, which the owner's other resource and the
    contact with +notify are sent."""
    image = tiny_png((0, 0, 255))
    sha1 = hashlib.sha1(image).hexdigest()

    async def main():
        async with cast(pep_server, "vcard2pep", benvolio=False) as c:
            j = c.juliet
            card = j.plugin["xep_0054"].make_vcard()
            card["FN"] = "Juliet Capulet"
            card["PHOTO"]["TYPE"] = "image/png"
            card["PHOTO"]["BINVAL"] = image
            await asyncio.wait_for(j.plugin["xep_0054"].publish_vcard(card, timeout=TIMEOUT), TIMEOUT)

            for w in (c.chamber, c.romeo):
                s, before = await next_in(w, lambda st: is_event(st, NS_AVATAR_META), "the avatar metadata")
                assert before == [], f"{w.jid} before the metadata:\n{show(before)}"
                ev = event_of(s)
                assert (ev.frm, ev.to, ev.type) == (j.bare, w.jid, "headline"), s
                assert [i for i, _ in ev.items] == [sha1], f"the item id is the SHA-1 of the image: {s}"
                meta = ev.items[0][1]
                assert meta is not None and meta.tag == f"{{{NS_AVATAR_META}}}metadata", s
                infos = meta.findall(f"{{{NS_AVATAR_META}}}info")
                assert len(infos) == 1, f"one info element: {s}"
                got = {k: infos[0].get(k) for k in ("id", "type", "bytes", "url")}
                assert got == {"id": sha1, "type": "image/png", "bytes": str(len(image)), "url": None}, s

            data = await items_of(c.romeo, j.bare, NS_AVATAR_DATA, ids=[sha1])
            assert len(data) == 1 and data[0][0] == sha1, show_items(data)
            assert base64.b64decode(data[0][1].text or "") == image, show_items(data)
            # Once: no echo of the metadata back through the vCard.
            for w, got in zip((c.chamber, c.romeo), await mark(j, c.chamber, c.romeo)):
                assert got == [], f"{w.jid} got more:\n{show(got)}"

    run(main())


def test_presence_carries_the_avatar_hash(pep_server):
    """XEP-0398 §presence: "services MUST include the hash on behalf of their
    users in every available presence that does not contain an empty photo
    element", and leave an empty <photo/> alone."""
    image = tiny_png((250, 250, 0))
    info = avatar_info(image)

    async def main():
        async with cast(pep_server, "hash", chamber=False, benvolio=False) as c:
            j, romeo = c.juliet, c.romeo
            await asyncio.wait_for(j.plugin["xep_0084"].publish_avatar(image, options=slix_options(j, OPEN),
                                                                       timeout=TIMEOUT), TIMEOUT)
            await publish(j, NS_AVATAR_META, info["id"], avatar_metadata(info), options=OPEN)

            async def converted():
                v = await vcard_of(romeo, j.bare)
                return v is not None and v.find(f"{{{NS_VCARD}}}PHOTO") is not None

            await eventually(converted, "the avatar in Juliet's vCard")

            async def presence_seen_by_romeo(status, empty_photo=False):
                p = j.make_presence(pstatus=status)
                if empty_photo:
                    p.append(el(NS_VCARD_UPDATE, "x", None, el(NS_VCARD_UPDATE, "photo")))
                p.send()
                loop = asyncio.get_running_loop()
                deadline = loop.time() + TIMEOUT
                while True:
                    pres = await asyncio.wait_for(romeo.presences.get(), max(deadline - loop.time(), 0.001))
                    if pres["from"].full == j.jid and pres.xml.findtext(q("status")) == status:
                        return pres

            pres = await presence_seen_by_romeo("Hoping")
            photos = [x.findtext(f"{{{NS_VCARD_UPDATE}}}photo") for x in pres.xml.findall(f"{{{NS_VCARD_UPDATE}}}x")]
            assert photos == [info["id"]], f"one vcard-temp:x:update with the avatar's SHA-1: {pres}"

            pres = await presence_seen_by_romeo("No avatar here", empty_photo=True)
            xs = pres.xml.findall(f"{{{NS_VCARD_UPDATE}}}x")
            assert len(xs) == 1 and [canon(e) for e in xs[0]] == [canon(el(NS_VCARD_UPDATE, "photo"))], (
                f"an empty <photo/> is left as it is: {pres}")

    run(main())


# ============================================================ bad input


def test_another_accounts_pep_service_refuses_writes(pep_server):
    """XEP-0163 §approach-publisher ("The owner-publisher for every node is
    the bare JID of the account owner"), XEP-0060 publisher-publish-error-forbidden,
    publisher-delete-error-forbidden and owner-configure-error-forbidden:
    a contact and a stranger may not publish (to an existing node or a new
    one), retract or configure; nothing changes and nobody is notified."""

    async def main():
        async with cast(pep_server, "foreign") as c:
            j = c.juliet
            await publish(j, NS_NICK, "current", nick("Juliet"))
            for who in (c.romeo, c.benvolio):
                for node in (NS_NICK, NS_TUNE):
                    await refused(who, "set", j.bare, publish_request(node, "current", nick("Forged")),
                                  "auth", "forbidden", ANY, f"{who.bare} publishing to {j.bare}'s {node}")
                await refused(who, "set", j.bare,
                              pubsub(el(NS_PUBSUB, "retract", {"node": NS_NICK},
                                        el(NS_PUBSUB, "item", {"id": "current"}))),
                              "auth", "forbidden", ANY, f"{who.bare} retracting {j.bare}'s nick")
                await refused(who, "get", j.bare, pubsub(el(NS_OWNER, "configure", {"node": NS_NICK}), ns=NS_OWNER),
                              "auth", "forbidden", ANY, f"{who.bare} configuring {j.bare}'s nick")
            got = await mark(j, *c.watchers)
            for w, before in zip(c.watchers, got[:3]):
                # Juliet's resources and Romeo heard the nick first.
                assert len(before) == 1, f"{w.jid}: expected only Juliet's own nick, got:\n{show(before)}"
                check_items_event(before[0], j.bare, w.jid, NS_NICK, [("current", nick("Juliet"))], w.jid)
            assert got[3] == [], show(got[3])
            assert same_items(await items_of(j, j.bare, NS_NICK), [("current", nick("Juliet"))])
            await refused(j, "get", j.bare, pubsub(el(NS_PUBSUB, "items", {"node": NS_TUNE})),
                          "cancel", "item-not-found", ANY, "the node a stranger tried to create")

    run(main())


def test_malformed_publish_requests_get_stanza_errors_and_the_session_goes_on(pep_server):
    """XEP-0060 publisher-publish-error-badpayload (two payloads),
    -badrequest (no item, no payload), -bigpayload (over the node's
    pubsub#max_payload_size), publisher-delete-error-nodeid,
    subscriber-retrieve-error-node: each bad request gets its error and
    changes nothing; the session keeps working."""

    async def main():
        async with cast(pep_server, "malformed", chamber=False, benvolio=False) as c:
            j = c.juliet
            await publish(j, NS_NICK, "current", nick("Juliet"))
            # A node whose largest payload is 1 kB (the service's own limit is
            # more than a stanza may carry), created by publish-options.
            SMALL, SMALL_OPTIONS = "urn:example:pep-test:small", {"pubsub#max_payload_size": "1024"}
            await publish(j, SMALL, "small", el("urn:example:blob", "blob", text="x" * 10), options=SMALL_OPTIONS)
            checks = [
                (publish_request(NS_NICK, "current", nick("One"), nick("Two")),
                 "modify", "bad-request", "invalid-payload", "two payloads"),
                (publish_request(NS_NICK, "current"), "modify", "bad-request", "payload-required", "no payload"),
                (publish_request(NS_NICK, None, with_item=False), "modify", "bad-request", "item-required", "no item"),
                (publish_request(SMALL, "big", el("urn:example:blob", "blob", text="x" * 2000), options=SMALL_OPTIONS),
                 "modify", "not-acceptable", "payload-too-big", "a 2 kB payload on a node of 1 kB payloads"),
                (pubsub(el(NS_PUBSUB, "retract", {}, el(NS_PUBSUB, "item", {"id": "current"}))),
                 "modify", "bad-request", "nodeid-required", "a retract without a node"),
                (pubsub(el(NS_PUBSUB, "retract", {"node": NS_NICK}, el(NS_PUBSUB, "item", {"id": "nope"}))),
                 "cancel", "item-not-found", ANY, "a retract of an unknown item"),
            ]
            wrong = []
            for payload, etype, cond, app, what in checks:
                try:
                    await refused(j, "set", None, payload, etype, cond, app, what)
                except AssertionError as e:
                    wrong.append(str(e).split("\n")[0])
            try:
                await refused(j, "get", None, pubsub(el(NS_PUBSUB, "items", {"node": "urn:example:nothing-here"})),
                              "cancel", "item-not-found", ANY, "items of a node that does not exist")
            except AssertionError as e:
                wrong.append(str(e).split("\n")[0])
            assert not wrong, "\n".join(wrong)

            for w, got in zip((j, c.romeo), await mark(j, j, c.romeo)):
                assert len(got) == 1, f"{w.jid}: only the first nick, got:\n{show(got)}"
                check_items_event(got[0], j.bare, w.jid, NS_NICK, [("current", nick("Juliet"))], w.jid)
            assert same_items(await items_of(j, j.bare, NS_NICK), [("current", nick("Juliet"))])

            # Still a working session: a good publish reaches the contact.
            await asyncio.wait_for(j.plugin["xep_0172"].publish_nick("Still Juliet", timeout=TIMEOUT), TIMEOUT)
            got = (await mark(j, c.romeo))[0]
            assert len(got) == 1, show(got)
            check_items_event(got[0], j.bare, c.romeo.jid, NS_NICK, [("current", nick("Still Juliet"))], "the nick")

    run(main())
