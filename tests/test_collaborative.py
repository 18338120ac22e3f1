"""Collaborative models, time-aware popularity, metadata affinity and the hybrid: the shared
contract, slow references on hand-made logs, equality with ``implicit``, cold start."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from artrec.errors import DataError
from artrec.recommend.base import Recommender, TrainData
from artrec.recommend.baselines import (
    FavouriteArtistRecommender,
    PopularRecommender,
    RandomRecommender,
)
from artrec.recommend.content import ContentRecommender
from artrec.recommend.ease import EASERecommender
from artrec.recommend.factors import ALSRecommender, BPRRecommender
from artrec.recommend.hybrid import HybridRecommender, normalise_per_user
from artrec.recommend.itemknn import ItemKNNRecommender
from artrec.recommend.metadata import MetadataAffinityRecommender
from artrec.recommend.popularity import TimeAwarePopularityRecommender
from artrec.recommend.store import data_fingerprint, load_model, save_model
from contracts.recommender_contract import PROFILES, RecommenderContract, tiny_data


class TestItemKNN(RecommenderContract):
    scores_every_item = False

    @pytest.fixture(params=[(200, 10.0), (1, 0.0)], ids=["n200-s10", "n1-s0"])
    def recommender(self, request: pytest.FixtureRequest) -> Recommender:
        n, s = request.param
        return ItemKNNRecommender(neighbours=n, shrinkage=s)


class TestEASE(RecommenderContract):
    scores_every_item = False

    @pytest.fixture
    def recommender(self) -> Recommender:
        return EASERecommender(lambda_=2.0)


class TestALS(RecommenderContract):
    scores_every_item = False

    @pytest.fixture
    def recommender(self) -> Recommender:
        return ALSRecommender(factors=4, iterations=5, num_threads=1)


class TestBPR(RecommenderContract):
    scores_every_item = False

    @pytest.fixture
    def recommender(self) -> Recommender:
        return BPRRecommender(factors=4, iterations=20, num_threads=1)


class TestTimeAwarePopularity(RecommenderContract):
    @pytest.fixture(params=[(30.0, None), (None, 5.0), (None, None)], ids=["hl", "win", "plain"])
    def recommender(self, request: pytest.FixtureRequest) -> Recommender:
        return TimeAwarePopularityRecommender(*request.param)


class TestMetadataAffinity(RecommenderContract):
    @pytest.fixture(params=["share", "count"])
    def recommender(self, request: pytest.FixtureRequest) -> Recommender:
        return MetadataAffinityRecommender(mode=request.param)


class TestContent(RecommenderContract):
    explains = True

    @pytest.fixture(params=["mean", "max"])
    def recommender(self, request: pytest.FixtureRequest) -> Recommender:
        return ContentRecommender(aggregation=request.param)


class TestHybrid(RecommenderContract):
    @pytest.fixture
    def recommender(self) -> Recommender:
        return HybridRecommender(
            {
                "content": ContentRecommender(),
                "knn": ItemKNNRecommender(),
                "ease": EASERecommender(lambda_=2.0),
                "popular": TimeAwarePopularityRecommender(),
                "metadata": MetadataAffinityRecommender(),
            },
            {"content": 1.0, "knn": 0.5, "ease": 0.5, "popular": 0.3, "metadata": 0.7},
        )


# -- slow references on hand-made logs --------------------------------------------------------
def _random_log(n_users: int = 25, n_items: int = 15, seed: int = 0) -> TrainData:
    rng = np.random.default_rng(seed)
    users, rows = [], []
    for u in range(n_users):
        for r in rng.choice(n_items - 2, size=int(rng.integers(1, 6)), replace=False).tolist():
            users.append(u)
            rows.append(r)  # the last two rows never have an event
    return TrainData(
        n_items,
        interactions_rows=np.array(rows),
        users=np.array(users),
        user_ids=np.array([f"u{u}" for u in range(n_users)], dtype=object),
        timestamps=np.arange(len(rows), dtype=np.float64),
    )


def _knn_reference(data: TrainData, neighbours: int, shrinkage: float) -> np.ndarray:
    """Dense W by the definition: loops over item pairs and user sets."""
    n = data.n_items
    assert data.users is not None
    have = [set() for _ in range(n)]
    for u, r in zip(data.users.tolist(), data.interactions_rows.tolist(), strict=True):
        have[r].add(u)
    sim = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            if i != j and have[i] and have[j]:
                sim[i, j] = len(have[i] & have[j]) / (
                    np.sqrt(len(have[i])) * np.sqrt(len(have[j])) + shrinkage
                )
    w = np.zeros((n, n))
    for i in range(n):
        cand = [j for j in range(n) if sim[i, j] != 0]
        cand.sort(key=lambda j: (-sim[i, j], j))
        for j in cand[:neighbours]:
            w[i, j] = sim[i, j]
    return w


@pytest.mark.parametrize(("neighbours", "shrinkage"), [(3, 0.0), (5, 2.0), (100, 10.0)])
def test_item_knn_equals_slow_reference(neighbours: int, shrinkage: float) -> None:
    data = _random_log()
    rec = ItemKNNRecommender(neighbours, shrinkage).fit(data)
    w = _knn_reference(data, neighbours, shrinkage)
    np.testing.assert_allclose(rec.similarity_.toarray(), w, rtol=1e-6, atol=1e-7)
    profiles = [np.array([0, 3]), np.array([5]), np.array([1, 2, 7, 9])]
    scores = rec.score(profiles)
    for p, s in zip(profiles, scores, strict=True):
        expected = w[p].sum(axis=0)
        seen = np.isin(np.arange(data.n_items), data.interactions_rows)
        np.testing.assert_allclose(s[seen], expected[seen], rtol=1e-5)
        assert np.isnan(s[~seen]).all()
    # the explanation is the profile item contributing most
    ranking = rec.rank(profiles, 4)
    for p, rows, because in zip(profiles, ranking.rows, ranking.because, strict=True):
        for r, b in zip(rows.tolist(), because.tolist(), strict=True):
            contrib = w[p, r]
            assert b == (p[int(np.argmax(contrib))] if contrib.max() > 0 else -1)


def _ease_reference(data: TrainData, lam: float) -> np.ndarray:
    """B column by column: ridge regression of x_j on the other items' columns."""
    x = data.user_items().toarray().astype(np.float64)
    n = x.shape[1]
    b = np.zeros((n, n))
    for j in range(n):
        others = [i for i in range(n) if i != j]
        a = x[:, others]
        coef = np.linalg.solve(a.T @ a + lam * np.eye(len(others)), a.T @ x[:, j])
        b[others, j] = coef
    return b


