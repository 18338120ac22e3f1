"""``artrec serve --workers 2``: the parent gives each connection to the least busy worker.

A real process group on 127.0.0.1 (the parent, two spawned worker processes) serving a
small workspace. Which worker holds a connection is read from the operating system
(``psutil``: each worker's established TCP connections on the port). Bounded: at most 48
connections, a few requests each, and the process group is always killed.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("psutil")

import psutil

from _uvicorn import free_port
from artrec.server import workers as balanced
from server_workspace import build_workspace

pytestmark = pytest.mark.skipif(not balanced.supported(), reason="no descriptor passing")


def _get(conn: http.client.HTTPConnection, path: str = "/health") -> int:
    conn.request("GET", path)
    res = conn.getresponse()
    res.read()
    return res.status


def _workers(proc: subprocess.Popen[bytes]) -> list[Any]:
    """The worker processes (multiprocessing's resource tracker is a child too)."""
    out = []
    for child in psutil.Process(proc.pid).children():
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                out.append(child)
        except psutil.NoSuchProcess:
            continue
    return out


def _held(
    proc: subprocess.Popen[bytes], port: int, *, half_closed: bool = False
) -> dict[int, set[int]]:
    """Worker pid -> client ports of the connections it holds on ``port``: established,
    and with ``half_closed`` also those the client closed and the worker has not yet."""
    states = {psutil.CONN_ESTABLISHED} | ({psutil.CONN_CLOSE_WAIT} if half_closed else set())
    out: dict[int, set[int]] = {}
    for child in _workers(proc):
        conns = child.net_connections(kind="tcp")
        out[child.pid] = {
            c.raddr.port for c in conns if c.status in states and c.laddr.port == port and c.raddr
        }
    return out


@contextlib.contextmanager
def _clients(port: int, n: int) -> Iterator[list[http.client.HTTPConnection]]:
    """``n`` keep-alive clients connecting at once, each answered once; every connection
    in the list (the caller may add more) is closed on exit."""
    conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(n)]
    try:
        for c in conns:
            c.connect()
        for c in conns:
            assert _get(c) == 200
        yield conns
    finally:
        for c in conns:
            c.close()


def _wait(predicate: Any, timeout: float = 20.0, step: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(step)
    raise AssertionError("timed out")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    root = build_workspace(tmp_path / "ws")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "artrec", "serve", "-w", str(root), "--port", str(port),
            "--workers", "2", "--log-level", "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:

        def answers() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"artrec serve exited with {proc.returncode}")
            try:
                return _get(http.client.HTTPConnection("127.0.0.1", port, timeout=2)) == 200
            except OSError:
                return False

        _wait(answers, timeout=120)
        _wait(lambda: len(_workers(proc)) == 2)
        yield proc, port
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def test_connections_are_spread_evenly_and_refilled_where_they_left(
    server: tuple[subprocess.Popen[bytes], int],
) -> None:
    proc, port = server
    with _clients(port, 32) as conns:  # 32 clients at once: each worker gets 16
        held = _held(proc, port)
        assert sorted(len(v) for v in held.values()) == [16, 16]
        # eight clients of one worker leave; the next eight connections, opened as soon as
        # that worker has closed its ends, all go to it
        busy, other = sorted(held)
        leaving = {c.sock.getsockname()[1]: c for c in conns if c.sock is not None}
        gone = set(sorted(held[busy])[:8])
        for client_port in gone:
            leaving[client_port].close()
        _wait(lambda: not gone & _held(proc, port, half_closed=True)[busy], timeout=10, step=0.001)
        fresh = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(8)]
        conns += fresh
        for c in fresh:
            assert _get(c) == 200
        held = _held(proc, port)
        assert len(held[busy]) == 16 and len(held[other]) == 16
        fresh_ports = {c.sock.getsockname()[1] for c in fresh if c.sock is not None}
        assert fresh_ports <= held[busy]
        # every connection keeps being served by its worker
        for c in conns:
            if c.sock is not None:
                assert _get(c, "/items?per_page=2") == 200


def test_a_new_wave_of_connections_right_after_the_last_is_spread_evenly(
    server: tuple[subprocess.Popen[bytes], int],
) -> None:
    """A load generator closes its 32 connections and opens 32 new ones at once: each
    worker gets 16 of the new ones, whichever closed its old ones first."""
    proc, port = server
    for _wave in range(3):
        with _clients(port, 32):
            assert sorted(len(v) for v in _held(proc, port).values()) == [16, 16]
        _wait(lambda: not any(_held(proc, port, half_closed=True).values()), timeout=10, step=0.001)


def test_a_worker_that_dies_is_started_again(server: tuple[subprocess.Popen[bytes], int]) -> None:
    proc, port = server
    first, second = (w.pid for w in _workers(proc))
    os.kill(first, signal.SIGKILL)
    _wait(lambda: {w.pid for w in _workers(proc)} - {first, second} != set())
    assert len(_workers(proc)) == 2
    conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=30) for _ in range(4)]
    try:
        assert all(_get(c) == 200 for c in conns)
    finally:
        for c in conns:
            c.close()


def test_sigterm_stops_the_parent_and_its_workers(
    server: tuple[subprocess.Popen[bytes], int],
) -> None:
    proc, port = server
    children = _workers(proc)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    assert _get(conn) == 200  # an open keep-alive connection does not hold the shutdown
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    _, alive = psutil.wait_procs(children, timeout=30)
    assert not alive
    conn.close()
    with pytest.raises(OSError):
        http.client.HTTPConnection("127.0.0.1", port, timeout=2).connect()
