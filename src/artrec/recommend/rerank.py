"""Maximal marginal relevance (MMR) re-ranking, for more varied lists.

Carbonell and Goldstein's MMR picks items one at a time; at each step it takes the
candidate ``i`` maximising

    lambda_ * rel(i) - (1 - lambda_) * max_{j already picked} cos(i, j)

where ``rel`` is the relevance min-max scaled to [0, 1] over the candidate pool (so it is
on the same scale as a cosine similarity whatever the recommender's score) and ``cos`` is
the cosine similarity of the item vectors. ``lambda_ = 1`` returns the candidates in pure
relevance order; ``lambda_ = 0`` only avoids similarity to what was already picked. Ties
go to the candidate listed first.
"""

from __future__ import annotations

import numpy as np

from artrec.errors import DataError
from artrec.similarity import prepare


def mmr(
    candidate_rows: np.ndarray,
    relevance: np.ndarray,
    vectors: np.ndarray,
    k: int,
    lambda_: float,
) -> np.ndarray:
    """Re-rank a candidate pool by maximal marginal relevance.

    Parameters
    ----------
    candidate_rows
        Catalogue rows of the candidates (unique), usually best first.
    relevance
        Relevance score of each candidate (higher is better), same length. Non-finite
        values are not allowed.
    vectors
        The catalogue's item vectors, indexed by row (``vectors[candidate_rows]`` are the
        candidates' vectors).
    k
        Number of items to return (fewer if the pool is smaller).
    lambda_
        Trade-off in [0, 1] between relevance (1) and novelty with respect to the items
        already picked (0).

    Returns
    -------
    numpy.ndarray
        The chosen rows (int64), in the order MMR picked them.
    """
    rows = np.asarray(candidate_rows, dtype=np.int64).reshape(-1)
    rel = np.asarray(relevance, dtype=np.float64).reshape(-1)
    if len(rel) != len(rows):
        raise DataError(f"{len(rel)} relevance scores for {len(rows)} candidates")
    if not 0.0 <= float(lambda_) <= 1.0:
        raise DataError(f"MMR lambda must lie in [0, 1], got {lambda_}")
    if k < 1:
        raise DataError(f"k must be >= 1, got {k}")
    if not np.isfinite(rel).all():
        raise DataError("MMR relevance scores must be finite")
    n = len(rows)
    if n == 0:
        return rows
    span = rel.max() - rel.min()
    scaled = (rel - rel.min()) / span if span > 0 else np.ones(n)
    unit = prepare(np.asarray(vectors)[rows], "cosine", np.float64)
    chosen: list[int] = []
    max_sim = np.full(n, -np.inf)
    free = np.ones(n, dtype=bool)
    for _ in range(min(k, n)):
        penalty = np.where(np.isfinite(max_sim), max_sim, 0.0)
        value = lambda_ * scaled - (1.0 - lambda_) * penalty
        value[~free] = -np.inf
        best = int(np.argmax(value))
        chosen.append(best)
        free[best] = False
        max_sim = np.maximum(max_sim, unit @ unit[best])
    return rows[np.asarray(chosen, dtype=np.int64)]
