"""Several server processes behind one port, with every connection given to the least busy.

uvicorn's own ``--workers`` lets every worker process accept from the shared listening
socket, and a worker that wakes up accepts every connection waiting: 32 keep-alive clients
opening their connections together can all land on one worker while the other idles (31
to 1 was observed on a 2-core machine), so half the machine serves every request and the
latency of a run depends on that draw. Here the parent process accepts instead, and passes
each connection (its file descriptor, over a Unix socket) to the worker with the fewest
open connections; ties go round the workers in turn. The worker serves it with uvicorn's
protocol, exactly as if it had accepted it itself. A connection then stays with its worker
for its life (keep-alive), so open connections are balanced rather than requests.

Each worker counts the connections it has closed in a shared counter, updated the moment
each one closes (in its protocol's ``connection_lost``), so the parent's count of open
connections per worker follows clients that leave, even when new clients arrive the next
millisecond (a load generator closing one wave of connections and opening the next: with
counts refreshed only every 50 ms, one worker could look empty and take 24 of 32 new
connections). A worker that dies is started again; the connections it held are lost, as
with any worker. SIGINT or SIGTERM stops the parent from accepting, then the workers shut
down gracefully (uvicorn's shutdown) and the parent waits for them.

Passing descriptors needs :func:`socket.send_fds` (Unix); elsewhere
:func:`artrec.server.app.serve` falls back to uvicorn's workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import multiprocessing
import os
import selectors
import signal
import socket
import sys
import time
from collections.abc import Sequence
from types import FrameType
from typing import Any

import uvicorn

_log = logging.getLogger("uvicorn.error")

#: Seconds the parent waits for the workers to shut down before it kills them.
STOP_TIMEOUT = 30.0
#: Shortest time between two starts of the same worker (a worker that keeps dying).
RESTART_DELAY = 1.0


def supported() -> bool:
    """Whether this platform can pass connections between processes."""
    return hasattr(socket, "send_fds") and hasattr(socket, "AF_UNIX")


class _Worker:
    """The parent's view of one worker: its process, its channel, its connection counts."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.process: Any = None
        self.channel: socket.socket | None = None
        self.given = 0  # connections passed to this process
        self.started_at = 0.0


def serve_balanced(app: str, options: dict[str, Any], workers: int, *, ready: Any = None) -> None:
    """Serve the uvicorn app factory ``app`` with ``workers`` processes until a signal.

    Parameters
    ----------
    app
        Import string of the app factory (``"module:function"``), called in every worker.
    options
        uvicorn :class:`~uvicorn.Config` options (``host``, ``port``, ``log_level``,
        ``timeout_keep_alive``, ``http``...); they must pickle (workers are spawned).
    workers
        Number of worker processes (>= 1).
    ready
        Called with no argument once the port is bound and the workers are starting.
    """
    config = uvicorn.Config(app, factory=True, **options)
    listener = config.bind_socket()
    listener.listen(config.backlog)
    listener.setblocking(False)
    ctx = multiprocessing.get_context("spawn")
    closed = ctx.Array("q", workers, lock=False)  # per worker: connections it saw close
    pool = [_Worker(i) for i in range(workers)]
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    selector = selectors.DefaultSelector()
    try:
        for worker in pool:
            _start(ctx, worker, app, options, closed)
        _log.info(
            "Started parent process [%d], %d workers, connections balanced", os.getpid(), workers
        )
        if ready is not None:
            ready()
        selector.register(listener, selectors.EVENT_READ)
        turn = itertools.count()
        while not stopping:
            for key, _ in selector.select(timeout=0.2):
                if key.fileobj is listener:
                    _dispatch(listener, pool, closed, next(turn))
            for worker in pool:
                if not stopping and not worker.process.is_alive():
                    _log.warning(
                        "worker %d (pid %d) exited with code %s; starting it again",
                        worker.index,
                        worker.process.pid,
                        worker.process.exitcode,
                    )
                    wait = RESTART_DELAY - (time.monotonic() - worker.started_at)
                    if wait > 0:
                        time.sleep(wait)
                    _start(ctx, worker, app, options, closed)
    finally:
        selector.close()
        listener.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _stop(pool)


def _start(ctx: Any, worker: _Worker, app: str, options: dict[str, Any], closed: Any) -> None:
    """Start (or restart) ``worker``'s process with a fresh channel."""
    if worker.channel is not None:
        worker.channel.close()
    parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    closed[worker.index] = 0
    worker.given = 0
    worker.channel = parent_end
    worker.started_at = time.monotonic()
    worker.process = ctx.Process(
        target=_worker_main,
        args=(app, options, child_end, worker.index, closed),
        name=f"artrec-worker-{worker.index}",
    )
    worker.process.start()
    child_end.close()


