"""The trainer of the learned models: validation nDCG, early stopping, refit, checkpoints."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from artrec.data.catalog import Catalog, Interactions
from artrec.data.workspace import Workspace
from artrec.errors import DataError
from artrec.vectors import FeatureSet

pytest.importorskip("torch")

from artrec.evaluation.training import (
    EpochLog,
    train_in_workspace,
    train_recommender,
)
from artrec.recommend.curatornet import CuratorNetRecommender
from artrec.recommend.store import data_fingerprint, load_model
from artrec.recommend.vbpr import VBPRRecommender

N_ITEMS = 60
PROFILES = [np.array([0, 1]), np.array([20, 21, 22]), np.array([59])]


def small_models(skip: bool = True, **kw: Any) -> dict[str, Any]:
    common = {"epochs": 6, "batch_size": 32, "seed": 5, "threads": 1, "device": "cpu", **kw}
    return {
        "curatornet": CuratorNetRecommender(
            item_dims=(32, 16), user_dims=(32,), skip=skip, **common
        ),
        "vbpr": VBPRRecommender(k=8, k_visual=8, fold_in_steps=10, **common),
    }


def clustered_log(seed: int = 0, n_users: int = 40) -> tuple[Catalog, Interactions, np.ndarray]:
    """60 works in 3 visual clusters of 20 (one artist each); every user buys 3 to 6 works of
    one cluster over time."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 3.0, size=(3, 12))
    vectors = (np.repeat(centres, 20, axis=0) + rng.normal(0, 0.5, (N_ITEMS, 12))).astype(
        np.float32
    )
    catalog = Catalog(
        np.array([f"w{r:02d}" for r in range(N_ITEMS)]),
        metadata={"artist": np.array([f"artist {r // 20}" for r in range(N_ITEMS)], dtype=object)},
    )
    users, items, times = [], [], []
    for u in range(n_users):
        c = u % 3
        n = int(rng.integers(3, 7))
        for j, r in enumerate(rng.choice(20, size=n, replace=False) + 20 * c):
            users.append(f"user{u}")
            items.append(f"w{r:02d}")
            times.append(1000.0 * u + j)
    events = Interactions(np.array(users), np.array(items), np.array(times))
    return catalog, events, vectors


@pytest.mark.parametrize("kind", ["curatornet", "vbpr"])
def test_validation_then_refit_reports_every_epoch(kind: str) -> None:
    catalog, events, vectors = clustered_log()
    logs: list[EpochLog] = []
    model = small_models()[kind]
    result = train_recommender(
        model, catalog, events, vectors=vectors, k=10, patience=2, progress=logs.append
    )
    val = [h for h in logs if h.phase == "validation"]
    refit = [h for h in logs if h.phase == "refit"]
    # epoch 0 is the untrained model, scored too
    assert [h.epoch for h in val] == list(range(len(val)))
    assert math.isnan(val[0].loss) and all(h.loss > 0 for h in val[1:])
    assert all(0.0 <= h.ndcg <= 1.0 for h in val)
    best = max(range(len(val)), key=lambda j: (val[j].ndcg, -j))
    assert result.best_epoch == best and result.best_ndcg == val[best].ndcg
    # the refit runs exactly the best number of epochs, on every training event
    assert [h.epoch for h in refit] == list(range(1, result.best_epoch + 1))
    assert all(math.isnan(h.ndcg) for h in refit)
    assert result.model.epochs_done_ == result.best_epoch
    assert result.model.data_.n_users == len(set(events.user_ids.tolist()))
    if result.stopped_early:
        assert len(val) == result.best_epoch + 1 + 2
    assert result.history == logs
    assert np.isfinite(result.model.score(PROFILES)).all()


def test_early_stopping_stops_when_validation_stalls() -> None:
    catalog, events, vectors = clustered_log()
    model = small_models(epochs=40, lr=0.05)["curatornet"]
    result = train_recommender(model, catalog, events, vectors=vectors, k=10, patience=1)
    val = [h for h in result.history if h.phase == "validation"]
    assert result.stopped_early and len(val) < 41
    assert val[-1].ndcg <= result.best_ndcg and len(val) == result.best_epoch + 2


