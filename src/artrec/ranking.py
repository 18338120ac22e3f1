"""Top-k selection shared by the indexes, the recommenders and the evaluation.

Every ranking in artrec orders by score descending and breaks ties by row ascending, so
results are deterministic whatever the batch shape.
"""

from __future__ import annotations

import numpy as np

from artrec.errors import DataError, short_repr


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` columns of each row of ``scores``: score descending, then column ascending.

    Entries equal to ``-inf`` (and NaN) never qualify; short lists are padded with ``-1`` /
    ``-inf``.
    """
    scores = np.asarray(scores)
    if has_nan(scores):
        scores = np.where(np.isnan(scores), -np.inf, scores)
    n, m = scores.shape
    kk = min(k, m)
    rows = np.full((n, k), -1, dtype=np.int64)
    vals = np.full((n, k), -np.inf, dtype=np.float64)
    if kk == 0 or n == 0:
        return rows, vals
    if kk < m:
        part = np.argpartition(scores, m - kk, axis=1)[:, m - kk :]
        part_vals = np.take_along_axis(scores, part, axis=1)
        order = np.lexsort((part, -part_vals), axis=1)
        rows[:, :kk] = np.take_along_axis(part, order, axis=1)
        vals[:, :kk] = np.take_along_axis(part_vals, order, axis=1)
        # argpartition may cut a tie at the k-th score arbitrarily: where more columns than
        # kk reach that score, redo the row taking the lowest tied columns.
        kth = vals[:, kk - 1 : kk]
        for i in np.flatnonzero(np.count_nonzero(scores >= kth, axis=1) > kk):
            cand = np.flatnonzero(scores[i] >= kth[i])
            chosen = cand[np.lexsort((cand, -scores[i, cand]))[:kk]]
            rows[i, :kk] = chosen
            vals[i, :kk] = scores[i, chosen]
    else:
        cols = np.broadcast_to(np.arange(m), scores.shape)
        order = np.lexsort((cols, -scores), axis=1)
        rows[:, :kk] = order
        vals[:, :kk] = np.take_along_axis(scores, order, axis=1)
    invalid = ~np.isfinite(vals) & (vals < 0)
    rows[invalid] = -1
    vals[invalid] = -np.inf
    return rows, vals


def clamp_k(k: object, n_items: int | None, what: str = "k") -> int:
    """``k`` as an int, clamped to ``n_items`` (at least 1); raises for a non-positive ``k``.

    A top-k list can never hold more than the catalogue, so every place that allocates
    ``(n, k)`` arrays clamps first: ``k = 2**31`` on a 40-item catalogue allocates 40
    columns, not 16 GiB. ``n_items=None`` (unknown yet) only validates.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise DataError(f"{what} must be a positive integer, got {short_repr(k)}")
    k = int(k)
    return k if n_items is None else min(k, max(int(n_items), 1))


def has_nan(scores: np.ndarray) -> bool:
    """Whether ``scores`` holds a NaN (one summing pass; the exact test only if the sum is NaN,
    which ``+inf`` next to ``-inf`` also gives)."""
    with np.errstate(invalid="ignore"):
        total = np.add.reduce(scores, axis=None)
    return bool(np.isnan(total)) and bool(np.isnan(scores).any())
