"""Non-visual baselines: random, most popular and favourite artist.

They share :class:`~artrec.recommend.base.Recommender`'s contract, so the evaluator and
the CLI treat them like VisRank. None of them uses the item vectors.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from artrec.errors import DataError
from artrec.recommend.base import Recommender, TrainData
from artrec.recommend.store import SavableRecommender


def _popularity(data: TrainData) -> np.ndarray:
    return np.bincount(data.interactions_rows, minlength=data.n_items).astype(np.float64)


def _check_fitted(rec: Recommender) -> TrainData:
    data: TrainData | None = getattr(rec, "data_", None)
    if data is None:
        raise DataError(f"{type(rec).__name__} is not fitted: call fit() first")
    return data


class RandomRecommender(Recommender):
    """Uniformly random scores, reproducible from ``seed``.

    Each profile's scores come from a generator seeded with ``seed`` and the profile's own
    rows, so a profile gets the same list whatever the batch or chunk it is scored in, and
    the same seed gives the same lists run after run.

    Parameters
    ----------
    seed
        Seed of the random streams.
    """

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def fit(self, data: TrainData) -> RandomRecommender:
        """Remember the catalogue size and stock; returns self."""
        self.data_ = data
        return self

    def score(self, profiles: Sequence[np.ndarray]) -> np.ndarray:
        """Random scores in [0, 1) for every row, one independent stream per profile."""
        data = _check_fitted(self)
        out = np.empty((len(profiles), data.n_items), dtype=np.float64)
        for j, p in enumerate(profiles):
            rows = np.ascontiguousarray(np.asarray(p, dtype=np.int64).reshape(-1))
            key = zlib.crc32(rows.tobytes())
            rng = np.random.default_rng([int(self.seed), len(rows), key])
            out[j] = rng.random(data.n_items)
        return out


class PopularRecommender(SavableRecommender):
    """Most bought/liked items first: the number of training events per item.

    Ties (equal counts) go to the lower row, as everywhere in artrec.
    """

    name = "popular"
    kind = "popular"

    def fit(self, data: TrainData) -> PopularRecommender:
        """Count the training events per row; returns self."""
        self.popularity_ = _popularity(data)
        self.data_ = data
        return self

    def score(self, profiles: Sequence[np.ndarray]) -> np.ndarray:
        """The event count of every row, the same for every profile."""
        _check_fitted(self)
        return np.tile(self.popularity_, (len(profiles), 1))

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """No parameters; the counts per row."""
        _check_fitted(self)
        return {}, {"popularity": self.popularity_}

    @classmethod
    def from_state(
        cls, params: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
    ) -> PopularRecommender:
        """The fitted recommender with the saved counts."""
        rec = cls()
        rec.popularity_ = np.asarray(arrays["popularity"], dtype=np.float64)
        rec.data_ = TrainData(len(rec.popularity_))
        return rec


class FavouriteArtistRecommender(Recommender):
    """Works by the artists the user already collects, most collected artist first.

    ``score(i) = (number of profile items whose artist is i's artist) + pop(i) / (max pop + 1)``,
    so items are ordered by the artist count and, among equal counts, by popularity (the
    second term is always below 1). Unknown artists (``None``) never match. The explanation
    of a recommendation is the first profile item by the same artist, or ``-1``.

    Raises
    ------
    DataError
        From :meth:`fit` when the training data has no artists.
    """

    name = "artist"

    def fit(self, data: TrainData) -> FavouriteArtistRecommender:
        """Encode the artists and count popularity; returns self."""
        if data.artists is None:
            raise DataError(
                "the favourite-artist baseline needs artists, and the catalogue has none"
            )
        codes = np.full(data.n_items, -1, dtype=np.int64)
        lookup: dict[str, int] = {}
        for row, artist in enumerate(np.asarray(data.artists, dtype=object).tolist()):
            if artist is None:
                continue
            codes[row] = lookup.setdefault(str(artist), len(lookup))
        self.artist_codes_ = codes
        self.n_artists_ = len(lookup)
        pop = _popularity(data)
        self.tiebreak_ = pop / (pop.max(initial=0.0) + 1.0)
        self.data_ = data
        return self

    def score(self, profiles: Sequence[np.ndarray]) -> np.ndarray:
        """Artist-match counts plus the popularity tie-break, for every row."""
        _check_fitted(self)
        codes = self.artist_codes_
        known = codes >= 0
        out = np.tile(self.tiebreak_, (len(profiles), 1))
        for j, p in enumerate(profiles):
            pc = codes[np.asarray(p, dtype=np.int64).reshape(-1)]
            pc = pc[pc >= 0]
            if not pc.size:
                continue
            counts = np.bincount(pc, minlength=self.n_artists_).astype(np.float64)
            out[j, known] += counts[codes[known]]
        return out

    def explain(self, profiles: Sequence[np.ndarray], rows: np.ndarray) -> np.ndarray:
        """The first profile item by the same artist as each recommended row, else ``-1``."""
        _check_fitted(self)
        codes = self.artist_codes_
        rows = np.asarray(rows, dtype=np.int64)
        out = np.full(rows.shape, -1, dtype=np.int64)
        for j, p in enumerate(profiles):
            first: dict[int, int] = {}
            for r in np.asarray(p, dtype=np.int64).reshape(-1).tolist():
                c = int(codes[r])
                if c >= 0:
                    first.setdefault(c, r)
            for t, r in enumerate(rows[j].tolist()):
                if r >= 0:
                    out[j, t] = first.get(int(codes[r]), -1)
        return out
