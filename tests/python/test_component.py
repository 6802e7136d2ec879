"""External components (XEP-0114) that are not ours, against the waxwing
binary: slixmpp's `ComponentXMPP` as an echo service, and Debian's biboumi
(an XMPP-IRC gateway) connecting with its own configuration and answering
disco. Both connect to the component port with the shared secret, and a
slixmpp client on the same server talks to them through the router.

biboumi missing: the test fails under WAXWING_REQUIRE_BIBOUMI (./dev test
sets it; ./dev setup installs the package) or CI, else skips loudly.

Every test runs its coroutine with asyncio.run and bounds every wait.
"""

import asyncio
import contextlib
import logging
import os
import pathlib
import shutil
import signal
import subprocess
import time

import pytest
import slixmpp
from slixmpp.exceptions import IqError

import conftest
from conftest import TIMEOUT, online, running

logging.getLogger("slixmpp").setLevel(logging.WARNING)

DISCO_INFO = "http://jabber.org/protocol/disco#info"
ECHO = "echo.localhost"
ECHO_SECRET = "echo-component-secret"
ECHO_FEATURE = "urn:example:echo"
IRC = "irc.localhost"
IRC_SECRET = "biboumi-component-secret"

COMPONENTS = f"""
[[component]]
domain = "{ECHO}"
secret = "{ECHO_SECRET}"

[[component]]
domain = "{IRC}"
secret = "{IRC_SECRET}"
"""
LISTEN = 'component = ["127.0.0.1:0"]'


def run(coro):
    asyncio.run(asyncio.wait_for(coro, 25))


@pytest.fixture(scope="module")
def server():
    with running(COMPONENTS, users=["romeo", "juliet"], listen_toml=LISTEN) as s:
        assert s.component is not None, "listening.json reports no component port"
        yield s


class Echo(slixmpp.ComponentXMPP):
    """A component that answers disco#info with an identity and a feature
    and sends every message with a body back to its sender."""

    def __init__(self, server, secret=ECHO_SECRET):
        super().__init__(ECHO, secret, server.component[0], server.component[1])
        self.wx = server
        self.register_plugin("xep_0030")
        self.plugin["xep_0030"].add_identity(category="component", itype="generic", name="Echo", jid=ECHO)
        self.plugin["xep_0030"].add_feature(ECHO_FEATURE, jid=ECHO)
        loop = asyncio.get_running_loop()
        self.started = loop.create_future()
        self.gone = loop.create_future()
        self.stream_errors = []
        self.received = []
        self.add_event_handler("session_start", lambda _e: self._settle(self.started, True))
        self.add_event_handler("disconnected", lambda r: self._settle(self.gone, r))
        self.add_event_handler("stream_error", lambda e: self.stream_errors.append(e["condition"]))
        self.add_event_handler("message", self._on_message)

    @staticmethod
    def _settle(fut, value):
        if not fut.done():
            fut.set_result(value)

    def _on_message(self, msg):
        self.received.append(msg)
        if msg["body"]:
            msg.reply(f"echo: {msg['body']}").send()

    async def leave(self):
        if not self.gone.done():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.disconnect(wait=1.0), TIMEOUT)
        if not self.gone.done():
            self.abort()


