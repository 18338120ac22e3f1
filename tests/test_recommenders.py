"""Every recommender runs the shared contract; plus known answers and slow references."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from artrec.errors import DataError
from artrec.recommend.base import Recommender, TrainData
from artrec.recommend.baselines import (
    FavouriteArtistRecommender,
    PopularRecommender,
    RandomRecommender,
)
from artrec.recommend.rerank import mmr
from artrec.recommend.visrank import AGGREGATIONS, VisRankRecommender
from artrec.similarity import METRICS
from contracts.recommender_contract import (
    N_ITEMS,
    PROFILES,
    SOLD,
    RecommenderContract,
    tiny_data,
    tiny_vectors,
)

CONFIGS = [(m, a) for m in METRICS for a in AGGREGATIONS]


class TestVisRank(RecommenderContract):
    explains = True

    @pytest.fixture(params=CONFIGS, ids=[f"{m}-{a}" for m, a in CONFIGS])
    def recommender(self, request: pytest.FixtureRequest) -> Recommender:
        metric, aggregation = request.param
        return VisRankRecommender(metric, aggregation, m=2, max_block=7)

    def test_same_cluster_first(self, recommender: Recommender) -> None:
        """A profile inside one cluster gets the rest of that cluster first, whatever the
        metric and aggregation."""
        ranking = self.fitted(recommender).rank([np.array([0, 1]), np.array([8])], 3)
        assert set(ranking.rows[0, :2].tolist()) == {2, 3}
        assert set(ranking.rows[1].tolist()) == {9, 10, 11}


class TestVisRankFloat32(RecommenderContract):
    explains = True

    @pytest.fixture(params=["cosine", "euclidean"])
    def recommender(self, request: pytest.FixtureRequest) -> Recommender:
        return VisRankRecommender(request.param, "topm_mean", dtype="float32")


class TestRandom(RecommenderContract):
    @pytest.fixture
    def recommender(self) -> Recommender:
        return RandomRecommender(seed=3)


class TestPopular(RecommenderContract):
    @pytest.fixture
    def recommender(self) -> Recommender:
        return PopularRecommender()


class TestFavouriteArtist(RecommenderContract):
    @pytest.fixture
    def recommender(self) -> Recommender:
        return FavouriteArtistRecommender()


# -- VisRank against a slow, obvious reference -------------------------------------------------
_SCIPY = {
    "cosine": "cosine",
    "correlation": "correlation",
    "euclidean": "euclidean",
    "manhattan": "cityblock",
    "chebyshev": "chebyshev",
}


def slow_scores(
    vectors: np.ndarray, profile: list[int], metric: str, agg: str, m: int
) -> list[float]:
    """Item by item, profile item by profile item, with SciPy's distance functions."""
    from scipy.spatial import distance

    out = []
    for i in range(len(vectors)):
        sims, dists = [], []
        for p in profile:
            a, b = vectors[i].astype(np.float64), vectors[p].astype(np.float64)
            if metric == "dot":
                sim = float(np.dot(a, b))
                dist = -sim
            else:
                d = float(getattr(distance, _SCIPY[metric])(a, b))
                if np.isnan(d):
                    d = 1.0  # no direction: similarity 0
                sim = 1.0 - d if metric in ("cosine", "correlation") else -d
                dist = d
            sims.append(sim)
            dists.append(dist)
        if agg == "sum_distance":
            out.append(-sum(dists))
        elif agg == "sum":
            out.append(sum(sims))
        elif agg == "mean":
            out.append(sum(sims) / len(sims))
        elif agg == "max":
            out.append(max(sims))
        else:
            top = sorted(sims, reverse=True)[:m]
            out.append(sum(top) / len(top))
    return out


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # SciPy, 0/0
@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("aggregation", AGGREGATIONS)
def test_visrank_equals_slow_reference(metric: str, aggregation: str) -> None:
    rng = np.random.default_rng(11)
    vectors = rng.normal(size=(60, 5))
    vectors[13] = 0.0  # a vector with no direction
    vectors[14] = 2.5  # a constant vector (no correlation)
    profiles = [rng.choice(60, size=int(rng.integers(1, 7)), replace=False) for _ in range(9)]
    profiles.append(np.array([13, 14]))
    rec = VisRankRecommender(metric, aggregation, m=3, max_block=50).fit(TrainData(60, vectors))
    scores = rec.score(profiles)
    ranking = rec.rank(profiles, 8)
    for j, prof in enumerate(profiles):
        ref = slow_scores(vectors, prof.tolist(), metric, aggregation, 3)
        np.testing.assert_allclose(scores[j], ref, rtol=1e-9, atol=1e-6)
        # the reference list: sort by score descending, stable (ties by row), skip consumed
        order = sorted(range(60), key=lambda i: -ref[i])
        expected = [i for i in order if i not in set(prof.tolist())][:8]
        assert ranking.rows[j].tolist() == expected
        # explanation: the profile item with the highest similarity (first on ties)
        for r, b in zip(ranking.rows[j].tolist(), ranking.because[j].tolist(), strict=True):
            per = [slow_scores(vectors[[r, p]], [1], metric, "sum", 1)[0] for p in prof.tolist()]
            assert b == prof[int(np.argmax(per))]


