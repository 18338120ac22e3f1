"""Download images from http(s) URLs into an on-disk cache.

:func:`fetch_url` is the only network entry point of artrec's image input. Compared with
the notebook's ``get_image`` (which caught the non-existent ``requests.exceptions.timeout``
and kept every image in memory), it:

- allows only ``http`` and ``https`` URLs,
- uses separate connect and read timeouts, plus an overall deadline per attempt,
- retries connection errors, timeouts, HTTP 429 and 5xx a few times with exponential
  backoff (``backoff * 2**attempt`` seconds); other 4xx answers fail at once,
- refuses bodies larger than ``max_bytes`` (by ``Content-Length`` when given, and while
  streaming otherwise),
- writes to ``<cache_dir>/<sha256(url)>`` through a temporary file renamed into place, so
  a crash never leaves a partial file that would later be mistaken for the image,
- returns the cached file without any request when it is already there.

Failures raise :class:`FetchError`, a :class:`~artrec.images.reader.BadImageError`, so the
extraction runner lists an unreachable URL as a bad item like an unreadable file.
``requests`` is imported inside the function (it belongs to the ``io`` extra).
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from artrec.errors import MissingDependencyError
from artrec.images.reader import BadImageError

_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class FetchError(BadImageError):
    """A URL could not be downloaded (bad scheme, HTTP error, timeout, too large)."""


@dataclass(frozen=True)
class FetchOptions:
    """How :func:`fetch_url` talks to servers.

    Parameters
    ----------
    connect_timeout
        Seconds to wait for the TCP/TLS connection.
    read_timeout
        Seconds to wait for each chunk of the response.
    deadline
        Seconds an attempt may take in all (guards against a trickling server).
    retries
        Extra attempts after the first, for retryable failures.
    backoff
        Base of the exponential backoff between attempts, in seconds.
    max_bytes
        Largest accepted body.
    user_agent
        ``User-Agent`` header sent with each request.
    """

    connect_timeout: float = 5.0
    read_timeout: float = 20.0
    deadline: float = 60.0
    retries: int = 3
    backoff: float = 0.5
    max_bytes: int = 50 * 1024 * 1024
    user_agent: str = "artrec (+https://github.com/artrec)"


def is_url(source: object) -> bool:
    """Whether ``source`` is a string that looks like a URL (has a ``scheme://`` prefix)."""
    return isinstance(source, str) and "://" in source[:16]


def cache_path(url: str, cache_dir: str | Path) -> Path:
    """Where :func:`fetch_url` caches ``url``: ``<cache_dir>/<sha256(url) hex>``."""
    return Path(cache_dir) / hashlib.sha256(url.encode("utf-8")).hexdigest()


def fetch_url(
    url: str,
    cache_dir: str | Path,
    options: FetchOptions | None = None,
    *,
    session: Any = None,
) -> Path:
    """Download ``url`` into the cache (once) and return the local file path.

    Parameters
    ----------
    url
        An ``http://`` or ``https://`` URL.
    cache_dir
        Cache directory (for a workspace: ``workspace.images_dir``); created if missing.
    options
        Timeouts, retries and size limit (defaults: :class:`FetchOptions`).
    session
        Optional ``requests.Session`` to reuse connections across calls.

    Returns
    -------
    pathlib.Path
        The cached file.

    Raises
    ------
    FetchError
        Naming the URL and the reason (``"unsupported URL"``, ``"HTTP 404"``, ``"timeout"``,
        ``"too large"``, ``"connection failed"``).
    """
    opts = options or FetchOptions()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise FetchError(url, "unsupported URL", "only http and https URLs are fetched")
    target = cache_path(url, cache_dir)
    if target.is_file():
        return target
    try:
        import requests
    except ImportError:  # pragma: no cover - requests is in the io extra
        raise MissingDependencyError(
            "fetching image URLs needs requests: pip install 'artrec[io]'"
        ) from None
    target.parent.mkdir(parents=True, exist_ok=True)
    http = session or requests
    last: FetchError | None = None
    for attempt in range(opts.retries + 1):
        if attempt:
            time.sleep(opts.backoff * 2 ** (attempt - 1))
        try:
            _download_once(http, url, target, opts)
            return target
        except _Retryable as exc:
            last = FetchError(url, exc.reason, exc.detail)
        except requests.exceptions.Timeout as exc:
            last = FetchError(url, "timeout", str(exc))
        except requests.exceptions.ConnectionError as exc:
            # a read timeout while streaming the body surfaces as a ConnectionError
            reason = "timeout" if "timed out" in str(exc).lower() else "connection failed"
            last = FetchError(url, reason, str(exc))
        except requests.exceptions.RequestException as exc:
            raise FetchError(url, "request failed", str(exc)) from None
    assert last is not None  # the loop ran at least once
    raise last


class _Retryable(Exception):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def _download_once(http: Any, url: str, target: Path, opts: FetchOptions) -> None:
    started = time.monotonic()
    headers = {"User-Agent": opts.user_agent}
    with http.get(
        url, stream=True, timeout=(opts.connect_timeout, opts.read_timeout), headers=headers
    ) as resp:
        if resp.status_code in _RETRY_STATUS:
            raise _Retryable(f"HTTP {resp.status_code}", str(resp.reason or ""))
        if resp.status_code != 200:
            raise FetchError(url, f"HTTP {resp.status_code}", str(resp.reason or ""))
        declared = resp.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > opts.max_bytes:
            raise FetchError(
                url, "too large", f"Content-Length {declared} > {opts.max_bytes} bytes"
            )
        tmp = target.with_name(f".{target.name}.part-{os.getpid()}-{time.monotonic_ns()}")
        try:
            size = 0
            with open(tmp, "wb") as f:
                for chunk in resp.iter_content(chunk_size=64 * 1024):
                    size += len(chunk)
                    if size > opts.max_bytes:
                        raise FetchError(url, "too large", f"body exceeds {opts.max_bytes} bytes")
                    if time.monotonic() - started > opts.deadline:
                        raise _Retryable("timeout", f"download took over {opts.deadline} s")
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
            if size == 0:
                raise FetchError(url, "zero-byte file", "empty response body")
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                tmp.unlink()
