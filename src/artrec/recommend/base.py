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
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from artrec.errors import DataError
from artrec.ranking import top_k

#: Users scored at once by the generic :meth:`Recommender.rank`, to bound memory.
DEFAULT_CHUNK = 256


@dataclass(frozen=True)
class TrainData:
    """What a recommender is fitted on, all aligned to catalogue rows.

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
    """

    n_items: int
    vectors: np.ndarray | None = None
    interactions_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    artists: np.ndarray | None = None
    available: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.vectors is not None and self.vectors.shape[0] != self.n_items:
            raise DataError(f"embedding has {self.vectors.shape[0]} rows for {self.n_items} items")
        if self.artists is not None and len(self.artists) != self.n_items:
            raise DataError(f"artists has {len(self.artists)} values for {self.n_items} items")
        if self.available is not None and len(self.available) != self.n_items:
            raise DataError(f"available has {len(self.available)} values for {self.n_items} items")


@dataclass(frozen=True)
class Ranking:
    """Top-k lists for a batch of profiles.

    ``rows``, ``scores`` and ``because`` are ``(n_profiles, k)`` arrays. Lists shorter than
    ``k`` are padded with row ``-1`` and score ``-inf``. ``because`` holds the profile row
    that contributed most to each recommendation, or ``-1``.
    """

    rows: np.ndarray
    scores: np.ndarray
    because: np.ndarray


class Recommender(ABC):
    """A recommender over catalogue rows. ``__init__`` stores parameters; :meth:`fit` does the work."""

    #: Short name used in tables and the CLI.
    name: str = "recommender"

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

    def rank(
        self,
        profiles: Sequence[np.ndarray],
        k: int = 10,
        *,
        exclude: Sequence[np.ndarray] | None = None,
        available: np.ndarray | None = None,
        chunk_size: int = DEFAULT_CHUNK,
    ) -> Ranking:
        """Top-k rows for each profile.

        Parameters
        ----------
        profiles
            One int array of catalogue rows per user.
        k
            List length (>= 1).
        exclude
            Rows to leave out per profile; defaults to the profile itself (consumed items).
        available
            Boolean mask of rows that may be recommended; defaults to the fitted one.
        chunk_size
            Profiles scored at once; bounds memory to ``chunk_size * n_items`` floats.
        """
        if k < 1:
            raise DataError(f"k must be >= 1, got {k}")
        exclude = profiles if exclude is None else exclude
        if len(exclude) != len(profiles):
            raise DataError("exclude must have one entry per profile")
        mask = self._available() if available is None else np.asarray(available, bool)
        n = len(profiles)
        rows_out = np.full((n, k), -1, dtype=np.int64)
        scores_out = np.full((n, k), -np.inf, dtype=np.float64)
        for start in range(0, n, chunk_size):
            stop = min(n, start + chunk_size)
            scores = np.asarray(self.score(profiles[start:stop]), dtype=np.float64)
            scores = np.where(np.isnan(scores), -np.inf, scores)
            if mask is not None:
                scores[:, ~mask] = -np.inf
            for j, ex in enumerate(exclude[start:stop]):
                if len(ex):
                    scores[j, np.asarray(ex, dtype=np.int64)] = -np.inf
            top_rows, top_scores = top_k(scores, k)
            rows_out[start:stop] = top_rows
            scores_out[start:stop] = top_scores
        because = self.explain(profiles, rows_out)
        because = np.where(rows_out >= 0, because, -1)
        return Ranking(rows_out, scores_out, because)

    def _available(self) -> np.ndarray | None:
        data: TrainData | None = getattr(self, "data_", None)
        return None if data is None else data.available
