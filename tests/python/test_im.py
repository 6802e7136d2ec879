"""What a stock client (slixmpp) does day to day, against a server with the
IM plugins: contacts and presence (RFC 6121, roster), messages kept while a
contact is offline (XEP-0160 with XEP-0203 delays, offline), blocking
(XEP-0191, blocking), in-band registration (XEP-0077, register), vCards
(XEP-0054, vcard) and carbons (XEP-0280, carbons).

The server comes from the `im_server` / `fresh_im_server` fixtures in
conftest.py (one switch there says whether the IM plugins are the default
config yet). Each flow is marked with the plugins it exercises: a failure
report names those still unwritten.

Every test runs its coroutine with asyncio.run and bounds every wait.
"""

import asyncio
import contextlib
import datetime
import logging

import pytest
import slixmpp
from slixmpp.exceptions import IqError

import conftest
from conftest import PASSWORD, TIMEOUT, Server, im_config

VCARD = "vcard-temp"

logging.getLogger("slixmpp").setLevel(logging.WARNING)


class ImClient(conftest.Client):
    """A client on the STARTTLS port that also queues message errors and
    carbons apart from the messages, and stays off once disconnected."""

    def __init__(self, server, jid, password, *, plugins=()):
        super().__init__(server, jid, password, plugins=("xep_0030", *plugins))
        self.errors: asyncio.Queue = asyncio.Queue()
        self.carbons: asyncio.Queue = asyncio.Queue()
        self.add_event_handler("carbon_received", lambda m: self.carbons.put_nowait(("received", m)))
        self.add_event_handler("carbon_sent", lambda m: self.carbons.put_nowait(("sent", m)))

    def _on_message(self, msg):
        if msg["type"] == "error":
            self.errors.put_nowait(msg)
        elif not (msg.xml.find("{urn:xmpp:carbons:2}received") is not None
                  or msg.xml.find("{urn:xmpp:carbons:2}sent") is not None):
            self.messages.put_nowait(msg)

    async def online(self):
        await super().online()
        # Stay off: a test decides when to connect again.
        self.add_event_handler("disconnected", lambda _r: self.cancel_connection_attempt())
        return self

    async def messages_until(self, marker_body):
        """The messages received before the one whose body is `marker_body`."""
        before = []
        while True:
            msg = await asyncio.wait_for(self.messages.get(), TIMEOUT)
            if msg["body"] == marker_body:
                return before
            before.append(msg)

    async def next_error(self):
        return await asyncio.wait_for(self.errors.get(), TIMEOUT)


def online(server, user, *, password=PASSWORD, plugins=()):
    """An ImClient logged in as `user@localhost` (or a full JID), always disconnected afterwards."""
    return conftest.online(server, user, client=ImClient, password=password, plugins=plugins)


async def eventually(cond, what):
    """Waits (bounded) for `cond()` to hold: for state a client updates from pushes."""
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def expect_iq_error(fut, condition, what):
    try:
        iq = await fut
    except IqError as e:
        assert e.iq["error"]["condition"] == condition, f"{what}: {e.iq}"
        return e.iq
    raise AssertionError(f"{what} succeeded: {iq}")


async def login_fails(server, jid, password):
    """A login that must be refused with not-authorized."""
    c = ImClient(server, jid, password)
    try:
        c.connect(*server.c2s)
        done, _ = await asyncio.wait(
            [c.started, c.auth_failed, c.gone], timeout=TIMEOUT, return_when=asyncio.FIRST_COMPLETED
        )
        assert not c.started.done(), f"{jid} logged in with password {password!r}"
        assert c.auth_failed in done, f"no SASL failure for {jid}"
        assert c.auth_failed.result() == "not-authorized", c.auth_failed.result()
    finally:
        await c.leave()


def run(coro):
    asyncio.run(asyncio.wait_for(coro, 90))


async def fetch_roster(c):
    """The server's copy of `c`'s roster: a get without a version, so the
    whole roster comes back (RFC 6121 §2.6), as a dict by bare JID."""
    iq = c.make_iq_get()
    iq.enable("roster")
    result = await iq.send(timeout=TIMEOUT)
    return {str(jid): item for jid, item in result["roster"]["items"].items()}


# ------------------------------------------------------------ (a) contacts