@contextlib.asynccontextmanager
async def echo_online(server):
    comp = Echo(server)
    try:
        comp.connect()
        done, _ = await asyncio.wait([comp.started, comp.gone], timeout=TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
        assert comp.started in done, (
            f"the echo component got no <handshake/>: errors={comp.stream_errors}\n{server.log_tail()}"
        )
        yield comp
    finally:
        await comp.leave()


def test_slixmpp_component_answers_disco_and_echoes(server):
    async def main():
        async with echo_online(server) as comp, online(server, "romeo", plugins=["xep_0030"]) as romeo:
            info = await romeo.plugin["xep_0030"].get_info(jid=ECHO, timeout=TIMEOUT)
            assert info["from"] == ECHO
            identities = info["disco_info"]["identities"]
            assert ("component", "generic", None, "Echo") in identities, identities
            features = info["disco_info"]["features"]
            assert ECHO_FEATURE in features, features

            romeo.send_message(mto=f"bot@{ECHO}", mbody="hello, component", mtype="chat")
            msg = await romeo.next_message()
            assert msg["from"] == f"bot@{ECHO}"
            assert msg["body"] == "echo: hello, component"
            assert msg["type"] == "chat"
            # The component saw the client's full JID as the sender.
            assert [m["from"].full for m in comp.received] == [romeo.boundjid.full]

    run(main())


def test_slixmpp_component_with_a_wrong_secret_is_refused(server):
    async def main():
        comp = Echo(server, secret="not-the-secret")
        try:
            comp.connect()
            done, _ = await asyncio.wait(
                [comp.started, comp.gone], timeout=TIMEOUT, return_when=asyncio.FIRST_COMPLETED
            )
            assert comp.gone in done and not comp.started.done(), "a wrong secret was accepted"
            assert comp.stream_errors == ["not-authorized"], comp.stream_errors
        finally:
            await comp.leave()
        # The domain was never taken: clients get the offline answer, and
        # the right secret still connects.
        async with online(server, "juliet", plugins=["xep_0030"]) as juliet:
            with pytest.raises(IqError) as err:
                await juliet.plugin["xep_0030"].get_info(jid=ECHO, timeout=TIMEOUT)
            assert err.value.condition == "service-unavailable"
            async with echo_online(server):
                info = await juliet.plugin["xep_0030"].get_info(jid=ECHO, timeout=TIMEOUT)
                assert ECHO_FEATURE in info["disco_info"]["features"]

    run(main())


# ------------------------------------------------------------------ biboumi


def biboumi_or_skip() -> str:
    path = shutil.which("biboumi")
    if path is None:
        conftest.not_available(
            "test_biboumi_gateway",
            "biboumi is missing: ./dev setup installs Debian's package",
            "WAXWING_REQUIRE_BIBOUMI",
        )
    return path


@contextlib.contextmanager
def biboumi(server, binary: str):
    """biboumi serving IRC on waxwing's component port, with a config,
    database and log of its own in the server's directory."""
    home = server.dir / "biboumi"
    home.mkdir()
    cfg = home / "biboumi.cfg"
    host, port = server.component
    cfg.write_text(
        f"hostname={IRC}\n"
        f"password={IRC_SECRET}\n"
        f"xmpp_server_ip={host}\n"
        f"port={port}\n"
        f"db_name={home / 'biboumi.sqlite'}\n"
        f"policy_directory={home}\n"
        "realname_customization=true\n"
        "log_level=0\n"
    )
    log = home / "biboumi.log"
    # BIBOUMI_* variables override the file: none may leak in.
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIBOUMI_")}
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [binary, str(cfg)],
            cwd=home,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=conftest._die_with_parent,
        )
    try:
        yield proc, log
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def log_text(path: pathlib.Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"


def test_biboumi_gateway(server):
    binary = biboumi_or_skip()

    def server_logged(event: str, domain: str) -> bool:
        return any(event in line and f'domain="{domain}"' in line for line in log_text(server.log).splitlines())

    async def main(proc, log):
        # Connected: waxwing logs it once the handshake passed.
        deadline = time.monotonic() + TIMEOUT
        while not server_logged("component connected", IRC):
            assert proc.poll() is None, f"biboumi exited with {proc.returncode}\n{log_text(log)}"
            assert time.monotonic() < deadline, f"biboumi did not connect\n{log_text(log)}\n{server.log_tail()}"
            await asyncio.sleep(0.05)
        assert "Authenticated with the XMPP server" in log_text(log), log_text(log)

        async with online(server, "juliet", plugins=["xep_0030", "xep_0092"]) as juliet:
            info = await juliet.plugin["xep_0030"].get_info(jid=IRC, timeout=TIMEOUT)
            assert info["from"] == IRC
            identities = info["disco_info"]["identities"]
            assert any(cat == "conference" and typ == "irc" for cat, typ, _lang, _name in identities), identities
            features = info["disco_info"]["features"]
            for f in (DISCO_INFO, "http://jabber.org/protocol/muc", "http://jabber.org/protocol/commands"):
                assert f in features, features
            # An iq of another kind: biboumi names itself.
            version = await juliet.plugin["xep_0092"].get_version(IRC, timeout=TIMEOUT)
            assert "biboumi" in version["software_version"]["name"].lower(), version

    with biboumi(server, binary) as (proc, log):
        try:
            run(main(proc, log))
        except BaseException:
            print(f"--- biboumi log ---\n{log_text(log)}\n--- end of biboumi log ---")
            raise
        # biboumi ends its stream when told to stop, and waxwing frees the domain.
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0, log_text(log)
    deadline = time.monotonic() + TIMEOUT
    while not server_logged("component disconnected", IRC):
        assert time.monotonic() < deadline, server.log_tail()
        time.sleep(0.05)
