"""A real third-party client, slixmpp, against the waxwing binary.

Every test runs its coroutine with asyncio.run and bounds every wait.
"""

import asyncio
import logging

from slixmpp.exceptions import IqError

from conftest import PASSWORD, TIMEOUT, Client, online

DISCO_INFO = "http://jabber.org/protocol/disco#info"
DISCO_ITEMS = "http://jabber.org/protocol/disco#items"

logging.getLogger("slixmpp").setLevel(logging.WARNING)


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
