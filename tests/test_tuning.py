"""tune, the tuned hybrid (auto), windowed time replay, model kinds, MMR configurations and
the serving loader, on small simulated collectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from _tuned_workspace import simulated_world
from artrec.data.catalog import Catalog, Interactions
from artrec.data.workspace import Workspace
from artrec.errors import DataError
from artrec.evaluation.comparison import compare_results
from artrec.evaluation.evaluator import evaluate
from artrec.evaluation.kinds import MODEL_KINDS, build_model, model_kind
from artrec.evaluation.protocols import leave_last_out
from artrec.evaluation.tuning import AutoRecommender, TuneBudget, tune, tune_workspace
from artrec.evaluation.windowed import windowed_time_replay
from artrec.recommend.base import Recommender, TrainData, train_data_from
from artrec.recommend.serving import (
    default_model_name,
    load_serving_model,
    training_events,
)

N = 300


def _world(seed: int = 0) -> tuple[Catalog, Interactions, np.ndarray]:
    return simulated_world(seed)


@pytest.fixture(scope="module")
def world() -> tuple[Catalog, Interactions, np.ndarray]:
    return _world()


SMALL = ("content", "item-knn", "ease", "time-popular", "metadata")


def test_tune_picks_each_source_and_a_blend_no_worse_than_the_best(world) -> None:  # type: ignore[no-untyped-def]
    cat, events, vectors = world
    data = train_data_from(cat, events, vectors=vectors)
    calls: list[tuple[int, int, str]] = []
    result = tune(
        data,
        k=10,
        sources=SMALL,
        budget=TuneBudget(max_trials=4),
        item_ids=cat.item_ids,
        progress=lambda d, t, m: calls.append((d, t, m)),
    )
    names = [s["name"] for s in result.sources]
    assert set(names) == set(SMALL)
    # the strongest source has weight 1 and the blend is no worse than it on validation
    best = max(result.validation["sources"].values())
    assert result.weights[names[0]] == 1.0
    assert result.validation["ndcg"] >= best - 1e-9
    # budget: the defaults plus at most 4 alternatives
    assert len(result.trials) <= len(SMALL) + 4
    assert calls and calls[-1][2].startswith("blend")
    model = result.build().fit(data)
    assert model.score([np.array([0, 1])]).shape == (1, N)


def test_tune_records_kinds_that_cannot_run(world) -> None:  # type: ignore[no-untyped-def]
    cat, events, _ = world
    data = train_data_from(cat, events)  # no vectors: no content source
    result = tune(
        data,
        k=10,
        sources=("content", "item-knn", "ease"),
        budget=TuneBudget(max_trials=0),
        item_ids=cat.item_ids,
    )
    assert result.validation["skipped"]["content"] == "no embedding"
    assert {s["name"] for s in result.sources} == {"item-knn", "ease", "time-popular"}


def test_the_favourite_artist_baseline_is_a_default_source(world) -> None:  # type: ignore[no-untyped-def]
    from artrec.evaluation.tuning import DEFAULT_SOURCES

    cat, events, _ = world
    data = train_data_from(cat, events)
    assert "artist" in DEFAULT_SOURCES
    result = tune(
        data, k=10, sources=("artist", "item-knn"), budget=TuneBudget(max_trials=0),
        item_ids=cat.item_ids,
    )  # fmt: skip
    assert "artist" not in result.validation["skipped"]
    assert result.validation["sources"]["artist"] > 0
    assert [t.params for t in result.trials if t.source == "artist"] == [{}]


def _workspace(tmp_path: Path, world, poison: bool = False) -> Workspace:  # type: ignore[no-untyped-def]
    cat, events, _ = world
    from artrec.data.splits import last_fraction_mask

    purchases = events.kinds == "purchase"
    test = np.zeros(len(events), dtype=bool)
    test[purchases] = last_fraction_mask(
        events.user_ids[purchases], events.item_ids[purchases], events.timestamps[purchases], 0.2
    )
    items = events.item_ids.copy()
    if poison:
        # every test event now points at one work, and a burst of extra test events follows
        items[test] = "w007"
    log = Interactions(
        events.user_ids,
        items,
        events.timestamps,
        events.kinds,
        np.where(test, "test", "train").astype(object),
    )
    if poison:
        extra = Interactions(
            np.array([f"sim-{i:02d}" for i in range(40)], dtype=object),
            np.array(["w011"] * 40, dtype=object),
            np.full(40, 2e9),
            np.full(40, "purchase", dtype=object),
            np.full(40, "test", dtype=object),
        )
        log = Interactions.concat([log, extra])
    ws = Workspace.create(tmp_path / ("poisoned" if poison else "clean"))
    ws.upsert_items(cat)
    ws.add_interactions(log)
    return ws


def test_tune_never_reads_the_test_split(tmp_path: Path, world) -> None:  # type: ignore[no-untyped-def]
    budget = TuneBudget(max_trials=3)
    sources = ("item-knn", "ease", "time-popular", "metadata")
    clean = tune_workspace(_workspace(tmp_path, world), k=10, budget=budget, sources=sources)
    poisoned = tune_workspace(
        _workspace(tmp_path, world, poison=True), k=10, budget=budget, sources=sources
    )
    assert poisoned.config() == clean.config()
    assert poisoned.validation == clean.validation
    assert [t.ndcg for t in poisoned.trials] == [t.ndcg for t in clean.trials]


def test_tune_workspace_saves_the_default_model_for_serving(tmp_path: Path, world) -> None:  # type: ignore[no-untyped-def]
    ws = _workspace(tmp_path, world)
    result = tune_workspace(
        ws, k=10, budget=TuneBudget(max_trials=0), sources=("item-knn", "metadata")
    )
    assert default_model_name(ws) == "auto"
    run = ws.runs("tune")[0]
    assert run["results"]["validation"]["ndcg"] == pytest.approx(result.validation["ndcg"])
    serving = load_serving_model(ws)
    assert serving.staleness is None
    assert serving.info.extra["validation"]["ndcg"] == pytest.approx(result.validation["ndcg"])
    cat = serving.catalog
    # a new like changes the visitor's list at once, with no refit
    before = serving.recommend([cat.rows_of(["w001"])], 10)
    after = serving.recommend([cat.rows_of(["w001", "w002", "w150"])], 10)
    assert before.rows.tolist() != after.rows.tolist()
    assert after.reasons is not None and all(r for r in after.reasons[0].tolist())
    # sold works never come back
    sold = ~cat.in_stock
    assert not sold[after.rows[0]].any()
    # new events make the saved model stale, with the command that refreshes it
    ws.add_interactions(
        Interactions(np.array(["newbie"], object), np.array(["w003"], object), np.array([3e9]))
    )
    stale = load_serving_model(ws).staleness
    assert stale is not None and "artrec tune" in stale and "interaction log" in stale
    assert len(training_events(ws)) == len(training_events(ws, None))


def test_serving_refuses_without_a_default(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "ws")
    with pytest.raises(DataError, match="run `artrec tune`"):
        load_serving_model(ws)


def test_auto_is_a_configuration_of_evaluate(world) -> None:  # type: ignore[no-untyped-def]
    cat, events, vectors = world
    purchases = events.select(events.kinds == "purchase")
    split = leave_last_out(purchases, cat)
    auto = build_model("auto", {"k": 10, "max_trials": 0})
    assert isinstance(auto, AutoRecommender)
    res = evaluate(auto, cat, split, k=10, vectors=vectors)
    assert res.n_cases > 0 and np.isfinite(res.summary["ndcg@10"].mean)
    # its choice came from the split's training events only
    assert auto.result_.validation["n_cases"] > 0


@pytest.mark.parametrize("kind", sorted(MODEL_KINDS))
def test_every_kind_is_a_configuration_of_evaluate(kind: str, world) -> None:  # type: ignore[no-untyped-def]
    cat, events, vectors = world
    purchases = events.select(events.kinds == "purchase")
    split = leave_last_out(purchases, cat)
    params = {"k": 10, "max_trials": 0} if kind == "auto" else None
    res = evaluate(build_model(kind, params), cat, split, k=10, vectors=vectors)
    assert res.n_cases > 0
    assert set(model_kind(kind).defaults()) == {p.name for p in model_kind(kind).params}


def test_mmr_configuration_changes_lists_and_lambda_one_keeps_them(world) -> None:  # type: ignore[no-untyped-def]
    cat, events, vectors = world
    split = leave_last_out(events.select(events.kinds == "purchase"), cat)
    base = evaluate(build_model("item-knn"), cat, split, k=10, vectors=vectors)
    same = evaluate(build_model("item-knn", mmr=1.0), cat, split, k=10, vectors=vectors)
    div = evaluate(build_model("item-knn", mmr=0.3), cat, split, k=10, vectors=vectors)
    np.testing.assert_array_equal(base.lists, same.lists)
    assert (base.lists != div.lists).any()
    assert div.summary["diversity@10"].mean > base.summary["diversity@10"].mean


def test_build_model_names_bad_kinds_and_parameters() -> None:
    with pytest.raises(DataError, match="unknown recommender kind 'nope'"):
        build_model("nope")
    with pytest.raises(DataError, match="'item-knn' has no parameter 'k'"):
        build_model("item-knn", {"k": 3})
    with pytest.raises(DataError, match="'neighbours' must be int"):
        build_model("item-knn", {"neighbours": "many"})
    rec = build_model("time-popular", {"half_life_days": "none"})
    assert rec.name == "popular"


class _Spy(Recommender):
    """Records what each fit saw; scores by popularity in what it saw."""

    name = "spy"

    def __init__(self) -> None:
        self.fits: list[tuple[float | None, float]] = []

    def fit(self, data: TrainData) -> _Spy:
        ts = data.timestamps if data.timestamps is not None else np.zeros(0)
        self.fits.append((data.now, float(np.nanmax(ts)) if len(ts) else -np.inf))
        self.pop = np.bincount(data.interactions_rows, minlength=data.n_items).astype(float)
        return self

    def score(self, profiles):  # type: ignore[no-untyped-def]
        return np.tile(self.pop, (len(profiles), 1))


def test_windowed_time_replay_fits_only_on_the_past(world) -> None:  # type: ignore[no-untyped-def]
    cat, events, _ = world
    spy = _Spy()
    res = windowed_time_replay(spy, cat, events, k=10, n_windows=3)
    assert len(spy.fits) == 3
    for now, latest in spy.fits:
        assert now is not None and latest < now, "no event at or after the window start"
    starts = [now for now, _ in spy.fits]
    assert starts == sorted(starts)
    assert res.skipped["before_test_period"] > 0
    # the same cases for every model: paired tests work unchanged
    other = windowed_time_replay(build_model("item-knn"), cat, events, k=10, n_windows=3)
    assert np.array_equal(res.case_index, other.case_index)
    comp = compare_results([res, other], "spy")
    assert comp.test("item-knn-200", "ndcg@10") is not None


def test_windowed_uses_the_split_column_when_there_is_one(world) -> None:  # type: ignore[no-untyped-def]
    cat, events, _ = world
    purchases = events.kinds == "purchase"
    times = events.timestamps
    cut = np.quantile(times[purchases], 0.5)
    splits = np.where(times >= cut, "test", "train").astype(object)
    log = Interactions(events.user_ids, events.item_ids, times, events.kinds, splits)
    res = windowed_time_replay(_Spy(), cat, log, k=5, n_windows=2, test_fraction=0.01)
    res_cut = windowed_time_replay(_Spy(), cat, events, k=5, n_windows=2, test_fraction=0.5)
    assert res.n_cases == pytest.approx(res_cut.n_cases, abs=2)
    with pytest.raises(DataError, match="n_windows"):
        windowed_time_replay(_Spy(), cat, events, n_windows=0)


def test_validation_cases_follow_the_judged_kinds_and_time(world) -> None:  # type: ignore[no-untyped-def]
    from artrec.evaluation.tuning import validation_cases

    cat, events, _ = world
    data = train_data_from(cat, events)
    val = validation_cases(data, target_kinds=("purchase",), one_of_a_kind=True)
    bought = set(data.interactions_rows[data.kinds == "purchase"].tolist())
    for prof, rel, gone in zip(val.profiles, val.relevant, val.exclude, strict=True):
        assert set(prof.tolist()) <= bought, "profiles hold purchases only"
        assert set(prof.tolist()) <= set(gone.tolist())
        assert not set(rel.tolist()) & set(gone.tolist())
    fit_bought = set(val.fit_data.interactions_rows[val.fit_data.kinds == "purchase"].tolist())
    assert all(set(g.tolist()) >= fit_bought for g in val.exclude), "sold works are no candidates"
    # by time: the fit data is the past of the cut, the targets its future
    timed = validation_cases(data, target_kinds=("purchase",), by_time=True)
    assert timed.fit_data.timestamps is not None
    cut = np.quantile(data.timestamps[data.kinds == "purchase"], 0.8)
    assert timed.fit_data.timestamps.max() < cut
    # every held-out user's later events are left out of the per-user split's fit data
    assert len(val.fit_data.interactions_rows) + val.n_held_out <= len(data.interactions_rows)


def test_cli_tune_makes_the_tuned_model_the_default(tmp_path: Path, world, capsys) -> None:  # type: ignore[no-untyped-def]
    from artrec.cli import main

    ws = _workspace(tmp_path, world)
    code = main(
        ["tune", "-w", str(ws.root), "-k", "10", "--budget", "0", "--quiet",
         "--target-kinds", "purchase", "--format", "json"]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert '"source": "time-popular"' in out
    assert default_model_name(ws) == "auto"
    info = load_serving_model(ws).info
    assert info.extra["refresh"].endswith("-k 10 --target-kinds purchase")
    assert main(["tune", "-w", str(tmp_path / "missing"), "--quiet"]) == 2


@pytest.mark.parametrize("protocol", ["given", "leave-last-out", "time-replay"])
@pytest.mark.parametrize(
    ("kind", "params", "mmr"),
    [
        ("item-knn", None, None),
        ("ease", None, None),
        ("ials", None, None),
        ("bpr", {"iterations": 5}, None),
        ("metadata", None, None),
        ("time-popular", None, 0.5),
        ("auto", {"k": 10, "max_trials": 0}, None),
    ],
)
def test_kinds_run_under_every_protocol(protocol, kind, params, mmr, world) -> None:  # type: ignore[no-untyped-def]
    from artrec.evaluation.protocols import make_split

    cat, events, vectors = world
    purchases = events.select(events.kinds == "purchase")
    test = purchases.timestamps >= np.quantile(purchases.timestamps, 0.7)
    log = Interactions(
        purchases.user_ids,
        purchases.item_ids,
        purchases.timestamps,
        purchases.kinds,
        np.where(test, "test", "train").astype(object),
    )
    split = make_split(protocol, log, cat)
    rec = build_model(kind, params, mmr=mmr)
    if protocol == "time-replay" and kind == "auto":
        # plain time replay fits on no event: nothing to tune on (windowed replay is the way)
        with pytest.raises(DataError):
            evaluate(rec, cat, split, k=10, vectors=vectors)
        return
    res = evaluate(rec, cat, split, k=10, vectors=vectors)
    assert res.n_cases > 0 and np.isfinite(res.summary["ndcg@10"].mean)


def test_tune_trials_run_in_a_process_pool_with_the_same_choice(world) -> None:  # type: ignore[no-untyped-def]
    """What a Ray pool does (map over picklable trials), with a local process pool."""
    from concurrent.futures import ProcessPoolExecutor

    cat, events, _ = world
    data = train_data_from(cat, events)
    kwargs = {"k": 10, "sources": ("item-knn", "time-popular"), "item_ids": cat.item_ids}
    serial = tune(data, **kwargs)  # type: ignore[arg-type]
    with ProcessPoolExecutor(max_workers=1) as pool:
        parallel = tune(data, executor=pool, **kwargs)  # type: ignore[arg-type]
    assert parallel.config() == serial.config()
    assert [t.ndcg for t in parallel.trials] == [t.ndcg for t in serial.trials]
