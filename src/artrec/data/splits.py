"""Train/test split rules over an interaction log: the one owner of "which events are held out".

The importer (``--split-last-fraction``, ``--split-before``) and the validation split that
tuning and early stopping carve from training events both call these functions, so the
held-out rule is written once.

Ordering rule
-------------
A user's events are ordered by timestamp; events with equal timestamps by item id (as
text), then by their position in the log. Events with an unknown (NaN) timestamp come
first, in log order, so they are never held out ahead of a timed event. The rule is
deterministic: the same log always gives the same split.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from artrec.errors import DataError


def user_time_order(
    user_ids: np.ndarray, item_ids: np.ndarray, timestamps: np.ndarray
) -> np.ndarray:
    """Event positions sorted by (user, timestamp, item id, log position).

    Unknown timestamps sort before every known one (see the module doc).
    """
    users = np.asarray(user_ids, dtype=object)
    items = np.asarray(item_ids, dtype=object)
    ts = np.nan_to_num(np.asarray(timestamps, dtype=np.float64), nan=-np.inf)
    n = len(users)
    if len(items) != n or len(ts) != n:
        raise DataError("user ids, item ids and timestamps must have one value per event")
    # lexsort needs comparable keys: map ids to their rank among the distinct values
    user_key = np.unique(users.astype(str), return_inverse=True)[1]
    item_key = np.unique(items.astype(str), return_inverse=True)[1]
    return np.lexsort((np.arange(n), item_key, ts, user_key))


def last_fraction_mask(
    user_ids: np.ndarray,
    item_ids: np.ndarray,
    timestamps: np.ndarray,
    fraction: float,
    *,
    keep_one: bool = False,
) -> np.ndarray:
    """Boolean mask of the events held out: per user, the last ``floor(fraction * n)``
    events (at least one) in the order of :func:`user_time_order`.

    Parameters
    ----------
    user_ids, item_ids, timestamps
        The events, one value each.
    fraction
        Share of each user's events to hold out, in ``(0, 1)``.
    keep_one
        Never hold out a user's only remaining event: users with a single event keep it,
        and at most ``n - 1`` events are held out (the validation split uses this so every
        held-out user keeps a profile).
    """
    if not isinstance(fraction, (int, float)) or not 0.0 < float(fraction) < 1.0:
        raise DataError(
            f"the held-out fraction must lie strictly between 0 and 1, got {fraction!r}"
        )
    order = user_time_order(user_ids, item_ids, timestamps)
    users = np.asarray(user_ids, dtype=object)[order]
    held = np.zeros(len(order), dtype=bool)
    start = 0
    n_events = len(order)
    while start < n_events:
        stop = start + 1
        while stop < n_events and users[stop] == users[start]:
            stop += 1
        n = stop - start
        # the fraction as the decimal it is written as: 0.29 of 100 is 29, not the 28 of
        # floor(0.29 * 100) = floor(28.999999999999996) in floating point
        count = max(1, math.floor(Fraction(repr(float(fraction))) * n))
        if keep_one:
            count = min(count, n - 1)
        if count > 0:
            held[order[stop - count : stop]] = True
        start = stop
    return held


def before_mask(timestamps: np.ndarray, cut: float) -> np.ndarray:
    """Events strictly before the time ``cut`` (seconds since the epoch); unknown times are
    treated as before any cut."""
    ts = np.asarray(timestamps, dtype=np.float64)
    return np.isnan(ts) | (ts < float(cut))


#: Which of a person's events form their profile when recommending (``--history``):
#: ``"all"`` every event; ``"train"`` every event that is not held out (split ``"test"``),
#: which on the notebook's assets is ``past_transactions`` alone.
HISTORIES: tuple[str, ...] = ("all", "train")
#: The split value of held-out events.
TEST_SPLIT = "test"


def history_mask(splits: np.ndarray | None, n_events: int, history: str) -> np.ndarray:
    """Boolean mask of the events that form a profile under ``history`` (see :data:`HISTORIES`).

    ``splits`` holds each event's split (``None`` when the log has no split column, in which
    case both histories keep every event).

    Raises :class:`DataError` for an unknown history.
    """
    if history not in HISTORIES:
        raise DataError(f"unknown history {history!r}; choose one of {', '.join(HISTORIES)}")
    if history == "all" or splits is None:
        return np.ones(n_events, dtype=bool)
    return np.asarray([s != TEST_SPLIT for s in splits.tolist()], dtype=bool)