@pytest.mark.parametrize("lam", [0.5, 5.0, 50.0])
def test_ease_equals_column_wise_ridge_reference(lam: float) -> None:
    data = _random_log(seed=1)
    rec = EASERecommender(lam).fit(data)
    b = _ease_reference(data, lam)
    seen = rec.items_
    np.testing.assert_allclose(rec.weights_, b[np.ix_(seen, seen)], rtol=1e-4, atol=1e-6)
    profiles = [np.array([0, 4]), np.array([2, 3, 6])]
    scores = rec.score(profiles)
    for p, s in zip(profiles, scores, strict=True):
        np.testing.assert_allclose(s[seen], b[p].sum(axis=0)[seen], rtol=1e-4, atol=1e-6)
        assert np.isnan(np.delete(s, seen)).all()


def test_ease_refuses_a_catalogue_beyond_max_items() -> None:
    data = _random_log()
    with pytest.raises(DataError, match=r"EASE needs a dense 13 x 13 .*max_items=5"):
        EASERecommender(max_items=5).fit(data)


# -- equality with implicit's own results ---------------------------------------------------
def test_ials_equals_implicit_and_folds_in_with_recalculate_user() -> None:
    from implicit.cpu.als import AlternatingLeastSquares

    data = _random_log(40, 20, seed=2)
    x = data.user_items()
    rec = ALSRecommender(factors=6, regularization=0.1, alpha=3.0, iterations=8).fit(data)
    ref = AlternatingLeastSquares(
        factors=6, regularization=0.1, alpha=3.0, iterations=8, random_state=0
    )
    ref.fit(x, show_progress=False)
    np.testing.assert_allclose(rec.item_factors_, ref.item_factors, rtol=1e-5, atol=1e-6)
    profiles = [x[u].indices for u in range(x.shape[0])]
    scores = rec.score(profiles)
    ids, ref_scores = ref.recommend(
        np.arange(x.shape[0]), x, N=20, recalculate_user=True, filter_already_liked_items=False
    )
    seen = rec.seen_
    for u in range(x.shape[0]):
        keep = seen[ids[u]]
        np.testing.assert_allclose(
            scores[u, ids[u][keep]], ref_scores[u][keep], rtol=1e-4, atol=1e-5
        )
    # a training user's folded-in vector is the one ALS's last user step gives
    np.testing.assert_allclose(
        rec._user_factors(profiles), ref.recalculate_user(np.arange(x.shape[0]), x), rtol=1e-5
    )


