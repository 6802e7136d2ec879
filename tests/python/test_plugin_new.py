"""`waxwing plugin new --lang c|python`: the plugin it writes builds outside
the repository with the command its README gives (the repository's
plugins/c/build.sh or plugins/python/build.sh SRC_DIR OUT.wasm), loads from a
config and answers a real client, slixmpp, with its configured greeting.

The Rust template has its own end-to-end test, tests/tests/plugin_new.rs.
"""

import asyncio
import json
import logging
import os
import pathlib
import shlex
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET

import pytest

import conftest
from conftest import PASSWORD, REPO, TIMEOUT, Server, not_available, waxwing_bin

logging.getLogger("slixmpp").setLevel(logging.WARNING)

# Compiling the Python component takes seconds, more on a busy machine.
START_TIMEOUT = 180.0
BUILD_TIMEOUT = 600

# XML specials and non-ASCII: the plugin must escape what it inserts.
GREETING = {"c": 'Hi from C & <friends>, "é"', "python": 'Hi from Python & <friends>, "é"'}


def missing_toolchain(lang: str) -> str | None:
    """What the build script would refuse to run without, as a message; None if nothing."""
    if lang == "c":
        # The files plugins/c/build.sh checks for, one per Debian package.
        needs = {
            "clang-19": shutil.which("clang-19"),
            "lld-19": os.access("/usr/lib/llvm-19/bin/wasm-ld", os.X_OK),
            "wasi-libc": os.path.isfile("/usr/lib/wasm32-wasi/crt1-reactor.o"),
            "libclang-rt-19-dev-wasm32": os.path.isfile(
                "/usr/lib/llvm-19/lib/clang/19/lib/wasi/libclang_rt.builtins-wasm32.a"
            ),
            "cargo": shutil.which("cargo"),
        }
        missing = [name for name, found in needs.items() if not found]
        return f"{', '.join(missing)} missing (./dev setup installs them)" if missing else None
    cpy = pathlib.Path(os.environ.get("COMPONENTIZE_PY") or REPO / ".venv" / "bin" / "componentize-py")
    if not cpy.is_absolute():
        cpy = REPO / cpy  # the build script resolves it from the repository root
    return None if os.access(cpy, os.X_OK) else f"{cpy} missing (./dev setup installs it; or set COMPONENTIZE_PY)"


def require_toolchain(lang: str) -> None:
    missing = missing_toolchain(lang)
    if missing is None:
        return
    required = "WAXWING_REQUIRE_C_PLUGINS" if lang == "c" else "WAXWING_REQUIRE_PYTHON_PLUGINS"
    not_available(f"the `plugin new --lang {lang}` test", f"cannot build a {lang} plugin: {missing}", required)


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    out = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{shlex.join(args)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}"
    return out


def build_command(readme: str) -> list[str]:
    """The build command the README tells its reader to run."""
    lines = [line.strip() for line in readme.splitlines() if "/build.sh " in line]
    assert len(lines) == 1, f"expected one build.sh command in the README:\n{readme}"
    return shlex.split(lines[0])


@pytest.fixture
def tmp():
    path = pathlib.Path(tempfile.mkdtemp(prefix="waxwing-new-"))
    yield path
    if not os.environ.get("WAXWING_TEST_KEEP"):
        shutil.rmtree(path, ignore_errors=True)


async def hello(server: Server, name: str) -> str:
    """romeo's `<hello/>` iq to the server, and the text of the `<hello/>` it gets back."""
    ns = f"urn:example:{name}"
    async with conftest.online(server, "romeo") as c:
        iq = c.make_iq_get(ito="localhost")
        iq.append(ET.Element(f"{{{ns}}}hello"))
        reply = await iq.send(timeout=TIMEOUT)
        assert reply["type"] == "result" and reply["from"].full == "localhost", reply
        answer = reply.xml.find(f"{{{ns}}}hello")
        assert answer is not None, f"no <hello xmlns='{ns}'/> in {reply}"
        return answer.text or ""


@pytest.mark.parametrize("lang", ["c", "python"])
def test_a_new_plugin_builds_outside_the_repository_loads_and_answers(lang, tmp):
    require_toolchain(lang)
    name = f"hello_{'c' if lang == 'c' else 'py'}"
    src = tmp / name
    run(str(waxwing_bin()), "plugin", "new", name, "--lang", lang, "--dir", str(src))

    # Built by the command its README gives, from outside the repository.
    command = build_command((src / "README.md").read_text())
    wasm = src / f"{name}.wasm"
    assert command[-2:] == [str(src), str(wasm)], command
    out = subprocess.run(command, cwd=tmp, capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    assert out.returncode == 0, f"{shlex.join(command)} failed:\n{out.stdout}\n{out.stderr}"
    assert wasm.is_file(), out.stdout

    s = Server(
        '[[vhost]]\ndomain = "localhost"\n\n'
        f'[[vhost.plugin]]\nname = "{name}"\nsource = {json.dumps(str(wasm))}\n'
        f"[vhost.plugin.config]\ngreeting = {json.dumps(GREETING[lang])}\n"
    )
    try:
        # A Python plugin is a large component to compile before the server listens.
        s.start(timeout=START_TIMEOUT)
        s.add_users([("romeo@localhost", PASSWORD)])
        answer = asyncio.run(asyncio.wait_for(hello(s, name), 60))
        assert answer == GREETING[lang], f"{answer!r}\n{s.log_tail()}"
    finally:
        s.stop()