def test_sum_distance_is_minus_the_notebook_sum_of_cosine_distances() -> None:
    """Hand-computed: items (1,0), (0,1), (1,1); profile = item 0."""
    v = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    rec = VisRankRecommender("cosine", "sum_distance").fit(TrainData(3, v))
    np.testing.assert_allclose(rec.score([np.array([0])])[0], [0.0, -1.0, -(1 - 1 / np.sqrt(2))])
    same = VisRankRecommender("cosine", "sum").fit(TrainData(3, v)).score([np.array([0, 2])])[0]
    dist = rec.score([np.array([0, 2])])[0]
    np.testing.assert_allclose(dist, same - 2)  # sum_distance = sum(sim) - |P|
    ranking = rec.rank([np.array([0])], 2)
    assert ranking.rows[0].tolist() == [2, 1] and ranking.because[0].tolist() == [0, 0]


def test_topm_mean_known_answer() -> None:
    """1-D dot products: item 0 against profile values 1, 2, 3, 4 -> top-2 mean = 3.5 * x."""
    v = np.array([[2.0], [1.0], [2.0], [3.0], [4.0]])
    rec = VisRankRecommender("dot", "topm_mean", m=2).fit(TrainData(5, v))
    got = rec.score([np.array([1, 2, 3, 4])])[0]
    np.testing.assert_allclose(got, 3.5 * v[:, 0])
    rec_max = VisRankRecommender("dot", "max").fit(TrainData(5, v))
    np.testing.assert_allclose(rec_max.score([np.array([1, 2])])[0], 2.0 * v[:, 0])


def test_visrank_rejects_bad_configuration() -> None:
    data = tiny_data()
    with pytest.raises(DataError, match="unknown aggregation 'median'"):
        VisRankRecommender(aggregation="median").fit(data)
    with pytest.raises(DataError, match="unknown metric"):
        VisRankRecommender(metric="hamming").fit(data)
    with pytest.raises(DataError, match="m must be"):
        VisRankRecommender(aggregation="topm_mean", m=0).fit(data)
    with pytest.raises(DataError, match="vectors"):
        VisRankRecommender().fit(TrainData(3))
    bad = tiny_vectors()
    bad[4, 1] = np.nan
    with pytest.raises(DataError, match="row 4"):
        VisRankRecommender().fit(TrainData(N_ITEMS, bad))
    with pytest.raises(DataError, match="outside"):
        VisRankRecommender().fit(data).score([np.array([0, 99])])
    with pytest.raises(DataError, match="fit"):
        VisRankRecommender().score([np.array([0])])


# -- baselines: known answers ------------------------------------------------------------------
def test_popular_known_answer() -> None:
    rec = PopularRecommender().fit(tiny_data())
    ranking = rec.rank([np.array([0]), np.array([9])], 4)
    # counts: 7 (sold) 5, 9 4, 5 3, 2 2, 0 1, others 0 (ties by row)
    assert ranking.rows[0].tolist() == [9, 5, 2, 1]
    assert ranking.rows[1].tolist() == [5, 2, 0, 1]
    np.testing.assert_allclose(ranking.scores[0], [4, 3, 2, 0])


