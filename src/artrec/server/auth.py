"""Who is asking: visitor cookies, bearer tokens, the admin token, CSRF tokens, write limits.

The mechanics of the server's identity model, free of FastAPI state (the request-level
checks that use them are in :mod:`artrec.server.access`):

* **Visitors.** A web visitor is a random user id (uuid4) carried in a signed cookie
  (HttpOnly, SameSite=Lax): ``<uid>.<signature>``. Without the server's secret nobody can
  make a cookie that names another visitor.
* **API tokens.** ``issue_token(secret, subject, scopes, ttl)`` makes a signed, expiring
  bearer token for one user id (or ``"*"``, any user: a gallery back end acting for its
  logged-in users) with scopes among :data:`SCOPES`.
* **The admin token.** A shared secret from the settings or ``$ARTREC_ADMIN_TOKEN``, sent
  as ``Authorization: Bearer <token>``, compared in constant time.
* **CSRF.** A cookie-authenticated write must carry the visitor's CSRF token (an HMAC of
  the visitor id, a synchroniser token the page hands to its script) in the
  ``X-CSRF-Token`` header; a browser sends neither the header nor a JSON body across
  sites without a CORS preflight, which the server never grants.
* **Write limits.** :class:`WriteLimiter`: a token bucket per identity, in memory.

Signing uses :mod:`itsdangerous` (HMAC-SHA256, timestamped tokens), a small, well-kept
library made for exactly this, rather than hand-written encoding and comparison.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from artrec.errors import ArtrecError, DataError, short_repr
from artrec.limits import MAX_ID_LENGTH

#: Environment variable holding the signing secret (else the workspace's secret file).
SECRET_ENV = "ARTREC_SECRET_KEY"
#: Environment variable holding the admin token.
ADMIN_TOKEN_ENV = "ARTREC_ADMIN_TOKEN"
#: File in the workspace that keeps a generated secret across restarts (mode 0600).
SECRET_FILE = "server-secret"
#: Shortest secret or admin token accepted, in characters.
MIN_SECRET_LENGTH = 16
#: What a token may be allowed to do.
SCOPES: tuple[str, ...] = ("read", "write", "admin")
#: Subject of a token that may act for any user.
ANY_USER = "*"
#: Header that carries the CSRF token of a cookie-authenticated write.
CSRF_HEADER = "X-CSRF-Token"
#: Longest lifetime of an API token (seconds): one year.
MAX_TOKEN_TTL = 366 * 24 * 3600

_DIGEST = hashlib.sha256


def _signer(secret: bytes, salt: str) -> Any:
    from itsdangerous import Signer

    return Signer(secret, salt=salt, digest_method=_DIGEST)


def _serializer(secret: bytes) -> Any:
    from itsdangerous import URLSafeTimedSerializer

    return URLSafeTimedSerializer(
        secret, salt="artrec.api-token", signer_kwargs={"digest_method": _DIGEST}
    )


# -- the secret ---------------------------------------------------------------------------------
def load_secret(configured: str | None, workspace_root: Path, *, create: bool = True) -> bytes:
    """The signing secret: ``configured``, else ``$ARTREC_SECRET_KEY``, else the workspace's
    ``server-secret`` file (generated with 256 random bits on first use when ``create``).

    A workspace that cannot be written and has no secret file gets a secret for this
    process only (visitor cookies then last until the server restarts).

    Raises :class:`ArtrecError` for a secret shorter than :data:`MIN_SECRET_LENGTH`.
    """
    for source, value in (("secret_key", configured), (SECRET_ENV, os.environ.get(SECRET_ENV))):
        if value:
            if len(value) < MIN_SECRET_LENGTH:
                raise ArtrecError(f"{source} must be at least {MIN_SECRET_LENGTH} characters long")
            return value.encode("utf-8", "surrogatepass")
    path = Path(workspace_root) / SECRET_FILE
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        text = ""
    except (OSError, UnicodeError) as exc:
        raise ArtrecError(f"cannot read the server secret {path}: {exc}") from None
    if len(text) >= MIN_SECRET_LENGTH:
        return text.encode("ascii")
    if text:
        raise ArtrecError(f"the server secret {path} is too short; delete it to make a new one")
    generated = secrets.token_urlsafe(32)
    if not create:
        return generated.encode("ascii")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another worker made it meanwhile
        return load_secret(None, workspace_root, create=False)
    except OSError:  # a read-only workspace: a secret for this process only
        return generated.encode("ascii")
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(generated + "\n")
    return generated.encode("ascii")


def admin_token(configured: str | None) -> str | None:
    """The admin token: ``configured``, else ``$ARTREC_ADMIN_TOKEN``, else ``None`` (no admin).

    Raises :class:`ArtrecError` for one shorter than :data:`MIN_SECRET_LENGTH`.
    """
    token = configured or os.environ.get(ADMIN_TOKEN_ENV) or None
    if token is not None and len(token) < MIN_SECRET_LENGTH:
        raise ArtrecError(f"the admin token must be at least {MIN_SECRET_LENGTH} characters long")
    return token


# -- identities ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Identity:
    """Who sent a request.

    Attributes
    ----------
    kind
        ``"anonymous"``, ``"visitor"`` (signed cookie), ``"token"`` (API token) or
        ``"admin"`` (the admin token, or a token with the ``admin`` scope).
    subject
        The user id it acts as; :data:`ANY_USER` for a token of any user; ``None`` for
        the anonymous and the admin.
    scopes
        What it may do (:data:`SCOPES`).
    """

    kind: Literal["anonymous", "visitor", "token", "admin"]
    subject: str | None = None
    scopes: frozenset[str] = frozenset()

    @property
    def via_cookie(self) -> bool:
        """Whether a browser sent it by itself (then writes need a CSRF token)."""
        return self.kind == "visitor"

    @property
    def is_admin(self) -> bool:
        """Whether it may do everything."""
        return "admin" in self.scopes

    def may(self, scope: str, user_id: str) -> bool:
        """Whether it may ``scope`` (read or write) the data of ``user_id``."""
        if self.is_admin:
            return True
        if scope not in self.scopes:
            return False
        return self.subject == ANY_USER or self.subject == user_id

    @property
    def key(self) -> str:
        """What the write limit counts by."""
        return f"{self.kind}:{self.subject}"


ANONYMOUS = Identity("anonymous")
ADMIN = Identity("admin", None, frozenset(SCOPES))


class AuthError(ArtrecError):
    """A request without the identity, scope or CSRF token its route needs.

    ``status`` is 401 (no or bad credentials) or 403 (not allowed).
    """

    def __init__(self, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.status = status


class RateLimitedError(ArtrecError):
    """Too many writes by one identity; ``retry_after`` seconds until the next is allowed."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Auth:
    """Signs and checks visitor cookies, API tokens and CSRF tokens; knows the admin token.

    Parameters
    ----------
    secret
        The signing secret (see :func:`load_secret`).
    admin
        The admin token, or ``None`` when the server has no admin.
    """

    def __init__(self, secret: bytes, admin: str | None = None) -> None:
        self._visitors = _signer(secret, "artrec.visitor")
        self._csrf = _signer(secret, "artrec.csrf")
        self._tokens = _serializer(secret)
        self._admin = None if admin is None else admin.encode("utf-8", "surrogatepass")

    # -- visitors ---------------------------------------------------------------------------
    @staticmethod
    def new_visitor_id() -> str:
        """A fresh random visitor id (uuid4)."""
        import uuid

        return str(uuid.uuid4())

    def visitor_cookie(self, user_id: str) -> str:
        """The signed cookie value that names visitor ``user_id``."""
        return str(self._visitors.sign(user_id).decode("ascii"))

    def visitor_from_cookie(self, value: str | None) -> str | None:
        """The visitor id a cookie value names, or ``None`` when it is missing or forged."""
        if not value or len(value) > 200 or not value.isascii():
            return None
        from itsdangerous import BadSignature

        try:
            user_id = self._visitors.unsign(value.encode("ascii")).decode("ascii")
        except (BadSignature, UnicodeError, ValueError):
            return None
        return user_id or None

    def csrf_token(self, user_id: str) -> str:
        """The CSRF token of visitor ``user_id`` (the page hands it to its script)."""
        return str(self._csrf.get_signature(user_id).decode("ascii"))

    def csrf_ok(self, user_id: str, token: str | None) -> bool:
        """Whether ``token`` is visitor ``user_id``'s CSRF token (constant-time)."""
        if not token or not token.isascii():
            return False
        return hmac.compare_digest(token.encode("ascii"), self.csrf_token(user_id).encode("ascii"))

    # -- bearer tokens ----------------------------------------------------------------------
    def issue_token(self, subject: str, scopes: Iterable[str], ttl: float) -> str:
        """A signed API token acting as ``subject`` with ``scopes``, valid ``ttl`` seconds."""
        subject, scope_list, ttl = check_token_request(subject, scopes, ttl)
        return str(self._tokens.dumps({"sub": subject, "scp": scope_list, "ttl": ttl}))

    def identify_bearer(self, token: str) -> Identity:
        """The identity of a bearer token; :class:`AuthError` (401) when it is not valid."""
        if self._admin is not None and hmac.compare_digest(
            token.encode("utf-8", "surrogatepass"), self._admin
        ):
            return ADMIN
        from itsdangerous import BadSignature

        try:
            payload, signed_at = self._tokens.loads(token, return_timestamp=True)
        except (BadSignature, UnicodeError, ValueError, TypeError):
            raise AuthError("invalid bearer token", 401) from None
        try:
            subject, scopes, ttl = check_token_request(
                payload.get("sub"), payload.get("scp"), payload.get("ttl")
            )
        except (ArtrecError, AttributeError):
            raise AuthError("invalid bearer token", 401) from None
        if time.time() - signed_at.timestamp() > ttl:
            raise AuthError("expired bearer token", 401)
        if "admin" in scopes:
            return Identity("admin", subject, frozenset(SCOPES))
        return Identity("token", subject, frozenset(scopes))


