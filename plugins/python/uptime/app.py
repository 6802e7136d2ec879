"""XEP-0012 Last Activity, asked of the server itself: how long it has been up.

    <iq type='get' to='example.org'><query xmlns='jabber:iq:last'/></iq>
    <iq type='result' ...><query xmlns='jabber:iq:last' seconds='903'/></iq>

The seconds count from the first time this plugin was initialised on this
server run. The kernel keeps several instances of a plugin, recycles them and
swaps versions, so that moment lives in `mem` (shared by the plugin's
instances, kept across a hot swap, gone at restart), never in a Python global.
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
        mem.put(STARTED, now.to_bytes(8, "little"))
        return now
    return int.from_bytes(stored, "little")


class Guest(exports.Guest):
    def describe(self) -> types.Description:
        return types.Description(
            name="uptime",
            version="0.1.0",
            features=[NS],
            identities=[],
            items=[],
            extensions=[],
            routes=[
                types.Route(
                    kind=types.StanzaKind.IQ,
                    types=["get"],
                    payload_ns=NS,
                    payload_name="query",
                    to=types.Address.HOST,
                    priority=0,
                )
            ],
            filters=[],
            events=[],
            service_subdomain=None,
            capabilities=[types.Capability.MEM],
        )

    def init(self, config: str) -> None:
        # Runs for every fresh instance, not once: only the first sets the clock.
        try:
            started_ms()
        except Err as e:
            raise Err(f"uptime keeps its start time in mem: grant it (grants = [\"mem\"]): {e.value}")

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
