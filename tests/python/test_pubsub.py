"""XEP-0060 Publish-Subscribe (with XEP-0248 collections and XEP-0059 paging)
as a stock client (slixmpp) sees it: the `pubsub` plugin serves the service
at pubsub.localhost on the default config.

Each test names one flow and points at its section of XEP-0060 (v1.26) or
XEP-0248; plugins/README.md and plugins/pubsub-engine say what the service
sets where the XEPs leave room (defaults, settings). slixmpp's xep_0060
plugin sends what it has a call for; everything else is a raw iq.

The tests share one server (`ps_server`) and each uses nodes and accounts
(or resources) of its own; the restart and settings tests start their own.
Every client queues each message it gets (`inbox`) in arrival order, and
the tests read only what comes from the service. That something did NOT
arrive is shown with a marker: each test has a marker node its clients
subscribe to, and an item published there (`Marker.sync`) reaches every
client after whatever the service sent it before. No sleep is an assertion.

Every error is checked as XEP-0060 shows it: the defined condition, the
error type of the XEP's example, and the pubsub#errors element (or its
absence where the XEP shows none). After bad requests, a later good request
shows the service still serves everyone.

Every test runs its coroutine with asyncio.run and bounds every wait.
"""

import asyncio
import contextlib
import dataclasses
import datetime
import itertools
import logging
import xml.etree.ElementTree as ET

import pytest
from slixmpp import JID
from slixmpp.exceptions import IqError
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

import conftest
from conftest import PASSWORD, TIMEOUT, Server

logging.getLogger("slixmpp").setLevel(logging.WARNING)

SERVICE = "pubsub.localhost"

NS_CLIENT = "jabber:client"
NS_PUBSUB = "http://jabber.org/protocol/pubsub"
NS_OWNER = NS_PUBSUB + "#owner"
NS_EVENT = NS_PUBSUB + "#event"
NS_ERRORS = NS_PUBSUB + "#errors"
NS_NODE_CONFIG = NS_PUBSUB + "#node_config"
NS_SUB_OPTIONS = NS_PUBSUB + "#subscribe_options"
NS_PUBLISH_OPTIONS = NS_PUBSUB + "#publish-options"
NS_SUB_AUTH = NS_PUBSUB + "#subscribe_authorization"
NS_META = NS_PUBSUB + "#meta-data"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
NS_DATA = "jabber:x:data"
NS_DELAY = "urn:xmpp:delay"
NS_RSM = "http://jabber.org/protocol/rsm"
NS_SHIM = "http://jabber.org/protocol/shim"
NS_COMMANDS = "http://jabber.org/protocol/commands"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_PAYLOAD = "urn:example:waxwing:pubsub-test"

USERS = [
    "hamlet", "horatio", "francisco", "bernardo", "marcellus", "ophelia", "polonius", "laertes",
    "gertrude", "claudius", "osric", "yorick", "rosencrantz", "guildenstern", "fortinbras",
    "reynaldo", "voltemand", "cornelius", "lucianus", "barnardo",
]

# What the service must advertise (XEP-0060 §5.1: the disco#info result
# "MUST ... indicate which pubsub features are supported"), each one a
# feature the service offers (plugins/pubsub-engine) and these tests exercise.
SERVICE_FEATURES = {NS_PUBSUB} | {
    f"{NS_PUBSUB}#{f}"
    for f in (
        "access-open", "collections", "config-node", "config-node-max", "create-and-configure",
        "create-nodes", "delete-items", "delete-nodes", "instant-nodes", "item-ids",
        "manage-subscriptions", "member-affiliation", "meta-data", "modify-affiliations", "multi-items",
        "outcast-affiliation", "persistent-items", "publish", "publish-options", "publisher-affiliation",
        "purge-nodes", "retract-items", "retrieve-affiliations", "retrieve-default", "retrieve-items",
        "retrieve-subscriptions", "rsm", "subscribe", "subscription-options", "subscription-notifications",
    )
}


@pytest.fixture(scope="module")
def ps_server():
    with conftest.running(users=USERS) as s:
        yield s


def run(coro):
    asyncio.run(asyncio.wait_for(coro, 150))


# ------------------------------------------------------------ the client


class PubsubClient(conftest.Client):
    """Queues every message in `inbox`, in arrival order."""

    def __init__(self, server, jid, password, *, plugins=()):
        super().__init__(
            server, jid, password,
            plugins=("xep_0030", "xep_0004", "xep_0059", "xep_0060", "xep_0131", "xep_0203", *plugins),
        )
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.register_handler(
            Callback("pubsub-test message", MatchXPath(f"{{{self.default_ns}}}message"), self.inbox.put_nowait)
        )

    def _on_message(self, msg):
        pass  # everything is in `inbox`


@contextlib.asynccontextmanager
async def online(server, user, resource, *, roster=False):
    """A PubsubClient logged in as user@localhost/resource and available
    (notifications to a bare JID go to available resources, RFC 6121
    §8.5.2.1.1); with `roster`, it fetched its roster first."""
    async with conftest.online(server, f"{user}@localhost/{resource}", client=PubsubClient) as c:
        if roster:
            await asyncio.wait_for(c.get_roster(), TIMEOUT)
        await c.available()
        yield c


def bare(c) -> str:
    return c.boundjid.bare


# ------------------------------------------------------------ building stanzas


def el(ns, tag, *children, text=None, **attrib):
    e = ET.Element(f"{{{ns}}}{tag}", {k: str(v) for k, v in attrib.items() if v is not None})
    e.extend(children)
    if text is not None:
        e.text = text
    return e


def P(tag, *children, **attrib):
    """An element in the pubsub namespace."""
    return el(NS_PUBSUB, tag, *children, **attrib)


def O(tag, *children, **attrib):
    """An element in the pubsub#owner namespace."""
    return el(NS_OWNER, tag, *children, **attrib)


def entry(text):
    """The test payload: <entry xmlns='urn:example:waxwing:pubsub-test'>text</entry>."""
    return el(NS_PAYLOAD, "entry", text=text)


def cfg(**kw) -> dict:
    """Node config / option fields by their short name: cfg(max_items=3) is {'pubsub#max_items': 3}."""
    return {f"pubsub#{k}": v for k, v in kw.items()}


def form_value(v):
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, (list, tuple)):
        return [form_value(x) for x in v]
    return str(v)


def submit_form(form_type, values: dict, ftype="submit"):
    """A raw data form of `ftype` with FORM_TYPE and {var: value or [values]}."""
    x = el(NS_DATA, "x", type=ftype)
    if form_type is not None:
        f = ET.SubElement(x, f"{{{NS_DATA}}}field", {"var": "FORM_TYPE", "type": "hidden"})
        ET.SubElement(f, f"{{{NS_DATA}}}value").text = form_type
    for var, v in values.items():
        f = ET.SubElement(x, f"{{{NS_DATA}}}field", {"var": var})
        vals = form_value(v)
        for one in vals if isinstance(vals, list) else [vals]:
            ET.SubElement(f, f"{{{NS_DATA}}}value").text = one
    return x


def slix_form(c, form_type, values: dict):
    """The same as a slixmpp Form, for the xep_0060 calls that take one."""
    f = c.plugin["xep_0004"].make_form(ftype="submit")
    f.add_field(var="FORM_TYPE", ftype="hidden", value=form_type)
    for var, v in values.items():
        f.add_field(var=var, value=form_value(v))
    return f


async def send_iq(c, itype, payload, to=SERVICE):
    iq = c.make_iq(ito=to, itype=itype)
    iq.append(payload)
    return await iq.send(timeout=TIMEOUT)


async def ps(c, itype, *children):
    """An iq with a <pubsub xmlns='…pubsub'/> holding `children`; returns the result's <pubsub/>."""
    res = await send_iq(c, itype, P("pubsub", *children))
    return res.xml.find(f"{{{NS_PUBSUB}}}pubsub")


async def owner_ps(c, itype, *children):
    """The same in the pubsub#owner namespace."""
    res = await send_iq(c, itype, O("pubsub", *children))
    return res.xml.find(f"{{{NS_OWNER}}}pubsub")


# ------------------------------------------------------------ reading stanzas


def kind(s) -> str:
    return s.xml.tag.rpartition("}")[2]


def stype(s):
    return s.xml.get("type")


def sfrom(s) -> str:
    return s.xml.get("from") or ""


def local(tag) -> str:
    return tag.rpartition("}")[2]


@dataclasses.dataclass
class Field:
    type: str
    values: list
    options: list


def form_fields(x) -> dict:
    out = {}
    for f in x.findall(f"{{{NS_DATA}}}field"):
        if f.get("var") is None:
            continue
        out[f.get("var")] = Field(
            f.get("type") or "text-single",
            [v.text or "" for v in f.findall(f"{{{NS_DATA}}}value")],
            [o.findtext(f"{{{NS_DATA}}}value") for o in f.findall(f"{{{NS_DATA}}}option")],
        )
    return out


def truth(v: str) -> bool:
    """An XEP-0004 boolean."""
    assert v in ("0", "1", "true", "false"), f"not an XEP-0004 boolean: {v!r}"
    return v in ("1", "true")


def one(fields, var):
    assert var in fields, f"no field {var}: {sorted(fields)}"
    vals = fields[var].values
    assert len(vals) == 1, f"{var}: expected one value, got {vals}"
    return vals[0]


def check_form_type(x, form_type, ftype):
    assert x is not None, f"no data form ({form_type})"
    assert x.get("type") == ftype, f"form type {x.get('type')!r}, expected {ftype!r}: {ET.tostring(x)}"
    fields = form_fields(x)
    assert "FORM_TYPE" in fields and fields["FORM_TYPE"].values == [form_type], f"FORM_TYPE: {ET.tostring(x)}"
    assert fields["FORM_TYPE"].type == "hidden", "FORM_TYPE must be hidden (XEP-0068)"
    return fields


def event_of(s):
    if kind(s) != "message" or sfrom(s) != SERVICE:
        return None
    return s.xml.find(f"{{{NS_EVENT}}}event")


def event_child(s):
    """The single child of a notification's <event/>."""
    ev = event_of(s)
    assert ev is not None, f"not an event notification from {SERVICE}: {s}"
    kids = list(ev)
    assert len(kids) == 1, f"an <event/> has one child (XEP-0060 §7.1.2.1): {s}"
    return kids[0]


def payload_of(item):
    """(tag, text) of an item's single payload, or None when it carries none."""
    kids = list(item)
    if not kids:
        return None
    assert len(kids) == 1, f"an item with {len(kids)} payloads: {ET.tostring(item)}"
    return local(kids[0].tag), kids[0].text


def notified_items(s, node):
    """The items of a publish notification for `node`: [(id, publisher, payload text or None)]."""
    items = event_child(s)
    assert items.tag == f"{{{NS_EVENT}}}items" and items.get("node") == node, (
        f"expected an <items node='{node}'/> notification: {s}"
    )
    out = []
    for i in items:
        assert i.tag == f"{{{NS_EVENT}}}item", f"expected only <item/>s: {s}"
        p = payload_of(i)
        if p is not None:
            assert p[0] == "entry", s
        out.append((i.get("id"), i.get("publisher"), None if p is None else p[1]))
    return out


def check_headline(s, to_bare, type_="headline"):
    """XEP-0060 §7.1.2.1 and §12: from the service, to the subscriber, of the
    node's notification_type (the 'id' is test_notifications_carry_an_id's)."""
    assert sfrom(s) == SERVICE, s
    assert JID(s.xml.get("to")).bare == to_bare, f"a notification to {s.xml.get('to')}, not {to_bare}: {s}"
    if type_ == "normal":
        assert stype(s) in (None, "normal"), f"notification_type normal: {s}"
    else:
        assert stype(s) == type_, f"notification_type {type_}: {s}"


def assert_item_event(s, node, item_id, text, publisher, to_bare, type_="headline"):
    check_headline(s, to_bare, type_)
    got = notified_items(s, node)
    assert got == [(item_id, publisher, text)], f"expected item {item_id!r} by {publisher} with {text!r}: {s}"


def delay_of(s):
    d = s.xml.find(f"{{{NS_DELAY}}}delay")
    if d is None:
        return None
    return datetime.datetime.fromisoformat(d.get("stamp").replace("Z", "+00:00"))


def items_in(pubsub, node):
    """[(id, payload text or None)] of a result's <items node='node'/>."""
    assert pubsub is not None, "no <pubsub/> in the result"
    items = pubsub.find(f"{{{NS_PUBSUB}}}items")
    assert items is not None, f"no <items/> in {ET.tostring(pubsub)}"
    assert items.get("node") == node, f"<items node='{items.get('node')}'>, expected {node}"
    out = []
    for i in items.findall(f"{{{NS_PUBSUB}}}item"):
        p = payload_of(i)
        out.append((i.get("id"), None if p is None else p[1]))
    return out


async def next_in(c, pred, what):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while True:
        try:
            s = await asyncio.wait_for(c.inbox.get(), max(deadline - loop.time(), 0.001))
        except TimeoutError:
            raise AssertionError(f"{c.boundjid.full} waited {TIMEOUT}s for {what}") from None
        if pred(s):
            return s


async def next_event(c, what):
    """The next message from the service that is not a marker."""
    return await next_in(c, lambda s: sfrom(s) == SERVICE and not is_marker(s), what)


# ------------------------------------------------------------ errors


def error_of(s):
    """(type, condition, pubsub#errors element name or None, its attributes) of a stanza's <error/>."""
    err = s.xml.find(f"{{{NS_CLIENT}}}error")
    assert err is not None, f"no <error/> in {s}"
    conds = [local(c.tag) for c in err if c.tag.startswith(f"{{{NS_STANZAS}}}") and not c.tag.endswith("}text")]
    apps = [c for c in err if c.tag.startswith(f"{{{NS_ERRORS}}}")]
    assert len(apps) <= 1, f"more than one pubsub#errors condition: {s}"
    app = apps[0] if apps else None
    return (
        err.get("type"),
        conds[0] if conds else None,
        None if app is None else local(app.tag),
        {} if app is None else dict(app.attrib),
    )


ANY = object()  # an app condition the XEP leaves open


async def refused(aw, etype, condition, app=None, what="", **app_attrs):
    """The request (an awaitable iq) must fail with exactly this error:
    type (or one of a tuple of types), condition, and the pubsub#errors
    element `app` with `app_attrs` (none at all when `app` is None, as in the
    XEP's example; ANY: not checked)."""
    try:
        res = await aw
    except IqError as e:
        got = error_of(e.iq)
        if isinstance(etype, tuple) and got[0] in etype:
            etype = got[0]
        want = (etype, condition, app, app_attrs)
        if app is ANY:
            got, want = got[:2], want[:2]
        assert got == want, f"{what}: expected {want}, got {got}: {e.iq}"
        assert sfrom(e.iq) == SERVICE, f"{what}: the error comes from {sfrom(e.iq)}: {e.iq}"
        return e.iq
    raise AssertionError(f"{what}: the request succeeded: {res}")