def check_token_request(subject: Any, scopes: Any, ttl: Any) -> tuple[str, list[str], int]:
    """Validate what a token names: a user id or ``"*"``, known scopes, a lifetime."""
    if not isinstance(subject, str) or not subject or len(subject) > MAX_ID_LENGTH:
        raise DataError(f"a token's user must be 1 to {MAX_ID_LENGTH} characters, or '*'")
    if not subject.isprintable():
        raise DataError(f"a token's user must be printable, got {short_repr(subject)}")
    if isinstance(scopes, str) or not isinstance(scopes, (list, tuple, set, frozenset)):
        raise DataError("a token's scopes must be a list")
    scope_list = sorted(set(scopes))
    bad = [s for s in scope_list if s not in SCOPES]
    if bad or not scope_list:
        raise DataError(
            f"unknown token scope {short_repr(bad[0] if bad else '')}; choose from {', '.join(SCOPES)}"
        )
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not math.isfinite(ttl):
        raise DataError("a token's lifetime must be a number of seconds")
    if not 1 <= ttl <= MAX_TOKEN_TTL:
        raise DataError(f"a token's lifetime must be 1 to {MAX_TOKEN_TTL:,} seconds")
    return subject, scope_list, int(ttl)


# -- write limits -------------------------------------------------------------------------------
class WriteLimiter:
    """A token bucket per identity: ``per_minute`` writes a minute, bursts up to that many.

    In memory, per server process (with several workers each counts on its own). At most
    ``max_keys`` identities are tracked; the least recently seen are forgotten first.

    Parameters
    ----------
    per_minute
        Writes an identity may make per minute; ``0`` means no limit.
    max_keys
        Identities tracked at once.
    """

    def __init__(self, per_minute: int, max_keys: int = 100_000) -> None:
        self.per_minute = per_minute
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def acquire(self, key: str, now: float | None = None) -> float:
        """Take one write for ``key``: ``0.0`` when allowed, else the seconds to wait."""
        if self.per_minute <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        rate = self.per_minute / 60.0
        capacity = float(self.per_minute)
        with self._lock:
            tokens, last = self._buckets.pop(key, (capacity, now))
            tokens = min(capacity, tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                wait = 0.0
            else:
                self._buckets[key] = (tokens, now)
                wait = (1.0 - tokens) / rate
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        return wait