def test_bpr_equals_implicit_and_folds_in_by_ridge() -> None:
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    data = _random_log(40, 20, seed=3)
    x = data.user_items()
    rec = BPRRecommender(factors=5, iterations=30, num_threads=1, random_state=4).fit(data)
    ref = BayesianPersonalizedRanking(
        factors=5, learning_rate=0.01, iterations=30, num_threads=1, random_state=4
    )
    ref.fit(x, show_progress=False)
    np.testing.assert_array_equal(rec.item_factors_, ref.item_factors)
    # the fold-in by its formula, computed plainly
    y = ref.item_factors[:, :-1].astype(np.float64)
    ys = y[rec.seen_]
    prof = np.array([1, 4, 6])
    a = ys.T @ ys + 0.1 * np.eye(5) + 5.0 * y[prof].T @ y[prof]
    u = np.linalg.solve(a, 6.0 * y[prof].sum(axis=0))
    expected = y @ u + ref.item_factors[:, -1]
    got = rec.score([prof])[0]
    np.testing.assert_allclose(got[rec.seen_], expected[rec.seen_], rtol=1e-5)
    # the folded-in vector scores the profile's own items high, as BPR's user vectors do
    pct = []
    for user in range(x.shape[0]):
        prof = x[user].indices
        if len(prof) >= 3:
            s = rec.score([prof])[0][rec.seen_]
            ranks = np.argsort(np.argsort(-s))
            pos = np.searchsorted(np.flatnonzero(rec.seen_), prof)
            pct.append(1.0 - ranks[pos].mean() / len(s))
    assert np.mean(pct) > 0.7


# -- popularity, metadata ------------------------------------------------------------------
def test_time_aware_popularity_known_answer() -> None:
    day = 86400.0
    data = TrainData(
        3,
        interactions_rows=np.array([0, 0, 1, 2, 2, 2]),
        timestamps=np.array([10, 10, 0, 0, 0, np.nan]) * day,
        now=10 * day,
    )
    hl = TimeAwarePopularityRecommender(half_life_days=10.0).fit(data).popularity_
    # row 0: two events of age 0; row 1: one of age 10; row 2: two of age 10 + one unknown
    # (as old as the oldest timed event, 10 days)
    np.testing.assert_allclose(hl, [2.0, 0.5, 1.5], atol=1e-8)
    win = TimeAwarePopularityRecommender(None, window_days=5.0).fit(data).popularity_
    np.testing.assert_allclose(win, [2.0, 0.0, 0.0], atol=1e-8)
    assert win[2] > win[1], "all-time counts break ties"
    plain = TimeAwarePopularityRecommender(None, None).fit(data).popularity_
    np.testing.assert_allclose(plain, [2.0, 1.0, 3.0], atol=1e-6)