def test_without_refit_the_best_validation_weights_are_kept() -> None:
    catalog, events, vectors = clustered_log()
    model = small_models(epochs=5)["curatornet"]
    result = train_recommender(
        model, catalog, events, vectors=vectors, k=10, patience=5, refit=False
    )
    assert all(h.phase == "validation" for h in result.history)
    assert result.model.epochs_done_ == result.best_epoch
    # the kept weights give back the best validation nDCG
    from artrec.evaluation.evaluator import evaluate
    from artrec.evaluation.validation import validation_split

    split = validation_split(events, catalog)
    again = evaluate(result.model, catalog, split, k=10, fit=False)
    assert again.summary["ndcg@10"].mean == pytest.approx(result.best_ndcg, abs=1e-9)


class Crash(RuntimeError):
    pass


def without_time(result: Any) -> list[tuple[str, int, str, str]]:
    """The history without wall times (NaN-safe, for equality)."""
    return [(h.phase, h.epoch, repr(h.loss), repr(h.ndcg)) for h in result.history]


@pytest.mark.parametrize(("kind", "crash_at"), [("curatornet", 2), ("vbpr", 2), ("curatornet", -1)])
def test_resume_after_a_crash_gives_the_uninterrupted_model(
    kind: str, crash_at: int, tmp_path: Path
) -> None:
    catalog, events, vectors = clustered_log()
    # the paper's architecture from a random start: training helps, so there is a refit
    models = {
        "curatornet": lambda: small_models(skip=False, lr=1e-3)["curatornet"],
        "vbpr": lambda: small_models()["vbpr"],
    }
    full = train_recommender(models[kind](), catalog, events, vectors=vectors, k=10)
    assert full.best_epoch >= 1

    def crash(log: EpochLog) -> None:
        # crash_at > 0: during validation; -1: in the first refit epoch
        if (log.phase == "validation" and log.epoch == crash_at) or (
            crash_at < 0 and log.phase == "refit" and log.epoch == 1
        ):
            raise Crash

    ckpt = tmp_path / "ckpt"
    with pytest.raises(Crash):
        train_recommender(
            models[kind](),
            catalog,
            events,
            vectors=vectors,
            k=10,
            progress=crash,
            checkpoint_dir=ckpt,
        )
    assert (ckpt / "checkpoint.json").is_file() and (ckpt / "checkpoint.npz").is_file()
    resumed = train_recommender(
        models[kind](),
        catalog,
        events,
        vectors=vectors,
        k=10,
        checkpoint_dir=ckpt,
        resume=True,
    )
    assert resumed.resumed_from is not None
    assert resumed.best_epoch == full.best_epoch
    assert without_time(resumed) == without_time(full)
    np.testing.assert_array_equal(resumed.model.score(PROFILES), full.model.score(PROFILES))


def test_a_checkpoint_of_other_parameters_is_refused(tmp_path: Path) -> None:
    catalog, events, vectors = clustered_log()
    ckpt = tmp_path / "ckpt"
    train_recommender(
        small_models(epochs=2)["curatornet"],
        catalog,
        events,
        vectors=vectors,
        k=10,
        checkpoint_dir=ckpt,
    )
    with pytest.raises(DataError, match="another params"):
        train_recommender(
            small_models(epochs=2, lr=0.01)["curatornet"],
            catalog,
            events,
            vectors=vectors,
            k=10,
            checkpoint_dir=ckpt,
            resume=True,
        )
    more = Interactions(
        np.concatenate([events.user_ids, ["new"]]),
        np.concatenate([events.item_ids, ["w00"]]),
        np.concatenate([events.timestamps, [1.0]]),
    )
    with pytest.raises(DataError, match="another fingerprint"):
        train_recommender(
            small_models(epochs=2)["curatornet"],
            catalog,
            more,
            vectors=vectors,
            k=10,
            checkpoint_dir=ckpt,
            resume=True,
        )


def test_bad_arguments() -> None:
    catalog, events, vectors = clustered_log()
    model = small_models()["curatornet"]
    with pytest.raises(DataError, match="patience"):
        train_recommender(model, catalog, events, vectors=vectors, patience=0)
    with pytest.raises(DataError, match="shape"):
        train_recommender(model, catalog, events, vectors=vectors[:10])