@pytest.mark.needs_plugins("roster")
def test_two_users_add_each_other_see_presence_and_chat(im_server):
    async def main():
        async with online(im_server, "ann@localhost/home") as ann, online(im_server, "ben@localhost/work") as ben:
            for c in (ann, ben):
                await asyncio.wait_for(c.get_roster(), TIMEOUT)
                await c.available()
            ben_seen = asyncio.get_running_loop().create_future()
            ann_seen = asyncio.get_running_loop().create_future()
            ann.add_event_handler("got_online", lambda p: ben_seen.done() or ben_seen.set_result(p))
            ben.add_event_handler("got_online", lambda p: ann_seen.done() or ann_seen.set_result(p))

            # Ann adds Ben to her roster and asks for his presence; both
            # clients authorize and subscribe back on their own.
            await asyncio.wait_for(ann.update_roster("ben@localhost", name="Ben", groups=["Work"]), TIMEOUT)
            ann.send_presence_subscription(pto="ben@localhost")
            await eventually(
                lambda: ann.client_roster["ben@localhost"]["subscription"] == "both"
                and ben.client_roster["ann@localhost"]["subscription"] == "both",
                "a mutual subscription pushed to both rosters",
            )

            # Each sees the other online.
            pres = await asyncio.wait_for(ben_seen, TIMEOUT)
            assert pres["from"].full == "ben@localhost/work", pres
            pres = await asyncio.wait_for(ann_seen, TIMEOUT)
            assert pres["from"].full == "ann@localhost/home", pres
            assert "work" in ann.client_roster.presence("ben@localhost")
            assert "home" in ben.client_roster.presence("ann@localhost")

            # The server's own copy of the rosters, as a fresh fetch returns it.
            items = await fetch_roster(ann)
            assert "ben@localhost" in items, items
            assert items["ben@localhost"]["subscription"] == "both", items
            assert items["ben@localhost"]["name"] == "Ben", items
            assert list(items["ben@localhost"]["groups"]) == ["Work"], items
            items = await fetch_roster(ben)
            assert items["ann@localhost"]["subscription"] == "both", items

            # Chat both ways, to the bare JIDs as a client does.
            ann.send_message(mto="ben@localhost", mbody="Lunch at noon?", mtype="chat")
            msg = await ben.next_message()
            assert (msg["from"].full, msg["body"]) == ("ann@localhost/home", "Lunch at noon?")
            ben.send_message(mto="ann@localhost", mbody="Sure, the usual place", mtype="chat")
            msg = await ann.next_message()
            assert (msg["from"].full, msg["body"]) == ("ben@localhost/work", "Sure, the usual place")

            # Bad input: a roster set with two items is refused (RFC 6121 §2.3.3).
            iq = ann.make_iq_set()
            iq["roster"]["items"] = {"x1@localhost": {"name": "X1"}, "x2@localhost": {"name": "X2"}}
            await expect_iq_error(iq.send(timeout=TIMEOUT), "bad-request", "a roster set with two items")

            # Ben going offline reaches Ann as unavailable presence.
            gone = asyncio.get_running_loop().create_future()
            ann.add_event_handler("got_offline", lambda p: gone.done() or gone.set_result(p))
            await ben.leave()
            pres = await asyncio.wait_for(gone, TIMEOUT)
            assert pres["from"].bare == "ben@localhost", pres

    run(main())


# ------------------------------------------------------ (b) offline messages


