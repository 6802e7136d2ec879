"""A plugin written in C (plugins/c/echo, built by plugins/c/build.sh with
Debian's clang and wit-bindgen's C generator) loaded from its .wasm next to
the built-in Rust plugins, and used by a real client, slixmpp.

The echo plugin serves echo.<host>: a chat or normal message sent there comes
back from the address it was sent to, its body prefixed with the plugin's
`prefix` setting; disco#info names the service; any other iq gets
service-unavailable. Its one setting is declared in describe(), so the kernel
itself refuses a config with another key.
"""

import asyncio
import json
import logging
import xml.etree.ElementTree as ET

import pytest
from slixmpp.exceptions import IqError

import conftest
from conftest import REPO, TIMEOUT, require_wasm, with_plugin

logging.getLogger("slixmpp").setLevel(logging.WARNING)

WASM = REPO / "target" / "plugins" / "c" / "echo.wasm"
SERVICE = "echo.localhost"
PREFIX = "echo: "
DISCO_INFO = "http://jabber.org/protocol/disco#info"


def config(echo_config: str = f"prefix = {json.dumps(PREFIX)}\n") -> str:
    """The built-in disco and ping plugins, and echo with this config table."""
    return with_plugin("echo", WASM, echo_config)


def _require_wasm():
    require_wasm(
        WASM,
        "the C plugin tests",
        "build it with plugins/c/build.sh (./dev test does it before running pytest; ./dev setup installs clang-19)",
        "WAXWING_REQUIRE_C_PLUGINS",
    )


@pytest.fixture(scope="module")
def echo_server():
    _require_wasm()
    with conftest.running(config(), ["romeo"]) as s:
        yield s


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


async def echo_of(c, to, body, mtype="chat"):
    """Sends `body` to `to` and returns the next message from there."""
    c.send_message(mto=to, mbody=body, mtype=mtype)
    return await c.next_message(lambda m: m["from"].full == to)


def test_a_chat_message_comes_back_prefixed_from_the_service(echo_server):
    # XML specials, quotes, non-ASCII and a line break: unescaped by the
    # plugin, escaped again in the echo, the same text for the client.
    body = "1 < 2 && 'single' \"double\" é 😀\nsecond line"

    async def main():
        async with conftest.online(echo_server, "romeo") as c:
            msg = await echo_of(c, SERVICE, body)
            assert msg["type"] == "chat", msg
            assert msg["to"] == c.boundjid, msg
            assert msg["body"] == PREFIX + body, msg

    run(main())


def test_a_normal_message_to_an_address_on_the_service_comes_back_from_it(echo_server):
    async def main():
        async with conftest.online(echo_server, "romeo") as c:
            msg = await echo_of(c, f"parrot@{SERVICE}/cage", "hello", mtype="normal")
            assert msg["type"] == "normal", msg
            assert msg["body"] == PREFIX + "hello", msg

    run(main())


def test_a_message_without_a_body_is_not_echoed(echo_server):
    async def main():
        async with conftest.online(echo_server, "romeo") as c:
            typing = c.make_message(mto=SERVICE, mtype="chat")
            typing.append(ET.fromstring("<composing xmlns='http://jabber.org/protocol/chatstates'/>"))
            typing.send()
            # Messages come back in order: the first one back is the echo of
            # the second, so the first got no answer, not even an error.
            msg = await echo_of(c, SERVICE, "after the chat state")
            assert msg["type"] == "chat", msg
            assert msg["body"] == PREFIX + "after the chat state", msg

    run(main())


def test_disco_info_of_the_service_names_it(echo_server):
    async def main():
        async with conftest.online(echo_server, "romeo", plugins=["xep_0030"]) as c:
            iq = await c.plugin["xep_0030"].get_info(jid=SERVICE, local=False, cached=False, timeout=TIMEOUT)
            assert iq["from"].full == SERVICE, iq
            identities = {(cat, typ, name) for cat, typ, _lang, name in iq["disco_info"]["identities"]}
            assert identities == {("component", "generic", "Echo (C)")}, iq
            assert DISCO_INFO in iq["disco_info"]["features"], iq

            # It has no nodes.
            with pytest.raises(IqError) as e:
                await c.plugin["xep_0030"].get_info(
                    jid=SERVICE, node="no-such-node", local=False, cached=False, timeout=TIMEOUT
                )
            assert e.value.iq["error"]["condition"] == "item-not-found", e.value.iq

    run(main())


def test_other_iqs_to_the_service_get_service_unavailable(echo_server):
    async def main():
        async with conftest.online(echo_server, "romeo", plugins=["xep_0092", "xep_0199"]) as c:
            for what, ask in (
                ("version", lambda: c.plugin["xep_0092"].get_version(SERVICE, timeout=TIMEOUT)),
                ("ping", lambda: c.plugin["xep_0199"].send_ping(SERVICE, timeout=TIMEOUT)),
            ):
                with pytest.raises(IqError) as e:
                    await ask()
                assert e.value.iq["error"]["condition"] == "service-unavailable", (what, e.value.iq)
            # The server itself still answers: the plugin took only its own address.
            await c.plugin["xep_0199"].send_ping("localhost", timeout=TIMEOUT)

    run(main())


def check_config(echo_config: str):
    """`waxwing check-config` on a config whose echo table is `echo_config`."""
    return conftest.check_config(config(echo_config))


def test_check_config_accepts_the_declared_setting_and_its_default():
    _require_wasm()
    for table in (f"prefix = {json.dumps(PREFIX)}\n", ""):
        out = check_config(table)
        assert out.returncode == 0, f"{table!r}:\n{out.stdout}\n{out.stderr}"


def test_check_config_names_the_plugin_and_an_unknown_key():
    _require_wasm()
    out = check_config('prefx = "x"\n')
    text = out.stdout + out.stderr
    assert out.returncode != 0, text
    assert "echo" in text and "prefx" in text, text


def test_check_config_names_the_plugin_and_a_value_of_the_wrong_type():
    _require_wasm()
    out = check_config("prefix = 3\n")
    text = out.stdout + out.stderr
    assert out.returncode != 0, text
    assert "echo" in text and "prefix" in text, text
