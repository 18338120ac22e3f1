"""Bounds on what an input may make artrec allocate: every limit, in one place.

A small hostile file must not become a large allocation. These are the bounds the loaders
enforce before they build anything from an input; exceeding one raises
:class:`~artrec.errors.LimitError` (a :class:`~artrec.errors.DataError`) naming the input,
the bound and how to raise it.

======================  ==================  ===============================================
bound                   default             applies to
======================  ==================  ===============================================
:data:`MAX_NAME_LENGTH`  100 characters      names that become file names (embeddings,
                                            indexes, runs, models, feature sets)
:data:`MAX_ID_LENGTH`    256 characters      item and user ids
:data:`MAX_NESTING`      100 levels          JSON and pickle nesting depth
:data:`MAX_JSON_BYTES`   1 GiB               a JSON file read by :func:`artrec.fileio.read_json`
:data:`MAX_PICKLE_BYTES` 256 MiB             a pickle read by :mod:`artrec.data.safe_pickle`
:func:`max_events`       10,000,000 events   events one loader call may produce (seed assets,
                                            interaction files); raise it with the
                                            ``max_events=`` argument of the loader or the
                                            ``ARTREC_MAX_EVENTS`` environment variable
======================  ==================  ===============================================

A pickle may also not *expand*: counted with repetition, its values may not outnumber its
bytes (every value a pickle spells costs at least one byte, so only shared references can
break this, and a pickle that shares one list between a thousand users is refused rather
than turned into a million events).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator
from typing import Any

from artrec.errors import ArtrecError, DataError, LimitError, short_repr

MAX_NAME_LENGTH = 100
MAX_ID_LENGTH = 256
MAX_NESTING = 100
MAX_JSON_BYTES = 1 << 30
MAX_PICKLE_BYTES = 256 << 20
DEFAULT_MAX_EVENTS = 10_000_000
#: Environment variable that overrides :data:`DEFAULT_MAX_EVENTS`.
MAX_EVENTS_ENV = "ARTREC_MAX_EVENTS"

_CONTAINERS = (list, tuple, dict, set, frozenset)


def max_events(value: int | None = None) -> int:
    """The event limit to use: ``value`` if given, else ``$ARTREC_MAX_EVENTS``, else the default.

    Raises :class:`~artrec.errors.ArtrecError` when either is not a positive integer.
    """
    source = "max_events"
    if value is None:
        env = os.environ.get(MAX_EVENTS_ENV)
        if env is None or not env.strip():
            return DEFAULT_MAX_EVENTS
        source = MAX_EVENTS_ENV
        try:
            value = int(env.strip().replace("_", ""))
        except ValueError:
            raise ArtrecError(
                f"{MAX_EVENTS_ENV} must be a positive integer, got {short_repr(env)}"
            ) from None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ArtrecError(f"{source} must be a positive integer, got {short_repr(value)}")
    return value


def check_event_count(n: int, limit: int, source: str) -> None:
    """Raise :class:`LimitError` when ``n`` events exceed ``limit``, saying how to raise it."""
    if n > limit:
        raise LimitError(
            f"{source}: more than {limit:,} events; if this is expected, raise the limit with "
            f"max_events= or the {MAX_EVENTS_ENV} environment variable"
        )


def check_structure(
    obj: Any, source: str, *, max_depth: int = MAX_NESTING, max_values: int | None = None
) -> int:
    """Check the nesting of builtin containers in ``obj``; return its size counted with repetition.

    Walks ``obj`` without recursion, visiting each distinct container once, so the cost is
    linear in the size of the object graph even when containers are shared.

    Parameters
    ----------
    obj
        A value built from lists, tuples, dicts, sets, frozensets and scalars (what JSON
        and the restricted unpickler produce).
    source
        Names the input in error messages.
    max_depth
        Deepest nesting allowed (a bare scalar has depth 0, ``[1]`` depth 1).
    max_values
        Largest size allowed, counting every container and scalar each time it is reached
        (a list shared by 1,000 users counts 1,000 times). ``None``: no bound.

    Returns
    -------
    int
        That size.

    Raises
    ------
    LimitError
        The nesting is too deep or the size too large.
    DataError
        A container holds itself (a reference cycle).
    """
    if not isinstance(obj, _CONTAINERS):
        return 1
    done: dict[int, int] = {}
    on_path = {id(obj)}
    first, scalars = _container_children(obj)
    stack: list[tuple[Any, Iterator[Any]]] = [(obj, iter(first))]
    totals = [1 + scalars]
    while stack:
        node, children = stack[-1]
        child = next(children, _END)
        if child is _END:
            stack.pop()
            on_path.discard(id(node))
            size = totals.pop()
            done[id(node)] = size
            if max_values is not None and size > max_values:
                raise LimitError(
                    f"{source}: expands to more than {max_values:,} values through shared "
                    "references; refusing it"
                )
            if totals:
                totals[-1] += size
            continue
        key = id(child)
        if key in on_path:
            raise DataError(f"{source}: a container holds itself (a reference cycle)")
        if key in done:
            totals[-1] += done[key]
            continue
        if len(stack) + 1 > max_depth:
            raise LimitError(f"{source}: nests deeper than {max_depth} levels")
        grandchildren, scalars = _container_children(child)
        stack.append((child, iter(grandchildren)))
        on_path.add(key)
        totals.append(1 + scalars)
    return done[id(obj)]


_END = object()


def _container_children(node: Any) -> tuple[list[Any], int]:
    """The containers directly inside ``node`` and the number of scalars beside them."""
    if isinstance(node, dict):
        values: Iterable[Any] = itertools.chain(node.keys(), node.values())
        n = 2 * len(node)
        types = set(map(type, node.keys())) | set(map(type, node.values()))
        if not any(issubclass(t, _CONTAINERS) for t in types):
            return [], n
    else:
        values, n = node, len(node)
        if not any(issubclass(t, _CONTAINERS) for t in set(map(type, node))):
            return [], n  # the common flat case, without a Python-level loop
    inner = [v for v in values if isinstance(v, _CONTAINERS)]
    return inner, n - len(inner)
