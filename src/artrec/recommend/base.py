"""The :class:`Recommender` interface.

Recommenders work on catalogue rows. A user's *profile* is the array of rows they bought
or liked. :meth:`Recommender.score` gives a score for every catalogue row (higher is
better); :meth:`Recommender.rank` turns scores into top-k lists with the consumed and
unavailable items removed, ties broken by row (lower row first), and an explanation per
recommended item: the profile row that contributed most, or ``-1`` when the recommender
has none (the baselines).

Raw ids are mapped to rows at the edges (:class:`artrec.data.Catalog.rows_of`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from artrec.data.catalog import Catalog, Interactions
from artrec.errors import DataError
from artrec.ranking import clamp_k, has_nan, top_k
from artrec.recommend import reasons as R

#: Users scored at once by the generic :meth:`Recommender.rank`, to bound memory.
DEFAULT_CHUNK = 256


@dataclass(frozen=True)
class TrainData:
    """What a recommender is fitted on, all aligned to catalogue rows.

    The training events are given column-wise: ``interactions_rows[e]`` is the catalogue
    row of event ``e``, and, when the log is known per user, ``users[e]`` its user index
    (``0 .. n_users - 1``, raw ids in ``user_ids``), ``timestamps[e]`` its time and
    ``kinds[e]`` its kind. Content-only recommenders use none of them.

    Parameters
    ----------
    n_items
        Number of catalogue rows.
    vectors
        ``(n_items, dim)`` embedding, or ``None`` for recommenders that need none.
    interactions_rows
        Catalogue rows of all training events (for popularity); may repeat.
    artists
        Artist per row (``None`` where unknown), or ``None`` when the catalogue has no artists.
    available
        Boolean mask of rows that may be recommended (in stock). ``None`` means all.
    users
        ``(n_events,)`` user index of each training event, or ``None`` when unknown.
    user_ids
        ``(n_users,)`` raw user id of each user index (``None`` when ``users`` is).
    timestamps
        ``(n_events,)`` seconds since the epoch (NaN where unknown), or ``None``.
    kinds
        ``(n_events,)`` event kind (``"purchase"``, ``"like"``, ...), or ``None``.
    metadata
        Catalogue metadata columns by name (``artist``, ``medium``, ``century``,
        ``museum``, ...), one value per row (``None`` where missing).
    now
        The moment the data stands at, in seconds since the epoch: time-aware models
        measure ages from it. ``None`` means the latest training timestamp.
    """

    n_items: int
    vectors: np.ndarray | None = None
    interactions_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    artists: np.ndarray | None = None
    available: np.ndarray | None = None
    users: np.ndarray | None = None
    user_ids: np.ndarray | None = None
    timestamps: np.ndarray | None = None
    kinds: np.ndarray | None = None
    metadata: Mapping[str, np.ndarray] = field(default_factory=dict)
    now: float | None = None

    def __post_init__(self) -> None:
        if self.vectors is not None and self.vectors.shape[0] != self.n_items:
            raise DataError(f"embedding has {self.vectors.shape[0]} rows for {self.n_items} items")
        if self.artists is not None and len(self.artists) != self.n_items:
            raise DataError(f"artists has {len(self.artists)} values for {self.n_items} items")
        if self.available is not None and len(self.available) != self.n_items:
            raise DataError(f"available has {len(self.available)} values for {self.n_items} items")
        rows = np.asarray(self.interactions_rows, dtype=np.int64).reshape(-1)
        if rows.size and (rows.min() < 0 or rows.max() >= self.n_items):
            raise DataError(f"interaction rows must lie in 0..{self.n_items - 1}")
        object.__setattr__(self, "interactions_rows", rows)
        n_events = len(rows)
        for label in ("users", "timestamps", "kinds"):
            col = getattr(self, label)
            if col is not None and len(col) != n_events:
                raise DataError(f"{label} has {len(col)} values for {n_events} training events")
        if (self.users is None) != (self.user_ids is None):
            raise DataError("users and user_ids go together")
        if self.users is not None and self.user_ids is not None:
            users = np.asarray(self.users, dtype=np.int64).reshape(-1)
            if users.size and (users.min() < 0 or users.max() >= len(self.user_ids)):
                raise DataError(f"user indexes must lie in 0..{len(self.user_ids) - 1}")
            object.__setattr__(self, "users", users)
        for name, col in self.metadata.items():
            if len(col) != self.n_items:
                raise DataError(f"metadata {name!r} has {len(col)} values for {self.n_items} items")

    @property
    def n_users(self) -> int:
        """Number of users in the training log (0 when it is not known per user)."""
        return 0 if self.user_ids is None else len(self.user_ids)

    @property
    def reference_time(self) -> float | None:
        """:attr:`now`, or the latest known training timestamp, or ``None``."""
        if self.now is not None:
            return float(self.now)
        if self.timestamps is None or not len(self.timestamps):
            return None
        ts = np.asarray(self.timestamps, dtype=np.float64)
        return float(np.nanmax(ts)) if np.isfinite(ts).any() else None

    def user_items(self, *, binary: bool = True) -> sp.csr_matrix:
        """The ``(n_users, n_items)`` user-item matrix of the training events (float32).

        With ``binary`` an entry is 1 where the user has any event on the item; otherwise
        it counts the events. Raises :class:`DataError` when the log is not known per user.
        """
        if self.users is None:
            raise DataError("the training data has no per-user log")
        ones = np.ones(len(self.interactions_rows), dtype=np.float32)
        mat = sp.csr_matrix(
            (ones, (self.users, self.interactions_rows)), shape=(self.n_users, self.n_items)
        )
        mat.sum_duplicates()
        if binary:
            mat.data[:] = 1.0
        return mat

    def profiles(self) -> list[np.ndarray]:
        """Distinct catalogue rows of each user's training events, in time order (log order
        for equal or unknown times). Raises :class:`DataError` without a per-user log."""
        if self.users is None:
            raise DataError("the training data has no per-user log")
        ts = (
            np.zeros(len(self.users))
            if self.timestamps is None
            else np.nan_to_num(np.asarray(self.timestamps, np.float64), nan=-np.inf)
        )
        order = np.lexsort((np.arange(len(self.users)), ts, self.users))
        out: list[list[int]] = [[] for _ in range(self.n_users)]
        for e in order.tolist():
            out[int(self.users[e])].append(int(self.interactions_rows[e]))
        return [np.asarray(list(dict.fromkeys(r)), dtype=np.int64) for r in out]


def train_data_from(
    catalog: Catalog,
    events: Interactions,
    *,
    vectors: np.ndarray | None = None,
    available: np.ndarray | None = None,
    now: float | None = None,
) -> TrainData:
    """The :class:`TrainData` for fitting on ``events`` over ``catalog``.

    Events whose item is not in the catalogue are left out. Users are numbered in order of
    first appearance in ``events``. Every catalogue metadata column is passed on, with the
    artist column normalised as :meth:`Catalog.artists` does (unknown artists are ``None``).
    """
    rows = catalog.rows_of(events.item_ids, missing="mark")
    keep = rows >= 0
    users = events.user_ids[keep]
    user_ids = np.asarray(list(dict.fromkeys(users.tolist())), dtype=object)
    index = {u: i for i, u in enumerate(user_ids.tolist())}
    user_rows = np.fromiter((index[u] for u in users.tolist()), dtype=np.int64, count=len(users))
    artists = catalog.artists()
    metadata = dict(catalog.metadata)
    if artists is not None:
        metadata["artist"] = artists
    return TrainData(
        n_items=catalog.n_items,
        vectors=vectors,
        interactions_rows=rows[keep],
        artists=artists,
        available=available,
        users=user_rows,
        user_ids=user_ids,
        timestamps=np.asarray(events.timestamps, dtype=np.float64)[keep],
        kinds=np.asarray(events.kinds, dtype=object)[keep],
        metadata=metadata,
        now=now,
    )


@dataclass(frozen=True)
class Ranking:
    """Top-k lists for a batch of profiles.

    ``rows``, ``scores`` and ``because`` are ``(n_profiles, k)`` arrays. Lists shorter than
    ``k`` are padded with row ``-1`` and score ``-inf``. ``because`` holds the profile row
    that contributed most to each recommendation, or ``-1``. ``reasons`` holds a reason
    code per recommended row (:mod:`artrec.recommend.reasons`; ``""`` for padding and where
    there is none); :func:`artrec.recommend.reasons.reason_text` turns it into a sentence.
    """

    rows: np.ndarray
    scores: np.ndarray
    because: np.ndarray
    reasons: np.ndarray | None = None


class Recommender(ABC):
    """A recommender over catalogue rows. ``__init__`` stores parameters; :meth:`fit` does the work."""

    #: Short name used in tables and the CLI.
    name: str = "recommender"
    #: Profiles scored at once by :meth:`rank` (bounds memory to ``chunk_size * n_items``).
    chunk_size: int = DEFAULT_CHUNK

    #: Reason code of this model's recommendations (:mod:`artrec.recommend.reasons`). When
    #: empty, a recommendation with a ``because`` row is given :data:`~artrec.recommend.
    #: reasons.SIMILAR` ("because you bought X") and one without has no reason.
    reason: ClassVar[str] = R.NONE

    @abstractmethod
    def fit(self, data: TrainData) -> Recommender:
        """Learn from ``data``; returns self."""

    @abstractmethod
    def score(self, profiles: Sequence[np.ndarray]) -> np.ndarray:
        """Scores of every catalogue row for each profile: ``(len(profiles), n_items)``, higher is better."""

    def explain(self, profiles: Sequence[np.ndarray], rows: np.ndarray) -> np.ndarray:
        """For each profile and each of its recommended ``rows`` (``(n, k)``), the profile row
        that contributed most (``-1`` where there is none). Default: no explanations."""
        return np.full(rows.shape, -1, dtype=np.int64)

    def explain_reasons(
        self, profiles: Sequence[np.ndarray], rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`explain` plus a reason code per recommended row: ``(because, codes)``.

        Default: the model's :attr:`reason` for every row, or, when that is empty,
        :data:`~artrec.recommend.reasons.SIMILAR` where there is a ``because`` row. Models
        whose reason differs per row (metadata affinity, the hybrid) override this.
        """
        rows = np.asarray(rows, dtype=np.int64)
        because = np.where(rows >= 0, self.explain(profiles, rows), -1)
        codes = np.full(rows.shape, self.reason, dtype=object)
        if not self.reason:
            codes[because >= 0] = R.SIMILAR
        codes[rows < 0] = R.NONE
        return because, codes

    def rank(
        self,
        profiles: Sequence[np.ndarray],
        k: int = 10,
        *,
        exclude: Sequence[np.ndarray] | None = None,
        available: np.ndarray | None = None,
        chunk_size: int | None = None,
    ) -> Ranking:
        """Top-k rows for each profile.

        Parameters
        ----------
        profiles
            One int array of catalogue rows per user.
        k
            List length (>= 1); clamped to the number of catalogue items (known from the
            fitted data or from ``available``).
        exclude
            Rows to leave out per profile; defaults to the profile itself (consumed items).
        available
            Boolean mask of rows that may be recommended; defaults to the fitted one.
        chunk_size
            Profiles scored at once (default: the recommender's ``chunk_size``).
        """
        exclude = profiles if exclude is None else exclude
        if len(exclude) != len(profiles):
            raise DataError("exclude must have one entry per profile")
        mask = self._available() if available is None else np.asarray(available, bool)
        data: TrainData | None = getattr(self, "data_", None)
        n_items = data.n_items if data is not None else None if mask is None else len(mask)
        k = clamp_k(k, n_items)  # a list is never wider than the catalogue
        chunk_size = self.chunk_size if chunk_size is None else chunk_size
        n = len(profiles)
        rows_out = np.full((n, k), -1, dtype=np.int64)
        scores_out = np.full((n, k), -np.inf, dtype=np.float64)
        for start in range(0, n, chunk_size):
            stop = min(n, start + chunk_size)
            scores = self._writable_scores(profiles[start:stop])
            if has_nan(scores):
                scores[np.isnan(scores)] = -np.inf
            if mask is not None:
                scores[:, ~mask] = -np.inf
            excluded = [np.asarray(ex, dtype=np.int64).reshape(-1) for ex in exclude[start:stop]]
            sizes = [len(ex) for ex in excluded]
            if sum(sizes):
                owner = np.repeat(np.arange(len(excluded)), sizes)
                scores[owner, np.concatenate(excluded)] = -np.inf
            top_rows, top_scores = top_k(scores, k)
            rows_out[start:stop] = top_rows
            scores_out[start:stop] = top_scores
        because, codes = self.explain_reasons(profiles, rows_out)
        because = np.where(rows_out >= 0, because, -1)
        return Ranking(rows_out, scores_out, because, codes)

    def _writable_scores(self, profiles: Sequence[np.ndarray]) -> np.ndarray:
        """:meth:`score` as a float64 (or float32) array that :meth:`rank` may overwrite
        (exclusions are written into it). Default: a float64 copy; a recommender whose
        ``score`` always returns a new float64 array may return it as it is, and one whose
        scores are float32 values (float32 products) may return them unconverted: the
        conversion to float64 is exact, so the lists and their scores are the same."""
        return np.array(self.score(profiles), dtype=np.float64)

    def _available(self) -> np.ndarray | None:
        data: TrainData | None = getattr(self, "data_", None)
        return None if data is None else data.available