@pytest.mark.needs_plugins("offline")
def test_message_to_an_offline_contact_arrives_on_next_login_with_a_delay(im_server):
    async def main():
        sent_at = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        async with online(im_server, "oscar@localhost/desk") as oscar:
            await oscar.available()
            oscar.send_message(mto="olive@localhost", mbody="Are we still on for Friday?", mtype="chat")
            oscar.send_message(mto="olive@localhost", mbody="Call me when you land", mtype="chat")
            # A headline to an offline account is dropped, never stored (RFC 6121 §8.5.2.2.1).
            oscar.send_message(mto="olive@localhost", mbody="breaking news", mtype="headline")
            # Nothing came back: the messages were kept, not refused. A ping
            # answered after them proves no error was queued before it.
            await asyncio.wait_for(oscar.plugin["xep_0030"].get_info(jid="localhost", local=False), TIMEOUT)
            assert oscar.errors.empty(), f"a message to an offline contact bounced: {oscar.errors.get_nowait()}"

            async with online(im_server, "olive@localhost/phone", plugins=["xep_0203"]) as olive:
                olive.send_presence()
                first = await olive.next_message()
                second = await olive.next_message()
                for msg, body in ((first, "Are we still on for Friday?"), (second, "Call me when you land")):
                    assert msg["body"] == body, msg
                    assert msg["from"].full == "oscar@localhost/desk", msg
                    assert msg["type"] == "chat", msg
                    stamp = msg["delay"]["stamp"]
                    assert stamp is not None, f"no XEP-0203 delay: {msg}"
                    now = datetime.datetime.now(datetime.timezone.utc)
                    assert sent_at - datetime.timedelta(seconds=2) <= stamp <= now, (stamp, sent_at, now)
                # Then live delivery again, and the headline was never kept.
                oscar.send_message(mto="olive@localhost/phone", mbody="marker-1", mtype="chat")
                assert await olive.messages_until("marker-1") == []

            # Delivered once: the next login gets nothing old.
            async with online(im_server, "olive@localhost/tablet", plugins=["xep_0203"]) as olive:
                await olive.available()
                oscar.send_message(mto="olive@localhost/tablet", mbody="marker-2", mtype="chat")
                before = await olive.messages_until("marker-2")
                assert before == [], f"old messages delivered again: {[m['body'] for m in before]}"

    run(main())


# --------------------------------------------------------------- (c) block


@pytest.mark.needs_plugins("blocking")
def test_blocked_contact_messages_stop_until_unblocked(im_server):
    async def main():
        async with online(im_server, "bea@localhost/r", plugins=["xep_0191"]) as bea, online(
            im_server, "bill@localhost/r"
        ) as bill, online(im_server, "carl@localhost/r") as carl:
            for c in (bea, bill, carl):
                await c.available()
            blocking = bea.plugin["xep_0191"]
            assert await asyncio.wait_for(blocking.get_blocked_jids(), TIMEOUT) == set()

            await asyncio.wait_for(blocking.block(["bill@localhost"]), TIMEOUT)
            blocked = await asyncio.wait_for(blocking.get_blocked_jids(), TIMEOUT)
            assert {str(j) for j in blocked} == {"bill@localhost"}, blocked

            # Bill's message is not delivered; he gets service-unavailable (XEP-0191 §3.3).
            bill.send_message(mto="bea@localhost", mbody="hello? (blocked)", mtype="chat")
            err = await bill.next_error()
            assert err["error"]["condition"] == "service-unavailable", err
            bill.send_message(mto="bea@localhost/r", mbody="to the full JID (blocked)", mtype="chat")
            err = await bill.next_error()
            assert err["error"]["condition"] == "service-unavailable", err
            carl.send_message(mto="bea@localhost/r", mbody="marker-1", mtype="chat")
            leaked = await bea.messages_until("marker-1")
            assert leaked == [], f"a blocked contact's messages arrived: {[m['body'] for m in leaked]}"
            # Bea cannot write to Bill either: not-acceptable with <blocked/>.
            bea.send_message(mto="bill@localhost", mbody="you are blocked", mtype="chat")
            err = await bea.next_error()
            assert err["error"]["condition"] == "not-acceptable", err
            assert err.xml.find(".//{urn:xmpp:blocking:errors}blocked") is not None, err

            # Bad input: a block without an item is bad-request.
            iq = bea.make_iq_set()
            iq.enable("block")
            await expect_iq_error(iq.send(timeout=TIMEOUT), "bad-request", "an empty <block/>")

            await asyncio.wait_for(blocking.unblock(["bill@localhost"]), TIMEOUT)
            assert await asyncio.wait_for(blocking.get_blocked_jids(), TIMEOUT) == set()
            bill.send_message(mto="bea@localhost", mbody="can you hear me now?", mtype="chat")
            msg = await bea.next_message()
            assert (msg["from"].full, msg["body"]) == ("bill@localhost/r", "can you hear me now?")
            bea.send_message(mto="bill@localhost", mbody="loud and clear", mtype="chat")
            msg = await bill.next_message()
            assert (msg["from"].full, msg["body"]) == ("bea@localhost/r", "loud and clear")

    run(main())


# ---------------------------------------------------- (d) in-band registration