async def all_refused(checks):
    """Runs each (what, awaitable factory, etype, condition, app[, app_attrs]) in
    turn and fails once, listing every answer that differed."""
    wrong = []
    for what, make, etype, condition, app, *attrs in checks:
        try:
            await refused(make(), etype, condition, app, what, **(attrs[0] if attrs else {}))
        except AssertionError as e:
            wrong.append(str(e).split("\n")[0])
    assert not wrong, "\n".join(wrong)


# ------------------------------------------------------------ pubsub calls


async def create(c, node, config=None):
    """Creates `node` (None: an instant node) through slixmpp, with `config`
    ({var: value}) as a create-and-configure form; returns the NodeID."""
    form = slix_form(c, NS_NODE_CONFIG, config) if config else None
    res = await c.plugin["xep_0060"].create_node(SERVICE, node, config=form, timeout=TIMEOUT)
    got = res.xml.find(f"{{{NS_PUBSUB}}}pubsub/{{{NS_PUBSUB}}}create")
    if node is None:
        assert got is not None and got.get("node"), f"an instant node's result names it (XEP-0060 §8.1.1): {res}"
        return got.get("node")
    if got is not None and got.get("node"):
        assert got.get("node") == node, f"created {got.get('node')}, asked for {node}: {res}"
    return node


async def publish(c, node, payload=None, id=None, options=None):
    """Publishes through slixmpp; returns the ItemID (the service's, when none was given)."""
    opts = submit_form(NS_PUBLISH_OPTIONS, options) if options is not None else None
    res = await c.plugin["xep_0060"].publish(SERVICE, node, id=id, payload=payload, options=opts, timeout=TIMEOUT)
    item = res.xml.find(f"{{{NS_PUBSUB}}}pubsub/{{{NS_PUBSUB}}}publish/{{{NS_PUBSUB}}}item")
    if id is None:
        assert item is not None and item.get("id"), (
            f"the result of a publish without ItemID SHOULD name the new ItemID (XEP-0060 §7.1.2): {res}"
        )
        return item.get("id")
    if item is not None and item.get("id"):
        assert item.get("id") == id, res
    return id


async def subscribe(c, node, jid=None, options=None) -> dict:
    form = slix_form(c, NS_SUB_OPTIONS, options) if options is not None else None
    res = await c.plugin["xep_0060"].subscribe(SERVICE, node, subscribee=jid, options=form, timeout=TIMEOUT)
    sub = res.xml.find(f"{{{NS_PUBSUB}}}pubsub/{{{NS_PUBSUB}}}subscription")
    assert sub is not None, f"a subscribe result carries <subscription/> (XEP-0060 §6.1.2): {res}"
    assert sub.get("node") == node, res
    return dict(sub.attrib)


async def items_of(c, node, max_items=None, ids=None):
    res = await c.plugin["xep_0060"].get_items(SERVICE, node, item_ids=ids, max_items=max_items, timeout=TIMEOUT)
    return items_in(res.xml.find(f"{{{NS_PUBSUB}}}pubsub"), node)


async def get_config(c, node):
    """The owner's node configuration form (XEP-0060 §8.2.2), as {var: Field}."""
    res = await c.plugin["xep_0060"].get_node_config(SERVICE, node, timeout=TIMEOUT)
    conf = res.xml.find(f"{{{NS_OWNER}}}pubsub/{{{NS_OWNER}}}configure")
    assert conf is not None and conf.get("node") == node, f"<configure node='{node}'/> in the result: {res}"
    return check_form_type(conf.find(f"{{{NS_DATA}}}x"), NS_NODE_CONFIG, "form")


async def configure(c, node, values: dict):
    """Submits a node_config form with only `values` (XEP-0004 incomplete submission)."""
    await c.plugin["xep_0060"].set_node_config(SERVICE, node, slix_form(c, NS_NODE_CONFIG, values), timeout=TIMEOUT)


async def node_subscriptions(c, node) -> dict:
    """The owner's list (XEP-0060 §8.8.1): {jid: state}."""
    res = await c.plugin["xep_0060"].get_node_subscriptions(SERVICE, node, timeout=TIMEOUT)
    subs = res.xml.find(f"{{{NS_OWNER}}}pubsub/{{{NS_OWNER}}}subscriptions")
    assert subs is not None and subs.get("node") == node, res
    return {s.get("jid"): s.get("subscription") for s in subs.findall(f"{{{NS_OWNER}}}subscription")}


async def node_affiliations(c, node) -> dict:
    """The owner's list (XEP-0060 §8.9.1): {jid: affiliation}."""
    res = await c.plugin["xep_0060"].get_node_affiliations(SERVICE, node, timeout=TIMEOUT)
    affs = res.xml.find(f"{{{NS_OWNER}}}pubsub/{{{NS_OWNER}}}affiliations")
    assert affs is not None and affs.get("node") == node, res
    return {a.get("jid"): a.get("affiliation") for a in affs.findall(f"{{{NS_OWNER}}}affiliation")}


async def set_affiliations(c, node, *pairs):
    await c.plugin["xep_0060"].modify_affiliations(SERVICE, node, list(pairs), timeout=TIMEOUT)


async def my_subscriptions(c, node=None) -> list:
    """XEP-0060 §5.6: [(node, jid, state)]."""
    res = await c.plugin["xep_0060"].get_subscriptions(SERVICE, node, timeout=TIMEOUT)
    subs = res.xml.find(f"{{{NS_PUBSUB}}}pubsub/{{{NS_PUBSUB}}}subscriptions")
    assert subs is not None, f"an empty <subscriptions/> at least (XEP-0060 §5.6): {res}"
    return [(s.get("node"), s.get("jid"), s.get("subscription")) for s in subs.findall(f"{{{NS_PUBSUB}}}subscription")]


async def my_affiliations(c, node=None) -> list:
    """XEP-0060 §5.7: [(node, affiliation)]."""
    res = await c.plugin["xep_0060"].get_affiliations(SERVICE, node, timeout=TIMEOUT)
    affs = res.xml.find(f"{{{NS_PUBSUB}}}pubsub/{{{NS_PUBSUB}}}affiliations")
    assert affs is not None, f"an empty <affiliations/> at least (XEP-0060 §5.7): {res}"
    return [(a.get("node"), a.get("affiliation")) for a in affs.findall(f"{{{NS_PUBSUB}}}affiliation")]


def query(ns, **attrib):
    return el(ns, "query", **attrib)


async def disco_info(c, jid=SERVICE, node=None):
    res = await send_iq(c, "get", query(NS_DISCO_INFO, node=node), to=jid)
    q = res.xml.find(f"{{{NS_DISCO_INFO}}}query")
    if node is not None:
        assert q.get("node") == node, f"the disco#info result names the node: {res}"
    return q


async def disco_items(c, jid=SERVICE, node=None) -> list:
    res = await send_iq(c, "get", query(NS_DISCO_ITEMS, node=node), to=jid)
    return [dict(i.attrib) for i in res.xml.find(f"{{{NS_DISCO_ITEMS}}}query")]


def features(info) -> set:
    return {f.get("var") for f in info.findall(f"{{{NS_DISCO_INFO}}}feature")}


def identities(info) -> list:
    return [(i.get("category"), i.get("type")) for i in info.findall(f"{{{NS_DISCO_INFO}}}identity")]


def info_form(info, form_type):
    for x in info.findall(f"{{{NS_DATA}}}x"):
        fields = form_fields(x)
        if fields.get("FORM_TYPE") and fields["FORM_TYPE"].values == [form_type]:
            return check_form_type(x, form_type, "result")
    raise AssertionError(f"no {form_type} form in the disco#info result: {ET.tostring(info)}")


# ------------------------------------------------------------ markers


_marks = itertools.count(1)
MARK_SUFFIX = "--mark"


def is_marker(s, node=None, token=None) -> bool:
    ev = event_of(s)
    if ev is None:
        return False
    items = ev.find(f"{{{NS_EVENT}}}items")
    if items is None or not (items.get("node") or "").endswith(MARK_SUFFIX):
        return False
    if node is not None and items.get("node") != node:
        return False
    return token is None or [i.get("id") for i in items.findall(f"{{{NS_EVENT}}}item")] == [token]


class Marker:
    """A node of the test's own whose items mark a point in each subscriber's inbox."""

    def __init__(self, owner, node):
        self.owner, self.node = owner, node

    @classmethod
    async def create(cls, owner, prefix):
        node = await create(owner, prefix + MARK_SUFFIX)
        return cls(owner, node)

    async def join(self, *clients):
        for c in clients:
            await subscribe(c, self.node)

    async def sync(self, *clients) -> list:
        """Publishes a marker; returns, for each client, what the service sent it before."""
        token = f"mark-{next(_marks)}"
        await publish(self.owner, self.node, entry(token), id=token)
        out = []
        for c in clients:
            got = []
            while True:
                s = await next_in(c, lambda s: sfrom(s) == SERVICE, f"the marker {token} on {self.node}")
                if is_marker(s, self.node, token):
                    break
                if not is_marker(s):
                    got.append(s)
            out.append(got)
        return out

    async def nothing_more(self, *clients, what="anything"):
        """Nothing (but markers) reached `clients` from the service before a new marker."""
        for c, got in zip(clients, await self.sync(*clients)):
            assert got == [], f"{c.boundjid.full} got, expecting no {what}: {[str(s) for s in got]}"


async def eventually(cond, what):
    """Waits (bounded) for `cond()`: for state a client updates from pushes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def befriend(owner, contact, groups=()):
    """A mutual presence subscription (RFC 6121 §3), `contact` in the owner's `groups`.
    Both clients fetched their roster (online(..., roster=True)); slixmpp
    authorizes and subscribes back on its own."""
    cb, ob = bare(contact), bare(owner)
    await asyncio.wait_for(owner.update_roster(cb, groups=list(groups)), TIMEOUT)
    owner.send_presence_subscription(pto=cb)
    await eventually(
        lambda: owner.client_roster[cb]["subscription"] == "both" and contact.client_roster[ob]["subscription"] == "both",
        f"a mutual presence subscription between {ob} and {cb}",
    )


# ============================================================ 5. discovery


def test_server_lists_the_pubsub_service(ps_server):
    """XEP-0030 / XEP-0060 §5.1: the server's disco#items name the pubsub service."""

    async def main():
        async with online(ps_server, "hamlet", "disco1") as c:
            items = await disco_items(c, "localhost")
            assert SERVICE in [i.get("jid") for i in items], f"{SERVICE} not among the server's items: {items}"

    run(main())


def test_service_identity_and_features(ps_server):
    """XEP-0060 §5.1 (identity pubsub/service, the features supported), §7.1.5
    (publish-options), §16 (config-node-max), XEP-0248 §3.1 (collections),
    §6.5.4 (rsm)."""

    async def main():
        async with online(ps_server, "hamlet", "disco2") as c:
            info = await disco_info(c)
            assert ("pubsub", "service") in identities(info), identities(info)
            have = features(info)
            missing = SERVICE_FEATURES - have
            assert not missing, f"features not advertised: {sorted(missing)} (have {sorted(have)})"

    run(main())


def test_access_features_name_the_default_model(ps_server):
    """XEP-0060 §10 (Feature Summary): access-<model> means "the default
    access model is <model>": the service's default is open (plugins/README.md), so
    access-open and no other access-* feature."""

    async def main():
        async with online(ps_server, "hamlet", "disco4") as c:
            access = sorted(f for f in features(await disco_info(c)) if f.startswith(f"{NS_PUBSUB}#access-"))
            assert access == [f"{NS_PUBSUB}#access-open"], f"access-* features: {access}"

    run(main())


def test_publish_to_a_missing_node(ps_server):
    """XEP-0060 §7.1.3.3 and §7.1.4: without the auto-create feature a publish
    to a missing node is item-not-found; with it (advertised), the node is
    created with the default configuration and the publisher owns it; with
    publish-options the preconditions become its configuration (§7.1.5)."""

    async def main():
        async with online(ps_server, "hamlet", "autocreate") as c:
            if f"{NS_PUBSUB}#auto-create" not in features(await disco_info(c)):
                await refused(publish(c, "auto-missing", entry("x"), id="x"), "cancel", "item-not-found", None,
                              "a publish to a missing node")
                await refused(publish(c, "auto-missing", entry("x"), id="x", options=cfg(access_model="whitelist")),
                              "cancel", "item-not-found", None, "a publish with options to a missing node")
                await refused(get_config(c, "auto-missing"), "cancel", "item-not-found", None, "nothing was created")
                return
            await publish(c, "auto-created", entry("x"), id="x")
            assert await node_affiliations(c, "auto-created") == {"hamlet@localhost": "owner"}
            assert await items_of(c, "auto-created") == [("x", "x")]
            assert one(await get_config(c, "auto-created"), "pubsub#access_model") == "open"
            await publish(c, "auto-created-options", entry("y"), id="y", options=cfg(access_model="whitelist"))
            assert one(await get_config(c, "auto-created-options"), "pubsub#access_model") == "whitelist"

    run(main())


def test_service_items_list_the_nodes(ps_server):
    """XEP-0060 §5.2: disco#items of the service lists its nodes as items with jid and node."""

    async def main():
        async with online(ps_server, "hamlet", "disco3") as owner, online(ps_server, "horatio", "disco3") as other:
            await create(owner, "disco-items-a")
            await create(owner, "disco-items-b", cfg(title="Letters to my Beloved"))
            for c in (owner, other):
                items = await disco_items(c)
                mine = {i.get("node"): i for i in items if i.get("node") in ("disco-items-a", "disco-items-b")}
                assert set(mine) == {"disco-items-a", "disco-items-b"}, f"the nodes are listed: {items}"
                assert all(i.get("jid") == SERVICE for i in mine.values()), items

    run(main())


def test_node_info_identity_and_metadata(ps_server):
    """XEP-0060 §5.3 (identity pubsub/leaf) and §5.4 (the pubsub#meta-data
    form with the configured options and the owners); a missing node answers
    item-not-found (XEP-0030 §3.1)."""
    node = "node-info"

    async def main():
        async with online(ps_server, "hamlet", "info1") as owner, online(ps_server, "horatio", "info1") as other:
            await create(owner, node, cfg(title="Princely Musings", description="Hamlet's weblog",
                                          type="urn:example:e2ee:bundle", max_items=12))
            info = await disco_info(other, node=node)
            assert ("pubsub", "leaf") in identities(info), identities(info)
            meta = info_form(info, NS_META)
            for var, want in (("pubsub#title", "Princely Musings"), ("pubsub#description", "Hamlet's weblog"),
                              ("pubsub#type", "urn:example:e2ee:bundle"), ("pubsub#access_model", "open"),
                              ("pubsub#max_items", "12")):
                assert one(meta, var) == want, f"{var}: {meta.get(var)}"
            assert "pubsub#owner" in meta and "hamlet@localhost" in meta["pubsub#owner"].values, (
                f"pubsub#owner lists the owner: {meta.get('pubsub#owner')}"
            )
            await refused(send_iq(other, "get", query(NS_DISCO_INFO, node="node-info-missing")),
                          "cancel", "item-not-found", None, "disco#info of a missing node")

    run(main())


# ============================================================ 8.1 create


