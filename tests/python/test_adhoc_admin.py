"""XEP-0133 service administration as a stock client runs it: slixmpp's own
xep_0050 (ad-hoc commands) and xep_0133 plugins list the server's commands
and drive their forms. The admin the config names sees and runs them;
anyone else sees none and is refused.

Every test runs its coroutine with asyncio.run and bounds every wait.
"""

import asyncio
import logging

import pytest
from slixmpp.exceptions import IqError

import conftest
from conftest import PASSWORD, TIMEOUT

logging.getLogger("slixmpp").setLevel(logging.WARNING)

DOMAIN = "localhost"
ADMIN = "http://jabber.org/protocol/admin"
CONFIG = f'[[vhost]]\ndomain = "{DOMAIN}"\nadmins = ["romeo@{DOMAIN}"]\n'
PLUGINS = ("xep_0030", "xep_0004", "xep_0050", "xep_0133")


@pytest.fixture(scope="module")
def admin_server():
    with conftest.running(CONFIG, ["romeo", "juliet"]) as s:
        yield s


def online(server, user, password=PASSWORD):
    return conftest.online(server, user, password=password, plugins=PLUGINS)


def run(coro):
    asyncio.run(asyncio.wait_for(coro, 90))


async def command(client, name, fill):
    """Runs admin command `name` through slixmpp's workflow: `fill(form)`
    sets the fields of the first form; returns the last answer's command."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def finished(iq, session):
        if not done.done():
            done.set_result(iq["command"])

    def failed(iq, session):
        if not done.done():
            done.set_exception(IqError(iq))

    def first(iq, session):
        if iq["command"]["status"] == "completed":
            return finished(iq, session)
        form = iq["command"]["form"]
        answer = client.plugin["xep_0004"].make_form(ftype="submit")
        answer.add_field(var="FORM_TYPE", ftype="hidden", value=ADMIN)
        for var, value in fill(form).items():
            answer.add_field(var=var, value=value)
        session["payload"] = answer
        session["next"] = finished
        client.plugin["xep_0050"].complete_command(session)

    getattr(client.plugin["xep_0133"], name.replace("-", "_"))(session={"next": first, "error": failed})
    return await asyncio.wait_for(done, TIMEOUT)


def test_the_admin_lists_and_runs_the_commands(admin_server):
    async def main():
        async with online(admin_server, "romeo@localhost/desk") as romeo:
            items = await romeo.plugin["xep_0133"].get_commands(timeout=TIMEOUT)
            nodes = {i[1] for i in items["disco_items"]["items"]}
            assert f"{ADMIN}#add-user" in nodes and f"{ADMIN}#get-online-users-num" in nodes, nodes

            done = await command(
                romeo,
                "add-user",
                lambda form: {"accountjid": "mercutio@localhost", "password": "mercutio-pw", "password-verify": "mercutio-pw"},
            )
            assert done["status"] == "completed"
            async with online(admin_server, "mercutio@localhost/sword", password="mercutio-pw"):
                counted = await command(romeo, "get-online-users-num", lambda form: {})
                values = counted["form"].get_values()
                assert values["onlineusersnum"] == "2", values

            done = await command(romeo, "delete-user", lambda form: {"accountjids": ["mercutio@localhost"]})
            assert done["status"] == "completed"
            registered = await command(romeo, "get-registered-users-num", lambda form: {})
            assert registered["form"].get_values()["registeredusersnum"] == "2"

    run(main())


def test_anyone_else_sees_no_command_and_runs_none(admin_server):
    async def main():
        async with online(admin_server, "juliet@localhost/balcony") as juliet:
            items = await juliet.plugin["xep_0133"].get_commands(timeout=TIMEOUT)
            assert list(items["disco_items"]["items"]) == []
            with pytest.raises(IqError) as refused:
                await juliet.plugin["xep_0050"].send_command(
                    DOMAIN, f"{ADMIN}#get-registered-users-num", timeout=TIMEOUT
                )
            assert refused.value.condition == "forbidden"

    run(main())


def test_the_admin_edits_the_admin_list_and_it_takes_effect():
    """slixmpp's `edit_admin` (XEP-0133 §4.29): the form shows the admins;
    a JID submitted that is no account's address is refused with
    bad-request; juliet, added, sees the commands at once."""

    async def main():
        with conftest.running(CONFIG, ["romeo", "juliet"]) as server:
            async with online(server, "romeo@localhost/desk") as romeo, \
                    online(server, "juliet@localhost/balcony") as juliet:
                shown = {}

                def keep(form):
                    shown.update(form.get_values())
                    return {"adminjids": ["romeo@localhost", "not a jid@@"]}

                with pytest.raises(IqError) as refused:
                    await command(romeo, "edit-admin", keep)
                assert refused.value.condition == "bad-request"
                assert shown["adminjids"] == ["romeo@localhost"], shown

                done = await command(
                    romeo, "edit-admin", lambda form: {"adminjids": ["romeo@localhost", "juliet@localhost"]}
                )
                assert done["status"] == "completed"
                items = await juliet.plugin["xep_0133"].get_commands(timeout=TIMEOUT)
                nodes = {i[1] for i in items["disco_items"]["items"]}
                assert f"{ADMIN}#edit-admin" in nodes and f"{ADMIN}#shutdown" in nodes, nodes

    run(main())