class Registrar(ImClient):
    """Registers `jid` in band before logging in with it (XEP-0077 §3.1)."""

    def __init__(self, server, jid, password):
        super().__init__(server, jid, password, plugins=["xep_0004", "xep_0066", "xep_0077"])
        self.registered = asyncio.get_running_loop().create_future()
        self.add_event_handler("register", self._register)
        # slixmpp asks for the form inside its stream-feature handler, where
        # an error would only be logged: record it here instead.
        plugin = self.plugin["xep_0077"]
        ask = plugin.get_registration

        async def get_registration(*args, **kwargs):
            try:
                return await ask(*args, **kwargs)
            except IqError as e:
                self._settle(self.registered, e.iq["error"]["condition"])
                self.disconnect()
                raise

        plugin.get_registration = get_registration

    async def register_in_band(self):
        """Connects and returns how registration went: "ok" or the error condition."""
        self.connect(*self.wx.c2s)
        waits = [self.registered, self.auth_failed, self.gone, self.started]
        await asyncio.wait([asyncio.shield(w) for w in waits], timeout=TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
        assert self.registered.done(), (
            "no in-band registration took place: the server offered no "
            "<register xmlns='http://jabber.org/features/iq-register'/> stream feature "
            f"(auth_failed={self.auth_failed.done()} started={self.started.done()} gone={self.gone.done()})"
        )
        return self.registered.result()

    async def _register(self, form):
        fields = form["register"]
        try:
            assert "username" in fields["fields"] and "password" in fields["fields"], f"registration form: {form}"
            iq = self.Iq()
            iq["type"] = "set"
            iq["register"]["username"] = self.boundjid.user
            iq["register"]["password"] = self.password
            await iq.send(timeout=TIMEOUT)
            self._settle(self.registered, "ok")
        except IqError as e:
            self._settle(self.registered, e.iq["error"]["condition"])
            self.disconnect()
        except Exception as e:  # noqa: BLE001 - reported through the future
            self._settle(self.registered, f"{type(e).__name__}: {e}")
            self.disconnect()


@pytest.mark.needs_plugins("register")
def test_register_login_change_password_cancel(fresh_im_server):
    fresh_im_server.add_users([("taken@localhost", PASSWORD)])
    jid, first, second = "newbie@localhost", "first-pw-123", "second-pw-456"

    async def main():
        # Register before authenticating; the same connection then logs in.
        c = Registrar(fresh_im_server, jid, first)
        try:
            outcome = await c.register_in_band()
            assert outcome == "ok", f"registration: {outcome}"
            await asyncio.wait_for(asyncio.shield(c.started), TIMEOUT)
            assert c.boundjid.bare == jid
        finally:
            await c.leave()

        # A name that is taken is a conflict, and changes nothing.
        c = Registrar(fresh_im_server, "taken@localhost", "not-the-owners")
        try:
            outcome = await c.register_in_band()
            assert outcome == "conflict", f"registering a taken name: {outcome}"
        finally:
            await c.leave()
        async with online(fresh_im_server, "taken@localhost"):
            pass

        # A password too short for the server's rule is refused, and no account is made.
        c = Registrar(fresh_im_server, "shorty@localhost", "abc")
        try:
            outcome = await c.register_in_band()
            assert outcome in ("not-acceptable", "policy-violation"), f"registering with a short password: {outcome}"
        finally:
            await c.leave()

        # Log in with it, change the password.
        async with online(fresh_im_server, jid, password=first, plugins=["xep_0004", "xep_0066", "xep_0077"]) as c:
            await asyncio.wait_for(c.plugin["xep_0077"].change_password(second), TIMEOUT)
        await login_fails(fresh_im_server, jid, first)

        # The new password works; cancelling removes the account.
        async with online(fresh_im_server, jid, password=second, plugins=["xep_0004", "xep_0066", "xep_0077"]) as c:
            with contextlib.suppress(IqError, slixmpp.exceptions.IqTimeout):
                # The server may close the stream right after answering (XEP-0077 §3.2).
                await asyncio.wait_for(c.plugin["xep_0077"].cancel_registration(), TIMEOUT)
            await asyncio.wait_for(asyncio.shield(c.gone), TIMEOUT)
        await login_fails(fresh_im_server, jid, second)
        out = fresh_im_server.cli("user", "list")
        assert out.returncode == 0, out.stderr
        accounts = out.stdout.split()
        assert jid not in accounts and "shorty@localhost" not in accounts, out.stdout
        assert "taken@localhost" in accounts, out.stdout

    run(main())


# --------------------------------------------------------------- (e) vCards


@pytest.mark.needs_plugins("vcard")
def test_vcard_set_and_get(im_server):
    async def main():
        async with online(im_server, "vera", plugins=["xep_0054"]) as vera, online(
            im_server, "vic", plugins=["xep_0054"]
        ) as vic:
            vcards = vera.plugin["xep_0054"]
            card = vcards.make_vcard()
            card["FN"] = "Vera Lindqvist"
            card["NICKNAME"] = "vee"
            card["BDAY"] = "1990-04-12"
            card["DESC"] = "Cellist & occasional <html> tinkerer"
            await asyncio.wait_for(vcards.publish_vcard(card), TIMEOUT)

            # Her own, fetched from the server, and as a contact sees it.
            for asker in (vera, vic):
                iq = await asyncio.wait_for(
                    asker.plugin["xep_0054"].get_vcard("vera@localhost", local=False, cached=False), TIMEOUT
                )
                got = iq["vcard_temp"]
                assert got.xml.findtext(f"{{{VCARD}}}FN") == "Vera Lindqvist", got
                assert got.xml.findtext(f"{{{VCARD}}}NICKNAME") == "vee", got
                assert got.xml.findtext(f"{{{VCARD}}}BDAY") == "1990-04-12", got
                assert got.xml.findtext(f"{{{VCARD}}}DESC") == "Cellist & occasional <html> tinkerer", got

            # Replacing it replaces all of it.
            card = vcards.make_vcard()
            card["FN"] = "Vera L."
            await asyncio.wait_for(vcards.publish_vcard(card), TIMEOUT)
            iq = await asyncio.wait_for(
                vic.plugin["xep_0054"].get_vcard("vera@localhost", local=False, cached=False), TIMEOUT
            )
            assert iq["vcard_temp"].xml.findtext(f"{{{VCARD}}}FN") == "Vera L.", iq
            assert iq["vcard_temp"].xml.find(f"{{{VCARD}}}NICKNAME") is None, iq

            # Vic has none: an empty vCard or item-not-found (XEP-0054 §3.1).
            try:
                iq = await asyncio.wait_for(
                    vera.plugin["xep_0054"].get_vcard("vic@localhost", local=False, cached=False), TIMEOUT
                )
                assert not iq["vcard_temp"].xml.findtext(f"{{{VCARD}}}FN"), iq
            except IqError as e:
                assert e.iq["error"]["condition"] in ("item-not-found", "service-unavailable"), e.iq

            # Bad input: Vic may not set Vera's vCard.
            forged = vic.plugin["xep_0054"].make_vcard()
            forged["FN"] = "Not Vera"
            iq = vic.make_iq_set(ito="vera@localhost")
            iq.append(forged)
            try:
                await iq.send(timeout=TIMEOUT)
            except IqError:
                pass
            else:
                raise AssertionError("another user's vCard was set")
            iq = await asyncio.wait_for(
                vic.plugin["xep_0054"].get_vcard("vera@localhost", local=False, cached=False), TIMEOUT
            )
            assert iq["vcard_temp"].xml.findtext(f"{{{VCARD}}}FN") == "Vera L.", iq

    run(main())


# -------------------------------------------------------------- (e) carbons


@pytest.mark.needs_plugins("carbons")
def test_carbons_copy_messages_to_the_other_resource(im_server):
    async def main():
        async with online(im_server, "cara@localhost/phone", plugins=["xep_0280"]) as phone, online(
            im_server, "cara@localhost/laptop", plugins=["xep_0280"]
        ) as laptop, online(im_server, "cody@localhost/r") as cody:
            for c in (phone, laptop, cody):
                await c.available()
            for c in (phone, laptop):
                await asyncio.wait_for(c.plugin["xep_0280"].enable(), TIMEOUT)

            # Received by the phone: the laptop gets a <received/> copy.
            cody.send_message(mto="cara@localhost/phone", mbody="Got the tickets", mtype="chat")
            msg = await phone.next_message()
            assert msg["body"] == "Got the tickets", msg
            kind, carbon = await asyncio.wait_for(laptop.carbons.get(), TIMEOUT)
            assert kind == "received", carbon
            assert carbon["from"].full == "cara@localhost", carbon
            inner = carbon["carbon_received"]
            assert inner["body"] == "Got the tickets", carbon
            assert inner["from"].full == "cody@localhost/r", carbon
            assert inner["to"].full == "cara@localhost/phone", carbon

            # Sent from the phone: the laptop gets a <sent/> copy.
            phone.send_message(mto="cody@localhost", mbody="Great, see you there", mtype="chat")
            msg = await cody.next_message()
            assert msg["body"] == "Great, see you there", msg
            kind, carbon = await asyncio.wait_for(laptop.carbons.get(), TIMEOUT)
            assert kind == "sent", carbon
            inner = carbon["carbon_sent"]
            assert inner["body"] == "Great, see you there", carbon
            assert inner["from"].full == "cara@localhost/phone", carbon
            assert inner["to"].bare == "cody@localhost", carbon
            # The sender gets no copy of its own message.
            assert phone.carbons.empty(), phone.carbons.get_nowait()

            # A message marked <private/> is not copied (XEP-0280 §7): the
            # next thing the laptop sees is the copy of what follows it.
            private = phone.make_message(mto="cody@localhost", mbody="just between us", mtype="chat")
            private.enable("carbon_private")
            private.send()
            assert (await cody.next_message())["body"] == "just between us"
            phone.send_message(mto="cody@localhost", mbody="after the private one", mtype="chat")
            assert (await cody.next_message())["body"] == "after the private one"
            kind, carbon = await asyncio.wait_for(laptop.carbons.get(), TIMEOUT)
            assert carbon[f"carbon_{kind}"]["body"] == "after the private one", carbon

            # Disabled on the laptop: no more copies for it.
            await asyncio.wait_for(laptop.plugin["xep_0280"].disable(), TIMEOUT)
            cody.send_message(mto="cara@localhost/phone", mbody="still there?", mtype="chat")
            assert (await phone.next_message())["body"] == "still there?"
            cody.send_message(mto="cara@localhost/laptop", mbody="marker-1", mtype="chat")
            await laptop.messages_until("marker-1")
            assert laptop.carbons.empty(), laptop.carbons.get_nowait()

    run(main())


@pytest.mark.needs_plugins("register")
def test_registration_can_be_closed():
    """allow_registration = false: no account is made in band, whatever the client tries."""
    s = Server(im_config({"register": {"allow_registration": False}}))

    async def main():
        c = Registrar(s, "gatecrasher@localhost", "gatecrasher-pw")
        try:
            c.connect(*s.c2s)
            waits = [c.registered, c.auth_failed, c.gone, c.started]
            await asyncio.wait([asyncio.shield(w) for w in waits], timeout=TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
            if c.registered.done():
                assert c.registered.result() in ("not-allowed", "service-unavailable", "forbidden"), (
                    f"registration with allow_registration = false: {c.registered.result()}\n{s.log_tail()}"
                )
            assert not c.started.done(), "a session started for an account that must not exist"
        finally:
            await c.leave()
        await login_fails(s, "gatecrasher@localhost", "gatecrasher-pw")
        out = s.cli("user", "list")
        assert out.returncode == 0, out.stderr
        assert "gatecrasher@localhost" not in out.stdout.split(), out.stdout

    try:
        s.start()
        run(main())
    finally:
        s.stop()


@pytest.mark.needs_plugins("register")
def test_registrations_per_address_are_limited():
    """[limits] registrations_per_ip_per_hour: the next account from the same
    address is refused with resource-constraint."""
    s = Server(im_config() + "\n[limits]\nregistrations_per_ip_per_hour = 1\n")

    async def main():
        c = Registrar(s, "first@localhost", "first-pw-123")
        try:
            assert await c.register_in_band() == "ok"
            await asyncio.wait_for(asyncio.shield(c.started), TIMEOUT)
        finally:
            await c.leave()
        c = Registrar(s, "second@localhost", "second-pw-123")
        try:
            outcome = await c.register_in_band()
            assert outcome == "resource-constraint", f"a second registration within the hour: {outcome}\n{s.log_tail()}"
        finally:
            await c.leave()
        out = s.cli("user", "list")
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == ["first@localhost"], out.stdout

    try:
        s.start()
        run(main())
    finally:
        s.stop()
