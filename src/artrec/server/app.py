"""The FastAPI app factory and the server runner.

:func:`create_app` builds the shared state (:func:`artrec.server.state.build_state`: the
workspace, the :class:`artrec.server.store.Store` and the :class:`artrec.engine.Engine`) and
wires the API routes, the web UI, the error handlers and the request-size limit. Nothing
happens at import time. :func:`create_app_from_env` is the factory uvicorn's worker
processes call; :func:`serve` runs the app with uvicorn (``artrec serve``).

Inside the server the imports go one way: ``app`` -> ``routes_api`` | ``routes_ui`` ->
``service`` -> ``state`` -> ``store`` | ``schemas`` | ``settings`` (an import-linter contract).
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from artrec.errors import ArtrecError, UnknownIdError
from artrec.server.settings import SETTINGS_ENV, Settings
from artrec.server.state import build_state

_log = logging.getLogger("artrec.server")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_HERE = Path(__file__).resolve().parent


def create_app(settings: Settings) -> FastAPI:
    """Build the artrec web app (REST API, web gallery, OpenAPI docs at ``/docs``).

    Parameters
    ----------
    settings
        Workspace, database and limits.

    Returns
    -------
    FastAPI
        The app; its store is closed when the app shuts down.

    Raises
    ------
    ArtrecError
        When the workspace, its embeddings or the database cannot be used.
    """
    from artrec import __version__
    from artrec.server import docs_assets, routes_api, routes_ui

    state = build_state(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            state.store.close()

    app = FastAPI(
        title="artrec",
        version=__version__,
        summary="Similar artworks and explained recommendations for visual art.",
        lifespan=lifespan,
    )
    app.state.artrec = state
    _add_error_handlers(app)
    app.include_router(routes_api.router)
    app.include_router(routes_ui.router)
    app.mount("/static", StaticFiles(directory=_HERE / "static"), name="static")
    docs_assets.serve_docs_offline(app)
    app.add_middleware(_BodyLimit, max_bytes=settings.max_body_bytes)
    return app


def create_app_from_env() -> FastAPI:
    """The app for uvicorn workers: settings come as JSON in ``$ARTREC_SERVER_SETTINGS``."""
    text = os.environ.get(SETTINGS_ENV)
    if not text:
        raise ArtrecError(f"environment variable {SETTINGS_ENV} is not set")
    return create_app(Settings.from_json(text))


def serve(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    log_level: str = "info",
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the app with uvicorn until it stops.

    The app is built here first, so a bad setup fails at once with a one-line
    :class:`ArtrecError`; then ``on_ready`` receives a line saying where it is served. With
    several ``workers`` each worker process builds its own app from the settings, passed
    as JSON in :data:`~artrec.server.settings.SETTINGS_ENV`.
    """
    import uvicorn

    app = create_app(settings)
    if on_ready is not None:
        on_ready(
            f"serving {settings.workspace} on http://{host}:{port}/ (API docs at /docs, "
            f"{workers} worker{'s' if workers > 1 else ''})"
        )
    if workers == 1:
        uvicorn.run(app, host=host, port=port, log_level=log_level)
        return
    os.environ[SETTINGS_ENV] = settings.to_json()
    uvicorn.run(
        "artrec.server.app:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
    )


# -- errors ---------------------------------------------------------------------------------
def _add_error_handlers(app: FastAPI) -> None:
    async def unknown_id(_request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    async def bad_input(_request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    async def invalid(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return JSONResponse({"detail": validation_message(exc)}, status_code=422)

    async def http_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return JSONResponse(
            {"detail": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers
        )

    async def crash(request: Request, exc: Exception) -> JSONResponse:
        _log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal server error"}, status_code=500)

    app.add_exception_handler(UnknownIdError, unknown_id)
    app.add_exception_handler(ArtrecError, bad_input)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, crash)


def validation_message(exc: RequestValidationError) -> str:
    """One readable line from a request validation error: ``where: what; ...``."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body" or len(err["loc"]) == 1)
        parts.append(f"{loc or 'request'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


# -- request size limit ---------------------------------------------------------------------
class _BodyLimit:
    """ASGI middleware: refuse request bodies over ``max_bytes`` with 413.

    The declared ``Content-Length`` is checked first; chunked bodies are counted as they
    arrive and buffered (at most ``max_bytes``) before the app sees them.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _too_large(send, "invalid Content-Length", 400)
                    return
                if declared > self.max_bytes:
                    await _too_large(send, f"request body over {self.max_bytes} bytes", 413)
                    return
        if scope.get("method") not in ("POST", "PUT", "PATCH", "DELETE"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                await _too_large(send, f"request body over {self.max_bytes} bytes", 413)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        await self.app(
            scope,
            _replay(
                [{"type": "http.request", "body": b"".join(chunks), "more_body": False}], receive
            ),
            send,
        )


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return receive


async def _too_large(send: Send, detail: str, status: int) -> None:
    import json

    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