def test_create_named_node_with_default_configuration(ps_server):
    """XEP-0060 §8.1.2: the creator becomes the owner, the node has the
    service's default configuration (ours: open, publishers, persistent, 256
    items, payloads, headline, on_sub)."""
    node = "create-default"

    async def main():
        async with online(ps_server, "hamlet", "create1") as owner:
            assert await create(owner, node) == node
            assert await node_affiliations(owner, node) == {"hamlet@localhost": "owner"}
            assert (node, "owner") in await my_affiliations(owner), await my_affiliations(owner)
            assert await my_affiliations(owner, node) == [(node, "owner")], "§5.7: filtered by node"
            conf = await get_config(owner, node)
            for var, want in (("pubsub#access_model", "open"), ("pubsub#publish_model", "publishers"),
                              ("pubsub#max_items", "256"), ("pubsub#send_last_published_item", "on_sub"),
                              ("pubsub#notification_type", "headline")):
                assert one(conf, var) == want, f"{var}: {conf[var].values}"
            for var, want in (("pubsub#persist_items", True), ("pubsub#deliver_payloads", True),
                              ("pubsub#deliver_notifications", True), ("pubsub#notify_retract", True),
                              ("pubsub#notify_delete", True), ("pubsub#notify_config", False)):
                assert truth(one(conf, var)) is want, f"{var}: {conf[var].values}"

    run(main())


def test_create_instant_node(ps_server):
    """XEP-0060 §8.1.1: <create/> without a node: the result names a new
    unique NodeID, which the creator owns."""

    async def main():
        async with online(ps_server, "hamlet", "create2") as owner:
            first = await create(owner, None)
            second = await create(owner, None)
            assert first != second, f"two instant nodes got the same NodeID {first}"
            for node in (first, second):
                assert await node_affiliations(owner, node) == {"hamlet@localhost": "owner"}
                await publish(owner, node, entry("instant"), id="one")
                assert await items_of(owner, node) == [("one", "instant")]

    run(main())


def test_create_and_configure(ps_server):
    """XEP-0060 §8.1.3: the configure form sent with the create is applied."""
    node = "create-configured"

    async def main():
        async with online(ps_server, "hamlet", "create3") as owner:
            await create(owner, node, cfg(title="Princely Musings (Atom)", description="Updates",
                                          access_model="whitelist", publish_model="open", max_items=10,
                                          deliver_payloads=False, send_last_published_item="never",
                                          notification_type="normal", notify_retract=False))
            conf = await get_config(owner, node)
            for var, want in (("pubsub#title", "Princely Musings (Atom)"), ("pubsub#description", "Updates"),
                              ("pubsub#access_model", "whitelist"), ("pubsub#publish_model", "open"),
                              ("pubsub#max_items", "10"), ("pubsub#send_last_published_item", "never"),
                              ("pubsub#notification_type", "normal")):
                assert one(conf, var) == want, f"{var}: {conf[var].values}"
            assert truth(one(conf, "pubsub#deliver_payloads")) is False
            assert truth(one(conf, "pubsub#notify_retract")) is False
            assert truth(one(conf, "pubsub#persist_items")) is True, "an option not sent keeps its default"

    run(main())


def test_create_errors(ps_server):
    """XEP-0060 §8.1: an existing NodeID is a conflict; §8.1.2 an unknown
    access model is not-acceptable + unsupported-access-model; §8.1.3 a
    <configure/> with a node attribute is bad-request; and (ours) another
    value outside a field's options is not-acceptable. Nothing is created by
    a refused request, and the service goes on serving."""
    node = "create-errors"

    async def main():
        async with online(ps_server, "hamlet", "cerr") as owner, online(ps_server, "horatio", "cerr") as other:
            await create(owner, node)

            def create_raw(c, n, config=None, configure_attrs=None):
                kids = [P("create", node=n)]
                if config is not None:
                    kids.append(P("configure", submit_form(NS_NODE_CONFIG, config), **(configure_attrs or {})))
                return ps(c, "set", *kids)

            await all_refused([
                ("create an existing node (owner)", lambda: create_raw(owner, node), "cancel", "conflict", None),
                ("create an existing node (other)", lambda: create_raw(other, node), "cancel", "conflict", None),
                ("an unknown access model", lambda: create_raw(owner, "create-errors-2", cfg(access_model="tyrant")),
                 "modify", "not-acceptable", "unsupported-access-model"),
                ("a send_last_published_item outside its options",
                 lambda: create_raw(owner, "create-errors-3", cfg(send_last_published_item="sometimes")),
                 "modify", "not-acceptable", None),
                ("a <configure node=…/> (§8.1.3)",
                 lambda: create_raw(owner, "create-errors-4", cfg(title="x"), {"node": "create-errors-4"}),
                 "modify", "bad-request", ANY),
            ])
            for n in ("create-errors-2", "create-errors-3", "create-errors-4"):
                await refused(get_config(owner, n), "cancel", "item-not-found", None, f"{n} was not created")
            assert await node_affiliations(owner, node) == {"hamlet@localhost": "owner"}, "the conflict changed nothing"
            # Still serving: good requests from both.
            await create(other, "create-errors-2")
            await create(owner, "create-errors-3", cfg(send_last_published_item="never"))

    run(main())


# ============================================================ 8.2 / 8.3 configure, default


def test_configure_form_get_and_set(ps_server):
    """XEP-0060 §8.2: the owner gets the node_config form with the current
    values and every field the service offers; a submitted form (XEP-0004: only the changed
    fields) is applied, the rest kept; a cancelled form changes nothing."""
    node = "configure-node"

    async def main():
        async with online(ps_server, "hamlet", "conf1") as owner:
            await create(owner, node)
            conf = await get_config(owner, node)
            wanted = ["title", "description", "type", "access_model", "roster_groups_allowed", "publish_model",
                      "persist_items", "max_items", "max_payload_size", "deliver_payloads", "deliver_notifications",
                      "notify_retract", "notify_delete", "notify_config", "notify_sub", "send_last_published_item",
                      "notification_type", "node_type", "collection", "itemreply"]
            missing = [v for v in wanted if f"pubsub#{v}" not in conf]
            assert not missing, f"the node_config form lacks {missing}: {sorted(conf)}"
            lists = {
                "access_model": {"open", "presence", "roster", "authorize", "whitelist"},
                "publish_model": {"publishers", "subscribers", "open"},
                "send_last_published_item": {"never", "on_sub", "on_sub_and_presence"},
                "notification_type": {"headline", "normal"},
                "itemreply": {"owner", "publisher"},
            }
            for var, options in lists.items():
                f = conf[f"pubsub#{var}"]
                assert f.type == "list-single" and set(f.options) == options, f"pubsub#{var}: {f}"
            for var in ("persist_items", "deliver_payloads", "deliver_notifications", "notify_retract",
                        "notify_delete", "notify_config", "notify_sub"):
                assert conf[f"pubsub#{var}"].type == "boolean", f"pubsub#{var}: {conf[f'pubsub#{var}']}"

            await configure(owner, node, cfg(title="Elsinore", description="The castle", max_items=7,
                                             deliver_payloads=False, notification_type="normal"))
            conf = await get_config(owner, node)
            assert one(conf, "pubsub#title") == "Elsinore"
            assert one(conf, "pubsub#description") == "The castle"
            assert one(conf, "pubsub#max_items") == "7"
            assert truth(one(conf, "pubsub#deliver_payloads")) is False
            assert one(conf, "pubsub#notification_type") == "normal"

            await configure(owner, node, cfg(title="Elsinore Castle"))
            conf = await get_config(owner, node)
            assert one(conf, "pubsub#title") == "Elsinore Castle"
            assert one(conf, "pubsub#description") == "The castle", "a field not submitted keeps its value"
            assert one(conf, "pubsub#max_items") == "7", "a field not submitted keeps its value"

            # §8.2.4: the owner cancels: the existing configuration stays.
            await owner_ps(owner, "set", O("configure", el(NS_DATA, "x", type="cancel"), node=node))
            conf = await get_config(owner, node)
            assert one(conf, "pubsub#title") == "Elsinore Castle"

    run(main())


def test_default_node_configuration(ps_server):
    """XEP-0060 §8.3: <default/> returns the leaf defaults (ours: open,
    publishers, persistent, 256 items, payloads, notifications, retract and
    delete notified, config not, on_sub, headline)."""

    async def main():
        async with online(ps_server, "horatio", "default1") as c:
            res = await c.plugin["xep_0060"].get_node_config(SERVICE, None, timeout=TIMEOUT)
            d = res.xml.find(f"{{{NS_OWNER}}}pubsub/{{{NS_OWNER}}}default")
            assert d is not None, f"a <default/> in the result: {res}"
            conf = check_form_type(d.find(f"{{{NS_DATA}}}x"), NS_NODE_CONFIG, "form")
            for var, want in (("pubsub#access_model", "open"), ("pubsub#publish_model", "publishers"),
                              ("pubsub#max_items", "256"), ("pubsub#send_last_published_item", "on_sub"),
                              ("pubsub#notification_type", "headline"), ("pubsub#node_type", "leaf")):
                assert one(conf, var) == want, f"{var}: {conf[var].values}"
            for var, want in (("pubsub#persist_items", True), ("pubsub#deliver_payloads", True),
                              ("pubsub#deliver_notifications", True), ("pubsub#notify_retract", True),
                              ("pubsub#notify_delete", True), ("pubsub#notify_config", False)):
                assert truth(one(conf, var)) is want, f"{var}: {conf[var].values}"

    run(main())


def test_configure_errors(ps_server):
    """XEP-0060 §8.2.3: a non-owner is forbidden, no node is bad-request +
    nodeid-required, a missing node item-not-found; §8.2.5.2 a value the
    service cannot take is not-acceptable (ours: outside the options, or
    max_items above max_items). Nothing changes; the service goes on."""
    node = "configure-errors"

    async def main():
        async with online(ps_server, "hamlet", "cfgerr") as owner, online(ps_server, "horatio", "cfgerr") as other:
            await create(owner, node, cfg(title="Unchanged"))
            form = lambda values: submit_form(NS_NODE_CONFIG, values)  # noqa: E731
            await all_refused([
                ("a non-owner gets the form", lambda: get_config(other, node), "auth", "forbidden", None),
                ("a non-owner submits the form",
                 lambda: owner_ps(other, "set", O("configure", form(cfg(title="Mine")), node=node)),
                 "auth", "forbidden", None),
                ("no node (get)", lambda: owner_ps(owner, "get", O("configure")),
                 "modify", "bad-request", "nodeid-required"),
                ("no node (set)", lambda: owner_ps(owner, "set", O("configure", form(cfg(title="x")))),
                 "modify", "bad-request", "nodeid-required"),
                ("a missing node (get)", lambda: get_config(owner, "configure-errors-missing"),
                 "cancel", "item-not-found", None),
                ("a missing node (set)",
                 lambda: owner_ps(owner, "set", O("configure", form(cfg(title="x")), node="configure-errors-missing")),
                 "cancel", "item-not-found", None),
                ("an access model outside the options",
                 lambda: owner_ps(owner, "set", O("configure", form(cfg(access_model="tyrant")), node=node)),
                 "modify", "not-acceptable", ANY),
                ("a notification_type outside the options",
                 lambda: owner_ps(owner, "set", O("configure", form(cfg(notification_type="loud")), node=node)),
                 "modify", "not-acceptable", None),
                ("max_items above max_items (10000)",
                 lambda: owner_ps(owner, "set", O("configure", form(cfg(max_items=10001)), node=node)),
                 "modify", "not-acceptable", None),
                ("max_items not a number",
                 lambda: owner_ps(owner, "set", O("configure", form(cfg(max_items="lots")), node=node)),
                 "modify", "not-acceptable", None),
            ])
            conf = await get_config(owner, node)
            assert one(conf, "pubsub#title") == "Unchanged", "a refused configuration changed the node"
            assert one(conf, "pubsub#access_model") == "open"
            assert one(conf, "pubsub#max_items") == "256"
            await configure(owner, node, cfg(title="Changed"))
            await create(other, "configure-errors-other")
            await configure(other, "configure-errors-other", cfg(title="Still serving"))

    run(main())


def test_config_change_notifies_subscribers(ps_server):
    """XEP-0060 §8.2.5.3: with notify_config, subscribers get <configuration
    node/>, empty on a notification-only node and carrying the node_config
    form (type result) on a node that delivers payloads; without it, nothing."""
    quiet, bare_node, full_node = "config-notify-off", "config-notify-bare", "config-notify-full"

    async def main():
        async with online(ps_server, "hamlet", "cn") as owner, online(ps_server, "horatio", "cn") as sub:
            mark = await Marker.create(owner, "config-notify")
            await create(owner, quiet)
            await create(owner, bare_node, cfg(notify_config=True, deliver_payloads=False))
            await create(owner, full_node, cfg(notify_config=True))
            await mark.join(sub)
            for n in (quiet, bare_node, full_node):
                await subscribe(sub, n)

            await configure(owner, quiet, cfg(title="Quiet"))
            await mark.nothing_more(sub, what="notification without notify_config")

            await configure(owner, bare_node, cfg(title="Notified"))
            s = await next_event(sub, "the configuration notification")
            check_headline(s, bare(sub))
            c = event_child(s)
            assert c.tag == f"{{{NS_EVENT}}}configuration" and c.get("node") == bare_node, s
            assert list(c) == [], f"a notification-only node sends an empty <configuration/>: {s}"

            await configure(owner, full_node, cfg(title="With the form"))
            s = await next_event(sub, "the configuration notification")
            c = event_child(s)
            assert c.tag == f"{{{NS_EVENT}}}configuration" and c.get("node") == full_node, s
            fields = check_form_type(c.find(f"{{{NS_DATA}}}x"), NS_NODE_CONFIG, "result")
            assert one(fields, "pubsub#title") == "With the form", fields.get("pubsub#title")
            await mark.nothing_more(sub)

    run(main())


# ============================================================ 8.4 delete, 8.5 purge


def test_delete_node_with_redirect_notifies_subscribers(ps_server):
    """XEP-0060 §8.4: every subscriber gets <delete node><redirect uri/></delete>;
    the node and its items are gone; with notify_delete false, nobody is told."""
    node, silent = "delete-redirect", "delete-silent"
    uri = f"xmpp:{SERVICE}?;node=delete-new-home"

    async def main():
        async with online(ps_server, "hamlet", "del1") as owner, online(
            ps_server, "horatio", "del1"
        ) as a, online(ps_server, "francisco", "del1") as b:
            mark = await Marker.create(owner, "delete")
            await create(owner, node)
            await create(owner, silent, cfg(notify_delete=False))
            await mark.join(a, b)
            for c in (a, b):
                await subscribe(c, node)
                await subscribe(c, silent)
            await publish(owner, node, entry("doomed"), id="d1")
            for c in (a, b):
                assert_item_event(await next_event(c, "the item"), node, "d1", "doomed", "hamlet@localhost", bare(c))

            await owner_ps(owner, "set", O("delete", O("redirect", uri=uri), node=node))
            for c in (a, b):
                s = await next_event(c, "the delete notification")
                check_headline(s, bare(c))
                d = event_child(s)
                assert d.tag == f"{{{NS_EVENT}}}delete" and d.get("node") == node, s
                r = d.findall(f"{{{NS_EVENT}}}redirect")
                assert len(r) == 1 and r[0].get("uri") == uri, f"the redirect uri: {s}"
            await mark.nothing_more(a, b)
            await refused(items_of(a, node), "cancel", "item-not-found", None, "items of the deleted node")
            await refused(send_iq(a, "get", query(NS_DISCO_INFO, node=node)), "cancel", "item-not-found", None,
                          "disco#info of the deleted node")
            assert [s for s in await my_subscriptions(a) if s[0] == node] == [], "the subscription went with the node"

            await c_delete(owner, silent)
            await mark.nothing_more(a, b, what="notification with notify_delete false")

            # A node of the same name can be created again, empty.
            await create(owner, node)
            assert await items_of(owner, node) == []

    run(main())


