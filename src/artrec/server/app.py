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

import asyncio
import gc
import logging
import math
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from artrec.errors import ArtrecError, ReadOnlyError, UnknownIdError, short_repr
from artrec.server.auth import AuthError, RateLimitedError
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
        import anyio.to_thread

        # the bigger scoring requests (routes_api.computed) and the plain-def handlers run
        # in at most this many threads
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.request_threads
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
    app.add_middleware(_BodyLimit, max_bytes=settings.max_body_bytes, timeout=settings.body_timeout)
    _document_limits(app, settings)
    return app


def _document_limits(app: FastAPI, settings: Settings) -> None:
    """Write into the OpenAPI schema what comes from the settings: the profile limits, and
    the credentials (a bearer token or the visitor cookie) each guarded route takes."""
    base = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = base()
        components = schema.setdefault("components", {})
        body = components.get("schemas", {}).get("RecommendRequest")
        if body is not None:
            props = body["properties"]
            props["liked_item_ids"]["maxItems"] = settings.max_profile_items
            props["exclude_item_ids"]["maxItems"] = 10 * settings.max_profile_items
        components["securitySchemes"] = {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "The admin token, or an API token (`artrec token`).",
            },
            "visitor": {
                "type": "apiKey",
                "in": "cookie",
                "name": settings.cookie_name,
                "description": "The signed visitor cookie the web pages set; writes also "
                "need the visitor's X-CSRF-Token header.",
            },
        }
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                if path.startswith("/users/"):
                    operation["security"] = [{"bearer": []}, {"visitor": []}]
                elif method == "patch":
                    operation["security"] = [{"bearer": []}]
                elif path == "/me":
                    operation["security"] = [{}, {"bearer": []}, {"visitor": []}]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


#: Seconds a thread may hold the GIL before another that waits for it gets it (Python's
#: default is 0.005). A serving process has its event loop thread, which reads requests
#: and writes responses, beside the request threads that compute the bigger requests; with
#: the default the loop can wait 5 ms for the GIL behind a computing thread. In paired load
#: runs (32 clients, docs/benchmarks.md) 0.5 ms lowered p99 without raising the CPU per
#: request.
GIL_SWITCH_INTERVAL = 0.0005


def serving_process() -> None:
    """Settings of a process that serves the app: the GIL switch interval
    (:data:`GIL_SWITCH_INTERVAL`). Called by :func:`serve` and in every worker process."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)


def freeze_heap() -> None:
    """Take every object alive now out of the cyclic garbage collector's passes.

    Called once a serving process has built its app. The modules, the routes and the loaded
    workspace are about 120,000 container objects that live as long as the process; without
    this, each full collection walks all of them, which took 50-85 ms in a worker under load
    (docs/benchmarks.md), and every request that worker held waited that long. Objects made
    later, by requests, are collected as usual; frozen ones are still freed by reference
    counting.
    """
    gc.collect()
    gc.freeze()


def create_app_from_env() -> FastAPI:
    """The app for uvicorn workers: settings come as JSON in ``$ARTREC_SERVER_SETTINGS``."""
    text = os.environ.get(SETTINGS_ENV)
    if not text:
        raise ArtrecError(f"environment variable {SETTINGS_ENV} is not set")
    serving_process()
    app = create_app(Settings.from_json(text))
    freeze_heap()
    return app


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
    as JSON in :data:`~artrec.server.settings.SETTINGS_ENV` (with the signing secret
    resolved once, so every worker checks the same cookies), and the parent process
    accepts the connections and gives each to the worker with the fewest open ones
    (:mod:`artrec.server.workers`; uvicorn's own workers where descriptors cannot be
    passed).

    Connections: an idle keep-alive connection is closed after
    ``settings.keep_alive_timeout`` seconds, a request whose headers take longer than
    ``settings.header_timeout`` is disconnected (:mod:`artrec.server.protocol`), and a body
    slower than ``settings.body_timeout`` gets 408.
    """
    import dataclasses

    import uvicorn

    serving_process()
    app = create_app(settings)
    freeze_heap()
    if on_ready is not None:
        on_ready(
            f"serving {settings.workspace} on http://{host}:{port}/ (API docs at /docs, "
            f"{workers} worker{'s' if workers > 1 else ''})"
        )
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "timeout_keep_alive": settings.keep_alive_timeout,
        "http": _http_protocol(settings.header_timeout),
    }
    if workers == 1:
        uvicorn.run(app, **options)
        return
    if settings.secret_key is None:
        from artrec.server.auth import load_secret

        secret = load_secret(None, settings.workspace).decode("utf-8", "surrogatepass")
        settings = dataclasses.replace(settings, secret_key=secret)
    os.environ[SETTINGS_ENV] = settings.to_json()
    from artrec.server import workers as balanced

    factory = "artrec.server.app:create_app_from_env"
    if balanced.supported():
        balanced.serve_balanced(factory, options, workers)
        return
    uvicorn.run(factory, factory=True, workers=workers, **options)  # pragma: no cover


