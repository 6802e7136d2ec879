"""XEP-0227 migration from the real servers (peers.py, on loopback):

- ejabberd (Debian's 23.01): users made with `ejabberdctl register`, a
  roster item with `add_rosteritem` (mod_admin_extra), `ejabberdctl
  export_piefxis DIR`; `waxwing import` takes the `<server-data/>` file
  (its host file XIncluded; SCRAM-SHA-1 credentials only, since the peer
  runs with `auth_password_format: scram`). The users log in to Waxwing
  with their old passwords (SCRAM-SHA-1) and see their contact with the
  subscription ejabberd had.
- Prosody (0.12): `prosodyctl register`, a roster item set by a client,
  then `prosody-migrator` from its internal store to its `xep0227` store
  (one file per user; Prosody 0.12's xep0227 store cannot take offline
  messages, `offline-archive` fails with unsupported-datastore); each file
  is imported and the users log in.

Both peers serve `localhost` (the test server's vhost and certificate).
Missing peers skip loudly, or fail under WAXWING_REQUIRE_PEERS / CI.
"""

import asyncio
import logging
import pathlib
import shutil
import subprocess

import pytest

import conftest
import peers
from conftest import Client

logging.getLogger("slixmpp").setLevel(logging.WARNING)

EJABBERD_ADDR, PROSODY_ADDR = "127.0.0.62", "127.0.0.63"
MIGRATOR = "/usr/bin/prosody-migrator"


def require(kind):
    reason = peers.unavailable([kind])
    if reason:
        conftest.not_available(f"the {kind} migration test", reason, "WAXWING_REQUIRE_PEERS")


def import_into_waxwing(files):
    s = conftest.Server()
    for f in files:
        out = s.cli("import", str(f))
        assert out.returncode == 0, f"waxwing import {f} failed:\n{out.stdout}\n{out.stderr}"
    return s


async def roster_of(server, jid, password, **kwargs):
    c = Client(server, jid, password, **kwargs)
    await c.online()
    try:
        await asyncio.wait_for(c.get_roster(), conftest.TIMEOUT)
        return {str(j): (c.client_roster[j]["subscription"], c.client_roster[j]["name"])
                for j in c.client_roster if str(j) != jid}
    finally:
        await c.leave()


def test_ejabberd_export_imports(tmp_path):
    require("ejabberd")
    hosts = peers.write_hosts(tmp_path / "hosts", {EJABBERD_ADDR: peers.served_names("localhost", muc=False)})
    export = tmp_path / "export"
    export.mkdir()
    with peers.ejabberd("localhost", EJABBERD_ADDR, hosts, tmp_path, muc=False,
                        extra_config="  mod_admin_extra: {}\n") as e:
        e.register("alice", "alice-ej-pw")
        e.register("bob", "bob-ej-pw")
        e.ctl("add_rosteritem", "alice", "localhost", "bob", "localhost", "Bob", "Friends", "both")
        e.ctl("add_rosteritem", "bob", "localhost", "alice", "localhost", "Alice", "Friends", "both")
        e.ctl("export_piefxis", str(export))
    main = [f for f in export.iterdir() if "_" not in f.name]
    assert len(main) == 1, list(export.iterdir())
    s = import_into_waxwing(main)
    try:
        s.start()

        async def flow():
            # ejabberd kept SCRAM-SHA-1 only: that is what logs in at first.
            alice = await roster_of(s, "alice@localhost", "alice-ej-pw", sasl_mech="SCRAM-SHA-1")
            assert alice == {"bob@localhost": ("both", "Bob")}, alice
            bob = await roster_of(s, "bob@localhost", "bob-ej-pw", sasl_mech="SCRAM-SHA-1")
            assert bob == {"alice@localhost": ("both", "Alice")}, bob

        asyncio.run(flow())
    finally:
        s.stop()


def test_prosody_migrator_export_imports(tmp_path):
    require("prosody")
    if not shutil.which(MIGRATOR):
        conftest.not_available("the Prosody migration test", f"{MIGRATOR} is not installed", "WAXWING_REQUIRE_PEERS")
    hosts = peers.write_hosts(tmp_path / "hosts", {PROSODY_ADDR: peers.served_names("localhost", muc=False)})
    out = tmp_path / "xep0227"
    out.mkdir()
    with peers.prosody("localhost", PROSODY_ADDR, hosts, tmp_path, muc=False) as p:
        p.register("alice", "alice-pr-pw")
        p.register("bob", "bob-pr-pw")

        async def add_contact():
            c = Client(p, "alice@localhost", "alice-pr-pw")
            await c.online()
            try:
                await asyncio.wait_for(c.update_roster("bob@localhost", name="Bob", groups=["Friends"]), conftest.TIMEOUT)
            finally:
                await c.leave()

        asyncio.run(add_contact())
        data = p.dir / "data"
    migrator_cfg = tmp_path / "migrator.cfg.lua"
    migrator_cfg.write_text(
        'input {\n'
        '    hosts = { ["localhost"] = { "accounts", "roster", "vcard", "private" } };\n'
        f'    type = "internal"; path = "{data}";\n'
        '}\n'
        f'output {{ type = "xep0227"; path = "{out}"; }}\n'
    )
    # Prosody 0.12's xep0227 driver writes <user>@<host>.xml into the
    # process's data path (CFG_DATADIR, /var/lib/prosody), not the store's
    # `path`: run a copy of the migrator whose data path is ours.
    script = pathlib.Path(MIGRATOR).read_text()
    assert "CFG_DATADIR='/var/lib/prosody';" in script, "prosody-migrator changed: check where xep0227 writes"
    copy = tmp_path / "prosody-migrator"
    copy.write_text(script.replace("CFG_DATADIR='/var/lib/prosody';", f"CFG_DATADIR='{out}';"))
    lua = script.splitlines()[0].split()[-1]
    # --root: as root, it would switch to the prosody user, who cannot read these folders.
    run = subprocess.run([lua, str(copy), "--root", "--config", str(migrator_cfg), "input", "output"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, f"prosody-migrator failed:\n{run.stdout}\n{run.stderr}"
    files = sorted(out.rglob("*.xml"))
    assert files, f"prosody-migrator wrote nothing:\n{run.stdout}\n{run.stderr}"
    s = import_into_waxwing(files)
    try:
        s.start()

        async def flow():
            alice = await roster_of(s, "alice@localhost", "alice-pr-pw", sasl_mech="SCRAM-SHA-1")
            assert alice == {"bob@localhost": ("none", "Bob")}, alice
            await roster_of(s, "bob@localhost", "bob-pr-pw", sasl_mech="SCRAM-SHA-1")

        asyncio.run(flow())
    finally:
        s.stop()