def _workspace(root: Path, with_test: bool, seed: int = 0) -> Workspace:
    catalog, events, vectors = clustered_log()
    ws = Workspace.create(root)
    ws.upsert_items(catalog)
    splits = np.full(len(events), "train", dtype=object)
    if with_test:  # the test split: each user's last event, differently drawn per seed
        test_items = np.random.default_rng(seed).integers(N_ITEMS, size=40)
        extra = Interactions(
            np.array([f"user{u}" for u in range(40)]),
            np.array([f"w{r:02d}" for r in test_items]),
            np.full(40, 1e7),
            splits=np.full(40, "test", dtype=object),
        )
        events = Interactions.concat(
            [
                Interactions(events.user_ids, events.item_ids, events.timestamps, splits=splits),
                extra,
            ]
        )
    ws.add_interactions(events)
    FeatureSet("emb", catalog.item_ids, vectors, {}).save(ws.embeddings_dir)
    ws.set_meta("default_embedding", "emb")
    return ws


def test_train_in_workspace_saves_a_fingerprinted_model(tmp_path: Path) -> None:
    ws = _workspace(tmp_path / "ws", with_test=False)
    params = {
        "epochs": 3,
        "batch_size": 32,
        "seed": 1,
        "threads": 1,
        "device": "cpu",
        "item_dims": [32, 16],
        "user_dims": [32],
    }
    result, folder = train_in_workspace(ws, "curatornet", params=params, k=10)
    assert folder == ws.models_dir / "curatornet" and (folder / "arrays.npz").is_file()
    assert not (ws.models_dir / ".curatornet.checkpoint").exists()
    model, info = load_model(ws.models_dir, "curatornet")
    np.testing.assert_allclose(model.score(PROFILES), result.model.score(PROFILES), atol=1e-5)
    assert info.extra["embedding"] == "emb" and info.extra["training"]["best_epoch"] >= 0
    current = data_fingerprint(ws.catalog().item_ids, ws.interactions())
    assert info.staleness(current) is None
    ws.add_interactions(Interactions(np.array(["late"]), np.array(["w01"]), np.array([5e6])))
    message = info.staleness(data_fingerprint(ws.catalog().item_ids, ws.interactions()))
    assert message is not None and "artrec train" in message
    assert ws.runs("train")


def test_test_split_events_never_reach_training(tmp_path: Path) -> None:
    params = {
        "epochs": 3,
        "batch_size": 32,
        "seed": 1,
        "threads": 1,
        "device": "cpu",
        "k": 8,
        "k_visual": 8,
        "fold_in_steps": 5,
    }
    a, _ = train_in_workspace(_workspace(tmp_path / "a", True, seed=1), "vbpr", params=params)
    b, _ = train_in_workspace(_workspace(tmp_path / "b", True, seed=2), "vbpr", params=params)
    c, _ = train_in_workspace(_workspace(tmp_path / "c", False), "vbpr", params=params)

    # different test events, same training events: the same history and the same model
    assert without_time(a) == without_time(b) == without_time(c)
    np.testing.assert_array_equal(a.model.score(PROFILES), b.model.score(PROFILES))
    with pytest.raises(DataError, match="unknown learned model"):
        train_in_workspace(_workspace(tmp_path / "d", False), "deepfm")


def test_configured_kinds_early_stop_on_the_training_log_when_fitted() -> None:
    """``Config("curatornet")`` (what evaluate, compare and tune build) early-stops on a
    validation split of the TrainData it is given, then refits on all of it for the best
    number of epochs, the same model as fitting that many epochs directly."""
    from artrec.evaluation.configs import Config
    from artrec.recommend.base import train_data_from

    catalog, events, vectors = clustered_log()
    data = train_data_from(catalog, events, vectors=vectors)
    model = Config("curatornet", epochs=5, seed=2, patience=2).build()
    assert isinstance(model, CuratorNetRecommender)
    model.fit(data)
    val = model.validation_
    assert val is not None and val["history"][0]["epoch"] == 0
    assert model.epochs == val["best_epoch"] <= 5
    best = max(h["ndcg@20"] for h in val["history"])
    assert val["best_ndcg"] == best
    # metadata "auto" (the default): the inputs of the better of the two runs
    choices = val["metadata_choices"]
    assert [c["metadata"] for c in choices] == [[], ["artist"]]
    assert val["best_ndcg"] == max(c["best_ndcg"] for c in choices)
    assert list(model.metadata) == val["metadata"]
    direct = CuratorNetRecommender(
        epochs=model.epochs, seed=2, lr=1e-4, metadata=model.metadata
    ).fit(data)
    np.testing.assert_array_equal(model.score(PROFILES), direct.score(PROFILES))
    # patience 0: exactly the epoch budget, no validation
    plain = Config("vbpr", epochs=2, patience=0).build().fit(data)
    assert isinstance(plain, VBPRRecommender) and plain.validation_ is None
    assert plain.epochs_done_ == 2
    with pytest.raises(DataError, match="metadata"):
        Config("curatornet", metadata="colour").build().fit(data)


