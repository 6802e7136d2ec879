"""A real terminal client, profanity (Debian's package, 0.13), driven through
tmux against the real server: what a user types, and what the screen shows.

Each profanity runs in its own tmux session on a tmux server of the test's
own (`tmux -L <unique name>`, killed afterwards), with a throwaway HOME and
XDG directories, so nothing reads or writes the machine's real profile. It
connects to the fixture's ephemeral STARTTLS port on 127.0.0.1, is asked for
the password (typed with send-keys), is shown the server's self-signed
certificate (its fingerprint checked against the fixture's before
`/tls allow`).

- `test_profanity_chat`: two users log in and chat one to one (the harness
  itself).
- `test_profanity_muc`: XEP-0045 at conference.localhost (plugins/muc). alice
  creates a room with /join, configures it through the room config form
  (/room config, /<field> value, /form submit), bob joins, both chat, alice
  kicks bob (/kick), bob rejoins, alice bans bob (/ban) and bob's rejoin is
  refused, alice destroys the room (/room destroy). A slixmpp client in the
  room checks the server's side: the room's name, the messages, the 307 /
  301 status codes, no presence from the banned bob (shown with a marker
  message), the destroy.

Every wait polls `tmux capture-pane` (or a slixmpp queue) with a bound; no
sleep is an assertion. On a failure the screens and the wire log of each
profanity (its -l DEBUG log has every stanza sent and received) are printed.
profanity and tmux come from `./dev setup`; the test fails when they are
missing and WAXWING_REQUIRE_PROFANITY or CI is set, else skips loudly.
"""

import asyncio
import contextlib
import hashlib
import logging
import os
import pathlib
import re
import secrets
import shutil
import ssl
import subprocess
import tempfile
import xml.etree.ElementTree as ET

import pytest
import slixmpp
from slixmpp.exceptions import IqError

import conftest
from conftest import PASSWORD, TIMEOUT, Server

logging.getLogger("slixmpp").setLevel(logging.WARNING)

ROOM = "room@conference.localhost"
MUC = "http://jabber.org/protocol/muc"
MUC_USER = "http://jabber.org/protocol/muc#user"
MUC_OWNER = "http://jabber.org/protocol/muc#owner"
DATA_FORM = "jabber:x:data"
ROOM_NAME = "Capulet Garden"
# The pane: wide enough that no line of the flow wraps beside the occupants
# panel, tall enough that nothing the test counts scrolls away.
COLS, ROWS = 220, 60
# How long a profanity screen may take to show one thing (a login does a
# TLS handshake, SCRAM and a round of iqs).
SCREEN_TIMEOUT = 15.0
# The end of a line of text in a window: the line's end, or the gap before
# the occupants panel beside a room window.
END = r"(?:\s{2}|$)"


def require_profanity():
    for tool in ("profanity", "tmux"):
        if shutil.which(tool) is None:
            conftest.not_available(
                "the profanity test",
                f"{tool} is not installed: ./dev setup installs it (Debian's {tool})",
                "WAXWING_REQUIRE_PROFANITY",
            )


@pytest.fixture(scope="module")
def server():
    require_profanity()
    with conftest.running(users=("romeo", "juliet", "alice", "bob", "watcher")) as s:
        yield s


