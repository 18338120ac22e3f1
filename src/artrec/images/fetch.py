"""Download images from http(s) URLs into an on-disk cache, safely.

:func:`fetch_url` is the only network entry point of artrec's image input. A catalogue's
URLs come from whoever wrote the catalogue, so the fetcher treats them as hostile:

- **Only public addresses.** A URL's host is resolved once (:func:`check_url`) and every
  address it resolves to must be public: loopback, private, shared (CGNAT), link-local,
  multicast, reserved and unspecified addresses are refused, IPv4 and IPv6 (the blocks
  are those of the IANA special-purpose registries; IPv6 outside global unicast is
  refused, and IPv4-mapped ``::ffff:127.0.0.1``, NAT64 and 6to4 addresses are judged by
  the IPv4 address they carry). The check is made on the *resolved* address, so every spelling of
  a host (``localhost``, ``0.0.0.0``, ``0``, ``2130706433``, ``0x7f000001``,
  ``0177.0.0.1``, ``127.1``, ``[::1]``, a DNS name pointing at 10.0.0.1) is refused the
  same way. :attr:`FetchOptions.allow_private` lets loopback and private addresses
  through, for intranet catalogues; the others stay refused.
- **No DNS rebinding.** The TCP connection goes to the address that was checked, never to
  a second resolution of the name; the request still carries the original ``Host``
  header, and TLS uses the original name for SNI and certificate verification.
- **Redirects are re-checked.** Each ``Location`` is resolved and checked like the first
  URL, at most :attr:`FetchOptions.max_redirects` times.
- **A total deadline.** :attr:`FetchOptions.deadline` bounds the whole call (attempts,
  redirects, back-off sleeps): every single read from the socket waits at most until the
  deadline, so a server trickling one byte a second is cut at the deadline, during the
  headers or the body.
- **Sizes.** Bodies larger than :attr:`FetchOptions.max_bytes` are refused (by
  ``Content-Length`` before reading, and while streaming), and a body shorter than its
  ``Content-Length`` is refused, never cached.
- **Retries** for connection errors, timeouts, HTTP 429 and 5xx and cut bodies, with
  exponential back-off (``backoff * 2**attempt`` seconds) inside the deadline; other 4xx
  answers and refused addresses fail at once.
- **Atomic cache.** The body goes to ``<cache_dir>/<sha256(url)>`` through a temporary
  file renamed into place; a cached file is returned without any request; a cache entry
  that is not a regular file (a directory) is an error, not a miss.

Why :mod:`http.client` rather than ``requests``: pinning the connection to the checked
address while keeping the name for ``Host``, SNI and certificate checks, and arming
every socket read with the time left before the deadline, both need control of the
socket. ``requests`` (through urllib3) resolves the name itself when it connects and
reads the body through buffers that may wait for many socket reads, so it can offer
neither without patching its internals; :mod:`http.client` lets a small connection
subclass (:class:`_PinnedHTTPConnection`) do both in a few lines. Environment proxies are
not used (a proxy would resolve the name again).

Name resolution uses the operating system (:func:`socket.getaddrinfo`) in a helper
thread, bounded by ``connect_timeout`` and the time left before the deadline (the
system's own timeouts can be far longer); at most eight lookups run at once.

Failures raise :class:`FetchError`, a :class:`~artrec.images.reader.BadImageError`, so the
extraction runner lists an unreachable or refused URL as a bad item like an unreadable
file.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import ipaddress
import os
import socket
import ssl
import stat
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from artrec.errors import short_repr
from artrec.images.reader import BadImageError

_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
#: Longest URL accepted, in characters.
MAX_URL_LENGTH = 8192
#: Seconds a name lookup may take by default (:func:`check_url`).
DNS_TIMEOUT = 5.0
_CHUNK = 64 * 1024
#: Address categories :attr:`FetchOptions.allow_private` lets through.
_PRIVATE_CATEGORIES = frozenset({"loopback", "private"})


def _nets(*blocks: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(b) for b in blocks)


#: Special-purpose blocks, from the IANA IPv4 and IPv6 Special-Purpose Address Registries
#: (entries not globally reachable) and RFC 4291, checked in this order. Written out here
#: rather than taken from :mod:`ipaddress`'s ``is_*`` flags, whose lists differ between
#: Python releases. Blocks that embed an IPv4 address (IPv4-mapped ``::ffff:0:0/96``,
#: NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``) are judged by that address.
_IPV4_BLOCKS: tuple[tuple[str, tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]], ...] = (
    ("unspecified", _nets("0.0.0.0/8")),
    ("loopback", _nets("127.0.0.0/8")),
    ("link-local", _nets("169.254.0.0/16")),
    ("multicast", _nets("224.0.0.0/4")),
    ("private", _nets("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")),
    (
        "reserved",
        _nets(
            "192.0.0.0/24",  # IETF protocol assignments (but see _IPV4_GLOBAL)
            "192.0.2.0/24",  # documentation
            "192.88.99.0/24",  # deprecated 6to4 relay anycast
            "198.18.0.0/15",  # benchmarking
            "198.51.100.0/24",  # documentation
            "203.0.113.0/24",  # documentation
            "240.0.0.0/4",  # reserved, and 255.255.255.255
        ),
    ),
)
_IPV4_GLOBAL = _nets("192.0.0.9/32", "192.0.0.10/32")
_IPV6_BLOCKS: tuple[tuple[str, tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]], ...] = (
    ("unspecified", _nets("::/128")),
    ("loopback", _nets("::1/128")),
    ("link-local", _nets("fe80::/10")),
    ("multicast", _nets("ff00::/8")),
    ("private", _nets("fc00::/7")),
    (
        "reserved",
        _nets(
            "fec0::/10",  # deprecated site-local
            "64:ff9b:1::/48",  # local-use IPv4/IPv6 translation
            "100::/64",  # discard-only
            "2001::/23",  # IETF protocol assignments, Teredo (but see _IPV6_GLOBAL)
            "2001:db8::/32",  # documentation
            "3fff::/20",  # documentation
            "5f00::/16",  # segment routing
        ),
    ),
)
_IPV6_GLOBAL = _nets(
    "2001:1::1/128",
    "2001:1::2/128",
    "2001:3::/32",
    "2001:4:112::/48",
    "2001:20::/28",
    "2001:30::/28",
)
_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
#: Characters left as they are in a request target (RFC 3986 reserved and unreserved).
_SAFE_PATH = "/%!$&'()*+,;=:@-._~"

Resolver = Callable[[str, int], Sequence[str]]


class FetchError(BadImageError):
    """A URL could not be downloaded (bad scheme, refused address, HTTP error, timeout, size)."""


@dataclass(frozen=True)
class FetchOptions:
    """How :func:`fetch_url` talks to servers.

    Parameters
    ----------
    connect_timeout
        Seconds to wait for the name lookup, for the TCP connection and for the TLS
        handshake (each).
    read_timeout
        Seconds to wait for any single read from the server.
    deadline
        Seconds the whole call may take (attempts, redirects and back-off included).
    retries
        Extra attempts after the first, for retryable failures.
    backoff
        Base of the exponential back-off between attempts, in seconds.
    max_bytes
        Largest accepted body.
    user_agent
        ``User-Agent`` header sent with each request.
    allow_private
        Also fetch from loopback and private addresses (10/8, 172.16/12, 192.168/16,
        100.64/10, fc00::/7, 127/8, ::1), for catalogues served on an intranet.
        Link-local (cloud metadata services live there), multicast, reserved and
        unspecified addresses stay refused.
    max_redirects
        Redirects followed at most (each one is checked like the first URL).
    ca_file
        PEM file of the certificate authorities to trust for https, instead of the
        system's (for an intranet's own CA).
    """

    connect_timeout: float = 5.0
    read_timeout: float = 20.0
    deadline: float = 60.0
    retries: int = 3
    backoff: float = 0.5
    max_bytes: int = 50 * 1024 * 1024
    user_agent: str = "artrec (+https://github.com/artrec)"
    allow_private: bool = False
    max_redirects: int = 5
    ca_file: str | None = None


@dataclass(frozen=True)
class CheckedURL:
    """A URL whose host resolved only to allowed addresses (see :func:`check_url`).

    Attributes
    ----------
    url
        The URL as given.
    scheme
        ``"http"`` or ``"https"``.
    host
        The host name (or address literal) for the ``Host`` header, SNI and certificates.
    port
        The TCP port.
    target
        Path and query to request (percent-encoded, never empty).
    addresses
        The checked addresses, in resolver order; connections go only to these.
    """

    url: str
    scheme: str
    host: str
    port: int
    target: str
    addresses: tuple[str, ...]


def is_url(source: object) -> bool:
    """Whether ``source`` is a string that looks like a URL (has a ``scheme://`` prefix)."""
    return isinstance(source, str) and "://" in source[:16]


def cache_path(url: str, cache_dir: str | Path) -> Path:
    """Where :func:`fetch_url` caches ``url``: ``<cache_dir>/<sha256(url) hex>``."""
    return Path(cache_dir) / hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()


def address_category(address: str) -> str | None:
    """Why an IP address may not be fetched from, or ``None`` for a public address.

    Categories: ``"unspecified"``, ``"loopback"``, ``"multicast"``, ``"link-local"``,
    ``"private"`` (RFC 1918, shared 100.64/10, unique-local fc00::/7) and ``"reserved"``
    (every other special-purpose block, and IPv6 outside global unicast 2000::/3). An IPv6
    address that embeds an IPv4 one (IPv4-mapped, NAT64, 6to4) is judged by that IPv4
    address. Raises :class:`ValueError` for text that is not an IP address.
    """
    ip = ipaddress.ip_address(address)  # an IPv6 zone id (fe80::1%eth0) is understood
    if isinstance(ip, ipaddress.IPv4Address):
        return _block_category(ip, _IPV4_BLOCKS, _IPV4_GLOBAL)
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        return _block_category(embedded, _IPV4_BLOCKS, _IPV4_GLOBAL)
    category = _block_category(ip, _IPV6_BLOCKS, _IPV6_GLOBAL)
    if category is None and ip not in _GLOBAL_UNICAST:
        return "reserved"  # unassigned, or reserved by the IETF (::/8 with IPv4-compatible)
    return category


def _block_category(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
    blocks: tuple[tuple[str, tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]], ...],
    exceptions: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...],
) -> str | None:
    if any(ip in net for net in exceptions):
        return None
    for category, nets in blocks:
        if any(ip in net for net in nets):
            return category
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv4-mapped, NAT64 or 6to4 address stands for."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def check_url(
    url: str,
    *,
    allow_private: bool = False,
    resolve: Resolver | None = None,
    timeout: float = DNS_TIMEOUT,
) -> CheckedURL:
    """Parse ``url``, resolve its host once and check every address it resolves to.

    Parameters
    ----------
    url
        An ``http://`` or ``https://`` URL without credentials.
    allow_private
        As :attr:`FetchOptions.allow_private`.
    resolve
        ``resolve(host, port) -> addresses``; default :func:`socket.getaddrinfo` (TCP).
    timeout
        Seconds the lookup may take (the operating system's resolver has its own, longer
        timeouts; the lookup runs in a helper thread and is abandoned after ``timeout``).

    Returns
    -------
    CheckedURL

    Raises
    ------
    FetchError
        ``"unsupported URL"`` (scheme, syntax, credentials, length), ``"cannot resolve"``,
        or ``"refused address"`` naming the address and its category.
    """
    scheme, host, port, target = _parse(url)
    try:
        addresses = list(_bounded(resolve or _getaddrinfo, host, port, timeout))
    except TimeoutError:
        raise FetchError(
            _name(url), "cannot resolve", f"{short_repr(host)}: no answer within {timeout:.3g} s"
        ) from None
    except (OSError, UnicodeError, ValueError) as exc:
        raise FetchError(_name(url), "cannot resolve", f"{short_repr(host)}: {exc}") from None
    if not addresses:
        raise FetchError(_name(url), "cannot resolve", f"{short_repr(host)}: no address")
    for address in addresses:
        try:
            category = address_category(address)
        except ValueError:
            raise FetchError(
                _name(url), "cannot resolve", f"resolver gave {short_repr(address)}"
            ) from None
        if category is not None and not (allow_private and category in _PRIVATE_CATEGORIES):
            hint = (
                " (allow_private lets intranet hosts through)"
                if category in _PRIVATE_CATEGORIES
                else ""
            )
            raise FetchError(
                _name(url),
                "refused address",
                f"{short_repr(host)} resolves to {category} address {address}{hint}",
            )
    return CheckedURL(url, scheme, host, port, target, tuple(addresses))


