"""Exceptions raised by artrec, and the helpers that phrase their messages.

Every error caused by bad input (a corrupt file, an unknown id, a wrong shape, a NaN)
is an :class:`ArtrecError` whose message names the culprit. The CLI turns these into a
one-line message and exit code 2; the server turns them into 4xx responses.

A message quotes the culprit with :func:`short_repr`, never with a bare ``repr``: the value
may be a string of a million characters, an integer of ten thousand digits (whose ``repr``
raises in Python >= 3.11) or a list nested thousands deep (whose ``repr`` raises
:class:`RecursionError`), and none of these may break or flood the one-line message.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Iterable
from typing import Any, TypeVar

#: Longest quotation of a culprit in a message, in characters.
REPR_LIMIT = 80

_T = TypeVar("_T")


class ArtrecError(Exception):
    """Base class for errors caused by bad input or configuration."""


class DataError(ArtrecError, ValueError):
    """A file, array or record is malformed (wrong shape, NaN, bad format)."""


class LimitError(DataError):
    """An input exceeds a bound artrec sets on what it may allocate (see :mod:`artrec.limits`)."""


class UnknownIdError(ArtrecError, KeyError):
    """An item or user id is not known to the catalogue or interaction log."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable
        return str(self.args[0]) if self.args else "unknown id"


class ReadOnlyError(ArtrecError):
    """A write was asked of a workspace or store that is open read-only."""


class DatabaseUnusableError(ArtrecError):
    """A workspace's database cannot be used: damaged, not a database, locked or unreadable."""


class UnsafePickleError(DataError):
    """A pickle file holds something other than builtin containers, numbers and strings."""


class MissingDependencyError(ArtrecError, ImportError):
    """An optional extra (torch, faiss, web, ray) is needed but not installed."""


class WeightsUnavailableError(ArtrecError, RuntimeError):
    """Pretrained model weights can neither be downloaded nor found locally."""


class _ShortRepr(reprlib.Repr):
    """:class:`reprlib.Repr` that also bounds integers, bytes and nesting depth."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxstring = REPR_LIMIT
        self.maxother = REPR_LIMIT
        self.maxlong = 40

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 256:  # ~77 digits; repr of > 4300 digits raises ValueError
            digits = int(x.bit_length() * math.log10(2)) + 1
            return f"<{'negative ' if x < 0 else ''}int of about {digits} digits>"
        return super().repr_int(x, level)

    def repr_bytes(self, x: bytes, level: int) -> str:
        head = repr(x[: self.maxstring])
        return head if len(x) <= self.maxstring else f"{head}...<{len(x)} bytes>"

    repr_bytearray = repr_bytes


_SHORT = _ShortRepr()


def short_repr(value: Any, limit: int = REPR_LIMIT) -> str:
    """``repr(value)`` cut to at most ``limit`` characters; never raises.

    Long strings and bytes are cut in the middle or the end, huge integers are described by
    their number of digits, containers are shown to three levels and a few entries, and
    surrogates and control characters are escaped (the result is printable text that a
    terminal or a log line can hold).
    """
    try:
        text = _SHORT.repr(value)
    except Exception:  # a hostile __repr__; describe the type instead
        text = f"<{type(value).__name__} object>"
    if len(text) > limit:
        text = text[: max(limit - 3, 1)] + "..."
    return text


def check_choice(value: _T, choices: Iterable[Any], what: str) -> _T:
    """Return ``value`` if it is one of ``choices``; else raise :class:`DataError` listing them.

    The message reads ``unknown <what> <value>; choose one of a, b, c``, with the value
    quoted by :func:`short_repr`.
    """
    known = list(choices)
    if not any(_same(value, c) for c in known):
        raise DataError(
            f"unknown {what} {short_repr(value)}; choose one of {', '.join(map(str, known))}"
        )
    return value


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # e.g. an array compared with a string
        return False
