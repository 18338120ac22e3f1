"""CuratorNet and VBPR: the recommender contract, learning, determinism, state, cold start."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from artrec.errors import DataError
from artrec.recommend.base import Recommender, TrainData
from contracts.recommender_contract import PROFILES, RecommenderContract

pytest.importorskip("torch")

from artrec.recommend.curatornet import CuratorNetRecommender
from artrec.recommend.neural import NeuralRecommender
from artrec.recommend.store import data_fingerprint, load_model, save_model
from artrec.recommend.vbpr import VBPRRecommender

#: Small, fast settings shared by the tests (one thread: tiny ops do not gain from two).
FAST: dict[str, Any] = {"epochs": 8, "batch_size": 32, "seed": 3, "threads": 1, "device": "cpu"}

MODELS = {
    "curatornet": lambda **kw: CuratorNetRecommender(item_dims=(32, 16), user_dims=(32,), **kw),
    "vbpr": lambda **kw: VBPRRecommender(k=8, k_visual=8, fold_in_steps=20, **kw),
}


class TestCuratorNetContract(RecommenderContract):
    explains = True

    @pytest.fixture
    def recommender(self) -> Recommender:
        return MODELS["curatornet"](**FAST)


class TestVBPRContract(RecommenderContract):
    explains = True

    @pytest.fixture
    def recommender(self) -> Recommender:
        return MODELS["vbpr"](**FAST)


# -- a clustered log with a known answer ----------------------------------------------------
N_CLUSTERS = 4
PER_CLUSTER = 12


def clustered_data(seed: int = 0, n_users: int = 32, per_user: int = 5) -> TrainData:
    """48 works in 4 tight visual clusters (rows c*12 .. c*12+11); each user buys
    ``per_user`` works of one cluster. The last work of every cluster is never bought."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 3.0, size=(N_CLUSTERS, 8))
    vectors = np.repeat(centres, PER_CLUSTER, axis=0) + rng.normal(0, 0.3, (48, 8))
    users, rows = [], []
    for u in range(n_users):
        c = u % N_CLUSTERS
        bought = rng.choice(PER_CLUSTER - 1, size=per_user, replace=False) + c * PER_CLUSTER
        users += [u] * per_user
        rows += bought.tolist()
    artists = np.array([f"artist-{r // PER_CLUSTER}" for r in range(48)], dtype=object)
    return TrainData(
        48,
        vectors=vectors.astype(np.float32),
        interactions_rows=np.array(rows),
        artists=artists,
        users=np.array(users),
        user_ids=np.array([f"u{u}" for u in range(n_users)], dtype=object),
        timestamps=np.arange(len(rows), dtype=np.float64),
        kinds=np.full(len(rows), "purchase", dtype=object),
        metadata={"artist": artists},
    )


def never_bought(cluster: int) -> int:
    return cluster * PER_CLUSTER + PER_CLUSTER - 1


def auc(scores: np.ndarray, positives: np.ndarray) -> float:
    pos = np.zeros(len(scores), dtype=bool)
    pos[positives] = True
    sp, sn = scores[pos], scores[~pos]
    return float(((sp[:, None] > sn[None, :]) + 0.5 * (sp[:, None] == sn[None, :])).mean())


