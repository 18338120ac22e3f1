"""URL fetching against real local HTTP(S) servers on 127.0.0.1 (no outside network).

The servers listen on loopback, which the fetcher refuses by default; the tests that must
reach them pass ``allow_private=True``, and the refusal tests prove that without it every
spelling of the address is refused before any request is sent.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest

from artrec.images.fetch import (
    FetchError,
    FetchOptions,
    address_category,
    cache_path,
    check_url,
    fetch_url,
)

PAYLOAD = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40  # 10 KiB that starts like a JPEG


class _Handler(BaseHTTPRequestHandler):
    hits: ClassVar[Counter[str]] = Counter()
    hosts: ClassVar[list[str]] = []
    flaky_left = 0

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        type(self).hits[path] += 1
        type(self).hosts.append(self.headers.get("Host", ""))
        if path == "/ok.jpg":
            self._send(200, PAYLOAD)
        elif path == "/slow.jpg":
            time.sleep(1.5)
            self._send(200, PAYLOAD)
        elif path == "/missing.jpg":
            self._send(404, b"not found")
        elif path == "/big.jpg":
            self._send(200, b"x" * 5000)
        elif path == "/big-unsized.jpg":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"x" * 5000)
        elif path == "/flaky.jpg":
            if type(self).flaky_left > 0:
                type(self).flaky_left -= 1
                self._send(503, b"busy")
            else:
                self._send(200, PAYLOAD)
        elif path == "/trickle.jpg":  # a whole header, then one byte a second
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self._trickle(b"x" * 30)
        elif path == "/trickle-headers.jpg":  # even the status line comes a byte a second
            self.close_connection = True
            self._trickle(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc")
        elif path == "/short.jpg":  # announces 1000 bytes, sends 500, hangs up
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(PAYLOAD[:500])
            self.close_connection = True
        elif path == "/redirect":
            target = parse_qs(urlsplit(self.path).query)["to"][0]
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path == "/loop":
            self.send_response(301)
            self.send_header("Location", "/loop")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path == "/host":
            self._send(200, self.headers.get("Host", "").encode())
        else:
            self._send(404, b"?")

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _trickle(self, data: bytes) -> None:
        for i in range(len(data)):
            self.wfile.write(data[i : i + 1])
            self.wfile.flush()
            time.sleep(1.0)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients that give up (timeouts, size limits) break the pipe on purpose


def _serve(context: ssl.SSLContext | None = None) -> Iterator[int]:
    httpd = _QuietServer(("127.0.0.1", 0), _Handler)
    if context is not None:
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(httpd.server_address[1])
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    yield from _serve()


@pytest.fixture(scope="module")
def server(port: int) -> str:
    return f"http://127.0.0.1:{port}"


FAST = FetchOptions(
    connect_timeout=2.0,
    read_timeout=0.3,
    retries=1,
    backoff=0.01,
    max_bytes=4096 * 4,
    allow_private=True,
)


def test_download_then_cache_hit_makes_no_second_request(server: str, tmp_path: Path) -> None:
    url = f"{server}/ok.jpg"
    before = _Handler.hits["/ok.jpg"]
    path = fetch_url(url, tmp_path, FAST)
    assert path == cache_path(url, tmp_path)
    assert path.read_bytes() == PAYLOAD
    assert _Handler.hits["/ok.jpg"] == before + 1
    again = fetch_url(url, tmp_path, FAST)
    assert again == path
    assert _Handler.hits["/ok.jpg"] == before + 1  # served from the cache
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary leftovers


def test_slow_server_times_out_after_retries(server: str, tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(FetchError) as info:
        fetch_url(f"{server}/slow.jpg", tmp_path, FAST)
    assert info.value.reason == "timeout"
    assert time.monotonic() - started < 1.5 * 2  # two attempts of ~0.3 s, not two full sleeps
    assert _Handler.hits["/slow.jpg"] == 2  # first try + one retry
    assert not list(tmp_path.iterdir())


def test_404_fails_at_once_without_retry(server: str, tmp_path: Path) -> None:
    with pytest.raises(FetchError) as info:
        fetch_url(f"{server}/missing.jpg", tmp_path, FAST)
    assert info.value.reason == "HTTP 404"
    assert _Handler.hits["/missing.jpg"] == 1
    assert "missing.jpg" in str(info.value)


def test_oversize_body_is_refused(server: str, tmp_path: Path) -> None:
    small = FetchOptions(read_timeout=2.0, retries=0, max_bytes=1000, allow_private=True)
    with pytest.raises(FetchError) as info:
        fetch_url(f"{server}/big.jpg", tmp_path, small)  # by Content-Length
    assert info.value.reason == "too large"
    with pytest.raises(FetchError) as info:
        fetch_url(f"{server}/big-unsized.jpg", tmp_path, small)  # while streaming
    assert info.value.reason == "too large"
    assert not list(tmp_path.iterdir())  # nothing partial left in the cache


def test_retry_with_backoff_recovers_from_503(server: str, tmp_path: Path) -> None:
    _Handler.flaky_left = 2
    opts = FetchOptions(read_timeout=2.0, retries=3, backoff=0.05, allow_private=True)
    path = fetch_url(f"{server}/flaky.jpg", tmp_path, opts)
    assert path.read_bytes() == PAYLOAD
    assert _Handler.hits["/flaky.jpg"] == 3


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.org/a.jpg",
        "javascript:alert(1)",
        "http://",
        "http://user:secret@example.org/a.jpg",  # credentials are never sent
        "http://example.org:99999/a.jpg",
        "http://example.org/\r\nX-Injected: 1",
        "http://example.org/\x00.jpg",
        "http://example.org/" + "a" * 9000,
    ],
)
def test_only_plain_http_and_https(url: str, tmp_path: Path) -> None:
    with pytest.raises(FetchError) as info:
        fetch_url(url, tmp_path)
    assert info.value.reason == "unsupported URL"
    assert len(str(info.value)) < 400  # one bounded line, even for a 9,000-character URL
    assert not list(tmp_path.iterdir())


def test_connection_refused_is_a_fetch_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # find a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(FetchError) as info:
        fetch_url(f"http://127.0.0.1:{port}/a.jpg", tmp_path, FAST)
    assert info.value.reason == "connection failed"


# -- the address policy ----------------------------------------------------------------------

#: Spellings of this machine that an HTTP client or the OS resolver accepts.
LOOPBACK_SPELLINGS = [
    "127.0.0.1",
    "localhost",
    "LocalHost",
    "127.1",  # short form: 127.0.0.1
    "127.0.1",
    "2130706433",  # decimal
    "0x7f000001",  # hex
    "0x7F.0.0.1",
    "0x7f.1",
    "0177.0.0.1",  # octal
    "017700000001",
    "0",  # 0.0.0.0 reaches this machine on Linux
    "0.0.0.0",
    "[::1]",
    "[0:0:0:0:0:0:0:1]",
    "[::]",
    "[::ffff:127.0.0.1]",  # IPv4-mapped IPv6
    "[::ffff:7f00:1]",
    "[0:0:0:0:0:ffff:7f00:1]",
    "[::127.0.0.1]",  # IPv4-compatible IPv6
]


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_every_spelling_of_loopback_is_refused(host: str, port: int, tmp_path: Path) -> None:
    before = sum(_Handler.hits.values())
    url = f"http://{host}:{port}/ok.jpg"
    with pytest.raises(FetchError) as info:
        fetch_url(url, tmp_path, FetchOptions(retries=0))
    assert info.value.reason == "refused address", info.value
    assert sum(_Handler.hits.values()) == before  # no request was sent
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "host", ["localhost", "127.1", "2130706433", "0x7f000001", "0177.0.0.1", "0x7f.1"]
)
def test_the_spellings_do_reach_this_machine_when_private_hosts_are_allowed(
    host: str, port: int, tmp_path: Path
) -> None:
    """The refusals above are the policy at work: these spellings really name the server."""
    path = fetch_url(f"http://{host}:{port}/ok.jpg", tmp_path, FAST)
    assert path.read_bytes() == PAYLOAD


@pytest.mark.parametrize("host", ["0.0.0.0", "0", "[::]", "169.254.169.254", "224.0.0.1"])
def test_unspecified_link_local_and_multicast_stay_refused_with_private_allowed(
    host: str, port: int, tmp_path: Path
) -> None:
    with pytest.raises(FetchError) as info:
        fetch_url(f"http://{host}:{port}/ok.jpg", tmp_path, FAST)
    assert info.value.reason == "refused address"


@pytest.mark.parametrize(
    ("address", "category"),
    [
        ("8.8.8.8", None),
        ("1.1.1.1", None),
        ("2606:4700:4700::1111", None),
        ("93.184.215.14", None),
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "private"),  # shared address space (carrier-grade NAT)
        ("fd12:3456::1", "private"),  # unique local
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.1", "reserved"),  # documentation
        ("198.18.0.1", "reserved"),  # benchmarking
        ("2001:db8::1", "reserved"),
        ("fec0::1", "reserved"),  # deprecated site-local
        ("::ffff:127.0.0.1", "loopback"),  # mapped
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:8.8.8.8", None),
        ("::127.0.0.1", "reserved"),  # IPv4-compatible (deprecated, in ::/8)
        ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
        ("64:ff9b::808:808", None),  # NAT64 of 8.8.8.8 (what DNS64 answers on IPv6-only nets)
        ("64:ff9b:1::1", "reserved"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "reserved"),  # Teredo
        ("2001:4:112::1", None),  # AS112 inside 2001::/23, globally reachable
        ("4000::1", "reserved"),  # outside global unicast 2000::/3
        ("192.0.0.8", "reserved"),
        ("192.0.0.9", None),  # PCP anycast, globally reachable
        ("192.88.99.1", "reserved"),  # old 6to4 relays
        ("100.127.255.255", "private"),
        ("100.128.0.0", None),
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("2002:a00:1::", "private"),  # 6to4 of 10.0.0.1
        ("2002:808:808::", None),  # 6to4 of 8.8.8.8
    ],
)
def test_address_categories(address: str, category: str | None) -> None:
    assert address_category(address) == category


def test_a_name_is_refused_when_any_of_its_addresses_is(tmp_path: Path) -> None:
    def resolve(host: str, port: int) -> list[str]:
        return {"mixed.example": ["8.8.8.8", "10.0.0.7"], "public.example": ["8.8.4.4"]}[host]

    with pytest.raises(FetchError, match=r"refused address.*private address 10\.0\.0\.7"):
        check_url("http://mixed.example/a.jpg", resolve=resolve)
    checked = check_url("https://public.example/a b%20c.jpg?x=1", resolve=resolve)
    assert (checked.host, checked.port, checked.addresses) == ("public.example", 443, ("8.8.4.4",))
    assert checked.target == "/a%20b%20c.jpg?x=1"


def test_connects_to_the_checked_address_with_the_original_host_header(
    port: int, tmp_path: Path
) -> None:
    """DNS rebinding: the name is resolved once; a second answer would never be used."""
    calls: list[str] = []

    def resolve(host: str, p: int) -> list[str]:
        calls.append(host)
        if len(calls) > 1:
            return ["10.99.99.99"]  # a rebinding answer: must never be asked for
        return ["127.0.0.1"]

    url = f"http://images.example:{port}/host"
    path = fetch_url(url, tmp_path, FAST, resolve=resolve)
    assert calls == ["images.example"]
    assert path.read_bytes() == f"images.example:{port}".encode()


# -- redirects -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "http://0.0.0.0:{port}/ok.jpg",  # this machine, in the spelling refused even here
        "http://0:{port}/ok.jpg",
        "http://[::]:{port}/ok.jpg",
        "http://169.254.169.254/latest/meta-data/",
        "file:///etc/passwd",
    ],
)
def test_a_redirect_to_a_refused_address_is_not_followed(
    target: str, server: str, port: int, tmp_path: Path
) -> None:
    before = _Handler.hits["/ok.jpg"]
    url = f"{server}/redirect?to={target.format(port=port)}"
    with pytest.raises(FetchError) as info:
        fetch_url(url, tmp_path, FAST)
    assert info.value.reason in ("refused address", "unsupported URL")
    assert "redirected to" in info.value.detail
    assert _Handler.hits["/ok.jpg"] == before
    assert not list(tmp_path.iterdir())


def test_redirects_are_followed_and_counted(server: str, port: int, tmp_path: Path) -> None:
    path = fetch_url(f"{server}/redirect?to=http://127.1:{port}/ok.jpg", tmp_path, FAST)
    assert path.read_bytes() == PAYLOAD
    assert path == cache_path(f"{server}/redirect?to=http://127.1:{port}/ok.jpg", tmp_path)
    before = _Handler.hits["/loop"]
    opts = FetchOptions(retries=0, max_redirects=3, allow_private=True)
    with pytest.raises(FetchError) as info:
        fetch_url(f"{server}/loop", tmp_path, opts)
    assert info.value.reason == "too many redirects"
    assert _Handler.hits["/loop"] == before + 4  # the first request and three redirects


# -- deadline and sizes ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/trickle.jpg", "/trickle-headers.jpg"])
def test_a_trickling_server_is_cut_at_the_deadline(server: str, path: str, tmp_path: Path) -> None:
    opts = FetchOptions(read_timeout=5.0, deadline=2.0, retries=2, backoff=0.1, allow_private=True)
    started = time.monotonic()
    with pytest.raises(FetchError) as info:
        fetch_url(f"{server}{path}", tmp_path, opts)
    took = time.monotonic() - started
    assert info.value.reason == "timeout"
    assert 1.9 < took < 2.6  # cut at the 2 s deadline, not after 30 one-byte reads
    assert not list(tmp_path.iterdir())


def test_a_body_shorter_than_its_content_length_is_refused(server: str, tmp_path: Path) -> None:
    before = _Handler.hits["/short.jpg"]
    opts = FetchOptions(read_timeout=2.0, retries=1, backoff=0.01, allow_private=True)
    with pytest.raises(FetchError) as info:
        fetch_url(f"{server}/short.jpg", tmp_path, opts)
    assert info.value.reason == "short body"
    assert "500 of the 1000" in info.value.detail
    assert _Handler.hits["/short.jpg"] == before + 2  # a cut body is retried once
    assert not list(tmp_path.iterdir())


def test_a_cache_entry_that_is_a_directory_is_an_error(server: str, tmp_path: Path) -> None:
    url = f"{server}/ok.jpg"
    cache_path(url, tmp_path).mkdir()
    before = _Handler.hits["/ok.jpg"]
    with pytest.raises(FetchError) as info:
        fetch_url(url, tmp_path, FAST)
    assert info.value.reason == "bad cache entry"
    assert _Handler.hits["/ok.jpg"] == before


# -- TLS: the checked address, the original name -------------------------------------------


@pytest.fixture(scope="module")
def tls_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=images.example",
            "-addext",
            "subjectAltName=DNS:images.example",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    for p in _serve(context):
        yield p, cert


def test_https_verifies_the_original_name_on_the_checked_address(
    tls_port: tuple[int, Path], tmp_path: Path
) -> None:
    port, cert = tls_port
    opts = FetchOptions(retries=0, allow_private=True, ca_file=str(cert))

    def resolve(host: str, p: int) -> list[str]:
        assert host == "images.example"
        return ["127.0.0.1"]

    path = fetch_url(f"https://images.example:{port}/host", tmp_path, opts, resolve=resolve)
    assert path.read_bytes() == f"images.example:{port}".encode()  # SNI and Host: the name
    with pytest.raises(FetchError) as info:  # same server, same certificate, but by address:
        fetch_url(f"https://127.0.0.1:{port}/ok.jpg", tmp_path, opts)
    assert info.value.reason == "TLS error"  # the certificate does not name 127.0.0.1
    with pytest.raises(FetchError) as info:  # and without the CA the certificate is unknown
        fetch_url(
            f"https://images.example:{port}/ok.jpg",
            tmp_path,
            FetchOptions(retries=0, allow_private=True),
            resolve=resolve,
        )
    assert info.value.reason == "TLS error"