def _http_protocol(header_timeout: float) -> Any:
    """uvicorn's ``http`` option: httptools with a header deadline, else uvicorn's choice."""
    try:
        from artrec.server.protocol import protocol_class
    except ImportError:  # httptools missing: uvicorn's h11 protocol, without the deadline
        _log.warning("httptools is not installed: request headers have no deadline")
        return "auto"
    return protocol_class(header_timeout)


# -- errors ---------------------------------------------------------------------------------
def _add_error_handlers(app: FastAPI) -> None:
    async def unknown_id(_request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    async def refused(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AuthError)
        headers = {"WWW-Authenticate": 'Bearer realm="artrec"'} if exc.status == 401 else None
        return JSONResponse({"detail": str(exc)}, status_code=exc.status, headers=headers)

    async def too_many(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RateLimitedError)
        wait = str(max(1, math.ceil(exc.retry_after)))
        return JSONResponse({"detail": str(exc)}, status_code=429, headers={"Retry-After": wait})

    async def read_only(_request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    async def bad_input(_request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    async def invalid(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return JSONResponse({"detail": validation_message(exc)}, status_code=422)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every method of every route on this path, not just one
            headers["Allow"] = ", ".join(allowed_methods(app, request.scope))
        return JSONResponse(
            {"detail": str(exc.detail)}, status_code=exc.status_code, headers=headers
        )

    async def crash(request: Request, exc: Exception) -> JSONResponse:
        _log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal server error"}, status_code=500)

    app.add_exception_handler(UnknownIdError, unknown_id)
    app.add_exception_handler(AuthError, refused)
    app.add_exception_handler(RateLimitedError, too_many)
    app.add_exception_handler(ReadOnlyError, read_only)
    app.add_exception_handler(ArtrecError, bad_input)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, crash)


def allowed_methods(app: FastAPI, scope: Scope) -> list[str]:
    """The methods of every route whose path matches ``scope``'s (for ``Allow``).

    Starlette answers 405 with the methods of the first route whose path matched, but
    ``/items/{id}`` (GET, PATCH) and ``/users/{id}/interactions`` (GET, POST) are two
    routes each.
    """
    from starlette.routing import Match

    from artrec.server import routes_api, routes_ui

    methods: set[str] = set()
    for route in (*app.router.routes, *routes_api.router.routes, *routes_ui.router.routes):
        route_methods = getattr(route, "methods", None)
        if route_methods and route.matches(scope)[0] != Match.NONE:
            methods.update(route_methods)
    return sorted(methods)


def validation_message(exc: RequestValidationError) -> str:
    """One readable line from a request validation error: ``where: what (got value); ...``,
    the values quoted with :func:`~artrec.errors.short_repr` (at most five errors)."""
    parts = []
    errors = exc.errors()
    for err in errors[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body" or len(err["loc"]) == 1)
        text = f"{loc or 'request'}: {err.get('msg', 'invalid')}"
        if "input" in err and err.get("type") != "missing" and not isinstance(err["input"], dict):
            text += f" (got {short_repr(err['input'])})"
        parts.append(text)
    if len(errors) > 5:
        parts.append(f"and {len(errors) - 5} more")
    return "; ".join(parts) or "invalid request"


# -- request size limit ---------------------------------------------------------------------
class _BodyLimit:
    """ASGI middleware: refuse request bodies over ``max_bytes`` with 413, and bodies that
    take longer than ``timeout`` seconds to arrive with 408.

    The declared ``Content-Length`` is checked first; chunked bodies are counted as they
    arrive and buffered (at most ``max_bytes``) before the app sees them.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float = 30.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

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
        deadline = asyncio.get_running_loop().time() + self.timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            try:
                message = await asyncio.wait_for(receive(), timeout=max(left, 0.0))
            except TimeoutError:
                await _too_large(send, f"request body not received within {self.timeout:g} s", 408)
                return
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
