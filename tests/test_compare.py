"""Comparison: same users across configurations, paired tests equal scipy's, Holm by hand."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from artrec.data.catalog import Catalog, Interactions
from artrec.data.workspace import Workspace
from artrec.errors import ArtrecError, DataError
from artrec.evaluation import (
    Config,
    EvalData,
    compare,
    compare_results,
    config_grid,
    evaluate,
)
from artrec.evaluation.comparison import holm, paired_test, wilcoxon_method
from artrec.evaluation.protocols import given_split, leave_last_out
from artrec.recommend.baselines import PopularRecommender, RandomRecommender
from artrec.recommend.visrank import VisRankRecommender
from artrec.vectors import FeatureSet


def make_data(seed: int = 0, n_items: int = 60, n_users: int = 25) -> EvalData:
    """Items in 3 visual clusters (artist = cluster); users buy mostly within one cluster."""
    rng = np.random.default_rng(seed)
    clusters = rng.integers(0, 3, size=n_items)
    centres = rng.normal(size=(3, 6)) * 3
    vec_a = centres[clusters] + rng.normal(size=(n_items, 6))
    vec_b = rng.normal(size=(n_items, 4))  # an uninformative embedding
    users, items, times = [], [], []
    for u in range(n_users):
        taste = int(rng.integers(0, 3))
        pool = np.flatnonzero(clusters == taste)
        n = int(rng.integers(2, 6))
        for t, row in enumerate(rng.choice(pool, size=min(n, len(pool)), replace=False).tolist()):
            users.append(f"u{u}")
            items.append(f"i{row}")
            times.append(float(t + rng.random()))
    catalog = Catalog(
        np.asarray([f"i{r}" for r in range(n_items)], dtype=object),
        {"artist": np.asarray([f"artist {c}" for c in clusters.tolist()], dtype=object)},
    )
    interactions = Interactions(
        np.asarray(users, dtype=object), np.asarray(items, dtype=object), np.asarray(times)
    )
    return EvalData(catalog, interactions, {"a": vec_a, "b": vec_b}, default_embedding="a")


def test_config_names_validation_and_grid() -> None:
    c = Config(kind="visrank", embedding="a", metric="euclidean", aggregation="topm_mean", m=4)
    assert c.name == "visrank:a/euclidean/top4_mean"
    assert Config(kind="popular").name == "popular"
    assert Config(name="mine", kind="random").name == "mine"
    with pytest.raises(DataError, match="unknown recommender kind"):
        Config(kind="nope")
    with pytest.raises(DataError, match="unknown metric"):
        Config(metric="hamming")
    with pytest.raises(DataError, match="unknown aggregation"):
        Config(aggregation="median")
    grid = config_grid(
        ["a", "b"], ["cosine", "dot"], ["sum_distance", "max"], ["random", "popular"]
    )
    assert len(grid) == 2 * 2 * 2 + 2
    assert grid[0].name == "visrank:a/cosine/sum_distance"
    assert [c.kind for c in grid[-2:]] == ["random", "popular"]
    # duplicates collapse
    assert len(config_grid(["a", "a"], ["cosine"], ["sum"], [])) == 1
    with pytest.raises(DataError, match="not a baseline"):
        config_grid(["a"], baselines=["visrank"])


def test_paired_test_equals_scipy() -> None:
    rng = np.random.default_rng(2)
    a = rng.random(40)
    b = a - 0.05 + rng.normal(scale=0.1, size=40)
    t = paired_test(a, b)
    assert t.n == 40
    assert t.mean_diff == pytest.approx(float((a - b).mean()))
    assert t.p_ttest == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert t.t_stat == pytest.approx(stats.ttest_rel(a, b).statistic)
    assert t.p_wilcoxon == pytest.approx(stats.wilcoxon(a, b).pvalue)
    # NaN pairs are left out on both sides
    a2, b2 = a.copy(), b.copy()
    a2[3] = np.nan
    b2[7] = np.nan
    keep = np.ones(40, bool)
    keep[[3, 7]] = False
    t2 = paired_test(a2, b2)
    assert t2.n == 38
    assert t2.p_ttest == pytest.approx(stats.ttest_rel(a[keep], b[keep]).pvalue)
    # identical arrays: no evidence of a difference
    same = paired_test(a, a)
    assert (same.p_ttest, same.p_wilcoxon) == (1.0, 1.0)
    tiny = paired_test(np.array([1.0]), np.array([0.0]))
    assert tiny.n == 1 and math.isnan(tiny.p_ttest)


def test_wilcoxon_method_choice() -> None:
    assert wilcoxon_method(np.array([0.1, -0.2, 0.3])) == "exact"
    assert wilcoxon_method(np.array([0.1, -0.1, 0.3])) == "asymptotic"  # tie in |d|
    assert wilcoxon_method(np.array([0.0, -0.2, 0.3])) == "asymptotic"  # a zero
    assert wilcoxon_method(np.arange(1.0, 52.0)) == "asymptotic"  # more than 50
    # small samples with ties: the p-value is the tie-corrected normal approximation
    a = np.array([0.5, 1.0, 1.0, 0.2, 0.0, 1.0])
    b = np.array([0.2, 0.0, 1.0, 0.1, 0.0, 0.5])
    expected = stats.wilcoxon(a, b, method="asymptotic").pvalue
    assert paired_test(a, b).p_wilcoxon == pytest.approx(expected)


def test_holm_by_hand() -> None:
    # sorted: 0.01 (x3) -> 0.03, 0.02 (x2) -> 0.04, 0.04 (x1) -> 0.04
    assert holm([0.04, 0.01, 0.02]).tolist() == pytest.approx([0.04, 0.03, 0.04])
    # monotone: a later raw product below an earlier one is raised to it; capped at 1
    assert holm([0.3, 0.02, 0.6]).tolist() == pytest.approx([0.6, 0.06, 0.6])
    assert holm([0.9, 0.8]).tolist() == pytest.approx([1.0, 1.0])
    out = holm([np.nan, 0.01, 0.02])
    assert math.isnan(out[0]) and out[1:].tolist() == pytest.approx([0.02, 0.02])


def test_compare_uses_the_same_users_and_scipy_p_values() -> None:
    data = make_data()
    configs = config_grid(
        ["a", "b"],
        ["cosine", "euclidean"],
        ["sum_distance", "max"],
        ["random", "popular", "artist"],
    )
    res = compare(configs, data, "leave-last-out", k=5, baseline="random")
    assert list(res.results) == [c.name for c in configs]
    first = next(iter(res.results.values()))
    for r in res.results.values():
        assert r.user_ids.tolist() == first.user_ids.tolist()
        np.testing.assert_array_equal(r.case_index, first.case_index)
    assert first.n_cases == 25
    base = res.results["random"]
    for name, r in res.results.items():
        if name == "random":
            assert res.test(name, "auc") is None
            continue
        for metric in ("auc", "rr", "ndcg@5"):
            t = res.test(name, metric)
            assert t is not None
            x, y = r.per_user[metric], base.per_user[metric]
            if np.array_equal(x, y):
                continue
            assert t.p_ttest == pytest.approx(stats.ttest_rel(x, y).pvalue, nan_ok=True)
            assert t.p_wilcoxon == pytest.approx(
                stats.wilcoxon(x, y, method=wilcoxon_method(x - y)).pvalue
            )
            # with 25 users and ties, SciPy's own default picks the same method
            assert t.p_wilcoxon == pytest.approx(stats.wilcoxon(x, y).pvalue)
    # Holm within a metric: adjusted = holm(raw) over the family of configurations
    family = [t for t in res.tests if t.metric == "auc"]
    assert len(family) == len(configs) - 1
    np.testing.assert_allclose(
        [t.p_ttest_holm for t in family], holm([t.p_ttest for t in family]), equal_nan=True
    )
    # the informative embedding clearly beats random on AUC
    good = res.results["visrank:a/cosine/sum_distance"].summary["auc"].mean
    assert good > 0.7 > base.summary["auc"].mean
    t = res.test("visrank:a/cosine/sum_distance", "auc")
    assert t is not None and t.p_ttest_holm < 0.05
    # diversity measured in one shared space (the default embedding) for everyone
    rnd_lists = base.lists
    assert np.isfinite(base.per_user["diversity@5"]).all()
    assert rnd_lists.shape == (25, 5)


def test_compare_results_matches_separate_evaluations() -> None:
    data = make_data(seed=3)
    split = given_split(
        Interactions(
            data.interactions.user_ids,
            data.interactions.item_ids,
            data.interactions.timestamps,
            splits=np.asarray(
                ["test" if t > 2 else "train" for t in data.interactions.timestamps.tolist()],
                dtype=object,
            ),
        ),
        data.catalog,
    )
    vec = data.embeddings["a"]
    r1 = evaluate(
        VisRankRecommender(metric="cosine", aggregation="mean"),
        data.catalog,
        split,
        k=3,
        vectors=vec,
        name="vis",
    )
    r2 = evaluate(
        RandomRecommender(seed=1), data.catalog, split, k=3, diversity_vectors=vec, name="rnd"
    )
    r3 = evaluate(PopularRecommender(), data.catalog, split, k=3, diversity_vectors=vec, name="pop")
    res = compare_results([r1, r2, r3], "rnd")
    raw = [paired_test(r.per_user["rr"], r2.per_user["rr"]).p_wilcoxon for r in (r1, r3)]
    got = [res.test(n, "rr").p_wilcoxon_holm for n in ("vis", "pop")]  # type: ignore[union-attr]
    assert got == pytest.approx(holm(raw).tolist())
    rows = res.to_rows()
    assert {r["config"] for r in rows} == {"vis", "rnd", "pop"}
    vis_auc = next(r for r in rows if r["config"] == "vis" and r["metric"] == "auc")
    assert vis_auc["mean"] == pytest.approx(r1.summary["auc"].mean)
    wide = res.table_rows()
    assert wide[1]["config"] == "rnd (baseline)"
    assert wide[0]["auc"].startswith(f"{r1.summary['auc'].mean:.4f}±")


def test_compare_refuses_unpaired_or_ill_named_inputs() -> None:
    data = make_data()
    s1 = leave_last_out(data.interactions, data.catalog)
    fewer = data.interactions.select(
        np.char.startswith(data.interactions.user_ids.astype(str), "u1")
    )
    s2 = leave_last_out(fewer, data.catalog)
    r1 = evaluate(PopularRecommender(), data.catalog, s1, k=3, name="p1")
    r2 = evaluate(PopularRecommender(), data.catalog, s2, k=3, name="p2")
    with pytest.raises(DataError, match="same cases"):
        compare_results([r1, r2], "p1")
    with pytest.raises(DataError, match="baseline 'zz'"):
        compare_results([r1], "zz")
    with pytest.raises(DataError, match="named 'p1'"):
        compare_results([r1, r1], "p1")
    with pytest.raises(DataError, match="named 'popular'"):
        compare([Config(kind="popular"), Config(kind="popular")], data, "given")
    with pytest.raises(DataError, match="no configurations"):
        compare([], data)
    with pytest.raises(ArtrecError, match="not loaded"):
        compare([Config(embedding="zzz")], data, "leave-last-out")


def test_compare_on_a_workspace_records_runs(tmp_path: Path) -> None:
    data = make_data()
    ws = Workspace.create(tmp_path / "ws")
    ws.upsert_items(data.catalog)
    ws.add_interactions(data.interactions)
    for name, vec in data.embeddings.items():
        FeatureSet(name, data.catalog.item_ids, vec.astype(np.float32)).save(ws.embeddings_dir)
    ws.set_meta("default_embedding", "a")
    configs = [Config(kind="visrank", embedding="b"), Config(kind="visrank"), Config(kind="random")]
    res = compare(configs, ws, "leave-last-out", k=4)
    assert res.baseline == "random"
    assert set(res.results) == {
        "visrank:b/cosine/sum_distance",
        "visrank:default/cosine/sum_distance",
        "random",
    }
    assert len(ws.runs("evaluation")) == 3
    comparison = ws.runs("comparison")
    assert len(comparison) == 1 and comparison[0]["params"]["baseline"] == "random"
    # the default embedding (a) is the informative one
    assert res.results["visrank:default/cosine/sum_distance"].summary["auc"].mean > 0.7