async def c_delete(c, node):
    await c.plugin["xep_0060"].delete_node(SERVICE, node, timeout=TIMEOUT)


def test_delete_errors(ps_server):
    """XEP-0060 §8.4.3: a non-owner (even a publisher) is forbidden, a missing
    node is item-not-found. The node stays."""
    node = "delete-errors"

    async def main():
        async with online(ps_server, "hamlet", "delerr") as owner, online(ps_server, "horatio", "delerr") as other:
            await create(owner, node)
            await set_affiliations(owner, node, ("horatio@localhost", "publisher"))
            await all_refused([
                ("a publisher deletes", lambda: c_delete(other, node), "auth", "forbidden", None),
                ("a missing node", lambda: c_delete(owner, "delete-errors-missing"), "cancel", "item-not-found", None),
            ])
            await get_config(owner, node)
            await publish(other, node, entry("still here"), id="x")
            await c_delete(owner, node)

    run(main())


def test_purge_notifies_and_empties_the_node(ps_server):
    """XEP-0060 §8.5: one <purge node/> to each subscriber (not one retract per
    item), and no items remain."""
    node = "purge-node"

    async def main():
        async with online(ps_server, "hamlet", "purge1") as owner, online(ps_server, "horatio", "purge1") as sub:
            mark = await Marker.create(owner, "purge")
            await create(owner, node)
            await mark.join(sub)
            await subscribe(sub, node)
            for i in range(1, 4):
                await publish(owner, node, entry(f"p{i}"), id=f"p{i}")
                await next_event(sub, f"item p{i}")
            await c_purge(owner, node)
            s = await next_event(sub, "the purge notification")
            check_headline(s, bare(sub))
            p = event_child(s)
            assert p.tag == f"{{{NS_EVENT}}}purge" and p.get("node") == node and list(p) == [], s
            await mark.nothing_more(sub, what="more than one purge notification")
            assert await items_of(owner, node) == []
            assert await items_of(sub, node) == []
            await publish(owner, node, entry("after"), id="p4")
            assert await items_of(sub, node) == [("p4", "after")]

    run(main())


async def c_purge(c, node):
    await c.plugin["xep_0060"].purge(SERVICE, node, timeout=TIMEOUT)


def test_purge_errors(ps_server):
    """XEP-0060 §8.5.3: a non-owner is forbidden, a node that does not persist
    items is feature-not-implemented + unsupported persistent-items, a missing
    node item-not-found. The items stay."""
    node, transient = "purge-errors", "purge-errors-transient"

    async def main():
        async with online(ps_server, "hamlet", "purgeerr") as owner, online(ps_server, "horatio", "purgeerr") as other:
            await create(owner, node)
            await create(owner, transient, cfg(persist_items=False))
            await publish(owner, node, entry("keep"), id="k")
            await all_refused([
                ("a non-owner purges", lambda: c_purge(other, node), "auth", "forbidden", None),
                ("a transient node", lambda: c_purge(owner, transient), "cancel", "feature-not-implemented",
                 "unsupported", {"feature": "persistent-items"}),
                ("a missing node", lambda: c_purge(owner, "purge-errors-missing"), "cancel", "item-not-found", None),
            ])
            assert await items_of(other, node) == [("k", "keep")]
            await c_purge(owner, node)
            assert await items_of(other, node) == []

    run(main())


# ============================================================ 7.1 publish


def test_publish_with_and_without_item_id(ps_server):
    """XEP-0060 §7.1: with an ItemID the item is stored under it; without one
    the result names the ItemID the service made; each subscriber gets a
    headline with the item, its payload and the publisher's bare JID (ours,
    §7.1.2.3); the publisher's full JID is never shown."""
    node = "publish-node"

    async def main():
        async with online(ps_server, "hamlet", "pub1") as owner, online(
            ps_server, "horatio", "pub1"
        ) as a, online(ps_server, "francisco", "pub1") as b:
            mark = await Marker.create(owner, "publish")
            await create(owner, node)
            await mark.join(a, b)
            for c in (a, b):
                await subscribe(c, node)
            assert await publish(owner, node, entry("To be, or not to be"), id="soliloquy") == "soliloquy"
            for c in (a, b):
                s = await next_event(c, "the notification")
                assert_item_event(s, node, "soliloquy", "To be, or not to be", "hamlet@localhost", bare(c))
            generated = await publish(owner, node, entry("Alone"))
            assert generated and generated != "soliloquy"
            for c in (a, b):
                s = await next_event(c, "the notification")
                assert_item_event(s, node, generated, "Alone", "hamlet@localhost", bare(c))
            await mark.nothing_more(a, b)
            assert sorted(await items_of(a, node)) == sorted([("soliloquy", "To be, or not to be"),
                                                               (generated, "Alone")])
            another = await publish(owner, node, entry("Ghostly Encounters"))
            assert another not in (generated, "soliloquy"), "the service's ItemIDs are unique in the node"

    run(main())


def test_publish_without_payload_to_a_transient_notification_node(ps_server):
    """XEP-0060 §7.1.1 and §7.1.3.6: on a transient, notification-only node a
    publish needs no item: subscribers get an <items/> notification without
    one; an item there is bad-request + item-forbidden."""
    node = "publish-notify-only"

    async def main():
        async with online(ps_server, "hamlet", "pub2") as owner, online(ps_server, "horatio", "pub2") as sub:
            mark = await Marker.create(owner, "notify-only")
            await create(owner, node, cfg(persist_items=False, deliver_payloads=False))
            await mark.join(sub)
            await subscribe(sub, node)
            await refused(ps(owner, "set", P("publish", P("item", entry("x"), id="x"), node=node)),
                          "modify", "bad-request", "item-forbidden", "an item on a transient notification node")
            await ps(owner, "set", P("publish", node=node))
            s = await next_event(sub, "the notification")
            check_headline(s, bare(sub))
            await mark.nothing_more(sub)
            assert notified_items(s, node) == [], f"no <item/> on a transient notification node: {s}"

    run(main())


def test_notifications_without_payloads(ps_server):
    """XEP-0060 §7.1.2.2: with deliver_payloads false the notification has the
    <item id/> without its payload, which items retrieval still returns."""
    node = "publish-no-payloads"

    async def main():
        async with online(ps_server, "hamlet", "pub3") as owner, online(ps_server, "horatio", "pub3") as sub:
            await create(owner, node, cfg(deliver_payloads=False))
            await subscribe(sub, node)
            await publish(owner, node, entry("The Uses of This World"), id="uses")
            s = await next_event(sub, "the notification")
            assert_item_event(s, node, "uses", None, "hamlet@localhost", bare(sub))
            assert await items_of(sub, node, ids=["uses"]) == [("uses", "The Uses of This World")]

    run(main())


def test_republishing_an_item_id_replaces_the_item(ps_server):
    """XEP-0060 §7.1.2 note / §12.8: a publish with an existing ItemID
    overwrites the item and notifies again."""
    node = "publish-replace"

    async def main():
        async with online(ps_server, "hamlet", "pub4") as owner, online(ps_server, "horatio", "pub4") as sub:
            await create(owner, node)
            await subscribe(sub, node)
            await publish(owner, node, entry("first draft"), id="draft")
            await publish(owner, node, entry("other"), id="other")
            await publish(owner, node, entry("second draft"), id="draft")
            for want in ("first draft", "other", "second draft"):
                s = await next_event(sub, f"the notification of {want!r}")
                assert notified_items(s, node)[0][2] == want, s
            got = await items_of(sub, node)
            assert sorted(got) == [("draft", "second draft"), ("other", "other")], got
            assert await items_of(sub, node, max_items=1) == [("draft", "second draft")], (
                "the republished item is the newest"
            )

    run(main())


def test_delivery_options(ps_server):
    """XEP-0060 §16.4.3: notification_type normal sends normal messages;
    deliver_notifications false sends none at all."""
    normal, silent = "delivery-normal", "delivery-silent"

    async def main():
        async with online(ps_server, "hamlet", "deliv") as owner, online(ps_server, "horatio", "deliv") as sub:
            mark = await Marker.create(owner, "delivery")
            await create(owner, normal, cfg(notification_type="normal"))
            await create(owner, silent, cfg(deliver_notifications=False))
            await mark.join(sub)
            for n in (normal, silent):
                await subscribe(sub, n)
            await publish(owner, normal, entry("plain"), id="n1")
            s = await next_event(sub, "the notification")
            assert_item_event(s, normal, "n1", "plain", "hamlet@localhost", bare(sub), type_="normal")
            await publish(owner, silent, entry("hush"), id="s1")
            await mark.nothing_more(sub, what="notification with deliver_notifications false")
            assert await items_of(sub, silent) == [("s1", "hush")], "the item is stored all the same"

    run(main())


def test_notifications_carry_an_id(ps_server):
    """XEP-0060 §7.1.2 and §12.4: each notification message SHOULD possess an
    'id', unique within the service (to track delivery errors)."""
    node = "notification-ids"

    async def main():
        async with online(ps_server, "hamlet", "ids") as owner, online(ps_server, "horatio", "ids") as sub:
            await create(owner, node)
            await subscribe(sub, node)
            ids = []
            for i in ("a", "b"):
                await publish(owner, node, entry(i), id=i)
                s = await next_event(sub, f"item {i}")
                assert s.xml.get("id"), f"a notification without an 'id': {s}"
                ids.append(s.xml.get("id"))
            await owner.plugin["xep_0060"].retract(SERVICE, node, "a", notify=True, timeout=TIMEOUT)
            s = await next_event(sub, "the retraction")
            assert s.xml.get("id"), f"a notification without an 'id': {s}"
            ids.append(s.xml.get("id"))
            assert len(set(ids)) == 3, f"notification ids are unique: {ids}"

    run(main())


def test_publish_models(ps_server):
    """XEP-0060 §4.1 and the publish_model option: publishers (only owners and
    publishers), subscribers (also subscribers), open (anyone); others are
    forbidden (§7.1.3.1)."""

    async def main():
        async with online(ps_server, "hamlet", "pm") as owner, online(
            ps_server, "horatio", "pm"
        ) as sub, online(ps_server, "francisco", "pm") as stranger:
            await create(owner, "pm-publishers")
            await create(owner, "pm-subscribers", cfg(publish_model="subscribers", send_last_published_item="never"))
            await create(owner, "pm-open", cfg(publish_model="open"))
            await subscribe(sub, "pm-subscribers")
            await all_refused([
                ("a stranger on publishers", lambda: publish(stranger, "pm-publishers", entry("x")),
                 "auth", "forbidden", None),
                ("a stranger on subscribers", lambda: publish(stranger, "pm-subscribers", entry("x")),
                 "auth", "forbidden", None),
            ])
            await publish(sub, "pm-subscribers", entry("from a subscriber"), id="s")
            s = await next_event(sub, "its own item, as a subscriber")
            assert_item_event(s, "pm-subscribers", "s", "from a subscriber", "horatio@localhost", bare(sub))
            await publish(stranger, "pm-open", entry("from anyone"), id="o")
            assert await items_of(owner, "pm-open") == [("o", "from anyone")]
            await set_affiliations(owner, "pm-publishers", ("francisco@localhost", "publisher"))
            await publish(stranger, "pm-publishers", entry("now a publisher"), id="p")
            assert await items_of(owner, "pm-publishers") == [("p", "now a publisher")]

    run(main())


def test_publish_errors(ps_server):
    """XEP-0060 §7.1.3: forbidden without the right (auth), not-acceptable + payload-too-big over
    max_payload_bytes (65536) or the node's max_payload_size, bad-request +
    invalid-payload for two payloads, and on a persistent node bad-request +
    payload-required (an empty item) or item-required (no item). None is
    stored; the service goes on."""
    node, small = "publish-errors", "publish-errors-small"

    async def main():
        async with online(ps_server, "hamlet", "puberr") as owner, online(ps_server, "horatio", "puberr") as other:
            await create(owner, node)
            await create(owner, small, cfg(max_payload_size=200))

            def raw(c, n, *item_kids, with_item=True, item_id="bad"):
                kids = [P("item", *item_kids, id=item_id)] if with_item else []
                return ps(c, "set", P("publish", *kids, node=n))

            await all_refused([
                ("a non-publisher", lambda: publish(other, node, entry("x"), id="bad"), "auth", "forbidden", None),
                ("a payload over 65536 bytes", lambda: publish(owner, node, entry("y" * 70000), id="bad"),
                 "modify", "not-acceptable", "payload-too-big"),
                ("a payload over the node's max_payload_size", lambda: publish(owner, small, entry("z" * 300), id="bad"),
                 "modify", "not-acceptable", "payload-too-big"),
                ("two payloads", lambda: raw(owner, node, entry("one"), entry("two")),
                 "modify", "bad-request", "invalid-payload"),
                ("an item without payload", lambda: raw(owner, node), "modify", "bad-request", "payload-required"),
                ("no item", lambda: raw(owner, node, with_item=False), "modify", "bad-request", "item-required"),
            ])
            assert await items_of(owner, node) == [], "a refused publish stored an item"
            assert await items_of(owner, small) == []
            await publish(owner, small, entry("short"), id="ok")
            await publish(owner, node, entry("y" * 60000), id="big-but-allowed")
            await create(other, "publish-errors-other")
            await publish(other, "publish-errors-other", entry("mine"), id="ok")

    run(main())


def test_publish_options_preconditions(ps_server):
    """XEP-0060 §7.1.5: each publish-options field is a precondition checked
    against the node configuration: met, the publish succeeds; not met,
    conflict + precondition-not-met; an unknown field is rejected. (A
    missing node: test_publish_to_a_missing_node.)"""
    node = "publish-options"

    async def main():
        async with online(ps_server, "hamlet", "popt") as owner:
            await create(owner, node, cfg(access_model="open", max_items=5))
            await publish(owner, node, entry("met"), id="met", options=cfg(access_model="open"))
            await publish(owner, node, entry("met too"), id="met2",
                          options=cfg(persist_items="true", max_items=5, access_model="open"))
            await all_refused([
                ("access_model whitelist on an open node",
                 lambda: publish(owner, node, entry("x"), id="unmet", options=cfg(access_model="whitelist")),
                 "cancel", "conflict", "precondition-not-met"),
                ("max_items 3 on a node of 5",
                 lambda: publish(owner, node, entry("x"), id="unmet", options=cfg(max_items=3)),
                 "cancel", "conflict", "precondition-not-met"),
            ])
            try:
                await publish(owner, node, entry("x"), id="unknown", options=cfg(no_such_option="1"))
            except IqError as e:
                assert sfrom(e.iq) == SERVICE and error_of(e.iq)[1] is not None, e.iq
            else:
                raise AssertionError("a publish-options form with an unknown field was accepted (XEP-0060 §7.1.5)")
            assert sorted(await items_of(owner, node)) == [("met", "met"), ("met2", "met too")]
            conf = await get_config(owner, node)
            assert one(conf, "pubsub#access_model") == "open", "a precondition is not a configuration change"
            await publish(owner, node, entry("after"), id="after", options=cfg(access_model="open"))

    run(main())


