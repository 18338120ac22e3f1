"""VisRank over the candidates a similarity index finds: a recommender that wraps an index.

:class:`IndexCandidateRecommender` takes the ``n_candidates`` nearest neighbours of each
profile item from a built :class:`~artrec.index.base.SimilarityIndex` (through
:meth:`~artrec.index.base.SimilarityIndex.candidate_rows`, which an approximate index may
answer without exact re-scoring), scores every candidate exactly against the whole profile
with the VisRank aggregation (:func:`artrec.recommend.visrank.aggregate`) and keeps the top
``k``. Work per user is ``|profile| * (search + n_candidates * |profile| * dim)``,
independent of the catalogue size, which is what makes a million-item catalogue tractable.

The result equals VisRank when every item is a candidate (``n_candidates >= n_items``); for
``max`` it already does when ``n_candidates >= k + |excluded|`` and the index is exact. An
empty profile gets no recommendations (VisRank would rank every item 0, i.e. by row).
Explanations are the most similar profile row (the earlier one on ties), as VisRank's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from artrec.config import check_aggregation
from artrec.errors import DataError
from artrec.index.base import SimilarityIndex
from artrec.recommend.base import Ranking, Recommender, TrainData, check_profiles
from artrec.recommend.visrank import aggregate
from artrec.similarity import prepare, rowwise

#: Candidates per profile item fetched from the index by default.
DEFAULT_CANDIDATES = 100
#: Profile items whose neighbours are scored together (bounds the candidate pairs held).
_PROFILE_BLOCK = 1024


class IndexCandidateRecommender(Recommender):
    """Recommend from an index's neighbours of the profile, scored exactly by VisRank.

    Parameters
    ----------
    index
        A built index whose rows are the catalogue rows; its metric is used.
    aggregation
        ``sum``, ``sum_distance``, ``mean``, ``max`` or ``topm_mean`` (see
        :mod:`artrec.recommend.visrank`).
    m
        Similarities averaged by ``topm_mean``.
    n_candidates
        Neighbours fetched per profile item.
    """

    def __init__(
        self,
        index: SimilarityIndex,
        aggregation: str = "sum",
        m: int = 3,
        n_candidates: int = DEFAULT_CANDIDATES,
    ) -> None:
        self.index = index
        self.aggregation = aggregation
        self.m = m
        self.n_candidates = n_candidates
        self.name = f"index-{aggregation}-{index.metric}"

    @property
    def metric(self) -> str:
        """The index's metric."""
        return self.index.metric

    def fit(self, data: TrainData) -> IndexCandidateRecommender:
        """Check the index against ``data`` (one index row per catalogue row); returns self."""
        check_aggregation(self.aggregation)
        if self.m < 1 or self.n_candidates < 1:
            raise DataError(
                f"m and n_candidates must be >= 1, got {self.m} and {self.n_candidates}"
            )
        if self.index.n_items != data.n_items:
            raise DataError(f"the index holds {self.index.n_items} items, the data {data.n_items}")
        self.data_ = data
        return self

    def _fitted(self) -> int:
        if not hasattr(self, "data_"):
            raise DataError(f"{type(self).__name__} is not fitted: call fit() first")
        return int(self.data_.n_items)

    def score(self, profiles: Sequence[np.ndarray]) -> np.ndarray:
        """Exact VisRank scores of each profile's candidates; ``-inf`` for every other row."""
        n_items = self._fitted()
        plist = check_profiles(profiles, n_items)
        out = np.full((len(plist), n_items), -np.inf)
        for lo, hi in _blocks(plist):
            pu, pc, scores, _ = self._score_pairs(plist[lo:hi], [np.zeros(0, np.int64)] * (hi - lo))
            out[lo + pu, pc] = scores
        return out

    def rank(
        self,
        profiles: Sequence[np.ndarray],
        k: int = 10,
        *,
        exclude: Sequence[np.ndarray] | None = None,
        available: np.ndarray | None = None,
        chunk_size: int | None = None,
    ) -> Ranking:
        """Top-k rows per profile, vectorised over the (user, candidate) pairs of a block of
        users (see :meth:`Recommender.rank <artrec.recommend.base.Recommender.rank>`)."""
        if k < 1:
            raise DataError(f"k must be >= 1, got {k}")
        n_items = self._fitted()
        plist = check_profiles(profiles, n_items)
        excl = plist if exclude is None else check_profiles(exclude, n_items, "exclude")
        if len(excl) != len(plist):
            raise DataError("exclude must have one entry per profile")
        mask = self.data_.available if available is None else np.asarray(available, dtype=bool)
        if mask is not None and mask.shape != (n_items,):
            raise DataError(f"available has {mask.shape[0]} values for {n_items} items")
        n = len(plist)
        rows_out = np.full((n, k), -1, dtype=np.int64)
        scores_out = np.full((n, k), -np.inf, dtype=np.float64)
        because_out = np.full((n, k), -1, dtype=np.int64)
        for lo, hi in _blocks(plist):
            pu, pc, scores, because = self._score_pairs(plist[lo:hi], excl[lo:hi], mask)
            order = np.lexsort((pc, -scores, pu))
            pu_s = pu[order]
            group_start = np.searchsorted(pu_s, np.arange(hi - lo))
            rank = np.arange(len(order)) - group_start[pu_s]
            take = rank < k
            users, slots, chosen = lo + pu_s[take], rank[take], order[take]
            rows_out[users, slots] = pc[chosen]
            scores_out[users, slots] = scores[chosen]
            because_out[users, slots] = because[chosen]
        return Ranking(rows_out, scores_out, because_out)

    def _score_pairs(
        self,
        plist: Sequence[np.ndarray],
        exclude: Sequence[np.ndarray],
        mask: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(user, candidate) pairs of one block with their scores and explanations."""
        index, metric = self.index, self.index.metric
        n_items = index.n_items
        empty = np.zeros(0, dtype=np.int64)
        sizes = np.array([len(p) for p in plist], dtype=np.int64)
        if sizes.sum() == 0:
            return empty, empty, np.zeros(0), empty
        all_rows = np.concatenate(plist)
        owner = np.repeat(np.arange(len(plist), dtype=np.int64), sizes)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        prof_raw = index.vectors_of(all_rows)
        neigh = index.candidate_rows(prof_raw, min(self.n_candidates, n_items))
        # Distinct (user, candidate) pairs, as sorted keys user * n_items + row.
        pair_user = np.repeat(owner, neigh.shape[1])
        pair_cand = neigh.ravel()
        valid = pair_cand >= 0
        keys = np.unique(pair_user[valid] * n_items + pair_cand[valid])
        ex_sizes = np.array([len(e) for e in exclude], dtype=np.int64)
        if ex_sizes.sum():
            ex_keys = np.repeat(
                np.arange(len(plist), dtype=np.int64), ex_sizes
            ) * n_items + np.concatenate([np.asarray(e, dtype=np.int64) for e in exclude])
            keys = keys[~np.isin(keys, ex_keys)]
        pu, pc = keys // n_items, keys % n_items
        if mask is not None:
            keep = mask[pc]
            pu, pc = pu[keep], pc[keep]
        if pc.size == 0:
            return empty, empty, np.zeros(0), empty
        prof = prepare(prof_raw, metric, np.float64)
        cand = prepare(index.vectors_of(pc), metric, np.float64)
        # sims[i, j]: similarity of pair i's candidate to the j-th profile item of its user.
        width = int(sizes.max())
        sims = np.full((len(pc), width), -np.inf)
        for j in range(width):
            has = sizes[pu] > j
            sims[has, j] = rowwise(cand[has], prof[starts[pu[has]] + j], metric)
        scores = aggregate(sims, sizes[pu], self.aggregation, self.m, metric)
        best = np.argmax(sims, axis=1)  # first on ties, as VisRank explains
        return pu, pc, scores, all_rows[starts[pu] + best]


def rank_with_index(
    index: SimilarityIndex,
    profiles: Sequence[np.ndarray],
    k: int = 10,
    *,
    aggregation: str = "sum",
    m: int = 3,
    n_candidates: int = DEFAULT_CANDIDATES,
    exclude: Sequence[np.ndarray] | None = None,
    available: np.ndarray | None = None,
) -> Ranking:
    """Top-k rows per profile from an index: :class:`IndexCandidateRecommender` in one call."""
    rec = IndexCandidateRecommender(index, aggregation, m, n_candidates)
    rec.fit(TrainData(index.n_items))
    return rec.rank(profiles, k, exclude=exclude, available=available)


def _blocks(plist: Sequence[np.ndarray]) -> list[tuple[int, int]]:
    """Consecutive users holding about :data:`_PROFILE_BLOCK` profile items each."""
    sizes = [len(p) for p in plist]
    out, lo = [], 0
    while lo < len(plist):
        hi, total = lo, 0
        while hi < len(plist) and (hi == lo or total + sizes[hi] <= _PROFILE_BLOCK):
            total += sizes[hi]
            hi += 1
        out.append((lo, hi))
        lo = hi
    return out
