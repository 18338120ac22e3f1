"""The fuzzing harness shared by every fuzz target.

A *target* is a hypothesis test that feeds generated input to one artrec entry point and
holds it to three rules:

1. **No tracebacks.** Only :class:`~artrec.errors.ArtrecError` may escape, with a
   one-line, bounded message (:func:`outcome`); any other exception fails the test.
2. **No silent wrong results.** When the entry point succeeds, the target checks the
   result against a reference (the input it was built from, or a slow re-implementation).
3. **No hostile code runs.** Inputs that name code (pickles naming globals) point at
   :mod:`fuzz_canary`, which records any call; :func:`no_code_ran` asserts none happened.

Runs are seeded and bounded: :data:`SETTINGS` derandomizes hypothesis (the same cases on
every run, no example database), and each target sets its ``max_examples``. Every case
is counted in :data:`CASES` under its target's name; the fuzz conftest prints the counts.

To add a target (the CLI entry points, the server), write a test with
``@fuzz("area/name", max_examples)`` above ``@given(...)`` and call ``case("area/name")``
and :func:`outcome` in its body.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import fuzz_canary
from hypothesis import HealthCheck, settings

from artrec.errors import ArtrecError

#: Generated cases per target name, for the summary line.
CASES: Counter[str] = Counter()

#: Longest message an error may carry.
MAX_MESSAGE = 1000

SETTINGS = settings(
    derandomize=True,  # a fixed seed: the same cases on every run
    database=None,
    deadline=timedelta(seconds=10),  # per case; generous, the machine is shared
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
    print_blob=False,
)

_F = TypeVar("_F", bound=Callable[..., Any])


def fuzz(max_examples: int) -> Callable[[_F], _F]:
    """Apply the shared settings with ``max_examples`` cases (put it above ``@given``)."""

    def decorate(test: _F) -> _F:
        return settings(SETTINGS, max_examples=max_examples)(test)  # type: ignore[no-any-return]

    return decorate


def case(name: str) -> None:
    """Count one generated case of target ``name`` and check that no hostile code ran."""
    CASES[name] += 1
    no_code_ran()


def outcome(call: Callable[[], Any]) -> tuple[bool, Any]:
    """``(True, result)``, or ``(False, error)`` for an ArtrecError with a one-line message.

    Any other exception propagates and fails the case (a traceback).
    """
    try:
        result = call()
    except ArtrecError as exc:
        message = str(exc)
        assert message, f"{type(exc).__name__} without a message"
        assert "\n" not in message, f"multi-line message: {message[:200]!r}"
        assert len(message) <= MAX_MESSAGE, f"{len(message)}-character message"
        return False, exc
    finally:
        no_code_ran()
    return True, result


def no_code_ran() -> None:
    """Fail if anything a hostile input named was ever called."""
    assert not fuzz_canary.CALLS, f"hostile code ran: {fuzz_canary.CALLS[:3]}"
    assert not fuzz_canary.MARKER.exists(), f"hostile code ran: {fuzz_canary.MARKER} exists"


def same(a: Any, b: Any) -> bool:
    """Structural equality with NaN equal to NaN and types compared exactly."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def depth(value: Any) -> int:
    """Nesting depth of lists, tuples, dicts, sets (a scalar has depth 0)."""
    if isinstance(value, dict):
        return 1 + max((max(depth(k), depth(v)) for k, v in value.items()), default=0)
    if isinstance(value, (list, tuple, set, frozenset)):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


def texts(value: Any) -> list[str]:
    """Every string inside ``value`` (keys included)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in texts(k) + texts(v)]
    if isinstance(value, (list, tuple, set, frozenset)):
        return [t for v in value for t in texts(v)]
    return []


def valid_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