# ============================================================ 7.2 retract


def test_retract_with_notify(ps_server):
    """XEP-0060 §7.2: the item is deleted; with notify='true' every subscriber
    gets <items node><retract id/></items>; a publisher retracts its own item."""
    node = "retract-node"

    async def main():
        async with online(ps_server, "hamlet", "ret1") as owner, online(
            ps_server, "horatio", "ret1"
        ) as pub, online(ps_server, "francisco", "ret1") as sub:
            mark = await Marker.create(owner, "retract")
            await create(owner, node)
            await set_affiliations(owner, node, ("horatio@localhost", "publisher"))
            await mark.join(sub)
            await subscribe(sub, node)
            for c, i in ((owner, "r1"), (owner, "r2"), (pub, "r3")):
                await publish(c, node, entry(i), id=i)
                await next_event(sub, f"item {i}")
            await owner.plugin["xep_0060"].retract(SERVICE, node, "r1", notify=True, timeout=TIMEOUT)
            s = await next_event(sub, "the retract notification")
            check_headline(s, bare(sub))
            items = event_child(s)
            assert items.tag == f"{{{NS_EVENT}}}items" and items.get("node") == node, s
            assert [(local(k.tag), k.get("id")) for k in items] == [("retract", "r1")], s
            await pub.plugin["xep_0060"].retract(SERVICE, node, "r3", notify=True, timeout=TIMEOUT)
            s = await next_event(sub, "the retract notification")
            assert [(local(k.tag), k.get("id")) for k in event_child(s)] == [("retract", "r3")], s
            await mark.nothing_more(sub)
            assert await items_of(sub, node) == [("r2", "r2")]

    run(main())


def test_retract_errors(ps_server):
    """XEP-0060 §7.2.3: forbidden without the right, item-not-found for a
    missing node or item, bad-request + nodeid-required without a node,
    bad-request + item-required without an item or ItemID,
    feature-not-implemented + unsupported persistent-items on a transient
    node. The item stays; the service goes on."""
    node, transient = "retract-errors", "retract-errors-transient"

    async def main():
        async with online(ps_server, "hamlet", "reterr") as owner, online(ps_server, "horatio", "reterr") as other:
            await create(owner, node)
            await create(owner, transient, cfg(persist_items=False))
            await publish(owner, node, entry("keep"), id="keep")

            def raw(c, *kids, **attrs):
                return ps(c, "set", P("retract", *kids, **attrs))

            await all_refused([
                ("a non-publisher retracts", lambda: raw(other, P("item", id="keep"), node=node),
                 "auth", "forbidden", None),
                ("a missing node", lambda: raw(owner, P("item", id="keep"), node="retract-errors-missing"),
                 "cancel", "item-not-found", None),
                ("a missing item", lambda: raw(owner, P("item", id="nope"), node=node),
                 "cancel", "item-not-found", None),
                ("no node", lambda: raw(owner, P("item", id="keep")), "modify", "bad-request", "nodeid-required"),
                ("no item", lambda: raw(owner, node=node), "modify", "bad-request", "item-required"),
                ("an item without ItemID", lambda: raw(owner, P("item"), node=node),
                 "modify", "bad-request", "item-required"),
                ("a transient node", lambda: raw(owner, P("item", id="keep"), node=transient),
                 "cancel", "feature-not-implemented", "unsupported", {"feature": "persistent-items"}),
            ])
            assert await items_of(other, node) == [("keep", "keep")]
            await owner.plugin["xep_0060"].retract(SERVICE, node, "keep", timeout=TIMEOUT)
            assert await items_of(other, node) == []

    run(main())


# ============================================================ 6.1 / 6.2 subscribe, unsubscribe


def test_subscribe_and_unsubscribe(ps_server):
    """XEP-0060 §6.1: the subscription is 'subscribed' for the bare JID asked;
    subscribing again returns the same one (§6.1.6, one per JID); §5.6 lists
    it; §6.2 unsubscribing ends the notifications; a SubID the service does
    not use is ignored (§6.2.3.5)."""
    node = "subscribe-node"

    async def main():
        async with online(ps_server, "hamlet", "sub1") as owner, online(ps_server, "horatio", "sub1") as sub:
            mark = await Marker.create(owner, "subscribe")
            await create(owner, node)
            await mark.join(sub)
            s1 = await subscribe(sub, node)
            assert (s1["jid"], s1["subscription"]) == ("horatio@localhost", "subscribed"), s1
            s2 = await subscribe(sub, node)
            assert (s2["jid"], s2["subscription"]) == ("horatio@localhost", "subscribed"), s2
            assert s2.get("subid") == s1.get("subid"), f"one subscription per JID: {s1} then {s2}"
            mine = [s for s in await my_subscriptions(sub) if s[0] == node]
            assert mine == [(node, "horatio@localhost", "subscribed")], mine
            assert await my_subscriptions(sub, node) == [(node, "horatio@localhost", "subscribed")]
            assert await node_subscriptions(owner, node) == {"horatio@localhost": "subscribed"}

            await publish(owner, node, entry("one"), id="one")
            assert_item_event(await next_event(sub, "the item"), node, "one", "one", "hamlet@localhost", bare(sub))
            await mark.nothing_more(sub, what="a second copy of the item")

            res = await sub.plugin["xep_0060"].unsubscribe(SERVICE, node, timeout=TIMEOUT)
            after = res.xml.find(f"{{{NS_PUBSUB}}}pubsub/{{{NS_PUBSUB}}}subscription")
            if after is not None:  # §6.2.2: MAY carry the updated subscription
                assert after.get("subscription") == "none", res
            await publish(owner, node, entry("two"), id="two")
            await mark.nothing_more(sub, what="a notification after unsubscribing")
            assert await my_subscriptions(sub, node) == []
            assert await node_subscriptions(owner, node) == {}

            s3 = await subscribe(sub, node)
            unsub = sub.plugin["xep_0060"].unsubscribe(SERVICE, node, subid="no-such-subid", timeout=TIMEOUT)
            if s3.get("subid"):  # §6.2.3.5: a SubID not valid for the subscription
                await refused(unsub, "modify", "not-acceptable", "invalid-subid", "a wrong SubID")
                assert await node_subscriptions(owner, node) == {"horatio@localhost": "subscribed"}
            else:  # §6.2.3.5: the service SHOULD ignore a SubID when it uses none
                await unsub
                assert await node_subscriptions(owner, node) == {}, "an ignored SubID still unsubscribes"

    run(main())


def test_subscription_of_a_full_jid_notifies_that_resource_only(ps_server):
    """XEP-0060 §6.1.1 and §12.2: the subscribed JID may be a full JID; the
    notifications go to it alone, not to the account's other resources."""
    node = "subscribe-full-jid"

    async def main():
        async with online(ps_server, "hamlet", "full") as owner, online(
            ps_server, "francisco", "desk"
        ) as desk, online(ps_server, "francisco", "phone") as phone:
            mark = await Marker.create(owner, "full-jid")
            await create(owner, node)
            await mark.join(desk)  # bare JID: the marker reaches both resources
            sub = await subscribe(desk, node, jid=desk.boundjid.full)
            assert (sub["jid"], sub["subscription"]) == ("francisco@localhost/desk", "subscribed"), sub
            await publish(owner, node, entry("for the desk"), id="d")
            s = await next_event(desk, "the notification")
            assert s.xml.get("to") == "francisco@localhost/desk", f"to the subscribed full JID: {s}"
            assert notified_items(s, node) == [("d", "hamlet@localhost", "for the desk")], s
            await mark.nothing_more(desk, phone, what="a notification for the other resource or a copy")
            await desk.plugin["xep_0060"].unsubscribe(SERVICE, node, bare=False, timeout=TIMEOUT)
            assert await node_subscriptions(owner, node) == {}

    run(main())


def test_subscribe_and_unsubscribe_errors(ps_server):
    """XEP-0060 §6.1.3.1: another bare JID is bad-request + invalid-jid;
    §6.1.3.12 a missing node item-not-found; §6.2.3.2 unsubscribing without a
    subscription unexpected-request + not-subscribed; §6.2.3.3 unsubscribing
    someone else forbidden; §6.2.3.4 a missing node item-not-found. Nothing
    changes; everyone is served afterwards."""
    node = "subscribe-errors"

    async def main():
        async with online(ps_server, "hamlet", "suberr") as owner, online(
            ps_server, "horatio", "suberr"
        ) as a, online(ps_server, "francisco", "suberr") as b:
            await create(owner, node)
            await subscribe(b, node)
            xep = a.plugin["xep_0060"]
            await all_refused([
                ("subscribing another JID", lambda: xep.subscribe(SERVICE, node, subscribee="bernardo@localhost",
                                                                  timeout=TIMEOUT),
                 "modify", "bad-request", "invalid-jid"),
                ("subscribing another's full JID",
                 lambda: xep.subscribe(SERVICE, node, subscribee="bernardo@localhost/x", timeout=TIMEOUT),
                 "modify", "bad-request", "invalid-jid"),
                ("subscribing to a missing node", lambda: xep.subscribe(SERVICE, "subscribe-errors-missing",
                                                                        timeout=TIMEOUT),
                 "cancel", "item-not-found", None),
                # The XEP's example says cancel, RFC 6120 §8.3.3.22 wait or modify.
                ("unsubscribing without a subscription", lambda: xep.unsubscribe(SERVICE, node, timeout=TIMEOUT),
                 ("cancel", "wait"), "unexpected-request", "not-subscribed"),
                ("unsubscribing someone else",
                 lambda: xep.unsubscribe(SERVICE, node, subscribee="francisco@localhost", timeout=TIMEOUT),
                 "auth", "forbidden", None),
                ("unsubscribing from a missing node",
                 lambda: xep.unsubscribe(SERVICE, "subscribe-errors-missing", timeout=TIMEOUT),
                 "cancel", "item-not-found", None),
            ])
            assert await node_subscriptions(owner, node) == {"francisco@localhost": "subscribed"}
            await subscribe(a, node)
            await publish(owner, node, entry("all well"), id="w")
            for c in (a, b):
                assert_item_event(await next_event(c, "the item"), node, "w", "all well", "hamlet@localhost", bare(c))

    run(main())


def options_iq(c, itype, node, jid, form=None):
    attrs = {"node": node, "jid": jid}
    kids = [form] if form is not None else []
    return ps(c, itype, P("options", *kids, **{k: v for k, v in attrs.items() if v is not None}))


async def get_options(c, node, jid):
    res = await options_iq(c, "get", node, jid)
    opts = res.find(f"{{{NS_PUBSUB}}}options")
    assert opts is not None, f"an <options/> in the result: {ET.tostring(res)}"
    return check_form_type(opts.find(f"{{{NS_DATA}}}x"), NS_SUB_OPTIONS, "form")


def test_subscription_options_get_and_set(ps_server):
    """XEP-0060 §6.3: the subscriber gets the subscribe_options form (with
    pubsub#deliver, boolean) and submits it: deliver false stops the
    notifications, true brings them back; §6.3.7 options sent with the
    subscribe apply at once."""
    node = "options-node"

    async def main():
        async with online(ps_server, "hamlet", "opt1") as owner, online(
            ps_server, "horatio", "opt1"
        ) as sub, online(ps_server, "francisco", "opt1") as other:
            mark = await Marker.create(owner, "options")
            await create(owner, node, cfg(send_last_published_item="never"))
            await mark.join(sub, other)
            await subscribe(sub, node)
            form = await get_options(sub, node, "horatio@localhost")
            assert form["pubsub#deliver"].type == "boolean" and truth(one(form, "pubsub#deliver")) is True, form

            await options_iq(sub, "set", node, "horatio@localhost", submit_form(NS_SUB_OPTIONS, cfg(deliver=False)))
            assert truth(one(await get_options(sub, node, "horatio@localhost"), "pubsub#deliver")) is False
            await publish(owner, node, entry("muted"), id="m")
            await mark.nothing_more(sub, what="a notification with deliver false")

            await options_iq(sub, "set", node, "horatio@localhost", submit_form(NS_SUB_OPTIONS, cfg(deliver=True)))
            await publish(owner, node, entry("heard"), id="h")
            assert_item_event(await next_event(sub, "the item"), node, "h", "heard", "hamlet@localhost", bare(sub))

            # Subscribe and configure in one request (§6.3.7).
            s = await subscribe(other, node, options=cfg(deliver=False))
            assert s["subscription"] == "subscribed", s
            assert truth(one(await get_options(other, node, "francisco@localhost"), "pubsub#deliver")) is False
            await publish(owner, node, entry("muted again"), id="m2")
            assert_item_event(await next_event(sub, "the item"), node, "m2", "muted again", "hamlet@localhost",
                              bare(sub))
            await mark.nothing_more(sub, other)

    run(main())


def test_subscription_options_errors(ps_server):
    """XEP-0060 §6.3.4: another's options forbidden, no subscription
    unexpected-request + not-subscribed, no JID bad-request + jid-required, a
    missing node item-not-found; §6.3.6.2 an invalid value bad-request +
    invalid-options. The options stay; everyone is served afterwards."""
    node = "options-errors"

    async def main():
        async with online(ps_server, "hamlet", "opterr") as owner, online(
            ps_server, "horatio", "opterr"
        ) as sub, online(ps_server, "francisco", "opterr") as other:
            await create(owner, node)
            await subscribe(sub, node)
            deliver = lambda v: submit_form(NS_SUB_OPTIONS, cfg(deliver=v))  # noqa: E731
            await all_refused([
                ("another's options (get)", lambda: options_iq(other, "get", node, "horatio@localhost"),
                 "auth", "forbidden", None),
                ("another's options (set)", lambda: options_iq(other, "set", node, "horatio@localhost", deliver(False)),
                 "auth", "forbidden", None),
                # The XEP's example says modify, RFC 6120 §8.3.3.22 wait or modify.
                ("not subscribed (get)", lambda: options_iq(other, "get", node, "francisco@localhost"),
                 ("modify", "wait"), "unexpected-request", "not-subscribed"),
                ("not subscribed (set)", lambda: options_iq(other, "set", node, "francisco@localhost", deliver(False)),
                 ("modify", "wait"), "unexpected-request", "not-subscribed"),
                ("no JID", lambda: options_iq(sub, "get", node, None), "modify", "bad-request", "jid-required"),
                ("a missing node", lambda: options_iq(sub, "get", "options-errors-missing", "horatio@localhost"),
                 "cancel", "item-not-found", None),
                ("an invalid value", lambda: options_iq(sub, "set", node, "horatio@localhost",
                                                        submit_form(NS_SUB_OPTIONS, cfg(deliver="perhaps"))),
                 "modify", "bad-request", "invalid-options"),
            ])
            assert truth(one(await get_options(sub, node, "horatio@localhost"), "pubsub#deliver")) is True
            await subscribe(other, node)
            await publish(owner, node, entry("fine"), id="f")
            for c in (sub, other):
                assert_item_event(await next_event(c, "the item"), node, "f", "fine", "hamlet@localhost", bare(c))

    run(main())


