"""Who may do what: the identity of a request, and the checks routes depend on.

:func:`identity` reads the caller from the request (see :mod:`artrec.server.auth`): an
``Authorization: Bearer`` header (the admin token or an API token), else the signed
visitor cookie, else nobody. Routes declare what they need:

* :func:`reader` / :func:`writer`: ``/users/{user_id}/...`` routes serve only that user
  (the visitor whose cookie names them, or a token for that user or for any user with the
  right scope) and the admin;
* :func:`admin`: stock changes need the admin token (or a token with the ``admin``
  scope).

Writes by a cookie-authenticated visitor must carry the visitor's CSRF token in the
``X-CSRF-Token`` header and must not come from another site (a browser's
``Sec-Fetch-Site`` header; ``Origin`` is not compared, since a proxy may rewrite ``Host``); every write but the admin's counts against the per-identity write
limit (429 with ``Retry-After``). Failures raise :class:`~artrec.server.auth.AuthError`
(401 without credentials, 403 when not allowed) before the body is read.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi import Path as PathParam

from artrec.server.auth import (
    ANONYMOUS,
    CSRF_HEADER,
    AuthError,
    Identity,
    RateLimitedError,
)
from artrec.server.schemas import UserId
from artrec.server.state import ServerState, get_state

State = Annotated[ServerState, Depends(get_state)]
UserIdPath = Annotated[
    UserId, PathParam(description="User id: 1-256 characters, no control characters.")
]

#: ``Sec-Fetch-Site`` values of requests a page of this site made (or the user typed).
_SAME_SITE = frozenset({"same-origin", "none"})


async def identity(request: Request, state: State) -> Identity:
    """The caller of ``request`` (cached on the request).

    ``async`` so that it runs inline, without a thread hand-off.

    Raises
    ------
    AuthError
        401 for an ``Authorization`` header that is not a valid bearer token.
    """
    cached: Identity | None = getattr(request.state, "identity", None)
    if cached is not None:
        return cached
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("the Authorization header must be 'Bearer <token>'", 401)
        found = state.auth.identify_bearer(token.strip())
    else:
        visitor = state.auth.visitor_from_cookie(request.cookies.get(state.settings.cookie_name))
        found = ANONYMOUS if visitor is None else Identity("visitor", visitor, _VISITOR_SCOPES)
    request.state.identity = found
    return found


_VISITOR_SCOPES = frozenset({"read", "write"})

Caller = Annotated[Identity, Depends(identity)]


def _require(scope: str, who: Identity, user_id: str) -> None:
    if who.kind == "anonymous":
        raise AuthError(
            "this route needs a visitor cookie or an 'Authorization: Bearer' token", 401
        )
    if not who.may(scope, user_id):
        raise AuthError(f"not allowed to {scope} the data of another user ({who.kind})")


def check_write(request: Request, state: ServerState, who: Identity) -> None:
    """CSRF for cookie-authenticated writes, then the write limit (not for the admin)."""
    if who.via_cookie:
        site = request.headers.get("sec-fetch-site")
        if site is not None and site not in _SAME_SITE:
            raise AuthError(f"cross-site request refused (Sec-Fetch-Site: {site[:32]})")
        assert who.subject is not None
        if not state.auth.csrf_ok(who.subject, request.headers.get(CSRF_HEADER)):
            raise AuthError(f"missing or wrong {CSRF_HEADER} header")
    if who.is_admin:
        return
    wait = state.writes.acquire(who.key)
    if wait > 0:
        raise RateLimitedError(
            f"too many writes: at most {state.settings.max_writes_per_minute} a minute", wait
        )


async def reader(user_id: UserIdPath, who: Caller) -> Identity:
    """Dependency of routes that read ``user_id``'s data."""
    _require("read", who, user_id)
    return who


async def writer(request: Request, state: State, user_id: UserIdPath, who: Caller) -> Identity:
    """Dependency of routes that change ``user_id``'s data."""
    _require("write", who, user_id)
    check_write(request, state, who)
    return who


async def admin(request: Request, state: State, who: Caller) -> Identity:
    """Dependency of the administrator's routes (stock)."""
    if who.kind == "anonymous":
        raise AuthError("this route needs the admin token ('Authorization: Bearer <token>')", 401)
    if not who.is_admin:
        raise AuthError("this route needs the admin token")
    check_write(request, state, who)
    return who
