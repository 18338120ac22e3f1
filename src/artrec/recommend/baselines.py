"""Non-visual baselines: random, most popular and favourite artist.

Time-aware popularity lives in :mod:`artrec.recommend.popularity`; the favourite-artist
baseline is a special case of metadata affinity (:mod:`artrec.recommend.metadata`).

They share :class:`~artrec.recommend.base.Recommender`'s contract, so the evaluator and
the CLI treat them like VisRank. None of them uses the item vectors.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from artrec.errors import DataError, short_repr
from artrec.recommend import reasons as R
from artrec.recommend.base import Recommender, TrainData
from artrec.recommend.metadata import MetadataAffinityRecommender
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
        """Remember the catalogue size and stock; returns self.

        Raises :class:`DataError` unless ``seed`` is an integer in [0, 2**64).
        """
        seed = self.seed
        if (
            isinstance(seed, bool)
            or not isinstance(seed, (int, np.integer))
            or not 0 <= seed < 2**64
        ):
            raise DataError(f"seed must be an integer from 0 to 2**64 - 1, got {short_repr(seed)}")
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
    reason = R.POPULAR

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


class FavouriteArtistRecommender(MetadataAffinityRecommender):
    """Works by the artists the user already collects, most collected artist first.

    ``score(i) = (number of profile items whose artist is i's artist) + pop(i) / (max pop + 1)``,
    so items are ordered by the artist count and, among equal counts, by popularity (the
    second term is always below 1). Unknown artists (``None``) never match. The explanation
    of a recommendation is the first profile item by the same artist, or ``-1``.

    It is metadata affinity (:mod:`artrec.recommend.metadata`) on the artist alone, in
    ``count`` mode, with popularity weight 1.

    Raises
    ------
    DataError
        From :meth:`fit` when the training data has no artists.
    """

    kind = "artist"

    def __init__(self) -> None:
        super().__init__({"artist": 1.0}, smoothing=0.0, mode="count", popularity_weight=1.0)
        self.name = "artist"

    def fit(self, data: TrainData) -> FavouriteArtistRecommender:
        """Encode the artists and count popularity; returns self."""
        if data.artists is None:
            raise DataError(
                "the favourite-artist baseline needs artists, and the catalogue has none"
            )
        super().fit(data)
        return self

    @classmethod
    def from_state(
        cls, params: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
    ) -> FavouriteArtistRecommender:
        """The fitted baseline rebuilt from its saved state."""
        rec = cls()
        codes = np.asarray(arrays["codes"], dtype=np.int64)
        rec._set(list(params["fields"]), codes, np.asarray(arrays["popularity"], np.float64))
        rec.data_ = TrainData(codes.shape[1])
        return rec
