"""The contract every :class:`~artrec.recommend.base.Recommender` must honour.

Subclass :class:`RecommenderContract` and provide a ``recommender`` fixture that returns a
new, *unfitted* recommender (parametrise it to run the suite for several configurations)::

    class TestMine(RecommenderContract):
        explains = True          # recommendations carry a profile row as their reason
        @pytest.fixture
        def recommender(self):
            return MyRecommender()

The fixture catalogue (:func:`tiny_data`) is a "checkerboard" of 12 artworks in three
visual clusters of four (rows 0-3, 4-7, 8-11), one artist (and century) per cluster except
the last (unknown artist), uneven popularity from a per-user log of 7 users (:data:`EVENTS`),
and row 7 sold out.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from artrec.recommend.base import Recommender, TrainData
from artrec.recommend.reasons import REASONS

N_ITEMS = 12
SOLD = 7


def tiny_vectors() -> np.ndarray:
    """Three tight clusters around 10 * e_0, 10 * e_1 and 10 * e_2 (in 4-D), distinct items."""
    offsets = np.array(
        [[0.0, 0.3, 0.1, 0.2], [0.4, 0.0, 0.2, 0.1], [0.1, 0.2, 0.5, 0.0], [0.3, 0.1, 0.0, 0.6]]
    )
    rows = []
    for c in range(3):
        base = np.zeros(4)
        base[c] = 10.0
        rows.extend(base + offsets[j] * (1 + 0.1 * c) for j in range(4))
    return np.asarray(rows, dtype=np.float32)


#: The fixture log: (row, user) per event, one day apart. Per-row counts: row 9 x4,
#: row 5 x3, row 2 x2, row 0 x1, row 7 x5 (sold); no other row has an event.
EVENTS: list[tuple[int, int]] = [
    (9, 0), (9, 1), (9, 2), (9, 3), (5, 0), (5, 1), (5, 2), (2, 0), (2, 1), (0, 0),
    (7, 2), (7, 3), (7, 4), (7, 5), (7, 6),
]  # fmt: skip

#: Rows with no training event: collaborative models give them no score.
UNSEEN: frozenset[int] = frozenset(set(range(12)) - {r for r, _ in EVENTS})

DAY = 86400.0


def tiny_data(*, with_artists: bool = True, with_stock: bool = True) -> TrainData:
    """The fixture catalogue as :class:`TrainData`, with its per-user training log."""
    artists = np.array(["A"] * 4 + ["B"] * 4 + [None] * 4, dtype=object)
    available = np.ones(N_ITEMS, dtype=bool)
    available[SOLD] = False
    rows = np.array([r for r, _ in EVENTS])
    users = np.array([u for _, u in EVENTS])
    metadata: dict[str, np.ndarray] = {
        "century": np.array(["19"] * 4 + ["17"] * 4 + ["20"] * 4, dtype=object),
        "medium": np.array(["oil", "oil", "tempera", "oil"] * 3, dtype=object),
        "museum": np.array(["M1", "M2"] * 6, dtype=object),
    }
    if with_artists:
        metadata["artist"] = artists
    return TrainData(
        N_ITEMS,
        vectors=tiny_vectors(),
        interactions_rows=rows,
        artists=artists if with_artists else None,
        available=available if with_stock else None,
        users=users,
        user_ids=np.array([f"u{u}" for u in range(users.max() + 1)], dtype=object),
        timestamps=1_600_000_000.0 + DAY * np.arange(len(rows), dtype=np.float64),
        kinds=np.full(len(rows), "purchase", dtype=object),
        metadata=metadata,
    )


#: Profiles used by the contract: one cluster, two clusters, a single item, a long one.
PROFILES: list[np.ndarray] = [
    np.array([0, 1]),
    np.array([4, 9]),
    np.array([10]),
    np.array([0, 1, 2, 4, 5, 8, 9]),
]


class RecommenderContract:
    """Mixin of contract tests; needs a ``recommender`` fixture (unfitted)."""

    #: True when every recommendation comes with a profile row as its explanation.
    explains: bool = False
    #: False for collaborative models: rows with no training event (:data:`UNSEEN`) get
    #: no score (NaN) and are never recommended.
    scores_every_item: bool = True

    def unscored(self) -> set[int]:
        return set() if self.scores_every_item else set(UNSEEN)

    def fitted(self, recommender: Recommender, **data_options: Any) -> Recommender:
        return recommender.fit(tiny_data(**data_options))

    def test_shapes(self, recommender: Recommender) -> None:
        rec = self.fitted(recommender)
        scores = rec.score(PROFILES)
        assert scores.shape == (len(PROFILES), N_ITEMS)
        ranking = rec.rank(PROFILES, 3)
        for arr in (ranking.rows, ranking.scores, ranking.because):
            assert arr.shape == (len(PROFILES), 3)
        assert ranking.rows.dtype == np.int64 and ranking.because.dtype == np.int64
        for prof, rows, scores in zip(PROFILES, ranking.rows, ranking.scores, strict=True):
            n_cand = len(set(range(N_ITEMS)) - set(prof.tolist()) - self.unscored() - {SOLD})
            n = min(3, n_cand)
            assert ((rows[:n] >= 0) & (rows[:n] < N_ITEMS)).all() and (rows[n:] == -1).all()
            assert np.isfinite(scores[:n]).all()
            assert (np.diff(scores[:n]) <= 0).all()

    def test_no_consumed_items(self, recommender: Recommender) -> None:
        ranking = self.fitted(recommender).rank(PROFILES, 5)
        for prof, rows in zip(PROFILES, ranking.rows, strict=True):
            assert not set(prof.tolist()) & set(rows.tolist())

    def test_extra_exclusions(self, recommender: Recommender) -> None:
        excl = [np.concatenate([p, [3, 6]]) for p in PROFILES]
        ranking = self.fitted(recommender).rank(PROFILES, 4, exclude=excl)
        for ex, rows in zip(excl, ranking.rows, strict=True):
            assert not set(ex.tolist()) & set(rows.tolist())

    def test_no_out_of_stock_items(self, recommender: Recommender) -> None:
        rec = self.fitted(recommender)
        ranking = rec.rank(PROFILES, N_ITEMS)
        assert SOLD not in ranking.rows
        # an explicit availability mask overrides the fitted one
        mask = np.ones(N_ITEMS, dtype=bool)
        mask[[3, 11]] = False
        ranking = rec.rank(PROFILES, N_ITEMS, available=mask)
        assert 3 not in ranking.rows and 11 not in ranking.rows
        assert SOLD in ranking.rows[0]  # allowed again by the explicit mask

    def test_unknown_stock_allows_everything(self, recommender: Recommender) -> None:
        ranking = self.fitted(recommender, with_stock=False).rank([np.array([0])], N_ITEMS)
        expected = sorted(set(range(1, N_ITEMS)) - self.unscored())
        assert sorted(ranking.rows[0][ranking.rows[0] >= 0].tolist()) == expected

    def test_no_score_exactly_for_unseen_items(self, recommender: Recommender) -> None:
        scores = self.fitted(recommender).score(PROFILES)
        nan_rows = set(np.flatnonzero(np.isnan(scores).any(axis=0)).tolist())
        assert nan_rows == self.unscored()
        assert np.isnan(scores[:, sorted(self.unscored())]).all()

    def test_padding_when_catalogue_is_small(self, recommender: Recommender) -> None:
        ranking = self.fitted(recommender).rank(PROFILES, 20)
        for prof, rows, scores in zip(PROFILES, ranking.rows, ranking.scores, strict=True):
            n_valid = N_ITEMS - 1 - len((set(prof.tolist()) | self.unscored()) - {SOLD})
            assert (rows[:n_valid] >= 0).all() and (rows[n_valid:] == -1).all()
            assert np.isneginf(scores[n_valid:]).all()
            assert len(set(rows[:n_valid].tolist())) == n_valid

    def test_deterministic_and_chunk_independent(self, recommender: Recommender) -> None:
        first = self.fitted(recommender).rank(PROFILES, 6, chunk_size=1)
        second = self.fitted(recommender).rank(PROFILES, 6, chunk_size=64)
        np.testing.assert_array_equal(first.rows, second.rows)
        np.testing.assert_array_equal(first.because, second.because)
        # float32 BLAS may round differently for other batch shapes
        np.testing.assert_allclose(first.scores, second.scores, rtol=1e-5, atol=1e-4)
        # one profile alone gets the list it gets in a batch
        alone = self.fitted(recommender).rank(PROFILES[2:3], 6)
        np.testing.assert_array_equal(alone.rows[0], first.rows[2])

    def test_ties_broken_by_row(self, recommender: Recommender) -> None:
        ranking = self.fitted(recommender).rank(PROFILES, N_ITEMS)
        for rows, scores in zip(ranking.rows, ranking.scores, strict=True):
            valid = rows >= 0
            r, s = rows[valid], scores[valid]
            tied = s[1:] == s[:-1]
            assert (r[1:][tied] > r[:-1][tied]).all()

    def test_explanations_are_profile_rows(self, recommender: Recommender) -> None:
        ranking = self.fitted(recommender).rank(PROFILES, 5)
        for prof, rows, because in zip(PROFILES, ranking.rows, ranking.because, strict=True):
            for r, b in zip(rows.tolist(), because.tolist(), strict=True):
                if r < 0:
                    assert b == -1
                elif self.explains:
                    assert b in prof.tolist()
                else:
                    assert b == -1 or b in prof.tolist()

    def test_empty_profile_does_not_crash(self, recommender: Recommender) -> None:
        ranking = self.fitted(recommender).rank([np.zeros(0, dtype=np.int64)], 3)
        assert ranking.rows.shape == (1, 3)
        assert (ranking.rows[0] >= 0).all() and SOLD not in ranking.rows[0]
        assert (ranking.because == -1).all()

    def test_reasons_are_known_codes(self, recommender: Recommender) -> None:
        ranking = self.fitted(recommender).rank([*PROFILES, np.zeros(0, np.int64)], 6)
        assert ranking.reasons is not None and ranking.reasons.shape == ranking.rows.shape
        for row, code in zip(ranking.rows.ravel(), ranking.reasons.ravel(), strict=True):
            assert code in REASONS
            if row < 0:
                assert code == ""

    def test_has_a_name(self, recommender: Recommender) -> None:
        assert isinstance(recommender.name, str) and recommender.name != "recommender"
