"""HTTP File Upload (XEP-0363) with slixmpp's own client plugin (xep_0363,
which PUTs with aiohttp) against Waxwing's default config: the
`http_upload` plugin on upload.localhost and the kernel's `/upload/` on the
HTTP listeners (kernel/src/http/upload.rs).

romeo uploads a file with `upload_file` (service found by disco, the limit
read from its XEP-0128 form, a slot asked for, the PUT) and sends the GET URL
to juliet, in the body and as XEP-0066 out-of-band data, as clients do;
juliet downloads it and gets the very bytes, type and name. Over both kinds
of URL the kernel makes:

- `http`: the server has no HTTPS listener, so URLs are
  http://localhost:<http port>/upload/...;
- `https`: the default listeners, so URLs are https://localhost:<https
  port>/upload/... (the first HTTPS listener wins); both clients trust the
  server's self-signed certificate, and nothing else.

A file over the advertised limit is refused by slixmpp itself (FileTooBig,
from the disco form), and a slot request over it by the service with the
XEP's error (§5: not-acceptable, <file-too-large/> with <max-file-size/>).
"""

import asyncio
import hashlib
import io
import logging
import ssl
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

import aiohttp
import pytest
from slixmpp.exceptions import IqError
from slixmpp.plugins.xep_0363 import http_upload as slix_upload

import conftest
from conftest import TIMEOUT, online

logging.getLogger("slixmpp").setLevel(logging.WARNING)

NS = "urn:xmpp:http:upload:0"
SERVICE = "upload.localhost"
# The plugin's default max_file_size (plugins/http_upload/src/lib.rs), which
# the default config keeps.
DEFAULT_MAX = 10 << 20
PLUGINS = ["xep_0030", "xep_0066", "xep_0128", "xep_0363"]
FLOW_TIMEOUT = 60.0


def run(coro):
    asyncio.run(asyncio.wait_for(coro, FLOW_TIMEOUT))


@pytest.fixture(scope="module", params=["http", "https"])
def upload_server(request):
    """The default config, with (https) or without (http) an HTTPS listener."""
    listen = "https = []" if request.param == "http" else ""
    with conftest.running(users=["romeo", "juliet"], listen_toml=listen) as s:
        s.scheme = request.param
        yield s


def tls_context(server) -> ssl.SSLContext:
    """Trusts the server's self-signed certificate and nothing else."""
    return ssl.create_default_context(cafile=server.cert_path)


@pytest.fixture
def aiohttp_trusts_server(upload_server, monkeypatch):
    """slixmpp's upload_file opens `aiohttp.ClientSession()` with the system's
    trust: give its sessions a connector trusting the test server's
    certificate instead (over http there is nothing to trust)."""
    ctx = tls_context(upload_server)
    real = aiohttp.ClientSession

    def session(*args, **kwargs):
        kwargs.setdefault("connector", aiohttp.TCPConnector(ssl=ctx))
        kwargs.setdefault("timeout", aiohttp.ClientTimeout(total=TIMEOUT))
        return real(*args, **kwargs)

    monkeypatch.setattr(slix_upload, "ClientSession", session)


def expected_base(server) -> str:
    """Where the kernel says files are: the first HTTPS listener, else the
    first plain one, both named by the vhost (kernel/src/config/uploads.rs)."""
    if server.scheme == "https":
        return f"https://localhost:{server.https[1]}/upload/"
    return f"http://localhost:{server.http[1]}/upload/"


def fetch(server, url: str):
    """GET `url` (trusting the server's certificate): (status, headers, body)."""
    ctx = tls_context(server) if url.startswith("https:") else None
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT, context=ctx) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def file_bytes(n: int) -> bytes:
    """`n` bytes that are not all alike (every 64 KiB chunk differs)."""
    out, i = bytearray(), 0
    while len(out) < n:
        out += hashlib.sha256(i.to_bytes(8, "big")).digest()
        i += 1
    return bytes(out[:n])


