"""URL fetching against a real local HTTP server on 127.0.0.1 (no outside network)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from artrec.images.fetch import FetchError, FetchOptions, cache_path, fetch_url

pytest.importorskip("requests")

PAYLOAD = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40  # 10 KiB that starts like a JPEG


class _Handler(BaseHTTPRequestHandler):
    hits: ClassVar[Counter[str]] = Counter()
    flaky_left = 0

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        type(self).hits[self.path] += 1
        if self.path == "/ok.jpg":
            self._send(200, PAYLOAD)
        elif self.path == "/slow.jpg":
            time.sleep(1.5)
            self._send(200, PAYLOAD)
        elif self.path == "/missing.jpg":
            self._send(404, b"not found")
        elif self.path == "/big.jpg":
            self._send(200, b"x" * 5000)
        elif self.path == "/big-unsized.jpg":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"x" * 5000)
        elif self.path == "/flaky.jpg":
            if type(self).flaky_left > 0:
                type(self).flaky_left -= 1
                self._send(503, b"busy")
            else:
                self._send(200, PAYLOAD)
        else:
            self._send(404, b"?")

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients that give up (timeouts, size limits) break the pipe on purpose


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = _QuietServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


FAST = FetchOptions(
    connect_timeout=2.0, read_timeout=0.3, retries=1, backoff=0.01, max_bytes=4096 * 4
)


def test_download_then_cache_hit_makes_no_second_request(server: str, tmp_path: Path) -> None:
    url = f"{server}/ok.jpg"
    before = _Handler.hits[url.removeprefix(server)]
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
    small = FetchOptions(read_timeout=2.0, retries=0, max_bytes=1000)
    with pytest.raises(FetchError) as info:
        fetch_url(f"{server}/big.jpg", tmp_path, small)  # by Content-Length
    assert info.value.reason == "too large"
    with pytest.raises(FetchError) as info:
        fetch_url(f"{server}/big-unsized.jpg", tmp_path, small)  # while streaming
    assert info.value.reason == "too large"
    assert not list(tmp_path.iterdir())  # nothing partial left in the cache


def test_retry_with_backoff_recovers_from_503(server: str, tmp_path: Path) -> None:
    _Handler.flaky_left = 2
    opts = FetchOptions(read_timeout=2.0, retries=3, backoff=0.05)
    path = fetch_url(f"{server}/flaky.jpg", tmp_path, opts)
    assert path.read_bytes() == PAYLOAD
    assert _Handler.hits["/flaky.jpg"] == 3


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.org/a.jpg", "javascript:alert(1)", "http://"]
)
def test_only_http_and_https(url: str, tmp_path: Path) -> None:
    with pytest.raises(FetchError) as info:
        fetch_url(url, tmp_path)
    assert info.value.reason == "unsupported URL"


def test_connection_refused_is_a_fetch_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # find a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(FetchError) as info:
        fetch_url(f"http://127.0.0.1:{port}/a.jpg", tmp_path, FAST)
    assert info.value.reason == "connection failed"