def test_favourite_artist_is_metadata_affinity_on_the_artist() -> None:
    rng = np.random.default_rng(5)
    n = 60
    artists = np.array([f"a{a}" if a < 8 else None for a in rng.integers(0, 10, n)], object)
    data = TrainData(
        n,
        interactions_rows=rng.integers(0, n, 200),
        artists=artists,
        metadata={"artist": artists, "century": rng.integers(15, 20, n).astype(object)},
    )
    special = MetadataAffinityRecommender(
        {"artist": 1.0}, smoothing=0.0, mode="count", popularity_weight=1.0
    ).fit(data)
    baseline = FavouriteArtistRecommender().fit(data)
    profiles = [rng.choice(n, size=int(rng.integers(0, 6)), replace=False) for _ in range(20)]
    np.testing.assert_allclose(special.score(profiles), baseline.score(profiles))
    # and by its definition: artist-match count + pop / (max pop + 1)
    pop = np.bincount(data.interactions_rows, minlength=n)
    for p, s in zip(profiles, special.score(profiles), strict=True):
        counts = [sum(artists[q] == artists[i] for q in p) if artists[i] else 0 for i in range(n)]
        np.testing.assert_allclose(s, np.array(counts) + pop / (pop.max() + 1))


def test_metadata_reasons_name_the_matching_field() -> None:
    data = tiny_data()
    rec = MetadataAffinityRecommender().fit(data)
    ranking = rec.rank([np.array([0, 1])], 4)
    # rows 2 and 3 share the artist "A": the artist term wins
    assert set(ranking.rows[0, :2].tolist()) == {2, 3}
    assert ranking.reasons is not None and list(ranking.reasons[0, :2]) == ["artist", "artist"]
    assert set(ranking.because[0, :2].tolist()) == {0}
    # century derived from the year when there is no century column
    years = TrainData(3, metadata={"year": np.array([1850, "1899", None], dtype=object)})
    cen = MetadataAffinityRecommender({"century": 1.0}).fit(years)
    assert cen.score([np.array([0])])[0, 1] > 0 and cen.score([np.array([0])])[0, 2] == 0


@pytest.mark.parametrize("mode", ["share", "count"])
@pytest.mark.parametrize("smoothing", [0.0, 1.0])
def test_metadata_small_batches_equal_the_sparse_products_exactly(
    mode: str, smoothing: float
) -> None:
    """A serving request's few profiles are scored one at a time (bincount); the floats are
    the sparse batch path's, bit for bit (duplicates, unknown values and empty profiles
    included)."""
    from artrec.recommend.metadata import DENSE_BATCH

    rng = np.random.default_rng(7)
    n = 80
    artists = np.array([f"a{a}" if a < 9 else None for a in rng.integers(0, 12, n)], object)
    data = TrainData(
        n,
        interactions_rows=rng.integers(0, n, 300),
        artists=artists,
        metadata={
            "artist": artists,
            "century": rng.integers(15, 20, n).astype(object),
            "medium": np.array([("oil", "ink", None)[i] for i in rng.integers(0, 3, n)], object),
        },
    )
    rec = MetadataAffinityRecommender(mode=mode, smoothing=smoothing).fit(data)
    profiles = [rng.integers(0, n, size=int(rng.integers(0, 7))) for _ in range(3 * DENSE_BATCH)]
    batch = rec.score(profiles)  # more than DENSE_BATCH profiles: sparse products
    for j in range(0, len(profiles), 2):
        small = rec.score(profiles[j : j + 2])
        np.testing.assert_array_equal(small, batch[j : j + 2])


def test_metadata_needs_one_known_field() -> None:
    with pytest.raises(DataError, match="catalogue fields"):
        MetadataAffinityRecommender().fit(TrainData(3))


# -- the hybrid ------------------------------------------------------------------------------
def test_normalise_per_user_known_answer() -> None:
    scores = np.array([[1.0, 3.0, np.nan, 5.0, 9.0], [2.0, 2.0, 2.0, 2.0, 2.0]])
    out = normalise_per_user(scores, [np.array([4]), np.array([], np.int64)])
    np.testing.assert_allclose(out[0], [0.0, 0.5, 0.0, 1.0, 0.0])
    np.testing.assert_allclose(out[1], 0.0)


