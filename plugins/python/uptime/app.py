"""XEP-0012 Last Activity, asked of the server itself: how long it has been up.

    <iq type='get' to='example.org'><query xmlns='jabber:iq:last'/></iq>
    <iq type='result' ...><query xmlns='jabber:iq:last' seconds='903'/></iq>

The seconds count from the first time this plugin was initialised on this
server run. The kernel keeps several instances of a plugin, recycles them and
swaps versions, so that moment lives in `mem` (shared by the plugin's
instances, kept across a hot swap, gone at restart), never in a Python global.

Built against waxwing:plugin@2.4.0 (plugin-abi/wit). It has no config: its
`settings` are empty, so the kernel refuses any key in its config table.
"""

from xml.sax.saxutils import quoteattr

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import host, mem, types

NS = "jabber:iq:last"
STARTED = "started-ms"  # mem key: host.now_ms() at the first init, 8 bytes little-endian


def started_ms() -> int:
    """When this plugin first ran on this server run; the first caller records it."""
    stored = mem.get(STARTED)
    if stored is None:
        now = host.now_ms()
        # Fresh instances may start side by side: put_if_absent lets exactly
        # one of them set the clock, and the others read what it set.
        if mem.put_if_absent(STARTED, now.to_bytes(8, "little")):
            return now
        stored = mem.get(STARTED)
    return int.from_bytes(stored, "little")


def host_error(e: Err) -> str:
    """A host-error variant as text: the case and its value."""
    kind = type(e.value).__name__.removeprefix("HostError_")
    value = getattr(e.value, "value", "")
    return f"{kind}: {value.name.lower() if hasattr(value, 'name') else value}"


class Guest(exports.Guest):
    def describe(self) -> types.Description:
        return types.Description(
            name="uptime",
            version="0.2.0",
            features=[NS],
            identities=[],
            items=[],
            extensions=[],
            routes=[
                types.Route(
                    kind=types.StanzaKind.IQ,
                    types=[types.StanzaType.GET],
                    payload_ns=NS,
                    payload_name="query",
                    to=types.Address.HOST,
                    priority=0,
                    unauthenticated=False,
                )
            ],
            filters=[],
            filter_scope=types.FilterScope.EVERY_ACCOUNT,
            events=[],
            service_subdomain=None,
            capabilities=[types.Capability.MEM],
            settings=[],
            publishes=[],
            reads=[],
        )

    def init(self, config: str) -> types.Ready:
        # Runs for every fresh instance, not once: only the first sets the clock.
        try:
            started_ms()
        except Err as e:
            raise Err(f"uptime keeps its start time in mem: grant it (grants = [\"mem\"]): {host_error(e)}")
        return types.Ready(stream_features=[])

    def handle_stanza(self, stanza: types.Stanza) -> types.Outcome:
        seconds = max(0, host.now_ms() - started_ms()) // 1000
        reply = (
            f"<iq type='result' id={quoteattr(stanza.id)}"
            f" from={quoteattr(stanza.to)} to={quoteattr(stanza.from_)}>"
            f"<query xmlns='{NS}' seconds='{seconds}'/></iq>"
        )
        return types.Outcome_Reply(reply)

    def handle_event(self, event: types.Event) -> None:
        pass

    def filter(self, stanza: types.Stanza) -> types.Verdict:
        return types.Verdict_Pass()

    def migrate(self, from_version: str) -> None:
        pass
