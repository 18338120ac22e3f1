"""Exceptions raised by artrec.

Every error caused by bad input (a corrupt file, an unknown id, a wrong shape, a NaN)
is an :class:`ArtrecError` whose message names the culprit. The CLI turns these into a
one-line message and exit code 2; the server turns them into 4xx responses.
"""

from __future__ import annotations


class ArtrecError(Exception):
    """Base class for errors caused by bad input or configuration."""


class DataError(ArtrecError, ValueError):
    """A file, array or record is malformed (wrong shape, NaN, bad format)."""


class UnknownIdError(ArtrecError, KeyError):
    """An item or user id is not known to the catalogue or interaction log."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable
        return str(self.args[0]) if self.args else "unknown id"


class UnsafePickleError(DataError):
    """A pickle file holds something other than builtin containers, numbers and strings."""


class MissingDependencyError(ArtrecError, ImportError):
    """An optional extra (torch, faiss, web, ray) is needed but not installed."""


class WeightsUnavailableError(ArtrecError, RuntimeError):
    """Pretrained model weights can neither be downloaded nor found locally."""