def taste_log(seed: int = 0) -> TrainData:
    """40 works with random 16-d vectors; each of 10 users has a random taste direction
    ``w_u`` and bought the 4 works with the largest ``w_u . x``. Learnable from features,
    but not by similarity alone (VisRank's AUC on it is far from 1)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(40, 16))
    w = rng.normal(size=(10, 16))
    rows = np.concatenate([np.argsort(-(x @ w[u]))[:4] for u in range(10)])
    users = np.repeat(np.arange(10), 4)
    return TrainData(
        40,
        vectors=x.astype(np.float32),
        interactions_rows=rows,
        users=users,
        user_ids=np.array([f"u{u}" for u in range(10)], dtype=object),
        timestamps=np.arange(len(rows), dtype=np.float64),
        kinds=np.full(len(rows), "purchase", dtype=object),
    )


def hidden_auc(model: Recommender, data: TrainData) -> float:
    """CuratorNet's training task: each history item against every work the user never
    bought, scored from the rest of the history."""
    values = []
    for hist in data.profiles():
        for i in range(len(hist)):
            rest = np.delete(hist, i)
            scores = model.score([rest])[0]
            candidates = np.setdiff1d(np.arange(data.n_items), rest)
            values.append(auc(scores[candidates], np.flatnonzero(candidates == hist[i])))
    return float(np.mean(values))


@pytest.mark.parametrize("skip", [True, False])
def test_curatornet_overfits_a_tiny_log(skip: bool) -> None:
    from artrec.recommend.visrank import VisRankRecommender

    data = taste_log()
    model = MODELS["curatornet"](
        **{**FAST, "epochs": EPOCHS_TO_OVERFIT[skip], "lr": 3e-3, "batch_size": 160},
        instances_per_epoch=160,
        strategies={"hidden": 1.0},
        skip=skip,
        inputs="l2" if skip else "zscore",  # the paper's model on standardised features
    ).fit(data)
    assert hidden_auc(model, data) >= 0.99
    assert hidden_auc(VisRankRecommender(aggregation="sum").fit(data), data) < 0.9


#: Epochs of full-batch training to fit the taste log (the similarity path starts far from it).
EPOCHS_TO_OVERFIT = {False: 200, True: 600}


def test_vbpr_overfits_a_tiny_log() -> None:
    import torch

    data = taste_log()
    model = MODELS["vbpr"](**{**FAST, "epochs": 200, "lr": 0.02}, reg=0.0).fit(data)
    assert isinstance(model, VBPRRecommender)
    # training AUC with the trained user factors, every bought work against every other one
    with torch.no_grad():
        users = torch.arange(10)
        p = torch.cat([model.net_.gamma_user(users), model.net_.theta_user(users)], 1)
        q, b = model._item_side(torch, torch.arange(40))
        scores = (p @ q.T + b).numpy()
    aucs = [auc(s, h) for s, h in zip(scores, data.profiles(), strict=True)]
    assert np.mean(aucs) >= 0.99


@pytest.mark.parametrize("kind", list(MODELS))
def test_same_seed_same_scores(kind: str) -> None:
    data = clustered_data()
    a = MODELS[kind](**FAST).fit(data).score(PROFILES)
    b = MODELS[kind](**FAST).fit(data).score(PROFILES)
    c = MODELS[kind](**{**FAST, "seed": 4}).fit(data).score(PROFILES)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("kind", list(MODELS))
def test_save_and_load_round_trip(kind: str, tmp_path: Any) -> None:
    data = clustered_data()
    model = MODELS[kind](**FAST).fit(data)
    fp = data_fingerprint(np.arange(48).astype(str))
    save_model(tmp_path, "m", model, fp)
    loaded, info = load_model(tmp_path, "m")
    assert type(loaded) is type(model) and info.kind == kind
    assert loaded.get_params() == model.get_params()
    np.testing.assert_allclose(loaded.score(PROFILES), model.score(PROFILES), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(
        loaded.rank(PROFILES, 5).rows, model.rank(PROFILES, 5, available=np.ones(48, bool)).rows
    )


@pytest.mark.parametrize("kind", list(MODELS))
def test_never_bought_work_is_scored_and_recommended(kind: str) -> None:
    data = clustered_data()
    model = MODELS[kind](**{**FAST, "epochs": 30}).fit(data)
    profiles = [np.array([c * PER_CLUSTER, c * PER_CLUSTER + 1]) for c in range(N_CLUSTERS)]
    scores = model.score(profiles)
    assert np.isfinite(scores).all()
    ranking = model.rank(profiles, PER_CLUSTER - 2)
    for c in range(N_CLUSTERS):
        assert never_bought(c) in ranking.rows[c].tolist()  # among its own cluster's works


@pytest.mark.parametrize("kind", list(MODELS))
def test_unseen_person_with_one_like_gets_recommendations(kind: str) -> None:
    data = clustered_data()
    model = MODELS[kind](**{**FAST, "epochs": 30}).fit(data)
    for c in range(N_CLUSTERS):
        like = np.array([never_bought(c)])  # a new person whose one like nobody bought
        ranking = model.rank([like], 5)
        assert (ranking.rows[0] >= 0).all() and np.isfinite(ranking.scores[0]).all()
        assert all(r // PER_CLUSTER == c for r in ranking.rows[0].tolist())
        assert (ranking.because[0] == like[0]).all()


@pytest.mark.parametrize("kind", list(MODELS))
def test_new_works_are_scored_without_retraining(kind: str) -> None:
    data = clustered_data()
    model = MODELS[kind](**FAST).fit(data)
    before = model.score(PROFILES[:2])
    # two new works: copies of rows 0 and 30's vectors, appended to the catalogue
    vectors = np.vstack([data.vectors, data.vectors[[0, 30]]])
    artists = np.concatenate([data.artists, ["artist-0", "artist-2"]])
    grown = TrainData(50, vectors=vectors, artists=artists, metadata={"artist": artists})
    model.set_items(grown)
    after = model.score(PROFILES[:2])
    assert after.shape == (2, 50) and np.isfinite(after).all()
    if (
        kind == "curatornet"
    ):  # no ids at all: old works keep their scores, a copy scores as its original
        np.testing.assert_allclose(after[:, :48], before, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(after[:, 48], after[:, 0], rtol=1e-6, atol=1e-6)
    else:  # fold-in draws negatives from the grown catalogue; the old works' vectors stay
        assert isinstance(model, VBPRRecommender)
        assert model.item_vectors_.shape[0] == 50
        # a new work has no latent factors: only its visual part scores it
        assert (model.item_vectors_[48:, :8] == 0).all()


@pytest.mark.parametrize("kind", list(MODELS))
def test_bad_input_is_a_clear_error(kind: str) -> None:
    data = clustered_data()
    no_log = TrainData(48, vectors=data.vectors)
    with pytest.raises(DataError, match="per-user training log"):
        MODELS[kind](**FAST).fit(no_log)
    with pytest.raises(DataError, match="item vectors"):
        MODELS[kind](**FAST).fit(
            TrainData(
                48,
                users=data.users,
                user_ids=data.user_ids,
                interactions_rows=data.interactions_rows,
            )
        )
    with pytest.raises(DataError, match="precision"):
        MODELS[kind](**{**FAST, "precision": "fp8"}).fit(data)
    with pytest.raises(DataError, match="metadata column"):
        MODELS[kind](**{**FAST, "metadata": ("colour",)}).fit(data)
    with pytest.raises(DataError, match="not fitted"):
        MODELS[kind](**FAST).score(PROFILES)
    model = MODELS[kind](**FAST).fit(data)
    with pytest.raises(DataError, match="outside"):
        model.score([np.array([48])])


def test_curatornet_options_train() -> None:
    data = clustered_data()
    for options in (
        {"hard_negatives": "artist", "hard_fraction": 0.5},
        {"hard_negatives": "cluster", "n_clusters": 4},
        {"loss": "hinge", "strategies": {"next": 1.0}},
        {"metadata": ("artist",)},
        {"precision": "bf16"},
    ):
        model = MODELS["curatornet"](**{**FAST, "epochs": 3, **options}).fit(data)
        assert np.isfinite(model.score(PROFILES)).all(), options
    with pytest.raises(DataError, match="strategy"):
        MODELS["curatornet"](**{**FAST, "strategies": {"random": 1.0}}).fit(data)
    with pytest.raises(DataError, match="hard negatives"):
        MODELS["curatornet"](**{**FAST, "hard_negatives": "museum"}).fit(data)


def test_vbpr_options_train() -> None:
    data = clustered_data()
    for options in ({"hard_negatives": "artist"}, {"metadata": ("artist",)}, {"precision": "bf16"}):
        model = MODELS["vbpr"](**{**FAST, "epochs": 3, **options}).fit(data)
        assert np.isfinite(model.score(PROFILES)).all(), options


def slow_curatornet_scores(model: CuratorNetRecommender, profile: np.ndarray) -> np.ndarray:
    """One profile scored the slow, obvious way: the fitted torch network itself in float64
    (item transform of every work, the padded pooling and user MLP training uses)."""
    import copy

    import torch

    from artrec.recommend.curatornet import _encode_users

    net = copy.deepcopy(model.net_).double().eval()
    with torch.no_grad():
        items = net.item(model.x_.double())
        rows = torch.as_tensor(np.asarray(profile, dtype=np.int64).reshape(1, -1))
        mask = torch.ones(rows.shape, dtype=torch.bool)
        user = _encode_users(torch, net.user, items[rows], mask, net.d_skip)
        return (user @ items.T).numpy()[0]


def slow_explanations(item_vectors: np.ndarray, profile: np.ndarray, rows: np.ndarray) -> list[int]:
    """The profile row with the largest dot product with each recommended row (first on ties)."""
    out = []
    for r in rows.tolist():
        dots = [float(item_vectors[r] @ item_vectors[p]) for p in profile.tolist()]
        out.append(-1 if r < 0 or not dots else int(profile[int(np.argmax(dots))]))
    return out


@pytest.mark.parametrize("skip", [True, False])
def test_curatornet_batch_scoring_equals_the_network_per_user(skip: bool) -> None:
    data = taste_log()
    model = MODELS["curatornet"](**FAST, skip=skip).fit(data)
    assert isinstance(model, CuratorNetRecommender)
    rng = np.random.default_rng(5)
    profiles = [rng.choice(40, size=n, replace=False) for n in (1, 2, 3, 5, 8, 13, 1, 4)]
    profiles.append(np.zeros(0, dtype=np.int64))
    expected = np.stack([slow_curatornet_scores(model, p) for p in profiles[:-1]])
    scores = model.score(profiles)
    # the catalogue-wide product is float32, as VisRank's
    np.testing.assert_allclose(scores[:-1], expected, rtol=1e-5, atol=1e-5)
    ranking = model.rank(profiles, 6, chunk_size=3)
    assert_ranked_and_explained(ranking, profiles[:-1], expected, model.item_emb_)
    # an empty profile pools to zeros: the user MLP of zeros, scored against every work
    assert (ranking.because[-1] == -1).all() and np.isfinite(scores[-1]).all()


def assert_ranked_and_explained(
    ranking: Any, profiles: list[np.ndarray], scores: np.ndarray, item_vectors: np.ndarray
) -> None:
    """Each profile's list is its reference scores' stable top-k (own items left out), and
    each recommendation is explained by the slow per-item argmax."""
    k = ranking.rows.shape[1]
    for j, prof in enumerate(profiles):
        ref = scores[j].copy()
        ref[prof] = -np.inf
        np.testing.assert_array_equal(ranking.rows[j], np.argsort(-ref, kind="stable")[:k])
        assert ranking.because[j].tolist() == slow_explanations(item_vectors, prof, ranking.rows[j])


def slow_fold_in(model: VBPRRecommender, profile: np.ndarray) -> np.ndarray:
    """One profile folded in the slow, obvious way: torch autograd on the regularised BPR
    loss and ``torch.optim.Adam``, the profile's negatives drawn as the model documents."""
    import torch

    from artrec.recommend.neural import profile_seed

    q = torch.as_tensor(model.item_vectors_)
    bias = torch.as_tensor(model.item_bias_)
    rng = np.random.default_rng(profile_seed(model.seed, profile))
    negs = rng.integers(len(q), size=(model.fold_in_steps, model.fold_in_negatives))
    x = torch.zeros(q.shape[1], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([x], lr=model.fold_in_lr)
    for step in range(model.fold_in_steps):
        neg = [n for n in negs[step].tolist() if n not in set(profile.tolist())]
        s_pos = q[profile] @ x + bias[profile]
        s_neg = q[neg] @ x + bias[neg]
        pair = torch.nn.functional.logsigmoid(s_pos[:, None] - s_neg[None, :])
        loss = -pair.sum() / max(pair.numel(), 1) + model.reg * x.pow(2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return x.detach().numpy()


def test_vbpr_batch_fold_in_equals_autograd_per_user() -> None:
    data = clustered_data()
    model = MODELS["vbpr"](**FAST).fit(data)
    assert isinstance(model, VBPRRecommender)
    rng = np.random.default_rng(7)
    profiles = [rng.choice(48, size=n, replace=False) for n in (1, 2, 3, 6, 11, 4, 1)]
    profiles.append(np.zeros(0, dtype=np.int64))
    expected = np.stack([slow_fold_in(model, p) for p in profiles[:-1]])
    vectors = model.user_vectors(profiles)
    np.testing.assert_allclose(vectors[:-1], expected, rtol=1e-9, atol=1e-12)
    assert (vectors[-1] == 0).all()
    scores = expected @ model.item_vectors_.T + model.item_bias_
    np.testing.assert_allclose(model.score(profiles[:-1]), scores, rtol=1e-9, atol=1e-12)
    ranking = model.rank(profiles, 5, chunk_size=3, available=np.ones(48, bool))
    assert_ranked_and_explained(ranking, profiles[:-1], scores, model.item_vectors_)


def test_fold_in_does_not_depend_on_the_batch() -> None:
    model = MODELS["vbpr"](**FAST).fit(clustered_data())
    together = model.user_vectors([np.array([0, 1]), np.array([13]), np.array([], dtype=int)])
    alone = model.user_vectors([np.array([13])])
    np.testing.assert_allclose(together[1], alone[0], rtol=1e-10, atol=1e-12)
    assert (together[2] == 0).all()


def test_callback_sees_every_epoch_and_can_stop() -> None:
    seen: list[tuple[int, float]] = []

    def callback(model: NeuralRecommender, report: Any) -> bool:
        assert np.isfinite(model.score(PROFILES)).all()  # ready to score after each epoch
        seen.append((report.epoch, report.loss))
        return report.epoch < 3

    MODELS["curatornet"](**FAST).fit(clustered_data(), callback=callback)
    assert [e for e, _ in seen] == [1, 2, 3]
    assert all(np.isfinite(loss) and loss > 0 for _, loss in seen)


def test_resume_gives_the_uninterrupted_model() -> None:
    data = clustered_data()
    for kind in MODELS:
        full = MODELS[kind](**FAST).fit(data)
        states = {}

        def stop_at_3(model: NeuralRecommender, report: Any, states: dict = states) -> bool:
            states[report.epoch] = model.training_state()
            return report.epoch < 3

        MODELS[kind](**FAST).fit(data, callback=stop_at_3)
        resumed = MODELS[kind](**FAST).fit(data, resume=states[3])
        np.testing.assert_array_equal(resumed.score(PROFILES), full.score(PROFILES))
