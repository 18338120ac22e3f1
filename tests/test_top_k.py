"""top_k: the shared ranking primitive, against a slow reference."""

from __future__ import annotations

import numpy as np
import pytest

from artrec.ranking import top_k


def _reference(scores: np.ndarray, k: int) -> tuple[list[list[int]], list[list[float]]]:
    rows, vals = [], []
    for line in scores:
        order = sorted(
            (c for c in range(len(line)) if line[c] != -np.inf), key=lambda c: (-line[c], c)
        )[:k]
        rows.append(order + [-1] * (k - len(order)))
        vals.append([float(line[c]) for c in order] + [-np.inf] * (k - len(order)))
    return rows, vals


def test_hand_computed_ties_and_padding():
    scores = np.array([[1.0, 3.0, 3.0, 2.0, -np.inf], [0.0, 0.0, 0.0, 0.0, 0.0]])
    rows, vals = top_k(scores, 3)
    assert rows.tolist() == [[1, 2, 3], [0, 1, 2]]
    assert vals.tolist() == [[3.0, 3.0, 2.0], [0.0, 0.0, 0.0]]
    rows, vals = top_k(np.array([[np.inf, -np.inf, 1.0]]), 5)
    assert rows.tolist() == [[0, 2, -1, -1, -1]]
    assert vals[0, 2:].tolist() == [-np.inf] * 3


@pytest.mark.parametrize("seed", range(20))
def test_matches_slow_reference_with_many_ties(seed):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 4, size=(7, 30)).astype(float)
    scores[rng.random(scores.shape) < 0.2] = -np.inf
    k = int(rng.integers(1, 35))
    rows, vals = top_k(scores, k)
    ref_rows, ref_vals = _reference(scores, k)
    assert rows.tolist() == ref_rows
    assert vals.tolist() == ref_vals


def test_has_nan_sees_nan_and_not_infinities() -> None:
    from artrec.ranking import has_nan

    assert not has_nan(np.array([[1.0, np.inf], [-np.inf, 0.0]]))  # inf - inf sums to NaN
    assert has_nan(np.array([[1.0, np.nan], [2.0, 3.0]]))
    assert not has_nan(np.zeros((0, 3)))