def check_profiles(
    profiles: Sequence[np.ndarray], n_items: int, what: str = "profile"
) -> list[np.ndarray]:
    """``profiles`` as 1-D int64 row arrays; :class:`DataError` for a row outside the catalogue."""
    out = []
    for j, p in enumerate(profiles):
        rows = np.asarray(p, dtype=np.int64).reshape(-1)
        if rows.size and (rows.min() < 0 or rows.max() >= n_items):
            raise DataError(f"{what} {j} holds a row outside 0..{n_items - 1}")
        out.append(rows)
    return out


def best_profile_rows(
    vectors: np.ndarray, profiles: Sequence[np.ndarray], rows: np.ndarray, block: int = 256
) -> np.ndarray:
    """For each recommended row, the profile row whose ``vectors`` row has the largest inner
    product with its own (the first in profile order on ties; ``-1`` for padding rows and
    empty profiles): the explanation of the inner-product recommenders.

    ``rows`` is ``(len(profiles), k)``; profiles are valid row arrays. Users go in blocks
    of ``block``, each block's (recommended item x profile item) products as one batched
    matrix product over the profiles padded to the block's longest one.
    """
    rows = np.asarray(rows, dtype=np.int64)
    out = np.full(rows.shape, -1, dtype=np.int64)
    sizes = np.array([len(p) for p in profiles], dtype=np.int64)
    for lo in range(0, rows.shape[0], block):
        hi = min(rows.shape[0], lo + block)
        width = int(sizes[lo:hi].max(initial=0))
        if width == 0:
            continue
        padded = np.zeros((hi - lo, width), dtype=np.int64)
        valid = np.arange(width)[None, :] < sizes[lo:hi, None]
        padded[valid] = np.concatenate([np.asarray(p, dtype=np.int64) for p in profiles[lo:hi]])
        recs = vectors[np.maximum(rows[lo:hi], 0)]  # (users, k, dim)
        profs = vectors[padded]  # (users, width, dim)
        sims = np.matmul(recs, profs.transpose(0, 2, 1))  # (users, k, width)
        sims[~np.broadcast_to(valid[:, None, :], sims.shape)] = -np.inf
        best = np.argmax(sims, axis=2)  # the first profile entry on ties
        because = np.take_along_axis(padded, best, axis=1)
        keep = (rows[lo:hi] >= 0) & (sizes[lo:hi, None] > 0)
        out[lo:hi] = np.where(keep, because, -1)
    return out
