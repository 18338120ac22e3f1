"""Maximal marginal relevance (MMR) re-ranking, for more varied lists.

Carbonell and Goldstein's MMR picks items one at a time; at each step it takes the
candidate ``i`` maximising

    lambda_ * rel(i) - (1 - lambda_) * max_{j already picked} cos(i, j)

where ``rel`` is the relevance min-max scaled to [0, 1] over the candidate pool (so it is
on the same scale as a cosine similarity whatever the recommender's score) and ``cos`` is
the cosine similarity of the item vectors. ``lambda_ = 1`` returns the candidates in pure
relevance order; ``lambda_ = 0`` only avoids similarity to what was already picked. Ties
go to the candidate listed first.

:class:`MMRRecommender` wraps any recommender so that its lists come out re-ranked, which
makes MMR at a given ``λ`` a configuration of evaluate and compare.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from artrec.errors import DataError
from artrec.ranking import top_k
from artrec.recommend.base import Recommender, TrainData
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


class MMRRecommender(Recommender):
    """Any recommender with its top of list re-ranked by :func:`mmr`.

    For each profile the ``pool_factor * k`` best rows of ``base`` outside the profile are
    re-ranked by MMR at ``lambda_`` in the item vectors given to :meth:`fit`; the chosen
    ``k`` rows get scores above every other row, in MMR order, and the rest keep the base
    order below them. So :meth:`score` alone (what the evaluator uses) gives the re-ranked
    list. The pool is taken over all rows outside the profile: under time replay, works of
    the MMR list that were sold by then are masked afterwards and the list is filled from
    the base order. Explanations and reasons are ``base``'s.

    Parameters
    ----------
    base
        The recommender to re-rank (fitted together with this one).
    lambda_
        MMR trade-off in [0, 1] (1: base order).
    k
        Length of the re-ranked head.
    pool_factor
        Pool size as a multiple of ``k``.
    """

    def __init__(
        self, base: Recommender, lambda_: float, k: int = 20, pool_factor: int = 5
    ) -> None:
        if not 0.0 <= float(lambda_) <= 1.0:
            raise DataError(f"MMR lambda must lie in [0, 1], got {lambda_}")
        if k < 1 or pool_factor < 1:
            raise DataError("MMR k and pool_factor must be >= 1")
        self.base = base
        self.lambda_ = float(lambda_)
        self.k = k
        self.pool_factor = pool_factor
        self.name = f"{base.name}+mmr{self.lambda_:g}"

    @property
    def reason(self) -> str:  # type: ignore[override]
        """The base model's reason."""
        return self.base.reason

    def fit(self, data: TrainData) -> MMRRecommender:
        """Fit the base model; keep the item vectors. Raises without vectors."""
        if data.vectors is None:
            raise DataError("MMR re-ranking needs item vectors (an embedding)")
        self.base.fit(data)
        self.data_ = data
        return self

    def score(self, profiles: Sequence[np.ndarray]) -> np.ndarray:
        """Base scores with each profile's MMR head lifted above the rest."""
        if not hasattr(self, "data_"):
            raise DataError("MMRRecommender is not fitted: call fit() first")
        vectors = self.data_.vectors
        assert vectors is not None
        out = np.array(self.base.score(profiles), dtype=np.float64)
        out[np.isnan(out)] = -np.inf
        pool_k = self.pool_factor * self.k
        for j, p in enumerate(profiles):
            row = out[j].copy()
            prof = np.asarray(p, dtype=np.int64).reshape(-1)
            row[prof] = -np.inf
            cand, rel = top_k(row[None, :], pool_k)
            ok = cand[0] >= 0
            if not ok.any():
                continue
            chosen = mmr(cand[0, ok], rel[0, ok], vectors, self.k, self.lambda_)
            top = np.max(out[j][np.isfinite(out[j])], initial=0.0)
            out[j, chosen] = top + 1.0 + np.arange(len(chosen), 0, -1, dtype=np.float64)
        return out

    def explain_reasons(
        self, profiles: Sequence[np.ndarray], rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The base model's explanations and reasons."""
        return self.base.explain_reasons(profiles, rows)