def cert_sha1(path: str) -> str:
    """The SHA-1 fingerprint of the first certificate in a PEM file, as
    profanity prints it (lowercase hex, no colons)."""
    pem = re.search(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", pathlib.Path(path).read_text(), re.S)
    assert pem, f"no certificate in {path}"
    return hashlib.sha1(ssl.PEM_cert_to_DER_cert(pem.group(0))).hexdigest()


# ------------------------------------------------------------ tmux and profanity


class Tmux:
    """A tmux server of this test's own: its own socket name, its own config
    (panes stay after their program exits, so a crash stays on screen)."""

    def __init__(self, root: pathlib.Path):
        self.socket = f"waxwing-profanity-{os.getpid()}-{secrets.token_hex(4)}"
        self.conf = root / "tmux.conf"
        self.conf.write_text("set -g remain-on-exit on\nset -g status off\n")
        # Not the tmux this test may itself run inside.
        self.env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}

    def __call__(self, *args: str) -> str:
        out = subprocess.run(
            ["tmux", "-L", self.socket, "-f", str(self.conf), *args],
            capture_output=True,
            text=True,
            timeout=10,
            env=self.env,
        )
        assert out.returncode == 0, f"tmux {' '.join(args)} failed: {out.stderr}"
        return out.stdout

    def kill(self):
        subprocess.run(
            ["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10, env=self.env
        )


class Profanity:
    """One profanity in a tmux session named after its user."""

    def __init__(self, tmux: Tmux, root: pathlib.Path, user: str):
        self.tmux = tmux
        self.user = user
        self.jid = f"{user}@localhost"
        self.full_jid = None
        self.home = root / user
        self.dirs = {
            "HOME": self.home / "home",
            "XDG_CONFIG_HOME": self.home / "config",
            "XDG_DATA_HOME": self.home / "data",
            "XDG_CACHE_HOME": self.home / "cache",
            "XDG_STATE_HOME": self.home / "state",
        }
        for d in self.dirs.values():
            d.mkdir(parents=True)
        self.log = self.dirs["XDG_DATA_HOME"] / "profanity" / "logs" / "profanity.log"

    def start(self):
        env = [f"{k}={v}" for k, v in self.dirs.items()]
        # No desktop to notify: keep profanity off any session bus.
        unset = ["-u", "DISPLAY", "-u", "WAYLAND_DISPLAY", "-u", "DBUS_SESSION_BUS_ADDRESS"]
        self.tmux(
            "new-session", "-d", "-s", self.user, "-x", str(COLS), "-y", str(ROWS),
            "env", *unset, *env, "LANG=C.UTF-8", "profanity", "-l", "DEBUG",
        )

    def screen(self) -> str:
        return "\n".join(line.rstrip() for line in self.tmux("capture-pane", "-p", "-t", self.user).splitlines())

    def screen_tail(self, lines: int = 20) -> str:
        return "\n".join([line for line in self.screen().splitlines() if line.strip()][-lines:])

    def type(self, line: str):
        """Types `line` and Enter."""
        self.tmux("send-keys", "-t", self.user, "-l", line)
        self.tmux("send-keys", "-t", self.user, "Enter")

    def count(self, pattern: str) -> int:
        return len(re.findall(pattern, self.screen(), re.M))

    async def wait_for(self, pattern: str, *, count: int = 1, fail=(), timeout: float = SCREEN_TIMEOUT):
        """Polls the screen until `pattern` (a regex) shows `count` times;
        returns its last match. Fails at once when a `fail` pattern shows."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            text = self.screen()
            found = list(re.finditer(pattern, text, re.M))
            if len(found) >= count:
                return found[-1]
            for bad in fail:
                if re.search(bad, text, re.M):
                    raise AssertionError(
                        f"{self.user}'s screen shows {bad!r} while waiting for {pattern!r}:\n{self.screen_tail()}"
                    )
            if loop.time() > deadline:
                raise AssertionError(
                    f"{self.user}'s screen did not show {pattern!r} ({count}x, saw {len(found)}) "
                    f"within {timeout}s:\n{self.screen_tail()}"
                )
            await asyncio.sleep(0.05)

    async def login(self, server: Server):
        """/connect on the server's STARTTLS port, the password at its prompt,
        the server's certificate (and no other) allowed."""
        self.start()
        await self.wait_for(r"Type '/help' to show complete help")
        self.type(f"/connect {self.jid} server 127.0.0.1 port {server.c2s[1]} tls force")
        await self.wait_for(r"Enter password:")
        self.type(PASSWORD)
        await self.wait_for(r"Use '/tls allow' to accept this certificate", fail=[r"Login failed"])
        shown = re.search(r"Fingerprint\s*:\s*([0-9a-f]+)", self.screen())
        assert shown and shown.group(1) == cert_sha1(server.cert_path), (
            f"profanity was shown another certificate than the server's:\n{self.screen()}"
        )
        self.type("/tls allow")
        m = await self.wait_for(rf"({re.escape(self.jid)}/\S+) logged in successfully", fail=[r"Login failed"])
        self.full_jid = m.group(1)

    def wire(self):
        """The stanzas profanity received, as logged with -l DEBUG."""
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return []
        return [line.split("RECV: ", 1)[1] for line in lines if "RECV: " in line]

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return "(no log)"
        wire = [line for line in text if "SENT: " in line or "RECV: " in line]
        return "\n".join(wire[-lines:])


@contextlib.contextmanager
def profanities(*users: str):
    """A tmux server and a Profanity per user; on a failure prints each
    screen and wire log; always kills the tmux server and removes the dirs."""
    root = pathlib.Path(tempfile.mkdtemp(prefix="waxwing-profanity-"))
    tmux = Tmux(root)
    clients = [Profanity(tmux, root, u) for u in users]
    try:
        yield clients
    except BaseException:
        for c in clients:
            with contextlib.suppress(Exception):
                print(f"\n--- {c.user}'s screen ---\n{c.screen()}")
            print(f"--- {c.user}'s profanity wire log (tail) ---\n{c.log_tail()}\n--- end ---")
        raise
    finally:
        tmux.kill()
        if not os.environ.get("WAXWING_TEST_KEEP"):
            shutil.rmtree(root, ignore_errors=True)


def run(coro, timeout=240):
    return asyncio.run(asyncio.wait_for(coro, timeout))


# ------------------------------------------------------------ one to one


def test_profanity_chat(server):
    """Two profanity users log in and each sees the other's message."""

    async def flow():
        with profanities("romeo", "juliet") as (romeo, juliet):
            await romeo.login(server)
            await juliet.login(server)

            romeo.type("/msg juliet@localhost But soft, what light")
            await romeo.wait_for(rf"me: But soft, what light{END}")
            # Juliet's console tells of the message; its window shows it.
            await juliet.wait_for(r"<< chat message: romeo@localhost")
            juliet.type("/msg romeo@localhost")
            await juliet.wait_for(rf"{re.escape(romeo.full_jid)}: But soft, what light{END}")

            juliet.type("Ay me")
            await juliet.wait_for(rf"me: Ay me{END}")
            await romeo.wait_for(rf"{re.escape(juliet.full_jid)}: Ay me{END}")

    run(flow())


# ------------------------------------------------------------ XEP-0045


class Watcher(conftest.Client):
    """A slixmpp occupant of the room: queues the room's presences and
    groupchat messages."""

    def __init__(self, server, jid, password):
        super().__init__(server, jid, password, plugins=("xep_0030",))
        self.room_presences: asyncio.Queue = asyncio.Queue()
        self.room_messages: asyncio.Queue = asyncio.Queue()
        self.add_event_handler(
            "presence", lambda p: self.room_presences.put_nowait(p) if p["from"].bare == ROOM else None
        )

    def _on_message(self, msg):
        if msg["from"].bare == ROOM:
            self.room_messages.put_nowait(msg)
        else:
            self.messages.put_nowait(msg)

    async def join(self, nick="watcher"):
        p = self.make_presence(pto=f"{ROOM}/{nick}")
        p.append(ET.fromstring(f"<x xmlns='{MUC}'><history maxstanzas='0'/></x>"))
        p.send()
        pres = await self.presence_where(lambda p: p["from"].resource == nick, f"{nick}'s own presence")
        assert pres["type"] != "error", f"the watcher could not join {ROOM}: {pres}"
        assert "110" in status_codes(pres), f"the room's self-presence has no status 110: {pres}"

    async def presence_where(self, pred, what, seen=None):
        """The next room presence matching `pred`; the others go to `seen`."""
        while True:
            try:
                pres = await asyncio.wait_for(self.room_presences.get(), TIMEOUT)
            except TimeoutError:
                raise AssertionError(f"the watcher got no {what} within {TIMEOUT}s") from None
            if pred(pres):
                return pres
            if seen is not None:
                seen.append(pres)

    async def message_with(self, body):
        """The next groupchat message with this body, and its sender's nick."""
        while True:
            try:
                msg = await asyncio.wait_for(self.room_messages.get(), TIMEOUT)
            except TimeoutError:
                raise AssertionError(f"the watcher got no room message {body!r} within {TIMEOUT}s") from None
            if msg["body"] == body:
                assert msg["type"] == "groupchat", f"a room message not of type groupchat: {msg}"
                return msg["from"].resource


def status_codes(pres) -> set[str]:
    x = pres.xml.find(f"{{{MUC_USER}}}x")
    return set() if x is None else {s.get("code") for s in x.findall(f"{{{MUC_USER}}}status")}


def form_tag(wire, var):
    """The tag (field1, field2, …) profanity gives the field `var` of the
    last muc#owner config form it received: profanity numbers the fields that
    have a var and are not hidden (xmpp/form.c). Also returns the label."""
    forms = [s for s in wire if MUC_OWNER in s and DATA_FORM in s and "<iq" in s]
    assert forms, "profanity received no muc#owner config form"
    iq = ET.fromstring(forms[-1])
    form = iq.find(f".//{{{MUC_OWNER}}}query/{{{DATA_FORM}}}x")
    assert form is not None, f"no data form in the muc#owner result: {forms[-1]}"
    n = 0
    for field in form.findall(f"{{{DATA_FORM}}}field"):
        if field.get("var") is None or field.get("type") == "hidden":
            continue
        n += 1
        if field.get("var") == var:
            return f"field{n}", field.get("label")
    raise AssertionError(f"the room config form has no {var} field: {forms[-1]}")


async def room_names(watcher) -> list[str]:
    """The room's names in its disco#info: the conference identity's name and
    the muc#roominfo form's muc#roomconfig_roomname."""
    info = await watcher.plugin["xep_0030"].get_info(jid=ROOM, timeout=TIMEOUT)
    q = info.xml.find("{http://jabber.org/protocol/disco#info}query")
    names = [
        i.get("name")
        for i in q.findall("{http://jabber.org/protocol/disco#info}identity")
        if i.get("category") == "conference" and i.get("name")
    ]
    for field in q.iter(f"{{{DATA_FORM}}}field"):
        if field.get("var") == "muc#roomconfig_roomname":
            names += [v.text for v in field.findall(f"{{{DATA_FORM}}}value")]
    return names


def test_profanity_muc(server):
    """Create, configure, chat, kick, rejoin, ban, refused rejoin, destroy."""

    async def flow():
        with profanities("alice", "bob") as (alice, bob):
            await alice.login(server)
            await bob.login(server)
            for c in (alice, bob):
                # Profanity's default keeps joins and leaves out of room windows.
                c.type("/presence room online")
                await c.wait_for(r"Only join/leave presence updates will appear in chat room windows\.")
            joining_failed = [r"Error joining room"]

            # alice creates the room: she owns it, and it waits for its configuration.
            alice.type(f"/join {ROOM}")
            await alice.wait_for(r"-> You have joined the room as alice.*affiliation: owner", fail=joining_failed)
            await alice.wait_for(r"Room locked, requires configuration\.")

            # She configures it: its name, through the form.
            alice.type("/room config")
            await alice.wait_for(r"Use '/form submit' to save changes\.", fail=[r"Could not get room configuration"])
            tag, label = form_tag(alice.wire(), "muc#roomconfig_roomname")
            await alice.wait_for(rf"\[{tag}\] {re.escape(label or '')}")
            # A text field takes one argument: quoted, it may hold spaces.
            alice.type(f'/{tag} "{ROOM_NAME}"')
            await alice.wait_for(rf"\[{tag}\] .*: {re.escape(ROOM_NAME)}{END}")
            alice.type("/form submit")
            await alice.wait_for(r"Room configuration successful", fail=[r"Configuration error"])

            async with conftest.online(server, "watcher", client=Watcher) as watcher:
                names = await room_names(watcher)
                assert ROOM_NAME in names, f"the room's disco#info names it {names}, not {ROOM_NAME!r}"
                await watcher.join()

                # bob joins; each sees the other's message.
                bob.type(f"/join {ROOM}")
                await bob.wait_for(r"-> You have joined the room as bob", fail=joining_failed)
                await alice.wait_for(r"-> bob has joined the room")
                await watcher.presence_where(
                    lambda p: p["from"].resource == "bob" and p["type"] == "available", "presence of bob"
                )

                alice.type("Good morrow, bob")
                await bob.wait_for(rf"alice: Good morrow, bob{END}")
                assert await watcher.message_with("Good morrow, bob") == "alice"
                bob.type("Good morrow, alice")
                await alice.wait_for(rf"bob: Good morrow, alice{END}")
                assert await watcher.message_with("Good morrow, alice") == "bob"

                # alice kicks bob: he is out, with status 307.
                alice.type("/kick bob too loud")
                await bob.wait_for(rf"<- Kicked from {re.escape(ROOM)}", fail=[r"Error"])
                await alice.wait_for(r"<- bob has been kicked from the room", fail=[r"Error kicking", r"Occupant does not exist"])
                kicked = await watcher.presence_where(lambda p: p["from"].resource == "bob", "bob's kick")
                assert kicked["type"] == "unavailable" and "307" in status_codes(kicked), f"not a kick: {kicked}"

                # bob comes back.
                bob.type(f"/join {ROOM}")
                await bob.wait_for(r"-> You have joined the room as bob", fail=joining_failed)
                await alice.wait_for(r"-> bob has joined the room", count=2)
                back = await watcher.presence_where(lambda p: p["from"].resource == "bob", "bob's return")
                assert back["type"] == "available", f"bob did not come back: {back}"

                # alice bans him: he is out, with status 301, and may not come back.
                alice.type("/ban bob@localhost no more")
                await bob.wait_for(rf"<- Banned from {re.escape(ROOM)}", fail=[r"Error"])
                await alice.wait_for(r"<- bob has been banned from the room", fail=[r"Error setting outcast affiliation"])
                banned = await watcher.presence_where(lambda p: p["from"].resource == "bob", "bob's ban")
                assert banned["type"] == "unavailable" and "301" in status_codes(banned), f"not a ban: {banned}"

                bob.type(f"/join {ROOM}")
                await bob.wait_for(rf"Error joining room {re.escape(ROOM)}, reason: forbidden")
                # Nothing of bob reaches the room: a marker message after his attempt.
                alice.type("Banished")
                await alice.wait_for(rf"alice: Banished{END}")
                seen = []
                await watcher.message_with("Banished")
                while not watcher.room_presences.empty():
                    seen.append(watcher.room_presences.get_nowait())
                assert not [p for p in seen if p["from"].resource == "bob"], f"the banned bob got in: {seen}"
                assert alice.count(r"-> bob has joined the room") == 2, alice.screen()

                # alice destroys the room: the watcher is told, the room is gone.
                alice.type("/room destroy")
                await alice.wait_for(rf"Room destroyed: {re.escape(ROOM)}", fail=[r"Error"])
                gone = await watcher.presence_where(lambda p: p["from"].resource == "watcher", "the destroy")
                x = gone.xml.find(f"{{{MUC_USER}}}x")
                assert gone["type"] == "unavailable" and x is not None and x.find(f"{{{MUC_USER}}}destroy") is not None, (
                    f"not a destroy: {gone}"
                )
                with pytest.raises(IqError) as err:
                    await watcher.plugin["xep_0030"].get_info(jid=ROOM, timeout=TIMEOUT)
                assert err.value.condition == "item-not-found", err.value.iq

    run(flow())