def _parse(url: str) -> tuple[str, str, int, str]:
    """Scheme, host, port and request target of an http(s) URL; raises FetchError."""
    if not isinstance(url, str) or len(url) > MAX_URL_LENGTH:
        raise FetchError(
            _name(url),
            "unsupported URL",
            f"expected text of at most {MAX_URL_LENGTH} characters",
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in url):
        raise FetchError(_name(url), "unsupported URL", "holds control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not host:
            raise ValueError("only http and https URLs are fetched")
        if parts.username is not None or parts.password is not None:
            raise ValueError("credentials in URLs are not sent")
        if port == 0:
            raise ValueError("port 0")
        target = quote(parts.path or "/", safe=_SAFE_PATH)
        if parts.query:
            target += "?" + quote(parts.query, safe=_SAFE_PATH + "?")
    except (ValueError, UnicodeError) as exc:
        raise FetchError(_name(url), "unsupported URL", short_repr(str(exc))) from None
    return scheme, host, port if port is not None else (443 if scheme == "https" else 80), target


def _name(url: object) -> str:
    """The URL as it is when short and printable, else a bounded quotation of it."""
    if isinstance(url, str) and len(url) <= 200 and url.isprintable():
        return url
    return short_repr(url, 120)


def _getaddrinfo(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


#: Name lookups running at once; a lookup that finds all slots taken waits its turn
#: within its own timeout. Bounds the threads a resolver that never answers can hold.
_LOOKUP_SLOTS = threading.BoundedSemaphore(8)


def _bounded(resolve: Resolver, host: str, port: int, timeout: float) -> Sequence[str]:
    """``resolve(host, port)``, or :class:`TimeoutError` after ``timeout`` seconds.

    The resolver runs in a daemon thread (a blocking ``getaddrinfo`` cannot be
    interrupted); one that overruns is abandoned and frees its slot when it returns.
    """
    start = time.monotonic()
    if not _LOOKUP_SLOTS.acquire(timeout=max(timeout, 0.0)):
        raise TimeoutError("every lookup slot is busy")
    box: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["value"] = resolve(host, port)
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc
        finally:
            _LOOKUP_SLOTS.release()
            done.set()

    threading.Thread(target=run, name="artrec-resolve", daemon=True).start()
    if not done.wait(max(timeout - (time.monotonic() - start), 0.0)):
        raise TimeoutError(f"no answer within {timeout:.3g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def fetch_url(
    url: str,
    cache_dir: str | Path,
    options: FetchOptions | None = None,
    *,
    resolve: Resolver | None = None,
) -> Path:
    """Download ``url`` into the cache (once) and return the local file path.

    Parameters
    ----------
    url
        An ``http://`` or ``https://`` URL whose host resolves to public addresses (or
        private ones with :attr:`FetchOptions.allow_private`).
    cache_dir
        Cache directory (for a workspace: ``workspace.images_dir``); created if missing.
    options
        Timeouts, deadline, retries, size limit and address policy (defaults:
        :class:`FetchOptions`).
    resolve
        ``resolve(host, port) -> addresses``, called once per URL and redirect; default
        the operating system's resolver (a split-horizon DNS or tests may pass their own).
        Its answers are checked like any other.

    Returns
    -------
    pathlib.Path
        The cached file.

    Raises
    ------
    FetchError
        Naming the URL and the reason: ``"unsupported URL"``, ``"cannot resolve"``,
        ``"refused address"``, ``"too many redirects"``, ``"HTTP 404"``, ``"timeout"``,
        ``"too large"``, ``"short body"``, ``"zero-byte file"``, ``"connection failed"``,
        ``"TLS error"``, ``"bad response"`` or ``"bad cache entry"``.
    """
    opts = options or FetchOptions()
    _parse(url)  # refuse a bad URL before touching the cache
    target = cache_path(url, cache_dir)
    try:
        info = os.stat(target)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise FetchError(
            _name(url), "bad cache entry", f"{target}: {exc.strerror or exc}"
        ) from None
    if info is not None:
        if stat.S_ISREG(info.st_mode):
            return target
        raise FetchError(_name(url), "bad cache entry", f"{target} is not a regular file")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FetchError(
            _name(url), "bad cache entry", f"{target.parent}: {exc.strerror or exc}"
        ) from None
    fetch_to(url, target, opts, resolve=resolve)
    return target


def fetch_to(
    url: str,
    target: str | Path,
    options: FetchOptions | None = None,
    *,
    resolve: Resolver | None = None,
) -> Path:
    """Download ``url`` to the file ``target`` (written through a temporary file renamed
    into place), with every check of :func:`fetch_url` but no cache: the file is
    downloaded again on every call.

    Raises :class:`FetchError` as :func:`fetch_url` does (except ``"bad cache entry"``).
    """
    opts = options or FetchOptions()
    _parse(url)
    target = Path(target)
    deadline = time.monotonic() + opts.deadline
    last: FetchError | None = None
    for attempt in range(opts.retries + 1):
        if attempt:
            pause = opts.backoff * 2 ** (attempt - 1)
            if time.monotonic() + pause >= deadline:
                break
            time.sleep(pause)
        try:
            _download(url, target, opts, deadline, resolve)
            return target
        except _Retryable as exc:
            last = FetchError(_name(url), exc.reason, exc.detail)
        if time.monotonic() >= deadline:
            break
    assert last is not None  # the loop ran at least once
    raise last


class _Retryable(Exception):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def _download(
    url: str, target: Path, opts: FetchOptions, deadline: float, resolve: Resolver | None
) -> None:
    current = url
    for hop in range(opts.max_redirects + 1):
        try:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Retryable("timeout", "the deadline passed before the name was resolved")
            checked = check_url(
                current,
                allow_private=opts.allow_private,
                resolve=resolve,
                timeout=min(opts.connect_timeout, left),
            )
        except FetchError as exc:
            if not hop:
                raise
            where = f"redirected to {short_repr(current)}"
            raise FetchError(_name(url), exc.reason, f"{where}: {exc.detail}") from None
        conn, resp = _request(checked, opts, deadline)
        try:
            if resp.status in _REDIRECT_STATUS:
                location = resp.getheader("Location")
                if not location:
                    raise FetchError(
                        _name(url), f"HTTP {resp.status}", "redirect without a Location"
                    )
                current = urljoin(current, location.strip())
                continue
            if resp.status in _RETRY_STATUS:
                raise _Retryable(f"HTTP {resp.status}", str(resp.reason or ""))
            if resp.status != 200:
                raise FetchError(
                    _name(url), f"HTTP {resp.status}", short_repr(str(resp.reason or ""))
                )
            _save_body(url, resp, target, opts)
            return
        except TimeoutError as exc:
            raise _Retryable("timeout", str(exc) or "read timed out") from None
        except (http.client.IncompleteRead, ConnectionError) as exc:
            raise _Retryable("short body", short_repr(str(exc))) from None
        except http.client.HTTPException as exc:
            raise FetchError(_name(url), "bad response", short_repr(str(exc))) from None
        except OSError as exc:
            raise _Retryable("connection failed", short_repr(str(exc))) from None
        finally:
            conn.close()
    raise FetchError(_name(url), "too many redirects", f"more than {opts.max_redirects}")


def _request(
    checked: CheckedURL, opts: FetchOptions, deadline: float
) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    """Send the GET to the first checked address that accepts a connection."""
    failure = "no address"
    for address in checked.addresses:
        conn = _PinnedHTTPConnection.make(checked, address, opts, deadline)
        try:
            conn.putrequest("GET", checked.target, skip_accept_encoding=True)
            conn.putheader("User-Agent", opts.user_agent)
            conn.putheader("Accept", "image/*, */*;q=0.5")
            conn.putheader("Accept-Encoding", "identity")
            conn.putheader("Connection", "close")
            conn.endheaders()
            return conn, conn.getresponse()
        except ssl.SSLError as exc:
            conn.close()
            raise FetchError(_name(checked.url), "TLS error", short_repr(str(exc), 160)) from None
        except TimeoutError:
            conn.close()
            raise _Retryable("timeout", f"no answer from {address} before the deadline") from None
        except http.client.RemoteDisconnected as exc:
            conn.close()
            raise _Retryable("connection failed", short_repr(str(exc))) from None
        except http.client.HTTPException as exc:
            conn.close()
            raise FetchError(_name(checked.url), "bad response", short_repr(str(exc))) from None
        except OSError as exc:
            conn.close()
            failure = f"{address}: {exc.strerror or exc}"
    raise _Retryable("connection failed", failure)


def _save_body(url: str, resp: http.client.HTTPResponse, target: Path, opts: FetchOptions) -> None:
    declared_text = resp.getheader("Content-Length")
    declared = int(declared_text) if declared_text and declared_text.strip().isdigit() else None
    if declared is not None and declared > opts.max_bytes:
        raise FetchError(
            _name(url), "too large", f"Content-Length {declared} > {opts.max_bytes} bytes"
        )
    tmp = target.with_name(f".{target.name}.part-{os.getpid()}-{time.monotonic_ns()}")
    try:
        size = 0
        with open(tmp, "wb") as f:
            while True:
                chunk = resp.read(_CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > opts.max_bytes:
                    raise FetchError(
                        _name(url), "too large", f"body exceeds {opts.max_bytes} bytes"
                    )
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        if declared is not None and size < declared:
            raise _Retryable("short body", f"got {size} of the {declared} bytes announced")
        if size == 0:
            raise FetchError(_name(url), "zero-byte file", "empty response body")
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTP(S) connection to a fixed, already checked address.

    ``host`` stays the URL's host (for the ``Host`` header, SNI and the certificate);
    :meth:`connect` dials ``address`` instead of resolving ``host`` again, and wraps the
    socket so that every read waits at most until ``deadline``.
    """

    def __init__(
        self,
        checked: CheckedURL,
        address: str,
        opts: FetchOptions,
        deadline: float,
        context: ssl.SSLContext | None,
    ) -> None:
        super().__init__(checked.host, checked.port, timeout=opts.connect_timeout)
        self._address = address
        self._opts = opts
        self._deadline = deadline
        self._tls = context

    @classmethod
    def make(
        cls, checked: CheckedURL, address: str, opts: FetchOptions, deadline: float
    ) -> _PinnedHTTPConnection:
        """A connection for ``checked`` (TLS verified against ``opts.ca_file`` or the system's CAs)."""
        https = checked.scheme == "https"
        try:
            context = ssl.create_default_context(cafile=opts.ca_file) if https else None
        except (OSError, ssl.SSLError) as exc:
            detail = f"ca_file {short_repr(opts.ca_file)}: {exc}"
            raise FetchError(_name(checked.url), "TLS error", detail) from None
        conn = cls(checked, address, opts, deadline, context)
        conn.default_port = 443 if https else 80  # the Host header leaves out the default port
        return conn

    def connect(self) -> None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline passed before connecting")
        sock = socket.create_connection(
            (self._address, self.port), timeout=min(self._opts.connect_timeout, left)
        )
        try:
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise
        self.sock = _DeadlineSocket(sock, self._deadline, self._opts.read_timeout)


class _DeadlineSocket:
    """A connected socket whose every send and read waits at most until ``deadline``.

    Like :class:`socket.socket`, it stays open while a file made by :meth:`makefile` is
    (:mod:`http.client` closes the connection and keeps reading through the response).
    """

    def __init__(self, sock: socket.socket, deadline: float, read_timeout: float) -> None:
        self._sock = sock
        self._deadline = deadline
        self._read_timeout = read_timeout
        self._files = 0
        self._closed = False

    def arm(self) -> None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline passed")
        self._sock.settimeout(min(self._read_timeout, left))

    def sendall(self, data: Any) -> None:
        self.arm()
        self._sock.sendall(data)

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        self._files += 1
        return io.BufferedReader(_DeadlineReader(self))

    def recv_into(self, buffer: Any) -> int:
        self.arm()
        return self._sock.recv_into(buffer)

    def file_closed(self) -> None:
        self._files -= 1
        if self._closed and self._files <= 0:
            self._sock.close()

    def close(self) -> None:
        self._closed = True
        if self._files <= 0:
            self._sock.close()


class _DeadlineReader(io.RawIOBase):
    def __init__(self, sock: _DeadlineSocket) -> None:
        self._sock: _DeadlineSocket | None = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._sock is None:
            raise ValueError("I/O operation on closed file")
        return self._sock.recv_into(buffer)

    def close(self) -> None:
        if self._sock is not None:
            sock, self._sock = self._sock, None
            sock.file_closed()
        super().close()
