"""A plugin written in JavaScript (plugins/js/motd, built by plugins/js/build.sh
with componentize-js) loaded from its .wasm next to the built-in Rust
plugins, and asked by a real client, slixmpp.

The motd plugin (built against waxwing:plugin@2.4.0) answers
`<motd xmlns='urn:example:motd'/>` asked of the server with its `text`
setting, escaped. That setting is declared in describe(), so the kernel itself
refuses a config with another key.

One server for the module: compiling the ~12 MB component (a whole JavaScript
engine) takes seconds; the shared plugin cache makes every later load quick.
"""

import asyncio
import json
import logging
import xml.etree.ElementTree as ET

import pytest

import conftest
from conftest import PASSWORD, REPO, TIMEOUT, Server, require_wasm, with_plugin

logging.getLogger("slixmpp").setLevel(logging.WARNING)

WASM = REPO / "target" / "plugins" / "js" / "motd.wasm"
NS = "urn:example:motd"
# XML specials, quotes, non-ASCII: escaped by the plugin, the same text for the client.
TEXT = "Welcome <back> & 'enjoy' \"it\" é 😀"
# Compiling the JavaScript component takes seconds, more on a busy machine.
START_TIMEOUT = 180.0


def config(motd_config: str = f"text = {json.dumps(TEXT, ensure_ascii=False)}\n") -> str:
    return with_plugin("motd", WASM, motd_config)


def _require_wasm():
    require_wasm(
        WASM,
        "the JavaScript plugin tests",
        "build it with plugins/js/build.sh (./dev test does it before running pytest; ./dev setup installs componentize-js)",
        "WAXWING_REQUIRE_JS_PLUGINS",
    )


def start(cfg: str) -> Server:
    s = Server(cfg)
    try:
        # The first start compiles the component before it listens.
        s.start(timeout=START_TIMEOUT)
    except BaseException:
        s.stop()
        raise
    return s


@pytest.fixture(scope="module")
def motd_server():
    _require_wasm()
    s = start(config())
    try:
        s.add_users([("romeo@localhost", PASSWORD)])
        yield s
    finally:
        s.stop()


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


async def motd(c, to="localhost"):
    iq = c.make_iq_get(ito=to)
    iq.append(ET.fromstring(f"<motd xmlns='{NS}'/>"))
    return await iq.send(timeout=TIMEOUT)


def motd_text(iq) -> str:
    el = iq.xml.find(f"{{{NS}}}motd")
    assert el is not None, iq
    return el.text or ""


def test_the_motd_is_the_configured_text(motd_server):
    async def main():
        async with conftest.online(motd_server, "romeo") as c:
            iq = await motd(c)
            assert iq["type"] == "result", iq
            assert iq["from"].full == "localhost", iq
            assert motd_text(iq) == TEXT, iq
            # Again, and several at once: every instance has its config.
            answers = await asyncio.gather(*(motd(c) for _ in range(8)))
            assert all(motd_text(a) == TEXT for a in answers), answers

    run(main())


def test_disco_info_of_the_server_lists_the_motd_feature(motd_server):
    async def main():
        async with conftest.online(motd_server, "romeo", plugins=["xep_0030"]) as c:
            iq = await c.plugin["xep_0030"].get_info(jid="localhost", local=False, cached=False, timeout=TIMEOUT)
            features = iq["disco_info"]["features"]
            assert NS in features, features
            assert "urn:xmpp:ping" in features, features  # the Rust plugins' are still there

    run(main())


def test_the_default_text_when_the_config_gives_none():
    _require_wasm()
    s = start(config(""))
    try:
        s.add_users([("romeo@localhost", PASSWORD)])

        async def main():
            async with conftest.online(s, "romeo") as c:
                assert motd_text(await motd(c)) == "Welcome"

        run(main())
    finally:
        s.stop()


def check_config(motd_config: str):
    """`waxwing check-config` on a config whose motd table is `motd_config`."""
    return conftest.check_config(config(motd_config))


def test_check_config_accepts_the_declared_setting():
    _require_wasm()
    out = check_config(f"text = {json.dumps(TEXT, ensure_ascii=False)}\n")
    assert out.returncode == 0, f"{out.stdout}\n{out.stderr}"


def test_check_config_names_the_plugin_and_an_unknown_key():
    _require_wasm()
    out = check_config('txet = "x"\n')
    text = out.stdout + out.stderr
    assert out.returncode != 0, text
    assert "motd" in text and "txet" in text, text


def test_check_config_names_the_plugin_and_a_value_of_the_wrong_type():
    _require_wasm()
    out = check_config("text = 3\n")
    text = out.stdout + out.stderr
    assert out.returncode != 0, text
    assert "motd" in text and "text" in text, text