def _dispatch(listener: socket.socket, pool: Sequence[_Worker], closed: Any, turn: int) -> None:
    """Accept every waiting connection and pass each to the least busy worker."""
    while True:
        try:
            conn, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:  # e.g. out of descriptors: leave it queued for now
            _log.warning("accept failed: %s", exc)
            return
        with conn:
            with contextlib.suppress(OSError):
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            n = len(pool)
            order = sorted(
                (pool[(turn + i) % n] for i in range(n)),
                key=lambda w: w.given - closed[w.index],
            )  # fewest open connections first; ties in turn
            for worker in order:
                if worker.channel is None or not worker.process.is_alive():
                    continue
                try:
                    socket.send_fds(worker.channel, [b"c"], [conn.fileno()])
                except OSError:
                    continue  # that worker is gone: try the next
                worker.given += 1
                break
            turn += 1


def _stop(pool: Sequence[_Worker]) -> None:
    """Ask every worker to shut down (SIGTERM), wait, then kill those still running."""
    for worker in pool:
        if worker.process is not None and worker.process.is_alive():
            with contextlib.suppress(OSError):
                os.kill(worker.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for worker in pool:
        if worker.process is None:
            continue
        worker.process.join(max(0.0, deadline - time.monotonic()))
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
        if worker.channel is not None:
            worker.channel.close()
            worker.channel = None


# -- in the worker ------------------------------------------------------------------------------
def _worker_main(
    app: str, options: dict[str, Any], channel: socket.socket, index: int, closed: Any
) -> None:
    """A worker process: uvicorn's server, fed connections through ``channel``."""
    config = uvicorn.Config(app, factory=True, **options)
    server = _FedServer(config, channel, index, closed)
    server.run()
    sys.exit(0 if server.started else 3)


class _FedServer(uvicorn.Server):
    """uvicorn's server with no listening socket of its own: the parent passes it
    connections through ``channel``."""

    def __init__(
        self, config: uvicorn.Config, channel: socket.socket, index: int, closed: Any
    ) -> None:
        super().__init__(config)
        self.channel = channel
        self.index = index
        self.closed = closed
        self.closed_count = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=[])  # the app's lifespan; no listener
        if self.should_exit or not self.started:
            return
        loop = asyncio.get_running_loop()
        config = self.config

        def create_protocol() -> asyncio.Protocol:
            protocol = config.http_protocol_class(  # type: ignore[call-arg]
                config=config,
                server_state=self.server_state,
                app_state=self.lifespan.state,
                _loop=loop,
            )
            lost = protocol.connection_lost

            def connection_lost(exc: Exception | None) -> None:
                try:
                    lost(exc)
                finally:
                    self._closed_one()

            protocol.connection_lost = connection_lost  # type: ignore[method-assign]
            return protocol

        self.channel.setblocking(False)
        loop.add_reader(self.channel.fileno(), self._receive, loop, create_protocol)

    def _closed_one(self) -> None:
        """Count one more closed connection where the parent reads it."""
        self.closed_count += 1
        self.closed[self.index] = self.closed_count

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _receive(self, loop: asyncio.AbstractEventLoop, create_protocol: Any) -> None:
        while True:
            try:
                data, fds, _flags, _addr = socket.recv_fds(self.channel, 16, 16)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data, fds = b"", []
            if not data and not fds:  # the parent is gone: stop as on a signal
                loop.remove_reader(self.channel.fileno())
                self.should_exit = True
                return
            for fd in fds:
                conn = socket.socket(fileno=fd)
                conn.setblocking(False)
                self._spawn(self._serve_connection(loop, create_protocol, conn))

    async def _serve_connection(
        self, loop: asyncio.AbstractEventLoop, create_protocol: Any, conn: socket.socket
    ) -> None:
        made: list[asyncio.Protocol] = []

        def factory() -> asyncio.Protocol:
            made.append(create_protocol())
            return made[-1]

        try:
            await loop.connect_accepted_socket(factory, conn)
        except OSError:  # the client left before it was served
            conn.close()
            if not made:  # else its transport calls connection_lost, which counts it
                self._closed_one()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(self.channel.fileno())
        await super().shutdown(sockets=sockets)
        self.channel.close()