def _hybrid(**weights: float) -> HybridRecommender:
    sources: dict[str, Recommender] = {
        "content": ContentRecommender(),
        "knn": ItemKNNRecommender(),
        "popular": TimeAwarePopularityRecommender(),
        "metadata": MetadataAffinityRecommender(),
    }
    return HybridRecommender(sources, weights or None)


def test_hybrid_cold_start_person_gets_diversified_trending_works() -> None:
    data = tiny_data()
    rec = _hybrid().fit(data)
    empty = [np.zeros(0, np.int64)]
    np.testing.assert_allclose(
        rec.score(empty)[0],
        normalise_per_user(TimeAwarePopularityRecommender().fit(data).score(empty), empty)[0],
    )
    plain = HybridRecommender(dict(rec.sources), rec.weights, diversify=None, fit_sources=False)
    plain.data_ = data
    top = plain.rank(empty, 3)
    assert top.rows[0].tolist() == [9, 5, 2]  # by popularity (row 7 is sold)
    assert top.reasons is not None and set(top.reasons[0].tolist()) == {"trending"}
    # MMR at lambda 0: after the most popular, the works least like it; row 5 (another
    # cluster) stays, row 2 gives way to row 0's cluster-mate... every pick is a new cluster
    rec.diversify = 0.0
    div = rec.rank(empty, 3)
    clusters = {r // 4 for r in div.rows[0].tolist()}
    assert div.rows[0, 0] == 9 and len(clusters) == 3


def test_hybrid_scores_a_work_nobody_bought_through_content_and_metadata() -> None:
    data = tiny_data()
    rec = _hybrid(content=1.0, knn=1.0, popular=0.2, metadata=1.0).fit(data)
    ranking = rec.rank([np.array([0, 2])], 3)
    # rows 1 and 3 have no events (no collaborative score) but share the cluster and the artist
    assert set(ranking.rows[0, :2].tolist()) == {1, 3}
    assert ranking.reasons is not None
    assert set(ranking.reasons[0, :2].tolist()) <= {"similar", "artist"}
    assert set(ranking.because[0, :2].tolist()) <= {0, 2}


def test_hybrid_reason_is_the_source_that_contributed_most() -> None:
    data = tiny_data()
    profile = [np.array([5])]
    only_knn = _hybrid(content=0.0, knn=1.0, popular=0.0, metadata=0.0).fit(data)
    r = only_knn.rank(profile, 2)
    assert r.reasons is not None and r.reasons[0, 0] == "co_bought" and r.because[0, 0] == 5
    only_pop = _hybrid(content=0.0, knn=0.0, popular=1.0, metadata=0.0).fit(data)
    r = only_pop.rank(profile, 2)
    assert r.reasons is not None and r.reasons[0, 0] == "trending" and r.because[0, 0] == -1


def test_hybrid_accepts_any_recommender_but_saves_only_savable_sources(tmp_path: Path) -> None:
    data = tiny_data()
    rec = HybridRecommender({"random": RandomRecommender(1), "pop": PopularRecommender()})
    rec.fit(data)
    assert rec.score(PROFILES).shape == (len(PROFILES), data.n_items)
    with pytest.raises(DataError, match="'random' .*cannot be saved"):
        rec.get_state()


SAVABLE_MODELS = [
    ItemKNNRecommender(5, 1.0),
    EASERecommender(3.0),
    ALSRecommender(factors=3, iterations=3),
    BPRRecommender(factors=3, iterations=5, num_threads=1),
    TimeAwarePopularityRecommender(7.0),
    MetadataAffinityRecommender(),
    FavouriteArtistRecommender(),
    ContentRecommender("cosine", "max"),
]


@pytest.mark.parametrize("model", [*SAVABLE_MODELS, "hybrid"], ids=lambda m: getattr(m, "kind", m))
def test_save_and_load_give_the_same_rankings(model: Any, tmp_path: Path) -> None:
    data = tiny_data()
    rec = _hybrid() if model == "hybrid" else model
    rec.fit(data)
    fp = data_fingerprint(np.array([str(i) for i in range(data.n_items)]))
    save_model(tmp_path, "m", rec, fp)
    loaded, info = load_model(tmp_path, "m")
    assert info.kind == rec.kind and type(loaded) is type(rec)
    if isinstance(loaded, HybridRecommender):
        loaded.refresh(data)  # what serving does: vectors and stock come from current data
    profiles = [*PROFILES, np.zeros(0, np.int64)]
    stock = data.available  # stock is the catalogue's, not part of a saved model
    a, b = rec.rank(profiles, 6, available=stock), loaded.rank(profiles, 6, available=stock)
    np.testing.assert_array_equal(a.rows, b.rows)
    np.testing.assert_array_equal(a.because, b.because)
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5)


