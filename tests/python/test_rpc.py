"""XEP-0009 Jabber-RPC as a stock client calls it: slixmpp's own xep_0009
plugin builds the XML-RPC method calls (`make_iq_method_call`, its
parameters from `py2xml`) and reads the answers (`xml2py`, `xml2fault`).
The server's `rpc` plugin (a default one) answers the admin its config
names (romeo here) and refuses anyone else with `forbidden`.

Every test runs its coroutine with asyncio.run and bounds every wait.
"""

import asyncio
import logging

import pytest
from slixmpp.exceptions import IqError
from slixmpp.plugins.xep_0009.binding import py2xml, xml2fault, xml2py

import conftest
from conftest import PASSWORD, TIMEOUT

logging.getLogger("slixmpp").setLevel(logging.WARNING)

DOMAIN = "localhost"
ADMIN_CONFIG = f'[[vhost]]\ndomain = "{DOMAIN}"\nadmins = ["romeo@{DOMAIN}"]\n'


@pytest.fixture(scope="module")
def rpc_server():
    with conftest.running(ADMIN_CONFIG, ["romeo", "juliet"]) as s:
        yield s


def online(server, user, password=PASSWORD):
    return conftest.online(server, user, password=password, plugins=("xep_0030", "xep_0009"))


async def call(client, method, *params):
    """The method's answer: ("ok", value) or ("fault", {code, string})."""
    iq = client.plugin["xep_0009"].make_iq_method_call(DOMAIN, method, py2xml(*params))
    reply = await iq.send(timeout=TIMEOUT)
    response = reply["rpc_query"]["method_response"]
    if response["fault"] is not None:
        return "fault", xml2fault(response["fault"])
    return "ok", xml2py(response["params"])[0]


def run(coro):
    asyncio.run(asyncio.wait_for(coro, 90))


def test_the_admin_registers_a_user_who_then_logs_in_and_is_managed(rpc_server):
    async def main():
        async with online(rpc_server, "romeo@localhost/desk") as romeo:
            assert await call(romeo, "register", "rosaline", "rosa-pw") == ("ok", 0)
            async with online(rpc_server, "rosaline@localhost/garden", password="rosa-pw") as rosaline:
                # Available, so that a message to her bare JID is delivered, not kept offline.
                await rosaline.available()
                kind, users = await call(romeo, "registered_users")
                assert kind == "ok" and "rosaline@localhost" in users, users
                kind, sessions = await call(romeo, "connected_users")
                assert "rosaline@localhost/garden" in sessions and "romeo@localhost/desk" in sessions, sessions
                assert (await call(romeo, "stats", "onlineusers"))[1] >= 2

                assert await call(romeo, "send_message", "rosaline@localhost", "Verona", "The feast is tonight") == (
                    "ok",
                    0,
                )
                msg = await rosaline.next_message(lambda m: m["body"] == "The feast is tonight")
                assert msg["from"].full == DOMAIN and msg["subject"] == "Verona", msg

            assert await call(romeo, "change_password", "rosaline", "rosa-pw2") == ("ok", 0)
            async with online(rpc_server, "rosaline@localhost/garden", password="rosa-pw2"):
                pass
            before = (await call(romeo, "stats", "registeredusers"))[1]
            assert await call(romeo, "unregister", "rosaline@localhost") == ("ok", 0)
            assert await call(romeo, "stats", "registeredusers") == ("ok", before - 1)

    run(main())


def test_others_are_forbidden(rpc_server):
    async def main():
        async with online(rpc_server, "juliet@localhost/balcony") as juliet:
            with pytest.raises(IqError) as refused:
                await call(juliet, "register", "tybalt", "pw")
            assert refused.value.iq["error"]["condition"] == "forbidden", refused.value.iq

    run(main())


def test_bad_calls_are_faults(rpc_server):
    async def main():
        async with online(rpc_server, "romeo@localhost/desk") as romeo:
            kind, f = await call(romeo, "restart")
            assert kind == "fault" and f["code"] == -32601, f
            kind, f = await call(romeo, "register", "only-a-name")
            assert kind == "fault" and f["code"] == -32602, f
            kind, f = await call(romeo, "register", "juliet", "again")
            assert kind == "fault" and f["code"] == -32500 and "exists" in f["string"], f
            kind, f = await call(romeo, "stats", 42)
            assert kind == "fault" and f["code"] == -32602, f

    run(main())
