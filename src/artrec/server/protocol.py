"""uvicorn's HTTP protocol with a deadline for each request's headers.

uvicorn closes a keep-alive connection that stays idle for ``timeout_keep_alive`` seconds,
but arms that timer only after a response, and disarms it on any byte received: a client
that opens a connection and sends nothing, or sends its headers a byte at a time, holds
the connection (and its memory) for as long as it likes. :class:`HeaderTimeoutProtocol`
gives every request ``header_timeout`` seconds, counted from the moment the connection
opened or the previous response ended, to complete its headers, and closes the
connection otherwise. A slow body is the app's to bound (``Settings.body_timeout``, see
:mod:`artrec.server.app`).

Built on the httptools protocol (the ``web`` extra installs httptools); uvicorn's own
pure-Python protocol is used, without this deadline, where httptools is missing.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` that closes connections slow to send request headers.

    Parameters
    ----------
    *args, **kwargs
        Those of :class:`HttpToolsProtocol`.
    header_timeout
        Seconds a request has to complete its headers.
    """

    def __init__(self, *args: Any, header_timeout: float = 10.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self._header_timer: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        waiting = bool(self.pipeline)  # a pipelined request whose headers already arrived
        super().on_response_complete()
        if not waiting and not self.transport.is_closing():
            self._arm()  # the next request's headers are due within header_timeout

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def protocol_class(header_timeout: float) -> Any:
    """The ``http`` argument for uvicorn: the protocol with ``header_timeout`` bound (a
    :func:`functools.partial`, which pickles for worker processes)."""
    return functools.partial(HeaderTimeoutProtocol, header_timeout=header_timeout)