@pytest.mark.parametrize(
    "model",
    [ItemKNNRecommender(), EASERecommender(3.0), ALSRecommender(factors=3), BPRRecommender(3)],
    ids=lambda m: m.kind,
)
def test_grown_collaborative_model_gives_appended_rows_no_score(model: Any) -> None:
    data = tiny_data()
    model.fit(data)
    before = model.score(PROFILES)
    model.grow(data.n_items + 3)
    after = model.score([*PROFILES[:-1], np.array([0, 13])])
    assert after.shape == (len(PROFILES), data.n_items + 3)
    assert np.isnan(after[:, data.n_items :]).all()
    np.testing.assert_allclose(after[:-1, : data.n_items], before[:-1], rtol=1e-5)
    with pytest.raises(DataError, match="shrank"):
        model.grow(2)


def test_hybrid_refresh_scores_appended_works_through_content_and_metadata() -> None:
    data = tiny_data()
    rec = _hybrid().fit(data)
    # three works appended: close to cluster 0, by artist "A", nobody has bought them
    vectors = np.vstack([data.vectors, data.vectors[[0, 1, 2]] + 0.01])
    artists = np.concatenate([data.artists, np.array(["A"] * 3, dtype=object)])
    meta = {k: np.concatenate([v, v[[0, 1, 2]]]) for k, v in data.metadata.items()}
    meta["artist"] = artists
    grown = TrainData(
        15,
        vectors=vectors.astype(np.float32),
        interactions_rows=data.interactions_rows,
        artists=artists,
        users=data.users,
        user_ids=data.user_ids,
        timestamps=data.timestamps,
        metadata=meta,
    )
    rec.refresh(grown)
    ranking = rec.rank([np.array([0, 1])], 4)
    assert {12, 13} <= set(ranking.rows[0].tolist())


def test_ease_woodbury_and_cholesky_paths_agree() -> None:
    """Fewer users than items (Woodbury) and more users than items (Cholesky), same B."""
    wide = _random_log(n_users=8, n_items=15, seed=4)  # 8 users < 13 interacted items
    rec = EASERecommender(3.0).fit(wide)
    b = _ease_reference(wide, 3.0)
    np.testing.assert_allclose(rec.weights_, b[np.ix_(rec.items_, rec.items_)], atol=1e-5)


def test_hybrid_refresh_keeps_a_saved_content_source_without_vectors() -> None:
    data = tiny_data()
    rec = _hybrid().fit(data)
    no_vectors = TrainData(
        data.n_items,
        interactions_rows=data.interactions_rows,
        artists=data.artists,
        users=data.users,
        user_ids=data.user_ids,
        timestamps=data.timestamps,
        metadata=data.metadata,
    )
    before = rec.score(PROFILES)
    rec.refresh(no_vectors)
    np.testing.assert_allclose(rec.score(PROFILES), before)
    grown = TrainData(data.n_items + 1)
    with pytest.raises(DataError, match="'content' cannot be refreshed"):
        rec.refresh(grown)
