"""Every metric against hand-computed cases and a slow, obvious reference implementation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from artrec.errors import DataError
from artrec.evaluation import metrics as M

# ---------------------------------------------------------------------------------------
# Slow references: loops and sets, written straight from the textbook definitions.


def ref_precision(ranked: list[int], rel: set[int], k: int) -> float:
    return sum(1 for r in ranked[:k] if r in rel) / k


def ref_recall(ranked: list[int], rel: set[int], k: int) -> float:
    return sum(1 for r in ranked[:k] if r in rel) / len(rel)


def ref_hit_rate(ranked: list[int], rel: set[int], k: int) -> float:
    return 1.0 if any(r in rel for r in ranked[:k]) else 0.0


def ref_ap(ranked: list[int], rel: set[int], k: int) -> float:
    total = 0.0
    hits = 0
    for i, r in enumerate(ranked[:k], start=1):
        if r in rel:
            hits += 1
            total += hits / i
    return total / min(k, len(rel))


def ref_ndcg(ranked: list[int], rel: set[int], k: int) -> float:
    dcg = 0.0
    for i, r in enumerate(ranked[:k], start=1):
        if r in rel:
            dcg += 1.0 / math.log2(i + 1)
    idcg = 0.0
    for i in range(1, min(k, len(rel)) + 1):
        idcg += 1.0 / math.log2(i + 1)
    return dcg / idcg


def ref_rr(ranked: list[int], rel: set[int]) -> float:
    for i, r in enumerate(ranked, start=1):
        if r in rel:
            return 1.0 / i
    return 0.0


def ref_auc(scores: list[float], cand: list[bool], rel: set[int]) -> float:
    pos = [i for i in range(len(scores)) if cand[i] and i in rel]
    neg = [i for i in range(len(scores)) if cand[i] and i not in rel]
    total = 0.0
    for p in pos:
        for n in neg:
            if scores[p] > scores[n]:
                total += 1.0
            elif scores[p] == scores[n]:
                total += 0.5
    return total / (len(pos) * len(neg))


def ref_full_ranking(scores: list[float], cand: list[bool]) -> list[int]:
    rows = [i for i in range(len(scores)) if cand[i]]
    return sorted(rows, key=lambda i: (-scores[i], i))


def ref_ild(rows: list[int], vectors: np.ndarray) -> float:
    dists = []
    for a in range(len(rows)):
        for b in range(a + 1, len(rows)):
            u, v = vectors[rows[a]], vectors[rows[b]]
            nu, nv = math.sqrt(float(u @ u)), math.sqrt(float(v @ v))
            cos = 0.0 if nu == 0 or nv == 0 else float(u @ v) / (nu * nv)
            dists.append(1.0 - cos)
    return sum(dists) / len(dists)


def ref_coverage(lists: list[list[int]], n_items: int) -> float:
    seen: set[int] = set()
    for lst in lists:
        seen.update(r for r in lst if r >= 0)
    return len(seen) / n_items


def ref_novelty(rows: list[int], pop: list[int], n_users: int) -> float:
    return sum(-math.log2((pop[r] + 1) / (n_users + 1)) for r in rows) / len(rows)


# ---------------------------------------------------------------------------------------
# Hand-computed cases.


def test_precision_recall_hit_by_hand() -> None:
    ranked = [4, 2, 7, 1, 9]
    rel = {2, 9, 5}
    # hits at positions 2 and 5
    assert M.precision_at_k(ranked, rel, 1) == 0.0
    assert M.precision_at_k(ranked, rel, 2) == pytest.approx(1 / 2)
    assert M.precision_at_k(ranked, rel, 5) == pytest.approx(2 / 5)
    assert M.recall_at_k(ranked, rel, 2) == pytest.approx(1 / 3)
    assert M.recall_at_k(ranked, rel, 5) == pytest.approx(2 / 3)
    assert M.hit_rate_at_k(ranked, rel, 1) == 0.0
    assert M.hit_rate_at_k(ranked, rel, 2) == 1.0


def test_precision_counts_padding_and_short_lists_as_misses() -> None:
    # k larger than the list: denominator stays k
    assert M.precision_at_k([3, -1, -1], {3}, 3) == pytest.approx(1 / 3)
    assert M.precision_at_k([3], {3}, 4) == pytest.approx(1 / 4)
    # padding -1 is never relevant, even when -1 is "in" the relevant input
    assert M.recall_at_k([-1, -1], {-1, 2}, 2) == 0.0


def test_average_precision_by_hand() -> None:
    ranked = [4, 2, 7, 1, 9]
    rel = {2, 9, 5}
    # hits at 2 and 5: P@2 = 1/2, P@5 = 2/5; normaliser min(5, 3) = 3
    assert M.average_precision_at_k(ranked, rel, 5) == pytest.approx((1 / 2 + 2 / 5) / 3)
    # k = 2: only the hit at 2 counts; normaliser min(2, 3) = 2
    assert M.average_precision_at_k(ranked, rel, 2) == pytest.approx((1 / 2) / 2)
    # perfect list with more relevant than k scores 1
    assert M.average_precision_at_k([1, 2], {1, 2, 3, 4}, 2) == pytest.approx(1.0)


def test_ndcg_ideal_over_min_k_relevant_by_hand() -> None:
    # one relevant item at position 3: DCG = 1/log2(4) = 0.5, IDCG(min(10,1)=1) = 1
    assert M.ndcg_at_k([5, 6, 7, 8], {7}, 10) == pytest.approx(0.5)
    # two relevant at positions 1 and 3, k = 3: DCG = 1 + 0.5; IDCG = 1 + 1/log2(3)
    assert M.ndcg_at_k([1, 0, 2], {1, 2}, 3) == pytest.approx(1.5 / (1 + 1 / math.log2(3)))
    # five relevant, k = 2, both top positions relevant: ideal is min(2, 5) = 2 hits -> 1.0
    assert M.ndcg_at_k([1, 2, 9], {1, 2, 3, 4, 5}, 2) == pytest.approx(1.0)
    # five relevant, k = 2, hit only at position 2: (1/log2 3) / (1 + 1/log2 3)
    expected = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    assert M.ndcg_at_k([9, 2], {1, 2, 3, 4, 5}, 2) == pytest.approx(expected)


def test_reciprocal_rank_by_hand() -> None:
    assert M.reciprocal_rank([4, 2, 7], {7, 2}) == pytest.approx(1 / 2)
    assert M.reciprocal_rank([4, 2, 7], {8}) == 0.0
    assert M.reciprocal_rank([3], {3}) == 1.0


def test_auc_by_hand_with_ties() -> None:
    scores = np.array([0.9, 0.5, 0.5, 0.1, 0.7])
    # positives {1}; negatives {0, 2, 3, 4}: beats 3, ties 2 -> (1 + 0.5) / 4
    assert M.auc(scores, None, [1]) == pytest.approx(1.5 / 4)
    # candidate mask removes row 0: negatives {2, 3, 4} -> (1 + 0.5) / 3
    mask = np.array([False, True, True, True, True])
    assert M.auc(scores, mask, [1]) == pytest.approx(1.5 / 3)
    # two positives {0, 3}: 0 beats all 3 negatives, 3 beats none -> 3 / 6
    assert M.auc(scores, None, [0, 3]) == pytest.approx(0.5)
    # all scores equal -> 0.5
    assert M.auc(np.zeros(6), None, [2]) == pytest.approx(0.5)


def test_auc_undefined_cases_are_nan_and_nan_scores_raise() -> None:
    assert math.isnan(M.auc(np.arange(3.0), None, []))
    assert math.isnan(M.auc(np.arange(3.0), None, [0, 1, 2]))  # no negatives
    # relevant row outside the candidate set is ignored
    assert math.isnan(M.auc(np.arange(3.0), np.array([True, True, False]), [2]))
    with pytest.raises(DataError, match="row 1"):
        M.auc(np.array([0.0, np.nan, 1.0]), None, [0])
    with pytest.raises(DataError, match="out of range"):
        M.auc(np.arange(3.0), None, [5])
    with pytest.raises(DataError, match="shape"):
        M.auc(np.arange(3.0), np.ones(4, bool), [0])


def test_auc_handles_infinite_scores() -> None:
    scores = np.array([-np.inf, 1.0, -np.inf, 2.0])
    # positive 0 (-inf) ties negative 2 (-inf), loses to 1 and 3 -> 0.5 / 3
    assert M.auc(scores, None, [0]) == pytest.approx(0.5 / 3)


def test_positions_follow_the_top_k_tie_rule() -> None:
    scores = np.array([0.5, 0.9, 0.5, 0.5, 0.1])
    # full order: 1 (0.9), 0, 2, 3 (ties by row), 4
    assert M.positions_of(scores, None, [1, 0, 2, 3, 4]).tolist() == [1, 2, 3, 4, 5]
    mask = np.array([True, False, True, True, True])
    assert M.positions_of(scores, mask, [2, 1]).tolist() == [2, 0]


def test_intra_list_diversity_by_hand() -> None:
    v = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    # orthogonal pair: distance 1
    assert M.intra_list_diversity([0, 1], v) == pytest.approx(1.0)
    # (0,1)=1, (0,2)=1-1/sqrt2, (1,2)=1-1/sqrt2
    expected = (1 + 2 * (1 - 1 / math.sqrt(2))) / 3
    assert M.intra_list_diversity([0, 1, 2, -1], v) == pytest.approx(expected)
    # a zero vector is at distance 1 from everything
    assert M.intra_list_diversity([0, 3], v) == pytest.approx(1.0)
    # identical items: 0
    assert M.intra_list_diversity([2, 2], v) == pytest.approx(0.0)
    assert math.isnan(M.intra_list_diversity([1, -1], v))


def test_catalog_coverage_by_hand() -> None:
    assert M.catalog_coverage([[0, 1], [1, 2], [-1, -1]], 10) == pytest.approx(0.3)
    assert M.catalog_coverage([], 4) == 0.0
    with pytest.raises(DataError, match="out of range"):
        M.catalog_coverage([[4]], 4)


def test_novelty_by_hand() -> None:
    pop = np.array([3, 0, 1])
    # n_users = 3: p = [4/4, 1/4, 2/4] -> self-information [0, 2, 1]
    assert M.novelty([0], pop, 3) == pytest.approx(0.0)
    assert M.novelty([1, 2], pop, 3) == pytest.approx(1.5)
    assert M.novelty([1, 2, -1], pop, 3) == pytest.approx(1.5)
    assert math.isnan(M.novelty([-1], pop, 3))
    with pytest.raises(DataError):
        M.novelty([0], pop, 2)  # popularity above n_users


def test_empty_relevant_is_nan_not_zero() -> None:
    for fn in (
        M.precision_at_k,
        M.recall_at_k,
        M.hit_rate_at_k,
        M.average_precision_at_k,
        M.ndcg_at_k,
    ):
        assert math.isnan(fn([1, 2], [], 2))
    assert math.isnan(M.reciprocal_rank([1, 2], []))


@pytest.mark.parametrize("k", [0, -1, 1.5, True])
def test_bad_k_raises(k: object) -> None:
    with pytest.raises(DataError, match="k must be"):
        M.precision_at_k([1], {1}, k)  # type: ignore[arg-type]


def test_repeated_rows_in_a_list_raise() -> None:
    with pytest.raises(DataError, match="repeat"):
        M.precision_at_k([1, 1], {1}, 2)


def test_metrics_do_not_modify_inputs() -> None:
    scores = np.array([0.3, 0.1, 0.2])
    mask = np.array([True, True, True])
    ranked = np.array([0, 2, 1])
    M.auc(scores, mask, np.array([1]))
    M.ndcg_at_k(ranked, np.array([1]), 2)
    assert scores.tolist() == [0.3, 0.1, 0.2] and ranked.tolist() == [0, 2, 1]


# ---------------------------------------------------------------------------------------
# Many random cases against the references.


def _random_case(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, set[int], int]:
    n = int(rng.integers(2, 40))
    # few distinct values -> many ties
    scores = rng.integers(0, int(rng.integers(1, 8)), size=n).astype(np.float64)
    mask = rng.random(n) < 0.8
    n_rel = int(rng.integers(0, max(1, n // 3) + 1))
    rel = {int(r) for r in rng.choice(n, size=n_rel, replace=False).tolist()}
    k = int(rng.integers(1, 12))
    return scores, mask, rel, k


def test_ranked_list_metrics_match_references_on_random_cases() -> None:
    rng = np.random.default_rng(7)
    checked = 0
    for _ in range(600):
        scores, mask, rel, k = _random_case(rng)
        ranking = ref_full_ranking(scores.tolist(), mask.tolist())
        rel_c = {r for r in rel if mask[r]}
        if not rel_c:
            continue
        ranked = ranking[:k] + [-1] * max(0, k - len(ranking))
        arr = np.asarray(ranked)
        rel_arr = np.asarray(sorted(rel_c))
        assert M.precision_at_k(arr, rel_arr, k) == pytest.approx(ref_precision(ranked, rel_c, k))
        assert M.recall_at_k(arr, rel_arr, k) == pytest.approx(ref_recall(ranked, rel_c, k))
        assert M.hit_rate_at_k(arr, rel_arr, k) == pytest.approx(ref_hit_rate(ranked, rel_c, k))
        assert M.average_precision_at_k(arr, rel_arr, k) == pytest.approx(ref_ap(ranked, rel_c, k))
        assert M.ndcg_at_k(arr, rel_arr, k) == pytest.approx(ref_ndcg(ranked, rel_c, k))
        assert M.reciprocal_rank(np.asarray(ranking), rel_arr) == pytest.approx(
            ref_rr(ranking, rel_c)
        )
        # the exact positions agree with the full ranking
        positions = M.positions_of(scores, mask, rel_arr)
        assert positions.tolist() == [ranking.index(r) + 1 for r in rel_arr.tolist()]
        assert 1.0 / positions.min() == pytest.approx(ref_rr(ranking, rel_c))
        checked += 1
    assert checked > 300


def test_auc_matches_reference_and_sklearn_on_random_cases() -> None:
    rng = np.random.default_rng(11)
    checked = 0
    for _ in range(600):
        scores, mask, rel, _ = _random_case(rng)
        if rng.random() < 0.5:  # continuous scores too
            scores = rng.normal(size=len(scores))
        pos = [r for r in rel if mask[r]]
        n_cand = int(mask.sum())
        if not pos or len(pos) == n_cand:
            assert math.isnan(M.auc(scores, mask, sorted(rel)))
            continue
        fast = M.auc(scores, mask, sorted(rel))
        assert fast == pytest.approx(ref_auc(scores.tolist(), mask.tolist(), rel))
        labels = np.isin(np.flatnonzero(mask), sorted(rel)).astype(int)
        assert fast == pytest.approx(roc_auc_score(labels, scores[mask]))
        checked += 1
    assert checked > 300


def test_auc_with_many_positives_matches_reference() -> None:
    # more than 16 positives: the sorted-negatives path
    rng = np.random.default_rng(13)
    checked = 0
    for _ in range(60):
        n = int(rng.integers(40, 160))
        scores = rng.integers(0, int(rng.integers(2, 30)), size=n).astype(np.float64)
        mask = rng.random(n) < 0.9
        rel = {int(r) for r in rng.choice(n, size=int(rng.integers(17, n // 2)), replace=False)}
        pos = [r for r in rel if mask[r]]
        if len(pos) <= 16 or len(pos) == int(mask.sum()):
            continue
        assert M.auc(scores, mask, sorted(rel)) == pytest.approx(
            ref_auc(scores.tolist(), mask.tolist(), rel)
        )
        checked += 1
    assert checked > 30


def test_auc_is_fast_on_a_large_candidate_set() -> None:
    rng = np.random.default_rng(0)
    for n_pos in (1, 50, 100_000):
        scores = np.round(rng.normal(size=200_000), 3)  # ties too
        rel = rng.choice(200_000, size=n_pos, replace=False)
        labels = np.zeros(200_000, int)
        labels[rel] = 1
        assert M.auc(scores, None, rel) == pytest.approx(roc_auc_score(labels, scores))


def test_beyond_accuracy_metrics_match_references_on_random_cases() -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        n_items = int(rng.integers(3, 30))
        vectors = rng.normal(size=(n_items, 4))
        vectors[rng.random(n_items) < 0.1] = 0.0
        size = int(rng.integers(2, n_items + 1))
        rows = rng.choice(n_items, size=size, replace=False).tolist()
        assert M.intra_list_diversity(np.asarray(rows), vectors) == pytest.approx(
            ref_ild(rows, vectors)
        )
        n_users = int(rng.integers(0, 20))
        pop = rng.integers(0, n_users + 1, size=n_items).tolist()
        assert M.novelty(np.asarray(rows), np.asarray(pop), n_users) == pytest.approx(
            ref_novelty(rows, pop, n_users)
        )
        lists = [
            rng.choice(np.arange(-1, n_items), size=int(rng.integers(0, 5)), replace=False).tolist()
            for _ in range(int(rng.integers(0, 6)))
        ]
        assert M.catalog_coverage([np.asarray(x, dtype=np.int64) for x in lists], n_items) == (
            pytest.approx(ref_coverage(lists, n_items))
        )
