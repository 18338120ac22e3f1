"""Generated pickles of per-user purchases, and the documented rule they must follow."""

from __future__ import annotations

import pickle
from typing import Any

from hypothesis import strategies as st


def dumps(value: Any, protocol: int) -> bytes:
    """``pickle.dumps``; protocols 0 and 1 cannot spell ints of over 4300 digits: use 2."""
    try:
        return pickle.dumps(value, protocol=protocol)
    except ValueError:
        return pickle.dumps(value, protocol=max(protocol, 2))


IDS = st.integers(-(2**63), 2**63 - 1)
ODD = st.sampled_from([True, None, "7", 1.0, 2**63, -(2**63) - 1, [1], (2,)]) | st.builds(
    pow, st.just(10), st.just(5000)
)
ITEM = IDS | ODD
ITEMS = (
    st.lists(ITEM, max_size=6)
    | st.tuples(ITEM, ITEM)
    | st.frozensets(IDS, max_size=5)
    | st.sets(IDS, max_size=5)
    | ODD
)
USERS = st.dictionaries(
    IDS | ODD.filter(lambda v: isinstance(v, (int, str, float))), ITEMS, max_size=6
) | st.lists(ITEMS, max_size=6)


def _int_id(v: Any) -> bool:
    return type(v) is int and -(2**63) <= v < 2**63


def reference_user_items(obj: Any) -> dict[int, list[int]] | None:
    """The documented rule, written plainly: ``None`` where the input must be refused."""
    pairs = list(obj.items()) if isinstance(obj, dict) else list(enumerate(obj))
    out: dict[int, list[int]] = {}
    for user, items in pairs:
        if not _int_id(user):
            return None
        if isinstance(items, (set, frozenset)):
            if not all(_int_id(v) for v in items):
                return None
            values = sorted(items)
        elif isinstance(items, (list, tuple)):
            values = list(items)
            if not all(_int_id(v) for v in values):
                return None
        else:
            return None
        out[user] = values
    return out
