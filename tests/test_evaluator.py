"""The evaluator: known answers with a fixed-score recommender, CIs computed by hand."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from artrec.data.catalog import Catalog, Interactions
from artrec.data.workspace import Workspace
from artrec.errors import DataError
from artrec.evaluation import evaluate, summarise
from artrec.evaluation.protocols import given_split, leave_last_out, time_replay
from artrec.recommend.base import Recommender, TrainData

#: t_{0.975, 1}: the 97.5% quantile of Student's t with one degree of freedom (tan(0.475 pi)).
T_975_DF1 = math.tan(0.475 * math.pi)
#: t_{0.975, 2} = 4.3027: from the closed-form CDF 1/2 + t / (2 sqrt(2 + t^2)).
_Q = 0.975 - 0.5
T_975_DF2 = _Q * math.sqrt(2.0 / (0.25 - _Q * _Q))


class FixedRecommender(Recommender):
    """Scores looked up by profile; records what it was fitted on."""

    name = "fixed"

    def __init__(self, table: dict[tuple[int, ...], list[float]]) -> None:
        self.table = table

    def fit(self, data: TrainData) -> FixedRecommender:
        self.data_ = data
        return self

    def score(self, profiles: Sequence[np.ndarray]) -> np.ndarray:
        return np.asarray(
            [self.table[tuple(int(r) for r in p)] for p in profiles], dtype=np.float64
        )


def make_catalog(n: int = 6) -> Catalog:
    return Catalog(np.asarray([f"i{r}" for r in range(n)], dtype=object))


def given_log() -> Interactions:
    events = [
        ("u1", "i0", "train"),
        ("u1", "i2", "test"),
        ("u1", "i4", "test"),
        ("u2", "i5", "train"),
        ("u2", "i0", "test"),
        ("u3", "i1", "train"),
        ("u3", "i1", "test"),  # relevant item already consumed -> skipped
    ]
    return Interactions(
        np.asarray([e[0] for e in events], dtype=object),
        np.asarray([e[1] for e in events], dtype=object),
        splits=np.asarray([e[2] for e in events], dtype=object),
    )


TABLE: dict[tuple[int, ...], list[float]] = {
    (0,): [9, 8, 7, 6, 5, 4],
    (5,): [1, 1, 1, 1, 1, 1],
    (1,): [0, 0, 0, 0, 0, 0],
}
VECTORS = np.array([[1, 0], [0, 1], [1, 1], [1, 0], [0, 1], [1, 0]], dtype=np.float64)


def test_summarise_by_hand() -> None:
    s = summarise(np.array([1.0, 2.0, 6.0, np.nan]))
    # mean 3, sample std sqrt(((-2)^2 + (-1)^2 + 3^2) / 2) = sqrt(7)
    assert s.mean == pytest.approx(3.0)
    assert s.std == pytest.approx(math.sqrt(7.0))
    half = T_975_DF2 * math.sqrt(7.0) / math.sqrt(3.0)
    assert (s.ci_low, s.ci_high) == (pytest.approx(3.0 - half), pytest.approx(3.0 + half))
    assert (s.n, s.n_nan) == (3, 1)
    one = summarise(np.array([0.4]))
    assert one.mean == 0.4 and math.isnan(one.ci_low) and one.n == 1
    none = summarise(np.array([np.nan, np.nan]))
    assert math.isnan(none.mean) and none.n == 0 and none.n_nan == 2
    flat = summarise(np.array([0.5, 0.5, 0.5]))
    assert flat.ci_low == flat.ci_high == pytest.approx(0.5)


def test_known_answers_on_the_given_split() -> None:
    cat = make_catalog()
    split = given_split(given_log(), cat)
    rec = FixedRecommender(TABLE)
    res = evaluate(rec, cat, split, k=3, vectors=VECTORS)
    # u3's only relevant item is consumed: skipped and counted
    assert res.user_ids.tolist() == ["u1", "u2"]
    assert res.skipped == {"no_relevant_candidate": 1}
    # u1: candidates 1..5 ranked 1,2,3,4,5 -> top-3 [1,2,3]; relevant {2,4}
    # u2: all tied, row 5 consumed -> top-3 [0,1,2]; relevant {0}
    assert res.lists.tolist() == [[1, 2, 3], [0, 1, 2]]
    pu = res.per_user
    assert pu["auc"].tolist() == pytest.approx([3 / 6, 0.5])
    assert pu["rr"].tolist() == pytest.approx([1 / 2, 1.0])
    assert pu["p@3"].tolist() == pytest.approx([1 / 3, 1 / 3])
    assert pu["r@3"].tolist() == pytest.approx([1 / 2, 1.0])
    assert pu["hr@3"].tolist() == pytest.approx([1.0, 1.0])
    assert pu["ap@3"].tolist() == pytest.approx([(1 / 2) / 2, 1.0])
    g = 1 / math.log2(3)
    assert pu["ndcg@3"].tolist() == pytest.approx([g / (1 + g), 1.0])
    ild = (3 - math.sqrt(2)) / 3
    assert pu["diversity@3"].tolist() == pytest.approx([ild, ild])
    # popularity over the whole log (3 users): row0 2, rows 1, 2, 4, 5 one user, row3 none
    assert pu["novelty@3"].tolist() == pytest.approx([4 / 3, (2 - math.log2(3 / 4)) / 3])
    assert res.coverage == pytest.approx(4 / 6)
    # RR CI by hand: values 0.5 and 1, mean 0.75, s = sqrt(0.125), half = t * s / sqrt 2
    s = res.summary["rr"]
    half = T_975_DF1 * math.sqrt(0.125) / math.sqrt(2)
    assert s.mean == pytest.approx(0.75)
    assert (s.ci_low, s.ci_high) == (pytest.approx(0.75 - half), pytest.approx(0.75 + half))
    # the recommender was fitted on the train events only
    assert sorted(rec.data_.interactions_rows.tolist()) == [0, 1, 5]
    rows = res.to_rows()
    assert [r["metric"] for r in rows][-1] == "coverage@3"
    assert rows[0]["metric"] == "auc" and rows[0]["n"] == 2


def test_chunking_does_not_change_the_result() -> None:
    cat = make_catalog()
    split = given_split(given_log(), cat)
    a = evaluate(FixedRecommender(TABLE), cat, split, k=2, chunk_size=1)
    b = evaluate(FixedRecommender(TABLE), cat, split, k=2, chunk_size=100)
    for m in a.per_user:
        np.testing.assert_array_equal(a.per_user[m], b.per_user[m])
    np.testing.assert_array_equal(a.lists, b.lists)


def test_without_vectors_diversity_is_reported_nan() -> None:
    cat = make_catalog()
    res = evaluate(FixedRecommender(TABLE), cat, given_split(given_log(), cat), k=3)
    s = res.summary["diversity@3"]
    assert math.isnan(s.mean) and s.n == 0 and s.n_nan == 2


def test_nan_scores_rank_last_and_are_counted() -> None:
    table = dict(TABLE)
    table[(0,)] = [9, np.nan, 7, 6, 5, 4]
    cat = make_catalog()
    res = evaluate(FixedRecommender(table), cat, given_split(given_log(), cat), k=3)
    assert res.nan_scores == 1
    assert res.lists[0].tolist() == [2, 3, 4]
    # positive rows 2 and 4 beat the NaN row now: (3 + 2) / 6
    assert res.per_user["auc"][0] == pytest.approx(5 / 6)


def test_bad_inputs_raise_clear_errors() -> None:
    cat = make_catalog()
    split = given_split(given_log(), cat)
    with pytest.raises(DataError, match="k must be"):
        evaluate(FixedRecommender(TABLE), cat, split, k=0)
    with pytest.raises(DataError, match="vectors has shape"):
        evaluate(FixedRecommender(TABLE), cat, split, vectors=np.zeros((3, 2)))
    with pytest.raises(DataError, match="catalogue has 7"):
        evaluate(FixedRecommender(TABLE), make_catalog(7), split)

    class Wrong(FixedRecommender):
        def score(self, profiles: Sequence[np.ndarray]) -> np.ndarray:
            return np.zeros((len(profiles), 2))

    with pytest.raises(DataError, match="scores of shape"):
        evaluate(Wrong(TABLE), cat, split)


def test_time_replay_uses_the_stock_of_the_moment() -> None:
    cat = make_catalog(4)
    events = Interactions(
        np.asarray(["a", "b", "a", "b"], dtype=object),
        np.asarray(["i0", "i1", "i2", "i0"], dtype=object),
        np.asarray([1.0, 2.0, 3.0, 4.0]),
    )
    split = time_replay(events, cat)
    table = {(0,): [0, 5, 1, 9], (1,): [0, 0, 0, 0]}
    res = evaluate(FixedRecommender(table), cat, split, k=2)
    # case a@3: i0 consumed, i1 sold; candidates {2, 3}: 3 ranks above the bought 2
    assert res.lists.tolist() == [[3, 2]]
    assert res.per_user["rr"].tolist() == [0.5]
    assert res.per_user["auc"].tolist() == [0.0]
    # case b@4 buys i0, sold at 1: no relevant candidate
    assert res.skipped == {"first_purchases": 2, "no_relevant_candidate": 1}


def test_visrank_lists_equal_recommender_rank() -> None:
    from artrec.recommend.visrank import VisRankRecommender

    rng = np.random.default_rng(1)
    n = 40
    cat = make_catalog(n)
    users = np.repeat([f"u{i}" for i in range(12)], 4)
    items = np.asarray([f"i{int(r)}" for r in rng.integers(0, n, size=len(users))], dtype=object)
    events = Interactions(users, items, rng.random(len(users)) * 100)
    vectors = rng.normal(size=(n, 5))
    split = leave_last_out(events, cat)
    rec = VisRankRecommender(metric="cosine", aggregation="sum_distance")
    res = evaluate(rec, cat, split, k=5, vectors=vectors)
    ranking = rec.rank(split.profiles, 5, exclude=split.exclude, available=np.ones(n, bool))
    np.testing.assert_array_equal(res.lists, ranking.rows[res.case_index])


def test_popular_baseline_does_not_see_held_out_events() -> None:
    from artrec.recommend.baselines import PopularRecommender

    cat = make_catalog(4)
    # everyone's held-out purchase is i3; training events never include it
    events = Interactions(
        np.asarray(["a", "a", "b", "b", "c", "c"], dtype=object),
        np.asarray(["i0", "i3", "i1", "i3", "i0", "i3"], dtype=object),
        np.asarray([1.0, 2.0, 1.0, 2.0, 1.0, 2.0]),
    )
    split = leave_last_out(events, cat)
    rec = PopularRecommender()
    res = evaluate(rec, cat, split, k=1)
    assert rec.popularity_.tolist() == [2.0, 1.0, 0.0, 0.0]
    assert res.per_user["hr@1"].tolist() == [0.0, 0.0, 0.0]


def test_run_is_recorded_in_the_workspace(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "ws")
    cat = make_catalog()
    res = evaluate(
        FixedRecommender(TABLE),
        cat,
        given_split(given_log(), cat),
        k=3,
        workspace=ws,
        params={"x": 1},
    )
    runs = ws.runs("evaluation")
    assert len(runs) == 1 and runs[0]["id"] == res.run_id
    assert runs[0]["params"] == {"recommender": "fixed", "protocol": "given", "k": 3, "x": 1}
    stored = {r["metric"]: r for r in runs[0]["results"]["metrics"]}
    assert stored["rr"]["mean"] == pytest.approx(0.75)
    assert runs[0]["results"]["skipped"] == {"no_relevant_candidate": 1}
    # NaN means are stored as null, not as invalid JSON
    assert stored["diversity@3"]["mean"] is None