def test_random_is_seeded_and_varied() -> None:
    a = RandomRecommender(seed=1).fit(tiny_data()).rank(PROFILES, 5)
    b = RandomRecommender(seed=1).fit(tiny_data()).rank(PROFILES, 5)
    c = RandomRecommender(seed=2).fit(tiny_data()).rank(PROFILES, 5)
    np.testing.assert_array_equal(a.rows, b.rows)
    assert not np.array_equal(a.rows, c.rows)
    # roughly uniform: over many seeds every available item is first now and then
    firsts = {
        int(RandomRecommender(seed=s).fit(tiny_data()).rank([np.array([0])], 1).rows[0, 0])
        for s in range(200)
    }
    assert firsts == set(range(1, N_ITEMS)) - {SOLD}


def test_favourite_artist_known_answer() -> None:
    rec = FavouriteArtistRecommender().fit(tiny_data())
    ranking = rec.rank([np.array([0, 1, 4]), np.array([8, 9])], 6)
    # artist A x2 -> rows 2, 3 (2 is more popular); B x1 -> 5 (pop 3), 6 (7 sold);
    # then unknown-artist rows by popularity: 9 (4), then 8, 10 by row (pop 0)
    assert ranking.rows[0].tolist() == [2, 3, 5, 6, 9, 8]
    assert ranking.because[0].tolist() == [0, 0, 4, 4, -1, -1]
    # a profile with only unknown artists falls back to popularity
    assert ranking.rows[1].tolist() == [5, 2, 0, 1, 3, 4]
    assert (ranking.because[1] == -1).all()


def test_favourite_artist_needs_artists() -> None:
    with pytest.raises(DataError, match="artists"):
        FavouriteArtistRecommender().fit(tiny_data(with_artists=False))


# -- MMR ------------------------------------------------------------------------------------------
def test_mmr_lambda_one_is_relevance_order() -> None:
    v = tiny_vectors()
    rows = np.array([5, 1, 2, 9, 3])
    rel = np.array([5.0, 4.0, 3.0, 2.0, 1.0])
    assert mmr(rows, rel, v, 5, 1.0).tolist() == [5, 1, 2, 9, 3]
    assert mmr(rows, rel, v, 3, 1.0).tolist() == [5, 1, 2]


def test_mmr_diversifies_known_answer() -> None:
    """Two near-duplicates on top: with lambda 0.5 the second pick jumps to another cluster."""
    v = np.array([[1.0, 0.0], [1.0, 0.01], [0.0, 1.0]])
    rows = np.array([0, 1, 2])
    rel = np.array([1.0, 0.99, 0.5])  # scaled: 1, 0.98, 0
    # step 2: row 1 -> 0.5*0.98 - 0.5*~1.0 = -0.01; row 2 -> 0.5*0 - 0.5*0 = 0 -> row 2
    assert mmr(rows, rel, v, 3, 0.5).tolist() == [0, 2, 1]
    assert mmr(rows, rel, v, 3, 1.0).tolist() == [0, 1, 2]


def test_mmr_matches_slow_reference() -> None:
    rng = np.random.default_rng(3)
    v = rng.normal(size=(40, 6))
    rows = rng.choice(40, size=15, replace=False)
    rel = rng.normal(size=15)
    lam = 0.7
    scaled = (rel - rel.min()) / (rel.max() - rel.min())
    picked: list[int] = []
    for _ in range(8):
        best, best_val = -1, -np.inf
        for c in range(15):
            if c in picked:
                continue
            penalty = max(
                (1 - cdist(v[[rows[c]]], v[[rows[p]]], "cosine")[0, 0] for p in picked), default=0.0
            )
            val = lam * scaled[c] - (1 - lam) * penalty
            if val > best_val + 1e-12:
                best, best_val = c, val
        picked.append(best)
    assert mmr(rows, rel, v, 8, lam).tolist() == rows[picked].tolist()


def test_mmr_rejects_bad_input() -> None:
    v = tiny_vectors()
    with pytest.raises(DataError, match="lambda"):
        mmr(np.array([0, 1]), np.array([1.0, 0.0]), v, 2, 1.5)
    with pytest.raises(DataError, match="relevance"):
        mmr(np.array([0, 1]), np.array([1.0]), v, 2, 0.5)
    with pytest.raises(DataError, match="finite"):
        mmr(np.array([0, 1]), np.array([1.0, np.nan]), v, 2, 0.5)
    assert mmr(np.array([], dtype=np.int64), np.array([]), v, 3, 0.5).tolist() == []
