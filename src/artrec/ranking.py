"""Top-k selection shared by the indexes, the recommenders and the evaluation.

Every ranking in artrec orders by score descending and breaks ties by row ascending, so
results are deterministic whatever the batch shape.
"""

from __future__ import annotations

import numpy as np

from artrec.errors import DataError, short_repr


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` columns of each row of ``scores``: score descending, then column ascending.

    Entries equal to ``-inf`` never qualify; short lists are padded with ``-1`` / ``-inf``.
    """
    n, m = scores.shape
    kk = min(k, m)
    rows = np.full((n, k), -1, dtype=np.int64)
    vals = np.full((n, k), -np.inf, dtype=np.float64)
    if kk == 0:
        return rows, vals
    if kk < m:
        part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
        # argpartition may cut a tie at the k-th score arbitrarily; take every tied column.
        kth = np.take_along_axis(scores, part, axis=1).min(axis=1, keepdims=True)
        for i in range(n):
            cand = np.flatnonzero(scores[i] >= kth[i])
            order = np.lexsort((cand, -scores[i, cand]))[:kk]
            chosen = cand[order]
            rows[i, :kk] = chosen
            vals[i, :kk] = scores[i, chosen]
    else:
        for i in range(n):
            order = np.lexsort((np.arange(m), -scores[i]))
            rows[i, :kk] = order
            vals[i, :kk] = scores[i, order]
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