def test_default_subscription_options(ps_server):
    """XEP-0060 §6.4: <default/> in the pubsub namespace gives the
    subscribe_options defaults, or, where not supported,
    feature-not-implemented + unsupported retrieve-default-sub; disco#info
    says which."""

    async def main():
        async with online(ps_server, "horatio", "defsub") as c:
            advertised = f"{NS_PUBSUB}#retrieve-default-sub" in features(await disco_info(c))
            if advertised:
                res = await ps(c, "get", P("default"))
                d = res.find(f"{{{NS_PUBSUB}}}default")
                assert d is not None, ET.tostring(res)
                check_form_type(d.find(f"{{{NS_DATA}}}x"), NS_SUB_OPTIONS, "result")
            else:
                await refused(ps(c, "get", P("default")), "cancel", "feature-not-implemented", "unsupported",
                              "<default/> without retrieve-default-sub", feature="retrieve-default-sub")

    run(main())


# ============================================================ 6.5 retrieve items


def test_retrieve_all_newest_n_and_by_id(ps_server):
    """XEP-0060 §6.5.2 (all items), §6.5.7 (max_items: the newest N), §6.5.6
    and §6.5.8 (by ItemID, several at once), §6.5.9.11 (no such item: an empty
    result); any entity may retrieve from an open node (§6.5.1)."""
    node = "items-node"

    async def main():
        async with online(ps_server, "hamlet", "items1") as owner, online(ps_server, "horatio", "items1") as reader:
            await create(owner, node)
            assert await items_of(reader, node) == [], "an empty node has an empty <items/>"
            for i in range(1, 6):
                await publish(owner, node, entry(f"entry {i}"), id=f"i{i}")
            everything = await items_of(reader, node)
            assert sorted(everything) == [(f"i{i}", f"entry {i}") for i in range(1, 6)], everything
            newest = await items_of(reader, node, max_items=2)
            assert sorted(newest) == [("i4", "entry 4"), ("i5", "entry 5")], newest
            assert await items_of(reader, node, max_items=1) == [("i5", "entry 5")]
            assert sorted(await items_of(reader, node, max_items=50)) == sorted(everything)
            assert sorted(await items_of(reader, node, ids=["i2", "i4"])) == [("i2", "entry 2"), ("i4", "entry 4")]
            assert await items_of(reader, node, ids=["i3"]) == [("i3", "entry 3")]
            assert await items_of(reader, node, ids=["no-such-item"]) == [], "§6.5.9.11: an empty <items/>"
            await refused(items_of(reader, "items-node-missing"), "cancel", "item-not-found", None,
                          "items of a missing node (§6.5.9.11)")

    run(main())


def rsm_set(**kw):
    s = el(NS_RSM, "set")
    for k, v in kw.items():
        ET.SubElement(s, f"{{{NS_RSM}}}{k}").text = str(v)
    return s


async def items_page(c, node, **rsm):
    res = await ps(c, "get", P("items", node=node), rsm_set(**rsm))
    if rsm.get("max") == 0 and res is not None and res.find(f"{{{NS_PUBSUB}}}items") is None:
        got = []  # XEP-0059 §2.6: a count alone
    else:
        got = [i for i, _ in items_in(res, node)]
    st = res.find(f"{{{NS_RSM}}}set")
    assert st is not None, f"a paged result carries <set/> (XEP-0059 §2.1, XEP-0060 §6.5.4): {ET.tostring(res)}"
    return got, {k: st.findtext(f"{{{NS_RSM}}}{k}") for k in ("first", "last", "count")}


def test_retrieve_items_with_rsm_paging(ps_server):
    """XEP-0060 §6.5.4 with XEP-0059: pages of <max/> items, newest first
    (plugins/README.md), with first/last/count; <after/> goes on; the empty page has no
    first/last (XEP-0059 §2.2)."""
    node = "items-rsm"

    async def main():
        async with online(ps_server, "hamlet", "rsm") as owner, online(ps_server, "horatio", "rsm") as reader:
            await create(owner, node)
            for i in range(1, 6):
                await publish(owner, node, entry(f"entry {i}"), id=f"i{i}")
            page, st = await items_page(reader, node, max=2)
            assert page == ["i5", "i4"], page
            assert st == {"first": "i5", "last": "i4", "count": "5"}, st
            page, st = await items_page(reader, node, max=2, after="i4")
            assert page == ["i3", "i2"], page
            assert (st["first"], st["last"], st["count"]) == ("i3", "i2", "5"), st
            page, st = await items_page(reader, node, max=2, after="i2")
            assert page == ["i1"], page
            assert (st["first"], st["last"]) == ("i1", "i1"), st
            page, st = await items_page(reader, node, max=2, after="i1")
            assert page == [] and st["first"] is None and st["last"] is None, (page, st)
            page, st = await items_page(reader, node, max=0)
            assert page == [] and st["count"] == "5", (page, st)

    run(main())


def test_last_published_item_sent_on_subscribe_with_delay(ps_server):
    """XEP-0060 §6.1.7 and §12.9: on_sub (the service default) sends a new
    subscriber the last published item only, stamped with a XEP-0203 delay;
    never sends nothing."""
    node, never = "last-item", "last-item-never"

    async def main():
        async with online(ps_server, "hamlet", "last") as owner, online(
            ps_server, "horatio", "last"
        ) as sub, online(ps_server, "francisco", "last") as other:
            mark = await Marker.create(owner, "last-item")
            await mark.join(sub, other)
            await create(owner, node)
            await create(owner, never, cfg(send_last_published_item="never"))
            before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
            for i in (1, 2, 3):
                await publish(owner, node, entry(f"entry {i}"), id=f"l{i}")
                await publish(owner, never, entry(f"entry {i}"), id=f"n{i}")
            await subscribe(sub, node)
            s = await next_event(sub, "the last published item")
            assert notified_items(s, node) == [("l3", "hamlet@localhost", "entry 3")], f"only the last item: {s}"
            stamp = delay_of(s)
            assert stamp is not None, f"the last item SHOULD carry a urn:xmpp:delay (§6.1.7): {s}"
            after = datetime.datetime.now(datetime.timezone.utc)
            assert before - datetime.timedelta(seconds=1) <= stamp <= after, (before, stamp, after)
            await subscribe(other, never)
            await mark.nothing_more(sub, other, what="more items / an item with send_last_published_item never")

    run(main())


# ============================================================ 8.8 / 8.9 owner management


def test_owner_manages_affiliations(ps_server):
    """XEP-0060 §8.9: the owner lists, grants and removes affiliations; a
    publisher publishes, a member does not (§4.1); an outcast may neither
    subscribe nor retrieve (forbidden, §6.1.3.8 and §6.5.9.10); 'none'
    removes the entry (§8.9.2.3); each entity sees its own (§5.7)."""
    node = "affiliations-node"

    async def main():
        async with online(ps_server, "hamlet", "aff1") as owner, online(
            ps_server, "horatio", "aff1"
        ) as pub, online(ps_server, "francisco", "aff1") as member, online(ps_server, "bernardo", "aff1") as outcast:
            await create(owner, node)
            await set_affiliations(owner, node, ("horatio@localhost", "publisher"),
                                   ("francisco@localhost", "member"), ("bernardo@localhost", "outcast"))
            assert await node_affiliations(owner, node) == {
                "hamlet@localhost": "owner", "horatio@localhost": "publisher",
                "francisco@localhost": "member", "bernardo@localhost": "outcast"}
            assert await my_affiliations(pub, node) == [(node, "publisher")]
            assert (node, "member") in await my_affiliations(member)
            await publish(pub, node, entry("by a publisher"), id="p")
            await refused(publish(member, node, entry("x"), id="m"), "auth", "forbidden", None, "a member publishes")
            await subscribe(member, node)
            assert await items_of(member, node) == [("p", "by a publisher")]
            await all_refused([
                ("an outcast subscribes", lambda: outcast.plugin["xep_0060"].subscribe(SERVICE, node, timeout=TIMEOUT),
                 "auth", "forbidden", None),
                ("an outcast retrieves", lambda: items_of(outcast, node), "auth", "forbidden", None),
                ("an outcast publishes", lambda: publish(outcast, node, entry("x"), id="o"), "auth", "forbidden", None),
            ])
            await set_affiliations(owner, node, ("bernardo@localhost", "none"), ("horatio@localhost", "none"))
            assert await node_affiliations(owner, node) == {"hamlet@localhost": "owner",
                                                            "francisco@localhost": "member"}
            await subscribe(outcast, node)  # no longer an outcast
            if f"{NS_PUBSUB}#publish-only-affiliation" in features(await disco_info(owner)):
                # §4.1: publish-only may publish (and, per the table, not subscribe).
                await set_affiliations(owner, node, ("bernardo@localhost", "publish-only"))
                await publish(outcast, node, entry("publish-only"), id="po")
                assert ("po", "publish-only") in await items_of(owner, node)
                await set_affiliations(owner, node, ("bernardo@localhost", "none"))
            await refused(publish(pub, node, entry("x"), id="p2"), "auth", "forbidden", None,
                          "a former publisher publishes")
            # A second owner may then manage the node.
            await set_affiliations(owner, node, ("horatio@localhost", "owner"))
            await configure(pub, node, cfg(title="Co-owned"))

    run(main())


def test_affiliation_errors(ps_server):
    """XEP-0060 §8.9.1.3 / §8.9.2.4: a non-owner is forbidden, a missing node
    item-not-found; §8.9.2.5 the only owner cannot be removed (not-acceptable)
    and one JID twice is bad-request; an affiliation the service does not
    support (publish-only, unless advertised) is feature-not-implemented +
    unsupported. Nothing changes."""
    node = "affiliation-errors"

    async def main():
        async with online(ps_server, "hamlet", "afferr") as owner, online(ps_server, "horatio", "afferr") as other:
            await create(owner, node)
            await set_affiliations(owner, node, ("francisco@localhost", "member"))
            two = lambda c, *pairs: owner_ps(c, "set", O("affiliations", *[  # noqa: E731
                O("affiliation", jid=j, affiliation=a) for j, a in pairs], node=node))
            checks = [
                ("a non-owner lists", lambda: node_affiliations(other, node), "auth", "forbidden", None),
                ("a non-owner sets", lambda: set_affiliations(other, node, ("horatio@localhost", "owner")),
                 "auth", "forbidden", None),
                ("a missing node (get)", lambda: node_affiliations(owner, "affiliation-errors-missing"),
                 "cancel", "item-not-found", None),
                ("a missing node (set)", lambda: set_affiliations(owner, "affiliation-errors-missing",
                                                                  ("horatio@localhost", "member")),
                 "cancel", "item-not-found", None),
                ("removing the only owner", lambda: set_affiliations(owner, node, ("hamlet@localhost", "none")),
                 "modify", "not-acceptable", None),
                ("one JID twice", lambda: two(owner, ("horatio@localhost", "member"), ("horatio@localhost", "publisher")),
                 "modify", "bad-request", ANY),
            ]
            if f"{NS_PUBSUB}#publish-only-affiliation" not in features(await disco_info(owner)):
                checks.append(("publish-only, not supported",
                               lambda: set_affiliations(owner, node, ("horatio@localhost", "publish-only")),
                               "cancel", "feature-not-implemented", "unsupported",
                               {"feature": "publish-only-affiliation"}))
            await all_refused(checks)
            assert await node_affiliations(owner, node) == {"hamlet@localhost": "owner",
                                                            "francisco@localhost": "member"}
            await set_affiliations(owner, node, ("horatio@localhost", "publisher"))
            await publish(other, node, entry("served"), id="s")

    run(main())


def is_item_event(node):
    return lambda s: sfrom(s) == SERVICE and (event_of(s) is not None) and (
        event_of(s).find(f"{{{NS_EVENT}}}items[@node='{node}']") is not None)


def test_owner_manages_subscriptions(ps_server):
    """XEP-0060 §8.8: the owner lists the subscriptions, subscribes another
    entity and removes one ('none', §8.8.3); notifications follow. (Telling
    the entity: test_owner_changes_to_subscriptions_notify_the_entity.)"""
    node = "manage-subscriptions"

    async def main():
        async with online(ps_server, "hamlet", "msub") as owner, online(
            ps_server, "horatio", "msub"
        ) as a, online(ps_server, "francisco", "msub") as b:
            mark = await Marker.create(owner, "manage-subs-core")
            await mark.join(a)
            await create(owner, node)
            await subscribe(a, node)
            assert await node_subscriptions(owner, node) == {"horatio@localhost": "subscribed"}
            await owner.plugin["xep_0060"].modify_subscriptions(
                SERVICE, node, [("francisco@localhost", "subscribed")], timeout=TIMEOUT)
            assert await node_subscriptions(owner, node) == {"horatio@localhost": "subscribed",
                                                              "francisco@localhost": "subscribed"}
            assert await my_subscriptions(b, node) == [(node, "francisco@localhost", "subscribed")]
            await publish(owner, node, entry("for both"), id="both")
            for c in (a, b):
                s = await next_in(c, is_item_event(node), "the item")
                assert_item_event(s, node, "both", "for both", "hamlet@localhost", bare(c))
            await owner.plugin["xep_0060"].modify_subscriptions(
                SERVICE, node, [("horatio@localhost", "none")], timeout=TIMEOUT)
            assert await node_subscriptions(owner, node) == {"francisco@localhost": "subscribed"}
            assert await my_subscriptions(a, node) == []
            await publish(owner, node, entry("for one"), id="one")
            s = await next_in(b, is_item_event(node), "the item")
            assert_item_event(s, node, "one", "for one", "hamlet@localhost", bare(b))
            got = (await mark.sync(a))[0]
            assert not [x for x in got if is_item_event(node)(x)], (
                f"a removed subscriber got items: {[str(x) for x in got]}")

    run(main())


def test_owner_changes_to_subscriptions_notify_the_entity(ps_server):
    """XEP-0060 §8.8.4 and §12.6 (SHOULD): an entity whose subscription the
    owner changed gets <subscription node jid subscription/>, and nothing else."""
    node = "manage-subscriptions-notify"

    async def main():
        async with online(ps_server, "hamlet", "msn") as owner, online(
            ps_server, "horatio", "msn"
        ) as a, online(ps_server, "francisco", "msn") as b:
            mark = await Marker.create(owner, "manage-subs")
            await create(owner, node)
            await mark.join(a, b)
            await subscribe(a, node)
            await owner.plugin["xep_0060"].modify_subscriptions(
                SERVICE, node, [("francisco@localhost", "subscribed"), ("horatio@localhost", "none")], timeout=TIMEOUT)
            for c, state in ((b, "subscribed"), (a, "none")):
                got = (await mark.sync(c))[0]
                assert len(got) == 1, f"{c.boundjid.full}: expected one subscription notification: {[str(x) for x in got]}"
                e = event_child(got[0])
                assert (local(e.tag), e.get("node"), JID(e.get("jid")).bare, e.get("subscription")) == (
                    "subscription", node, bare(c), state), got[0]

    run(main())