def test_slixmpp_uploads_and_the_other_side_downloads(upload_server, aiohttp_trusts_server):
    server = upload_server
    # Larger than one read chunk of the kernel's GET (64 KiB) and not a
    # multiple of it; a name with a space and a non-ASCII letter.
    data = file_bytes(200_003)
    name = "wax wing é.bin"
    content_type = "application/x-waxwing-test"

    async def main():
        async with online(server, "romeo@localhost/garden", plugins=PLUGINS) as romeo, online(
            server, "juliet@localhost/balcony", plugins=PLUGINS
        ) as juliet:
            upload = romeo.plugin["xep_0363"]
            url = await upload.upload_file(
                name, size=len(data), content_type=content_type, input_file=io.BytesIO(data), timeout=TIMEOUT
            )
            # What slixmpp found by disco: the service, and the limit in its form.
            assert upload.upload_service == SERVICE, upload.upload_service
            assert upload.max_file_size == DEFAULT_MAX, upload.max_file_size
            assert url.startswith(expected_base(server)), (url, expected_base(server))
            path = urllib.parse.urlsplit(url).path
            assert urllib.parse.unquote(path.rsplit("/", 1)[1]) == name, url
            assert "token" not in url, url  # the GET URL is not the PUT URL

            # As clients share a file: the URL as the body and as XEP-0066 OOB.
            msg = romeo.make_message(mto=juliet.boundjid, mbody=url, mtype="chat")
            msg["oob"]["url"] = url
            msg.send()
            got = await juliet.next_message(lambda m: m["oob"]["url"] or m["body"])
            assert got["from"] == romeo.boundjid, got
            assert got["body"] == url and got["oob"]["url"] == url, got

            status, headers, body = await asyncio.to_thread(fetch, server, got["oob"]["url"])
            assert status == 200, (status, body[:200])
            assert len(body) == len(data) and body == data, (len(body), len(data))
            assert headers["Content-Type"] == content_type, dict(headers)
            assert headers["Content-Length"] == str(len(data)), dict(headers)
            disposition = headers["Content-Disposition"] or ""
            assert urllib.parse.quote(name) in disposition, disposition

    run(main())


def test_a_file_over_the_limit_is_refused(upload_server, aiohttp_trusts_server):
    server = upload_server

    async def main():
        async with online(server, "romeo@localhost/limits", plugins=PLUGINS) as romeo:
            upload = romeo.plugin["xep_0363"]
            # slixmpp refuses before asking for a slot, from the service's
            # advertised max-file-size (a file it need not read).
            with pytest.raises(slix_upload.FileTooBig) as too_big:
                await upload.upload_file(
                    "huge.bin", size=DEFAULT_MAX + 1, input_file=io.BytesIO(b""), timeout=TIMEOUT
                )
            assert too_big.value.args == (DEFAULT_MAX + 1, DEFAULT_MAX), too_big.value.args

            # Asked anyway, the service answers with §5's error.
            with pytest.raises(IqError) as refused:
                await upload.request_slot(SERVICE, "huge.bin", DEFAULT_MAX + 1, "application/octet-stream", timeout=TIMEOUT)
            err = refused.value.iq["error"]
            assert err["type"] == "modify" and err["condition"] == "not-acceptable", err
            too_large = err.xml.find(f"{{{NS}}}file-too-large")
            assert too_large is not None, ET.tostring(err.xml)
            assert too_large.findtext(f"{{{NS}}}max-file-size") == str(DEFAULT_MAX), ET.tostring(err.xml)

            # At the limit, a slot is given (the limit is inclusive).
            slot = (await upload.request_slot(SERVICE, "max.bin", DEFAULT_MAX, "application/octet-stream", timeout=TIMEOUT))[
                "http_upload_slot"
            ]
            assert slot["get"]["url"].startswith(expected_base(server)), slot
            assert slot["put"]["url"].startswith(slot["get"]["url"] + "?"), slot

    run(main())