def test_a_refit_searches_the_whole_epoch_budget_again() -> None:
    """Each fit sets the model's ``epochs`` to the best number; the next fit (a time replay
    refits the same model before every window) still scores every epoch of the configured
    budget, not only up to the previous best."""
    from artrec.evaluation.configs import Config
    from artrec.recommend.base import train_data_from

    catalog, events, vectors = clustered_log()
    data = train_data_from(catalog, events, vectors=vectors)
    model = Config("vbpr", epochs=3, seed=1, patience=3, metadata="").build().fit(data)
    epochs = [h["epoch"] for h in model.validation_["history"]]
    assert epochs == [0, 1, 2, 3]  # patience 3 never stops a 3-epoch budget early
    model.epochs = 0  # as a fit whose best validation epoch was 0 leaves it
    model.fit(data)
    assert [h["epoch"] for h in model.validation_["history"]] == epochs
    assert model.epochs == model.validation_["best_epoch"]


def _catalogue_with(catalog: Catalog, **columns: np.ndarray) -> Catalog:
    return Catalog(catalog.item_ids, metadata=columns)


def test_auto_metadata_chooses_the_better_inputs_on_the_validation_split() -> None:
    """``metadata="auto"``: one early-stopped run per choice (the vectors alone; with every
    metadata column the catalogue can encode), each the same as early stopping with those
    inputs fixed; the model takes the better one's inputs and epochs, the vectors alone on
    ties. A catalogue without usable metadata has one choice."""
    from artrec.evaluation.configs import Config
    from artrec.evaluation.training import metadata_choices
    from artrec.recommend.base import train_data_from

    catalog, events, vectors = clustered_log()
    data = train_data_from(catalog, events, vectors=vectors)
    assert metadata_choices(data) == [(), ("artist",)]
    chosen = Config("vbpr", epochs=3, seed=1, patience=2).build().fit(data)
    runs = {
        m: Config("vbpr", epochs=3, seed=1, patience=2, metadata=m).build().fit(data)
        for m in ("", "artist")
    }
    assert isinstance(chosen, VBPRRecommender)
    for entry, m in zip(chosen.validation_["metadata_choices"], ("", "artist"), strict=True):
        fixed = runs[m].validation_
        assert (entry["best_epoch"], entry["best_ndcg"]) == (
            fixed["best_epoch"],
            fixed["best_ndcg"],
        )
    better = max(("", "artist"), key=lambda m: runs[m].validation_["best_ndcg"])
    assert chosen.metadata == runs[better].metadata and chosen.epochs == runs[better].epochs
    np.testing.assert_array_equal(chosen.score(PROFILES), runs[better].score(PROFILES))

    # a column with no value shared by two works cannot be encoded: no choice to make
    unique = _catalogue_with(catalog, artist=np.array([f"a{r}" for r in range(N_ITEMS)]))
    data = train_data_from(unique, events, vectors=vectors)
    assert metadata_choices(data) == [()]
    model = Config("curatornet", epochs=2, seed=2, patience=1).build().fit(data)
    assert model.metadata == () and model.validation_["metadata_choices"][0]["metadata"] == []
    # columns in the catalogue's order of METADATA_COLUMNS, unknown values ignored
    two = _catalogue_with(
        catalog,
        museum=np.array(["m"] * N_ITEMS, dtype=object),
        artist=np.array(["unknown"] * N_ITEMS, dtype=object),
        century=np.array([None, "19th", "19th"] * (N_ITEMS // 3), dtype=object),
    )
    assert metadata_choices(train_data_from(two, events, vectors=vectors)) == [
        (),
        ("century", "museum"),
    ]


def test_train_recommender_chooses_inputs_and_resumes_each_choice(tmp_path: Path) -> None:
    """``metadata_choices``: every choice's validation phase is logged with its inputs, only
    the best one is refitted, and an interrupted run resumes to the same model."""
    catalog, events, vectors = clustered_log()
    logs: list[EpochLog] = []
    choices = [(), ("artist",)]
    result = train_recommender(
        small_models()["vbpr"], catalog, events, vectors=vectors, k=10, patience=2,
        progress=logs.append, metadata_choices=choices,
    )  # fmt: skip
    assert result.history == logs
    by_choice = {
        c: [h for h in logs if h.phase == "validation" and h.metadata == c] for c in choices
    }
    best = {c: max(h.ndcg for h in hs) for c, hs in by_choice.items()}
    winner = max(choices, key=lambda c: best[c])
    assert result.model.metadata == winner and result.best_ndcg == best[winner]
    refit = [h for h in logs if h.phase == "refit"]
    assert {h.metadata for h in refit} <= {winner} and len(refit) == result.best_epoch
    assert [c["metadata"] for c in result.summary()["metadata_choices"]] == [[], ["artist"]]
    # each choice alone gives the same validation history as its run here
    alone = train_recommender(
        small_models()["vbpr"].clone(metadata=winner), catalog, events, vectors=vectors, k=10,
        patience=2,
    )  # fmt: skip
    assert [h.ndcg for h in alone.history if h.phase == "validation"] == [
        h.ndcg for h in by_choice[winner]
    ]
    np.testing.assert_array_equal(alone.model.score(PROFILES), result.model.score(PROFILES))

    # interrupted in the second choice's validation phase, then resumed
    class Stop(Exception):
        pass

    def stop_in_second(log: EpochLog) -> None:
        if log.metadata == ("artist",) and log.epoch == 1:
            raise Stop

    ckpt = tmp_path / "ckpt"
    with pytest.raises(Stop):
        train_recommender(
            small_models()["vbpr"], catalog, events, vectors=vectors, k=10, patience=2,
            progress=stop_in_second, checkpoint_dir=ckpt, metadata_choices=choices,
        )  # fmt: skip
    assert (ckpt / "inputs-0" / "checkpoint.json").is_file()
    assert (ckpt / "inputs-1" / "checkpoint.json").is_file()
    resumed = train_recommender(
        small_models()["vbpr"], catalog, events, vectors=vectors, k=10, patience=2,
        checkpoint_dir=ckpt, resume=True, metadata_choices=choices,
    )  # fmt: skip
    assert resumed.model.metadata == winner and resumed.best_ndcg == result.best_ndcg
    np.testing.assert_array_equal(resumed.model.score(PROFILES), result.model.score(PROFILES))


def test_learned_models_are_savable_hybrid_sources(tmp_path: Path) -> None:
    from artrec.evaluation.kinds import build_model
    from artrec.recommend.base import train_data_from
    from artrec.recommend.hybrid import HybridRecommender
    from artrec.recommend.store import save_model

    catalog, events, vectors = clustered_log()
    data = train_data_from(catalog, events, vectors=vectors)
    hybrid = HybridRecommender(
        {
            "time-popular": build_model("time-popular"),
            "curatornet": build_model("curatornet", {"epochs": 2}),
            "vbpr": build_model("vbpr", {"epochs": 2, "patience": 0}),
        },
        {"time-popular": 0.2, "curatornet": 1.0, "vbpr": 0.5},
    ).fit(data)
    scores = hybrid.score(PROFILES)
    assert np.isfinite(scores).all()
    save_model(tmp_path, "blend", hybrid, data_fingerprint(catalog.item_ids, events))
    loaded, _ = load_model(tmp_path, "blend")
    np.testing.assert_allclose(loaded.score(PROFILES), scores, rtol=1e-6, atol=1e-9)
    ranking = loaded.rank([np.array([0, 1])], 3)
    assert ranking.reasons is not None
    # serving's refresh on newer data keeps what the learned sources learned (no retraining
    # on the half of the log left here): their scores do not move
    assert isinstance(loaded, HybridRecommender)
    learned = {n: s for n, s in loaded.sources if n in ("curatornet", "vbpr")}
    before = {n: s.score(PROFILES) for n, s in learned.items()}
    half = train_data_from(catalog, events.select(np.arange(len(events)) % 2 == 0), vectors=vectors)
    loaded.refresh(half)
    for name, rec in learned.items():
        np.testing.assert_allclose(rec.score(PROFILES), before[name], rtol=1e-6, atol=1e-9)


def test_tune_takes_the_learned_kinds_as_sources() -> None:
    from artrec.evaluation.tuning import TuneBudget, tune
    from artrec.recommend.base import train_data_from

    catalog, events, vectors = clustered_log()
    data = train_data_from(catalog, events, vectors=vectors)
    result = tune(data, sources=("content", "curatornet", "vbpr"), budget=TuneBudget(0))
    assert result.validation["skipped"] == {}
    assert {"curatornet", "vbpr"} <= set(result.validation["sources"])
    assert all(w >= 0.0 for w in result.weights.values())