def test_subscription_management_errors(ps_server):
    """XEP-0060 §8.8.1.3 / §8.8.2.3: a non-owner is forbidden, a missing node
    item-not-found; §8.8.2.4 an invalid entry is an error (not-acceptable).
    Nothing changes."""
    node = "manage-subscriptions-errors"

    async def main():
        async with online(ps_server, "hamlet", "mserr") as owner, online(ps_server, "horatio", "mserr") as other:
            await create(owner, node)
            await subscribe(other, node)
            mod = lambda c, n, pairs: c.plugin["xep_0060"].modify_subscriptions(  # noqa: E731
                SERVICE, n, pairs, timeout=TIMEOUT)
            await all_refused([
                ("a non-owner lists", lambda: node_subscriptions(other, node), "auth", "forbidden", None),
                ("a non-owner sets", lambda: mod(other, node, [("francisco@localhost", "subscribed")]),
                 "auth", "forbidden", None),
                ("a missing node (get)", lambda: node_subscriptions(owner, "manage-subscriptions-missing"),
                 "cancel", "item-not-found", None),
                ("a missing node (set)", lambda: mod(owner, "manage-subscriptions-missing",
                                                     [("horatio@localhost", "none")]),
                 "cancel", "item-not-found", None),
                ("an invalid state", lambda: mod(owner, node, [("horatio@localhost", "half-subscribed")]),
                 "modify", "not-acceptable", None),
            ])
            assert await node_subscriptions(owner, node) == {"horatio@localhost": "subscribed"}

    run(main())


# ============================================================ 4.5 access models


def test_access_model_open(ps_server):
    """XEP-0060 §4.5: open: any entity may subscribe and retrieve items without any affiliation."""
    node = "access-open"

    async def main():
        async with online(ps_server, "hamlet", "open") as owner, online(ps_server, "lucianus", "open") as anyone:
            await create(owner, node, cfg(access_model="open", send_last_published_item="never"))
            await publish(owner, node, entry("public"), id="pub")
            assert await items_of(anyone, node) == [("pub", "public")], "retrieval without subscribing"
            assert (await subscribe(anyone, node))["subscription"] == "subscribed"

    run(main())


def test_access_model_presence(ps_server):
    """XEP-0060 §4.5 presence: a contact subscribed to the owner's presence may
    subscribe and retrieve; anyone else gets not-authorized +
    presence-subscription-required (§6.1.3.2, §6.5.9.6)."""
    node = "access-presence"

    async def main():
        async with online(ps_server, "gertrude", "pres", roster=True) as owner, online(
            ps_server, "claudius", "pres", roster=True
        ) as contact, online(ps_server, "osric", "pres") as stranger:
            await befriend(owner, contact)
            await create(owner, node, cfg(access_model="presence", send_last_published_item="never"))
            await publish(owner, node, entry("for my contacts"), id="c")
            assert await items_of(contact, node) == [("c", "for my contacts")]
            assert (await subscribe(contact, node))["subscription"] == "subscribed"
            await all_refused([
                ("a stranger subscribes", lambda: stranger.plugin["xep_0060"].subscribe(SERVICE, node, timeout=TIMEOUT),
                 "auth", "not-authorized", "presence-subscription-required"),
                ("a stranger retrieves", lambda: items_of(stranger, node),
                 "auth", "not-authorized", "presence-subscription-required"),
            ])
            await publish(owner, node, entry("news"), id="n")
            assert_item_event(await next_event(contact, "the item"), node, "n", "news", "gertrude@localhost",
                              bare(contact))

    run(main())


def test_access_model_roster(ps_server):
    """XEP-0060 §4.5 roster: contacts in one of roster_groups_allowed may
    subscribe and retrieve; a contact in another group, or a stranger, gets
    not-authorized + not-in-roster-group (§6.1.3.3, §6.5.9.7)."""
    node = "access-roster"

    async def main():
        async with online(ps_server, "yorick", "roster", roster=True) as owner, online(
            ps_server, "rosencrantz", "roster", roster=True
        ) as friend, online(ps_server, "guildenstern", "roster", roster=True) as other, online(
            ps_server, "fortinbras", "roster"
        ) as stranger:
            await befriend(owner, friend, ["Friends"])
            await befriend(owner, other, ["Courtiers"])
            await create(owner, node, cfg(access_model="roster", roster_groups_allowed=["Friends"],
                                          send_last_published_item="never"))
            conf = await get_config(owner, node)
            assert conf["pubsub#roster_groups_allowed"].values == ["Friends"], conf["pubsub#roster_groups_allowed"]
            await publish(owner, node, entry("alas"), id="a")
            assert await items_of(friend, node) == [("a", "alas")]
            assert (await subscribe(friend, node))["subscription"] == "subscribed"
            checks = []
            for who, c in (("a contact in another group", other), ("a stranger", stranger)):
                checks += [
                    (f"{who} subscribes", lambda c=c: c.plugin["xep_0060"].subscribe(SERVICE, node, timeout=TIMEOUT),
                     "auth", "not-authorized", "not-in-roster-group"),
                    (f"{who} retrieves", lambda c=c: items_of(c, node), "auth", "not-authorized", "not-in-roster-group"),
                ]
            await all_refused(checks)
            await publish(owner, node, entry("poor"), id="p")
            assert_item_event(await next_event(friend, "the item"), node, "p", "poor", "yorick@localhost", bare(friend))

    run(main())


async def authorization_request(owner, node, subscriber):
    """The owner's approval message (XEP-0060 §8.6): (message, its form fields)."""
    # Skipping item notifications: a service MAY auto-subscribe owners (§12.10).
    s = await next_in(owner, lambda s: sfrom(s) == SERVICE and s.xml.find(f"{{{NS_DATA}}}x") is not None,
                      f"the authorization request for {subscriber}")
    assert event_of(s) is None, f"an authorization request is not an event notification: {s}"
    x = s.xml.find(f"{{{NS_DATA}}}x")
    fields = check_form_type(x, NS_SUB_AUTH, "form")
    assert one(fields, "pubsub#node") == node, fields
    assert JID(one(fields, "pubsub#subscriber_jid")).bare == subscriber, fields
    assert fields["pubsub#allow"].type == "boolean", fields["pubsub#allow"]
    return s, fields


def answer_authorization(owner, request, fields, allow):
    """The submitted form, with the request's 'id' (§8.6)."""
    values = {var: f.values for var, f in fields.items() if var != "FORM_TYPE" and f.type != "fixed"}
    values["pubsub#allow"] = allow
    m = owner.make_message(mto=SERVICE)
    m["id"] = request.xml.get("id")
    m.append(submit_form(NS_SUB_AUTH, values))
    m.send()


def test_access_model_authorize_approval(ps_server):
    """XEP-0060 §4.5 authorize, §6.1.5, §8.6: a subscription is pending and the
    owner gets a subscribe_authorization form; subscribing again while pending
    is not-authorized + pending-subscription (§6.1.3.7) and retrieving
    not-authorized + not-subscribed (§6.5.9.3); the owner's submitted form
    approves: the subscriber gets subscription='subscribed' (ours, §12.6) and
    then the new items (send_last_published_item never: no old one)."""
    node = "access-authorize"

    async def main():
        async with online(ps_server, "ophelia", "auth") as owner, online(ps_server, "polonius", "auth") as approved:
            mark = await Marker.create(owner, "authorize")
            await mark.join(approved)
            await create(owner, node, cfg(access_model="authorize", send_last_published_item="never"))
            await publish(owner, node, entry("private"), id="p")

            sub = await subscribe(approved, node)
            assert (sub["jid"], sub["subscription"]) == ("polonius@localhost", "pending"), sub
            request, fields = await authorization_request(owner, node, "polonius@localhost")
            xep = approved.plugin["xep_0060"]
            await all_refused([
                ("subscribing again while pending", lambda: xep.subscribe(SERVICE, node, timeout=TIMEOUT),
                 "auth", "not-authorized", "pending-subscription"),
                ("retrieving while pending", lambda: items_of(approved, node), "auth", "not-authorized",
                 "not-subscribed"),
            ])
            answer_authorization(owner, request, fields, True)
            s = await next_event(approved, "the approval")
            c = event_child(s)
            assert (local(c.tag), c.get("node"), JID(c.get("jid")).bare, c.get("subscription")) == (
                "subscription", node, "polonius@localhost", "subscribed"), s
            assert await node_subscriptions(owner, node) == {"polonius@localhost": "subscribed"}
            assert await items_of(approved, node) == [("p", "private")]
            await publish(owner, node, entry("for the approved"), id="q")
            assert_item_event(await next_event(approved, "the item"), node, "q", "for the approved",
                              "ophelia@localhost", bare(approved))
            await mark.nothing_more(approved)

    run(main())


def test_access_model_authorize_denial(ps_server):
    """XEP-0060 §8.6: the owner's form with pubsub#allow false denies: the
    subscriber gets subscription='none' (ours, §12.6), is not listed, may not
    retrieve (not-authorized + not-subscribed) and gets no notification."""
    node = "access-authorize-deny"

    async def main():
        async with online(ps_server, "ophelia", "deny") as owner, online(ps_server, "laertes", "deny") as denied:
            mark = await Marker.create(owner, "authorize-deny")
            await mark.join(denied)
            await create(owner, node, cfg(access_model="authorize", send_last_published_item="never"))
            sub = await subscribe(denied, node)
            assert (sub["jid"], sub["subscription"]) == ("laertes@localhost", "pending"), sub
            request, fields = await authorization_request(owner, node, "laertes@localhost")
            answer_authorization(owner, request, fields, False)
            s = await next_event(denied, "the denial")
            c = event_child(s)
            assert (local(c.tag), c.get("node"), JID(c.get("jid")).bare, c.get("subscription")) == (
                "subscription", node, "laertes@localhost", "none"), s
            assert await node_subscriptions(owner, node) == {}
            await refused(items_of(denied, node), "auth", "not-authorized", "not-subscribed", "retrieving when denied")
            await publish(owner, node, entry("not for the denied"), id="q")
            await mark.nothing_more(denied)

    run(main())


def test_access_model_whitelist(ps_server):
    """XEP-0060 §4.5 whitelist: only affiliated entities: others get
    not-allowed + closed-node (§6.1.3.4, §6.5.9.8); once the owner makes them
    members, they subscribe and retrieve."""
    node = "access-whitelist"

    async def main():
        async with online(ps_server, "marcellus", "wl") as owner, online(ps_server, "reynaldo", "wl") as outsider:
            await create(owner, node, cfg(access_model="whitelist", send_last_published_item="never"))
            await publish(owner, node, entry("closed"), id="c")
            await all_refused([
                ("an outsider subscribes",
                 lambda: outsider.plugin["xep_0060"].subscribe(SERVICE, node, timeout=TIMEOUT),
                 "cancel", "not-allowed", "closed-node"),
                ("an outsider retrieves", lambda: items_of(outsider, node), "cancel", "not-allowed", "closed-node"),
            ])
            assert await node_subscriptions(owner, node) == {}
            await set_affiliations(owner, node, ("reynaldo@localhost", "member"))
            assert (await subscribe(outsider, node))["subscription"] == "subscribed"
            assert await items_of(outsider, node) == [("c", "closed")]

    run(main())


# ============================================================ persistence and max_items


def test_transient_node(ps_server):
    """XEP-0060 §4.3 (persist_items false): notifications carry the payload
    but the items are not kept: retrieval returns none of the older items
    (only the last, §6.5.5, or feature-not-implemented + unsupported
    persistent-items, §6.5.9.4)."""
    node = "transient-node"

    async def main():
        async with online(ps_server, "hamlet", "trans") as owner, online(ps_server, "horatio", "trans") as sub:
            await create(owner, node, cfg(persist_items=False))
            await subscribe(sub, node)
            for i in (1, 2):
                await publish(owner, node, entry(f"fleeting {i}"), id=f"t{i}")
                assert_item_event(await next_event(sub, "the item"), node, f"t{i}", f"fleeting {i}",
                                  "hamlet@localhost", bare(sub))
            try:
                got = await items_of(sub, node)
            except IqError as e:
                assert error_of(e.iq) == ("cancel", "feature-not-implemented", "unsupported",
                                          {"feature": "persistent-items"}), e.iq
            else:
                assert got in ([], [("t2", "fleeting 2")]), f"a transient node kept {got}"

    run(main())


def test_max_items_trims_the_oldest(ps_server):
    """XEP-0060 §7.1.2.5: a node at max_items drops the oldest item for the
    new one; lowering max_items keeps the newest."""
    node = "max-items"

    async def main():
        async with online(ps_server, "hamlet", "maxi") as owner:
            await create(owner, node, cfg(max_items=3))
            for i in range(1, 6):
                await publish(owner, node, entry(f"entry {i}"), id=f"m{i}")
            assert sorted(await items_of(owner, node)) == [(f"m{i}", f"entry {i}") for i in (3, 4, 5)]
            await publish(owner, node, entry("entry 3 again"), id="m3")
            await publish(owner, node, entry("entry 6"), id="m6")
            assert sorted(await items_of(owner, node)) == [("m3", "entry 3 again"), ("m5", "entry 5"),
                                                           ("m6", "entry 6")], "republishing made m3 the newest"

    run(main())


def test_max_items_max(ps_server):
    """XEP-0060 §16 config-node-max: max_items 'max' is the service's limit
    (max_items, 10000): more than the default 256 are kept."""
    node = "max-items-max"

    async def main():
        async with online(ps_server, "hamlet", "maxmax") as owner:
            await create(owner, node, cfg(max_items="max"))
            conf = await get_config(owner, node)
            assert one(conf, "pubsub#max_items") in ("max", "10000"), conf["pubsub#max_items"]
            for i in range(260):
                await publish(owner, node, entry(f"{i}"), id=f"x{i}")
            got = await items_of(owner, node)
            assert len(got) == 260 and ("x0", "0") in got, f"{len(got)} items kept, the oldest kept: {('x0', '0') in got}"

    run(main())


# ============================================================ XEP-0248 collections


async def make_collection(owner, coll, leaf):
    await create(owner, coll, cfg(node_type="collection", title="Weblog updates"))
    await create(owner, leaf, cfg(collection=coll))


