"""VisRank: content-based recommendation by visual similarity to the user's profile.

For a profile ``P`` (the rows a user bought or liked) every catalogue item ``i`` gets

==================  ==========================================================
aggregation         score(i)
==================  ==========================================================
``sum_distance``    ``-sum_{p in P} dist(i, p)`` (the notebook's ranking)
``sum``             ``sum_{p in P} sim(i, p)``
``mean``            ``sum / |P|``
``max``             ``max_{p in P} sim(i, p)``
``topm_mean``       mean of the ``m`` largest ``sim(i, p)`` (all of them if ``|P| < m``)
==================  ==========================================================

``sim`` is the metric's similarity and ``dist`` its distance (see
:mod:`artrec.similarity`): for cosine, ``dist = 1 - cosine similarity``, so
``sum_distance`` reports ``sum(cos) - |P|``. The notebook ranks items by the sum of
distances *ascending*; reporting minus that sum keeps "higher is better" and gives the
same order. Because ``dist`` is an affine function of ``sim`` with slope ``-1`` under every
metric, ``sum`` and ``sum_distance`` rank identically: they differ only in the reported
score (``sum_distance = sum - |P|`` for cosine and correlation, ``= sum`` otherwise).

Scores are computed in float64 by default, so the ranking equals one computed with
SciPy's float64 distance functions (the notebook's) except for exact ties; ``dtype=
"float32"`` halves memory and time when that guarantee is not needed.

For the linear metrics (cosine, correlation, dot) with ``sum``/``sum_distance``/``mean``
the scores of a batch of profiles are one matrix product, ``E @ (sum of the profile's
prepared vectors)``, i.e. ``O(n_items * dim)`` per user. The other combinations compute
item-by-profile similarity blocks of at most ``max_block`` values and reduce them per
profile.

The explanation of a recommended item is the profile row with the highest similarity to
it (the first such row in profile order on ties).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from artrec.config import AGGREGATIONS, check_aggregation
from artrec.errors import DataError
from artrec.recommend.base import (
    DEFAULT_CHUNK,
    Recommender,
    TrainData,
    best_profile_rows,
    check_profiles,
)
from artrec.similarity import LINEAR_METRICS, PreparedVectors, check_metric, pairwise

__all__ = ["AGGREGATIONS", "VisRankRecommender", "aggregate", "finish_sums"]

_DTYPES = {"float32": np.float32, "float64": np.float64}


class VisRankRecommender(Recommender):
    """Rank items by aggregated visual similarity to a profile.

    Parameters
    ----------
    metric
        Similarity metric (see :data:`artrec.similarity.METRICS`).
    aggregation
        One of :data:`AGGREGATIONS` (see the module docstring).
    m
        Number of largest similarities averaged by ``topm_mean``.
    chunk_size
        Profiles scored at once by :meth:`rank`.
    dtype
        ``"float64"`` (default; rankings equal SciPy's float64 distances) or ``"float32"``;
        vectors given already prepared to :meth:`fit` keep their own type.
    max_block
        Upper bound on the item-by-profile-item similarity values held at once.

    Attributes
    ----------
    data_
        The :class:`TrainData` given to :meth:`fit`.
    prepared_
        The item vectors prepared for the metric (normalised for cosine, ...).
    """

    def __init__(
        self,
        metric: str = "cosine",
        aggregation: str = "sum_distance",
        m: int = 3,
        chunk_size: int = DEFAULT_CHUNK,
        *,
        dtype: str = "float64",
        max_block: int = 1 << 24,
    ) -> None:
        self.metric = metric
        self.aggregation = aggregation
        self.m = m
        self.chunk_size = chunk_size
        self.dtype = dtype
        self.max_block = max_block
        self.name = f"visrank-{aggregation}-{metric}"

    def fit(self, data: TrainData, prepared: PreparedVectors | None = None) -> VisRankRecommender:
        """Prepare the item vectors of ``data`` for scoring; returns self.

        ``prepared`` may pass ``data.vectors`` already prepared for this metric (shared,
        read-only, with an index or other aggregations); no copy is then made.
        """
        check_metric(self.metric)
        check_aggregation(self.aggregation)
        if self.m < 1:
            raise DataError(f"m must be >= 1, got {self.m}")
        if self.dtype not in _DTYPES:
            raise DataError(f"unknown dtype {self.dtype!r}; choose float32 or float64")
        if data.vectors is None:
            raise DataError("VisRank needs item vectors (TrainData.vectors is None)")
        vecs = np.asarray(data.vectors)
        if vecs.ndim != 2:
            raise DataError(f"item vectors must be 2-D, got shape {vecs.shape}")
        finite = np.isfinite(vecs).all(axis=1)
        if not finite.all():
            raise DataError(
                f"item vector of row {int(np.flatnonzero(~finite)[0])} holds NaN or inf"
            )
        if prepared is None:
            prepared = PreparedVectors.of(vecs, self.metric, _DTYPES[self.dtype])
        elif prepared.metric != self.metric or prepared.shape != vecs.shape:
            raise DataError(
                f"prepared vectors are {prepared.shape} for {prepared.metric!r}; "
                f"expected {vecs.shape} for {self.metric!r}"
            )
        self.data_ = data
        self.prepared_ = prepared.matrix
        self._sqnorms = prepared.sqnorms
        return self

    # -- scoring ----------------------------------------------------------------------
    def _profiles(self, profiles: Sequence[np.ndarray]) -> list[np.ndarray]:
        if not hasattr(self, "prepared_"):
            raise DataError("VisRank is not fitted: call fit() first")
        return check_profiles(profiles, len(self.prepared_))

    def score(self, profiles: Sequence[np.ndarray]) -> np.ndarray:
        """Scores of every catalogue row for each profile: ``(len(profiles), n_items)``.

        An empty profile scores every item 0.
        """
        plist = self._profiles(profiles)
        n_items = len(self.prepared_)
        linear = self.metric in LINEAR_METRICS and self.aggregation in (
            "sum",
            "sum_distance",
            "mean",
        )
        out = (np.empty if linear else np.zeros)((len(plist), n_items), dtype=np.float64)
        if linear:
            sums = np.zeros((len(plist), self.prepared_.shape[1]), dtype=self.prepared_.dtype)
            filled = [j for j, rows in enumerate(plist) if rows.size]
            if filled:
                sizes = np.array([len(plist[j]) for j in filled])
                starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
                rows = np.concatenate([plist[j] for j in filled])
                sums[filled] = np.add.reduceat(self.prepared_[rows], starts, axis=0)
            if sums.dtype == out.dtype:
                np.matmul(sums, self.prepared_.T, out=out)
            else:
                out[:] = sums @ self.prepared_.T
        else:
            self._score_blocked(plist, out)
        sizes = np.array([len(p) for p in plist], dtype=np.float64)
        if self.aggregation in ("sum", "sum_distance", "mean"):
            finish_sums(out, sizes, self.aggregation, self.metric)
        return out

    def _score_blocked(self, plist: list[np.ndarray], out: np.ndarray) -> None:
        """Item x profile-item similarity blocks, reduced per profile (non-linear cases)."""
        n_items = len(self.prepared_)
        agg = self.aggregation
        # Group profiles so that one block holds at most max_block values per item block.
        groups: list[list[int]] = []
        current: list[int] = []
        total = 0
        for j, rows in enumerate(plist):
            if not rows.size:
                continue
            if current and total + len(rows) > max(1, self.max_block // 64):
                groups.append(current)
                current, total = [], 0
            current.append(j)
            total += len(rows)
        if current:
            groups.append(current)
        for group in groups:
            all_rows = np.concatenate([plist[j] for j in group])
            sizes = np.array([len(plist[j]) for j in group])
            starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
            prof = self.prepared_[all_rows]
            prof_sq = None if self._sqnorms is None else self._sqnorms[all_rows]
            block = max(1, self.max_block // len(all_rows))
            for s in range(0, n_items, block):
                e = min(n_items, s + block)
                # (items in block, profile items): similarity of each item to each profile item
                sims = pairwise(self.prepared_[s:e], prof, self.metric, b_sqnorms=prof_sq)
                if agg == "max" and len(group) == 1:
                    # one profile: the row maximum, column by column (numpy reduces a short
                    # inner axis slowly); exact in either precision
                    best = sims[:, 0].copy()
                    for c in range(1, sims.shape[1]):
                        np.maximum(best, sims[:, c], out=best)
                    out[group[0], s:e] = best
                    continue
                sims = np.asarray(sims, dtype=np.float64)
                if agg in ("sum", "sum_distance", "mean"):
                    red = np.add.reduceat(sims, starts, axis=1)
                elif agg == "max":
                    red = np.maximum.reduceat(sims, starts, axis=1)
                else:
                    red = np.empty((e - s, len(group)))
                    for g, (st, size) in enumerate(
                        zip(starts.tolist(), sizes.tolist(), strict=True)
                    ):
                        seg = sims[:, st : st + size]
                        red[:, g] = aggregate(seg, np.full(e - s, size), agg, self.m, self.metric)
                out[group, s:e] = red.T

    def _writable_scores(self, profiles: Sequence[np.ndarray]) -> np.ndarray:
        """:meth:`score` returns a new float64 array every call: no copy needed."""
        return self.score(profiles)

    # -- explanations ---------------------------------------------------------------------
    def similarity(self, rows_a: np.ndarray, rows_b: np.ndarray) -> np.ndarray:
        """Similarities between catalogue ``rows_a`` and ``rows_b``: ``(len(rows_a), len(rows_b))``."""
        if not hasattr(self, "prepared_"):
            raise DataError("VisRank is not fitted: call fit() first")
        a = self.prepared_[np.asarray(rows_a, dtype=np.int64)]
        b = self.prepared_[np.asarray(rows_b, dtype=np.int64)]
        return np.asarray(pairwise(a, b, self.metric), dtype=np.float64)

    def explain(self, profiles: Sequence[np.ndarray], rows: np.ndarray) -> np.ndarray:
        """For each recommended row, the profile row most similar to it (``-1`` for padding
        and for empty profiles); ties go to the earlier profile entry."""
        plist = self._profiles(profiles)
        rows = np.asarray(rows, dtype=np.int64)
        if self.metric in LINEAR_METRICS:
            return best_profile_rows(self.prepared_, plist, rows)
        out = np.full(rows.shape, -1, dtype=np.int64)
        for j, prof in enumerate(plist):
            valid = rows[j] >= 0
            if not prof.size or not valid.any():
                continue
            sims = self.similarity(rows[j, valid], prof)
            out[j, valid] = prof[np.argmax(sims, axis=1)]
        return out


# -- the aggregations, written once ----------------------------------------------------------
def aggregate(
    sims: np.ndarray, sizes: np.ndarray, aggregation: str, m: int, metric: str
) -> np.ndarray:
    """One score per row of ``sims``: ``(n, width)`` similarities of an item to the profile
    items of its row's profile, padded with ``-inf``; ``sizes`` holds each row's profile size.

    The aggregations of the module docstring; :meth:`VisRankRecommender.score` reduces its
    blocks the same way, and index-based candidate ranking
    (:class:`~artrec.recommend.candidates.IndexCandidateRecommender`) calls this.
    """
    sizes = np.asarray(sizes)
    if aggregation == "max":
        return np.asarray(sims.max(axis=1), dtype=np.float64)
    if aggregation == "topm_mean":
        width = sims.shape[1]
        top = np.partition(sims, width - m, axis=1)[:, width - m :] if width > m else sims
        top = np.where(np.isfinite(top), top, 0.0)
        return np.asarray(top.sum(axis=1) / np.minimum(sizes, m), dtype=np.float64)
    check_aggregation(aggregation)
    total = np.where(np.isfinite(sims), sims, 0.0).sum(axis=1).astype(np.float64)
    return finish_sums(total, sizes, aggregation, metric)


def finish_sums(out: np.ndarray, sizes: np.ndarray, aggregation: str, metric: str) -> np.ndarray:
    """Turn sums of similarities into ``sum``, ``sum_distance`` or ``mean`` scores, in place.

    ``out`` is ``(n,)`` or ``(n, n_items)`` with one profile size per row in ``sizes``:
    ``mean`` divides by the size (empty profiles keep 0); ``sum_distance`` under cosine and
    correlation subtracts it, ``-(sum of (1 - sim)) = sum(sim) - |P|``.
    """
    size = np.asarray(sizes, dtype=np.float64).reshape(len(sizes), *([1] * (out.ndim - 1)))
    if aggregation == "mean":
        np.divide(out, size, out=out, where=size > 0)
    elif aggregation == "sum_distance" and metric in ("cosine", "correlation"):
        out -= size
    return out