def test_collection_discovery_and_configuration(ps_server):
    """XEP-0248 §7.1: a collection (node_type collection) and a leaf in it
    (pubsub#collection); the collection's disco#items lists the leaf (§5.2)
    and its info says pubsub/collection; the configuration forms show the
    link both ways (§7.2: node_type, collection, children MUST be supplied;
    §9.3: they reflect the graph)."""
    coll, leaf = "coll-disco", "coll-disco-leaf"

    async def main():
        async with online(ps_server, "hamlet", "colld") as owner, online(ps_server, "horatio", "colld") as other:
            await make_collection(owner, coll, leaf)
            assert ("pubsub", "collection") in identities(await disco_info(other, node=coll))
            assert ("pubsub", "leaf") in identities(await disco_info(other, node=leaf))
            items = await disco_items(other, node=coll)
            assert [(i.get("jid"), i.get("node")) for i in items] == [(SERVICE, leaf)], items
            assert (SERVICE, coll) in [(i.get("jid"), i.get("node")) for i in await disco_items(other)]
            lconf = await get_config(owner, leaf)
            assert lconf["pubsub#collection"].values == [coll], lconf.get("pubsub#collection")
            assert one(lconf, "pubsub#node_type") == "leaf"
            cconf = await get_config(owner, coll)
            assert one(cconf, "pubsub#node_type") == "collection"
            assert "pubsub#children" in cconf, f"a collection's form has pubsub#children: {sorted(cconf)}"
            assert cconf["pubsub#children"].values == [leaf], cconf["pubsub#children"]

    run(main())


def test_collection_subscriber_gets_leaf_notifications(ps_server):
    """XEP-0248 §6.1 and §5.3.1: a subscriber of the collection (subscription
    type items) gets the leaf's notifications, naming the leaf, with a SHIM
    Collection header; a collection takes no items (XEP-0248 §3.1, XEP-0060
    §7.1.3.2: feature-not-implemented + unsupported publish)."""
    coll, leaf = "blogs", "blogs-princely-musings"

    async def main():
        async with online(ps_server, "hamlet", "coll") as owner, online(ps_server, "horatio", "coll") as sub:
            mark = await Marker.create(owner, "collections")
            await mark.join(sub)
            await make_collection(owner, coll, leaf)
            s = await subscribe(sub, coll, options=cfg(subscription_type="items"))
            assert s["subscription"] == "subscribed", s
            await publish(owner, leaf, entry("Soliloquy"), id="ae890")
            s = await next_event(sub, "the leaf's notification through the collection")
            assert_item_event(s, leaf, "ae890", "Soliloquy", "hamlet@localhost", bare(sub))
            headers = s.xml.findall(f"{{{NS_SHIM}}}headers/{{{NS_SHIM}}}header")
            assert [(h.get("name"), h.text) for h in headers] == [("Collection", coll)], f"the SHIM header: {s}"
            await mark.nothing_more(sub)
            await refused(publish(owner, coll, entry("x"), id="x"), "cancel", "feature-not-implemented",
                          "unsupported", "a publish to a collection", feature="publish")

    run(main())


def test_collection_errors(ps_server):
    """XEP-0248 §7.2.3: a leaf cannot have children (not-allowed +
    invalid-options), a collection cannot become a leaf (same), and no cycle
    may be made (same); §7.4.3 the root node (no NodeID) cannot be deleted
    (not-allowed). The graph stays as it was."""
    a, b, leaf = "coll-err-a", "coll-err-b", "coll-err-leaf"

    async def main():
        async with online(ps_server, "hamlet", "collerr") as owner:
            await create(owner, a, cfg(node_type="collection"))
            await create(owner, b, cfg(node_type="collection", collection=a))
            await create(owner, leaf)
            form = lambda node, values: owner_ps(owner, "set", O(  # noqa: E731
                "configure", submit_form(NS_NODE_CONFIG, values), node=node))
            await all_refused([
                ("a leaf as a parent (create)",
                 lambda: ps(owner, "set", P("create", node="coll-err-child"),
                            P("configure", submit_form(NS_NODE_CONFIG, cfg(collection=leaf)))),
                 "cancel", "not-allowed", "invalid-options"),
                ("a collection made a leaf", lambda: form(a, cfg(node_type="leaf")),
                 "cancel", "not-allowed", "invalid-options"),
                ("a cycle", lambda: form(a, cfg(collection=b)), "cancel", "not-allowed", "invalid-options"),
                ("deleting the root node", lambda: owner_ps(owner, "set", O("delete")), "cancel", "not-allowed", ANY),
            ])
            assert [i.get("node") for i in await disco_items(owner, node=a)] == [b]
            assert [i.get("node") for i in await disco_items(owner, node=b)] == []
            await refused(get_config(owner, "coll-err-child"), "cancel", "item-not-found", None,
                          "the refused child was not created")
            await create(owner, "coll-err-child", cfg(collection=b))
            assert [i.get("node") for i in await disco_items(owner, node=b)] == ["coll-err-child"]

    run(main())


# ============================================================ bad input


def test_malformed_requests_get_stanza_errors(ps_server):
    """RFC 6120 §8.3 / §8.4: garbage in a pubsub request gets a stanza error
    (bad-request, or feature-not-implemented for an unknown action;
    service-unavailable or feature-not-implemented for an unknown namespace),
    never a disconnect; the same session then publishes."""
    node = "malformed"

    def plain(cond):
        return {"bad-request": "modify", "feature-not-implemented": "cancel", "service-unavailable": "cancel"}[cond]

    async def main():
        async with online(ps_server, "hamlet", "bad") as c:
            await create(c, node)
            await publish(c, node, entry("x"), id="x")
            cases = [
                ("an empty <pubsub/>", "set", P("pubsub"), ("bad-request", "feature-not-implemented")),
                ("an unknown child", "set", P("pubsub", P("garbage", node=node)),
                 ("bad-request", "feature-not-implemented")),
                ("an unknown owner child", "set", O("pubsub", O("garbage", node=node)),
                 ("bad-request", "feature-not-implemented")),
                ("a publish in a get", "get", P("pubsub", P("publish", P("item", entry("x"), id="y"), node=node)),
                 ("bad-request",)),
                ("max_items not a number", "get", P("pubsub", P("items", node=node, max_items="ten")),
                 ("bad-request",)),
                ("two items in one publish", "set",
                 P("pubsub", P("publish", P("item", entry("a"), id="a"), P("item", entry("b"), id="b"), node=node)),
                 ("bad-request",)),
                ("a publish without node", "set", P("pubsub", P("publish", P("item", entry("a"), id="a"))),
                 ("bad-request",)),
                ("an unknown namespace", "get", el("urn:example:nothing", "query"),
                 ("service-unavailable", "feature-not-implemented")),
            ]
            wrong = []
            for what, itype, payload, conds in cases:
                try:
                    res = await send_iq(c, itype, payload)
                except IqError as e:
                    etype, cond, _, _ = error_of(e.iq)
                    if cond not in conds or etype != plain(cond) or sfrom(e.iq) != SERVICE:
                        wrong.append(f"{what}: expected one of {conds}, got {etype}/{cond}: {e.iq}")
                else:
                    wrong.append(f"{what}: succeeded: {res}")
            assert not c.gone.done(), "the server closed the stream"
            assert not wrong, "\n".join(wrong)
            assert await items_of(c, node) == [("x", "x")], "garbage changed the node"
            await publish(c, node, entry("still here"), id="z")
            assert sorted(await items_of(c, node)) == [("x", "x"), ("z", "still here")]

    run(main())


def test_get_pending_subscriptions_command(ps_server):
    """XEP-0060 §8.7.3: without ad-hoc commands the get-pending command is
    service-unavailable; with them but without get-pending,
    feature-not-implemented + unsupported get-pending; with it, a form
    listing the nodes (§8.7.2)."""

    async def main():
        async with online(ps_server, "ophelia", "pending") as owner:
            have = features(await disco_info(owner))
            cmd = lambda: send_iq(owner, "set", el(NS_COMMANDS, "command",  # noqa: E731
                                                   node=f"{NS_PUBSUB}#get-pending", action="execute"))
            if NS_COMMANDS not in have:
                await refused(cmd(), "cancel", "service-unavailable", None, "get-pending without ad-hoc commands")
            elif f"{NS_PUBSUB}#get-pending" not in have:
                await refused(cmd(), "cancel", "feature-not-implemented", "unsupported", "get-pending unsupported",
                              feature="get-pending")
            else:
                res = await cmd()
                x = res.xml.find(f"{{{NS_COMMANDS}}}command/{{{NS_DATA}}}x")
                assert "pubsub#node" in check_form_type(x, NS_SUB_AUTH, "form"), res

    run(main())


# ============================================================ restart


def test_nodes_items_and_subscriptions_survive_a_restart():
    """Items persist before the publish is acknowledged (issue 11) and
    survive a restart, with the node's configuration, affiliations and
    subscriptions."""
    s = Server()
    node = "restart-node"

    async def before():
        async with online(s, "hamlet", "r1") as owner, online(s, "horatio", "r1") as sub:
            await create(owner, node, cfg(title="Survivor", max_items=10, send_last_published_item="never"))
            await set_affiliations(owner, node, ("francisco@localhost", "publisher"))
            await subscribe(sub, node)
            for i in (1, 2, 3):
                await publish(owner, node, entry(f"entry {i}"), id=f"r{i}")
                await next_event(sub, f"item r{i}")

    async def after():
        async with online(s, "hamlet", "r2") as owner, online(s, "horatio", "r2") as sub:
            assert sorted(await items_of(sub, node)) == [(f"r{i}", f"entry {i}") for i in (1, 2, 3)]
            assert await items_of(sub, node, max_items=1) == [("r3", "entry 3")], "the order survives"
            conf = await get_config(owner, node)
            assert one(conf, "pubsub#title") == "Survivor" and one(conf, "pubsub#max_items") == "10"
            assert await node_affiliations(owner, node) == {"hamlet@localhost": "owner",
                                                            "francisco@localhost": "publisher"}
            assert await node_subscriptions(owner, node) == {"horatio@localhost": "subscribed"}
            await publish(owner, node, entry("entry 4"), id="r4")
            assert_item_event(await next_event(sub, "the item after the restart"), node, "r4", "entry 4",
                              "hamlet@localhost", bare(sub))

    try:
        s.start()
        s.add_users([(f"{u}@localhost", PASSWORD) for u in ("hamlet", "horatio", "francisco")])
        run(before())
        assert s.terminate() == 0, s.log_tail()
        s.start()
        run(after())
    except BaseException:
        print(s.log_tail(80))
        raise
    finally:
        s.stop()


# ============================================================ settings


DEFAULT_PLUGIN_NAMES = ["disco", "ping", "time", "version", "roster", "offline", "carbons", "blocking", "vcard",
                        "private", "caps", "muc", "pep"]


def settings_toml(pubsub_config: str) -> str:
    """A localhost vhost with the default plugins (but register) and `pubsub_config` as pubsub's table."""
    return "\n".join(
        ['[[vhost]]\ndomain = "localhost"\n']
        + [f'[[vhost.plugin]]\nname = "{n}"\n' for n in DEFAULT_PLUGIN_NAMES]
        + ['[[vhost.plugin]]\nname = "pubsub"\n[vhost.plugin.config]\n' + pubsub_config]
    )


def test_the_documented_settings_are_accepted():
    """pubsub's settings (plugins/README.md) are name, node_creation,
    admins, max_items, max_payload_bytes, default_max_items: check-config
    takes them all."""
    out = conftest.check_config(settings_toml(
        'name = "Bulletin board"\nnode_creation = "admins"\nadmins = ["hamlet@localhost"]\n'
        "max_items = 5\ndefault_max_items = 3\nmax_payload_bytes = 2048\n"))
    assert out.returncode == 0, f"check-config refused the documented settings:\n{out.stdout}\n{out.stderr}"


@pytest.mark.parametrize("config, names", [
    ('max_itmes = 5\n', ["pubsub", "max_itmes"]),
    ('node_creation = "everyone"\n', ["pubsub", "node_creation"]),
    ("max_items = 0\n", ["pubsub", "max_items"]),
    ('max_payload_bytes = "2 GB"\n', ["pubsub", "max_payload_bytes"]),
    ("max_items = 10\ndefault_max_items = 20\n", ["default_max_items", "max_items"]),
])
def test_bad_settings_are_refused_naming_the_key(config, names):
    """A setting the service does not have, or a value it cannot take, stops
    check-config (and so the start) with a message naming the plugin and
    the key."""
    out = conftest.check_config(settings_toml(config))
    text = out.stdout + out.stderr
    assert out.returncode != 0, f"check-config took {config!r}:\n{text}"
    for name in names:
        assert name in text, f"the refusal of {config!r} does not name {name}:\n{text}"


def test_bad_pep_settings_are_refused_naming_the_key():
    """The pep plugin's table is checked the same way."""
    toml = "\n".join(
        ['[[vhost]]\ndomain = "localhost"\n']
        + [f'[[vhost.plugin]]\nname = "{n}"\n' for n in DEFAULT_PLUGIN_NAMES if n != "pep"]
        + ['[[vhost.plugin]]\nname = "pep"\n[vhost.plugin.config]\nmax_payload_bytes = 0\n']
    )
    out = conftest.check_config(toml)
    text = out.stdout + out.stderr
    assert out.returncode != 0, text
    assert "pep" in text and "max_payload_bytes" in text, text


def test_service_settings():
    """The settings (plugins/README.md): the disco name; node_creation "admins" (others get
    forbidden, XEP-0060 §8.1.1); admins administer every node;
    default_max_items is the default max_items; max_payload_bytes bounds
    payloads (payload-too-big, §7.1.3.5)."""
    toml = settings_toml('name = "Bulletin board"\nnode_creation = "admins"\n'
                         'admins = ["hamlet@localhost", "horatio@localhost"]\n'
                         "default_max_items = 3\nmax_payload_bytes = 2048\n")

    async def main(s):
        async with online(s, "hamlet", "set") as admin, online(s, "horatio", "set") as admin2, online(
            s, "francisco", "set"
        ) as user:
            info = await disco_info(user)
            assert [(i.get("category"), i.get("type"), i.get("name"))
                    for i in info.findall(f"{{{NS_DISCO_INFO}}}identity")] == [("pubsub", "service", "Bulletin board")]
            await all_refused([
                ("a non-admin creates", lambda: create(user, "settings-user"), "auth", "forbidden", None),
                ("a non-admin creates an instant node", lambda: create(user, None), "auth", "forbidden", None),
            ])
            node = await create(admin, "settings-node")
            conf = await get_config(admin, node)
            assert one(conf, "pubsub#max_items") == "3", conf["pubsub#max_items"]
            for i in range(1, 5):
                await publish(admin, node, entry(f"{i}"), id=f"d{i}")
            assert sorted(await items_of(user, node)) == [("d2", "2"), ("d3", "3"), ("d4", "4")]
            await configure(admin2, node, cfg(title="By the other admin"))  # an admin, not the node's owner
            await refused(publish(admin, node, entry("p" * 3000), id="big"), "modify", "not-acceptable",
                          "payload-too-big", "a payload over max_payload_bytes")
            await publish(admin, node, entry("p" * 1000), id="fits")
            await c_delete(admin2, node)
            await refused(items_of(user, node), "cancel", "item-not-found", None, "the node an admin deleted")

    with conftest.running(toml, ["hamlet", "horatio", "francisco"]) as s:
        try:
            run(main(s))
        except BaseException:
            print(s.log_tail(80))
            raise
